r"""Confidence intervals for results over seeds.

For n values v_1 … v_n (one per seed) with mean v̄ and sample standard deviation s,

    CI_level = v̄ ± t_{(1+level)/2, n−1} · s / √n

(Student's t: the seeds are independent draws and n is small). A paired comparison of two methods
run with the same seeds uses the per-seed differences d_i = a_i − b_i, which removes what the
seed shares between the two (the data subset, the initial weights) from the comparison.
"""

import math
from typing import Mapping, Sequence

import numpy as np
from scipy import stats as scipy_stats


def mean_ci(values: Sequence[float], level: float = 0.95) -> dict:
  """Mean and Student-t confidence interval of `values`.

  Args:
    values: n ≥ 1 finite floats (one per seed).
    level: confidence level in (0, 1).

  Returns:
    {"mean", "low", "high", "half_width", "std", "n"}; with n = 1 the interval is undefined
    (`low`, `high`, `half_width`, `std` are NaN).

  Raises:
    ValueError: no values, a non-finite value, or `level` outside (0, 1).
  """
  v = np.asarray(values, np.float64)
  if v.size == 0:
    raise ValueError("mean_ci: no values")
  if not np.all(np.isfinite(v)):
    raise ValueError(f"mean_ci: non-finite values {v.tolist()}")
  if not 0 < level < 1:
    raise ValueError(f"mean_ci: level must be in (0, 1), got {level}")
  mean = float(v.mean())
  if v.size == 1:
    nan = float("nan")
    return {"mean": mean, "low": nan, "high": nan, "half_width": nan, "std": nan, "n": 1}
  std = float(v.std(ddof=1))
  half = float(scipy_stats.t.ppf((1 + level) / 2, v.size - 1)) * std / math.sqrt(v.size)
  return {"mean": mean, "low": mean - half, "high": mean + half, "half_width": half, "std": std,
          "n": int(v.size)}


def paired_difference(a: Mapping, b: Mapping, level: float = 0.95) -> dict:
  """`mean_ci` of a[s] − b[s] over the keys (seeds) present in both.

  Args:
    a, b: {seed: value}.
    level: confidence level in (0, 1).

  Returns:
    `mean_ci`'s dict plus "seeds" (the sorted common keys).

  Raises:
    ValueError: no common seed.
  """
  seeds = sorted(set(a) & set(b))
  if not seeds:
    raise ValueError("paired_difference: the two have no seed in common")
  out = mean_ci([a[s] - b[s] for s in seeds], level)
  out["seeds"] = seeds
  return out


def format_ci(ci: dict, digits: int = 1) -> str:
  """"m ± h (n)" for a `mean_ci` dict ("m (1)" when n = 1)."""
  if ci["n"] == 1:
    return f"{ci['mean']:.{digits}f} (1)"
  return f"{ci['mean']:.{digits}f} ± {ci['half_width']:.{digits}f} ({ci['n']})"
