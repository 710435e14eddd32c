r"""inv_tf.data: every dataset of the SGM behind one `load`, plus the trainers' batching.

    ds = inv_tf.data.load("mnist", "train", seed=0, rotation_deg=90)    # unbatched dicts
    train = inv_tf.data.batch_for_training(ds, 512, seed=0)            # infinite, shuffled
    val = inv_tf.data.batch_for_evaluation(inv_tf.data.load("mnist", "validation"), 512)

Every example is a dict with at least `image` float32 `[H, W, C]` in [-1, 1] (background -1) and
`label` int64 (-1 when unknown), plus the ground truth a dataset has (below). Loading is
deterministic for a given `seed`, offline, and never downloads (missing data fails at once with a
one-line `DataError` explaining how to prepare it).

| name             | image     | train / validation / test                | offline | notes |
|------------------|-----------|------------------------------------------|---------|-------|
| `mnist`          | 28×28×1   | 4,000 / 500 / 500 (embedded); 50,000 / 10,000 / 10,000 (TFDS) | yes (embedded) | `rotation_deg`, `num_train`, `source` |
| `mnist_hsv`      | 28×28×3   | as `mnist`                               | yes     | + `max_hue_shift`, `saturation_range` |
| `mnist_per_class`| 28×28×1   | as `mnist`                               | yes (embedded) | `num_train`, `source`; known per-class η* |
| `glyphs`         | 24×24×1   | 2,000 / 250 / 250 (in memory)            | yes (rendered) | `num_train`, `size` (16..64), `split_sizes`; known per-group η* |
| `aug_dsprites`   | 64×64×1   | 50,000 / 10,240 / 10,240                 | yes (rendered, built into TFDS dir) | `split_sizes`, `num_train` |
| `dsprites`       | 64×64×1   | 663,552 / 36,864 / 36,864                | needs TFDS `dsprites` | `num_train` |
| `patch_camelyon` | 64×64×3   | 262,144 / 32,768 / 32,768                | needs TFDS `patch_camelyon` | `num_train` |
| `galaxy_mnist`   | 64×64×3   | 7,000 / 1,000 / 2,000                    | needs the HDF5 files | `num_train`, `manual_dir` |
| `npz:PATH`       | file's    | 80% / 10% / 10%                          | yes     | `num_train`, `validation_fraction`, `test_fraction` |
| `folder:PATH`    | files'    | 80% / 10% / 10%                          | yes     | as npz |

Ground-truth fields: `mnist`/`mnist_hsv`/`mnist_per_class`/`glyphs`: `index`, `rotation`
(radians) and `eta_true` (float32 `[5]`, the `affine_no_shear` η = (tx, ty, rotation,
log_scale_x, log_scale_y) actually applied; (0, 0, θ, 0, 0) for `mnist` and the affine part for
`mnist_hsv`), and for `mnist_hsv` `hue` (turns), `saturation` (factor); `aug_dsprites`/`dsprites`:
`shape` (= label), `scale`, `orientation`, `x`, `y`, `index`; the others: `index`.

Known truth: `mnist_per_class` transforms each digit once by η* drawn from its class's own
distribution (e.g. 2 and 7 fully rotated, 5 at ±60°, 1 translated, 8 rescaled, 4 and 9 upright)
and `glyphs` renders two asymmetric glyphs, an "F" always upright (label 0) and a "4" rotated by
U(−90°, 90°) (label 1). `truth_for(name, **options)` returns the per-label distributions
(`known_truth.ClassTruth`: `sample`, analytic `rotation_resultant`) of these and of `mnist`
(U(−A°, A°) for every label), None for the others. Details and facts (split construction, latent
distributions, preparation) are in the docstrings of `mnist`, `known_truth`, `sprites`,
`aug_dsprites`, `tfds_sources` and `user_data`; what is fixed without reading any data (names,
options, image shapes, classes, fixed split sizes, where prepared data must be) is the table of
`inv_tf.catalog`, which the trainer checks a run against before importing TensorFlow.
"""

from __future__ import annotations

import fcntl
import os

from absl import logging
import numpy as np
import tensorflow as tf

