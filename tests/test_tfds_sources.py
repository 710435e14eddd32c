"""Tests of inv_tf.data.tfds_sources: the TFDS-backed dsprites, patch_camelyon and galaxy_mnist.

Fully offline: the real data cannot be downloaded here, so each test prepares a small FAKE copy
in a temporary TFDS data dir: for dSprites and PatchCamelyon a subclass of the real TFDS builder
(same name, version and features, unregistered) that generates fake examples, so
`inv_tf.data.load` reads a genuinely prepared dataset; for GalaxyMNIST fake HDF5 files in the
published layout.
"""

import gzip
import os
import shutil
import time

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from inv_tf import catalog
from inv_tf import data
from inv_tf.data import DataError, sprites, tfds_sources
from support import collect

PCAM_SIZES = {"train": 40, "validation": 10, "test": 12}


class FakePatchCamelyon(tfds.builder_cls("patch_camelyon"), skip_registration=True):
  """patch_camelyon 2.0.0 with the real features and a few random examples."""
  name = "patch_camelyon"

  def _info(self):
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        "id": tfds.features.Text(), "image": tfds.features.Image(shape=(96, 96, 3)),
        "label": tfds.features.ClassLabel(num_classes=2)}), supervised_keys=("image", "label"))

  def _split_generators(self, dl_manager):
    return {s: self._generate_examples(s, n) for s, n in PCAM_SIZES.items()}

  def _generate_examples(self, split, n):
    rng = np.random.default_rng(len(split))
    for i in range(n):
      yield i, {"id": f"{split}{i}", "label": i % 2,
                "image": rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)}


FAKE_DSPRITES_INDICES = np.sort(np.random.default_rng(0).choice(737_280, 400, replace=False))


class FakeDsprites(tfds.builder_cls("dsprites"), skip_registration=True):
  """dsprites 2.0.0 with the real features; 400 grid images rendered by inv_tf.data.sprites."""
  name = "dsprites"

  def _info(self):
    f = {"image": tfds.features.Image(shape=(64, 64, 1))}
    for k, n in (("shape", 3), ("scale", 6), ("orientation", 40), ("x_position", 32),
                 ("y_position", 32)):
      f["label_" + k] = tfds.features.ClassLabel(num_classes=n)
      f["value_" + k] = tfds.features.Tensor(shape=[], dtype=np.float32)
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict(f))

  def _split_generators(self, dl_manager):
    return {"train": self._generate_examples()}

  def _generate_examples(self):
    idx = FAKE_DSPRITES_INDICES
    lat = sprites.latents_from_index(idx)
    grid = sprites.grid_indices(idx)
    images = sprites.render(lat["shape"], lat["scale"], lat["orientation"], lat["x"], lat["y"])
    for i in range(idx.size):
      rec = {"image": images[i][..., None]}  # {0, 1} like the real file
      for k, g in zip(("shape", "scale", "orientation", "x_position", "y_position"), grid):
        rec["label_" + k] = int(g[i])
      rec.update(value_shape=float(lat["shape"][i]), value_scale=lat["scale"][i],
                 value_orientation=lat["orientation"][i], value_x_position=lat["x"][i],
                 value_y_position=lat["y"][i])
      yield i, rec


@pytest.fixture(scope="module")
def fake_dir(tmp_path_factory):
  d = str(tmp_path_factory.mktemp("tfds_fake"))
  FakePatchCamelyon(data_dir=d).download_and_prepare()
  FakeDsprites(data_dir=d).download_and_prepare()
  return d


# ------------------------------------------------------------------------------------------------
# Missing data: fast, one line, says how to prepare.


def test_the_builders_read_the_versions_the_catalog_checks_for():
  # inv_tf.catalog decides "prepared" from DATA_DIR/name/version without TFDS: the same version.
  for kind in ("dsprites", "patch_camelyon"):
    name, version = catalog.DATASETS[kind].tfds
    assert str(tfds.builder_cls(name).VERSION) == version
  assert catalog.DATASETS["galaxy_mnist"].tfds == ("galaxy_mnist",
                                                   str(tfds_sources.GalaxyMnist.VERSION))


@pytest.mark.parametrize("name, needle", [
    ("dsprites", "tfds.builder('dsprites'"),
    ("patch_camelyon", "tfds.builder('patch_camelyon'"),
    ("galaxy_mnist", "train_dataset.hdf5.gz and test_dataset.hdf5.gz"),
])
def test_missing_data_fails_fast_with_instructions(tmp_path, name, needle):
  data.load("mnist", "test")  # warm up imports so only the check itself is timed
  start = time.perf_counter()
  with pytest.raises(DataError) as e:
    data.load(name, "train", data_dir=str(tmp_path))
  elapsed = time.perf_counter() - start
  msg = str(e.value)
  assert elapsed < 1.0, elapsed
  assert "\n" not in msg and needle in msg and str(tmp_path) in msg
  assert os.listdir(str(tmp_path)) == []  # nothing was downloaded or created


# ------------------------------------------------------------------------------------------------
# PatchCamelyon.


