"""Tests for inv_tf.training.losses (the Gaussian blur stage 1 applies is in test_blur.py)."""

import math

import numpy as np
import pytest
import tensorflow as tf

from inv_tf import transforms
from inv_tf.config import Config, ConfigError
from inv_tf.models.inference import InferenceNet
from inv_tf.training import losses
from support import blobs


class _FixedPoseQ(tf.Module):
  """A q that returns the poses `etas` (point masses, one per row) whatever the images."""

  def __init__(self, etas):
    super().__init__()
    self.etas = etas

  def __call__(self, x, training=False):
    import tensorflow_probability as tfp
    return tfp.distributions.Independent(tfp.distributions.Normal(self.etas, 1e-9), 1)


def test_stage1_loss_is_near_zero_for_an_oracle_and_large_for_identity_q():
  """Oracle: q(T(x, η)) = η for a family with closed-form inverse — the composite is identity."""
  config = Config(family="rotation", n_samples=3, interpolation_order=3, inv_mult=0.0,
                  blur_sigma_init=0.0, bounds=(math.pi,))
  images = blobs(4)
  seed = tf.constant([1, 2], tf.int32)
  count = 4 * config.n_samples
  seeds = tf.random.experimental.stateless_split(seed, 3)
  eta_r1 = losses._uniform_eta([count, 1], seeds[0], config, 1.0)
  eta_r2 = losses._uniform_eta([count, 1], seeds[1], config, 1.0)
  oracle = _FixedPoseQ(tf.concat([eta_r1, eta_r2], 0))  # reads the augmentation back
  loss, metrics = losses.stage1_loss(oracle, images, seed, config)
  assert float(metrics["x_mse"]) < 1e-6

  identity_q = InferenceNet(1, bounds=(math.pi,), hidden_dims=(8,))
  loss_id, _ = losses.stage1_loss(identity_q, images, seed, config)
  assert float(loss_id) > 0.05


def test_stage1_loss_gradients_reach_every_q_variable_and_are_finite():
  config = Config(n_samples=2, inference_hidden_dims=(16,), blur_sigma_init=1.0)
  q = InferenceNet(5, bounds=config.resolved_bounds, hidden_dims=(16,))
  images = blobs(3)
  with tf.GradientTape() as tape:
    loss, metrics = losses.stage1_loss(q, images, tf.constant([0, 1]), config, blur_sigma=1.0)
  grads = tape.gradient(loss, q.trainable_variables)
  assert all(g is not None and np.all(np.isfinite(g.numpy())) for g in grads)
  assert set(metrics) == {"loss", "x_mse", "inv_mse", "anchor", "align", "eta_abs_mean"}
  np.testing.assert_allclose(float(loss), float(metrics["x_mse"]) + 0.1 * float(metrics["inv_mse"]),
                             rtol=1e-5)


@pytest.mark.parametrize("family,order", [("affine_no_shear", 1), ("affine_no_shear", 3),
                                          ("affine_no_shear_hsv", 1)])
