"""Tests of `inv_tf.seeds`."""

import numpy as np
import tensorflow as tf

from inv_tf import seeds


def test_replica_seeds_differ_and_one_replica_keeps_the_seed():
  seed = tf.constant([3, 4], tf.int32)
  np.testing.assert_array_equal(seeds.replica_seed(seed, None), seed)
  s0, s1 = (seeds.replica_seed(seed, tf.constant(r)).numpy() for r in (0, 1))
  assert not np.array_equal(s0, s1) and not np.array_equal(s0, seed.numpy())