def test_patch_camelyon_splits_and_preprocessing(fake_dir):
  train = collect(data.load("patch_camelyon", "train", data_dir=fake_dir))
  assert train["image"].shape == (40, 64, 64, 3) and train["image"].dtype == np.float32
  assert train["image"].min() >= -1.0 and train["image"].max() <= 1.0
  assert train["label"].dtype == np.int64 and set(train["label"]) == {0, 1}
  # Exactly the stored 96×96 images, bilinearly resized (antialiased) and scaled to [-1, 1].
  raw = collect(tfds.builder("patch_camelyon", data_dir=fake_dir).as_dataset(
      split="train", shuffle_files=False, read_config=tfds.ReadConfig(interleave_cycle_length=1)))
  expected = tf.image.resize(raw["image"].astype(np.float32), (64, 64), "bilinear",
                             antialias=True).numpy() / 127.5 - 1
  np.testing.assert_allclose(train["image"], np.clip(expected, -1, 1), atol=1e-5)
  for split in ("validation", "test"):
    assert collect(data.load("patch_camelyon", split, data_dir=fake_dir))["image"].shape[0] == \
        PCAM_SIZES[split]
  sub = collect(data.load("patch_camelyon", "train", data_dir=fake_dir, num_train=16))
  np.testing.assert_array_equal(sub["index"], train["index"][:16])
  np.testing.assert_array_equal(sub["image"], train["image"][:16])
  with pytest.raises(DataError, match="num_train=41 is larger than the 40"):
    data.load("patch_camelyon", "train", data_dir=fake_dir, num_train=41)


# ------------------------------------------------------------------------------------------------
# dSprites (TFDS).


def test_dsprites_splits_are_a_fixed_partition(fake_dir):
  splits = {s: collect(data.load("dsprites", s, data_dir=fake_dir)) for s in data.SPLITS}
  ids = {s: splits[s]["index"] for s in data.SPLITS}
  assert sum(v.size for v in ids.values()) == 400
  np.testing.assert_array_equal(np.sort(np.concatenate(list(ids.values()))),
                                FAKE_DSPRITES_INDICES)
  assignment = tfds_sources.dsprites_assignment()
  for i, s in enumerate(data.SPLITS):
    assert np.all(assignment[ids[s]] == i)
  assert ids["validation"].size > 0 and ids["test"].size > 0
  # Whole-grid fractions: 90 / 5 / 5 %.
  np.testing.assert_array_equal(np.bincount(assignment), [663_552, 36_864, 36_864])


def test_dsprites_fields(fake_dir):
  ex = collect(data.load("dsprites", "train", data_dir=fake_dir))
  assert ex["image"].shape[1:] == (64, 64, 1) and set(np.unique(ex["image"])) == {-1.0, 1.0}
  np.testing.assert_array_equal(ex["label"], ex["shape"])
  lat = sprites.latents_from_index(ex["index"])
  for k in ("shape", "scale", "orientation", "x", "y"):
    np.testing.assert_allclose(ex[k], lat[k], atol=1e-6)
  rendered = sprites.render(lat["shape"], lat["scale"], lat["orientation"], lat["x"], lat["y"])
  np.testing.assert_array_equal(ex["image"][..., 0] > 0, rendered.astype(bool))
  sub = collect(data.load("dsprites", "train", data_dir=fake_dir, num_train=50))
  np.testing.assert_array_equal(sub["index"], ex["index"][:50])


# ------------------------------------------------------------------------------------------------
# GalaxyMNIST from (fake) published HDF5 files.


def _write_galaxy(path, n, size, seed, gz=False):
  import h5py
  rng = np.random.default_rng(seed)
  images = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
  labels = (np.arange(n) % 4).astype(np.uint8)
  with h5py.File(path, "w") as f:
    f.create_dataset("images", data=images)
    f.create_dataset("labels", data=labels)
  if gz:
    with open(path, "rb") as src, gzip.open(path + ".gz", "wb") as dst:
      shutil.copyfileobj(src, dst)
    os.remove(path)
  return images, labels


def test_galaxy_mnist_from_manual_files(tmp_path):
  data_dir = str(tmp_path / "tfds")
  manual = str(tmp_path / "manual")
  os.makedirs(manual)
  train_images, train_labels = _write_galaxy(os.path.join(manual, "train_dataset.hdf5"), 1012,
                                             16, 0, gz=True)
  _write_galaxy(os.path.join(manual, "test_dataset.hdf5"), 20, 16, 1)
  train = collect(data.load("galaxy_mnist", "train", data_dir=data_dir, manual_dir=manual))
  assert train["image"].shape == (12, 64, 64, 3)
  assert train["image"].min() >= -1 and train["image"].max() <= 1
  val = collect(data.load("galaxy_mnist", "validation", data_dir=data_dir))  # now prepared
  test = collect(data.load("galaxy_mnist", "test", data_dir=data_dir))
  assert val["image"].shape[0] == 1000 and test["image"].shape[0] == 20
  # train = TFDS train[1000:], validation = TFDS train[:1000]: together the 1,012 file images.
  assert np.bincount(np.concatenate([train["label"], val["label"]])).tolist() == \
      np.bincount(train_labels).tolist()
  with pytest.raises(DataError, match="num_train=13 is larger than the 12"):
    data.load("galaxy_mnist", "train", data_dir=data_dir, num_train=13)
  # Resizing 16 → 64 of a constant image keeps the constant.
  white = tf.fill((16, 16, 3), tf.constant(255, tf.uint8))
  assert tfds_sources.resize_to_signed(white, 64).numpy().min() == 1.0


def test_galaxy_mnist_bad_file(tmp_path):
  import h5py
  manual = tmp_path / "manual"
  manual.mkdir()
  for base in catalog.GALAXY_FILES:
    with h5py.File(manual / base, "w") as f:
      f.create_dataset("pictures", data=np.zeros((2, 4, 4, 3), np.uint8))
  with pytest.raises(DataError, match="expected HDF5 datasets 'images' and 'labels'"):
    data.load("galaxy_mnist", "train", data_dir=str(tmp_path / "tfds"), manual_dir=str(manual))
