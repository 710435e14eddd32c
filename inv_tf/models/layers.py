"""The MLP block every network of the SGM uses (SPEC §3, §5).

Per hidden width: Dense (LeCun-normal kernel, zero bias — Flax's defaults) → GELU (tanh
approximation, Flax's default) → LayerNorm(ε = 1e-6) → Dropout(rate). q(η|x)'s trunk, p(η|x̂)'s
trunk and base head, and the spline conditioners are all this block.
"""

from typing import Sequence

import keras


def gelu(x):
  """GELU with the tanh approximation (Flax's default)."""
  return keras.activations.gelu(x, approximate=True)


class MLP(keras.layers.Layer):
  """Dense → GELU(tanh) → LayerNorm(ε=1e-6) [→ Dropout] per hidden width.

  Input `[..., F]` → output `[..., hidden_dims[-1]]` (the input itself if `hidden_dims` is
  empty), in the layer's dtype policy. Dropout is active only with `training=True` and a rate > 0.
  """

  def __init__(self, hidden_dims: Sequence[int], dropout_rate: float = 0.0, **kwargs):
    super().__init__(**kwargs)
    self.hidden_dims = tuple(int(h) for h in hidden_dims)
    self.dropout_rate = float(dropout_rate)
    pol = self.dtype_policy
    self.dense = [keras.layers.Dense(h, kernel_initializer="lecun_normal",
                                     bias_initializer="zeros", dtype=pol, name=f"dense_{i}")
                  for i, h in enumerate(self.hidden_dims)]
    self.norms = [keras.layers.LayerNormalization(epsilon=1e-6, dtype=pol, name=f"norm_{i}")
                  for i in range(len(self.hidden_dims))]
    self.dropouts = [keras.layers.Dropout(self.dropout_rate, dtype=pol, name=f"dropout_{i}")
                     for i in range(len(self.hidden_dims))]

  def build(self, input_shape):
    shape = tuple(input_shape)
    for dense, norm in zip(self.dense, self.norms):
      dense.build(shape)
      shape = shape[:-1] + (dense.units,)
      norm.build(shape)
    self.built = True

  def compute_output_shape(self, input_shape):
    input_shape = tuple(input_shape)
    return input_shape[:-1] + self.hidden_dims[-1:] if self.hidden_dims else input_shape

  def call(self, inputs, training=False):
    h = inputs
    for dense, norm, dropout in zip(self.dense, self.norms, self.dropouts):
      h = norm(gelu(dense(h)))
      if self.dropout_rate > 0:
        h = dropout(h, training=training)
    return h
