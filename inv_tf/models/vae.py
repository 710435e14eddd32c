r"""A convolutional VAE of images: ELBO and a streaming importance-weighted bound.

The VAE of docs/design.md §8.1.

Model
=====

Images x ∈ [-1, 1]^{H×W×C} (float32 ``[B, H, W, C]``), latents z ∈ ℝ^L:

    p(z)    = N(z; m, diag s²)                     m (init 0) and s = max(softplus(s_raw), 0.01)
                                                   (init 1) are free parameters
    p(x|z)  = Π_{h,w,c} N(x_hwc; μ_θ(z)_hwc, σ²_hwc)  μ_θ = decoder; σ = max(softplus(σ_raw), 0.01)
                                                   is a free per-pixel [H, W, C] scale (init 1),
                                                   independent of z
    q(z|x)  = N(z; μ_φ(x), diag τ_φ(x)²)           τ_φ = max(softplus(·), 0.01)

p(x|z) is a continuous density, so log-likelihoods are in nats per image and, for [-1, 1] pixels
with σ ≪ 1, large and positive.

Bounds
======

For any q, Jensen's inequality gives the evidence lower bound

    log p(x) ≥ ELBO(x) = E_q[log p(x|z)] − KL(q(z|x) ‖ p(z)).

:meth:`VAE.elbo` estimates E_q[log p(x|z)] with ONE reparameterised sample z = μ_φ + τ_φ ⊙ ε,
ε ~ N(0, I), and computes the KL between the two diagonal Gaussians analytically,

    KL = Σ_l [ log(s_l / τ_l) + (τ_l² + (μ_l − m_l)²) / (2 s_l²) − 1/2 ].

The importance-weighted bound (Burda et al., 2016) with K samples z_1..z_K ~ q(z|x) i.i.d. is

    IWLB_K(x) = log (1/K) Σ_k w_k,     w_k = p(x|z_k) p(z_k) / q(z_k|x).

Each w_k is an unbiased estimate of p(x), so by Jensen E[IWLB_K] ≤ log p(x). For K = 1 it is
the single-sample ELBO estimate log p(x|z) + log p(z) − log q(z|x), whose expectation is the
ELBO. The mean of K weights equals the average of the means of all its size-M subsets (M < K),
and log is concave, so E[IWLB_K] ≥ E[IWLB_M]: the bound is non-decreasing in K in expectation
(not for every individual draw) and converges to log p(x) as K → ∞. Hence, in expectation,
ELBO = E[IWLB_1] ≤ E[IWLB_K] ≤ log p(x).

IWLB_K is evaluated in chunks of ``chunk_size`` samples with a streaming log-sum-exp (a running
maximum M and a running sum S = Σ exp(log w − M), rescaled whenever M grows), so the decoder
holds O(chunk_size · B · H · W · C) values at a time instead of O(K · B · H · W · C). See
:func:`importance_weighted_bound`; the VAE uses one seed per sample, so its IWLB does not depend
on ``chunk_size``.

Architecture
============

n2 = min(v2(H), v2(W), len(conv_dims), max_2strides), where v2(n) is the number of times n is
divisible by 2 (e.g. 28 → 2, 12 → 2, 14 → 1, 16 → 4). The spec states the rule for the side H;
taking the minimum with W as well is the same for square images and keeps non-square images
exact. h = H / 2^n2 and w = W / 2^n2 are then integers.

Encoder, x ``[B, H, W, C]`` →
  for i, d in enumerate(conv_dims): Conv2D(d, 3×3, "SAME", stride 2 if i < n2 else 1)
                                    → GELU (tanh approximation) → LayerNorm(ε = 1e-6)
  → Conv2D(3, 3×3, "SAME") ("resize", no activation)                   ``[B, h, w, 3]``
  → flatten                                                            ``[B, 3hw]``
  → MLP(dense_dims)            (Dense → GELU → LayerNorm per width)    ``[B, dense_dims[-1]]``
  → μ_φ = Dense(L) (zero kernel and bias),  τ_φ = max(softplus(Dense(L)), 0.01) (zero kernel,
    bias softplus⁻¹(1)), so q(z|x) = N(0, I) for every x at initialisation.

Decoder, z ``[..., L]`` →
  MLP(reversed(dense_dims)) → Dense(3hw) → reshape                     ``[N, h, w, 3]``
  → for j, d in enumerate(reversed(conv_dims)): Conv2DTranspose(d, 3×3, "SAME", stride 2 for the
    LAST n2 of them, else 1) → GELU → LayerNorm(ε = 1e-6)              ``[N, H, W, conv_dims[0]]``
  → Conv2D(C, 3×3, "SAME") = μ_θ(z)                                    ``[..., H, W, C]``

Convolution and Dense kernels are LeCun-normal with zero biases (Flax's defaults, as the rest of
the package) except the two zero-initialised encoder heads.

Dtypes
======

By default everything is float32. With ``mixed_precision=True`` the matmul/convolution stacks run
under the Keras policy "mixed_bfloat16" (float32 variables, compute in bfloat16; LayerNorm is
evaluated in float32 internally): the encoder convs, their LayerNorms, the resize conv and the
encoder MLP; the decoder MLP, ``dec_dense``, the transposed convs and their LayerNorms. Each stack's
output is cast to float32 before the layers that produce distribution parameters, which stay
float32: the posterior heads (μ_φ, τ_φ), the decoder's output conv (the likelihood mean μ_θ, whose
rounding would otherwise be a sizeable fraction of a small σ), and the free parameters σ, m, s.
So every distribution, sample, bound and image the model returns is float32. Variable names,
shapes and order are the same in both modes, so checkpoints move between them.

Variables are created in ``__init__`` (the model is called on a dummy batch), in a fixed order,
so ``list(model.variables)`` is a complete, deterministic list that a ``tf.train.Checkpoint`` can
track (Keras 3 sub-layers held in Python lists are not tracked by ``tf.train.Checkpoint``).
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from inv_tf.models import layers
from inv_tf.models.layers import MLP, gelu

tfd = tfp.distributions

__all__ = ["MIN_SCALE", "VAE", "importance_weighted_bound", "num_stride2_layers",
           "per_sample_seeds", "sample_per_seed"]

MIN_SCALE = 0.01  # Lower clip of every scale (q's τ, the pixel σ, the prior's s).
_SOFTPLUS_INV_1 = math.log(math.expm1(1.0))  # softplus⁻¹(1) ≈ 0.5413.


def _clipped_softplus(raw: tf.Tensor) -> tf.Tensor:
  """max(softplus(raw), MIN_SCALE): same shape and dtype as `raw`, values ≥ 0.01."""
  return tf.maximum(tf.nn.softplus(raw), tf.constant(MIN_SCALE, raw.dtype))


def num_stride2_layers(image_shape: Sequence[int], num_conv: int, max_2strides: int) -> int:
  """n2 = min(v2(H), v2(W), num_conv, max_2strides), v2(n) = times n is divisible by 2.

  Args:
    image_shape: (H, W, C) or (H, W), positive ints.
    num_conv: the number of encoder conv layers, len(conv_dims) ≥ 0.
    max_2strides: the most stride-2 layers allowed, ≥ 0.

  Returns:
    A Python int n2 ≥ 0 such that H and W are divisible by 2**n2.
  """

  def v2(n):
    count = 0
    while n % 2 == 0:
      n //= 2
      count += 1
    return count

  height, width = int(image_shape[0]), int(image_shape[1])
  return min(v2(height), v2(width), int(num_conv), int(max_2strides))


def per_sample_seeds(seed, start: int, count: int) -> tf.Tensor:
  """Seeds of samples start..start+count-1: row j is `tf.random.fold_in(seed, start + j)`.

  Computed with one RNG op (fold_in(seed, i) is [h(seed), i] with h a hash of the seed, in
  TF 2.21), so the seeds of a sample do not depend on how the samples are chunked.

  Args:
    seed: int32 `[2]` stateless seed.
    start: index of the first sample (Python int ≥ 0).
    count: number of seeds (Python int ≥ 1).

  Returns:
    int32 `[count, 2]`.
  """
  seed = tf.convert_to_tensor(seed, tf.int32)
  head = tf.random.experimental.stateless_fold_in(seed, 0)[0]
  index = tf.range(start, start + count, dtype=tf.int32)
  return tf.stack([tf.fill([count], head), index], axis=1)


def sample_per_seed(dist: tfd.Distribution, seeds: tf.Tensor) -> tf.Tensor:
  """One sample of `dist` per seed, stacked: `[k] + batch_shape + event_shape`, dist's dtype.

  Sample j equals `dist.sample(seed=seeds[j])` (reparameterised if `dist` is). Implemented with
  `tf.map_fn` (a while loop), so it works under `tf.function(jit_compile=True)`.

  Args:
    dist: a TFP distribution with static-rank batch and event shapes (unknown sizes are fine).
    seeds: int32 `[k, 2]` stateless seeds.
  """
  spec = tf.TensorSpec(dist.batch_shape.concatenate(dist.event_shape), dist.dtype)
  return tf.map_fn(lambda s: dist.sample(seed=s), seeds, fn_output_signature=spec)


def importance_weighted_bound(log_weight_fn: Callable[[tf.Tensor, int], tf.Tensor],
                              num_samples: int, seed, chunk_size: int = 50,
                              per_sample: bool = False) -> tf.Tensor:
  """log (1/K) Σ_k exp(log w_k), K = num_samples, streamed over chunks of samples.

  Chunk c covers samples [c·chunk_size, min((c+1)·chunk_size, K)) (the last may be smaller) and
  calls `log_weight_fn(chunk_seed, k)` once. The result is reduced with a running maximum M and
  a running sum S = Σ exp(log w − M) (rescaled by exp(M_old − M_new) when M grows), so only one
  chunk of weights (and of whatever `log_weight_fn` computes) is alive per step. Chunks are a
  Python loop (K and chunk_size are Python ints), so the function traces under
  `tf.function(jit_compile=True)`; XLA may still schedule independent chunks concurrently.

  Seed schedule:
    * `per_sample=False`: `chunk_seed = tf.random.fold_in(seed, c)`, an int32 `[2]` seed from
      which `log_weight_fn` draws k fresh samples (e.g. `q.sample(k, seed=chunk_seed)`). The
      result is a deterministic function of (seed, K, chunk_size); a different chunk_size draws
      different (equally valid) samples.
    * `per_sample=True`: `chunk_seed` is int32 `[k, 2]`, one seed per sample, row j of chunk c
      being `tf.random.fold_in(seed, c·chunk_size + j)` (see :func:`per_sample_seeds`;
      :func:`sample_per_seed` draws with them). The result does not depend on chunk_size (up
      to float round-off), and IWLB_K and IWLB_K' (K < K') share their first K samples.

  Args:
    log_weight_fn: `(chunk_seed, k) -> float32 [k, B]` log importance weights of k fresh samples.
    num_samples: K, a Python int ≥ 1.
    seed: int32 `[2]` stateless seed.
    chunk_size: samples per chunk, a Python int ≥ 1.
    per_sample: the seed schedule (above).

  Returns:
    float32 `[B]`, the log mean weight (finite unless every weight of an item is 0 → −inf).
  """
  num_samples, chunk_size = int(num_samples), int(chunk_size)
  if num_samples < 1:
    raise ValueError(f"num_samples: must be >= 1, got {num_samples}")
  if chunk_size < 1:
    raise ValueError(f"chunk_size: must be >= 1, got {chunk_size}")
  seed = tf.convert_to_tensor(seed, tf.int32)
  run_max = run_sum = None
  for chunk, start in enumerate(range(0, num_samples, chunk_size)):
    count = min(chunk_size, num_samples - start)
    if per_sample:
      chunk_seed = per_sample_seeds(seed, start, count)
    else:
      chunk_seed = tf.random.experimental.stateless_fold_in(seed, chunk)
    log_w = tf.convert_to_tensor(log_weight_fn(chunk_seed, count))  # [k, B]
    chunk_max = tf.reduce_max(log_w, axis=0)
    new_max = chunk_max if run_max is None else tf.maximum(run_max, chunk_max)
    # A shift of 0 where every weight so far is 0 (max = −inf) avoids −inf − (−inf) = nan.
    shift = tf.where(tf.math.is_finite(new_max), new_max, tf.zeros_like(new_max))
    chunk_sum = tf.reduce_sum(tf.exp(log_w - shift), axis=0)
    if run_sum is None:
      run_sum = chunk_sum
    else:
      old_shift = tf.where(tf.math.is_finite(run_max), run_max, tf.zeros_like(run_max))
      run_sum = run_sum * tf.exp(old_shift - shift) + chunk_sum
    run_max = new_max
  shift = tf.where(tf.math.is_finite(run_max), run_max, tf.zeros_like(run_max))
  return shift + tf.math.log(run_sum) - tf.math.log(tf.cast(num_samples, run_sum.dtype))


class VAE(keras.Model):
  """Convolutional VAE with Gaussian pixel likelihood and a learnable Gaussian prior.

  Args:
    image_shape: (H, W, C) positive ints.
    latent_dim: L ≥ 1.
    conv_dims: encoder conv widths (the decoder uses them reversed); may be empty.
    dense_dims: encoder MLP widths (the decoder uses them reversed); may be empty.
    max_2strides: the most stride-2 conv layers, ≥ 0 (see :func:`num_stride2_layers`).
    mixed_precision: run the conv stacks and MLPs in bfloat16 (float32 variables; distribution
      parameters and every output float32; see the module docstring).

  All variables exist after construction; `model.variables` lists them in a fixed order.
  """

  def __init__(self, image_shape: Sequence[int], latent_dim: int = 16,
               conv_dims: Sequence[int] = (64, 128, 256), dense_dims: Sequence[int] = (256,),
               max_2strides: int = 2, mixed_precision: bool = False, **kwargs):
    super().__init__(**kwargs)
    self.mixed_precision = layers.check_mixed_precision(mixed_precision, self)
    stack = layers.stack_policy(self.mixed_precision)  # None (the default policy) unless mixed.
    image_shape = tuple(int(d) for d in image_shape)
    if len(image_shape) != 3 or min(image_shape) < 1:
      raise ValueError(f"image_shape: expected (H, W, C) of positive ints, got {image_shape}")
    if latent_dim < 1:
      raise ValueError(f"latent_dim: must be >= 1, got {latent_dim}")
    if max_2strides < 0:
      raise ValueError(f"max_2strides: must be >= 0, got {max_2strides}")
    self.image_shape = image_shape
    self.latent_dim = int(latent_dim)
    self.conv_dims = tuple(int(d) for d in conv_dims)
    self.dense_dims = tuple(int(d) for d in dense_dims)
    self.max_2strides = int(max_2strides)
    self.num_stride2 = num_stride2_layers(image_shape, len(self.conv_dims), self.max_2strides)
    height, width, channels = image_shape
    self.feature_shape = (height // 2**self.num_stride2, width // 2**self.num_stride2, 3)
    feature_size = self.feature_shape[0] * self.feature_shape[1] * 3

    def conv(cls, filters, stride, name, dtype=stack):
      return cls(filters, 3, strides=stride, padding="same", kernel_initializer="lecun_normal",
                 bias_initializer="zeros", dtype=dtype, name=name)

    def norm(name):
      return keras.layers.LayerNormalization(axis=-1, epsilon=1e-6, dtype=stack, name=name)

    n2, num_conv = self.num_stride2, len(self.conv_dims)
    # Encoder.
    self.enc_convs = [conv(keras.layers.Conv2D, d, 2 if i < n2 else 1, f"enc_conv_{i}")
                      for i, d in enumerate(self.conv_dims)]
    self.enc_norms = [norm(f"enc_norm_{i}") for i in range(num_conv)]
    self.enc_resize = conv(keras.layers.Conv2D, 3, 1, "enc_resize")
    self.enc_mlp = MLP(self.dense_dims, dtype=stack, name="enc_mlp")
    self.mean_head = keras.layers.Dense(self.latent_dim, kernel_initializer="zeros",
                                        bias_initializer="zeros", name="q_mean")
    self.scale_head = keras.layers.Dense(
        self.latent_dim, kernel_initializer="zeros",
        bias_initializer=keras.initializers.Constant(_SOFTPLUS_INV_1), name="q_scale")
    # Decoder.
    self.dec_mlp = MLP(self.dense_dims[::-1], dtype=stack, name="dec_mlp")
    self.dec_dense = keras.layers.Dense(feature_size, kernel_initializer="lecun_normal",
                                        bias_initializer="zeros", dtype=stack, name="dec_dense")
    self.dec_convs = [conv(keras.layers.Conv2DTranspose, d, 2 if j >= num_conv - n2 else 1,
                           f"dec_conv_{j}") for j, d in enumerate(self.conv_dims[::-1])]
    self.dec_norms = [norm(f"dec_norm_{j}") for j in range(num_conv)]
    self.dec_out = conv(keras.layers.Conv2D, channels, 1, "dec_out", dtype=None)  # float32
    # Free parameters: per-pixel likelihood scale and the prior.
    self.pixel_scale_raw = self.add_weight(
        name="pixel_scale_raw", shape=image_shape,
        initializer=keras.initializers.Constant(_SOFTPLUS_INV_1), trainable=True)
    self.prior_loc = self.add_weight(name="prior_loc", shape=(self.latent_dim,),
                                     initializer="zeros", trainable=True)
    self.prior_scale_raw = self.add_weight(
        name="prior_scale_raw", shape=(self.latent_dim,),
        initializer=keras.initializers.Constant(_SOFTPLUS_INV_1), trainable=True)
    self(tf.zeros((1,) + image_shape, tf.float32))  # Builds every layer.

  # -- networks ---------------------------------------------------------------------------------
  def _encoder_params(self, x, training):
    """μ_φ(x), τ_φ(x): float32 `[B, L]` each (τ ≥ 0.01), from x float32 `[B, H, W, C]`."""
    h = tf.convert_to_tensor(x, tf.float32)
    for conv, norm in zip(self.enc_convs, self.enc_norms):
      h = norm(gelu(conv(h)))
    h = self.enc_resize(h)
    h = tf.reshape(h, [-1, self.feature_shape[0] * self.feature_shape[1] * 3])
    h = self.enc_mlp(h, training=training)
    if self.mixed_precision:
      h = layers.to_float32(h)
    return self.mean_head(h), _clipped_softplus(self.scale_head(h))

  def _decoder_mean(self, z, training=False):
    """μ_θ(z): float32 `[..., H, W, C]` from z float32 `[..., L]` (any leading dims)."""
    z = tf.convert_to_tensor(z, tf.float32)
    lead_static = z.shape[:-1]
    lead = lead_static.as_list() if lead_static.is_fully_defined() else tf.shape(z)[:-1]
    h = tf.reshape(z, [-1, self.latent_dim])
    h = self.dec_dense(self.dec_mlp(h, training=training))
    h = tf.reshape(h, (-1,) + self.feature_shape)
    for conv, norm in zip(self.dec_convs, self.dec_norms):
      h = norm(gelu(conv(h)))
    if self.mixed_precision:
      h = layers.to_float32(h)
    h = self.dec_out(h)
    if isinstance(lead, list):
      return tf.reshape(h, lead + list(self.image_shape))
    return tf.reshape(h, tf.concat([lead, tf.constant(self.image_shape, tf.int32)], 0))

  # -- distributions ----------------------------------------------------------------------------
  @property
  def pixel_scale(self) -> tf.Tensor:
    """σ = max(softplus(σ_raw), 0.01): float32 `[H, W, C]`, ≥ 0.01 (1 at initialisation)."""
    return _clipped_softplus(tf.convert_to_tensor(self.pixel_scale_raw))

  @property
  def prior_scale(self) -> tf.Tensor:
    """s = max(softplus(s_raw), 0.01): float32 `[L]`, ≥ 0.01 (1 at initialisation)."""
    return _clipped_softplus(tf.convert_to_tensor(self.prior_scale_raw))

  def encode(self, x, training=False) -> tfd.Distribution:
    """q(z|x).

    Args:
      x: float32 `[B, H, W, C]`, pixels in [-1, 1].
      training: passed to the MLP (no dropout is used; kept for the Keras convention).

    Returns:
      `Independent(Normal(μ, τ), 1)`: batch shape [B], event shape [L], float32,
      reparameterised; τ ≥ 0.01.
    """
    mean, scale = self._encoder_params(x, training)
    return tfd.Independent(tfd.Normal(mean, scale), reinterpreted_batch_ndims=1)

  def decode(self, z, training=False) -> tfd.Distribution:
    """p(x|z).

    Args:
      z: float32 `[..., L]`, e.g. `[B, L]` or `[K, B, L]`.
      training: passed to the MLP.

    Returns:
      `Independent(Normal(μ_θ(z), σ), 3)`: batch shape `z.shape[:-1]`, event shape [H, W, C],
      float32; `log_prob(x)` for x `[..., H, W, C]` (broadcasting) is in nats per image.
    """
    mean = self._decoder_mean(z, training)
    return tfd.Independent(tfd.Normal(mean, self.pixel_scale), reinterpreted_batch_ndims=3)

  def prior(self) -> tfd.Distribution:
    """p(z) = `Independent(Normal(m, s), 1)`: batch shape [], event shape [L], float32."""
    loc = tf.convert_to_tensor(self.prior_loc)
    return tfd.Independent(tfd.Normal(loc, self.prior_scale), reinterpreted_batch_ndims=1)

  # -- objectives -------------------------------------------------------------------------------
  def elbo(self, x, seed, training=False) -> dict:
    """Single-sample ELBO with the analytic KL.

    Args:
      x: float32 `[B, H, W, C]`, pixels in [-1, 1].
      seed: int32 `[2]` stateless seed; z = `q.sample(seed=seed)` (reparameterised).
      training: passed to the networks.

    Returns:
      dict of float32 `[B]` tensors (nats per image): `log_likelihood` = log p(x|z) (real, large
      positive for well-fit [-1, 1] images), `kl` = KL(q(z|x) ‖ p(z)) ≥ 0, and
      `elbo` = log_likelihood − kl. Differentiable w.r.t. every trainable variable.
    """
    x = tf.convert_to_tensor(x, tf.float32)
    q = self.encode(x, training=training)
    z = q.sample(seed=seed)
    log_likelihood = self.decode(z, training=training).log_prob(x)
    kl = tfd.kl_divergence(q, self.prior())
    return {"elbo": log_likelihood - kl, "log_likelihood": log_likelihood, "kl": kl}

  def iwlb(self, x, num_samples: int, seed, chunk_size: int = 50) -> tf.Tensor:
    """Importance-weighted lower bound on log p(x) with K = num_samples samples of q(z|x).

    Sample k uses the seed `tf.random.fold_in(seed, k)`, so the value does not depend on
    `chunk_size` (only the peak memory does) and IWLB_K, IWLB_K' (K < K') share samples.

    Args:
      x: float32 `[B, H, W, C]`, pixels in [-1, 1].
      num_samples: K, a Python int ≥ 1 (e.g. 300).
      seed: int32 `[2]` stateless seed.
      chunk_size: samples decoded at a time, a Python int ≥ 1.

    Returns:
      float32 `[B]`, nats per image.
    """
    x = tf.convert_to_tensor(x, tf.float32)
    q = self.encode(x)
    prior = self.prior()

    def log_weight_fn(seeds, count):
      del count  # Implied by seeds [k, 2].
      z = sample_per_seed(q, seeds)  # [k, B, L]
      return self.decode(z).log_prob(x) + prior.log_prob(z) - q.log_prob(z)

    return importance_weighted_bound(log_weight_fn, num_samples, seed, chunk_size,
                                     per_sample=True)

  # -- uses -------------------------------------------------------------------------------------
  def reconstruct(self, x, training=False) -> tf.Tensor:
    """Decoder mean at z = mean of q(z|x): float32 `[B, H, W, C]` from x float32 `[B, H, W, C]`.

    Values are unbounded (not clipped to [-1, 1]).
    """
    mean, _ = self._encoder_params(x, training)
    return self._decoder_mean(mean, training)

  def sample(self, n: int, seed, mean: bool = True) -> tf.Tensor:
    """Generate images: z ~ p(z) with `fold_in(seed, 0)`, then μ_θ(z) or x ~ p(x|z).

    Args:
      n: number of images, a Python int ≥ 1.
      seed: int32 `[2]` stateless seed. The same seed gives the same z for both `mean` values.
      mean: return μ_θ(z) if True, else a sample of p(x|z) (seed `fold_in(seed, 1)`).

    Returns:
      float32 `[n, H, W, C]` (unbounded; not clipped to [-1, 1]).
    """
    seed = tf.convert_to_tensor(seed, tf.int32)
    z = self.prior().sample(n, seed=tf.random.experimental.stateless_fold_in(seed, 0))
    if mean:
      return self._decoder_mean(z)
    return self.decode(z).sample(seed=tf.random.experimental.stateless_fold_in(seed, 1))

  def call(self, x, training=False):
    """Keras entry point: :meth:`reconstruct`; float32 `[B, H, W, C]` → `[B, H, W, C]`."""
    return self.reconstruct(x, training=training)
