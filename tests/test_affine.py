"""Tests for inv_tf.transforms.affine: η → matrices (expm), their logarithm, centring."""

import numpy as np
import pytest
import scipy.linalg
import tensorflow as tf

from inv_tf import transforms as T


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


def test_expm_eager_equals_the_traced_program_at_every_norm():
  """Run eagerly, expm3 stops squaring at max(s); a graph always runs all MAX_SQUARINGS steps.
  Both give the same matrices, from norms that need no squaring to ones that need many."""
  rng = np.random.default_rng(3)
  m = rng.normal(0, 1.0, (7, 3, 3))
  # Skew-symmetric, so expm is a rotation and stays finite however large the norm (s = 0 … 13).
  a = (m - np.swapaxes(m, 1, 2)) * np.array([1e-3, 0.1, 0.4, 1.0, 5.0, 60.0, 900.0])[:, None, None]
  eager = T.expm3(tf.constant(a))
  traced = tf.function(T.expm3, autograph=False)(tf.constant(a))
  assert np.all(np.isfinite(eager.numpy()))
  np.testing.assert_array_equal(eager.numpy(), traced.numpy())
  want = np.stack([scipy.linalg.expm(x) for x in a[:5]])
  np.testing.assert_allclose(eager.numpy()[:5], want, rtol=1e-9, atol=1e-12)
  # Non-finite input: the same NaN/inf pattern either way, no error.
  bad = np.stack([a[2], np.full((3, 3), np.nan), np.full((3, 3), np.inf)])
  np.testing.assert_array_equal(T.expm3(tf.constant(bad)).numpy(),
                                tf.function(T.expm3, autograph=False)(tf.constant(bad)).numpy())
  assert T.expm3(tf.zeros([0, 3, 3])).shape == (0, 3, 3)


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


@pytest.mark.parametrize("family", ["affine", "affine_no_shear", "affine_no_shear_hsv"])
def test_centre_coordinates_are_the_position_and_invert_with_the_jacobian(family):
  rng = np.random.default_rng(5)
  dim = len(T.FAMILIES[family])
  eta = rng.uniform(-1, 1, (64, dim)) * 0.8
  eta[:, 2] *= 3.5  # angles up to ±2.8 rad
  eta = tf.constant(eta)
  with tf.GradientTape(persistent=True) as tape:
    tape.watch(eta)
    u, log_det = T.to_centre_coordinates(eta, family)
    rows = [u[:, j] for j in range(dim)]
  # c is where M(η) takes the origin from: M(η) (c, 1) = 0, i.e. M(η)⁻¹'s translation column.
  position = T.invert_affine(T.affine_matrix(eta, family)).numpy()[:, :2, 2]
  np.testing.assert_allclose(u.numpy()[:, :2], position, atol=1e-12)
  np.testing.assert_array_equal(u.numpy()[:, 2:], eta.numpy()[:, 2:])
  # Row j of each η's Jacobian: the gradient of Σ_b u[b, j] (the rows of η are independent).
  jacobian = np.stack([tape.gradient(r, eta).numpy() for r in rows], axis=1)
  np.testing.assert_allclose(log_det.numpy(), np.log(np.abs(np.linalg.det(jacobian))), atol=1e-10)
  back, back_log_det = T.from_centre_coordinates(u, family)
  np.testing.assert_allclose(back.numpy(), eta.numpy(), atol=1e-12)
  np.testing.assert_allclose(back_log_det.numpy(), -log_det.numpy(), atol=1e-12)


def test_centre_coordinates_separate_position_from_rotation():
  """Positions fixed while the angle changes: η's translation moves with the angle, c does not."""
  angles = np.linspace(-3.0, 3.0, 7)
  centre = np.tile([[0.3, -0.2]], (7, 1))
  u = np.concatenate([centre, angles[:, None], np.zeros((7, 2))], axis=1)
  eta, _ = T.from_centre_coordinates(tf.constant(u), "affine_no_shear")
  assert np.ptp(eta.numpy()[:, 0]) > 0.3  # the algebra translation depends on the angle
  np.testing.assert_allclose(T.to_centre_coordinates(eta, "affine_no_shear")[0].numpy()[:, :2],
                             centre, atol=1e-12)
  with pytest.raises(ValueError, match="no translation"):
    T.to_centre_coordinates(tf.constant(angles[:, None]), "rotation")
