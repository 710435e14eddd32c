"""Tests for inv_tf.transforms: matrices, warps, colour, composition, XLA, gradients, bad input."""

import math

import numpy as np
import pytest
import scipy.linalg
import scipy.ndimage
import tensorflow as tf

from inv_tf import transforms as T
from support import tiered


def _bordered_images(rng, batch, height, width, channels, border=4):
  """Random images in [-1, 1] whose outer `border` pixels are background (-1)."""
  images = np.full((batch, height, width, channels), -1.0)
  images[:, border:-border, border:-border] = rng.uniform(
      -1, 1, (batch, height - 2 * border, width - 2 * border, channels))
  return images


def _smooth_images(batch, height, width, channels=1, dtype=np.float64):
  """Gaussian blobs on a -1 background: smooth, so interpolation error is small."""
  ii, jj = np.meshgrid(np.linspace(-1, 1, height), np.linspace(-1, 1, width), indexing="ij")
  blobs = []
  for b in range(batch):
    cx, cy = 0.15 * np.cos(b), 0.1 * np.sin(b)
    blob = np.exp(-((jj - cx) ** 2 / 0.08 + (ii - cy) ** 2 / 0.05))
    blobs.append(2.0 * blob - 1.0)
  images = np.stack(blobs)[..., None]
  return np.repeat(images, channels, axis=-1).astype(dtype)


def _scipy_warp(images, matrices, order):
  """Independent reference: scipy.ndimage.map_coordinates on the docs/design.md §2.2 grid."""
  _, height, width, channels = images.shape
  ii, jj = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
  x_t, y_t = 2 * jj / (width - 1) - 1, 2 * ii / (height - 1) - 1
  out = np.empty_like(images)
  for b, m in enumerate(matrices):
    x_s = m[0, 0] * x_t + m[0, 1] * y_t + m[0, 2]
    y_s = m[1, 0] * x_t + m[1, 1] * y_t + m[1, 2]
    coords = [(y_s + 1) / 2 * (height - 1), (x_s + 1) / 2 * (width - 1)]
    for c in range(channels):
      out[b, ..., c] = scipy.ndimage.map_coordinates(
          images[b, ..., c], coords, order=order, mode="constant", cval=-1.0)
  return out


# ---------------------------------------------------------------------------------------------
# Families and matrices.


def test_families_are_the_documented_tuples():
  assert T.FAMILIES["affine"] == ("tx", "ty", "rotation", "log_scale_x", "log_scale_y", "shear")
  assert T.FAMILIES["affine_no_shear"] == T.FAMILIES["affine"][:5]
  assert T.FAMILIES["rotation"] == ("rotation",)
  assert T.FAMILIES["hsv"] == ("hue", "log_saturation", "log_value")
  assert T.FAMILIES["affine_no_shear_hsv"] == T.FAMILIES["affine"][:5] + T.FAMILIES["hsv"]
  assert T.get_family("affine_no_shear_hsv").num_affine == 5
  assert T.get_family("hsv").num_affine == 0


@pytest.mark.parametrize("theta", [0.0, np.pi / 4, -np.pi / 4, np.pi / 2, -np.pi / 2, np.pi, -np.pi])
def test_rotation_closed_form(theta):
  m = T.affine_matrix(tf.constant([[theta]], tf.float64), "rotation").numpy()[0]
  c, s = np.cos(theta), np.sin(theta)
  np.testing.assert_allclose(m, [[c, -s, 0], [s, c, 0], [0, 0, 1]], atol=1e-12)


@pytest.mark.parametrize("tx,ty", [(0, 0), (1, 0), (0, 1), (1, 1), (5, 5), (-5, -5)])
def test_translation_closed_form(tx, ty):
  eta = tf.constant([[tx, ty, 0, 0, 0, 0]], tf.float64)
  m = T.affine_matrix(eta, "affine").numpy()[0]
  np.testing.assert_allclose(m, [[1, 0, tx], [0, 1, ty], [0, 0, 1]], atol=1e-12)


@pytest.mark.parametrize("sx,sy", [(0.3, -0.7), (-2.0, 1.5), (0.0, 3.0)])
def test_scale_closed_form(sx, sy):
  eta = tf.constant([[0, 0, 0, sx, sy]], tf.float64)
  m = T.affine_matrix(eta, "affine_no_shear").numpy()[0]
  np.testing.assert_allclose(m, np.diag([np.exp(sx), np.exp(sy), 1.0]), rtol=1e-12)


