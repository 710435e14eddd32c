r"""Conditional rational-quadratic spline coupling flow (SPEC §5).

This module provides the building blocks of the flow used by the generative network p(η|x̂):

* pure functions :func:`rq_spline_forward` / :func:`rq_spline_inverse` and the TFP bijector
  :class:`RationalQuadraticSplineBijector` (an element-wise monotone spline with learned boundary
  slopes and linear tails);
* :class:`MaskedSplineCoupling`, one masked coupling layer whose element-wise transformer is that
  spline and whose conditioner is a small Keras MLP (:class:`SplineConditioner`);
* :class:`ConditionalSplineFlow`, a stack of such couplings conditioned on a context vector h.

Mathematics
===========

Rational-quadratic spline (Durkan, Bekasov, Murray, Papamakarios 2019, "Neural Spline Flows").
Let B > 0 be the range bound and K the number of bins. For one scalar coordinate the spline has
3K + 1 unconstrained parameters ``(u_w[0:K], u_h[0:K], u_d[0:K+1])`` (in that order on the last
axis) which are mapped to

* bin widths  w_k = m + (2B − K m) · softmax(u_w)_k,
* bin heights h_k = m + (2B − K m) · softmax(u_h)_k,           (m = ``min_bin_size`` = 1e-4)
* knot slopes d_k = softplus(u_d,k + log(e^{1−m'} − 1)) + m',   (m' = ``min_knot_slope`` = 1e-4)

so zero parameters give equal bins of width 2B/K and unit slopes. Knots are
x_0 = −B, x_{k+1} = x_k + w_k and y_0 = −B, y_{k+1} = y_k + h_k (the last knot is set to +B
exactly). d_0 and d_K are the (learned) boundary slopes.

Inside [−B, B], for x in bin k with ξ = (x − x_k)/w_k ∈ [0, 1], s_k = h_k / w_k and
θ = ξ(1 − ξ):

    g(x)  = y_k + h_k (s_k ξ² + d_k θ) / (s_k + (d_{k+1} + d_k − 2 s_k) θ)
    g'(x) = s_k² (d_{k+1} ξ² + 2 s_k θ + d_k (1 − ξ)²) / (s_k + (d_{k+1} + d_k − 2 s_k) θ)²

Outside the interval the map is linear with the boundary slope, which keeps it continuous and
continuously differentiable at ±B:

    g(x) = −B + d_0 (x + B)   for x < −B,       g(x) = B + d_K (x − B)   for x > B.

Inverse. For y in output bin k put δ = y − y_k and c_k = d_{k+1} + d_k − 2 s_k. ξ is the root in
[0, 1] of a ξ² + b ξ + c = 0 with

    a = h_k (s_k − d_k) + δ c_k,   b = h_k d_k − δ c_k,   c = −s_k δ,

evaluated in the cancellation-free form ξ = 2c / (−b − √(b² − 4ac)); then x = x_k + ξ w_k and
log|dx/dy| = −log g'(x). In the tails x = −B + (y + B)/d_0 or x = B + (y − B)/d_K.

With all parameters zero (s_k = d_k = 1) g is the identity, inside and in the tails.

Masked coupling. A coupling layer with boolean mask t ∈ {0,1}^D ("transformed") maps

    u_i = g(y_i; θ_i)  if t_i,    u_i = y_i  otherwise,
    θ = Conditioner(concat(y ⊙ (1 − t), h)) ∈ R^{D × (3K+1)},

so log|det ∂u/∂y| = Σ_{i: t_i} log g'(y_i; θ_i) (the Jacobian is triangular after permutation,
because θ only depends on the kept coordinates). The inverse uses the same θ (the kept coordinates
are equal in u and y) and the spline inverse. Layer j of the stack transforms the EVEN indices when
j is even and the ODD indices when j is odd (D = 5, layer 0: transformed {0, 2, 4}, kept {1, 3}).
The conditioner is Dense → GELU (tanh approximation) → LayerNorm(ε = 1e-6) → Dropout per hidden
layer and a final Dense with zero kernel and zero bias, so every coupling — and the whole flow — is
the identity at initialisation.

Flow direction (SPEC §5). The couplings c_0, …, c_{L−1} are composed with chain semantics (the
last one is applied first, like ``tfb.Chain``/``distrax.Chain``) in the DENSITY direction:

    u = F(y) = c_0(c_1(… c_{L−1}(y))),    log p(y) = log N(u; μ, σ) + log|det ∂u/∂y|,

and sampling runs y = F⁻¹(u) = c_{L−1}⁻¹(… c_0⁻¹(u)). The TFP bijector returned by
:meth:`ConditionalSplineFlow.bijector` maps base space to flow output (forward = F⁻¹), i.e.
``tfb.Invert(tfb.Chain([c_0, …, c_{L−1}]))`` with couplings in their density direction.

Differences from TFP's ``tfb.RationalQuadraticSpline``: that bijector takes normalised widths,
heights and only the K − 1 interior slopes and has identity tails; the spline here learns both
boundary slopes and uses them in linear tails (the reference behaviour, SPEC §5).

Dropout note. With ``training=True`` every call of a conditioner draws a new dropout mask. The
paired ``forward_and_log_det`` / ``inverse_and_log_det`` methods compute the value and the
log-determinant from ONE conditioner evaluation, so they are always mutually consistent; the TFP
bijector wrappers evaluate the conditioner separately for a value and for a log-determinant and
are therefore only mutually consistent when ``training=False`` (or dropout_rate = 0).
"""

