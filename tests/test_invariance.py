"""Tests for inv_tf.evaluation.invariance (the SGM quality measures)."""

import math

import numpy as np
import pytest
import tensorflow as tf

from inv_tf import transforms
from inv_tf.config import Config
from inv_tf.evaluation import circular
from inv_tf.evaluation import invariance
from inv_tf.models.sgm import SGM


def _digits(n=6, size=16, seed=0):
  """Asymmetric random blobs (no rotational symmetry)."""
  rng = np.random.default_rng(seed)
  x = np.full((n, size, size, 1), -1.0, np.float32)
  x[:, 4:-4, 5:-6] = rng.uniform(-1, 1, (n, size - 8, size - 11, 1))
  x[:, 4:6, 4:-4] = 1.0
  return tf.constant(x)


class FakeSGM:
  """prototype() returns `fn(x)`; sample_eta returns draws from `sampler`."""

  def __init__(self, fn, sampler=None):
    self.fn, self.sampler = fn, sampler
    self.family = transforms.get_family("rotation")

  def prototype(self, x):
    return {"x_hat": self.fn(x), "eta": tf.zeros([tf.shape(x)[0], 1])}

  def sample_eta(self, x_hat, n, seed):
    return self.sampler(n, x_hat.shape[0])


def test_constant_prototype_is_perfectly_invariant_and_identity_is_not():
  x = _digits()
  const = invariance.rotation_invariance(FakeSGM(lambda v: tf.zeros_like(v)), x)
  assert const["full_ratio"] == pytest.approx(0.0, abs=1e-9)
  ident = invariance.rotation_invariance(FakeSGM(lambda v: v), x)
  assert ident["full_ratio"] == pytest.approx(1.0)
  assert ident["axis_ratio"] < 1.0


def test_relative_ratio_is_not_fooled_by_prototypes_that_shrink():
  """A q that only shrinks its views (prototypes turn with the views, so nothing is invariant)
  gets a low full ratio from the small blobs; the relative ratio still says 1."""
  x = np.full((3, 32, 32, 1), -1.0, np.float32)  # solid glyphs: interpolation barely blurs them
  x[:, 8:22, 10:15] = 1.0
  x[:, 18:22, 15:22] = 1.0
  x[1, 8:12, 15:19] = 1.0
  x = tf.constant(x)

  def shrink(v):
    n = tf.shape(v)[0]
    eta = tf.concat([tf.zeros([n, 3]), tf.fill([n, 2], 0.7)], -1)  # log-scales 0.7: half the size
    return transforms.transform_images(v, eta, "affine_no_shear", order=1)

  shrunk = invariance.rotation_invariance(FakeSGM(shrink), x)
  assert shrunk["full_ratio"] < 0.5
  assert shrunk["relative_ratio"] == pytest.approx(1.0, abs=0.15)
  ident = invariance.rotation_invariance(FakeSGM(lambda v: v), x)
  assert ident["relative_ratio"] == pytest.approx(1.0, abs=0.1)
  const = invariance.rotation_invariance(FakeSGM(lambda v: tf.tile(x[:1], [tf.shape(v)[0], 1, 1, 1])), x[:1])
  assert const["relative_ratio"] == pytest.approx(0.0, abs=1e-9)


def test_axis_ratio_forgives_half_turn_flips_but_full_ratio_does_not():
  x = _digits(4)

  def flipping(v):  # one prototype for every view, upside down in a seeded half of the views.
    n = tf.shape(v)[0]
    flip = tf.random.stateless_uniform([n], seed=[1, 2]) < 0.5
    angle = tf.where(flip, math.pi, 0.0)[:, None]
    return transforms.transform_images(tf.tile(x[:1], [n, 1, 1, 1]), angle, "rotation")

  m = invariance.rotation_invariance(FakeSGM(flipping), x)
  assert m["axis_ratio"] < 0.01
  assert m["full_ratio"] > 0.1


def test_circular_spread_of_uniform_half_circle_and_narrow_rotations():
  x = _digits(4)
  rng = np.random.default_rng(0)

  def spread_of(sampler):
    return invariance.rotation_spread(FakeSGM(lambda v: v, sampler), x, 4000)

  uniform = spread_of(lambda n, b: tf.constant(rng.uniform(-3 * math.pi, 3 * math.pi, (n, b, 1)),
                                               tf.float32))
  assert uniform["resultant"] == pytest.approx(np.zeros(4), abs=0.05)
  assert uniform["deviation"] == pytest.approx(np.full(4, math.pi / math.sqrt(3)), rel=0.05)
  # A half circle (what a q that confuses a digit with its flip gives p) is caught: R̄ = 2/π.
  half = spread_of(lambda n, b: tf.constant(rng.uniform(-math.pi / 2, math.pi / 2, (n, b, 1)),
                                            tf.float32))
  assert half["resultant"] == pytest.approx(np.full(4, 2 / math.pi), abs=0.03)
  assert np.all(half["resultant"] > 0.2)
  # A narrow p centred on the cut at ±π is narrow: the linear std of wrapped angles was ≈ π.
  at_cut = spread_of(lambda n, b: tf.constant(math.pi + rng.normal(0, 0.1, (n, b, 1)), tf.float32))
  assert at_cut["deviation"] == pytest.approx(np.full(4, 0.1), rel=0.1)
  assert np.all(at_cut["resultant"] > 0.99)


