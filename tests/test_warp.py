"""Tests for inv_tf.transforms.warp: the warp against SciPy and its direct form, ink measures."""

import math

import numpy as np
import pytest
import scipy.ndimage
import tensorflow as tf

from inv_tf import transforms as T
from support import bordered_images, smooth_images, tiered


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
  images = bordered_images(rng, 6, *shape)
  eta = rng.uniform(-1, 1, (6, 6)) * [0.3, 0.3, np.pi, 0.3, 0.3, 0.2]
  matrices = T.affine_matrix(tf.constant(eta), "affine").numpy()
  out = T.warp(tf.constant(images, tf.float32), tf.constant(matrices, tf.float32), order=order)
  np.testing.assert_allclose(out.numpy(), _scipy_warp(images, matrices, order), atol=tol)


def test_direction_conventions():
  """Positive tx moves content left; positive log-scale shrinks it (docs/design.md §2.2)."""
  images = tf.constant(smooth_images(1, 32, 32), tf.float32)
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
# Ink measures.


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


def test_ink_axis_turns_with_the_content_modulo_pi_and_measures_elongation():
  size = 65
  ys, xs = np.meshgrid(np.linspace(-1, 1, size), np.linspace(-1, 1, size), indexing="ij")
  horizontal = np.where((np.abs(xs - 0.1) <= 0.5) & (np.abs(ys + 0.2) <= 0.08), 1.0, -1.0)
  vertical = horizontal.T
  disc = np.where((xs - 0.2) ** 2 + (ys + 0.1) ** 2 <= 0.3 ** 2, 1.0, -1.0)
  blank = np.full((size, size), -1.0)
  x = tf.constant(np.stack([horizontal, vertical, disc, blank])[..., None], tf.float32)
  angle, anisotropy = (t.numpy() for t in T.ink_axis(x))
  np.testing.assert_allclose(np.sin(2 * angle[:2]), 0.0, atol=1e-6)
  np.testing.assert_allclose(np.cos(2 * angle[:2]), [1.0, -1.0], atol=1e-6)  # 0 and ±π/2
  assert anisotropy[0] > 0.9 and anisotropy[1] > 0.9
  assert anisotropy[2] < 0.03 and anisotropy[3] == 0.0  # a pixelated disc: ≈ 0 and np.isfinite(angle).all()
  # Turned (and moved) by φ in η's sense, the axis turns by φ modulo π.
  for phi in (0.4, -1.1, 2.5):
    eta = np.array([[0.1, -0.15, phi, 0.0, 0.0]] * 4, np.float32)
    turned, _ = T.ink_axis(T.transform_images(x, eta, "affine_no_shear", order=1))
    np.testing.assert_allclose(np.sin(2 * (turned.numpy()[:2] - angle[:2] - phi)), 0.0,
                               atol=0.02)


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