from inv_tf import catalog
from inv_tf.catalog import DataError, dataset_options, list_datasets
from inv_tf.data import (aug_dsprites, common, known_truth, mnist, sprites, tfds_sources,
                         user_data)
from inv_tf.data.batching import batch_for_evaluation, batch_for_training
from inv_tf.data.known_truth import truth_for

# The built-in datasets' names (their options, shapes and classes: `inv_tf.catalog.DATASETS`).
DATASETS = tuple(catalog.DATASETS)
SPLITS = catalog.SPLITS


def _colour_options(max_hue_shift, saturation_range):
  try:
    hue = float(max_hue_shift)
    lo, hi = (float(v) for v in saturation_range)
  except (TypeError, ValueError):
    raise DataError("mnist_hsv: max_hue_shift must be a number and saturation_range a pair of "
                    "numbers") from None
  if not 0.0 <= hue <= 1.0:
    raise DataError(f"mnist_hsv: max_hue_shift must be in [0, 1] turns, got {max_hue_shift}")
  if not 0.0 < lo <= hi:
    raise DataError(f"mnist_hsv: saturation_range must satisfy 0 < low <= high, got "
                    f"{saturation_range}")
  return hue, (lo, hi)


def _load_aug_dsprites(split, seed, data_dir, num_train=None,
                       split_sizes=aug_dsprites.DEFAULT_SPLIT_SIZES):
  root = catalog.check_build_dir("aug_dsprites", data_dir)
  make_builder = lambda: aug_dsprites.builder(seed=seed, split_sizes=split_sizes, data_dir=root)
  try:
    builder = make_builder()
  except ValueError as e:
    raise DataError(f"aug_dsprites: {e}") from None
  # The builder renders exactly its config's split sizes: the split is checked before rendering.
  n = builder.builder_config.split_sizes[common.SPLIT_IDS[split]]
  if n == 0:
    raise DataError(f"aug_dsprites: the {split} split is empty (split_sizes={split_sizes})")
  tfds_split = split
  if split == "train" and num_train is not None:
    n = catalog.check_num_train(num_train, n, "aug_dsprites")
    tfds_split = f"train[:{n}]"
  if not builder.is_prepared():
    # Runs started together on a fresh machine would otherwise render the same dataset at once
    # and collide when TFDS renames its temporary directory: one builds, the others wait.
    try:
      os.makedirs(root, exist_ok=True)
      lock_path = os.path.join(root, f".aug_dsprites_{builder.builder_config.name}.lock")
      with open(lock_path, "a", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
          builder = make_builder()  # Re-read: another process may have built it meanwhile.
          if not builder.is_prepared():
            logging.info("aug_dsprites: rendering seed %d (sizes %s) into %s (offline, once)",
                         seed, builder.builder_config.split_sizes, builder.data_dir)
            builder.download_and_prepare()
        finally:
          fcntl.flock(lock, fcntl.LOCK_UN)
    except OSError as e:
      reason = e.strerror or type(e).__name__
      raise DataError(f"aug_dsprites: cannot build the dataset in {root!r} ({reason}); pass a "
                      "writable --data_dir") from None
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  ds = builder.as_dataset(split=tfds_split, shuffle_files=False,
                          read_config=tfds.ReadConfig(interleave_cycle_length=1))

  def convert(ex):
    return {"image": tf.cast(ex["image"] > 0, tf.float32) * 2.0 - 1.0,
            "label": ex["label"], "shape": ex["label"], "scale": ex["scale"],
            "orientation": ex["orientation"], "x": ex["x"], "y": ex["y"], "index": ex["index"]}

  return common.with_cardinality(ds.map(convert, num_parallel_calls=tf.data.AUTOTUNE), n)


def _check_seed(seed) -> int:
  if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
    raise DataError(f"seed must be a non-negative integer, got {seed!r}")
  return int(seed)


def load(name: str, split: str, *, seed: int = 0, data_dir=None, **options) -> tf.data.Dataset:
  """Loads one split of a dataset as UNBATCHED examples.

  Args:
    name: one of `list_datasets()`: a name in `DATASETS`, or `npz:PATH` / `folder:PATH`.
    split: "train", "validation" or "test".
    seed: run seed; fixes per-example randomness (MNIST rotations/colours, known-truth η* and
      glyph shapes) and which augmented-dSprites draw is used. Splits themselves are fixed.
    data_dir: TFDS data directory (default `$TFDS_DATA_DIR` or `~/tensorflow_datasets`): where
      TFDS datasets are read from and where `aug_dsprites` / `galaxy_mnist` are built.
    **options: dataset options (see the table in the module docstring), e.g. `num_train`
      (first n training examples, nested subsets), `rotation_deg`.

  Returns:
    `tf.data.Dataset` of dicts: `image` float32 `[H, W, C]` in [-1, 1] (background -1), `label`
    int64 (-1 when unknown), and the dataset's ground-truth fields (scalars: int64 for ids and
    shapes, float32 for continuous values).

  Raises:
    DataError (a ValueError): unknown name, split or option; data not prepared; `num_train`
      larger than available; invalid user data; empty split.
  """
  kind, path = catalog.parse_name(name)
  catalog.check_split(split)
  catalog.check_options(name, options, catalog.options_of(kind))
  seed = _check_seed(seed)
  if kind in ("npz", "folder"):
    return user_data.load(kind, path, split, **options)
  if kind in ("mnist", "mnist_hsv", "mnist_per_class"):
    colour = per_class = None
    if kind == "mnist_hsv":
      colour = _colour_options(options.pop("max_hue_shift", 0.5),
                               options.pop("saturation_range", (0.6, 0.9)))
    if kind == "mnist_per_class":
      per_class = known_truth.MNIST_PER_CLASS
    return mnist.load(split, seed=seed, data_dir=data_dir, colour=colour, per_class=per_class,
                      name=kind, **options)
  if kind == "glyphs":
    return known_truth.load_glyphs(split, seed=seed, **options)
  if kind == "aug_dsprites":
    return _load_aug_dsprites(split, seed, data_dir, **options)
  if kind == "dsprites":
    return tfds_sources.load_dsprites(split, data_dir=data_dir, **options)
  if kind == "patch_camelyon":
    return tfds_sources.load_patch_camelyon(split, data_dir=data_dir, **options)
  return tfds_sources.load_galaxy_mnist(split, data_dir=data_dir, **options)


def load_split(config, split: str) -> tf.data.Dataset:
  """The unbatched `split` of a run's dataset, as the run loads it (`load`'s examples).

  Args:
    config: an `inv_tf.config.Config` (read: `dataset`, `seed`, `data_dir` and
      `dataset_options`'s fields; `num_train` limits the training split only).
    split: "train", "validation" or "test".

  Raises:
    DataError: as `load`.
  """
  options = dict(dataset_options(config))
  if split != "train":
    options.pop("num_train", None)
  return load(config.dataset, split, seed=config.seed, data_dir=config.data_dir or None,
              **options)


def image_shape(name: str, **options) -> tuple[int, int, int]:
  """(H, W, C) of the dataset's images without loading it (user data is read once)."""
  kind, path = catalog.parse_name(name)
  catalog.check_options(name, options, catalog.options_of(kind))
  if kind in ("npz", "folder"):
    return user_data.image_shape(kind, path)
  if kind == "glyphs" and "size" in options:
    size = known_truth.check_glyph_size(options["size"])
    return (size, size, 1)
  return catalog.DATASETS[kind].image_shape


def num_classes(name: str, **options) -> int:
  """Number of label classes (for user data: max label + 1, 0 when unlabelled)."""
  kind, path = catalog.parse_name(name)
  catalog.check_options(name, options, catalog.options_of(kind))
  if kind in ("npz", "folder"):
    _, labels = user_data.read_npz(path) if kind == "npz" else user_data.read_folder(path)
    return int(labels.max()) + 1 if labels.size and labels.max() >= 0 else 0
  return catalog.DATASETS[kind].num_classes


__all__ = [
    "DATASETS", "DataError", "SPLITS", "batch_for_evaluation", "batch_for_training",
    "dataset_options", "image_shape", "list_datasets", "load", "load_split", "num_classes",
    "truth_for",
]