def test_stage1_loss_matches_its_definition_on_repeated_copies(family, order):
  """x_mse and inv_mse equal the module docstring's formulas evaluated on tf.repeat(x, n) with
  the same draws: reading the sources by index (and the forward-only augmentation) changes
  nothing but float rounding."""
  config = Config(family=family, n_samples=3, interpolation_order=order, inv_mult=0.1,
                  blur_sigma_init=0.0)
  dim = config.event_dim
  colour = family.endswith("hsv")
  q = InferenceNet(dim, bounds=config.resolved_bounds, hidden_dims=(16,), init_sigma=0.1)
  images = blobs(2)
  if colour:  # three channels that differ, so hue and saturation are defined
    images = tf.concat([images, 0.5 * images - 0.2, -0.3 * images], axis=-1)
  q(images)
  q.mean_head.kernel.assign(tf.random.stateless_normal(q.mean_head.kernel.shape, [3, 4]) * 0.1)
  seed = tf.constant([5, 6], tf.int32)
  _, metrics = losses.stage1_loss(q, images, seed, config)

  copies = tf.repeat(images, 3, axis=0)
  seeds = tf.random.experimental.stateless_split(seed, 3)
  r1 = transforms.Transform.from_eta(losses._uniform_eta([6, dim], seeds[0], config, 1.0), family)
  r2 = transforms.Transform.from_eta(losses._uniform_eta([6, dim], seeds[1], config, 1.0), family)
  x_r1, x_r2 = r1.apply(copies, order=order), r2.apply(copies, order=order)
  eta_q1, eta_q2 = tf.split(q(tf.concat([x_r1, x_r2], 0)).sample(seed=seeds[2]), 2)
  q1 = transforms.Transform.from_eta(eta_q1, family)
  q2 = transforms.Transform.from_eta(eta_q2, family)
  composite = transforms.compose(r1, q1.inverse(), q2, r2.inverse()).apply(copies, order=order)
  x_mse = tf.reduce_mean(tf.square(copies - composite))
  round_trip = q1.inverse().apply(q1.apply(x_r1, order=order), order=order)
  inv_mse = tf.reduce_mean(tf.square(x_r1 - round_trip))
  np.testing.assert_allclose(float(metrics["x_mse"]), float(x_mse), rtol=1e-5)
  np.testing.assert_allclose(float(metrics["inv_mse"]), float(inv_mse), rtol=1e-5)
  # q moves the copies, so neither comparison is of zeros.
  assert float(x_mse) > 1e-3 and float(inv_mse) > 1e-6


def test_anchor_prefers_prototypes_in_the_datas_frame_and_leaves_invariance_alone():
  """An oracle q whose prototypes are turned by a constant c: invariant (x_mse ≈ 0) for every
  c, and the anchor is 1 − cos(c): 0 only for prototypes in the data's own orientation."""
  import tensorflow_probability as tfp
  config = Config(family="rotation", n_samples=2, interpolation_order=3, inv_mult=0.0,
                  blur_sigma_init=0.0, bounds=(math.pi,), anchor_mult=0.5)
  images = blobs(3)
  seed = tf.constant([5, 6], tf.int32)
  seeds = tf.random.experimental.stateless_split(seed, 3)
  eta_r1 = losses._uniform_eta([6, 1], seeds[0], config, 1.0)
  eta_r2 = losses._uniform_eta([6, 1], seeds[1], config, 1.0)

  def oracle(shift):
    etas = tf.concat([eta_r1, eta_r2], 0) + shift
    return lambda x, training=False: tfp.distributions.Independent(
        tfp.distributions.Normal(etas, 1e-9), 1)

  for shift in (0.0, 1.0, math.pi):
    loss, metrics = losses.stage1_loss(oracle(shift), images, seed, config)
    assert float(metrics["x_mse"]) < 1e-5
    assert float(metrics["anchor"]) == pytest.approx(1 - math.cos(shift), abs=1e-5)
    assert float(loss) == pytest.approx(float(metrics["x_mse"]) + 0.5 * float(metrics["anchor"]),
                                        rel=1e-5, abs=1e-7)
  with pytest.raises(ConfigError, match="anchor_mult"):
    Config(family="hsv", anchor_mult=0.1).validate()


