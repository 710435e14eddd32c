"""The batching used by every trainer: shuffled/repeated training batches, padded evaluation batches.

Training (docs/design.md §9): per-example preprocessing (fixed rotations etc.) happens in
`load`, before shuffling and repeating, so each example keeps one fixed augmentation for the whole run. Batches
are drawn without replacement within an epoch (reshuffled every epoch, deterministically for a
seed), the remainder of each epoch is dropped, and epochs repeat forever.

Evaluation: one pass in order, no shuffling; the last batch is padded to the full batch size and
every batch carries a float32 `mask` `[B]` (1 real example, 0 padding), so metrics are
`sum(metric * mask) / sum(mask)` and every batch has the same static shape (one XLA compilation).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from inv_tf import catalog
from inv_tf.catalog import DataError

MAX_CACHE_BYTES = 2 * 1024 ** 3  # cache a dataset in memory before shuffling if at most this big
DEFAULT_SHUFFLE_BUFFER = 50_000


def _element_bytes(spec) -> int:
  total = 0
  for s in tf.nest.flatten(spec):
    if not s.shape.is_fully_defined():
      return -1
    total += int(np.prod(s.shape.as_list(), dtype=np.int64)) * s.dtype.size
  return total


def batch_for_training(ds: tf.data.Dataset, batch_size: int, seed: int, *,
                       shuffle_buffer: int | None = None, cache: bool | None = None,
                       prefetch: bool = True) -> tf.data.Dataset:
  """Infinite stream of shuffled training batches.

  Args:
    ds: unbatched dataset from `inv_tf.data.load` (dicts of tensors).
    batch_size: examples per batch (512 in the paper).
    seed: shuffling seed; the same seed gives the same sequence of batches.
    shuffle_buffer: shuffle buffer size; default: the whole dataset if its size is known and
      ≤ 50,000, else 50,000.
    cache: cache the (preprocessed) examples in memory before shuffling; default: when the
      dataset's size is known and it fits in 2 GiB.
    prefetch: prefetch batches (AUTOTUNE).

  Returns:
    `tf.data.Dataset` of dicts, each field `[batch_size, ...]` with the input's dtype; infinite.

  Raises:
    DataError: if the dataset is known to be empty or smaller than `batch_size`.
  """
  n = int(ds.cardinality())
  batch_size = catalog.check_batch(n, batch_size)
  if cache is None:
    per_example = _element_bytes(ds.element_spec)
    cache = n > 0 and per_example > 0 and n * per_example <= MAX_CACHE_BYTES
  if cache:
    ds = ds.cache()
  if shuffle_buffer is None:
    shuffle_buffer = min(n, DEFAULT_SHUFFLE_BUFFER) if n > 0 else DEFAULT_SHUFFLE_BUFFER
  ds = ds.shuffle(int(shuffle_buffer), seed=int(seed), reshuffle_each_iteration=True)
  if n > 0:  # the paper's order: drop each epoch's remainder, then repeat
    ds = ds.batch(batch_size, drop_remainder=True).repeat()
  else:  # unknown size: repeat first, so a dataset smaller than a batch cannot stall
    ds = ds.repeat().batch(batch_size, drop_remainder=True)
  return ds.prefetch(tf.data.AUTOTUNE) if prefetch else ds


def _pad_value(key: str, dtype: tf.DType):
  if key == "image":
    return tf.constant(-1, dtype)
  if key == "label":
    return tf.constant(-1, dtype)
  return tf.zeros([], dtype)


def batch_for_evaluation(ds: tf.data.Dataset, batch_size: int, *,
                         prefetch: bool = True) -> tf.data.Dataset:
  """One ordered pass in batches of exactly `batch_size`, the last one padded.

  Args:
    ds: unbatched dataset of dicts (from `inv_tf.data.load`).
    batch_size: examples per batch.
    prefetch: prefetch batches (AUTOTUNE).

  Returns:
    `tf.data.Dataset` of dicts with the input's fields, each `[batch_size, ...]`, plus `mask`
    float32 `[batch_size]`: 1 for real examples, 0 for padding. Padding has `image` -1, `label`
    -1 and 0 in the other fields. ceil(N / batch_size) batches.
  """
  batch_size = catalog.check_batch(int(ds.cardinality()), batch_size, whole=False)
  if not isinstance(ds.element_spec, dict):
    raise DataError("batch_for_evaluation expects a dataset of dicts (from inv_tf.data.load)")

  def add_mask(ex):
    return dict(ex, mask=tf.constant(1.0, tf.float32))

  def pad(batch):
    out = {}
    for key, value in batch.items():
      missing = batch_size - tf.shape(value)[0]
      paddings = tf.concat([[[0, missing]], tf.zeros([value.shape.rank - 1, 2], tf.int32)], 0)
      fill = tf.constant(0.0) if key == "mask" else _pad_value(key, value.dtype)
      value = tf.pad(value, paddings, constant_values=tf.cast(fill, value.dtype))
      out[key] = tf.ensure_shape(value, [batch_size] + value.shape.as_list()[1:])
    return out

  ds = ds.map(add_mask).batch(batch_size).map(pad)
  return ds.prefetch(tf.data.AUTOTUNE) if prefetch else ds