from __future__ import annotations

import math
from typing import Sequence

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from inv_tf.models.layers import MLP

tfb = tfp.bijectors

__all__ = [
    "DEFAULT_MIN_BIN_SIZE",
    "DEFAULT_MIN_KNOT_SLOPE",
    "spline_param_size",
    "normalize_spline_params",
    "rq_spline_forward",
    "rq_spline_inverse",
    "RationalQuadraticSplineBijector",
    "coupling_mask",
    "SplineConditioner",
    "MaskedSplineCoupling",
    "CouplingBijector",
    "ConditionalSplineFlow",
]

DEFAULT_MIN_BIN_SIZE = 1e-4
DEFAULT_MIN_KNOT_SLOPE = 1e-4


def spline_param_size(num_bins: int) -> int:
  """Number of unconstrained parameters per coordinate: 3·num_bins + 1 (K widths, K heights,
  K + 1 knot slopes)."""
  return 3 * int(num_bins) + 1


def _check_spline_args(num_bins, range_bound, min_bin_size, min_knot_slope):
  if int(num_bins) != num_bins or num_bins < 1:
    raise ValueError(f"num_bins must be an integer >= 1, got {num_bins!r}.")
  if not range_bound > 0:
    raise ValueError(f"range_bound must be > 0, got {range_bound!r}.")
  if not (min_bin_size > 0 and num_bins * min_bin_size < 2.0 * range_bound):
    raise ValueError(
        f"min_bin_size must be > 0 and num_bins * min_bin_size < 2 * range_bound, got "
        f"min_bin_size={min_bin_size!r}, num_bins={num_bins!r}, range_bound={range_bound!r}.")
  if not 0 < min_knot_slope < 1:
    raise ValueError(f"min_knot_slope must be in (0, 1), got {min_knot_slope!r}.")


