"""Tests of inv_tf.data.mnist: the embedded MNIST digits, rotated and colour MNIST, TFDS MNIST.

Offline and seeded; the full TFDS MNIST is a small fake copy prepared in a temporary TFDS data dir
(a subclass of the real TFDS builder with the same name, version and features).
"""

import math

import numpy as np
import pytest
import tensorflow_datasets as tfds

from inv_tf import catalog
from inv_tf import data
from inv_tf.data import DataError, mnist
from support import collect


@pytest.fixture
def empty_data_dir(tmp_path):
  """A TFDS data dir without any prepared dataset (so MNIST falls back to the embedded file)."""
  d = tmp_path / "tfds"
  d.mkdir()
  return str(d)


@pytest.fixture(scope="module")
def mnist_splits():
  return {s: collect(data.load("mnist", s, source="embedded")) for s in data.SPLITS}


# ------------------------------------------------------------------------------------------------
# Embedded MNIST.


def test_embedded_file_holds_500_digits_of_each_class():
  images, labels = mnist.embedded_arrays()
  assert images.shape == (5000, 28, 28, 1) and images.dtype == np.uint8
  np.testing.assert_array_equal(np.bincount(labels), np.full(10, 500))


def test_mnist_splits_sizes_disjoint_stratified(mnist_splits):
  sizes = tuple(mnist_splits[s]["index"].shape[0] for s in data.SPLITS)
  assert sizes == (4000, 500, 500) == catalog.DATASETS["mnist"].split_sizes
  ids = [set(mnist_splits[s]["index"].tolist()) for s in data.SPLITS]
  assert len(ids[0] | ids[1] | ids[2]) == 5000
  for s, per_class in (("train", 400), ("validation", 50), ("test", 50)):
    np.testing.assert_array_equal(np.bincount(mnist_splits[s]["label"], minlength=10),
                                  np.full(10, per_class))


def test_mnist_example_format(mnist_splits):
  ex = mnist_splits["train"]
  assert ex["image"].dtype == np.float32 and ex["image"].shape[1:] == (28, 28, 1)
  assert ex["label"].dtype == np.int64 and ex["index"].dtype == np.int64
  assert ex["image"].min() == -1.0 and ex["image"].max() == 1.0
  # Background is -1: the corners of every digit are background.
  assert np.all(ex["image"][:, 0, 0, 0] == -1.0)
  np.testing.assert_array_equal(ex["rotation"], 0.0)
  # Pixels are the file's values mapped 0..255 → [-1, 1].
  images, labels = mnist.embedded_arrays()
  i = ex["index"][:20]
  np.testing.assert_allclose(ex["image"][:20], images[i] / 127.5 - 1.0, atol=1e-6)
  np.testing.assert_array_equal(ex["label"][:20], labels[i])


def test_num_train_nested_and_stratified(mnist_splits):
  subsets = {n: collect(data.load("mnist", "train", num_train=n, source="embedded"))["index"]
             for n in (1250, 2500)}
  full = mnist_splits["train"]["index"]
  np.testing.assert_array_equal(subsets[1250], full[:1250])
  np.testing.assert_array_equal(subsets[2500], full[:2500])
  assert set(subsets[1250]) < set(subsets[2500]) < set(full)
  _, labels = mnist.embedded_arrays()
  counts = np.bincount(labels[subsets[1250]], minlength=10)
  assert counts.min() >= 124 and counts.max() <= 126
  np.testing.assert_array_equal(np.bincount(labels[subsets[2500]], minlength=10), np.full(10, 250))


def test_num_train_too_large_and_invalid():
  with pytest.raises(DataError, match="num_train=4001 is larger than the 4000"):
    data.load("mnist", "train", num_train=4001, source="embedded")
  with pytest.raises(DataError, match="positive"):
    data.load("mnist", "train", num_train=0, source="embedded")


