"""Tests of inv_tf.data.common: the helpers every dataset shares (stratified order, per-example
randomness)."""

import numpy as np
import tensorflow as tf

from inv_tf.data import common


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

