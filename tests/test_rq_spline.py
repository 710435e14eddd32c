"""Tests of the rational-quadratic spline (inv_tf.models.rq_spline)."""

import numpy as np
import pytest
import tensorflow as tf

from inv_tf.models import rq_spline as S

K = 6
B = 3.0


def _random_params(rng, shape, scale=1.5, dtype=np.float64):
  return tf.constant(rng.normal(size=tuple(shape) + (3 * K + 1,)) * scale, dtype)


def _points(dtype=np.float64):
  """Points inside, on the boundary, on knots of the identity spline and in both tails."""
  pts = np.concatenate([np.linspace(-7.0, 7.0, 57), [-B, B, 0.0, -1e-9 - B, B + 1e-9]])
  return tf.constant(pts, dtype)


# ------------------------------------------------------------------------------------------------
# Independent numpy evaluation of the spline (scalar loop, straight from the paper's formulas).
def _np_spline(x, p, bound=B, min_size=1e-4, min_slope=1e-4):
  p = np.asarray(p, np.float64)
  k = (p.size - 1) // 3

  def sizes(u):
    e = np.exp(u - u.max())
    return min_size + (2 * bound - k * min_size) * e / e.sum()

  w, h = sizes(p[:k]), sizes(p[k:2 * k])
  d = np.log1p(np.exp(p[2 * k:] + np.log(np.exp(1 - min_slope) - 1))) + min_slope
  xs = np.concatenate([[-bound], -bound + np.cumsum(w)])
  ys = np.concatenate([[-bound], -bound + np.cumsum(h)])
  if x < -bound:
    return -bound + d[0] * (x + bound), np.log(d[0])
  if x > bound:
    return bound + d[-1] * (x - bound), np.log(d[-1])
  i = min(int(np.searchsorted(xs, x, side="right")) - 1, k - 1)
  s = h[i] / w[i]
  t = (x - xs[i]) / w[i]
  den = s + (d[i + 1] + d[i] - 2 * s) * t * (1 - t)
  y = ys[i] + h[i] * (s * t**2 + d[i] * t * (1 - t)) / den
  dydx = s**2 * (d[i + 1] * t**2 + 2 * s * t * (1 - t) + d[i] * (1 - t)**2) / den**2
  return y, np.log(dydx)


# ------------------------------------------------------------------------------------------------
# Spline
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_spline_identity_at_zero_params(dtype):
  x = _points(dtype)
  p = tf.zeros([x.shape[0], 3 * K + 1], dtype)
  y, ld = S.rq_spline_forward(x, p)
  xi, ldi = S.rq_spline_inverse(x, p)
  tol = 1e-5 if dtype == np.float32 else 1e-12
  np.testing.assert_allclose(y.numpy(), x.numpy(), atol=tol * 10)
  np.testing.assert_allclose(xi.numpy(), x.numpy(), atol=tol * 10)
  np.testing.assert_allclose(ld.numpy(), 0.0, atol=tol)
  np.testing.assert_allclose(ldi.numpy(), 0.0, atol=tol)
  assert y.dtype == dtype and ld.dtype == dtype


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-10), (np.float32, 2e-4)])
def test_spline_round_trip_random_params(dtype, tol):
  rng = np.random.default_rng(0)
  x = tf.constant(rng.uniform(-8, 8, size=(200,)), dtype)
  p = _random_params(rng, [200], dtype=dtype)
  y, ld = S.rq_spline_forward(x, p)
  xr, ldi = S.rq_spline_inverse(y, p)
  # x-space error is (y rounding error) / g'(x): only compare where g' is not tiny (in float32
  # a few random bins have slopes ~1e-5, where 1 ulp of y moves x by ~1e-2).
  ok = ld.numpy() > (-4.0 if dtype == np.float32 else -20.0)
  assert ok.mean() > 0.9
  np.testing.assert_allclose(xr.numpy()[ok], x.numpy()[ok], atol=tol)
  np.testing.assert_allclose(ld.numpy()[ok], -ldi.numpy()[ok], atol=tol * 10)
  y3, _ = S.rq_spline_forward(xr, p)
  np.testing.assert_allclose(y3.numpy(), y.numpy(), atol=tol)
  # and the other way round
  x2, _ = S.rq_spline_inverse(x, p)
  y2, _ = S.rq_spline_forward(x2, p)
  np.testing.assert_allclose(y2.numpy(), x.numpy(), atol=tol)


