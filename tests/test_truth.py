"""Tests for inv_tf.evaluation.truth: poses of resamples and per-class truth recovery.

Each measure is checked on the failure it is meant to catch: a model that returns its input, a
p that covers half the circle, a p that is wide where the truth is upright.
"""

import math

import numpy as np
import pytest
import tensorflow as tf

from inv_tf import transforms
from inv_tf.data.known_truth import ClassTruth
from inv_tf.evaluation import truth

FAMILY = "affine_no_shear"


def test_pose_of_single_component_eta_is_eta():
  rng = np.random.default_rng(0)
  for c in range(5):
    eta = np.zeros((50, 5))
    eta[:, c] = rng.uniform(-0.4, 0.4, 50) * (7 if c == 2 else 1)
    if c == 3:  # log-scales come in pairs in the truth tables; x alone is also exact
      eta[:, 4] = rng.uniform(-0.4, 0.4, 50)
    pose = truth.pose_of_eta(eta)
    expected = eta.copy()
    expected[:, 2] = np.mod(expected[:, 2] + math.pi, 2 * math.pi) - math.pi
    assert np.allclose(pose, expected, atol=1e-5), c


class FakeSGM:
  """An SGM stand-in: q's η per image and p's η' per (sample, image) come from callables.

  Image i carries its index in pixel (0, 0), so the callables know which image they serve.
  """

  def __init__(self, eta_q, sample):
    self.family = transforms.get_family(FAMILY)
    self._eta_q, self._sample = eta_q, sample

  def prototype(self, x):
    index = tf.cast(tf.round(x[:, 0, 0, 0]), tf.int64).numpy()
    return {"x_hat": x, "eta": tf.constant(self._eta_q(index), tf.float32)}

  def sample_eta(self, x_hat, n, seed):
    index = tf.cast(tf.round(x_hat[:, 0, 0, 0]), tf.int64).numpy()
    return tf.constant(self._sample(index, n), tf.float32)


def _images(n):
  x = np.zeros((n, 4, 4, 1), np.float32)
  x[:, 0, 0, 0] = np.arange(n)
  return x


def test_resample_pose_composes_truth_inverse_q_and_p_like_transform():
  rng = np.random.default_rng(1)
  n_img, n = 6, 3
  eta_true = rng.uniform(-0.3, 0.3, (n_img, 5))
  eta_q = rng.uniform(-0.3, 0.3, (n_img, 5))
  eta_p = rng.uniform(-0.3, 0.3, (n, n_img, 5))
  sgm = FakeSGM(lambda i: eta_q[i], lambda i, k: eta_p[:k, i])
  poses = truth.resample_poses(sgm, _images(n_img), eta_true, n, batch_size=4)["poses"]
  for k in range(n):
    t = (transforms.Transform.from_eta(tf.constant(eta_true, tf.float32), FAMILY)
         .then(transforms.Transform.from_eta(tf.constant(eta_q, tf.float32), FAMILY).inverse())
         .then(transforms.Transform.from_eta(tf.constant(eta_p[k], tf.float32), FAMILY)))
    assert np.allclose(poses[:, k], truth.pose_from_matrix(t.matrix.numpy()), atol=1e-5)
  # p returning q's own η gives back the image's true pose (the resample is the input).
  same = FakeSGM(lambda i: eta_q[i], lambda i, k: np.broadcast_to(eta_q[i], (k,) + eta_q[i].shape))
  poses = truth.resample_poses(same, _images(n_img), eta_true, 2)["poses"]
  assert np.allclose(poses[:, 0], truth.pose_of_eta(eta_true), atol=1e-5)


def _known_truth_data(spec, n_img, seed=2):
  rng = np.random.default_rng(seed)
  return spec.sample(rng, n_img), np.zeros(n_img, np.int64)


def _recover(sgm, eta_true, labels, spec, n=100):
  sampled = truth.resample_poses(sgm, _images(len(labels)), eta_true, n)
  return truth.orbit_recovery(sampled["poses"], eta_true, labels, {0: spec},
                              sampled["rotation_samples"], reference_size=2000, seed=0)


def _oracle_sgm(eta_true, spec, seed=3):
  """q finds the true pose, p samples the class's truth."""
  rng = np.random.default_rng(seed)
  return FakeSGM(lambda i: eta_true[i],
                 lambda i, k: np.stack([spec.sample(rng, len(i)) for _ in range(k)]))


def _identity_sgm(eta_true):
  """Resamples are the input: p returns q's η."""
  return FakeSGM(lambda i: eta_true[i],
                 lambda i, k: np.broadcast_to(eta_true[i], (k, len(i), 5)).copy())