def test_sgm_quality_on_a_tiny_untrained_model():
  config = Config(inference_hidden_dims=(8,), generative_hidden_dims=(8, 4),
                  conditioner_hidden_dims=(4,), num_flows=1, num_bins=2, interpolation_order=1)
  sgm = SGM(config, (16, 16, 1))
  m = invariance.sgm_quality(sgm, _digits(3), num_samples=20, iterations=3)
  # q is the identity at initialisation: prototypes are the views themselves.
  assert m["full_ratio"] == pytest.approx(1.0, abs=1e-3)
  assert m["iterated_eta_norms"] == pytest.approx([0.0] * 3, abs=1e-6)
  assert 0 <= m["rotation_resultant"] <= 1 and np.isfinite(m["rotation_deviation"])
  assert m["translation_resultant"] == pytest.approx(1.0, abs=1e-6)  # q ignores where x is
  assert m["polar_following"] == pytest.approx(0.0, abs=1e-6)
  # …and ignores turns: the floor, 1/6.
  assert m["rotation_equivariance"] == pytest.approx(invariance.ROTATION_EQUIVARIANCE_FLOOR,
                                                     abs=1e-6)


class PolarSGM:
  """q's rotation = −`following` × the polar angle of the ink centroid; prototypes = inputs."""

  def __init__(self, following):
    self.following = following
    self.family = transforms.get_family("affine_no_shear")

  def prototype(self, x):
    rotation = -self.following * invariance.polar_angle(x)
    eta = np.zeros((x.shape[0], 5), np.float32)
    eta[:, 2] = rotation
    return {"x_hat": x, "eta": tf.constant(eta)}


def _off_centre_blobs(n=6, size=24, seed=0):
  """Small asymmetric blobs placed at different distances and angles from the centre."""
  rng = np.random.default_rng(seed)
  x = np.full((n, size, size, 1), -1.0, np.float32)
  for i in range(n):
    r, c = rng.integers(3, size - 8, 2)
    x[i, r:r + 4, c:c + 3] = 1.0
    x[i, r + 3, c + 3] = 1.0
  return tf.constant(x)


def test_translation_leakage_catches_a_q_that_reads_the_polar_angle():
  m = invariance.translation_leakage(PolarSGM(1.0), _off_centre_blobs())
  assert m["polar_following"] == pytest.approx(1.0, abs=0.05)
  assert m["translation_resultant"] < 0.97


def test_translation_leakage_of_a_q_that_ignores_position():
  m = invariance.translation_leakage(PolarSGM(0.0), _off_centre_blobs())
  assert m["polar_following"] == pytest.approx(0.0, abs=1e-9)
  assert m["translation_resultant"] == pytest.approx(1.0, abs=1e-9)


def test_rotation_spread_far_mass_detects_flips_and_groups_by_label():
  x = _digits(4)
  rng = np.random.default_rng(1)

  def bimodal(n, b):  # 20 % of the mass half a turn away from the rest.
    flip = rng.uniform(size=(n, b, 1)) < 0.2
    return tf.constant(rng.normal(0, 0.05, (n, b, 1)) + math.pi * flip, tf.float32)

  spread = invariance.rotation_spread(FakeSGM(lambda v: v, bimodal), x, 4000)
  assert spread["far_mass"] == pytest.approx(np.full(4, 0.2), abs=0.03)
  # Two modes half a turn apart with weights 0.8 / 0.2: R̄ = 0.8 − 0.2 = 0.6.
  assert spread["resultant"] == pytest.approx(np.full(4, 0.6), abs=0.04)
  narrow = FakeSGM(lambda v: v, lambda n, b: tf.constant(rng.normal(0, 0.1, (n, b, 1)),
                                                          tf.float32))
  assert invariance.rotation_spread(narrow, x, 4000)["far_mass"] == pytest.approx(
      np.zeros(4), abs=1e-3)
  by_label = invariance.spread_by_label(spread, [3, 3, 7, 7])
  assert set(by_label) == {3, 7} and by_label[3]["n"] == 2
  assert by_label[7]["resultant"] == pytest.approx(spread["resultant"][2:].mean())


def test_sgm_quality_reports_spread_by_label_when_given_labels():
  config = Config(inference_hidden_dims=(8,), generative_hidden_dims=(8, 4),
                  conditioner_hidden_dims=(4,), num_flows=1, num_bins=2, interpolation_order=1)
  sgm = SGM(config, (16, 16, 1))
  m = invariance.sgm_quality(sgm, _digits(3), num_samples=20, iterations=2, labels=[0, 1, 1])
  assert set(m["rotation_spread_by_label"]) == {0, 1}
  assert 0 <= m["rotation_far_mass"] <= 1


