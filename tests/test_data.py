"""Tests of inv_tf.data's entry points (`inv_tf.data.__init__`): the registry and `load`'s checks.

The datasets themselves are tested one module per data module: test_mnist.py, test_user_data.py,
test_aug_dsprites.py, test_sprites.py, test_tfds_sources.py, test_known_truth.py; the helpers in
test_common.py and test_batching.py; the static facts and the checks without data (and
`DataError`) in test_catalog.py.
"""

import os

import pytest

from inv_tf import catalog
from inv_tf import data
from inv_tf.data import DataError


def test_registry_names_and_shapes():
  assert set(data.DATASETS) == {"mnist", "mnist_hsv", "aug_dsprites", "dsprites",
                                "patch_camelyon", "galaxy_mnist", "mnist_per_class", "glyphs"}
  assert "npz:PATH" in data.list_datasets() and "folder:PATH" in data.list_datasets()
  assert data.image_shape("mnist") == (28, 28, 1)
  assert data.image_shape("mnist_hsv") == (28, 28, 3)
  assert data.image_shape("aug_dsprites") == (64, 64, 1)
  assert data.image_shape("patch_camelyon") == (64, 64, 3)
  assert data.num_classes("galaxy_mnist") == 4


def test_unknown_name_lists_valid_names():
  with pytest.raises(DataError) as e:
    data.load("mnsit", "train")
  msg = str(e.value)
  assert "mnsit" in msg and "\n" not in msg
  for name in data.DATASETS:
    assert name in msg
  assert isinstance(e.value, ValueError)


def test_unknown_split_and_option():
  with pytest.raises(DataError, match="unknown split 'valid'"):
    data.load("mnist", "valid")
  with pytest.raises(DataError, match="unknown option.*rotation_degrees"):
    data.load("mnist", "train", rotation_degrees=15)
  with pytest.raises(DataError, match="rotation_deg must be in"):
    data.load("mnist", "train", rotation_deg=-5)
  with pytest.raises(DataError, match="seed"):
    data.load("mnist", "train", seed=-1)


# Runs whose training data `inv_tf.catalog.check_train_split` refuses before TensorFlow is
# imported: `load_split` must refuse each with the same message. {tmp}: an empty directory,
# {file}: a file.
REFUSED_BEFORE_LOADING = [
    dict(dataset="nope"),
    dict(dataset="mnist_per_class", rotation_deg=10.0),
    dict(dataset="mnist_hsv", rotation_deg=200.0),
    dict(dataset="mnist", data_dir="{tmp}", num_train=4001),
    dict(dataset="glyphs", num_train=2001),
    dict(dataset="dsprites", data_dir="{tmp}"),
    dict(dataset="patch_camelyon", data_dir="{tmp}", num_train=5),
    dict(dataset="galaxy_mnist", data_dir="{tmp}"),
    dict(dataset="npz:{tmp}/x.npz"),
    dict(dataset="folder:{file}"),
    dict(dataset="aug_dsprites", data_dir="{file}"),
    dict(dataset="aug_dsprites", data_dir="{tmp}/new", num_train=50_001),  # before rendering
]


def _config(tmp_path, fields):
  from inv_tf.config import Config
  (tmp_path / "file").write_text("")
  paths = dict(tmp=tmp_path, file=tmp_path / "file")
  return Config(**{k: v.format(**paths) if isinstance(v, str) else v for k, v in fields.items()})


@pytest.mark.parametrize("fields", REFUSED_BEFORE_LOADING,
                         ids=lambda fields: "-".join(map(str, fields.values())))
def test_load_split_refuses_with_the_message_of_the_check_before_loading(tmp_path, fields):
  config = _config(tmp_path, fields)
  with pytest.raises(DataError) as before:
    catalog.check_train_split(config)
  with pytest.raises(DataError) as loading:
    data.load_split(config, "train")
  assert str(loading.value) == str(before.value)
  assert sorted(os.listdir(tmp_path)) == ["file"]  # nothing built or downloaded


@pytest.mark.parametrize("fields", [dict(dataset="mnist", data_dir="{tmp}"),
                                    dict(dataset="mnist_hsv", data_dir="{tmp}", num_train=50),
                                    dict(dataset="glyphs", num_train=7)])
def test_the_size_known_before_loading_is_the_loaded_size(tmp_path, fields):
  config = _config(tmp_path, fields)
  assert int(data.load_split(config, "train").cardinality()) == catalog.check_train_split(config)


@pytest.mark.parametrize("name", ["mnist", "mnist_hsv", "mnist_per_class", "glyphs"])
def test_the_images_loaded_have_the_shape_the_catalog_states(name):
  spec = data.load(name, "validation").element_spec["image"]
  assert tuple(spec.shape) == catalog.image_shape(name) == data.image_shape(name)
