"""Helpers shared by the dataset modules (internal); the checks that need neither TensorFlow
nor data are in `inv_tf.catalog`."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from inv_tf import catalog

SPLIT_IDS = {name: i for i, name in enumerate(catalog.SPLITS)}

# Purposes folded into per-example random keys, so that different random quantities of one
# example are independent.
PURPOSE_ROTATION = 1
PURPOSE_HUE = 2
PURPOSE_SATURATION = 3
# Known-truth datasets (`known_truth`): the four uniforms mapped to a class's true η
# (rotation, tx, ty, log-scale), and the NumPy stream of the synthetic glyphs.
PURPOSE_TRUTH_ROTATION = 4
PURPOSE_TRUTH_TX = 5
PURPOSE_TRUTH_TY = 6
PURPOSE_TRUTH_LOG_SCALE = 7
PURPOSE_GLYPHS = 8
TRUTH_PURPOSES = (PURPOSE_TRUTH_ROTATION, PURPOSE_TRUTH_TX, PURPOSE_TRUTH_TY,
                  PURPOSE_TRUTH_LOG_SCALE)


def uint8_to_signed(images: tf.Tensor) -> tf.Tensor:
  """uint8 0..255 → float32 in [-1, 1] (0 → -1, 255 → 1)."""
  return tf.cast(images, tf.float32) * (2.0 / 255.0) - 1.0


def example_uniform(seed: int, example_id: tf.Tensor, purpose: int, low, high) -> tf.Tensor:
  """A float32 draw from U(low, high) fixed by (seed, example id, purpose): stateless.

  The same example (same id) gets the same value in every run, split and epoch.

  Args:
    seed: the run's integer seed.
    example_id: int64 scalar tensor, the example's stable id.
    purpose: which random quantity (one of the PURPOSE_* constants).
    low, high: float bounds.
  """
  key = tf.constant([0, int(seed)], tf.int64)
  key = tf.random.experimental.stateless_fold_in(key, purpose)
  key = tf.random.experimental.stateless_fold_in(key, tf.cast(example_id, tf.int64))
  return tf.random.stateless_uniform([], seed=key, minval=low, maxval=high, dtype=tf.float32)


def with_cardinality(ds: tf.data.Dataset, n: int) -> tf.data.Dataset:
  return ds.apply(tf.data.experimental.assert_cardinality(int(n)))


def stratified_order(labels: np.ndarray, seed) -> np.ndarray:
  """A fixed ordering of examples whose every prefix is (nearly) class-stratified.

  Examples are shuffled within each class, then interleaved class by class in proportion to the
  class sizes (by each example's rank/size within its class), so the first n examples hold about
  n·(class fraction) of each class.

  Args:
    labels: int array `[N]`.
    seed: seed for `np.random.default_rng`.

  Returns:
    int64 permutation `[N]`.
  """
  labels = np.asarray(labels)
  rng = np.random.default_rng(seed)
  keys = np.empty(labels.size, np.float64)
  for c in np.unique(labels):
    members = np.flatnonzero(labels == c)
    members = members[rng.permutation(members.size)]
    keys[members] = (np.arange(members.size) + 0.5) / members.size
  # Ties (equal class sizes) are broken by class, then by position: a stable, fixed order.
  return np.lexsort((np.arange(labels.size), labels, keys)).astype(np.int64)


def stratified_split(labels: np.ndarray, fractions: tuple[float, float], seed):
  """Splits indices into (train, validation, test), each class divided in the same proportions.

  Args:
    labels: int array `[N]` (use zeros for unlabelled data).
    fractions: (validation fraction, test fraction).
    seed: seed for `np.random.default_rng`.

  Returns:
    three int64 index arrays; train is in `stratified_order` (nested prefixes stay stratified).
  """
  labels = np.asarray(labels)
  order = stratified_order(labels, seed)
  val_f, test_f = fractions
  val, test, train = [], [], []
  for c in np.unique(labels):
    members = order[labels[order] == c]
    n_val = int(round(val_f * members.size))
    n_test = int(round(test_f * members.size))
    val.append(members[:n_val])
    test.append(members[n_val:n_val + n_test])
    train.append(members[n_val + n_test:])
  val, test, train = (np.concatenate(a) if a else np.zeros(0, np.int64) for a in (val, test, train))
  train = train[np.argsort(_rank(order, train))]
  val = val[np.argsort(_rank(order, val))]
  test = test[np.argsort(_rank(order, test))]
  return train.astype(np.int64), val.astype(np.int64), test.astype(np.int64)


def _rank(order: np.ndarray, subset: np.ndarray) -> np.ndarray:
  position = np.empty(order.size, np.int64)
  position[order] = np.arange(order.size)
  return position[subset]
