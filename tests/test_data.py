"""Tests of inv_tf.data's entry points (`inv_tf.data.__init__`): the registry and `load`'s checks.

The datasets themselves are tested one module per data module: test_mnist.py, test_user_data.py,
test_aug_dsprites.py, test_sprites.py, test_tfds_sources.py, test_known_truth.py; the helpers in
test_common.py, test_errors.py and test_batching.py.
"""

import pytest

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