def test_identity_model_scores_zero_recovery_and_oracle_scores_one():
  spec = ClassTruth.uniform(-math.pi / 2, math.pi / 2, description="±90°")
  eta_true, labels = _known_truth_data(spec, 40)
  ident = _recover(_identity_sgm(eta_true), eta_true, labels, spec)["classes"][0]
  assert ident["rotation"]["recovery"] == pytest.approx(0.0, abs=1e-6)
  assert ident["rotation"]["w1"] == pytest.approx(ident["rotation"]["w1_identity"])
  assert ident["resultant"] == pytest.approx(1.0)  # p returns a point: R̄ = 1, truth 0.64
  oracle = _recover(_oracle_sgm(eta_true, spec), eta_true, labels, spec)["classes"][0]
  assert oracle["rotation"]["recovery"] == pytest.approx(1.0, abs=0.1)
  assert oracle["resultant"] == pytest.approx(oracle["resultant_truth"], abs=0.05)
  assert oracle["width_rel_error"] < 0.1
  # Components that do not vary in the class have no recovery score.
  assert math.isnan(oracle["tx"]["recovery"])


def test_half_circle_p_fails_the_whole_orbit_bars():
  """A q that confuses a digit with its flip leaves p a half circle: R̄ 2/π, not ≈ 0."""
  spec = ClassTruth.uniform(-math.pi, math.pi, description="±180°")
  eta_true, labels = _known_truth_data(spec, 40)
  rng = np.random.default_rng(4)

  def half(i, k):  # η' covers the half circle round the image's own pose
    out = np.broadcast_to(eta_true[i], (k, len(i), 5)).copy()
    out[..., 2] += rng.uniform(-math.pi / 2, math.pi / 2, (k, len(i)))
    return out

  result = _recover(FakeSGM(lambda i: eta_true[i], half), eta_true, labels, spec)["classes"][0]
  assert result["resultant"] == pytest.approx(2 / math.pi, abs=0.06)
  assert result["resultant"] > 0.2  # the ±180° bar (R̄ ≤ 0.2) fails
  assert result["rotation"]["w1"] == pytest.approx(math.pi / 4, abs=0.08)
  assert 0.3 < result["rotation"]["recovery"] < 0.7


def test_wide_p_on_an_upright_class_fails_and_narrow_p_at_the_cut_passes():
  upright = ClassTruth.fixed(0.0, description="upright")
  eta_true, labels = _known_truth_data(upright, 30)
  rng = np.random.default_rng(5)

  def wide(i, k):
    out = np.zeros((k, len(i), 5))
    out[..., 2] = rng.uniform(-1.0, 1.0, (k, len(i)))
    return out

  result = _recover(FakeSGM(lambda i: eta_true[i], wide), eta_true, labels, upright)
  assert result["upright_resultant_min"] < 0.9
  assert result["classes"][0]["rotation"]["w1"] > 0.3
  # A class whose truth is a half turn, and a p narrow round ±π: linear statistics would call
  # it wide; the circular ones call it right.
  flipped = ClassTruth.fixed(math.pi, description="upside down")
  eta_true, labels = _known_truth_data(flipped, 30)

  def at_cut(i, k):
    out = np.zeros((k, len(i), 5))
    out[..., 2] = math.pi + rng.normal(0, 0.02, (k, len(i)))
    return out

  result = _recover(FakeSGM(lambda i: eta_true[i], at_cut), eta_true, labels, flipped)
  assert result["upright_resultant_min"] > 0.99
  assert result["classes"][0]["rotation"]["w1"] < 0.05


def test_translation_class_is_measured_on_translations():
  spec = ClassTruth.fixed(0.0, translation=0.2, description="shifted")
  eta_true, labels = _known_truth_data(spec, 30)
  ident = _recover(_identity_sgm(eta_true), eta_true, labels, spec)
  oracle = _recover(_oracle_sgm(eta_true, spec), eta_true, labels, spec)
  for name in ("tx", "ty"):
    assert ident["classes"][0][name]["recovery"] == pytest.approx(0.0, abs=1e-6)
    assert oracle["classes"][0][name]["recovery"] == pytest.approx(1.0, abs=0.15)
  assert oracle["recovery_min"] > 0.8 and ident["recovery_min"] < 0.01


def test_stray_resamples_are_counted_and_leave_the_measures_defined():
  """A p whose draws now and then explode (absurd translation, a non-finite rotation) is caught
  by the stray fraction, and its rotation measures stay defined; a sane p has no strays."""
  spec = ClassTruth.uniform(-math.pi / 2, math.pi / 2, description="±90°")
  eta_true, labels = _known_truth_data(spec, 40)
  rng = np.random.default_rng(6)
  oracle = _oracle_sgm(eta_true, spec)

  def exploding(i, k):
    out = oracle._sample(i, k).copy()  # [k, images, 5]
    out[0, :, 0] = 1e20  # the first draw of every image leaves the canvas
    out[1, :2, 2] = np.nan  # and two images get a non-finite rotation
    return out

  result = _recover(FakeSGM(lambda i: eta_true[i], exploding), eta_true, labels, spec)
  assert result["stray_fraction"] == pytest.approx(1 / 100, abs=1e-3)
  assert result["classes"][0]["stray_fraction"] == result["stray_fraction"]
  assert math.isfinite(result["classes"][0]["rotation"]["w1"])
  assert math.isfinite(result["classes"][0]["resultant"])
  assert result["classes"][0]["tx"]["w1"] > 1e15  # absurd but finite poses weigh on W1
  assert truth.stray(np.array([[0.1, -0.2, 3.0, 0.3, -1.0], [0.0, 0.0, 0.0, 0.0, 1.5],
                               [2.5, 0.0, 0.0, 0.0, 0.0], [np.nan] * 5])).tolist() == [
                                   False, True, True, True]
  clean = _recover(_oracle_sgm(eta_true, spec), eta_true, labels, spec)
  assert clean["stray_fraction"] == 0.0


