"""The MLP block every network of the SGM uses (docs/design.md §3, §5).

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

Dropout
=======

Inverted dropout, :func:`dropout`: with rate r, each unit is kept when u ≥ r for
u ~ Uniform[0, 1) drawn in float32 and scaled by 1/(1 − r), so E[output] = input. The uniforms
come from ``tf.random.stateless_uniform(..., alg="threefry")`` with a seed that the MLP's
``keras.random.SeedGenerator`` (checkpointed with the model) hands out and advances on every
training call. Why not ``keras.layers.Dropout``: it draws with TF's ``auto_select`` algorithm,
which XLA:CPU lowers to a scalar Philox loop that dominates the paper-sized stage-2 step on a CPU
(``benchmarks/step_profile.py --step=generative`` measures it); Threefry compiles to vectorised
integer code.
Masks are float32 under any policy, so a mixed-precision model and a float32 one with the same
variables (seed states included) drop the same units.

Under a multi-replica ``tf.distribute`` strategy the seed is folded with the replica's id
(``replica_id_in_sync_group``), so replicas — which hold identical copies of the seed state —
draw different masks for their different examples. With one replica the seed is used unchanged.
"""

from typing import Sequence

import keras
import tensorflow as tf

from inv_tf import seeds

MIXED_POLICY = "mixed_bfloat16"


def stack_policy(mixed_precision: bool, policy=None):
  """The dtype policy of a network's matmul/conv stack.

  Args:
    mixed_precision: use bfloat16 compute with float32 variables.
    policy: the policy to use otherwise (None = the global default policy).

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


@tf.function(jit_compile=True, autograph=False)
def _threefry_uniform_like(x, seed):
  """float32 uniforms in [0, 1) shaped like `x`, Threefry with `seed` int32 [2].

  Compiled with XLA even when called eagerly: TF's non-XLA CPU kernels only implement Philox.
  Inside an XLA-compiled step it is inlined.
  """
  return tf.random.stateless_uniform(tf.shape(x), seed, dtype=tf.float32, alg="threefry")


def dropout(x, rate: float, seed_generator: keras.random.SeedGenerator):
  """Inverted dropout of `x` with a Threefry mask (see the module docstring).

  Args:
    x: a float tensor of any shape and float dtype.
    rate: drop probability in [0, 1).
    seed_generator: the layer's seed generator; advanced by one on every call.

  Returns:
    A tensor like `x` (same dtype): each element zeroed with probability `rate`, otherwise
    divided by 1 − `rate` (computed in float32).
  """
  seed = tf.cast(seed_generator.next(), tf.int32)
  context = tf.distribute.get_replica_context()
  if context is not None and context.num_replicas_in_sync > 1:
    seed = seeds.replica_seed(seed, context.replica_id_in_sync_group)
  keep = _threefry_uniform_like(x, seed) >= rate
  # Scaled in float32 (then cast back): a bfloat16 1/(1 − rate) would be off by up to 0.4 %.
  kept = tf.cast(x, tf.float32) / (1.0 - rate)
  return tf.cast(tf.where(keep, kept, tf.zeros_like(kept)), x.dtype)


def gelu(x):
  """GELU with the tanh approximation (Flax's default)."""
  return keras.activations.gelu(x, approximate=True)


class MLP(keras.layers.Layer):
  """Dense → GELU(tanh) → LayerNorm(ε=1e-6) [→ Dropout] per hidden width.

  Input `[..., F]` → output `[..., hidden_dims[-1]]` (the input itself if `hidden_dims` is
  empty), in the layer's compute dtype (float32 by default, bfloat16 under ``"mixed_bfloat16"``,
  where the variables stay float32). Dropout (:func:`dropout`) is active only with
  `training=True` (a Python bool) and a rate > 0; the variables are the same at every rate.
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
    # One seed stream for all of the block's dropout masks. It exists at every rate, so the
    # block's variables (and checkpoints) do not depend on the rate: a run may change
    # --generative_dropout between stages. At rate 0 it is never drawn from and gets a fixed
    # seed, so it takes nothing from the global seed sequence: the initial weights are those of
    # the same network without a dropout stream.
    self.seed_generator = keras.random.SeedGenerator(
        seed=0 if self.dropout_rate == 0 else None, name="dropout_seed")

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
    for dense, norm in zip(self.dense, self.norms):
      h = norm(gelu(dense(h)))
      if training and self.dropout_rate > 0:
        h = dropout(h, self.dropout_rate, self.seed_generator)
    return h