def test_matrix_matches_scipy_expm_and_inverse_is_negative_eta():
  rng = np.random.default_rng(1)
  eta = rng.normal(0, 2.0, (64, 6))
  m = T.affine_matrix(tf.constant(eta), "affine").numpy()
  gens = T.generators("affine")
  want = np.stack([scipy.linalg.expm(np.einsum("a,aij->ij", e, gens)) for e in eta])
  np.testing.assert_allclose(m, want, rtol=1e-10, atol=1e-10)
  m_neg = T.affine_matrix(tf.constant(-eta), "affine").numpy()
  np.testing.assert_allclose(np.einsum("bij,bjk->bik", m, m_neg), np.broadcast_to(np.eye(3), m.shape),
                             atol=1e-8)


def test_affine_matrix_of_colour_only_family_is_identity():
  m = T.affine_matrix(tf.ones([4, 3]), "hsv")
  np.testing.assert_array_equal(m.numpy(), np.broadcast_to(np.eye(3), (4, 3, 3)))


def test_expm_gradient_compiles_and_matches_tf_expm():
  rng = np.random.default_rng(2)
  a = tf.constant(rng.normal(0, 1.5, (8, 3, 3)))

  def loss(x):
    return tf.reduce_sum(tf.sin(T.expm3(x)))

  @tf.function(jit_compile=True, autograph=False)
  def grad_xla(x):
    with tf.GradientTape() as tape:
      tape.watch(x)
      y = loss(x)
    return tape.gradient(y, x)

  with tf.GradientTape() as tape:
    tape.watch(a)
    y = tf.reduce_sum(tf.sin(tf.linalg.expm(a)))
  want = tape.gradient(y, a)
  np.testing.assert_allclose(grad_xla(a).numpy(), want.numpy(), rtol=1e-8, atol=1e-8)


# ---------------------------------------------------------------------------------------------
# Warp.


@pytest.mark.parametrize("order", [1, 3])
def test_zero_eta_is_identity_warp(order):
  rng = np.random.default_rng(3)
  images = tf.constant(rng.uniform(-1, 1, (3, 28, 28, 2)), tf.float32)
  out = T.transform_images(images, tf.zeros([3, 5]), "affine_no_shear", order=order)
  # Order 1 is bit-exact; order 3 prefilters with a float32-rounded inverse matrix.
  np.testing.assert_allclose(out.numpy(), images.numpy(), atol=0 if order == 1 else 2e-6)
  out64 = T.transform_images(tf.cast(images, tf.float64), tf.zeros([3, 5], tf.float64),
                             "affine_no_shear", order=order)
  np.testing.assert_allclose(out64.numpy(), images.numpy(), atol=1e-12)


@pytest.mark.parametrize("order,tol", [(1, 1e-4), (3, 1e-3)])
@pytest.mark.parametrize("shape", [(28, 28, 1), (20, 33, 3)])
def test_warp_matches_scipy_map_coordinates(order, tol, shape):
  rng = np.random.default_rng(4)
  images = _bordered_images(rng, 6, *shape)
  eta = rng.uniform(-1, 1, (6, 6)) * [0.3, 0.3, np.pi, 0.3, 0.3, 0.2]
  matrices = T.affine_matrix(tf.constant(eta), "affine").numpy()
  out = T.warp(tf.constant(images, tf.float32), tf.constant(matrices, tf.float32), order=order)
  np.testing.assert_allclose(out.numpy(), _scipy_warp(images, matrices, order), atol=tol)


def test_direction_conventions():
  """Positive tx moves content left; positive log-scale shrinks it (docs/design.md §2.2)."""
  images = tf.constant(_smooth_images(1, 32, 32), tf.float32)
  weights = (images + 1.0)[0, ..., 0].numpy()
  cols = np.arange(32)[None, :]

  def centre_col(x):
    w = (x + 1.0)[0, ..., 0].numpy()
    return (w * cols).sum() / w.sum()

  moved = T.transform_images(images, tf.constant([[0.25, 0, 0, 0, 0]]), "affine_no_shear")
  assert centre_col(moved) < centre_col(images) - 3.0
  shrunk = T.transform_images(images, tf.constant([[0, 0, 0, 0.5, 0.5]]), "affine_no_shear")
  assert (shrunk.numpy() + 1).sum() < 0.6 * weights.sum()