def test_alignment_is_zero_for_a_shared_frame_and_penalises_per_image_frames():
  """Copies of one asymmetric image: an oracle q whose prototypes all share one frame (any common
  turn c) aligns them exactly (align ≈ 0) while staying invariant; prototypes turned by a
  different angle per image are misaligned (align > 0), and the term's gradient reaches only the
  rotation."""
  import tensorflow_probability as tfp
  config = Config(family="rotation", n_samples=1, interpolation_order=3, inv_mult=0.0,
                  blur_sigma_init=0.0, symmetrized_loss=False, bounds=(math.pi,), align_mult=2.0)
  images = tf.repeat(blobs(1), 4, axis=0)
  seed = tf.constant([3, 4], tf.int32)
  seeds = tf.random.experimental.stateless_split(seed, 3)
  eta_r1 = losses._uniform_eta([4, 1], seeds[0], config, 1.0)

  def oracle(turns):
    shift = tf.constant(turns, tf.float32)[:, None]
    etas = tf.concat([eta_r1 + shift, shift], 0)
    return lambda x, training=False: tfp.distributions.Independent(
        tfp.distributions.Normal(etas, 1e-9), 1)

  for turns in ([0.0] * 4, [1.0] * 4):
    _, metrics = losses.stage1_loss(oracle(turns), images, seed, config)
    assert float(metrics["x_mse"]) < 1e-5
    assert float(metrics["align"]) < 1e-3
  _, metrics = losses.stage1_loss(oracle([0.0, 0.8, -1.6, 2.4]), images, seed, config)
  assert float(metrics["x_mse"]) < 1e-5
  assert float(metrics["align"]) > 0.02
  assert float(metrics["loss"]) == pytest.approx(
      float(metrics["x_mse"]) + 2.0 * float(metrics["align"]), rel=1e-5)

  affine = Config(family="affine_no_shear", interpolation_order=3, align_mult=1.0)
  eta = tf.Variable(tf.zeros([3, 5]) + [0.1, -0.1, 0.5, 0.1, 0.0])
  r1 = transforms.Transform.from_eta(tf.zeros([3, 5]), affine.family)
  with tf.GradientTape() as tape:
    align = tf.reduce_mean(losses._alignment(blobs(3), r1, eta, affine, None))
  grad = tape.gradient(align, eta).numpy()
  assert np.all(grad[:, [0, 1, 3, 4]] == 0) and np.any(grad[:, 2] != 0)
  with pytest.raises(ConfigError, match="align_mult"):
    Config(family="hsv", align_mult=0.1).validate()


def test_stage1_loss_is_deterministic_given_seed():
  config = Config(n_samples=2, inference_hidden_dims=(16,))
  q = InferenceNet(5, bounds=config.resolved_bounds, hidden_dims=(16,))
  images = blobs(2)
  a = losses.stage1_loss(q, images, tf.constant([3, 4]), config)[0]
  b = losses.stage1_loss(q, images, tf.constant([3, 4]), config)[0]
  c = losses.stage1_loss(q, images, tf.constant([3, 5]), config)[0]
  assert float(a) == float(b)
  assert float(a) != float(c)


def test_stage2_loss_matches_its_definition():
  from inv_tf.models.generative import GenerativeNet
  config = Config(generative_n_samples=3, consistency_mult=0.5)
  q = InferenceNet(5, bounds=config.resolved_bounds, hidden_dims=(16,))
  p = GenerativeNet(5, bounds=config.resolved_bounds, hidden_dims=(16, 8), num_flows=2,
                    num_bins=3, conditioner_hidden_dims=(8,))
  images = blobs(2)
  loss, metrics = losses.stage2_loss(q, p, images, tf.constant([0, 0]), config, training=False)
  # Recompute: log_p per copy and the pairwise term.
  seeds = tf.random.experimental.stateless_split(tf.constant([0, 0]), 2)
  targets = q(images).sample(3, seed=seeds[0])
  targets = tf.reshape(tf.transpose(targets, [1, 0, 2]), [6, 5])
  x_hat = losses.prototypes_from_augmented(q, tf.repeat(images, 3, axis=0), seeds[1], config, 1.0)
  log_p = tf.reshape(p(x_hat).log_prob(targets), [2, 3]).numpy()
  consistency = np.abs(log_p[:, :, None] - log_p[:, None, :]).mean(axis=(1, 2))
  want = (-log_p.mean(1) + 0.5 * consistency).mean()
  np.testing.assert_allclose(float(loss), want, rtol=1e-5)
  np.testing.assert_allclose(float(metrics["log_p"]), log_p.mean(), rtol=1e-5)
  assert set(metrics) == {"loss", "log_p", "consistency"}
  np.testing.assert_allclose(float(metrics["consistency"]), consistency.mean(), rtol=1e-5)


