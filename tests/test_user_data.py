"""Tests of inv_tf.data.user_data: the `npz:PATH` and `folder:PATH` datasets.

Offline; the files are written to temporary directories. The property-based tests draw arrays of
any dtype and shape (npz) and PNGs of any depth and channel count (folder).
"""

import os
import pathlib
import tempfile

from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.extra import numpy as hnp
import numpy as np
import pytest
import tensorflow as tf

from inv_tf import data
from inv_tf.data import DataError
from support import collect, examples


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
