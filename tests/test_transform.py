"""Tests for inv_tf.transforms.transform: T(x, η), composition, XLA, gradients, bad input."""

import numpy as np
import pytest
import tensorflow as tf

from inv_tf import transforms as T
from support import bordered_images, smooth_images, tiered


# ---------------------------------------------------------------------------------------------
# Composition.


def test_then_order_matches_sequential_warps():
  images = tf.constant(smooth_images(2, 32, 32), tf.float64)
  a = T.Transform.from_eta(tf.constant([[0.2, 0, 0, 0, 0]] * 2, tf.float64), "affine_no_shear")
  b = T.Transform.from_eta(tf.constant([[0, 0, 0.7, 0.1, 0]] * 2, tf.float64), "affine_no_shear")
  sequential = b.apply(a.apply(images, order=3), order=3)
  one_warp = a.then(b).apply(images, order=3)
  wrong_order = b.then(a).apply(images, order=3)
  interior = (slice(None), slice(6, -6), slice(6, -6))
  assert np.abs(sequential.numpy() - one_warp.numpy())[interior].max() < 0.02
  assert np.abs(sequential.numpy() - wrong_order.numpy())[interior].max() > 0.2
  np.testing.assert_allclose(T.compose(a, b).matrix.numpy(), a.then(b).matrix.numpy())


def test_compose_with_inverse_is_identity():
  rng = np.random.default_rng(9)
  eta = tf.constant(rng.uniform(-1, 1, (16, 8)) * [0.5, 0.5, np.pi, 0.5, 0.5, 0.5, 1, 0.5])
  t = T.Transform.from_eta(eta, "affine_no_shear_hsv")
  ident = t.then(t.inverse())
  np.testing.assert_allclose(ident.matrix.numpy(), np.broadcast_to(np.eye(3), (16, 3, 3)), atol=1e-5)
  np.testing.assert_allclose(ident.colour.numpy(), 0.0, atol=1e-12)
  np.testing.assert_allclose(t.inverse().matrix.numpy(),
                             T.affine_matrix(-eta, "affine_no_shear_hsv").numpy(), atol=1e-10)


def test_stage1_composite_is_identity_for_oracle_inference():
  """M(r1) M(q1)⁻¹ M(q2) M(r2)⁻¹ with q_i = r_i + shared pose is I (docs/design.md §4.1)."""
  rng = np.random.default_rng(10)
  fam = "affine_no_shear"
  pose, r1, r2 = (tf.constant(rng.uniform(-0.3, 0.3, (4, 5))) for _ in range(3))
  to = lambda e: T.Transform.from_eta(e, fam)
  # An oracle q returns the transform taking the prototype to the view: T(pose) then T(r).
  q1, q2 = to(pose).then(to(r1)), to(pose).then(to(r2))
  composite = T.compose(to(r1), q1.inverse(), q2, to(r2).inverse())
  np.testing.assert_allclose(composite.matrix.numpy(), np.broadcast_to(np.eye(3), (4, 3, 3)),
                             atol=1e-10)


# ---------------------------------------------------------------------------------------------
# XLA.


@tiered("order", [1, 3], fast=[3])
def test_jit_compile_matches_eager_values_and_gradients(order):
  rng = np.random.default_rng(11)
  images = tf.constant(bordered_images(rng, 4, 16, 16, 3), tf.float32)
  eta = tf.constant(rng.uniform(-0.5, 0.5, (4, 8)), tf.float32)

  def value_and_grads(x, e):
    with tf.GradientTape() as tape:
      tape.watch([x, e])
      out = T.transform_images(x, e, "affine_no_shear_hsv", order=order)
      loss = tf.reduce_mean(out ** 2)
    return (out,) + tuple(tape.gradient(loss, [x, e]))

  eager = value_and_grads(images, eta)
  xla = tf.function(value_and_grads, jit_compile=True, autograph=False)(images, eta)
  for a, b in zip(eager, xla):
    np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5)


# ---------------------------------------------------------------------------------------------
# Bad input: Python errors at trace time naming the argument.


@pytest.mark.parametrize("call,exc,name", [
    (lambda: T.warp(tf.zeros([4, 4, 1]), tf.eye(3, batch_shape=[1])), ValueError, "images"),
    (lambda: T.warp(tf.zeros([1, 4, 4, 1]), tf.zeros([1, 2, 3])), ValueError, "matrices"),
    (lambda: T.warp(tf.zeros([2, 4, 4, 1]), tf.eye(3, batch_shape=[3])), ValueError, "batch size"),
    (lambda: T.warp(tf.zeros([1, 4, 4, 1], tf.int32), tf.eye(3, batch_shape=[1])), TypeError,
     "images"),
    (lambda: T.warp(tf.zeros([1, 4, 4, 1]), tf.eye(3, batch_shape=[1]), order=2), ValueError,
     "order"),
    (lambda: T.transform_images(tf.zeros([1, 4, 4, 1]), tf.zeros([1, 5]), "scale"), ValueError,
     "family"),
    (lambda: T.transform_images(tf.zeros([1, 4, 4, 1]), tf.zeros([1, 4]), "affine_no_shear"),
     ValueError, "eta"),
    (lambda: T.transform_images(tf.zeros([2, 4, 4, 1]), tf.zeros([3, 5]), "affine_no_shear"),
     ValueError, "batch size"),
    (lambda: T.transform_images(tf.zeros([1, 4, 4, 1]), tf.zeros([1, 3]), "hsv"), ValueError,
     "3 channels"),
    (lambda: T.transform_images(tf.zeros([1, 4, 4, 1], tf.uint8), tf.zeros([1, 1]), "rotation"),
     TypeError, "images"),
    (lambda: T.affine_matrix(tf.zeros([2, 6], tf.int32), "affine"), TypeError, "eta"),
])
def test_bad_input_raises_named_python_error(call, exc, name):
  with pytest.raises(exc, match=name):
    call()