def _copies_case(order):
  """(q with a non-zero mean head, 3 images, seed, config) for the copies=k tests."""
  config = Config(interpolation_order=order)
  q = InferenceNet(5, bounds=config.resolved_bounds, hidden_dims=(16,), init_sigma=0.1)
  q(blobs(1))
  # A non-zero mean head, so η_p (and hence the second warp) depends on the augmented copy.
  q.mean_head.kernel.assign(tf.random.stateless_normal(q.mean_head.kernel.shape, [1, 2]) * 0.1)
  return q, blobs(3), tf.constant([7, 8]), config


@pytest.mark.parametrize("order", [1, 3])
def test_prototypes_from_augmented_copies_equal_the_repeated_images(order):
  """copies=k reads the sources via image_index: same draws, same prototypes as k repeats."""
  q, images, seed, config = _copies_case(order)
  want = losses.prototypes_from_augmented(q, tf.repeat(images, 4, axis=0), seed, config, 1.0)
  got = losses.prototypes_from_augmented(q, images, seed, config, 1.0, copies=4)
  assert got.shape == want.shape == (12, 24, 24, 1)
  np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-5)
  with tf.GradientTape() as tape:  # Values only: nothing reaches q (or the images).
    tape.watch(images)
    x_hat = losses.prototypes_from_augmented(q, images, seed, config, 1.0, copies=4)
  assert all(g is None for g in tape.gradient(x_hat, q.trainable_variables + [images]))


@pytest.mark.slow  # two XLA compiles per order
@pytest.mark.parametrize("order", [1, 3])
def test_prototypes_from_augmented_copies_equal_the_repeated_images_under_xla(order):
  """The same under XLA, whose stateless random streams differ from the eager kernels'."""
  q, images, seed, config = _copies_case(order)
  jit = lambda f: tf.function(f, jit_compile=True, autograph=False)
  want = jit(lambda x: losses.prototypes_from_augmented(q, tf.repeat(x, 4, axis=0), seed, config,
                                                        1.0))(images)
  got = jit(lambda x: losses.prototypes_from_augmented(q, x, seed, config, 1.0, copies=4))(images)
  np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-5)


def test_prototypes_from_augmented_undo_the_augmentation_for_an_identity_q():
  """With q ≡ identity (zero-initialised head), x̂ = warp(x, M(η_r)) — the augmented copy."""
  config = Config(family="rotation", bounds=(1.0,))
  q = InferenceNet(1, bounds=(1.0,), hidden_dims=(4,), init_sigma=1e-6)
  images = blobs(3)
  seed = tf.constant([5, 6])
  x_hat = losses.prototypes_from_augmented(q, images, seed, config, 1.0)
  eta_r = losses._uniform_eta([3, 1], tf.random.experimental.stateless_split(seed, 2)[0], config,
                              1.0)
  want = transforms.transform_images(images, eta_r, "rotation")
  np.testing.assert_allclose(x_hat.numpy(), want.numpy(), atol=1e-3)


