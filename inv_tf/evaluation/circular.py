r"""Statistics of angles that respect the circle, and 1-D distances between samples.

A rotation θ and θ + 2π are the same transformation, so a linear mean or standard deviation of
angles depends on where the circle is cut: a narrow distribution centred near ±π reads as wide.
Everything here is invariant to rotating every sample by the same angle.

Mean resultant length and spread of angles θ_1..θ_n (radians):

    R̄ = | (1/n) Σ_k exp(i θ_k) | ∈ [0, 1]          1: all equal; ≈ 0: spread round the circle
    μ  = arg Σ_k exp(i θ_k)                          circular mean
    circular std  = sqrt(-2 ln R̄)                   ∞ at R̄ = 0
    deviation     = sqrt((1/n) Σ_k wrap(θ_k − μ)²)   RMS angle from the circular mean; finite:
                                                     U(−a, a) gives a/√3, the whole circle π/√3

with wrap(φ) ∈ [−π, π). Analytic R̄ of common laws: U(−a, a) → sin(a)/a (±45°: 0.900, ±90°:
0.637, ±180°: 0); two equally likely angles d apart → |cos(d/2)|. At n samples from the whole
circle E[R̄] ≈ sqrt(π/(4n)) (0.089 at n = 100), so "R̄ ≤ 0.2" is what a uniform angle can pass.

Wasserstein-1 on the circle (circumference 2π). With F, G the two empirical CDFs measured from an
arbitrary cut, and D = F − G,

    W1_circ = min_c ∫_{circle} |D(t) − c| dt,

minimised at c = a median of D weighted by arc length (Rabin, Delon and Gousseau, "Transportation
distances on the circle", 2011). It is in [0, π] radians and does not depend on the cut.
Kuiper's statistic V = max D − min D ∈ [0, 1] is the cut-independent form of the two-sample
Kolmogorov–Smirnov statistic. On the line, W1 = ∫ |F − G| dt and KS = max |F − G|
(`inv_tf.evaluation.latents.ks_statistic`).

All functions take numpy-compatible arrays and return numpy float64; NaNs are not allowed.
"""

import math

import numpy as np

from inv_tf.evaluation.latents import ks_statistic

TWO_PI = 2.0 * math.pi


def wrap(angles):
  """Angles (radians, any shape) wrapped to [−π, π); float64."""
  return np.mod(np.asarray(angles, np.float64) + math.pi, TWO_PI) - math.pi


def mean_resultant_length(angles, axis=-1):
  """R̄ = |mean exp(iθ)| ∈ [0, 1] along `axis` (float64, the other axes kept)."""
  angles = np.asarray(angles, np.float64)
  return np.hypot(np.cos(angles).mean(axis=axis), np.sin(angles).mean(axis=axis))


def circular_mean(angles, axis=-1):
  """μ = arg Σ exp(iθ) ∈ [−π, π] along `axis` (undefined, returned as 0, when R̄ = 0)."""
  angles = np.asarray(angles, np.float64)
  return np.arctan2(np.sin(angles).mean(axis=axis), np.cos(angles).mean(axis=axis))


def circular_std(angles, axis=-1):
  """sqrt(−2 ln R̄) ≥ 0 along `axis` (∞ where R̄ = 0)."""
  r = mean_resultant_length(angles, axis)
  with np.errstate(divide="ignore"):
    return np.sqrt(-2.0 * np.log(np.minimum(r, 1.0)))


def angular_deviation(angles, axis=-1):
  """RMS of wrap(θ − μ) ≥ 0 (radians) along `axis`: ≈ a/√3 for U(−a, a), π/√3 for the circle."""
  angles = np.moveaxis(np.asarray(angles, np.float64), axis, -1)
  mean = circular_mean(angles, -1)[..., None]
  return np.sqrt(np.mean(wrap(angles - mean) ** 2, axis=-1))


def _cdf_difference(a, b, period=None):
  """Sorted pooled points t_0..t_{m-1}, D on [t_j, t_{j+1}) and the interval lengths.

  For `period` set, the last interval runs from t_{m-1} round to t_0 + period (D = 0 there).
  """
  a = np.sort(np.asarray(a, np.float64).reshape(-1))
  b = np.sort(np.asarray(b, np.float64).reshape(-1))
  if a.size == 0 or b.size == 0:
    raise ValueError("circular/W1 statistics need two non-empty samples")
  points = np.sort(np.concatenate([a, b]))
  diff = (np.searchsorted(a, points, side="right") / a.size
          - np.searchsorted(b, points, side="right") / b.size)
  if period is None:
    return diff[:-1], np.diff(points)
  lengths = np.diff(np.concatenate([points, [points[0] + period]]))
  return diff, lengths


def wasserstein1(a, b) -> float:
  """W1 ≥ 0 between two 1-D samples `a` `[N]`, `b` `[M]` on the line (their units)."""
  diff, lengths = _cdf_difference(a, b)
  return float(np.sum(np.abs(diff) * lengths))


def _weighted_median(values, weights):
  order = np.argsort(values)
  values, weights = values[order], weights[order]
  cumulative = np.cumsum(weights)
  return values[np.searchsorted(cumulative, 0.5 * cumulative[-1])]


def circular_wasserstein1(a, b) -> float:
  """W1 ∈ [0, π] (radians) between two samples of angles `a` `[N]`, `b` `[M]` on the circle."""
  diff, lengths = _cdf_difference(wrap(a), wrap(b), period=TWO_PI)
  shift = _weighted_median(diff, lengths)
  return float(np.sum(np.abs(diff - shift) * lengths))


def kuiper(a, b) -> float:
  """Kuiper's two-sample statistic V ∈ [0, 1] of angles (the circle's KS statistic)."""
  diff, _ = _cdf_difference(wrap(a), wrap(b), period=TWO_PI)
  diff = np.concatenate([diff, [0.0]])
  return float(diff.max() - diff.min())


__all__ = ["angular_deviation", "circular_mean", "circular_std", "circular_wasserstein1",
           "kuiper", "ks_statistic", "mean_resultant_length", "wasserstein1", "wrap"]
