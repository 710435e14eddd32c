"""Tests for inv_tf.models.layers (the shared MLP block)."""

import numpy as np
import tensorflow as tf

from inv_tf.models.layers import MLP, gelu


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