def test_splits_do_not_depend_on_seed():
  a = collect(data.load("mnist", "validation", seed=0, source="embedded"))["index"]
  b = collect(data.load("mnist", "validation", seed=7, source="embedded"))["index"]
  np.testing.assert_array_equal(a, b)


def test_auto_source_uses_embedded_without_tfds_mnist(empty_data_dir):
  assert not catalog.tfds_prepared("mnist", empty_data_dir)
  ds = data.load("mnist", "test", data_dir=empty_data_dir)
  assert int(ds.cardinality()) == 500
  with pytest.raises(DataError, match="TFDS mnist is not prepared.*download_and_prepare"):
    data.load("mnist", "test", data_dir=empty_data_dir, source="tfds")


# ------------------------------------------------------------------------------------------------
# Rotated MNIST.


def test_rotation_is_fixed_per_example_and_seeded():
  kw = dict(rotation_deg=90, source="embedded", num_train=600)
  a = collect(data.load("mnist", "train", seed=3, **kw))
  b = collect(data.load("mnist", "train", seed=3, **kw))
  c = collect(data.load("mnist", "train", seed=4, **kw))
  np.testing.assert_array_equal(a["rotation"], b["rotation"])
  np.testing.assert_array_equal(a["image"], b["image"])
  assert not np.allclose(a["rotation"], c["rotation"])
  # Uniform on [-90°, 90°]: in range, spread over it, mean near 0.
  limit = math.pi / 2
  assert np.all(np.abs(a["rotation"]) <= limit + 1e-6)
  assert a["rotation"].min() < -0.9 * limit and a["rotation"].max() > 0.9 * limit
  assert abs(a["rotation"].mean()) < 0.15
  # Same example → same angle in a different subset size (fixed per example, stateless).
  small = collect(data.load("mnist", "train", seed=3, rotation_deg=90, source="embedded",
                             num_train=100))
  np.testing.assert_array_equal(small["rotation"], a["rotation"][:100])


def test_rotation_matches_transforms_and_stays_in_range():
  from inv_tf import transforms
  plain = collect(data.load("mnist", "test", source="embedded"))
  rot = collect(data.load("mnist", "test", seed=1, rotation_deg=180, source="embedded"))
  np.testing.assert_array_equal(plain["index"], rot["index"])
  assert rot["image"].min() >= -1.0 and rot["image"].max() <= 1.0
  expected = transforms.transform_images(plain["image"][:16], rot["rotation"][:16, None],
                                         "rotation", order=1, fill_value=-1.0)
  np.testing.assert_allclose(rot["image"][:16], np.clip(expected.numpy(), -1, 1), atol=1e-5)
  # A real rotation happened: images differ, but ink mass is roughly preserved.
  big = np.abs(rot["rotation"]) > 0.5
  assert np.mean(np.abs(rot["image"][big] - plain["image"][big])) > 0.05
  ink_plain = (plain["image"] + 1).sum(axis=(1, 2, 3))
  ink_rot = (rot["image"] + 1).sum(axis=(1, 2, 3))
  assert np.median(np.abs(ink_rot / ink_plain - 1)) < 0.1


# ------------------------------------------------------------------------------------------------
# Colour MNIST.


def test_mnist_hsv_colour_ground_truth():
  from inv_tf import transforms
  ex = collect(data.load("mnist_hsv", "validation", seed=2, max_hue_shift=0.5))
  assert ex["image"].shape[1:] == (28, 28, 3)
  assert np.all((ex["hue"] >= 0) & (ex["hue"] <= 0.5))
  assert np.all((ex["saturation"] >= 0.6) & (ex["saturation"] <= 0.9))
  assert ex["hue"].std() > 0.1  # spread over U(0, 0.5): std ≈ 0.144
  # Background stays exactly -1 in every channel where the digit has no ink.
  plain = collect(data.load("mnist", "validation"))
  background = plain["image"][..., 0] == -1.0
  assert np.all(ex["image"][background] == -1.0)
  # Inked pixels have hue = the shift and saturation = the factor.
  hsv = transforms.rgb_to_hsv((ex["image"] + 1.0) / 2.0).numpy()
  ink = hsv[..., 2] > 0.3
  hue_err = (hsv[..., 0] - ex["hue"][:, None, None] + 0.5) % 1.0 - 0.5
  assert np.abs(hue_err[ink]).max() < 0.02
  sat_err = hsv[..., 1] - ex["saturation"][:, None, None]
  assert np.abs(sat_err[ink]).max() < 0.02