# -- the rotation seen in the pixels (3) ---------------------------------------------------------

def _glyphs(n, glyph=0, size=28, seed=5):
  """n renders of an asymmetric glyph ("F" for glyph 0), float32 `[n, size, size, 1]`."""
  from inv_tf.data import known_truth
  rng = np.random.default_rng(seed)
  x = known_truth.render_glyphs(np.full(n, glyph), rng.uniform(size=(n, known_truth.NUM_NUISANCE)),
                                size)
  return np.asarray(x, np.float32).reshape(n, size, size, 1)


def _turned(x, angles, tx=0.0, log_scale=0.0):
  """x turned by `angles` `[n, B]` (as a rotation η turns it), moved by tx and scaled."""
  n, batch = angles.shape
  eta = np.zeros((n, batch, 5), np.float32)
  eta[..., 2], eta[..., 0], eta[..., 3:] = angles, tx, log_scale
  t = transforms.Transform.from_eta(tf.constant(eta.reshape(-1, 5)), FAMILY)
  out = t.apply(tf.tile(tf.constant(x), [n, 1, 1, 1]), order=1)
  return tf.reshape(out, (n,) + x.shape)


def test_visible_rotation_reads_the_turn_of_an_asymmetric_glyph():
  x = _glyphs(4)
  angles = np.array([[0.3, -2.9, 3.05, 1.2], [-0.7, np.pi, 0.0, -1.6]])
  alpha = truth.visible_rotation(x, _turned(x, angles, tx=0.1, log_scale=0.15))
  error = np.angle(np.exp(1j * (alpha - angles.T)))
  assert np.max(np.abs(error)) < 0.05, error


def test_visible_rotation_forgives_a_half_turn_only_where_it_does_not_show():
  f = _glyphs(3)
  symmetric = np.maximum(f, f[:, ::-1, ::-1])       # "F" with its own half turn: R_π x = x
  half = np.full((1, 3), np.pi)
  on_f = truth.visible_rotation(f, _turned(f, half))
  on_symmetric = truth.visible_rotation(symmetric, _turned(symmetric, half))
  assert np.all(np.abs(np.abs(on_f) - np.pi) < 0.05), on_f              # a flip that shows
  assert np.all(np.abs(on_symmetric) < 0.05), on_symmetric              # one that does not


class _TurningSGM:
  """`resample` turns each image by angles drawn from `draw(n, batch)`."""

  def __init__(self, draw):
    self.draw = draw

  def resample(self, x, n, seed):
    angles = self.draw(n, int(x.shape[0]))
    return _turned(np.asarray(x), angles), None


def test_visible_spread_scores_identity_wide_and_truthful_models_apart():
  upright = ClassTruth.fixed(0.0, description="upright")
  half_turns = ClassTruth.uniform(-np.pi / 2, np.pi / 2, description="U(±90°)")
  n_img, n = 8, 40
  x = _glyphs(n_img)
  labels = np.array([0] * 4 + [1] * 4)
  eta_true = np.zeros((n_img, 5))
  rng = np.random.default_rng(0)
  models = {"identity": lambda k, b: np.zeros((k, b)),
            "wide": lambda k, b: rng.uniform(-np.pi, np.pi, (k, b)),
            "truth": lambda k, b: np.where(labels[None, :b] == 1,
                                           rng.uniform(-np.pi / 2, np.pi / 2, (k, b)), 0.0)}
  scores = {}
  for name, draw in models.items():
    alpha = truth.resample_visible_rotations(_TurningSGM(draw), x, n, batch_size=8)
    poses = np.zeros((n_img, n, 5))
    poses[..., 2] = alpha
    scores[name] = truth.orbit_recovery(poses, eta_true, labels, {0: upright, 1: half_turns},
                                        visible_rotations=alpha)
  assert scores["identity"]["visible_upright_resultant_min"] > 0.99
  assert scores["identity"]["visible_width_rel_error_max"] > 0.9   # the ±90° class never turns
  assert scores["wide"]["visible_upright_resultant_min"] < 0.4      # upright glyphs spun round
  assert scores["truth"]["visible_upright_resultant_min"] > 0.99
  assert scores["truth"]["visible_width_rel_error_max"] < 0.15
  assert scores["truth"]["classes"][1]["rotation_visible_w1"] < 0.2