def test_spline_log_det_matches_autodiff_jacobian():
  rng = np.random.default_rng(1)
  x = tf.constant(np.concatenate([rng.uniform(-2.9, 2.9, 20), [-6.0, -3.5, 3.5, 6.0]]))
  p = _random_params(rng, [x.shape[0]])
  with tf.GradientTape(persistent=True) as tape:
    tape.watch(x)
    y, ld = S.rq_spline_forward(x, p)
  jac = tape.jacobian(y, x).numpy()
  np.testing.assert_allclose(np.log(np.diag(jac)), ld.numpy(), atol=1e-10)
  np.testing.assert_allclose(jac - np.diag(np.diag(jac)), 0.0, atol=0)
  # inverse
  with tf.GradientTape() as tape:
    tape.watch(y)
    xr, ldi = S.rq_spline_inverse(y, p)
  jac_inv = tape.jacobian(xr, y).numpy()
  np.testing.assert_allclose(np.log(np.diag(jac_inv)), ldi.numpy(), atol=1e-8)


def test_spline_monotone_and_continuous_at_bounds():
  rng = np.random.default_rng(2)
  p = _random_params(rng, [1], scale=2.5)
  x = tf.constant(np.linspace(-6, 6, 20001))
  y, ld = S.rq_spline_forward(x, p)
  assert np.all(np.diff(y.numpy()) > 0)
  assert np.all(np.isfinite(ld.numpy()))
  for edge in (-B, B):
    xe = tf.constant([edge - 1e-9, edge, edge + 1e-9])
    ye, lde = S.rq_spline_forward(xe, p)
    ye = ye.numpy()
    assert abs(ye[0] - ye[2]) < 1e-7
    assert abs(ye[1] - edge) < 1e-12  # ±B maps to ±B
    # C1: the boundary slope is the tail slope
    assert abs(lde.numpy()[0] - lde.numpy()[2]) < 1e-6


def test_spline_matches_numpy_reference():
  rng = np.random.default_rng(3)
  p = _random_params(rng, [1], scale=1.0)
  xs = np.array([-5.0, -3.0, -2.2, -0.7, 0.0, 0.31, 1.9, 2.99, 3.0, 4.5])
  y, ld = S.rq_spline_forward(tf.constant(xs), p)
  for i, xv in enumerate(xs):
    y_ref, ld_ref = _np_spline(xv, p.numpy()[0])
    assert abs(y.numpy()[i] - y_ref) < 1e-12
    assert abs(ld.numpy()[i] - ld_ref) < 1e-10


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_spline_gradients_finite_everywhere(dtype):
  rng = np.random.default_rng(4)
  x = tf.concat([_points(dtype), tf.constant(rng.uniform(-4, 4, 40), dtype)], 0)
  p = tf.Variable(_random_params(rng, [x.shape[0]], scale=3.0, dtype=dtype))
  with tf.GradientTape(persistent=True) as tape:
    tape.watch(x)
    y, ld = S.rq_spline_forward(x, p)
    xr, ldi = S.rq_spline_inverse(x, p)
    total = tf.reduce_sum(y + ld + xr + ldi)
  for g in tape.gradient(total, [x, p]):
    assert np.all(np.isfinite(g.numpy()))