def normalize_spline_params(params,
                            range_bound: float = 3.0,
                            min_bin_size: float = DEFAULT_MIN_BIN_SIZE,
                            min_knot_slope: float = DEFAULT_MIN_KNOT_SLOPE):
  """Map unconstrained spline parameters to knots and slopes.

  Args:
    params: float tensor ``[..., 3K + 1]``, laid out as K unnormalised widths, K unnormalised
      heights, K + 1 unnormalised knot slopes (boundary slopes first and last).
    range_bound: B > 0; the spline's interval is [−B, B] on both axes.
    min_bin_size: minimum bin width/height (> 0, K·min < 2B).
    min_knot_slope: minimum knot slope in (0, 1).

  Returns:
    ``(x_knots, y_knots, slopes)``, each ``[..., K + 1]`` of the params dtype, with
    ``x_knots[..., 0] = y_knots[..., 0] = −B``, ``x_knots[..., K] = y_knots[..., K] = B``
    (strictly increasing) and ``slopes > min_knot_slope``.
  """
  params = tf.convert_to_tensor(params)
  dtype = params.dtype
  size = params.shape[-1]
  if size is None or (size - 1) % 3 != 0:
    raise ValueError(f"Last axis of params must be 3K + 1, got {size}.")
  k = (size - 1) // 3
  _check_spline_args(k, range_bound, min_bin_size, min_knot_slope)
  total = 2.0 * range_bound
  lo = tf.constant(-range_bound, dtype)
  hi = tf.constant(range_bound, dtype)

  def knots(unnormalised):
    sizes = min_bin_size + (total - k * min_bin_size) * tf.nn.softmax(unnormalised, axis=-1)
    inner = lo + tf.math.cumsum(sizes[..., :-1], axis=-1)  # knots 1 .. K-1
    ones = tf.ones_like(sizes[..., :1])
    return tf.concat([lo * ones, inner, hi * ones], axis=-1)

  x_knots = knots(params[..., :k])
  y_knots = knots(params[..., k:2 * k])
  offset = math.log(math.expm1(1.0 - min_knot_slope))
  slopes = tf.nn.softplus(params[..., 2 * k:] + tf.constant(offset, dtype)) + min_knot_slope
  return x_knots, y_knots, slopes


def _select_bin(values, knots):
  """One-hot bin membership ``[..., K]`` of ``values [...]`` w.r.t. knots ``[..., K+1]``
  (values are assumed clipped into [knots[0], knots[K]])."""
  k = knots.shape[-1] - 1
  idx = tf.reduce_sum(tf.cast(values[..., None] >= knots[..., 1:k], tf.int32), axis=-1)
  return tf.one_hot(idx, k, dtype=values.dtype)


def _gather(onehot, arr):
  return tf.reduce_sum(onehot * arr, axis=-1)


def _bin_quantities(onehot, x_knots, y_knots, slopes):
  xk = _gather(onehot, x_knots[..., :-1])
  wk = _gather(onehot, x_knots[..., 1:] - x_knots[..., :-1])
  yk = _gather(onehot, y_knots[..., :-1])
  hk = _gather(onehot, y_knots[..., 1:] - y_knots[..., :-1])
  dk = _gather(onehot, slopes[..., :-1])
  dk1 = _gather(onehot, slopes[..., 1:])
  return xk, wk, yk, hk, dk, dk1


def _inside_log_derivative(xi, sk, dk, dk1):
  theta = xi * (1.0 - xi)
  denom = sk + (dk1 + dk - 2.0 * sk) * theta
  numer = sk * sk * (dk1 * xi * xi + 2.0 * sk * theta + dk * (1.0 - xi) * (1.0 - xi))
  return tf.math.log(numer) - 2.0 * tf.math.log(denom)


