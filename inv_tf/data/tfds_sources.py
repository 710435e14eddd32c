r"""Datasets read through TFDS that cannot be downloaded here: dSprites, PatchCamelyon, GalaxyMNIST.

Nothing is ever downloaded at run time (`download=False` semantics): if the prepared data is
missing, loading fails at once (well under a second) with a one-line `DataError` that says how to
prepare it.

| name             | TFDS builder           | images                  | train                          | validation         | test    |
|------------------|------------------------|-------------------------|--------------------------------|--------------------|---------|
| `dsprites`       | `dsprites` (2.0.0)     | 64×64×1 binary          | 90% of the 737,280 (663,552)   | 5% (36,864)        | 5% (36,864) |
| `patch_camelyon` | `patch_camelyon` (2.0.0) | 96×96×3 → 64×64×3     | train[:num_train] (262,144)    | validation (32,768) | test (32,768) |
| `galaxy_mnist`   | `galaxy_mnist` (ours, 1.0.0) | 64×64×3 or 224×224×3 → 64×64×3 | train[1000:1000+num_train] (7,000) | train[:1000] | test (2,000) |

* dSprites has a single TFDS split; each grid image goes to train/validation/test by a fixed
  pseudo-random assignment of its dSprites flat index (computed from the `label_*` latent indices),
  so the split does not depend on the on-disk order. Fields: `image` (`{0,1}` → `{-1, 1}`),
  `label` = `shape` (0 square, 1 ellipse, 2 heart), `scale`, `orientation`, `x`, `y` (float32
  latent values), `index` (int64 flat index).
* PatchCamelyon and GalaxyMNIST are resized with `tf.image.resize(method="bilinear",
  antialias=True)` (JAX's `jax.image.resize` bilinear, which the reference uses, antialiases
  when downsampling) and scaled from 0..255 to [-1, 1]. Fields: `image`, `label`, `index`
  (position-based stable id: TFDS train position, or an offset of 10⁶ / 2·10⁶ for TFDS
  validation / test).
* The paper's training-set sizes (docs/design.md §9): PatchCamelyon num_train ∈ {16,384,
  65,536, 262,144}; GalaxyMNIST num_train ∈ {3,500, 7,000}.

Preparing the data (on a machine with network access, then copy the data directory over):

* dsprites / patch_camelyon: `python -c "import tensorflow_datasets as tfds;
  tfds.builder('dsprites', data_dir='DIR').download_and_prepare()"` (likewise 'patch_camelyon',
  about 7.5 GB to download), then `load(..., data_dir='DIR')`.
* galaxy_mnist: download `train_dataset.hdf5.gz` and `test_dataset.hdf5.gz` of GalaxyMNIST
  (github.com/mwalmsley/galaxy_mnist; 8,000 / 2,000 galaxies, 4 classes; HDF5 datasets `images`,
  uint8 NHWC, and `labels`, 0..3 = smooth_round, smooth_cigar, edge_on_disk, unbarred_spiral; the
  224-pixel "highrez" files of the same names also work) into `DIR/downloads/manual/galaxy_mnist/`
  (or pass `manual_dir=`). Gzipped or not. The builder (needs `h5py`, which Keras already
  installs) converts them into `DIR/galaxy_mnist/1.0.0` on first use.
"""

from __future__ import annotations

import gzip
import io
import os

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from inv_tf import catalog
from inv_tf.catalog import DataError
from inv_tf.data import common, sprites

DSPRITES_SPLIT_SEED = 20170601
PCAM_SIZES = {"train": 262_144, "validation": 32_768, "test": 32_768}
GALAXY_VALIDATION = 1_000
GALAXY_TRAIN = 8_000
GALAXY_TEST = 2_000
GALAXY_CLASSES = ("smooth_round", "smooth_cigar", "edge_on_disk", "unbarred_spiral")
VALIDATION_ID_OFFSET = 1_000_000
TEST_ID_OFFSET = 2_000_000


def _prepared_builder(kind: str, data_dir):
  """The TFDS builder of `kind` ("dsprites" or "patch_camelyon"), at the version of
  `inv_tf.catalog`; DataError saying how to prepare it when its data is not in `data_dir`."""
  catalog.check_prepared(kind, data_dir)
  name, version = catalog.DATASETS[kind].tfds
  return tfds.builder(f"{name}:{version}", data_dir=catalog.default_data_dir(data_dir))


def _read(builder, split: str) -> tf.data.Dataset:
  return builder.as_dataset(split=split, shuffle_files=False,
                            read_config=tfds.ReadConfig(interleave_cycle_length=1))


