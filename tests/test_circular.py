"""Tests for inv_tf.evaluation.circular (angle statistics and 1-D distances)."""

import math

import numpy as np
import pytest

from inv_tf.evaluation import circular


def test_wrap_range():
  angles = np.array([-7.0, -math.pi, 0.0, math.pi, 3 * math.pi + 0.1])
  wrapped = circular.wrap(angles)
  assert np.all(wrapped >= -math.pi) and np.all(wrapped < math.pi)
  assert np.allclose(np.cos(wrapped), np.cos(angles)) and np.allclose(np.sin(wrapped), np.sin(angles))


@pytest.mark.parametrize("half_width,expected", [
    (math.pi / 4, math.sin(math.pi / 4) / (math.pi / 4)),
    (math.pi / 2, 2 / math.pi),
    (math.pi, 0.0)])
def test_resultant_of_uniform_angles_matches_sin_a_over_a(half_width, expected):
  rng = np.random.default_rng(0)
  angles = rng.uniform(-half_width, half_width, 200_000)
  assert circular.mean_resultant_length(angles) == pytest.approx(expected, abs=5e-3)
  assert circular.angular_deviation(angles) == pytest.approx(half_width / math.sqrt(3), rel=0.01)


def test_statistics_do_not_depend_on_where_the_circle_is_cut():
  rng = np.random.default_rng(1)
  a = rng.normal(0.0, 0.2, 500)
  b = rng.normal(0.4, 0.3, 700)
  for shift in (0.0, 2.0, math.pi, -3.0):
    assert circular.mean_resultant_length(a + shift) == pytest.approx(
        circular.mean_resultant_length(a))
    assert circular.angular_deviation(a + shift) == pytest.approx(circular.angular_deviation(a))
    assert circular.circular_wasserstein1(a + shift, b + shift) == pytest.approx(
        circular.circular_wasserstein1(a, b), abs=1e-9)
    assert circular.kuiper(a + shift, b + shift) == pytest.approx(circular.kuiper(a, b), abs=1e-9)


def test_narrow_distribution_on_the_cut_is_narrow():
  """The linear std of wrapped angles reads a narrow p at ±π as wide; these do not."""
  rng = np.random.default_rng(2)
  at_cut = circular.wrap(math.pi + rng.normal(0, 0.05, 2000))
  assert np.std(at_cut) > 2.5  # the failure the circular statistics replace
  assert circular.mean_resultant_length(at_cut) > 0.99
  assert circular.angular_deviation(at_cut) == pytest.approx(0.05, rel=0.1)
  assert circular.circular_std(at_cut) == pytest.approx(0.05, rel=0.1)


def test_circular_w1_of_point_masses_is_the_shorter_arc():
  assert circular.circular_wasserstein1([0.0], [math.pi / 2]) == pytest.approx(math.pi / 2)
  assert circular.circular_wasserstein1([-3.0], [3.0]) == pytest.approx(2 * math.pi - 6)
  assert circular.circular_wasserstein1([1.0], [1.0 + 2 * math.pi]) == pytest.approx(0, abs=1e-9)
  assert circular.wasserstein1([0.0], [2.0]) == pytest.approx(2.0)


def test_circular_w1_half_circle_against_whole_circle_is_pi_over_4():
  rng = np.random.default_rng(3)
  half = rng.uniform(-math.pi / 2, math.pi / 2, 20_000)
  whole = rng.uniform(-math.pi, math.pi, 20_000)
  assert circular.circular_wasserstein1(half, whole) == pytest.approx(math.pi / 4, abs=0.02)
  # Rotating a uniform sample moves no mass; shifting a narrow one moves all of it.
  assert circular.circular_wasserstein1(whole, whole + 1.0) < 0.05
  narrow = rng.uniform(-0.2, 0.2, 5000)
  assert circular.circular_wasserstein1(narrow, narrow + 1.0) == pytest.approx(1.0, abs=1e-6)


def test_kuiper_and_ks_range_and_separation():
  rng = np.random.default_rng(4)
  a = rng.uniform(-0.5, 0.5, 3000)
  assert circular.kuiper(a, a) == pytest.approx(0.0, abs=1e-12)
  assert circular.kuiper(a, a + 3.0) == pytest.approx(1.0)
  assert circular.ks_statistic(a, a + 3.0) == pytest.approx(1.0)
  same = rng.uniform(-0.5, 0.5, 3000)
  assert circular.kuiper(a, same) < 0.06


def test_empty_sample_is_refused():
  with pytest.raises(ValueError, match="non-empty"):
    circular.circular_wasserstein1([], [0.0])