def test_bad_input_raises_at_trace_time_under_jit():
  fn = tf.function(lambda x, e: T.transform_images(x, e, "affine_no_shear"), jit_compile=True,
                   autograph=False)
  with pytest.raises(ValueError, match="eta"):
    fn(tf.zeros([1, 4, 4, 1]), tf.zeros([1, 6]))


# ---------------------------------------------------------------------------------------------
# Gradients vs finite differences (float64).


def _max_gradient_error(f, x, delta, directions=3):
  """Largest relative difference between the analytic and the finite-difference Jacobians of
  u_k · f(x), for `directions` fixed random unit vectors u_k over f's output elements.

  A wrong Jacobian entry J_ij moves entry (k, j) of the projected Jacobian by u_ki times its
  error, which a random u_k sees, while tf.test.compute_gradient backpropagates once per
  projected output (3) instead of once per output element (hundreds). As a tf.function, each of
  its calls (two evaluations per input element) is one graph call instead of many eager ops.
  """
  size = int(np.prod(f(x).shape))
  u = np.random.default_rng(0).normal(size=(directions, size))
  u = tf.constant(u / np.linalg.norm(u, axis=1, keepdims=True), x.dtype)
  projected = tf.function(lambda x: tf.linalg.matvec(u, tf.reshape(f(x), [-1])), autograph=False)
  theoretical, numerical = tf.test.compute_gradient(projected, [x], delta=delta)
  return max(np.abs(t - n).max() / max(1.0, np.abs(n).max()) for t, n in zip(theoretical, numerical))


def test_gradient_check_catches_one_wrong_jacobian_entry():
  """The projected check fails when a single entry of a 24×4 Jacobian is off by 1e-3."""
  x = tf.constant([[0.3, -0.2, 0.5, 0.1]], tf.float64)
  weights = tf.constant(np.random.default_rng(1).normal(size=(4, 24)), tf.float64)
  error = np.zeros((4, 24))
  error[2, 17] = 1e-3

  @tf.custom_gradient
  def wrong(x):
    def grad(dy):
      return tf.matmul(dy, weights + error, transpose_b=True)
    return tf.matmul(x, weights), grad

  assert _max_gradient_error(lambda v: tf.matmul(v, weights), x, delta=1e-6) < 1e-8
  assert _max_gradient_error(wrong, x, delta=1e-6) > 1e-5


# Finite differences are slow (two evaluations per input element, one backprop per output
# element): the fast tier checks each gradient once, the full suite at both orders.
@tiered("order", [1, 3], fast=[3])
def test_gradient_wrt_every_affine_eta_component(order):
  images = tf.constant(smooth_images(2, 10, 12), tf.float64)
  eta = tf.constant([[0.1, -0.05, 0.4, 0.1, -0.15, 0.07], [-0.08, 0.1, -1.2, -0.1, 0.05, -0.05]],
                    tf.float64)
  err = _max_gradient_error(lambda e: T.transform_images(images, e, "affine", order=order), eta,
                            delta=1e-6)
  assert err < 1e-4


@tiered("order", [1, 3], fast=[1])
def test_gradient_wrt_images(order):
  rng = np.random.default_rng(5)
  images = tf.constant(rng.uniform(-1, 1, (2, 7, 6, 1)))
  eta = tf.constant([[0.05, 0.1, 0.3, 0.1, -0.1], [-0.1, 0.0, -2.0, 0.0, 0.2]], tf.float64)
  err = _max_gradient_error(
      lambda x: T.transform_images(x, eta, "affine_no_shear", order=order), images, delta=1e-6)
  assert err < 1e-6


@pytest.mark.slow  # the fast tier checks the hsv part of η in test_gradient_combined_family
def test_gradient_wrt_hsv_eta_and_images():
  rng = np.random.default_rng(6)
  # Saturated-enough colours away from the clip limits, so finite differences see no clipping.
  images = tf.constant(rng.uniform(-0.6, 0.4, (2, 5, 5, 3)))
  eta = tf.constant([[0.1, -0.2, 0.1], [0.3, 0.1, -0.3]], tf.float64)
  err = _max_gradient_error(lambda e: T.transform_images(images, e, "hsv"), eta, delta=1e-6)
  assert err < 1e-5
  err = _max_gradient_error(lambda x: T.transform_images(x, eta, "hsv"), images, delta=1e-6)
  assert err < 1e-5


@tiered("order", [1, 3], fast=[1])
def test_gradient_combined_family(order):
  images = tf.constant(smooth_images(1, 8, 8, channels=3) * [[[[1.0, 0.5, 0.2]]]], tf.float64)
  eta = tf.constant([[0.05, -0.05, 0.3, 0.05, -0.05, 0.1, -0.1, -0.2]], tf.float64)
  err = _max_gradient_error(
      lambda e: T.transform_images(images, e, "affine_no_shear_hsv", order=order), eta, delta=1e-6)
  assert err < 1e-4