def test_mnist_hsv_options_and_errors():
  ex = collect(data.load("mnist_hsv", "test", max_hue_shift=0.0, saturation_range=(1.0, 1.0)))
  np.testing.assert_array_equal(ex["hue"], 0.0)
  # Hue 0, saturation 1: pure red digits, green and blue all background.
  assert np.all(ex["image"][..., 1:] == -1.0) and ex["image"][..., 0].max() == 1.0
  with pytest.raises(DataError, match="max_hue_shift"):
    data.load("mnist_hsv", "test", max_hue_shift=2.0)
  with pytest.raises(DataError, match="saturation_range"):
    data.load("mnist_hsv", "test", saturation_range=(0.0, 0.5))


# ------------------------------------------------------------------------------------------------
# Full MNIST through TFDS (paper splits), used automatically when prepared in data_dir.

MNIST_TRAIN, MNIST_TEST = 10_030, 20


class FakeMnist(tfds.builder_cls("mnist"), skip_registration=True):
  """mnist 3.0.1 with the real features; 10,030 train / 20 test random digits."""
  name = "mnist"

  def _info(self):
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        "image": tfds.features.Image(shape=(28, 28, 1)),
        "label": tfds.features.ClassLabel(num_classes=10)}), supervised_keys=("image", "label"))

  def _split_generators(self, dl_manager):
    return {"train": self._generate_examples(MNIST_TRAIN, 0),
            "test": self._generate_examples(MNIST_TEST, 1)}

  def _generate_examples(self, n, seed):
    rng = np.random.default_rng(seed)
    for i in range(n):
      image = np.zeros((28, 28, 1), np.uint8)
      image[8:20, 8:20] = rng.integers(0, 256, (12, 12, 1), dtype=np.uint8)
      yield i, {"image": image, "label": i % 10}


@pytest.mark.slow  # loads all of MNIST
def test_full_tfds_mnist_paper_splits(tmp_path):
  d = str(tmp_path)
  FakeMnist(data_dir=d).download_and_prepare()
  train = data.load("mnist", "train", data_dir=d)  # source="auto" picks TFDS
  assert int(train.cardinality()) == MNIST_TRAIN - 10_000
  tr = collect(train)
  np.testing.assert_array_equal(tr["index"], np.arange(10_000, MNIST_TRAIN))
  assert int(data.load("mnist", "validation", data_dir=d).cardinality()) == 10_000
  te = collect(data.load("mnist", "test", data_dir=d, rotation_deg=15, seed=1))
  np.testing.assert_array_equal(te["index"], 60_000 + np.arange(MNIST_TEST))
  assert np.all(np.abs(te["rotation"]) <= np.radians(15) + 1e-6) and np.any(te["rotation"] != 0)
  # Rows are TFDS train[10000:] in order: compare with the raw TFDS examples.
  raw = collect(tfds.builder("mnist", data_dir=d).as_dataset(split="train[10000:]",
                                                              shuffle_files=False))
  np.testing.assert_allclose(tr["image"], raw["image"] / 127.5 - 1, atol=1e-6)
  np.testing.assert_array_equal(tr["label"], raw["label"])
  sub = collect(data.load("mnist", "train", data_dir=d, num_train=10))
  np.testing.assert_array_equal(sub["index"], tr["index"][:10])
  with pytest.raises(DataError, match="num_train=31 is larger than the 30"):
    data.load("mnist", "train", data_dir=d, num_train=31)
  # The embedded digits can still be forced.
  assert int(data.load("mnist", "test", data_dir=d, source="embedded").cardinality()) == 500