def resize_to_signed(image: tf.Tensor, size: int) -> tf.Tensor:
  """uint8 `[H, W, C]` 0..255 → float32 `[size, size, C]` in [-1, 1] (bilinear, antialiased)."""
  x = tf.cast(image, tf.float32)
  if image.shape[0] != size or image.shape[1] != size:
    x = tf.image.resize(x, (size, size), method="bilinear", antialias=True)
  return tf.clip_by_value(x * (2.0 / 255.0) - 1.0, -1.0, 1.0)


# ------------------------------------------------------------------------------------------------
# dSprites (TFDS).

_DSPRITES_ASSIGNMENT = None


def dsprites_assignment() -> np.ndarray:
  """uint8 `[737280]`: 0 train, 1 validation, 2 test for each dSprites flat index (fixed).

  The validation and test sizes are `inv_tf.catalog`'s; the train split is the rest of the grid.
  """
  global _DSPRITES_ASSIGNMENT
  if _DSPRITES_ASSIGNMENT is None:
    sizes = catalog.DATASETS["dsprites"].split_sizes
    if sum(sizes) != sprites.NUM_GRID_POINTS:
      raise DataError(f"dsprites: the split sizes {sizes} do not partition the "
                      f"{sprites.NUM_GRID_POINTS} grid images")
    _, n_val, n_test = sizes
    rng = np.random.default_rng(DSPRITES_SPLIT_SEED)
    perm = rng.permutation(sprites.NUM_GRID_POINTS)
    out = np.zeros(sprites.NUM_GRID_POINTS, np.uint8)
    out[perm[:n_val]] = 1
    out[perm[n_val:n_val + n_test]] = 2
    _DSPRITES_ASSIGNMENT = out
  return _DSPRITES_ASSIGNMENT


def load_dsprites(split: str, *, data_dir=None, num_train=None) -> tf.data.Dataset:
  """TFDS dSprites; see the module docstring for splits and fields (`image` `[64, 64, 1]`)."""
  builder = _prepared_builder("dsprites", data_dir)
  assignment = dsprites_assignment()
  n_split = catalog.DATASETS["dsprites"].split_sizes[common.SPLIT_IDS[split]]
  if split == "train":
    n_split = catalog.check_num_train(num_train, n_split, "dsprites")
  table = tf.constant(assignment)
  target = common.SPLIT_IDS[split]

  def convert(ex):
    sizes = sprites.GRID_SHAPE
    index = tf.cast(ex["label_shape"], tf.int64)
    for key, size in zip(("label_scale", "label_orientation", "label_x_position",
                          "label_y_position"), sizes[1:]):
      index = index * size + tf.cast(ex[key], tf.int64)
    image = tf.cast(ex["image"] > 0, tf.float32) * 2.0 - 1.0
    return {"image": tf.ensure_shape(image, catalog.DATASETS["dsprites"].image_shape),
            "label": tf.cast(ex["label_shape"], tf.int64),
            "shape": tf.cast(ex["label_shape"], tf.int64),
            "scale": tf.cast(ex["value_scale"], tf.float32),
            "orientation": tf.cast(ex["value_orientation"], tf.float32),
            "x": tf.cast(ex["value_x_position"], tf.float32),
            "y": tf.cast(ex["value_y_position"], tf.float32),
            "index": index}

  ds = _read(builder, "train").map(convert, num_parallel_calls=tf.data.AUTOTUNE)
  ds = ds.filter(lambda ex: tf.equal(tf.gather(table, ex["index"]), target))
  if split == "train" and num_train is not None:
    ds = ds.take(n_split)
  return ds


# ------------------------------------------------------------------------------------------------
# PatchCamelyon (TFDS).


def load_patch_camelyon(split: str, *, data_dir=None, num_train=None) -> tf.data.Dataset:
  """TFDS PatchCamelyon resized to `[64, 64, 3]` in [-1, 1]; `label` 0/1; `index` int64."""
  builder = _prepared_builder("patch_camelyon", data_dir)
  if split == "train":
    available = PCAM_SIZES["train"]
    if builder.info.splits and "train" in builder.info.splits:
      available = builder.info.splits["train"].num_examples
    n = catalog.check_num_train(num_train, available, "patch_camelyon")
    tfds_split, offset = f"train[:{n}]", 0
  else:
    tfds_split = split
    offset = VALIDATION_ID_OFFSET if split == "validation" else TEST_ID_OFFSET
  size = catalog.DATASETS["patch_camelyon"].image_shape[0]
  return _read(builder, tfds_split).enumerate().map(
      lambda i, ex: {"image": resize_to_signed(ex["image"], size),
                     "label": tf.cast(ex["label"], tf.int64), "index": i + offset},
      num_parallel_calls=tf.data.AUTOTUNE)