def test_warp_respects_fill_value_outside():
  images = tf.zeros([1, 8, 8, 1])
  far = T.transform_images(images, tf.constant([[5.0, 0, 0, 0, 0]]), "affine_no_shear",
                           fill_value=0.5)
  np.testing.assert_array_equal(far.numpy(), 0.5)


# ---------------------------------------------------------------------------------------------
# The row-window warp against the direct formulation (n² scalar gathers per pixel).


def _direct_warp(images, matrices, order, fill_value=-1.0):
  """Reference: Σ_{a,b} w_a w_b S[r0 + a, c0 + b] with one scalar gather per tap (the formulation
  `warp` used before its row-window table); same prefilter, same weights."""
  warp_lib = __import__("inv_tf.transforms.warp", fromlist=["warp"])
  _, height, width, channels = images.shape
  dtype = images.dtype
  matrices = tf.cast(matrices, dtype)
  row, col = warp_lib.source_coordinates(matrices, height, width)
  inside = (row >= 0.0) & (row <= height - 1.0) & (col >= 0.0) & (col <= width - 1.0)
  source = images
  if order == 3:
    q_h = tf.constant(warp_lib._prefilter_matrix(height), dtype)
    q_w = tf.constant(warp_lib._prefilter_matrix(width), dtype)
    source = tf.einsum("wk,bhkc->bhwc", q_w, tf.einsum("hk,bkwc->bhwc", q_h, images))
  row0, row_w = warp_lib._axis_weights(row, height, order)
  col0, col_w = warp_lib._axis_weights(col, width, order)
  taps = tf.range(order + 1)
  index = ((row0[..., None] + taps)[..., :, None] * source.shape[2]
           + (col0[..., None] + taps)[..., None, :])  # [B, P, n, n]
  batch = tf.shape(images)[0]
  neighbours = tf.gather(tf.reshape(source, [batch, -1, channels]),
                         tf.reshape(index, [batch, -1]), batch_dims=1)
  neighbours = tf.reshape(neighbours, [batch, height * width, order + 1, order + 1, channels])
  values = tf.einsum("bpijc,bpi,bpj->bpc", neighbours, row_w, col_w)
  values = tf.where(inside[..., None], values, tf.constant(fill_value, dtype))
  return tf.reshape(values, [batch, height, width, channels])


def _assert_close_to_scale(actual, desired, tol):
  """|actual - desired| ≤ tol · max(1, max |desired|): float rounding of sums of many terms."""
  actual, desired = np.asarray(actual), np.asarray(desired)
  assert actual.shape == desired.shape
  assert np.abs(actual - desired).max() <= tol * max(1.0, np.abs(desired).max())


def _value_and_grads(fn, images, matrices):
  with tf.GradientTape() as tape:
    tape.watch([images, matrices])
    out = fn(images, matrices)
    loss = tf.reduce_sum(tf.sin(3.0 * out))  # Non-linear: every pixel gets its own weight.
  return (out,) + tuple(tape.gradient(loss, [images, matrices]))


# Eager for every shape and order in the fast tier; each XLA-compiled case costs seconds of
# compilation, so the fast tier compiles one (non-square, three channels, cubic).
ROW_WINDOW_SHAPES = [(28, 28, 1), (20, 33, 3), (2, 2, 1), (3, 2, 2)]


@tiered("jit, shape, order",
        [(j, s, o) for j in (False, True) for s in ROW_WINDOW_SHAPES for o in (1, 3)],
        fast=[(False, s, o) for s in ROW_WINDOW_SHAPES for o in (1, 3)] + [(True, (20, 33, 3), 3)])
def test_row_window_warp_matches_direct_formulation(order, shape, jit):
  """New formulation == old to float rounding: values, and gradients w.r.t. images and matrices
  (stage 1 differentiates through both)."""
  rng = np.random.default_rng(20)
  images = tf.constant(rng.uniform(-1, 1, (6,) + shape), tf.float32)
  eta = rng.uniform(-1, 1, (6, 6)) * [0.4, 0.4, np.pi, 0.4, 0.4, 0.3]
  matrices = T.affine_matrix(tf.constant(eta, tf.float32), "affine")
  wrap = (lambda f: tf.function(f, jit_compile=True, autograph=False)) if jit else (lambda f: f)
  new = wrap(lambda x, m: _value_and_grads(lambda a, b: T.warp(a, b, order=order), x, m))
  old = wrap(lambda x, m: _value_and_grads(lambda a, b: _direct_warp(a, b, order), x, m))
  for a, b in zip(new(images, matrices), old(images, matrices)):
    _assert_close_to_scale(a.numpy(), b.numpy(), 1e-5)