def _locate(values, params, range_bound, min_bin_size, min_knot_slope, on_y: bool):
  """Shared set-up of the forward (on_y=False) and inverse (on_y=True) spline evaluations.

  Returns:
  (values broadcast against the parameters, values clipped to [-B, B], B, slopes [..., K+1],
  and the bin quantities (x_k, w_k, y_k, h_k, d_k, d_k+1, s_k) of the bin each value lies in).
  """
  values = tf.convert_to_tensor(values)
  params = tf.cast(params, values.dtype)
  x_knots, y_knots, slopes = normalize_spline_params(params, range_bound, min_bin_size,
                                                     min_knot_slope)
  knots = y_knots if on_y else x_knots
  values = tf.broadcast_to(values, tf.broadcast_dynamic_shape(tf.shape(values),
                                                              tf.shape(knots)[:-1]))
  b = tf.constant(range_bound, values.dtype)
  inside = tf.clip_by_value(values, -b, b)
  xk, wk, yk, hk, dk, dk1 = _bin_quantities(_select_bin(inside, knots), x_knots, y_knots, slopes)
  return values, inside, b, slopes, (xk, wk, yk, hk, dk, dk1, hk / wk)


def rq_spline_forward(x,
                      params,
                      range_bound: float = 3.0,
                      min_bin_size: float = DEFAULT_MIN_BIN_SIZE,
                      min_knot_slope: float = DEFAULT_MIN_KNOT_SLOPE):
  """Element-wise rational-quadratic spline with linear tails, forward direction.

  Args:
    x: float tensor ``[...]`` (any real values).
    params: unconstrained parameters ``[..., 3K + 1]`` broadcastable against ``x[..., None]``
      (see :func:`normalize_spline_params`); cast to ``x.dtype``.
    range_bound, min_bin_size, min_knot_slope: see :func:`normalize_spline_params`.

  Returns:
    ``(y, log_det)``: ``y = g(x)`` and ``log_det = log g'(x)``, both shaped like the broadcast
    of ``x`` and ``params[..., 0]``, dtype of ``x``. Finite gradients w.r.t. x and params.
  """
  x, x_in, b, slopes, (xk, wk, yk, hk, dk, dk1, sk) = _locate(
      x, params, range_bound, min_bin_size, min_knot_slope, on_y=False)
  xi = tf.clip_by_value((x_in - xk) / wk, 0.0, 1.0)
  theta = xi * (1.0 - xi)
  denom = sk + (dk1 + dk - 2.0 * sk) * theta
  y_in = yk + hk * (sk * xi * xi + dk * theta) / denom
  ld_in = _inside_log_derivative(xi, sk, dk, dk1)

  d_lo = slopes[..., 0]
  d_hi = slopes[..., -1]
  below = x < -b
  above = x > b
  y = tf.where(below, -b + d_lo * (x + b), tf.where(above, b + d_hi * (x - b), y_in))
  log_det = tf.where(below,
                     tf.math.log(d_lo) + tf.zeros_like(x),
                     tf.where(above,
                              tf.math.log(d_hi) + tf.zeros_like(x), ld_in))
  return y, log_det


def rq_spline_inverse(y,
                      params,
                      range_bound: float = 3.0,
                      min_bin_size: float = DEFAULT_MIN_BIN_SIZE,
                      min_knot_slope: float = DEFAULT_MIN_KNOT_SLOPE):
  """Inverse of :func:`rq_spline_forward`.

  Args:
    y: float tensor ``[...]``.
    params: ``[..., 3K + 1]`` as in :func:`rq_spline_forward`.

  Returns:
    ``(x, log_det)`` with ``x = g⁻¹(y)`` and ``log_det = log |dx/dy| = −log g'(x)``; shapes as in
    :func:`rq_spline_forward`.
  """
  y, y_in, b, slopes, (xk, wk, yk, hk, dk, dk1, sk) = _locate(
      y, params, range_bound, min_bin_size, min_knot_slope, on_y=True)
  delta = y_in - yk
  ck = dk1 + dk - 2.0 * sk
  qa = hk * (sk - dk) + delta * ck
  qb = hk * dk - delta * ck
  qc = -sk * delta
  disc = tf.maximum(qb * qb - 4.0 * qa * qc, tf.zeros_like(qb))
  # Cancellation-free root: for a monotone bin the denominator is < 0 (a + b = h_k s_k > 0).
  xi = tf.clip_by_value(2.0 * qc / (-qb - tf.sqrt(disc)), 0.0, 1.0)
  x_in = xk + xi * wk
  ld_in = -_inside_log_derivative(xi, sk, dk, dk1)

  d_lo = slopes[..., 0]
  d_hi = slopes[..., -1]
  below = y < -b
  above = y > b
  x = tf.where(below, -b + (y + b) / d_lo, tf.where(above, b + (y - b) / d_hi, x_in))
  log_det = tf.where(below, -tf.math.log(d_lo) + tf.zeros_like(y),
                     tf.where(above, -tf.math.log(d_hi) + tf.zeros_like(y), ld_in))
  return x, log_det


