"""Checkpoints hold every variable of the model and optimisers (Keras 3 list-held layers too)."""

import numpy as np
import tensorflow as tf

from inv_tf.config import Config
from inv_tf.training import train as train_lib

TINY = Config(inference_hidden_dims=(8, 8), generative_hidden_dims=(8, 4),
              conditioner_hidden_dims=(4,), num_flows=2, num_bins=3)


def test_checkpoint_round_trips_every_variable(tmp_path):
  state = train_lib.create_state(TINY, (10, 10, 1))
  for i, v in enumerate(state.model.variables):
    v.assign(tf.fill(v.shape, tf.constant(i + 1, v.dtype)))
  path = state.checkpoint().save(str(tmp_path / "ckpt"))
  names = {n for n, _ in tf.train.list_variables(path)}
  assert sum(n.startswith("inference_variables/") for n in names) == len(
      state.model.inference.variables)
  assert sum(n.startswith("generative_variables/") for n in names) == len(
      state.model.generative.variables)

  fresh = train_lib.create_state(TINY, (10, 10, 1))
  fresh.checkpoint().restore(path).assert_existing_objects_matched()
  for a, b in zip(state.model.variables, fresh.model.variables):
    np.testing.assert_array_equal(a.numpy(), b.numpy())