def _round_trip(family, bounds, pose_scale, batch=64, seed=(3, 4)):
  """(x, x̂, round-trip η, M(η_p) M(η_r)⁻¹) for a q with a random fixed pose per image."""
  config = Config(family=family, bounds=bounds, interpolation_order=3)
  images = tf.repeat(blobs(4), batch // 4, axis=0)
  rng = np.random.default_rng(0)
  q = _FixedPoseQ(tf.constant(rng.uniform(-1, 1, (batch, len(bounds))) * pose_scale, tf.float32))
  seed = tf.constant(seed)
  x_hat, back = losses.prototypes_from_augmented(q, images, seed, config, 1.0,
                                                 with_round_trip=True)
  eta = transforms.affine_log(back, family)
  eta_r = losses._uniform_eta([batch, len(bounds)],
                              tf.random.experimental.stateless_split(seed, 2)[0], config, 1.0)
  want = (transforms.affine_matrix(q(images).mean(), family)
          @ tf.linalg.inv(transforms.affine_matrix(eta_r, family)))
  return images, x_hat, eta, want, q


def test_round_trip_target_is_the_pose_that_maps_the_prototype_back_to_x():
  """M(η) = M(η_p) M(η_r)⁻¹, so warp(x̂, M(η)) = x: exactly for the full affine family (unless
  that product has no real logarithm), in pixels for rotations; the paper's target (q's pose of
  x) does not map x̂ back when q is not equivariant."""
  _, _, eta, want, _ = _round_trip("affine", (0.2, 0.2, math.pi, 0.2, 0.2, 0.1),
                                   [0.1, 0.1, 2.0, 0.1, 0.1, 0.05])
  got = transforms.affine_matrix(eta, "affine").numpy()
  a = want.numpy()[:, :2, :2]
  real_log = ~((np.trace(a, axis1=1, axis2=2) < 0) & (np.trace(a, axis1=1, axis2=2) ** 2 / 4
                                                     > np.linalg.det(a)))
  assert real_log.mean() > 0.8
  np.testing.assert_allclose(got[real_log], want.numpy()[real_log], atol=2e-4)
  assert np.isfinite(got).all()

  images, x_hat, eta, _, q = _round_trip("rotation", (math.pi,), [2.0], batch=8)
  back = transforms.transform_images(x_hat, eta, "rotation", order=3).numpy()
  paper = transforms.transform_images(x_hat, q(images).mean(), "rotation", order=3).numpy()
  inner = (slice(None), slice(6, 18), slice(6, 18))
  error = np.abs(back - images.numpy())[inner].max(axis=(1, 2, 3))
  paper_error = np.abs(paper - images.numpy())[inner].max(axis=(1, 2, 3))
  assert np.median(error) < 0.15 and np.median(paper_error) > 0.5  # 0.15: two cubic warps


def test_round_trip_target_of_a_sub_family_is_close_when_its_scales_are_small():
  """affine_no_shear cannot hold the shear that rotations and unequal scales compose to; its
  round-trip η is the projection: finite, and within 0.1 of the product's matrix at small scales
  (but near a half turn, where the product may have no real logarithm)."""
  _, _, eta, want, _ = _round_trip("affine_no_shear", (0.2, 0.2, math.pi, 0.1, 0.1),
                                   [0.1, 0.1, 2.0, 0.05, 0.05])
  got = transforms.affine_matrix(eta, "affine_no_shear").numpy()
  error = np.abs(got - want.numpy()).max(axis=(1, 2))
  assert np.isfinite(error).all() and np.quantile(error, 0.9) < 0.1


def test_round_trip_target_is_q_of_x_for_an_equivariant_q():
  """q(T(x, η_r)) = η_q ∘ η_r exactly (rotations compose by adding): the round-trip target is
  q's pose of x, so the option changes nothing for an equivariant q."""
  config = Config(family="rotation", bounds=(math.pi,), interpolation_order=1)
  images = blobs(5)
  pose = tf.constant([[0.3], [-1.0], [2.0], [0.0], [-2.5]], tf.float32)
  seed = tf.constant([7, 8])
  eta_r = losses._uniform_eta([5, 1], tf.random.experimental.stateless_split(seed, 2)[0], config,
                              1.0)
  q = _FixedPoseQ(pose + eta_r)  # the pose of T(x, η_r) for an equivariant q
  _, back = losses.prototypes_from_augmented(q, images, seed, config, 1.0, with_round_trip=True)
  for eta in (transforms.affine_log(back, "rotation"),
              losses.round_trip_rotation_target(pose, back, "rotation")):
    np.testing.assert_allclose(np.angle(np.exp(1j * (eta.numpy() - pose.numpy()))), 0.0,
                               atol=1e-5)


def test_round_trip_rotation_target_moves_only_the_rotation():
  """Rotation family: θ_q + δ is the round trip's own angle (mod 2π), whatever q's sample was.
  With scales: translation and scales stay q's, and δ is the angle of the residual
  A(M(η_p) M(η_r)⁻¹) A(M(η_q))⁻¹ — finite even near half turns with unequal scales."""
  _, _, rt_eta, want, _ = _round_trip("rotation", (math.pi,), [2.0], batch=16)
  eta_q = tf.constant(np.linspace(-3, 3, 16)[:, None], tf.float32)
  target = losses.round_trip_rotation_target(eta_q, want, "rotation").numpy()
  assert np.all(np.abs(target) <= math.pi + 1e-6)
  np.testing.assert_allclose(np.angle(np.exp(1j * (target - rt_eta.numpy()))), 0.0, atol=1e-4)

  bounds = (0.2, 0.2, math.pi, 0.4, 0.4)
  _, _, _, want, _ = _round_trip("affine_no_shear", bounds, [0.1, 0.1, 3.0, 0.4, 0.4])
  rng = np.random.default_rng(1)
  eta_q = tf.constant(rng.uniform(-1, 1, (want.shape[0], 5)) * bounds, tf.float32)
  target = losses.round_trip_rotation_target(eta_q, want, "affine_no_shear").numpy()
  assert np.isfinite(target).all()
  np.testing.assert_array_equal(np.delete(target, 2, axis=1), np.delete(eta_q.numpy(), 2, axis=1))
  a_q = transforms.affine_matrix(eta_q, "affine_no_shear").numpy()[:, :2, :2]
  residual = want.numpy()[:, :2, :2] @ np.linalg.inv(a_q)
  delta = np.arctan2(residual[:, 1, 0] - residual[:, 0, 1], residual[:, 0, 0] + residual[:, 1, 1])
  assert np.abs(delta).max() > 1.0  # the test reaches large errors, not only near-identities
  np.testing.assert_allclose(np.angle(np.exp(1j * (target[:, 2] - eta_q.numpy()[:, 2] - delta))),
                             0.0, atol=1e-4)


@pytest.mark.parametrize("target", ["round_trip", "round_trip_rotation"])
def test_stage2_loss_with_round_trip_targets_is_finite_and_reaches_p(target):
  from inv_tf.models.generative import GenerativeNet  # pylint: disable=g-import-not-at-top
  config = Config(generative_target=target, generative_n_samples=2)
  q = InferenceNet(5, bounds=config.resolved_bounds, hidden_dims=(8,))
  p = GenerativeNet(5, bounds=config.resolved_bounds, hidden_dims=(16, 8), num_flows=2,
                    num_bins=3, conditioner_hidden_dims=(8,))
  with tf.GradientTape() as tape:
    loss, metrics = losses.stage2_loss(q, p, blobs(3), tf.constant([1, 1]), config)
  grads = tape.gradient(loss, p.trainable_variables)
  assert np.isfinite(float(loss)) and all(g is not None for g in grads)


@pytest.mark.parametrize("target", ["round_trip", "round_trip_rotation"])
def test_round_trip_needs_a_family_without_colour(target):
  with pytest.raises(ConfigError, match=f"generative_target: {target} needs a family without"):
    Config(family="affine_no_shear_hsv", generative_target=target).validate()


def _bar_and_ell(size=24):
  """A straight bar (its own half turn) and an L (not), centred, on a -1 background."""
  ys, xs = np.meshgrid(np.linspace(-1, 1, size), np.linspace(-1, 1, size), indexing="ij")
  bar = np.where((np.abs(xs) <= 0.12) & (np.abs(ys) <= 0.6), 1.0, -1.0)
  ell = np.where(((np.abs(xs + 0.3) <= 0.1) & (np.abs(ys) <= 0.6))
                 | ((np.abs(ys - 0.5) <= 0.1) & (xs >= -0.4) & (xs <= 0.4)), 1.0, -1.0)
  return tf.constant(np.stack([bar, ell])[..., None], tf.float32)


def test_half_turn_fold_turns_targets_of_symmetric_prototypes_the_short_way_only():
  """Poses θ near ±π of a bar (its own half turn) fold to θ ∓ π with the same matrix up to the
  half turn, M(folded) = M(η) R_π; the L's poses, and poses that already turn less, stay."""
  config = Config(family="affine_no_shear", interpolation_order=1, generative_fold="half_turn")
  images = _bar_and_ell()
  eta = tf.constant([[0.05, -0.03, 2.9, 0.1, 0.1],     # bar, near a half turn: folds
                     [0.05, -0.03, -3.0, 0.0, 0.0],    # bar, the other way: folds
                     [0.02, 0.0, 0.4, 0.0, 0.0],       # bar, small turn: stays
                     [0.05, -0.03, 2.9, 0.1, 0.1]],    # the L near a half turn: stays
                    tf.float32)
  index = tf.constant([0, 0, 0, 1])
  out, folded = losses.half_turn_fold(images, eta, config, image_index=index)
  np.testing.assert_array_equal(folded.numpy(), [1.0, 1.0, 0.0, 0.0])
  np.testing.assert_allclose(out.numpy()[2:], eta.numpy()[2:])
  np.testing.assert_allclose(out.numpy()[:2, 2], [2.9 - math.pi, -3.0 + math.pi], atol=1e-5)
  half_turn = np.diag([-1.0, -1.0, 1.0])
  want = transforms.affine_matrix(eta[:2], "affine_no_shear").numpy() @ half_turn
  np.testing.assert_allclose(transforms.affine_matrix(out[:2], "affine_no_shear").numpy(), want,
                             atol=1e-5)


def test_half_turn_fold_makes_split_frames_of_an_upright_symmetric_glyph_agree():
  """The failure the fold exists for: q's frames of an upright bar split between θ ≈ 0 and
  θ ≈ ±π, so the targets' R̄ is ≈ 0 though the data is upright. Folded, R̄ ≈ 1. The same
  split on the L (whose two ends differ) is real information and is kept."""
  config = Config(family="rotation", bounds=(math.pi,), interpolation_order=1,
                  generative_fold="half_turn")
  rng = np.random.default_rng(0)
  theta = rng.normal(0.0, 0.05, 64) + np.pi * (np.arange(64) % 2)
  theta = np.angle(np.exp(1j * theta))[:, None].astype(np.float32)
  images = _bar_and_ell()
  r_bar = lambda t: abs(np.mean(np.exp(1j * t)))
  for image, folds in ((0, True), (1, False)):
    index = tf.fill([64], image)
    out, folded = losses.half_turn_fold(images, tf.constant(theta), config, image_index=index)
    assert r_bar(theta[:, 0]) < 0.1
    if folds:
      assert r_bar(out.numpy()[:, 0]) > 0.99 and folded.numpy().mean() == 0.5
    else:
      np.testing.assert_array_equal(out.numpy(), theta)


def test_stage2_loss_with_the_half_turn_fold_reports_the_folded_share():
  from inv_tf.models.generative import GenerativeNet  # pylint: disable=g-import-not-at-top
  config = Config(generative_fold="half_turn", generative_n_samples=2)
  q = InferenceNet(5, bounds=config.resolved_bounds, hidden_dims=(8,))
  p = GenerativeNet(5, bounds=config.resolved_bounds, hidden_dims=(16, 8), num_flows=2,
                    num_bins=3, conditioner_hidden_dims=(8,))
  with tf.GradientTape() as tape:
    loss, metrics = losses.stage2_loss(q, p, _bar_and_ell(), tf.constant([1, 1]), config)
  grads = tape.gradient(loss, p.trainable_variables)
  assert np.isfinite(float(loss)) and all(g is not None for g in grads)
  assert 0.0 <= float(metrics["folded"]) <= 1.0
  _, plain = losses.stage2_loss(q, p, _bar_and_ell(), tf.constant([1, 1]),
                                config.replace(generative_fold="none"))
  assert "folded" not in plain


def test_half_turn_fold_needs_a_family_with_a_rotation():
  with pytest.raises(ConfigError, match="generative_fold: half_turn needs a family with a rotation"):
    Config(family="hsv", generative_fold="half_turn").validate()
  with pytest.raises(ConfigError, match="generative_fold_threshold"):
    Config(generative_fold_threshold=1.5).validate()