# ------------------------------------------------------------------------------------------------
# GalaxyMNIST: our own builder over the published HDF5 files.


def _read_galaxy_file(path: str):
  try:
    import h5py  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise DataError("galaxy_mnist needs h5py to read its HDF5 files: `pip install h5py`") from None
  if path.endswith(".gz"):
    with gzip.open(path, "rb") as f:
      handle = io.BytesIO(f.read())
  else:
    handle = path
  with h5py.File(handle, "r") as f:
    if "images" not in f or "labels" not in f:
      raise DataError(f"{path}: expected HDF5 datasets 'images' and 'labels', found "
                      f"{sorted(f.keys())}")
    images = np.asarray(f["images"][:])
    labels = np.asarray(f["labels"][:]).astype(np.int64).reshape(-1)
  if images.ndim != 4 or images.shape[-1] != 3 or images.shape[0] != labels.shape[0]:
    raise DataError(f"{path}: expected images [N, H, W, 3] and labels [N], got "
                    f"{images.shape} and {labels.shape}")
  if images.dtype != np.uint8:
    raise DataError(f"{path}: expected uint8 images, got {images.dtype}")
  return images, labels


class GalaxyMnist(tfds.core.GeneratorBasedBuilder):
  """GalaxyMNIST (Walmsley et al.) from its published HDF5 files (manual download)."""

  VERSION = tfds.core.Version(catalog.DATASETS["galaxy_mnist"].tfds[1])
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      "Put train_dataset.hdf5[.gz] and test_dataset.hdf5[.gz] of GalaxyMNIST "
      "(github.com/mwalmsley/galaxy_mnist) in the manual directory.")

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description="GalaxyMNIST: 10,000 galaxy images in 4 morphology classes (8,000 train / "
                    "2,000 test), from Galaxy Zoo DECaLS.",
        features=tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=(None, None, 3)),
            "label": tfds.features.ClassLabel(names=list(GALAXY_CLASSES)),
        }),
        supervised_keys=("image", "label"),
        homepage="https://github.com/mwalmsley/galaxy_mnist",
    )

  def _split_generators(self, dl_manager):
    manual_dir = os.fspath(dl_manager.manual_dir)
    paths = {}
    for split, base in zip(("train", "test"), catalog.GALAXY_FILES):
      path = catalog.galaxy_file(manual_dir, base)
      if path is None:
        raise DataError(f"galaxy_mnist: {base}[.gz] not found in {manual_dir}")
      paths[split] = path
    return {split: self._generate_examples(path) for split, path in paths.items()}

  def _generate_examples(self, path):
    images, labels = _read_galaxy_file(path)
    for i in range(images.shape[0]):
      yield i, {"image": images[i], "label": int(labels[i])}


def _galaxy_builder(data_dir, manual_dir):
  """GalaxyMNIST's builder, built offline from the HDF5 files of `manual_dir` on first use."""
  manual_dir = catalog.check_prepared("galaxy_mnist", data_dir, manual_dir)
  builder = GalaxyMnist(data_dir=catalog.default_data_dir(data_dir))
  if manual_dir is not None:
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
  return builder


def load_galaxy_mnist(split: str, *, data_dir=None, num_train=None,
                      manual_dir=None) -> tf.data.Dataset:
  """GalaxyMNIST resized to `[64, 64, 3]` in [-1, 1]; `label` 0..3; `index` int64."""
  builder = _galaxy_builder(data_dir, manual_dir)
  n_train_total = builder.info.splits["train"].num_examples
  available = max(n_train_total - GALAXY_VALIDATION, 0)
  if split == "train":
    n = catalog.check_num_train(num_train, available, "galaxy_mnist")
    tfds_split, offset = f"train[{GALAXY_VALIDATION}:{GALAXY_VALIDATION + n}]", GALAXY_VALIDATION
  elif split == "validation":
    tfds_split, offset = f"train[:{GALAXY_VALIDATION}]", 0
  else:
    tfds_split, offset = "test", TEST_ID_OFFSET
  size = catalog.DATASETS["galaxy_mnist"].image_shape[0]
  return _read(builder, tfds_split).enumerate().map(
      lambda i, ex: {"image": resize_to_signed(ex["image"], size),
                     "label": tf.cast(ex["label"], tf.int64), "index": i + offset},
      num_parallel_calls=tf.data.AUTOTUNE)
