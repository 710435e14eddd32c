"""The MLP block every network of the SGM uses (SPEC §3, §5).

Per hidden width: Dense (LeCun-normal kernel, zero bias — Flax's defaults) → GELU (tanh
approximation, Flax's default) → LayerNorm(ε = 1e-6) → Dropout(rate). q(η|x)'s trunk, p(η|x̂)'s
trunk and base head, and the spline conditioners are all this block.

Mixed precision
===============

With ``mixed_precision=True`` the networks give their matmul/convolution stacks (MLP trunks, the
VAE's conv stacks) the per-layer Keras dtype policy ``"mixed_bfloat16"`` (:data:`MIXED_POLICY`):
variables stay float32, each layer casts its inputs and (inside its ``call``) its variables to
bfloat16 and computes in bfloat16 — except LayerNormalization, which Keras evaluates in float32
internally and casts back to bfloat16. The global Keras policy is never changed. Whatever reads a
bfloat16 stack casts its output to float32 (:func:`to_float32`), so heads, the flow, warps,
distributions and losses see float32. bfloat16 keeps float32's exponent range (no loss scaling)
with an 8-bit significand (relative rounding 2⁻⁹ ≈ 0.2 %).

Dropout in a bfloat16 MLP draws its mask in float32 (its Dropout layers keep a float32 policy):
``tf.nn.experimental.stateless_dropout`` draws uniforms in the input's dtype, so a bfloat16 mask
would differ from the float32 model's for the same seed state, and its keep probability would be
off by bfloat16's rounding of the rate. With float32 masks a mixed-precision model and a float32
one with the same variables (seed states included) drop the same units.
"""

from typing import Sequence

import keras
import tensorflow as tf

MIXED_POLICY = "mixed_bfloat16"


def stack_policy(mixed_precision: bool, policy=None):
  """The dtype policy of a network's matmul/conv stack.

  Args:
    mixed_precision: use bfloat16 compute with float32 variables.
    policy: the policy to use otherwise (None = the global default, as before).

  Returns:
    ``"mixed_bfloat16"`` if `mixed_precision`, else `policy` unchanged.
  """
  return MIXED_POLICY if mixed_precision else policy


def check_mixed_precision(mixed_precision: bool, model: keras.layers.Layer) -> bool:
  """`mixed_precision` as a bool; a ValueError if it is requested for a non-float32 model.

  Mixed precision lowers float32 stacks to bfloat16 and keeps everything else float32, so the
  model's own policy must be float32 (e.g. not ``dtype="float64"``).
  """
  mixed_precision = bool(mixed_precision)
  if mixed_precision and model.dtype_policy.name != "float32":
    raise ValueError(f"mixed_precision=True needs a float32 model, got dtype policy "
                     f"{model.dtype_policy.name!r}")
  return mixed_precision


def to_float32(x):
  """`x` cast to float32 (a no-op, returning `x` itself, when it already is float32)."""
  return tf.cast(x, tf.float32)


def gelu(x):
  """GELU with the tanh approximation (Flax's default)."""
  return keras.activations.gelu(x, approximate=True)


class MLP(keras.layers.Layer):
  """Dense → GELU(tanh) → LayerNorm(ε=1e-6) [→ Dropout] per hidden width.

  Input `[..., F]` → output `[..., hidden_dims[-1]]` (the input itself if `hidden_dims` is
  empty), in the layer's compute dtype (float32 by default, bfloat16 under ``"mixed_bfloat16"``,
  where the variables stay float32). Dropout is active only with `training=True` and a rate > 0;
  its masks are drawn in float32 under a 16-bit policy.
  """

  def __init__(self, hidden_dims: Sequence[int], dropout_rate: float = 0.0, **kwargs):
    super().__init__(**kwargs)
    self.hidden_dims = tuple(int(h) for h in hidden_dims)
    self.dropout_rate = float(dropout_rate)
    pol = self.dtype_policy
    # Dropout masks in float32 when computing in a 16-bit dtype (see the module docstring).
    drop_pol = "float32" if pol.compute_dtype in ("bfloat16", "float16") else pol
    self.dense = [keras.layers.Dense(h, kernel_initializer="lecun_normal",
                                     bias_initializer="zeros", dtype=pol, name=f"dense_{i}")
                  for i, h in enumerate(self.hidden_dims)]
    self.norms = [keras.layers.LayerNormalization(epsilon=1e-6, dtype=pol, name=f"norm_{i}")
                  for i in range(len(self.hidden_dims))]
    self.dropouts = [keras.layers.Dropout(self.dropout_rate, dtype=drop_pol, name=f"dropout_{i}")
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
        h = tf.cast(dropout(h, training=training), h.dtype)  # No-op cast unless 16-bit compute.
    return h
