r"""The transformation inference network q(η|x) (SPEC §3).

    h   = MLP(flatten(x))                 Dense → GELU (tanh approximation) → LayerNorm(ε = 1e-6)
    μ   = Dense_0(h)                      kernel and bias initialised to ZERO: q starts at η = o
    σ   = softplus(σ_raw)                 a free vector (not input-dependent), σ = 0.01 at init
    z   ~ N(μ, diag σ²)
    η   = o + b ⊙ z                       (squash_to_bounds = False), or
    η   = o + b ⊙ tanh(z)                 (squash_to_bounds = True; exact log-density)

The prototype of x is x̂ = T(x, η)⁻¹ = T(x, -η) (affine part; colour part negated) with η sampled
from q. Dense kernels use LeCun-normal initialisation and zero biases (as Flax), LayerNorm ε = 1e-6.
σ_raw is exposed as `sigma_variables` so it can have its own optimiser (SPEC §4.5).

Dtypes. By default everything is float32. With ``mixed_precision=True`` the trunk MLP runs under
the Keras policy "mixed_bfloat16" (float32 variables; matmuls and GELU in bfloat16, LayerNorm
evaluated in float32 internally), and h is cast to float32 before the mean head, so μ, σ, η
(which goes into the warps) and the distribution are float32. Variable names, shapes and order
do not depend on the mode, so checkpoints move between the two.
"""

from typing import Sequence

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from inv_tf.models import layers
from inv_tf.models.layers import MLP

tfd = tfp.distributions
tfb = tfp.bijectors


def _check_bounds(bounds, offset, event_dim):
  bounds = np.asarray(bounds, np.float32).reshape(-1)
  offset = np.zeros(event_dim, np.float32) if offset is None else np.asarray(offset, np.float32).reshape(-1)
  if bounds.shape != (event_dim,):
    raise ValueError(f"bounds: expected {event_dim} values, got {bounds.shape[0]}")
  if offset.shape != (event_dim,):
    raise ValueError(f"offset: expected {event_dim} values, got {offset.shape[0]}")
  if not np.all(bounds > 0):
    raise ValueError(f"bounds: every bound must be > 0, got {bounds.tolist()}")
  return bounds, offset


class InferenceNet(keras.Model):
  """q(η|x): maps images to a distribution over transformation parameters.

  Args:
    event_dim: D, the number of transformation parameters.
    bounds: D floats > 0, the half-widths b that scale the network output.
    offset: D floats, the centre o (default zeros).
    squash_to_bounds: if True, η = o + b tanh(z) lies strictly inside o ± b.
    hidden_dims: MLP widths (SPEC: (2048, 1024, 512, 256) for MNIST/dSprites).
    init_sigma: initial σ (> 0).
    mixed_precision: run the trunk's matmuls in bfloat16 (float32 variables and outputs).

  Raises:
    ValueError: bad `event_dim`, `bounds`, `offset` or `init_sigma`; `mixed_precision` with a
      non-float32 `dtype`.
  """

  def __init__(self, event_dim: int, bounds: Sequence[float], offset: Sequence[float] | None = None,
               squash_to_bounds: bool = False, hidden_dims: Sequence[int] = (2048, 1024, 512, 256),
               init_sigma: float = 0.01, mixed_precision: bool = False, **kwargs):
    super().__init__(**kwargs)
    self.mixed_precision = layers.check_mixed_precision(mixed_precision, self)
    if event_dim < 1:
      raise ValueError(f"event_dim: must be >= 1, got {event_dim}")
    if init_sigma <= 0:
      raise ValueError(f"init_sigma: must be > 0, got {init_sigma}")
    self.event_dim = int(event_dim)
    self.bounds, self.offset = _check_bounds(bounds, offset, self.event_dim)
    self.squash_to_bounds = bool(squash_to_bounds)
    self.trunk = MLP(hidden_dims, dtype=layers.stack_policy(self.mixed_precision), name="trunk")
    self.mean_head = keras.layers.Dense(self.event_dim, kernel_initializer="zeros",
                                        bias_initializer="zeros", name="mean")
    raw = float(np.log(np.expm1(init_sigma)))
    self.sigma_raw = self.add_weight(
        name="sigma_raw", shape=(self.event_dim,),
        initializer=keras.initializers.Constant(raw), trainable=True)

  @property
  def sigma_variables(self):
    """The σ parameter (its own optimiser group)."""
    return [self.sigma_raw]

  @property
  def main_variables(self):
    """Every trainable variable except σ."""
    sigma_ids = {id(v) for v in self.sigma_variables}
    return [v for v in self.trainable_variables if id(v) not in sigma_ids]

  @property
  def sigma(self) -> tf.Tensor:
    """σ = softplus(σ_raw), float32 `[D]`, > 0."""
    return tf.nn.softplus(tf.convert_to_tensor(self.sigma_raw))

  def _output_bijector(self, dtype):
    shift = tfb.Shift(tf.constant(self.offset, dtype))
    scale = tfb.Scale(tf.constant(self.bounds, dtype))
    if self.squash_to_bounds:
      return tfb.Chain([shift, scale, tfb.Tanh()])  # Chain applies its LAST bijector first.
    return tfb.Chain([shift, scale])

  def _mean(self, x, training):
    """μ(x) float32 `[B, D]` from images float32 `[B, H, W, C]`."""
    flat = tf.reshape(x, [tf.shape(x)[0], -1])
    h = self.trunk(flat, training=training)
    if self.mixed_precision:
      h = layers.to_float32(h)
    return self.mean_head(h)

  def call(self, x, training=False):
    """q(η|x).

    Args:
      x: float32 `[B, H, W, C]` in [-1, 1].
      training: unused (no dropout), kept for the Keras signature.

    Returns:
      A TFP distribution with batch shape [B] and event shape [D]; `sample(n, seed)` → `[n, B, D]`
      (reparameterised), `log_prob(eta)` for eta `[..., B, D]`.
    """
    mean = self._mean(x, training)
    scale = tf.broadcast_to(tf.cast(self.sigma, mean.dtype), tf.shape(mean))
    base = tfd.Independent(tfd.Normal(mean, scale), reinterpreted_batch_ndims=1)
    return tfd.TransformedDistribution(base, self._output_bijector(mean.dtype))

  def mode(self, x, training=False) -> tf.Tensor:
    """η at the mean of z: o + b μ (or o + b tanh μ); float32 `[B, D]`."""
    mean = self._mean(x, training)
    return self._output_bijector(mean.dtype).forward(mean)
