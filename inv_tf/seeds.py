"""Stateless seeds shared by the models (dropout) and the training steps.

A stateless seed is an int32 `[2]` tensor. Under a multi-replica `tf.distribute` strategy every
replica holds the same seed, so each folds in its replica index to draw different numbers for its
different examples; with one replica the seed is used as it is.
"""

import tensorflow as tf


def replica_seed(seed: tf.Tensor, replica) -> tf.Tensor:
  """The replica's stateless seed.

  Args:
    seed: int32 `[2]`, the seed every replica shares.
    replica: the replica index (an int or int32 `[]` tensor), or None for a single replica.

  Returns:
    int32 `[2]`: `seed` itself for `replica=None`, else `fold_in(seed, replica)`.
  """
  if replica is None:
    return seed
  return tf.random.experimental.stateless_fold_in(seed, replica)
