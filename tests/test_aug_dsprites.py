"""Tests of inv_tf.data.aug_dsprites: the `aug_dsprites` dataset, built offline through `load`.

Built into temporary TFDS data dirs: the images against the drawn latents, splits, seeds and
`num_train`, an unusable data dir, and two processes building it at once.
"""

import inspect
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from inv_tf import catalog
from inv_tf import data
from inv_tf.data import DataError, aug_dsprites, sprites
from support import collect

SIZES = (300, 100, 50)


@pytest.fixture(scope="module")
def aug_dir(tmp_path_factory):
  return str(tmp_path_factory.mktemp("tfds"))


def test_aug_dsprites_load_builds_offline_and_matches_latents(aug_dir):
  ds = data.load("aug_dsprites", "train", seed=0, data_dir=aug_dir, split_sizes=SIZES)
  assert int(ds.cardinality()) == 300
  ex = collect(ds)
  assert ex["image"].shape == (300, 64, 64, 1) and ex["image"].dtype == np.float32
  assert set(np.unique(ex["image"])) == {-1.0, 1.0}
  np.testing.assert_array_equal(ex["label"], ex["shape"])
  assert ex["label"].dtype == np.int64 and set(np.unique(ex["label"])) == {0, 1, 2}
  lat = sprites.latents_from_index(ex["index"])
  for k in ("scale", "orientation", "x", "y"):
    np.testing.assert_allclose(ex[k], lat[k], atol=1e-6)
  rendered = sprites.render(lat["shape"], lat["scale"], lat["orientation"], lat["x"], lat["y"])
  np.testing.assert_array_equal(ex["image"][..., 0] > 0, rendered.astype(bool))
  # The drawn indices are exactly the seeded draws for (seed, split id).
  np.testing.assert_array_equal(np.sort(ex["index"]),
                                np.sort(sprites.sample_indices(300, [0, 0])))
  assert os.path.isdir(os.path.join(aug_dir, "aug_dsprites", "seed0_300_100_50", "1.0.0"))


@pytest.mark.parametrize("where", ["file", "inside_a_file", "unwritable"])
def test_aug_dsprites_with_an_unusable_data_dir_is_one_data_error(tmp_path, where):
  blocker = tmp_path / "blocker"
  blocker.write_text("a file")
  data_dir = {"file": blocker, "inside_a_file": blocker / "tfds",
              "unwritable": tmp_path / "read_only" / "tfds"}[where]
  if where == "unwritable":
    (tmp_path / "read_only").mkdir(mode=0o500)
    if os.access(tmp_path / "read_only", os.W_OK):
      pytest.skip("running as a user who can write anywhere (root)")
  named = blocker if where == "file" else data_dir
  with pytest.raises(DataError, match=rf"^aug_dsprites: .*{re.escape(str(named))}"):
    data.load("aug_dsprites", "train", seed=0, data_dir=str(data_dir), split_sizes=SIZES)
  assert blocker.read_text() == "a file"


def test_aug_dsprites_splits_seeds_and_num_train(aug_dir):
  kw = dict(data_dir=aug_dir, split_sizes=SIZES)
  assert int(data.load("aug_dsprites", "validation", **kw).cardinality()) == 100
  assert int(data.load("aug_dsprites", "test", **kw).cardinality()) == 50
  full = collect(data.load("aug_dsprites", "train", **kw))["index"]
  again = collect(data.load("aug_dsprites", "train", **kw))["index"]
  np.testing.assert_array_equal(full, again)  # cached and deterministic
  sub = collect(data.load("aug_dsprites", "train", num_train=120, **kw))["index"]
  np.testing.assert_array_equal(sub, full[:120])  # nested prefix
  other = collect(data.load("aug_dsprites", "train", seed=1, **kw))["index"]
  assert not np.array_equal(np.sort(other), np.sort(full))
  with pytest.raises(DataError, match="num_train=301 is larger than the 300"):
    data.load("aug_dsprites", "train", num_train=301, **kw)
  with pytest.raises(DataError, match="split_sizes"):
    data.load("aug_dsprites", "train", data_dir=aug_dir, split_sizes=(1, 2))


def test_aug_dsprites_default_config_names_the_paper_sizes(tmp_path):
  # Rendering the default 70,480 images is a benchmark (benchmarks/dataset_build.py prints the
  # sizes it built and its seconds); here only the default configuration is checked.
  b = aug_dsprites.builder(seed=0, data_dir=str(tmp_path))
  assert b.builder_config.name == "seed0"
  assert b.builder_config.split_sizes == (50_000, 10_240, 10_240)
  assert b.data_dir == os.path.join(str(tmp_path), "aug_dsprites", "seed0", "1.0.0")
  default = inspect.signature(data._load_aug_dsprites).parameters["split_sizes"].default
  assert default == (50_000, 10_240, 10_240) == catalog.DATASETS["aug_dsprites"].split_sizes
  assert os.listdir(str(tmp_path)) == []  # nothing rendered
  # The images it stores are rendered at the size the catalog states (the trainer checks with it).
  assert (sprites.IMAGE_SIZE, sprites.IMAGE_SIZE, 1) == catalog.DATASETS["aug_dsprites"].image_shape
  assert b.info.features["image"].shape == catalog.DATASETS["aug_dsprites"].image_shape


@pytest.mark.slow  # starts processes
def test_aug_dsprites_runs_started_together_build_it_once(tmp_path):
  """Two processes loading the same unbuilt dataset: one renders it, the other waits and reads."""
  code = ("import sys; from inv_tf import data; "
          "ds = data.load('aug_dsprites', 'train', seed=0, data_dir=sys.argv[1], "
          "split_sizes=(300, 100, 50)); print('N', sum(1 for _ in ds))")
  env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
  procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
           for _ in range(2)]
  for proc in procs:
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr[-3000:]
    assert "N 300" in stdout
  assert os.listdir(tmp_path / "aug_dsprites" / "seed0_300_100_50") == ["1.0.0"]
