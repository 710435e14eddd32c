"""Tests for inv_tf.models.layers (the shared MLP block)."""

import keras
import numpy as np
import tensorflow as tf

from inv_tf.models.layers import MLP, dropout, gelu


def test_mlp_is_dense_gelu_layernorm_per_width():
  mlp = MLP((6, 4))
  x = tf.random.stateless_normal([3, 5], seed=[0, 1])
  y = mlp(x)
  assert y.shape == (3, 4) and mlp.compute_output_shape((None, 5)) == (None, 4)
  h = x
  for dense, norm in zip(mlp.dense, mlp.norms):
    z = gelu(h @ dense.kernel + dense.bias)
    mean, var = tf.nn.moments(z, axes=[-1], keepdims=True)
    h = (z - mean) / tf.sqrt(var + 1e-6) * norm.gamma + norm.beta
  np.testing.assert_allclose(y.numpy(), h.numpy(), atol=1e-5)
  np.testing.assert_array_equal(mlp.dense[0].bias.numpy(), 0.0)  # zero-initialised biases


def test_mlp_dropout_only_in_training_and_empty_mlp_is_identity():
  mlp = MLP((64,), dropout_rate=0.5)
  x = tf.ones([2, 8])
  np.testing.assert_array_equal(mlp(x).numpy(), mlp(x, training=False).numpy())
  assert np.any(mlp(x, training=True).numpy() == 0.0)
  np.testing.assert_array_equal(MLP(())(x).numpy(), x.numpy())


def test_mlp_follows_its_dtype_policy():
  mlp = MLP((4,), dtype="float64")
  y = mlp(tf.ones([2, 3], tf.float64))
  assert y.dtype == tf.float64 and mlp.dense[0].kernel.dtype == "float64"


def test_dropout_keeps_one_minus_rate_scaled_and_is_seeded():
  gen = keras.random.SeedGenerator(3)
  x = tf.fill([200, 500], 2.0)
  y = dropout(x, 0.2, gen).numpy()
  kept = y != 0.0
  assert abs(kept.mean() - 0.8) < 0.005  # 100,000 draws: std of the mean 0.0013
  np.testing.assert_allclose(y[kept], 2.0 / 0.8, rtol=1e-6)
  np.testing.assert_array_equal(gen.state.numpy(), [3, 1])  # advanced once per call
  again = dropout(x, 0.2, gen).numpy()
  assert np.mean((again != 0.0) != kept) > 0.2  # the next call draws a new mask
  gen.state.assign([3, 0])
  np.testing.assert_array_equal(dropout(x, 0.2, gen).numpy(), y)  # same state, same mask


def test_dropout_same_mask_eagerly_and_inside_an_xla_step():
  gen = keras.random.SeedGenerator(7)
  x = tf.random.stateless_normal([16, 32], seed=[1, 2])
  eager = dropout(x, 0.5, gen).numpy()
  gen.state.assign([7, 0])
  compiled = tf.function(lambda v: dropout(v, 0.5, gen), jit_compile=True,
                         autograph=False)(x).numpy()
  np.testing.assert_array_equal(eager, compiled)


def test_mlp_dropout_mask_follows_its_seed_state():
  mlp = MLP((32, 32), dropout_rate=0.3)
  x = tf.random.stateless_normal([4, 8], seed=[0, 3])
  mlp(x)
  start = mlp.seed_generator.state.numpy().copy()
  first = mlp(x, training=True).numpy()
  assert mlp.seed_generator.state.numpy()[1] == start[1] + 2  # one draw per hidden layer
  mlp.seed_generator.state.assign(start)
  np.testing.assert_array_equal(mlp(x, training=True).numpy(), first)
  mlp(x)  # training=False draws nothing
  assert mlp.seed_generator.state.numpy()[1] == start[1] + 2
