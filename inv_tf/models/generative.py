r"""Transformation generative network p(η|x̂) (docs/design.md §5).

Model
=====

    h      = Trunk(flatten(x̂))                         (MLP, `hidden_dims`, dropout `dropout_rate`)
    μ, σ   = BaseHead(h)                                (two layers of width hidden_dims[-1] // 2)
    u      ~ N(μ, diag σ²)                              (base distribution, D-dimensional)
    y      = F⁻¹(u; h)                                  (conditional RQ-spline coupling flow)
    v      = o + (b + ε) ⊙ g(y),   g = tanh if squash_to_bounds else identity,  ε = 1e-6
    η      = v                       (coordinates="algebra", the paper's)
           = C⁻¹(v)                  (coordinates="centre": v = C(η) = (c, η_2, …), the
                                      translation replaced by the centre c it stands for,
                                      `inv_tf.transforms.to_centre_coordinates`)

Density (couplings evaluated in their forward / density direction):

    z = (η − o) / (b + ε)        (clipped to ±(1 − 1e-6) when squashing, so that η exactly on the
                                  bounds has a finite density)
    y = g⁻¹(z),   u = F(y; h)
    log p(η|x̂) = log N(u; μ, σ) + log|det ∂u/∂y| − Σ_i log(b_i + ε) − Σ_i log g'(y_i)
                 + log|det ∂v/∂η|,
    with log g'(y) = log(1 − z²) for tanh and 0 for the identity, z and y computed from v, and
    log|det ∂v/∂η| = 0 in algebra coordinates, log|det V(L)| − tr L in centre coordinates.

Why centre coordinates. M(η) = expm(Σ η_k G_k) couples translation with the linear part L: the
content's displacement is V(L) t, not t. Data whose positions are independent of their
orientation (augmented dSprites: each shape uniform on a band, at any angle) have algebra
translations t that depend on the rotation, a joint the flow must learn; in centre coordinates
the density over (c, rotation, scale) is a product again. Not in the paper, and on aug_dsprites
it did not lower the position KS (two seeds, results/README.md), so the default stays algebra.
With squash_to_bounds the translation bounds bound c.

Layers and initialisation choices
=================================

* Every hidden block is Dense → GELU (tanh approximation, as Flax's default ``nn.gelu``) →
  LayerNorm(ε = 1e-6, Flax's default) → Dropout. Trunk blocks use ``dropout_rate``; the two base-head
  blocks use the same block WITH LayerNorm but without dropout (the reference builds the head with
  its MLP module with dropout 0).
* All Dense layers use a LeCun-normal (truncated) kernel and zero bias, i.e. Flax's default
  initialisation, except the conditioner output layers (zero kernel and bias; see
  :mod:`inv_tf.models.flow`) — so the flow is the identity at initialisation and p(η|x̂) starts as
  the squashed/affinely-mapped base Normal.
* μ head: Dense(D); σ head: Dense(D) → softplus (no lower clip), default initialisation.

Dtypes
======

By default every layer uses the model's policy (float32, or e.g. float64 with ``dtype=``). With
``mixed_precision=True`` (float32 models only) the trunk and the two base-head blocks run under the
Keras policy "mixed_bfloat16": float32 variables, matmuls and GELU in bfloat16 (LayerNorm is
evaluated in float32 internally, dropout masks are drawn in float32 — the float32 model's masks —
see :mod:`inv_tf.models.layers`). Their outputs are cast to float32, so the context h, μ and σ
(the μ/σ Dense layers are float32), the whole spline flow (conditioners included), η and every
log-density are float32. Variable names, shapes and order are the same in both modes, so a
checkpoint of one restores into the other.

The distribution returned by :meth:`GenerativeNet.call` is a :class:`ConditionalFlowDistribution`
(a small ``tfd.Distribution`` subclass): batch shape ``[B]``, event shape ``[D]``, fully
reparameterised. Its ``log_prob`` runs the trunk-conditioned flow once per call (value and
log-determinant come from the same conditioner evaluation, so they are consistent under dropout).
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from inv_tf import transforms
from inv_tf.models import layers
from inv_tf.models.flow import ConditionalSplineFlow
from inv_tf.models.layers import MLP

tfd = tfp.distributions

__all__ = ["SQUASH_EPS", "TANH_CLIP", "ConditionalFlowDistribution", "GenerativeNet"]

SQUASH_EPS = 1e-6  # ε added to the bounds in the output scaling.
TANH_CLIP = 1e-6  # tanh pre-image inputs are clipped to ±(1 − TANH_CLIP).


class ConditionalFlowDistribution(tfd.Distribution):
  """p(η|x̂) for a batch of contexts: batch shape ``[B]``, event shape ``[D]``.

  Not usually constructed directly; :meth:`GenerativeNet.call` returns one.

  Args:
    loc: base means μ ``[B, D]``.
    scale: base standard deviations σ ``[B, D]`` (> 0).
    flow: a built :class:`~inv_tf.models.flow.ConditionalSplineFlow`.
    context: trunk features h ``[B, F]``.
    offset: o ``[D]``.
    bounds: b ``[D]`` (> 0; ε = 1e-6 is added internally).
    squash: whether g = tanh (else identity).
    training: passed to the flow's conditioners (dropout).
    family: None for algebra coordinates (v = η); a `Family` with tx, ty for centre coordinates.

  ``log_prob(eta)``: ``eta [..., B, D]`` (e.g. ``[B, D]`` or ``[n, B, D]``) → ``[..., B]``.
  ``sample(n, seed=...)`` → ``[n, B, D]``, reparameterised (gradients flow to μ, σ, the flow
  weights and hence to every trainable weight of the network).
  """

  def __init__(self,
               loc,
               scale,
               flow,
               context,
               offset,
               bounds,
               squash: bool,
               training=False,
               family=None,
               validate_args: bool = False,
               allow_nan_stats: bool = True,
               name: str = "ConditionalFlowDistribution"):
    parameters = dict(locals())
    with tf.name_scope(name) as name:
      self._loc = tf.convert_to_tensor(loc)
      dtype = self._loc.dtype
      self._scale = tf.convert_to_tensor(scale, dtype)
      self._flow = flow
      self._context = tf.convert_to_tensor(context, dtype)
      self._offset = tf.convert_to_tensor(offset, dtype)
      self._out_scale = tf.convert_to_tensor(bounds, dtype) + tf.constant(SQUASH_EPS, dtype)
      self._squash = bool(squash)
      self._training = training
      self._family = family
      super().__init__(dtype=dtype,
                       reparameterization_type=tfd.FULLY_REPARAMETERIZED,
                       validate_args=validate_args,
                       allow_nan_stats=allow_nan_stats,
                       parameters=parameters,
                       name=name)

  # -- shapes -----------------------------------------------------------------------------------
  def _batch_shape(self):
    return self._loc.shape[:-1]

  def _batch_shape_tensor(self):
    return tf.shape(self._loc)[:-1]

  def _event_shape(self):
    return self._loc.shape[-1:]

  def _event_shape_tensor(self):
    return tf.shape(self._loc)[-1:]

  @property
  def loc(self):
    """Base mean μ ``[B, D]``."""
    return self._loc

  @property
  def scale(self):
    """Base standard deviation σ ``[B, D]``."""
    return self._scale

  @property
  def context(self):
    """Trunk features h ``[B, F]``."""
    return self._context

  def _base(self):
    return tfd.Normal(self._loc, self._scale)

  # -- maps between η and the flow output y ------------------------------------------------------
  def _eta_to_y(self, eta):
    """``eta [..., D]`` → ``(y, log|dη/dy| summed over D)``."""
    z = (eta - self._offset) / self._out_scale
    log_scale = tf.reduce_sum(tf.math.log(self._out_scale))
    if self._squash:
      lim = tf.constant(1.0 - TANH_CLIP, eta.dtype)
      z = tf.clip_by_value(z, -lim, lim)
      y = tf.math.atanh(z)
      log_dg = tf.reduce_sum(tf.math.log1p(-z) + tf.math.log1p(z), axis=-1)
      return y, log_dg + log_scale
    return z, log_scale + tf.zeros(tf.shape(z)[:-1], eta.dtype)

  def _y_to_eta(self, y):
    """``y [..., D]`` → ``(eta, log|dη/dy| summed over D)``."""
    log_scale = tf.reduce_sum(tf.math.log(self._out_scale))
    if self._squash:
      # log(1 - tanh(y)^2) = 2 (log 2 - y - softplus(-2y)), stable for large |y|.
      log_dg = tf.reduce_sum(2.0 * (math.log(2.0) - y - tf.nn.softplus(-2.0 * y)), axis=-1)
      return self._offset + self._out_scale * tf.tanh(y), log_dg + log_scale
    return self._offset + self._out_scale * y, log_scale + tf.zeros(tf.shape(y)[:-1], y.dtype)

  # -- distribution methods ----------------------------------------------------------------------
  def _log_prob(self, eta):
    eta = tf.convert_to_tensor(eta, self.dtype)
    v, log_dv_deta = eta, 0.0
    if self._family is not None:
      v, log_dv_deta = transforms.to_centre_coordinates(eta, self._family)
    y, log_dv_dy = self._eta_to_y(v)
    u, log_du_dy = self._flow.forward_and_log_det(y, self._context, training=self._training)
    base_lp = tf.reduce_sum(self._base().log_prob(u), axis=-1)
    return base_lp + log_du_dy - log_dv_dy + log_dv_deta

  def _sample_with_log_prob(self, n, seed):
    u = self._base().sample(n, seed=seed)  # [n, B, D], reparameterised
    base_lp = tf.reduce_sum(self._base().log_prob(u), axis=-1)
    y, log_dy_du = self._flow.inverse_and_log_det(u, self._context, training=self._training)
    eta, log_dv_dy = self._y_to_eta(y)
    log_deta_dv = 0.0
    if self._family is not None:
      eta, log_deta_dv = transforms.from_centre_coordinates(eta, self._family)
    return eta, base_lp - log_dy_du - log_dv_dy - log_deta_dv

  def _sample_n(self, n, seed=None):
    return self._sample_with_log_prob(n, seed)[0]

  def sample_and_log_prob(self, n, seed=None):
    """One pass: ``(eta [n, B, D], log p(eta) [n, B])`` (log p via the sampling direction)."""
    return self._sample_with_log_prob(n, seed)

  def _sample_and_log_prob(self, sample_shape, seed=None, **kwargs):
    sample_shape = tf.cast(sample_shape, tf.int32)
    n = tf.reduce_prod(sample_shape)
    eta, lp = self._sample_with_log_prob(n, seed)
    eta = tf.reshape(eta, tf.concat([sample_shape, tf.shape(eta)[1:]], axis=0))
    lp = tf.reshape(lp, tf.concat([sample_shape, tf.shape(lp)[1:]], axis=0))
    return eta, lp


def _as_float_tuple(values, name, length):
  try:
    vals = tuple(float(v) for v in np.asarray(values, dtype=np.float64).reshape(-1))
  except (TypeError, ValueError) as e:
    raise ValueError(f"{name} must be a sequence of {length} floats, got {values!r}.") from e
  if len(vals) != length:
    raise ValueError(f"{name} must have length event_dim={length}, got {len(vals)}.")
  if not all(math.isfinite(v) for v in vals):
    raise ValueError(f"{name} must be finite, got {values!r}.")
  return vals


def _check_dims(dims, name, allow_empty=False):
  dims = tuple(dims)
  if (not dims and not allow_empty) or any(int(d) != d or d < 1 for d in dims):
    raise ValueError(f"{name} must be a {'' if allow_empty else 'non-empty '}sequence of "
                     f"positive integers, got {dims!r}.")
  return tuple(int(d) for d in dims)


class GenerativeNet(keras.Model):
  """p(η|x̂): an RQ-spline coupling flow on a Normal base, conditioned on x̂ (docs/design.md §5).

  Args:
    event_dim: D ≥ 1 (5 for affine without shear, 8 with HSV).
    bounds: D floats > 0, half-widths b of the η range (scale of the output map).
    offset: D floats (default zeros), centre o of the η range.
    squash_to_bounds: g = tanh (η ∈ (o − b − ε, o + b + ε)) if True, identity if False.
    hidden_dims: trunk widths (default (1024, 512, 256)); h has hidden_dims[-1] features.
    dropout_rate: trunk dropout in [0, 1) (default 0.2, `Config.generative_dropout`'s; the
      reference configs use 0.05–0.2).
    num_flows: number of coupling layers ≥ 0 (default 6).
    num_bins: spline bins K ≥ 1 (default 6).
    conditioner_hidden_dims: conditioner widths (default (256,)).
    conditioner_dropout_rate: conditioner dropout (default 0.1).
    range_bound: spline range B (default 3.0).
    spline_tails: the splines' boundary slopes, "identity" (default, `Config.spline_tails`'s) or
      "learned" (the reference code's; see `inv_tf.models.rq_spline`).
    mixed_precision: run the trunk and base-head MLPs in bfloat16 (float32 variables; h, μ, σ,
      the flow and all outputs float32). Needs the float32 policy.
    coordinates: "algebra" (default, the paper's: the flow models η) or "centre" (the flow
      models (c, η_2, …), the translation replaced by the centre it stands for; module docstring).
    family: the transformation family (name or `Family`, first parameters tx, ty); needed for
      coordinates="centre", and its dimension must be `event_dim`.
    **kwargs: Keras model kwargs (``name``, ``dtype`` e.g. "float64").

  Call: ``net(x_hat, training=False)`` with ``x_hat [B, ...]`` (e.g. ``[B, H, W, C]``, flattened
  internally) returns a :class:`ConditionalFlowDistribution` with batch shape ``[B]`` and event
  shape ``[D]``: ``dist.log_prob(eta)`` for ``eta [B, D]`` or ``[n, B, D]``;
  ``dist.sample(n, seed=...)`` → ``[n, B, D]`` (reparameterised). Works in eager, ``tf.function``
  and ``tf.function(jit_compile=True)``. ``training=True`` enables dropout in the trunk and in the
  conditioners.

  Raises:
    ValueError: invalid ``event_dim``, ``bounds`` (wrong length, non-finite or ≤ 0), ``offset``
      (wrong length), ``num_bins`` < 1, ``num_flows`` < 0, hidden dims, dropout rates or
      ``range_bound``, ``coordinates`` or ``family``; ``mixed_precision`` with a non-float32
      ``dtype``.
  """

  def __init__(self,
               event_dim: int,
               bounds: Sequence[float],
               offset: Optional[Sequence[float]] = None,
               squash_to_bounds: bool = False,
               hidden_dims: Sequence[int] = (1024, 512, 256),
               dropout_rate: float = 0.2,
               num_flows: int = 6,
               num_bins: int = 6,
               conditioner_hidden_dims: Sequence[int] = (256,),
               conditioner_dropout_rate: float = 0.1,
               range_bound: float = 3.0,
               spline_tails: str = "identity",
               mixed_precision: bool = False,
               coordinates: str = "algebra",
               family=None,
               **kwargs):
    super().__init__(**kwargs)
    self.mixed_precision = layers.check_mixed_precision(mixed_precision, self)
    if isinstance(event_dim, bool) or int(event_dim) != event_dim or event_dim < 1:
      raise ValueError(f"event_dim must be an integer >= 1, got {event_dim!r}.")
    event_dim = int(event_dim)
    bounds = _as_float_tuple(bounds, "bounds", event_dim)
    if any(b <= 0 for b in bounds):
      raise ValueError(f"bounds must all be > 0, got {bounds!r}.")
    offset = (0.0,) * event_dim if offset is None else _as_float_tuple(offset, "offset", event_dim)
    hidden_dims = _check_dims(hidden_dims, "hidden_dims")
    conditioner_hidden_dims = _check_dims(conditioner_hidden_dims,
                                          "conditioner_hidden_dims",
                                          allow_empty=True)
    if int(num_bins) != num_bins or num_bins < 1:
      raise ValueError(f"num_bins must be an integer >= 1, got {num_bins!r}.")
    if int(num_flows) != num_flows or num_flows < 0:
      raise ValueError(f"num_flows must be an integer >= 0, got {num_flows!r}.")
    if not 0.0 <= dropout_rate < 1.0:
      raise ValueError(f"dropout_rate must be in [0, 1), got {dropout_rate!r}.")
    if not 0.0 <= conditioner_dropout_rate < 1.0:
      raise ValueError(
          f"conditioner_dropout_rate must be in [0, 1), got {conditioner_dropout_rate!r}.")
    if not range_bound > 0:
      raise ValueError(f"range_bound must be > 0, got {range_bound!r}.")
    if hidden_dims[-1] // 2 < 1:
      raise ValueError(f"hidden_dims[-1] must be >= 2, got {hidden_dims!r}.")
    if coordinates not in ("algebra", "centre"):
      raise ValueError(f"coordinates must be 'algebra' or 'centre', got {coordinates!r}.")
    self.family = None if family is None else transforms.get_family(family)
    if coordinates == "centre":
      if self.family is None or self.family.parameters[:2] != ("tx", "ty"):
        raise ValueError(f"coordinates='centre' needs a family with tx, ty, got {family!r}.")
      if self.family.dim != event_dim:
        raise ValueError(f"family {self.family.name!r} has {self.family.dim} parameters, but "
                         f"event_dim is {event_dim}.")
    self.coordinates = coordinates

    self.event_dim = event_dim
    self.bounds = bounds
    self.offset = offset
    self.squash_to_bounds = bool(squash_to_bounds)
    self.hidden_dims = hidden_dims
    self.dropout_rate = float(dropout_rate)
    self.num_flows = int(num_flows)
    self.num_bins = int(num_bins)
    self.conditioner_hidden_dims = conditioner_hidden_dims
    self.conditioner_dropout_rate = float(conditioner_dropout_rate)
    self.range_bound = float(range_bound)
    self.spline_tails = spline_tails

    pol = self.dtype_policy
    stack_pol = layers.stack_policy(self.mixed_precision, pol)

    def dense(units, name):
      return keras.layers.Dense(units,
                                kernel_initializer="lecun_normal",
                                bias_initializer="zeros",
                                dtype=pol,
                                name=name)

    self.trunk = MLP(hidden_dims, self.dropout_rate, dtype=stack_pol, name="trunk")
    self.head = MLP((hidden_dims[-1] // 2,) * 2, dtype=stack_pol, name="base_head")
    self.loc_layer = dense(event_dim, "base_loc")
    self.scale_layer = dense(event_dim, "base_scale")
    self.flow = ConditionalSplineFlow(event_dim,
                                      self.num_flows,
                                      self.num_bins,
                                      range_bound=self.range_bound,
                                      tails=self.spline_tails,
                                      hidden_dims=conditioner_hidden_dims,
                                      dropout_rate=self.conditioner_dropout_rate,
                                      dtype=pol,
                                      name="flow")

  def build(self, input_shape):
    feat = int(np.prod([int(d) for d in tuple(input_shape)[1:]]))
    self.trunk.build((None, feat))
    h_shape = self.trunk.compute_output_shape((None, feat))
    self.head.build(h_shape)
    shape = self.head.compute_output_shape(h_shape)
    self.loc_layer.build(shape)
    self.scale_layer.build(shape)
    self.flow.build((None, self.event_dim), h_shape)

  def features(self, x_hat, training=False):
    """Trunk features h ``[B, hidden_dims[-1]]`` (model dtype) from ``x_hat [B, ...]``."""
    x = tf.convert_to_tensor(x_hat)
    x = tf.cast(tf.reshape(x, [tf.shape(x)[0], -1]), self.compute_dtype)
    # A no-op unless mixed precision (bfloat16 trunk output).
    return tf.cast(self.trunk(x, training=training), self.compute_dtype)

  def base_params(self, h):
    """Base Normal parameters ``(μ [B, D], σ [B, D])`` (model dtype) from ``h [B, F]``."""
    z = tf.cast(self.head(h), self.compute_dtype)  # A no-op unless mixed precision.
    return self.loc_layer(z), tf.nn.softplus(self.scale_layer(z))

  def call(self, x_hat, training=False):
    """Return p(η|x̂) as a :class:`ConditionalFlowDistribution` (batch [B], event [D])."""
    h = self.features(x_hat, training=training)
    loc, scale = self.base_params(h)
    return ConditionalFlowDistribution(loc,
                                       scale,
                                       self.flow,
                                       h,
                                       offset=self.offset,
                                       bounds=self.bounds,
                                       squash=self.squash_to_bounds,
                                       training=training,
                                       family=(self.family if self.coordinates == "centre"
                                               else None))

  def log_prob(self, x_hat, eta, training=False):
    """Convenience: ``log p(eta|x_hat)``; ``eta [B, D]`` or ``[n, B, D]`` → ``[B]``/``[n, B]``."""
    return self(x_hat, training=training).log_prob(eta)

  def get_config(self):
    config = super().get_config()
    config.update(event_dim=self.event_dim,
                  bounds=self.bounds,
                  offset=self.offset,
                  squash_to_bounds=self.squash_to_bounds,
                  hidden_dims=self.hidden_dims,
                  dropout_rate=self.dropout_rate,
                  num_flows=self.num_flows,
                  num_bins=self.num_bins,
                  conditioner_hidden_dims=self.conditioner_hidden_dims,
                  conditioner_dropout_rate=self.conditioner_dropout_rate,
                  range_bound=self.range_bound,
                  spline_tails=self.spline_tails,
                  mixed_precision=self.mixed_precision,
                  coordinates=self.coordinates,
                  family=None if self.family is None else self.family.name)
    return config