@tiered("jit, shape, order",
        [(j, s, o) for j in (False, True) for s in ((28, 28, 1), (20, 33, 3)) for o in (1, 3)],
        fast=[(False, s, o) for s in ((28, 28, 1), (20, 33, 3)) for o in (1, 3)]
        + [(True, (20, 33, 3), 3)])
def test_forward_only_warp_has_the_same_values_and_no_gradient(order, shape, jit):
  rng = np.random.default_rng(23)
  images = tf.constant(rng.uniform(-1, 1, (3,) + shape), tf.float32)
  eta = tf.constant(rng.uniform(-0.4, 0.4, (6, 5)), tf.float32)
  index = tf.constant([2, 0, 0, 1, 2, 2])

  def run(x, e):
    with tf.GradientTape(persistent=True) as tape:
      tape.watch([x, e])
      t = T.Transform.from_eta(e, "affine_no_shear")
      fast = t.apply(x, order=order, image_index=index, differentiable=False)
      slow = t.apply(x, order=order, image_index=index)
    return fast, slow, tape.gradient(tf.reduce_sum(fast ** 2), [x, e])

  if jit:
    run = tf.function(run, jit_compile=True, autograph=False)
  fast, slow, grads = run(images, eta)
  _assert_close_to_scale(fast.numpy(), _direct_warp(
      tf.gather(images, index), T.affine_matrix(eta, "affine_no_shear"), order).numpy(), 1e-5)
  _assert_close_to_scale(fast.numpy(), slow.numpy(), 1e-5)
  assert all(g is None for g in grads)


@pytest.mark.parametrize("order", [1, 3])
def test_row_window_warp_matches_direct_formulation_float64(order):
  rng = np.random.default_rng(21)
  images = tf.constant(rng.uniform(-1, 1, (4, 9, 7, 2)))
  matrices = T.affine_matrix(tf.constant(rng.uniform(-0.5, 0.5, (4, 5))), "affine_no_shear")
  for a, b in zip(_value_and_grads(lambda x, m: T.warp(x, m, order=order), images, matrices),
                  _value_and_grads(lambda x, m: _direct_warp(x, m, order), images, matrices)):
    _assert_close_to_scale(a.numpy(), b.numpy(), 1e-12)


@pytest.mark.parametrize("order", [1, 3])
@pytest.mark.parametrize("family", ["affine_no_shear", "affine_no_shear_hsv"])
def test_image_index_equals_warping_gathered_copies(order, family):
  """warp(x, M, image_index=i) == warp(gather(x, i), M), values and gradients w.r.t. x and η."""
  rng = np.random.default_rng(22)
  images = tf.constant(rng.uniform(-1, 1, (3, 12, 10, 3)), tf.float32)
  dim = T.get_family(family).dim
  eta = tf.constant(rng.uniform(-0.4, 0.4, (7, dim)), tf.float32)
  index = tf.constant([0, 0, 2, 1, 2, 2, 0])

  def run(use_index):
    with tf.GradientTape() as tape:
      tape.watch([images, eta])
      t = T.Transform.from_eta(eta, family)
      out = (t.apply(images, order=order, image_index=index) if use_index
             else t.apply(tf.gather(images, index), order=order))
      loss = tf.reduce_sum(tf.sin(3.0 * out))
    return (out,) + tuple(tape.gradient(loss, [images, eta]))

  for a, b in zip(run(True), run(False)):  # (tf.gather's gradient is IndexedSlices)
    _assert_close_to_scale(tf.convert_to_tensor(a).numpy(), tf.convert_to_tensor(b).numpy(), 1e-5)


