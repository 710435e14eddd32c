r"""User data: `npz:PATH` and `folder:PATH`.

* `npz:PATH`: a NumPy `.npz` with `images` `[N, H, W]` or `[N, H, W, C]` (C = 1 or 3), either
  integers in 0..255 or floats in [0, 1], and optionally `labels` `[N]` (integers). NaN/inf or
  out-of-range values are an error.
* `folder:PATH`: PNG/JPEG files (`.png`, `.jpg`, `.jpeg`, any case). Either all directly in PATH
  (no labels, `label` = -1) or in one sub-folder per class (labels 0, 1, … in sorted sub-folder
  name order). Hidden files (starting with ".") are ignored; any other file is an error, as are
  images of different sizes. Grey images give C = 1; if any image has colour, all are converted to
  RGB (C = 3); alpha is dropped. PNGs are read at their full depth: 16-bit PNGs keep their 65536
  levels (0 → -1, 65535 → 1), 8-bit ones their 256.

Images are scaled linearly to [-1, 1] (0 → -1, 255 or 1.0 → 1), so a dark background becomes -1,
the convention of the SGM. Splits are made deterministically, independent of the run's seed: a
fixed stratified (per label) division into 80% train, 10% validation, 10% test (options
`validation_fraction`, `test_fraction`); training examples are in a fixed class-interleaved order
and `num_train` takes the first n (nested subsets). A split that would be empty is an error.
Fields: `image` float32 `[H, W, C]`, `label` int64 (-1 when unknown), `index` int64 (position in
the file / sorted file list).
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from inv_tf import catalog
from inv_tf.catalog import DataError
from inv_tf.data import common

SPLIT_SEED = 1234
DEFAULT_FRACTIONS = (0.1, 0.1)
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")


def _to_uint8_range(images: np.ndarray, what: str) -> np.ndarray:
  """Validates pixel values and returns float32 in [0, 1]."""
  if images.dtype == np.bool_:
    return images.astype(np.float32)
  if np.issubdtype(images.dtype, np.integer):
    if images.size and (images.min() < 0 or images.max() > 255):
      raise DataError(f"{what}: integer pixels must be in 0..255, found {images.min()}.."
                      f"{images.max()}")
    return images.astype(np.float32) / 255.0
  if np.issubdtype(images.dtype, np.floating):
    if not np.all(np.isfinite(images)):
      raise DataError(f"{what}: images contain NaN or infinite values")
    if images.size and (images.min() < 0.0 or images.max() > 1.0):
      raise DataError(f"{what}: float pixels must be in [0, 1], found {images.min():g}.."
                      f"{images.max():g}")
    return images.astype(np.float32)
  raise DataError(f"{what}: images must be integers 0..255 or floats in [0, 1], got dtype "
                  f"{images.dtype}")


def _standardise(images: np.ndarray, what: str) -> np.ndarray:
  if images.ndim == 3:
    images = images[..., None]
  if images.ndim != 4 or images.shape[-1] not in (1, 3):
    raise DataError(f"{what}: images must be [N, H, W] or [N, H, W, C] with C = 1 or 3, got "
                    f"shape {images.shape}")
  if images.shape[0] == 0:
    raise DataError(f"{what}: the dataset is empty (0 images)")
  return _to_uint8_range(images, what) * 2.0 - 1.0


def read_npz(path: str):
  """Images float32 `[N, H, W, C]` in [-1, 1] and labels int64 `[N]` (-1 if absent)."""
  what = f"npz:{path}"
  catalog.check_user_path("npz", path)
  try:
    with np.load(path, allow_pickle=False) as f:
      keys = list(f.keys())
      if "images" not in keys:
        raise DataError(f"{what}: no 'images' array (found: {', '.join(keys) or 'none'})")
      images = f["images"]
      labels = f["labels"] if "labels" in keys else None
  except DataError:
    raise
  except Exception as e:  # pylint: disable=broad-except
    raise DataError(f"{what}: cannot read as .npz ({type(e).__name__}: {e})") from None
  images = _standardise(np.asarray(images), what)
  if labels is None:
    labels = np.full(images.shape[0], -1, np.int64)
  else:
    labels = np.asarray(labels).reshape(-1)
    if labels.shape[0] != images.shape[0] or not np.issubdtype(labels.dtype, np.integer):
      raise DataError(f"{what}: 'labels' must be {images.shape[0]} integers, got shape "
                      f"{labels.shape} dtype {labels.dtype}")
    labels = labels.astype(np.int64)
  return images, labels


def _list_folder(path: str):
  what = f"folder:{path}"
  catalog.check_user_path("folder", path)
  entries = sorted(e for e in os.listdir(path) if not e.startswith("."))
  subdirs = [e for e in entries if os.path.isdir(os.path.join(path, e))]
  files = [e for e in entries if not os.path.isdir(os.path.join(path, e))]
  if subdirs and files:
    raise DataError(f"{what}: mixes files ({files[0]}) and class sub-folders ({subdirs[0]}); "
                    "use either images directly in the folder or one sub-folder per class")
  items = []  # (relative path, label)
  if subdirs:
    for label, sub in enumerate(subdirs):
      for e in sorted(os.listdir(os.path.join(path, sub))):
        if e.startswith("."):
          continue
        if os.path.isdir(os.path.join(path, sub, e)):
          raise DataError(f"{what}: nested folder {sub}/{e}; expected images only in class "
                          "sub-folders")
        items.append((os.path.join(sub, e), label))
  else:
    items = [(e, -1) for e in files]
  for rel, _ in items:
    if not rel.lower().endswith(IMAGE_EXTENSIONS):
      raise DataError(f"{what}: {rel} is not an image file (expected .png, .jpg or .jpeg)")
  if not items:
    raise DataError(f"{what}: the dataset is empty (no PNG/JPEG files)")
  return items


def _read_image(file_path: str) -> np.ndarray:
  """One image file as float32 `[H, W]` (grey) or `[H, W, 3]` (colour) in [0, 1], alpha dropped.

  PNGs are decoded at their full bit depth (8 or 16 bits per channel, each scaled by its own
  maximum, 255 or 65535), so a 16-bit image keeps all its levels; JPEGs are 8-bit.

  Raises:
    OSError, ValueError, tf.errors.InvalidArgumentError: the file is not a readable image.
  """
  from PIL import Image  # pylint: disable=g-import-not-at-top
  with Image.open(file_path) as im:
    im.load()
    if im.format != "PNG":
      grey = im.mode in ("L", "1", "I;16", "I", "F")
      return np.asarray(im.convert("L" if grey else "RGB"), np.float32) / 255.0
  with open(file_path, "rb") as f:
    contents = f.read()
  # dtype uint16 scales 8-bit samples by 257: both depths map to 0..65535.
  pixels = tf.io.decode_png(contents, channels=0, dtype=tf.uint16).numpy()
  channels = pixels.shape[-1]
  pixels = pixels[..., 0] if channels <= 2 else pixels[..., :3]  # grey(+alpha) / RGB(+alpha)
  return pixels.astype(np.float32) / 65535.0


def read_folder(path: str):
  """Images float32 `[N, H, W, C]` in [-1, 1] and labels int64 `[N]` (-1 without sub-folders).

  8- and 16-bit PNGs are read at their full depth (see `_read_image`).
  """
  what = f"folder:{path}"
  items = _list_folder(path)
  arrays = []
  for rel, _ in items:
    try:
      arr = _read_image(os.path.join(path, rel))
    except Exception as e:  # pylint: disable=broad-except
      raise DataError(f"{what}: {rel} is not a readable image ({type(e).__name__})") from None
    arrays.append(arr)
  sizes = {a.shape[:2] for a in arrays}
  if len(sizes) > 1:
    first = arrays[0].shape[:2]
    other = next(rel for (rel, _), a in zip(items, arrays) if a.shape[:2] != first)
    raise DataError(f"{what}: images of mixed sizes ({items[0][0]} is {first[1]}x{first[0]}, "
                    f"{other} is not); resize them to one size first")
  if any(a.ndim == 3 for a in arrays):
    arrays = [np.repeat(a[..., None], 3, axis=-1) if a.ndim == 2 else a for a in arrays]
  images = _standardise(np.stack(arrays), what)
  labels = np.array([label for _, label in items], np.int64)
  return images, labels


def load(kind: str, path: str, split: str, *, num_train=None,
         validation_fraction: float = DEFAULT_FRACTIONS[0],
         test_fraction: float = DEFAULT_FRACTIONS[1]) -> tf.data.Dataset:
  """Loads `npz:PATH` (kind "npz") or `folder:PATH` (kind "folder"); see the module docstring.

  Returns:
    `tf.data.Dataset` of dicts `image` float32 `[H, W, C]` in [-1, 1], `label` int64, `index`
    int64.
  """
  catalog.check_split(split)
  name = f"{kind}:{path}"
  for f_name, f in (("validation_fraction", validation_fraction),
                    ("test_fraction", test_fraction)):
    if not 0.0 <= float(f) < 1.0:
      raise DataError(f"{name}: {f_name} must be in [0, 1), got {f}")
  if validation_fraction + test_fraction >= 1.0:
    raise DataError(f"{name}: validation_fraction + test_fraction must be < 1")
  images, labels = read_npz(path) if kind == "npz" else read_folder(path)
  train, val, test = common.stratified_split(
      labels, (float(validation_fraction), float(test_fraction)), SPLIT_SEED)
  idx = {"train": train, "validation": val, "test": test}[split]
  if split == "train":
    idx = idx[:catalog.check_num_train(num_train, idx.size, name)]
  if idx.size == 0:
    raise DataError(f"{name}: the {split} split is empty ({images.shape[0]} images, "
                    f"validation_fraction={validation_fraction}, test_fraction={test_fraction})")
  return tf.data.Dataset.from_tensor_slices({
      "image": images[idx].astype(np.float32), "label": labels[idx], "index": idx})


def image_shape(kind: str, path: str) -> tuple[int, int, int]:
  images, _ = read_npz(path) if kind == "npz" else read_folder(path)
  return tuple(int(d) for d in images.shape[1:])
