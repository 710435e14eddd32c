"""Tests for inv_tf.training.schedules: the warm-up cosine learning rate, the blur and ramps."""

import math

import numpy as np
import pytest

from inv_tf.training import schedules


def _warmup_cosine_formula(t, peak, steps, warmup_pct, init_mult, final_mult):
  """The schedule of `inv_tf.training.schedules`' docstring, in float64 (the reference)."""
  warmup = max(round(warmup_pct * steps), 0)
  init, final = peak * init_mult, peak * final_mult
  if t < warmup:
    return init + (peak - init) * t / warmup
  progress = min(max((t - warmup) / max(steps - warmup, 1), 0.0), 1.0)
  return final + (peak - final) * 0.5 * (1.0 + math.cos(math.pi * progress))


def test_warmup_cosine_decay_matches_its_formula():
  lr = lambda t: float(schedules.warmup_cosine_decay(1e-3, 1000, 0.1, 0.01, 1e-4)(t))
  assert lr(0) == pytest.approx(1e-5)
  assert lr(50) == pytest.approx(1e-5 + (1e-3 - 1e-5) * 0.5)
  assert lr(100) == pytest.approx(1e-3)
  assert lr(550) == pytest.approx(1e-7 + (1e-3 - 1e-7) * 0.5, rel=1e-4)
  assert lr(1000) == pytest.approx(1e-7)
  assert lr(5000) == pytest.approx(1e-7)


@pytest.mark.parametrize("steps, warmup_pct, init_mult, final_mult", [
    (1000, 0.1, 0.01, 1e-4), (60000, 0.1, 1e-2, 1e-4), (15000, 0.2, 0.1, 0.03),
    (10000, 0.1, 0.03, 1e-4), (600, 0.0, 1 / 3, 1 / 9), (7, 1.0, 0.5, 0.2), (1, 0.5, 0.1, 0.3),
    (0, 0.2, 0.1, 0.03), (333, 0.15, 0.03, 0.3)])
def test_keras_cosine_decay_matches_the_warmup_cosine_formula(steps, warmup_pct, init_mult,
                                                               final_mult):
  peak = 3e-3
  keras_schedule = schedules.warmup_cosine_decay(peak, steps, warmup_pct, init_mult, final_mult)
  ts = sorted(set(np.linspace(0, 1.5 * steps + 3, 400).astype(int).tolist())
              | {round(warmup_pct * steps) + d for d in (-1, 0, 1) if round(warmup_pct * steps) + d >= 0})
  want = np.array([_warmup_cosine_formula(t, peak, steps, warmup_pct, init_mult, final_mult)
                   for t in ts])
  got = np.array([float(keras_schedule(t)) for t in ts])
  # float32 round-off: near the end of the decay Keras evaluates 1 + cos(≈π) in float32, whose
  # rounding error is a few ulp of the peak rate; elsewhere they agree to a relative 1e-6.
  np.testing.assert_allclose(got, want, rtol=1e-6, atol=4 * np.spacing(np.float32(peak)))


def test_blur_and_ramp_schedules():
  assert float(schedules.blur_sigma(0, 3.0, 1000, 0.01)) == pytest.approx(3.0)
  assert float(schedules.blur_sigma(5, 3.0, 1000, 0.01)) == pytest.approx(1.5)
  assert float(schedules.blur_sigma(10, 3.0, 1000, 0.01)) == 0.0
  assert float(schedules.ramp(0, 100, 0.0)) == 1.0
  assert float(schedules.ramp(25, 100, 0.5)) == pytest.approx(0.5)
  assert float(schedules.ramp(80, 100, 0.5)) == 1.0