def test_spline_jit_matches_eager():
  rng = np.random.default_rng(5)
  p = _random_params(rng, [3, 4], dtype=np.float32)
  x = tf.constant(rng.uniform(-5, 5, size=(3, 4)), tf.float32)

  @tf.function(jit_compile=True, autograph=False)
  def f(x, p):
    with tf.GradientTape() as tape:
      tape.watch([x, p])
      y, ld = S.rq_spline_forward(x, p)
      s = tf.reduce_sum(y) + tf.reduce_sum(ld)
    return y, ld, tape.gradient(s, [x, p])

  yj, ldj, grads = f(x, p)
  y0, ld0 = S.rq_spline_forward(x, p)
  np.testing.assert_allclose(yj.numpy(), y0.numpy(), atol=1e-5)
  np.testing.assert_allclose(ldj.numpy(), ld0.numpy(), atol=1e-5)
  assert all(np.all(np.isfinite(g.numpy())) for g in grads)


def test_spline_bad_params():
  with pytest.raises(ValueError):
    S.rq_spline_forward(tf.zeros([2]), tf.zeros([2, 3 * K]))  # not 3K+1
  with pytest.raises(ValueError, match="range_bound"):
    S.rq_spline_forward(tf.zeros([2]), tf.zeros([2, 3 * K + 1]), range_bound=0.0)
  with pytest.raises(ValueError, match="tails"):
    S.rq_spline_forward(tf.zeros([2]), tf.zeros([2, 3 * K + 1]), tails="linear")


# ------------------------------------------------------------------------------------------------
# Tails
def test_identity_tails_are_the_identity_outside_and_continuous_at_bounds():
  rng = np.random.default_rng(5)
  p = _random_params(rng, [1], scale=2.5)
  outside = tf.constant([-40.0, -7.0, -3.5, 3.5, 7.0, 40.0], tf.float64)
  y, ld = S.rq_spline_forward(outside, p, tails="identity")
  np.testing.assert_allclose(y.numpy(), outside.numpy(), atol=1e-12)
  np.testing.assert_allclose(ld.numpy(), 0.0, atol=0)
  x, ldi = S.rq_spline_inverse(outside, p, tails="identity")
  np.testing.assert_allclose(x.numpy(), outside.numpy(), atol=1e-12)
  np.testing.assert_allclose(ldi.numpy(), 0.0, atol=0)
  for edge in (-B, B):  # C1 at ±B: the boundary knot's slope is the tail's slope, 1
    _, lde = S.rq_spline_forward(tf.constant([edge - 1e-9, edge + 1e-9], tf.float64), p,
                                 tails="identity")
    np.testing.assert_allclose(lde.numpy(), 0.0, atol=1e-6)
  # Inside, still an invertible, non-trivial spline.
  inside = tf.constant(np.linspace(-2.9, 2.9, 59))
  y, ld = S.rq_spline_forward(inside, p, tails="identity")
  assert np.all(np.diff(y.numpy()) > 0) and np.abs(y.numpy() - inside.numpy()).max() > 0.1
  xr, ldi = S.rq_spline_inverse(y, p, tails="identity")
  np.testing.assert_allclose(xr.numpy(), inside.numpy(), atol=1e-9)
  np.testing.assert_allclose(ldi.numpy(), -ld.numpy(), atol=1e-9)


def test_learned_tails_stretch_samples_that_leave_the_range_and_identity_tails_do_not():
  """The failure identity tails remove: with a boundary slope at its floor, the sampling direction
  maps a point 0.5 beyond B to one ~5,000 beyond it."""
  p = np.zeros([1, 3 * K + 1])
  p[0, -1] = -30.0  # upper boundary slope → min_knot_slope (1e-4)
  p = tf.constant(p)
  u = tf.constant([B + 0.5])
  learned, _ = S.rq_spline_inverse(u, p)
  identity, _ = S.rq_spline_inverse(u, p, tails="identity")
  assert learned.numpy()[0] > 1000.0
  np.testing.assert_allclose(identity.numpy(), [B + 0.5], atol=1e-9)
  # The identity-tails spline ignores the boundary parameters altogether.
  x = tf.constant(np.linspace(-5.0, 5.0, 41))
  np.testing.assert_allclose(S.rq_spline_forward(x, p, tails="identity")[0].numpy(),
                             S.rq_spline_forward(x, tf.zeros_like(p), tails="identity")[0].numpy(),
                             atol=1e-12)