@pytest.mark.parametrize("index,exc,match", [
    (tf.constant([0.0, 1.0]), TypeError, "image_index"),
    (tf.constant([[0, 1]]), ValueError, "image_index"),
    (tf.constant([0, 1, 1]), ValueError, "image_index"),
])
def test_bad_image_index_raises_named_python_error(index, exc, match):
  with pytest.raises(exc, match=match):
    T.warp(tf.zeros([2, 4, 4, 1]), tf.eye(3, batch_shape=[2]), image_index=index)


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
  images = tf.constant(_smooth_images(2, 10, 12), tf.float64)
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
  images = tf.constant(_smooth_images(1, 8, 8, channels=3) * [[[[1.0, 0.5, 0.2]]]], tf.float64)
  eta = tf.constant([[0.05, -0.05, 0.3, 0.05, -0.05, 0.1, -0.1, -0.2]], tf.float64)
  err = _max_gradient_error(
      lambda e: T.transform_images(images, e, "affine_no_shear_hsv", order=order), eta, delta=1e-6)
  assert err < 1e-4


def test_gradients_finite_on_grey_and_black_pixels():
  grey = tf.constant(np.stack([np.full((4, 4, 3), v) for v in (-1.0, 0.0, 0.3, 1.0)]), tf.float32)
  eta = tf.constant([[0.2, 0.3, 0.1]] * 4, tf.float32)
  with tf.GradientTape(persistent=True) as tape:
    tape.watch([grey, eta])
    out = T.transform_images(grey, eta, "hsv")
    loss = tf.reduce_sum(out ** 2)
  for g in tape.gradient(loss, [grey, eta]):
    assert np.all(np.isfinite(g.numpy()))
  # Grey stays grey under hue and saturation changes.
  spread = tf.reduce_max(out, -1) - tf.reduce_min(out, -1)
  np.testing.assert_allclose(spread.numpy(), 0.0, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# Colour.


def test_rgb_to_hsv_matches_tf_and_round_trips():
  rng = np.random.default_rng(7)
  rgb = tf.constant(rng.uniform(0, 1, (500, 3)), tf.float32)
  hsv = T.rgb_to_hsv(rgb)
  np.testing.assert_allclose(hsv.numpy(), tf.image.rgb_to_hsv(rgb).numpy(), atol=1e-5)
  np.testing.assert_allclose(T.hsv_to_rgb(hsv).numpy(), rgb.numpy(), atol=1e-5)


def test_colour_round_trip_and_additive_composition():
  rng = np.random.default_rng(8)
  images = tf.constant(rng.uniform(-0.5, 0.5, (3, 6, 6, 3)), tf.float64)
  a = tf.constant(rng.uniform(-0.2, 0.2, (3, 3)))
  b = tf.constant(rng.uniform(-0.2, 0.2, (3, 3)))
  ta, tb = T.Transform.from_eta(a, "hsv"), T.Transform.from_eta(b, "hsv")
  back = ta.inverse().apply(ta.apply(images))
  np.testing.assert_allclose(back.numpy(), images.numpy(), atol=1e-10)
  np.testing.assert_allclose(ta.then(tb).apply(images).numpy(), tb.apply(ta.apply(images)).numpy(),
                             atol=1e-10)
  # Hue is periodic: a full turn is the identity.
  full_turn = T.transform_images(images, tf.constant([[1.0, 0.0, 0.0]] * 3, tf.float64), "hsv")
  np.testing.assert_allclose(full_turn.numpy(), images.numpy(), atol=1e-10)


def test_hue_shift_of_pure_red_gives_green_and_blue():
  red = tf.constant(np.broadcast_to([1.0, -1.0, -1.0], (3, 2, 2, 3)), tf.float32)
  out = T.transform_images(red, tf.constant([[1 / 3, 0, 0], [2 / 3, 0, 0], [0, np.log(0.5), 0]]),
                           "hsv").numpy()
  np.testing.assert_allclose(out[0, 0, 0], [-1, 1, -1], atol=1e-5)
  np.testing.assert_allclose(out[1, 0, 0], [-1, -1, 1], atol=1e-5)
  np.testing.assert_allclose(out[2, 0, 0], [1, 0, 0], atol=1e-5)  # half saturation.


# ---------------------------------------------------------------------------------------------
# Composition.


def test_then_order_matches_sequential_warps():
  images = tf.constant(_smooth_images(2, 32, 32), tf.float64)
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


def test_pose_composed_with_its_inverse_keeps_the_border():
  """A float32 pose then its inverse lands some border sources a round-off outside the image;
  they must keep their pixel, not take the fill value."""
  rng = np.random.default_rng(3)
  eta = tf.constant(rng.uniform(-1, 1, (32, 5)) * [0.3, 0.3, np.pi, 0.3, 0.3], tf.float32)
  t = T.Transform.from_eta(eta, "affine_no_shear")
  ident = t.then(t.inverse()).matrix
  images = tf.ones([32, 28, 28, 1])
  for order in (1, 3):
    out = T.warp(images, ident, order=order, fill_value=-1.0).numpy()
    assert out.min() > 0.99, f"order {order}: a border pixel took the fill value"


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
  images = tf.constant(_bordered_images(rng, 4, 16, 16, 3), tf.float32)
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


def test_affine_log_inverts_affine_matrix():
  """affine_log(M(η)) = η for the full family (|rotation| < π) and a sub-family; a product of
  affine matrices comes back exactly whenever it has a real logarithm, and finite otherwise."""
  rng = np.random.default_rng(1)
  eta = rng.uniform(-1, 1, (500, 6)) * [0.5, 0.5, 3.1, 0.5, 0.5, 0.3]
  back = T.affine_log(T.affine_matrix(tf.constant(eta), "affine"), "affine")
  np.testing.assert_allclose(back.numpy(), eta, atol=1e-9)
  sub = tf.constant(eta[:, :5], tf.float32)
  back = T.affine_log(T.affine_matrix(sub, "affine_no_shear"), "affine_no_shear")
  np.testing.assert_allclose(back.numpy(), eta[:, :5], atol=2e-4)
  product = (T.affine_matrix(tf.constant(eta), "affine")
             @ T.affine_matrix(tf.constant(eta[::-1].copy()), "affine")).numpy()
  a = product[:, :2, :2]
  s, d = np.trace(a, axis1=1, axis2=2) / 2, np.linalg.det(a)
  real_log = ~((s < 0) & (s * s > d))
  again = T.affine_matrix(T.affine_log(product, "affine"), "affine").numpy()
  assert real_log.mean() > 0.8 and np.isfinite(again).all()
  np.testing.assert_allclose(again[real_log], product[real_log], atol=1e-8)


def test_affine_log_of_half_turns_and_colour_families():
  for angle in (np.pi, -np.pi, np.pi - 1e-9, 3.0):
    eta = np.array([[0.0, 0.0, angle, 0.0, 0.0]])
    back = T.affine_log(T.affine_matrix(tf.constant(eta), "affine_no_shear"), "affine_no_shear")
    np.testing.assert_allclose(np.cos(back.numpy()[0, 2]), np.cos(angle), atol=1e-9)
    np.testing.assert_allclose(np.abs(back.numpy()[0, 2]), abs(angle), atol=1e-6)
  eta = tf.constant([[0.1, 0.0, 0.5, 0.0, 0.0, 0.2, 0.3, -0.1]], tf.float32)
  back = T.affine_log(T.affine_matrix(eta, "affine_no_shear_hsv"), "affine_no_shear_hsv")
  np.testing.assert_allclose(back.numpy(), [[0.1, 0.0, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0]], atol=1e-5)


@pytest.mark.parametrize("family", ["affine", "affine_no_shear", "affine_no_shear_hsv"])
def test_centring_eta_maps_the_centre_to_the_origin_and_keeps_the_rest(family):
  rng = np.random.default_rng(2)
  dim = len(T.FAMILIES[family])
  eta = rng.uniform(-1, 1, (200, dim)) * 0.8
  centre = rng.uniform(-0.6, 0.6, (200, 2))
  moved = T.centring_eta(tf.constant(eta), tf.constant(centre), family).numpy()
  m = T.affine_matrix(tf.constant(moved), family).numpy()
  np.testing.assert_allclose(m[:, :2, :2] @ centre[..., None] + m[:, :2, 2:], 0.0, atol=1e-12)
  np.testing.assert_array_equal(moved[:, 2:], eta[:, 2:])
  np.testing.assert_allclose(m[:, :2, :2], T.affine_matrix(tf.constant(eta), family).numpy()[
      :, :2, :2], atol=1e-12)
  with pytest.raises(ValueError, match="no translation"):
    T.centring_eta(tf.constant(eta[:, 2:3]), tf.constant(centre), "rotation")


def test_ink_centroid_is_the_centre_of_mass_and_moves_with_the_content():
  x = np.full((3, 9, 13, 2), -1.0, np.float32)
  x[0, 2, 10] = 1.0                      # one pixel, both channels
  x[1, 4, 6, 0] = 0.0                    # half the mass of a pixel in one channel: still centred
  x[1, 4, 6, 1] = 0.0
  c = T.ink_centroid(x).numpy()
  np.testing.assert_allclose(c[0], [2 * 10 / 12 - 1, 2 * 2 / 8 - 1], atol=1e-6)
  np.testing.assert_allclose(c[1], [0.0, 0.0], atol=1e-6)
  np.testing.assert_array_equal(c[2], [0.0, 0.0])  # no ink
  blob = np.full((1, 20, 20, 1), -1.0, np.float32)
  blob[0, 4:9, 5:8] = np.linspace(-0.5, 1.0, 15).reshape(5, 3, 1)
  shift = np.array([[0.3, -0.2, 0.0, 0.0, 0.0]], np.float32)   # content moves by (−0.3, 0.2)
  moved = T.transform_images(blob, shift, "affine_no_shear", order=1)
  np.testing.assert_allclose(T.ink_centroid(moved).numpy() - T.ink_centroid(blob).numpy(),
                             [[-0.3, 0.2]], atol=2e-3)


def test_ink_radius_of_a_disc_and_square_is_invariant_to_moves_and_turns():
  size = 65
  ys, xs = np.meshgrid(np.linspace(-1, 1, size), np.linspace(-1, 1, size), indexing="ij")
  disc = np.where((xs - 0.2) ** 2 + (ys + 0.1) ** 2 <= 0.3 ** 2, 1.0, -1.0)
  square = np.where((np.abs(xs + 0.1) <= 0.2) & (np.abs(ys - 0.15) <= 0.2), 1.0, -1.0)
  x = tf.constant(np.stack([disc, square])[..., None], tf.float32)
  r = T.ink_radius(x).numpy()
  np.testing.assert_allclose(r, [0.3 / math.sqrt(2), 0.4 / math.sqrt(6)], rtol=0.03)
  turned = T.transform_images(x, np.array([[0.1, -0.2, 0.7, 0.0, 0.0]] * 2, np.float32),
                              "affine_no_shear", order=1)
  np.testing.assert_allclose(T.ink_radius(turned).numpy(), r, rtol=0.02)
  blank = -tf.ones([1, 8, 8, 1])
  assert np.isfinite(T.ink_radius(blank).numpy()).all()


def test_half_turn_asymmetry_is_zero_for_its_own_half_turn_and_large_otherwise():
  size = 28
  ys, xs = np.meshgrid(np.linspace(-1, 1, size), np.linspace(-1, 1, size), indexing="ij")
  bar = np.where((np.abs(xs) <= 0.12) & (np.abs(ys) <= 0.6), 1.0, -1.0)        # a straight 1
  ell = np.where(((np.abs(xs + 0.3) <= 0.1) & (np.abs(ys) <= 0.6))
                 | ((np.abs(ys - 0.5) <= 0.1) & (xs >= -0.4) & (xs <= 0.4)), 1.0, -1.0)  # an L
  blank = np.full((size, size), -1.0)
  x = tf.constant(np.stack([bar, ell, blank])[..., None], tf.float32)
  a = T.half_turn_asymmetry(x).numpy()
  assert a[0] < 1e-6 and a[1] > 0.5 and a[2] == 0.0
  # The half turn of the L is as far from it as the L is from its half turn; a quarter turn
  # of the bar is still its own half turn.
  turned = tf.reverse(x, axis=[1, 2])
  np.testing.assert_allclose(T.half_turn_asymmetry(turned).numpy(), a, atol=1e-6)
  quarter = T.transform_images(x, np.array([[math.pi / 2]] * 3, np.float32), "rotation", order=1)
  assert T.half_turn_asymmetry(quarter).numpy()[0] < 0.02
  # Moved off the centre, the bar is no longer its own half turn about the centre.
  moved = T.transform_images(x, np.array([[0.4, 0.0, 0.0, 0.0, 0.0]] * 3, np.float32),
                             "affine_no_shear", order=1)
  assert T.half_turn_asymmetry(moved).numpy()[0] > 0.9
  assert np.all((a >= 0.0) & (a <= 1.0))
