"""Tests of inv_tf.evaluation.stats (confidence intervals over seeds)."""

import math

import numpy as np
import pytest

from inv_tf.evaluation import stats


def test_mean_ci_matches_the_t_interval_by_hand():
  ci = stats.mean_ci([1.0, 2.0, 3.0, 4.0, 5.0])
  # t_{0.975, 4} = 2.7764; s = sqrt(2.5).
  half = 2.7764451 * math.sqrt(2.5) / math.sqrt(5)
  assert ci["mean"] == 3.0 and ci["n"] == 5
  assert ci["half_width"] == pytest.approx(half, rel=1e-6)
  assert (ci["low"], ci["high"]) == pytest.approx((3 - half, 3 + half), rel=1e-6)
  assert stats.mean_ci([1.0, 2.0, 3.0, 4.0, 5.0], level=0.99)["half_width"] > half


def test_interval_covers_the_true_mean_about_95_percent_of_the_time():
  rng = np.random.default_rng(0)
  covered = 0
  for _ in range(2000):
    ci = stats.mean_ci(rng.normal(10.0, 3.0, 5))
    covered += ci["low"] <= 10.0 <= ci["high"]
  assert 0.93 <= covered / 2000 <= 0.97


def test_one_value_has_no_interval_and_bad_input_is_refused():
  ci = stats.mean_ci([7.0])
  assert ci["mean"] == 7.0 and math.isnan(ci["half_width"]) and stats.format_ci(ci) == "7.0 (1)"
  for bad in ([], [1.0, float("nan")]):
    with pytest.raises(ValueError, match="mean_ci"):
      stats.mean_ci(bad)
  with pytest.raises(ValueError, match="level"):
    stats.mean_ci([1.0, 2.0], level=1.0)


def test_paired_difference_removes_what_the_seed_shares():
  """Two methods whose scores move together with the seed: unpaired intervals overlap widely, the
  paired difference is exact."""
  shared = {s: 100.0 * s for s in range(5)}
  a = {s: v + 2.0 for s, v in shared.items()}
  b = dict(shared, extra=1.0)
  diff = stats.paired_difference(a, b)
  assert diff["mean"] == pytest.approx(2.0) and diff["half_width"] == pytest.approx(0.0)
  assert diff["seeds"] == [0, 1, 2, 3, 4]
  assert stats.mean_ci(list(a.values()))["half_width"] > 100
  with pytest.raises(ValueError, match="no seed in common"):
    stats.paired_difference({1: 1.0}, {2: 1.0})
  assert stats.format_ci(stats.mean_ci([1.0, 3.0])) == "2.0 ± 12.7 (2)"