def _off_centre_bars(n=6, size=32, seed=0):
  """Elongated bars (half-turn symmetric) at random angles, away from the image centre."""
  rng = np.random.default_rng(seed)
  ys, xs = np.meshgrid(np.linspace(-1, 1, size), np.linspace(-1, 1, size), indexing="ij")
  x = np.full((n, size, size, 1), -1.0, np.float32)
  for i in range(n):
    cx, cy = rng.uniform(-0.35, 0.35, 2)
    a = rng.uniform(0, math.pi)
    u = (xs - cx) * math.cos(a) + (ys - cy) * math.sin(a)
    v = -(xs - cx) * math.sin(a) + (ys - cy) * math.cos(a)
    x[i, ..., 0][(u / 0.3) ** 2 + (v / 0.1) ** 2 <= 1] = 1.0
  return tf.constant(x)


def _axis_angle(images):
  """The principal axis of the ink (second moments), turning with the content: an angle that is
  exactly equivariant modulo π."""
  m = np.maximum((np.asarray(images)[..., 0] + 1) / 2, 0)
  size = m.shape[1]
  ys, xs = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
  total = m.sum((1, 2))
  dx = xs[None] - ((m * xs).sum((1, 2)) / total)[:, None, None]
  dy = ys[None] - ((m * ys).sum((1, 2)) / total)[:, None, None]
  mu20, mu02, mu11 = ((m * d).sum((1, 2)) for d in (dx * dx, dy * dy, dx * dy))
  return -0.5 * np.arctan2(2 * mu11, mu20 - mu02)  # image y points down


def test_rotation_equivariance_reaches_one_for_an_equivariant_angle_and_the_floor_otherwise():
  x = _off_centre_bars()
  assert invariance.rotation_equivariance(_axis_angle, x, order=2) > 0.99
  floor = invariance.ROTATION_EQUIVARIANCE_FLOOR
  assert invariance.rotation_equivariance(lambda v: -_axis_angle(v), x, order=2) == (
      pytest.approx(floor, abs=0.01))
  assert invariance.rotation_equivariance(lambda v: np.zeros(len(v)), x, order=2) == (
      pytest.approx(floor, abs=1e-9))
  # Order 1 asks for direction, which the axis does not give: half the turns come out π off.
  assert invariance.rotation_equivariance(_axis_angle, x, order=1) < 0.5
  with pytest.raises(ValueError, match="order"):
    invariance.rotation_equivariance(_axis_angle, x, order=0)


def test_rotation_equivariance_is_not_fooled_by_the_polar_angle_shortcut():
  """A q that reads the polar angle follows turns about the image centre exactly, and turns in
  place not at all."""
  x = _off_centre_blobs()
  polar_q = PolarSGM(1.0)
  angle = lambda v: invariance.q_rotation_angle(polar_q, v)
  about_centre = [circular.wrap(angle(invariance._rotate(x, phi, order=1)) - angle(x) - phi)
                  for phi in invariance.EQUIVARIANCE_TURNS]
  assert circular.mean_resultant_length(np.concatenate(about_centre)) > 0.99
  assert invariance.rotation_equivariance(angle, x) == pytest.approx(
      invariance.ROTATION_EQUIVARIANCE_FLOOR, abs=0.05)


def test_turn_in_place_keeps_the_ink_centroid():
  x = _off_centre_bars()
  turned = invariance.turn_in_place(x, 1.0)
  np.testing.assert_allclose(transforms.ink_centroid(turned).numpy(),
                             transforms.ink_centroid(x).numpy(), atol=0.01)
  assert float(tf.reduce_mean(tf.square(turned - x))) > 0.01


class _ZoomSGM:
  """q whose prototype is x zoomed in e^s times about the centre: η = (0, 0, 0, s, s), x̂ = T(x, −η)
  (a positive log-scale in η shrinks the content, so its inverse enlarges it)."""

  def __init__(self, log_scale):
    self.family = transforms.get_family("affine_no_shear")
    self.log_scale = log_scale

  def prototype(self, x):
    n = int(x.shape[0])
    eta = tf.constant([[0.0, 0.0, 0.0, self.log_scale, self.log_scale]] * n, tf.float32)
    return {"x_hat": transforms.transform_images(x, -eta, self.family, order=1), "eta": eta}


def test_ink_kept_is_one_for_a_whole_prototype_and_catches_a_q_that_zooms_in():
  x = _off_centre_blobs(6, size=24)
  assert invariance.ink_kept(_ZoomSGM(0.0), x) == pytest.approx(1.0, abs=1e-4)
  assert invariance.ink_kept(_ZoomSGM(-0.2), x) == pytest.approx(1.0, abs=0.05)  # zoomed out
  # Zoomed in 2.7×: the prototype crops most of the blobs away, and its ratios say nothing of it.
  zoomed = _ZoomSGM(1.0)
  assert invariance.ink_kept(zoomed, x) < 0.5