class RationalQuadraticSplineBijector(tfb.Bijector):
  """Element-wise RQ spline with learned boundary slopes and linear tails (scalar event).

  ``forward`` is g, ``inverse`` is g⁻¹ (see the module docstring).

  Args:
    params: unconstrained parameters ``[..., D, 3K + 1]`` (any leading shape); applied to inputs
      ``[..., D]`` that broadcast against ``params[..., 0]``.
    range_bound: B > 0 (default 3.0).
    min_bin_size, min_knot_slope: 1e-4 by default (as in the reference).
    validate_args, name: as for any TFP bijector.

  ``forward_min_event_ndims = 0``; dtype = params dtype (float32 or float64).
  All-zero params give the identity.
  """

  def __init__(self,
               params,
               range_bound: float = 3.0,
               min_bin_size: float = DEFAULT_MIN_BIN_SIZE,
               min_knot_slope: float = DEFAULT_MIN_KNOT_SLOPE,
               validate_args: bool = False,
               name: str = "rq_spline"):
    parameters = dict(locals())
    with tf.name_scope(name) as name:
      params = tf.convert_to_tensor(params)
      size = params.shape[-1]
      if size is None or (size - 1) % 3 != 0:
        raise ValueError(f"Last axis of params must be 3K + 1, got {size}.")
      _check_spline_args((size - 1) // 3, range_bound, min_bin_size, min_knot_slope)
      self._params = params
      self._range_bound = float(range_bound)
      self._min_bin_size = float(min_bin_size)
      self._min_knot_slope = float(min_knot_slope)
      super().__init__(forward_min_event_ndims=0,
                       validate_args=validate_args,
                       dtype=params.dtype,
                       parameters=parameters,
                       name=name)

  @classmethod
  def _parameter_properties(cls, dtype, num_classes=None):
    return dict(params=tfp.util.ParameterProperties(event_ndims=1))

  @property
  def params(self):
    return self._params

  @property
  def num_bins(self) -> int:
    return (self._params.shape[-1] - 1) // 3

  def _kw(self):
    return dict(range_bound=self._range_bound,
                min_bin_size=self._min_bin_size,
                min_knot_slope=self._min_knot_slope)

  def _forward(self, x):
    return rq_spline_forward(x, self._params, **self._kw())[0]

  def _inverse(self, y):
    return rq_spline_inverse(y, self._params, **self._kw())[0]

  def _forward_log_det_jacobian(self, x):
    return rq_spline_forward(x, self._params, **self._kw())[1]

  def _inverse_log_det_jacobian(self, y):
    return rq_spline_inverse(y, self._params, **self._kw())[1]

  def _is_increasing(self, **kwargs):
    return True


def coupling_mask(event_dim: int, layer_index: int) -> np.ndarray:
  """Boolean ``[event_dim]`` mask of the TRANSFORMED coordinates of coupling ``layer_index``.

  Layer 0 transforms the even indices (keeps the odd ones as conditioning), layer 1 the odd
  indices, and so on alternately. Example: D = 5, layer 0 → [T, F, T, F, T].
  """
  return (np.arange(event_dim) % 2) == (layer_index % 2)


class SplineConditioner(keras.layers.Layer):
  """Conditioner MLP of one coupling: ``[..., D + F] → [..., D, 3K + 1]``.

  Per hidden width: Dense (LeCun-normal kernel, zero bias, as Flax's default) → GELU (tanh
  approximation) → LayerNorm(ε = 1e-6) → Dropout(``dropout_rate``); then a Dense with ZERO
  kernel and ZERO bias producing ``D·(3K + 1)`` values, reshaped to ``[..., D, 3K + 1]``.

  Args:
    event_dim: D.
    num_bins: K.
    hidden_dims: hidden widths (default (256,)).
    dropout_rate: in [0, 1).
  """

  def __init__(self,
               event_dim: int,
               num_bins: int,
               hidden_dims: Sequence[int] = (256,),
               dropout_rate: float = 0.1,
               **kwargs):
    super().__init__(**kwargs)
    self.event_dim = int(event_dim)
    self.num_bins = int(num_bins)
    self.hidden_dims = tuple(int(h) for h in hidden_dims)
    self.dropout_rate = float(dropout_rate)
    self.param_size = spline_param_size(num_bins)
    pol = self.dtype_policy
    self.hidden = MLP(self.hidden_dims, self.dropout_rate, dtype=pol, name="hidden")
    self.out_layer = keras.layers.Dense(self.event_dim * self.param_size,
                                        kernel_initializer="zeros",
                                        bias_initializer="zeros",
                                        dtype=pol,
                                        name="out")

  def build(self, input_shape):
    self.hidden.build(input_shape)
    self.out_layer.build(self.hidden.compute_output_shape(input_shape))

  def call(self, inputs, training=False):
    out = self.out_layer(self.hidden(inputs, training=training))
    new_shape = tf.concat([tf.shape(out)[:-1], [self.event_dim, self.param_size]], axis=0)
    return tf.reshape(out, new_shape)


def _broadcast_context(x, context):
  """Broadcast context ``[B, F]`` (or ``[..., B, F]``) to ``x.shape[:-1] + [F]``."""
  context = tf.cast(context, x.dtype)
  shape = tf.concat([tf.shape(x)[:-1], tf.shape(context)[-1:]], axis=0)
  return tf.broadcast_to(context, shape)


class MaskedSplineCoupling(keras.layers.Layer):
  """One masked coupling layer with an RQ-spline transformer (event ndims 1, ``[..., D]``).

  Density ("forward") direction: ``u = c(y)``; coordinates with ``mask`` True are transformed by
  the spline whose parameters come from ``SplineConditioner(concat(y·(1−mask), h))``, the others
  are copied (log-det 0).

  Args:
    event_dim: D ≥ 1.
    num_bins: K ≥ 1.
    layer_index: position in the stack, selects the mask (:func:`coupling_mask`).
    range_bound: spline range B (default 3.0).
    hidden_dims, dropout_rate: conditioner MLP settings.
  """

  def __init__(self,
               event_dim: int,
               num_bins: int,
               layer_index: int = 0,
               range_bound: float = 3.0,
               hidden_dims: Sequence[int] = (256,),
               dropout_rate: float = 0.1,
               **kwargs):
    super().__init__(**kwargs)
    _check_spline_args(num_bins, range_bound, DEFAULT_MIN_BIN_SIZE, DEFAULT_MIN_KNOT_SLOPE)
    self.event_dim = int(event_dim)
    self.num_bins = int(num_bins)
    self.layer_index = int(layer_index)
    self.range_bound = float(range_bound)
    self.mask = coupling_mask(self.event_dim, self.layer_index)
    self.conditioner = SplineConditioner(event_dim,
                                         num_bins,
                                         hidden_dims,
                                         dropout_rate,
                                         dtype=self.dtype_policy,
                                         name="conditioner")

  def build(self, inputs_shape, context_shape=None):
    feat = 0 if context_shape is None else int(context_shape[-1])
    self.conditioner.build((None, self.event_dim + feat))

  def _spline_params(self, x, context, training):
    keep = tf.constant(~self.mask, x.dtype)
    cond_in = x * keep
    if context is not None:
      cond_in = tf.concat([cond_in, _broadcast_context(x, context)], axis=-1)
    return tf.cast(self.conditioner(cond_in, training=training), x.dtype)

  def _apply(self, x, context, training, inverse):
    x = tf.convert_to_tensor(x)
    params = self._spline_params(x, context, training)
    fn = rq_spline_inverse if inverse else rq_spline_forward
    z, ld = fn(x, params, range_bound=self.range_bound)
    transformed = tf.constant(self.mask)
    out = tf.where(transformed, z, x)
    log_det = tf.reduce_sum(tf.where(transformed, ld, tf.zeros_like(ld)), axis=-1)
    return out, log_det

  def forward_and_log_det(self, y, context=None, training=False):
    """Density direction: ``y [..., D] → (u [..., D], log|det ∂u/∂y| [...])``.

      ``context`` is ``[B, F]`` (broadcast against the leading dims of ``y``) or None.
      """
    return self._apply(y, context, training, inverse=False)

  def inverse_and_log_det(self, u, context=None, training=False):
    """Sampling direction: ``u [..., D] → (y [..., D], log|det ∂y/∂u| [...])``."""
    return self._apply(u, context, training, inverse=True)

  def call(self, inputs, context=None, training=False):
    """Same as :meth:`forward_and_log_det`."""
    return self.forward_and_log_det(inputs, context, training)

  def bijector(self, context=None, training=False):
    """TFP bijector (event ndims 1) whose forward is this coupling's density direction."""
    return CouplingBijector(self, context, training)


class CouplingBijector(tfb.Bijector):
  """TFP wrapper of a :class:`MaskedSplineCoupling` bound to a context (event ndims 1).

  forward: density direction c(y); inverse: c⁻¹. Batch shape is taken to be scalar (the context
  only broadcasts against the input's leading dims). See the module note on dropout.
  """

  def __init__(self,
               coupling: MaskedSplineCoupling,
               context=None,
               training=False,
               name: str = "spline_coupling"):
    parameters = dict(locals())
    self._coupling = coupling
    self._context = context
    self._training = training
    super().__init__(forward_min_event_ndims=1,
                     validate_args=False,
                     dtype=tf.as_dtype(coupling.compute_dtype),
                     parameters=parameters,
                     name=name)

  @classmethod
  def _parameter_properties(cls, dtype, num_classes=None):
    return dict()

  def _forward(self, x):
    return self._coupling.forward_and_log_det(x, self._context, self._training)[0]

  def _inverse(self, y):
    return self._coupling.inverse_and_log_det(y, self._context, self._training)[0]

  def _forward_log_det_jacobian(self, x):
    return self._coupling.forward_and_log_det(x, self._context, self._training)[1]

  def _inverse_log_det_jacobian(self, y):
    return self._coupling.inverse_and_log_det(y, self._context, self._training)[1]


class ConditionalSplineFlow(keras.layers.Layer):
  """Stack of ``num_flows`` masked RQ-spline couplings conditioned on a context h.

  Args:
    event_dim: D ≥ 1.
    num_flows: number of couplings L ≥ 0 (0 → identity).
    num_bins: spline bins K ≥ 1.
    range_bound: spline range B > 0 (default 3.0).
    hidden_dims: conditioner hidden widths (default (256,)).
    dropout_rate: conditioner dropout in [0, 1) (default 0.1).
    **kwargs: Keras layer kwargs (``name``, ``dtype``, …).

  Call: ``flow(y, context, training=False)`` → ``(u, log_det)`` in the DENSITY direction
  (u = F(y), log_det = log|det ∂u/∂y|), with ``y [..., D]``, ``context [B, F]`` broadcast to
  ``y``'s leading dims (so ``y`` may be ``[B, D]`` or ``[n, B, D]``), ``log_det [...]``.
  :meth:`inverse` gives the sampling direction; :meth:`bijector` gives a TFP bijector from base
  space u to flow output y.
  """

  def __init__(self,
               event_dim: int,
               num_flows: int,
               num_bins: int,
               range_bound: float = 3.0,
               hidden_dims: Sequence[int] = (256,),
               dropout_rate: float = 0.1,
               **kwargs):
    super().__init__(**kwargs)
    if int(event_dim) != event_dim or event_dim < 1:
      raise ValueError(f"event_dim must be an integer >= 1, got {event_dim!r}.")
    if int(num_flows) != num_flows or num_flows < 0:
      raise ValueError(f"num_flows must be an integer >= 0, got {num_flows!r}.")
    if int(num_bins) != num_bins or num_bins < 1:
      raise ValueError(f"num_bins must be an integer >= 1, got {num_bins!r}.")
    if not range_bound > 0:
      raise ValueError(f"range_bound must be > 0, got {range_bound!r}.")
    if not 0.0 <= dropout_rate < 1.0:
      raise ValueError(f"dropout_rate must be in [0, 1), got {dropout_rate!r}.")
    if any(int(h) < 1 for h in hidden_dims):
      raise ValueError(f"hidden_dims must be positive integers, got {hidden_dims!r}.")
    self.event_dim = int(event_dim)
    self.num_flows = int(num_flows)
    self.num_bins = int(num_bins)
    self.range_bound = float(range_bound)
    self.hidden_dims = tuple(int(h) for h in hidden_dims)
    self.dropout_rate = float(dropout_rate)
    self.couplings = [
        MaskedSplineCoupling(event_dim,
                             num_bins,
                             layer_index=i,
                             range_bound=range_bound,
                             hidden_dims=hidden_dims,
                             dropout_rate=dropout_rate,
                             dtype=self.dtype_policy,
                             name=f"coupling_{i}") for i in range(self.num_flows)
    ]

  def build(self, y_shape, context_shape=None):
    for c in self.couplings:
      c.build(y_shape, context_shape)

  def call(self, y, context=None, training=False):
    """Density direction ``u = F(y)``; returns ``(u [..., D], log|det ∂u/∂y| [...])``."""
    return self.forward_and_log_det(y, context, training)

  def forward_and_log_det(self, y, context=None, training=False):
    """Density direction (see :meth:`call`). Couplings applied last-to-first (chain order)."""
    y = tf.convert_to_tensor(y)
    log_det = tf.zeros(tf.shape(y)[:-1], y.dtype)
    for c in reversed(self.couplings):
      y, ld = c.forward_and_log_det(y, context, training)
      log_det += ld
    return y, log_det

  def inverse_and_log_det(self, u, context=None, training=False):
    """Sampling direction ``y = F⁻¹(u)``: ``(y [..., D], log|det ∂y/∂u| [...])``."""
    u = tf.convert_to_tensor(u)
    log_det = tf.zeros(tf.shape(u)[:-1], u.dtype)
    for c in self.couplings:
      u, ld = c.inverse_and_log_det(u, context, training)
      log_det += ld
    return u, log_det

  def inverse(self, u, context=None, training=False):
    """Alias of :meth:`inverse_and_log_det`."""
    return self.inverse_and_log_det(u, context, training)

  def bijector(self, context=None, training=False):
    """TFP bijector (event ndims 1) mapping base-space u to flow output y (forward = F⁻¹).

      Equals ``tfb.Invert(tfb.Chain([c_0, …, c_{L−1}]))`` with each c_i a
      :class:`CouplingBijector` in its density direction. ``context`` is ``[B, F]``.
      """
    if not self.couplings:
      return tfb.Identity()
    return tfb.Invert(tfb.Chain([c.bijector(context, training) for c in self.couplings]))
