r"""The rational-quadratic spline with linear tails: pure functions (docs/design.md §5).

An element-wise monotone map g with learned knots and slopes, used as the transformer of each
coupling layer of `inv_tf.models.flow`. Every function takes and returns tensors; nothing here
holds state.

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

Tails. With ``tails="learned"`` the boundary slopes d_0, d_K come from the parameters as above.
Sampling runs the inverse, whose tails are x = ±B + (y ∓ B)/d: a learned boundary slope near its
floor m' stretches every sample that leaves [−B, B] by up to 1/m' = 10⁴, so a flow trained where
the data never reaches its tails can return absurd draws. With ``tails="identity"`` d_0 = d_K = 1
(Durkan et al.'s choice, and TFP's): the map is the identity outside [−B, B] and no sample is
stretched; u_d,0 and u_d,K are then unused (zero gradient), which keeps the parameter layout.

Inverse. For y in output bin k put δ = y − y_k and c_k = d_{k+1} + d_k − 2 s_k. ξ is the root in
[0, 1] of a ξ² + b ξ + c = 0 with

    a = h_k (s_k − d_k) + δ c_k,   b = h_k d_k − δ c_k,   c = −s_k δ,

evaluated in the cancellation-free form ξ = 2c / (−b − √(b² − 4ac)); then x = x_k + ξ w_k and
log|dx/dy| = −log g'(x). In the tails x = −B + (y + B)/d_0 or x = B + (y − B)/d_K.

With all parameters zero (s_k = d_k = 1) g is the identity, inside and in the tails.

Differences from TFP's ``tfb.RationalQuadraticSpline``: that bijector takes normalised widths,
heights and only the K − 1 interior slopes and has identity tails; the spline here can also learn
both boundary slopes and use them in linear tails (``tails="learned"``), as the paper's public
reference code does (docs/design.md §5).
"""

import math

import tensorflow as tf

__all__ = [
    "DEFAULT_MIN_BIN_SIZE",
    "DEFAULT_MIN_KNOT_SLOPE",
    "TAILS",
    "check_spline_args",
    "spline_param_size",
    "normalize_spline_params",
    "rq_spline_forward",
    "rq_spline_inverse",
]

DEFAULT_MIN_BIN_SIZE = 1e-4
DEFAULT_MIN_KNOT_SLOPE = 1e-4
# Boundary-slope choices: learned from the parameters, or fixed at 1 (identity outside [-B, B]).
TAILS = ("learned", "identity")


def spline_param_size(num_bins: int) -> int:
  """Number of unconstrained parameters per coordinate: 3·num_bins + 1 (K widths, K heights,
  K + 1 knot slopes)."""
  return 3 * int(num_bins) + 1


def check_spline_args(num_bins, range_bound, min_bin_size, min_knot_slope,
                      tails: str = "learned") -> None:
  """Raises ValueError unless K ≥ 1 is an integer, B > 0, 0 < min_bin_size with K·min_bin_size < 2B,
  0 < min_knot_slope < 1 and tails is one of `TAILS`."""
  if tails not in TAILS:
    raise ValueError(f"tails must be one of {TAILS}, got {tails!r}.")
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
                            min_knot_slope: float = DEFAULT_MIN_KNOT_SLOPE,
                            tails: str = "learned"):
  """Map unconstrained spline parameters to knots and slopes.

  Args:
    params: float tensor ``[..., 3K + 1]``, laid out as K unnormalised widths, K unnormalised
      heights, K + 1 unnormalised knot slopes (boundary slopes first and last).
    range_bound: B > 0; the spline's interval is [−B, B] on both axes.
    min_bin_size: minimum bin width/height (> 0, K·min < 2B).
    min_knot_slope: minimum knot slope in (0, 1).
    tails: "learned" (boundary slopes from the parameters) or "identity" (boundary slopes 1).

  Returns:
    ``(x_knots, y_knots, slopes)``, each ``[..., K + 1]`` of the params dtype, with
    ``x_knots[..., 0] = y_knots[..., 0] = −B``, ``x_knots[..., K] = y_knots[..., K] = B``
    (strictly increasing) and ``slopes > min_knot_slope`` (``slopes[..., 0] = slopes[..., K] = 1``
    for identity tails).
  """
  params = tf.convert_to_tensor(params)
  dtype = params.dtype
  size = params.shape[-1]
  if size is None or (size - 1) % 3 != 0:
    raise ValueError(f"Last axis of params must be 3K + 1, got {size}.")
  k = (size - 1) // 3
  check_spline_args(k, range_bound, min_bin_size, min_knot_slope, tails)
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
  if tails == "identity":
    ones = tf.ones_like(slopes[..., :1])
    slopes = tf.concat([ones, slopes[..., 1:k], ones], axis=-1)
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


def _locate(values, params, range_bound, min_bin_size, min_knot_slope, tails, on_y: bool):
  """Shared set-up of the forward (on_y=False) and inverse (on_y=True) spline evaluations.

  Returns:
  (values broadcast against the parameters, values clipped to [-B, B], B, slopes [..., K+1],
  and the bin quantities (x_k, w_k, y_k, h_k, d_k, d_k+1, s_k) of the bin each value lies in).
  """
  values = tf.convert_to_tensor(values)
  params = tf.cast(params, values.dtype)
  x_knots, y_knots, slopes = normalize_spline_params(params, range_bound, min_bin_size,
                                                     min_knot_slope, tails)
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
                      min_knot_slope: float = DEFAULT_MIN_KNOT_SLOPE,
                      tails: str = "learned"):
  """Element-wise rational-quadratic spline with linear tails, forward direction.

  Args:
    x: float tensor ``[...]`` (any real values).
    params: unconstrained parameters ``[..., 3K + 1]`` broadcastable against ``x[..., None]``
      (see :func:`normalize_spline_params`); cast to ``x.dtype``.
    range_bound, min_bin_size, min_knot_slope, tails: see :func:`normalize_spline_params`.

  Returns:
    ``(y, log_det)``: ``y = g(x)`` and ``log_det = log g'(x)``, both shaped like the broadcast
    of ``x`` and ``params[..., 0]``, dtype of ``x``. Finite gradients w.r.t. x and params.
  """
  x, x_in, b, slopes, (xk, wk, yk, hk, dk, dk1, sk) = _locate(
      x, params, range_bound, min_bin_size, min_knot_slope, tails, on_y=False)
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
                      min_knot_slope: float = DEFAULT_MIN_KNOT_SLOPE,
                      tails: str = "learned"):
  """Inverse of :func:`rq_spline_forward`.

  Args:
    y: float tensor ``[...]``.
    params: ``[..., 3K + 1]`` as in :func:`rq_spline_forward`.
    range_bound, min_bin_size, min_knot_slope, tails: see :func:`normalize_spline_params`.

  Returns:
    ``(x, log_det)`` with ``x = g⁻¹(y)`` and ``log_det = log |dx/dy| = −log g'(x)``; shapes as in
    :func:`rq_spline_forward`.
  """
  y, y_in, b, slopes, (xk, wk, yk, hk, dk, dk1, sk) = _locate(
      y, params, range_bound, min_bin_size, min_knot_slope, tails, on_y=True)
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
