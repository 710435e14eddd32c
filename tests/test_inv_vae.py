"""Tests for inv_tf.models.inv_vae (the InvVAE: a VAE over prototypes plus a frozen SGM).

The SGM is tiny and untrained, but its q(η|x) is made input-dependent and broad (a seeded random
mean head, σ = 0.1 in units of the bounds), so prototypes, η samples and the two bounds are not
trivial. The VAE is trained for a few steps through `vae_train.make_train_step` (the real compiled
InvVAE train step), which also shows that a train step leaves the SGM untouched.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy import special

from inv_tf import transforms
from inv_tf.config import Config
from inv_tf.models.inv_vae import InvVAE
from inv_tf.models.sgm import SGM
from inv_tf.models.vae import VAE
from inv_tf.training import vae_train
from support import smoke_jit_compile

SHAPE = (16, 16, 1)
SGM_TINY = dict(inference_hidden_dims=(16,), generative_hidden_dims=(16, 8), num_flows=2,
                num_bins=3, conditioner_hidden_dims=(8,), interpolation_order=1)
VAE_TINY = dict(latent_dim=4, vae_conv_dims=(8,), vae_dense_dims=(16,))
TRAIN_STEPS = 12
SEED = tf.constant([5, 9], tf.int32)
TERMS = ("log_px", "log_pz", "log_p_eta", "log_q_eta", "log_qz", "w", "log_p_xhat",
         "log_p_eta_ref", "w_ref")


def _images(batch=8, seed=0):
  """Float32 [-1, 1] 16×16 images: a bright off-centre square of random size and intensity."""
  rng = np.random.default_rng(seed)
  h, w, _ = SHAPE
  x = np.full((batch,) + SHAPE, -1.0, np.float32)
  for b in range(batch):
    size = rng.integers(4, 8)
    top, left = rng.integers(2, h - size - 1), rng.integers(2, w - size - 1)
    x[b, top:top + size, left:left + size] = rng.uniform(0.0, 1.0)
  return tf.constant(x)


def _normal_logpdf(x, loc, scale):
  return -0.5 * ((x - loc) / scale) ** 2 - np.log(scale) - 0.5 * np.log(2 * np.pi)


def _make_sgm():
  config = Config(**SGM_TINY)
  sgm = SGM(config, SHAPE)
  rng = np.random.default_rng(1)
  head = sgm.inference.mean_head
  head.kernel.assign(rng.normal(0.0, 0.3, head.kernel.shape).astype(np.float32))
  sgm.inference.sigma_raw.assign(np.full([config.event_dim], np.log(np.expm1(0.1)), np.float32))
  return sgm


def _warp(model, images, eta, inverse=False):
  t = transforms.Transform.from_eta(eta, model.sgm.family)
  return (t.inverse() if inverse else t).apply(images, order=SGM_TINY["interpolation_order"])


@pytest.fixture(scope="module")
def trained():
  """(InvVAE after TRAIN_STEPS compiled train steps, the SGM's and VAE's values before, images)."""
  keras.utils.set_random_seed(0)
  sgm = _make_sgm()
  config = Config(model="invvae", sgm_dir="unused", vae_steps=TRAIN_STEPS, vae_lr=3e-3,
                  jit_compile=smoke_jit_compile(), **SGM_TINY, **VAE_TINY)
  state = vae_train.create_vae_state(config, SHAPE)
  model = InvVAE(state.vae, sgm)
  sgm_before = [v.numpy().copy() for v in sgm.variables]
  vae_before = [v.numpy().copy() for v in state.vae.variables]
  step_fn = vae_train.make_train_step(state, model, config, sgm)
  x = _images(16)
  losses = [float(step_fn(x, tf.constant(i, tf.int64))["loss"]) for i in range(TRAIN_STEPS)]
  assert all(np.isfinite(losses)), losses
  return model, sgm_before, vae_before, x


# ---------------------------------------------------------------------------------------------
# Construction, shapes, variables.


def test_shapes_and_dtypes_of_every_method(trained):
  model, _, _, x = trained
  x = x[:4]
  terms = model.log_weight_terms(x, SEED, 3)
  assert set(terms) == set(TERMS)
  for name, value in terms.items():
    assert value.shape == (3, 4) and value.dtype == tf.float32, name
    assert np.all(np.isfinite(value.numpy())), name
  out = model.elbo(x, SEED)
  assert set(out) == {"elbo", "log_likelihood", "kl", "log_p_eta", "log_q_eta", "ref_elbo"}
  for name, value in out.items():
    assert value.shape == (4,) and value.dtype == tf.float32, name
  for reference in (False, True):
    bound = model.iwlb(x, 5, SEED, chunk_size=2, reference=reference)
    assert bound.shape == (4,) and bound.dtype == tf.float32
    assert np.all(np.isfinite(bound.numpy()))
  for images in (model.reconstruct(x), model(x)):
    assert images.shape == (4,) + SHAPE and images.dtype == tf.float32
  images = model.sample(3, SEED)
  assert images.shape == (3,) + SHAPE and images.dtype == tf.float32
  assert model.image_shape == SHAPE


def test_image_shapes_of_vae_and_sgm_must_agree():
  with pytest.raises(ValueError, match="image shape"):
    InvVAE(VAE((12, 12, 1), latent_dim=2, conv_dims=(4,), dense_dims=(4,)), _make_sgm())


def test_variables_are_the_vae_and_sgm_variables_and_only_the_vae_is_trained(trained):
  model, _, _, _ = trained
  vae_ids = {id(v) for v in model.vae.variables}
  sgm_ids = {id(v) for v in model.sgm.variables}
  assert vae_ids.isdisjoint(sgm_ids)
  # The export tracks list(model.variables): it must hold the SGM's variables too.
  assert {id(v) for v in model.variables} == vae_ids | sgm_ids
  assert len(model.variables) == len(vae_ids) + len(sgm_ids)
  assert [id(v) for v in model.trainable_vae_variables] == [
      id(v) for v in model.vae.trainable_variables]


# ---------------------------------------------------------------------------------------------
# The log weights, term by term.


def test_log_weights_are_the_signed_sums_of_their_terms(trained):
  model, _, _, x = trained
  t = {k: v.numpy() for k, v in model.log_weight_terms(x[:6], SEED, 4).items()}
  w = t["log_px"] + t["log_pz"] + t["log_p_eta"] - t["log_q_eta"] - t["log_qz"]
  w_ref = t["log_p_xhat"] + t["log_pz"] + t["log_p_eta_ref"] - t["log_q_eta"] - t["log_qz"]
  np.testing.assert_allclose(t["w"], w, rtol=1e-6, atol=1e-3)
  np.testing.assert_allclose(t["w_ref"], w_ref, rtol=1e-6, atol=1e-3)
  # The two variants share η, z and q, but score different things.
  assert not np.allclose(t["log_px"], t["log_p_xhat"], rtol=0, atol=1e-2)


def test_every_term_matches_a_hand_computation_with_the_same_eta_and_z(trained):
  model, _, _, x = trained
  k, x = 3, x[:5]
  batch = x.shape[0]
  terms = {name: v.numpy() for name, v in model.log_weight_terms(x, SEED, k).items()}
  # Redo the sampling of log_weight_terms with the same seeds: η ~ q(η|x), x̂ = T(x, η)⁻¹,
  # z ~ q(z|x̂), m = decoder mean of z; sample j of image b is row j·B + b.
  seed_eta, seed_z = tf.unstack(tf.random.experimental.stateless_split(SEED, 2))
  q_eta = model.sgm.inference(x)
  eta = q_eta.sample(k, seed=seed_eta)
  flat_eta = tf.reshape(eta, [k * batch, -1])
  tiled_x = tf.tile(x, [k, 1, 1, 1])
  x_hat = _warp(model, tiled_x, flat_eta, inverse=True)
  q_z = model.vae.encode(x_hat)
  z = q_z.sample(seed=seed_z)
  m = model.vae._decoder_mean(z)
  x_mean = _warp(model, m, flat_eta).numpy()
  sigma = model.vae.pixel_scale.numpy()
  assert 0.01 <= sigma.min() and np.ptp(x_mean) > 0.1  # a real mean image, a real scale

  def per_image(v):
    return np.reshape(v, [k, batch])

  log_px = _normal_logpdf(tiled_x.numpy(), x_mean, sigma).sum(axis=(1, 2, 3))
  np.testing.assert_allclose(terms["log_px"], per_image(log_px), rtol=1e-5, atol=1e-2)
  log_p_xhat = _normal_logpdf(x_hat.numpy(), m.numpy(), sigma).sum(axis=(1, 2, 3))
  np.testing.assert_allclose(terms["log_p_xhat"], per_image(log_p_xhat), rtol=1e-5, atol=1e-2)
  # The mean of p(x|·) is the TRANSFORMED prototype mean, not m itself.
  assert not np.allclose(x_mean, m.numpy(), atol=1e-2)
  np.testing.assert_allclose(terms["log_q_eta"], q_eta.log_prob(eta).numpy(), rtol=1e-5,
                             atol=1e-3)
  np.testing.assert_allclose(terms["log_qz"], per_image(q_z.log_prob(z).numpy()), rtol=1e-5,
                             atol=1e-3)
  np.testing.assert_allclose(terms["log_pz"], per_image(model.vae.prior().log_prob(z).numpy()),
                             rtol=1e-5, atol=1e-3)
  # p(η|·) is conditioned on the decoder mean m (pixel bound) or on x̂ (reference variant).
  np.testing.assert_allclose(terms["log_p_eta"],
                             per_image(model.sgm.log_prob_eta(m, flat_eta).numpy()), rtol=1e-5,
                             atol=1e-3)
  np.testing.assert_allclose(terms["log_p_eta_ref"],
                             per_image(model.sgm.log_prob_eta(x_hat, flat_eta).numpy()),
                             rtol=1e-5, atol=1e-3)


def test_elbo_is_the_single_sample_log_weight(trained):
  model, _, _, x = trained
  x = x[:6]
  out = {k: v.numpy() for k, v in model.elbo(x, SEED).items()}
  t = {k: v.numpy()[0] for k, v in model.log_weight_terms(x, SEED, 1).items()}
  np.testing.assert_array_equal(out["elbo"], t["w"])
  np.testing.assert_array_equal(out["ref_elbo"], t["w_ref"])
  np.testing.assert_array_equal(out["log_likelihood"], t["log_px"])
  np.testing.assert_array_equal(out["log_p_eta"], t["log_p_eta"])
  np.testing.assert_array_equal(out["log_q_eta"], t["log_q_eta"])
  np.testing.assert_allclose(out["kl"], t["log_qz"] - t["log_pz"], rtol=1e-6, atol=1e-5)
  np.testing.assert_allclose(
      out["elbo"], out["log_likelihood"] - out["kl"] + out["log_p_eta"] - out["log_q_eta"],
      rtol=1e-6, atol=1e-3)


def test_iwlb_is_the_log_mean_weight_of_its_chunks(trained):
  model, _, _, x = trained
  x = x[:6]

  def chunk_weights(chunk, k, key):
    seed = tf.random.experimental.stateless_fold_in(SEED, chunk)
    return model.log_weight_terms(x, seed, k)[key].numpy()

  for reference, key in ((False, "w"), (True, "w_ref")):
    np.testing.assert_allclose(model.iwlb(x, 1, SEED, reference=reference).numpy(),
                               chunk_weights(0, 1, key)[0], rtol=1e-6, atol=1e-3)
    # K = 7 in chunks of 4: chunk c draws its samples with fold_in(seed, c).
    weights = np.concatenate([chunk_weights(0, 4, key), chunk_weights(1, 3, key)])
    want = special.logsumexp(weights, axis=0) - np.log(7)
    got = model.iwlb(x, 7, SEED, chunk_size=4, reference=reference).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-3)
  # Deterministic given the seed; another seed draws other samples.
  a = model.iwlb(x, 7, SEED, chunk_size=4).numpy()
  np.testing.assert_array_equal(a, model.iwlb(x, 7, SEED, chunk_size=4).numpy())
  assert not np.allclose(a, model.iwlb(x, 7, tf.constant([5, 10]), chunk_size=4).numpy())


@pytest.mark.slow  # statistical: many ELBO/IWLB draws
def test_iwlb_exceeds_elbo_and_grows_with_k(trained):
  model, _, _, x = trained
  x = x[:8]
  seeds = [tf.constant([s, 21], tf.int32) for s in range(4)]
  elbo = np.mean([model.elbo(x, s)["elbo"].numpy() for s in seeds])
  iw = {k: np.mean([model.iwlb(x, k, s, chunk_size=50).numpy() for s in seeds])
        for k in (1, 10, 50)}
  # Monotone in K only in expectation; averaged over 8 images × 4 seeds. Measured: ELBO −388,
  # IWLB_1 −395 (both one-sample estimates: they differ by noise), IWLB_10 −369, IWLB_50 −362
  # nats, so the gaps are ~26 and ~6 nats; 0.5 nats of slack is far below them and far above
  # float32 round-off.
  tol = 0.5
  assert iw[10] >= iw[1] - tol and iw[50] >= iw[10] - tol, iw
  assert iw[50] > elbo + 1.0, (iw, elbo)
  assert iw[10] > elbo, (iw, elbo)


def test_reference_bound_differs_from_the_pixel_space_bound(trained):
  model, _, _, x = trained
  x = x[:8]
  pixel = model.iwlb(x, 10, SEED).numpy()
  reference = model.iwlb(x, 10, SEED, reference=True).numpy()
  assert np.all(np.isfinite(pixel)) and np.all(np.isfinite(reference))
  # Same η and z samples, but x vs x̂ under the likelihood and p(η|m) vs p(η|x̂): every image's
  # value differs by far more than round-off.
  assert np.all(np.abs(pixel - reference) > 0.1), (pixel, reference)


def test_reconstruct_and_sample_are_transformed_vae_outputs(trained):
  model, _, _, x = trained
  x = x[:4]
  proto = model.sgm.prototype(x)
  x_hat, eta = proto["x_hat"], proto["eta"]
  assert np.abs(eta.numpy()).max() > 0.05  # q is not the identity here
  want = _warp(model, model.vae.reconstruct(x_hat), eta)
  np.testing.assert_allclose(model.reconstruct(x).numpy(), want.numpy(), rtol=1e-5, atol=1e-5)
  seed_z, seed_eta = tf.unstack(tf.random.experimental.stateless_split(SEED, 2))
  prototypes = model.vae.sample(3, seed_z)
  eta_new = model.sgm.sample_eta(prototypes, 1, seed_eta)[0]
  samples = model.sample(3, SEED).numpy()
  np.testing.assert_allclose(samples, _warp(model, prototypes, eta_new).numpy(), rtol=1e-5,
                             atol=1e-5)
  np.testing.assert_array_equal(samples, model.sample(3, SEED).numpy())
  assert not np.allclose(samples, model.sample(3, tf.constant([6, 9])).numpy())


# ---------------------------------------------------------------------------------------------
# Training: gradients reach the VAE, the SGM stays frozen.


def test_train_steps_update_the_vae_and_leave_the_sgm_unchanged(trained):
  model, sgm_before, vae_before, _ = trained
  for before, var in zip(sgm_before, model.sgm.variables):
    np.testing.assert_array_equal(var.numpy(), before, err_msg=var.path)
  # Every VAE weight moved (the dropout seed streams of rate-0 blocks are never drawn from).
  weights = [(var, before) for before, var in zip(vae_before, model.vae.variables)
             if var.trainable]
  unchanged = [var.path for var, before in weights if np.array_equal(var.numpy(), before)]
  assert weights and not unchanged, unchanged


def test_gradients_of_negative_elbo_reach_every_vae_variable(trained):
  model, _, _, x = trained
  vae_vars = model.trainable_vae_variables
  sgm_vars = model.sgm.trainable_variables
  with tf.GradientTape(persistent=True) as tape:
    out = model.elbo(x[:8], SEED, training=True)
    loss = -tf.reduce_mean(out["elbo"])
    log_p_eta = tf.reduce_mean(out["log_p_eta"])
  for var, grad in zip(vae_vars, tape.gradient(loss, vae_vars)):
    assert grad is not None, var.path
    grad = tf.convert_to_tensor(grad).numpy()
    assert np.all(np.isfinite(grad)) and np.any(grad != 0), var.path
  # p(η|m(z)) is scored at the decoder's mean: its gradient passes THROUGH the frozen SGM into
  # the decoder (and the encoder, via z), which is what makes the InvVAE's decoder see it.
  grad = tape.gradient(log_p_eta, model.vae.dec_out.kernel)
  assert grad is not None and np.any(tf.convert_to_tensor(grad).numpy() != 0)
  # The SGM's variables are not among those a train step updates.
  assert {id(v) for v in vae_vars}.isdisjoint({id(v) for v in sgm_vars})
  del tape


# ---------------------------------------------------------------------------------------------
# XLA.


@pytest.mark.slow  # one XLA compile of every method (the fixture's train step is compiled too)
def test_every_method_works_under_jit(trained):
  model, _, _, x = trained
  x = x[:4]

  @tf.function(jit_compile=True, autograph=False)
  def everything(x, seed):  # One compilation for all methods (XLA compiles take seconds here).
    out = dict(model.elbo(x, seed))
    out["iwlb"] = model.iwlb(x, 6, seed, chunk_size=4)
    out["ref_iwlb"] = model.iwlb(x, 6, seed, chunk_size=4, reference=True)
    out["reconstruct"] = model.reconstruct(x)
    out["sample"] = model.sample(3, seed)
    return out

  out = {k: v.numpy() for k, v in everything(x, SEED).items()}
  for key in ("elbo", "log_likelihood", "kl", "log_p_eta", "log_q_eta", "ref_elbo", "iwlb",
              "ref_iwlb"):
    assert out[key].shape == (4,) and np.all(np.isfinite(out[key])), key
  np.testing.assert_allclose(
      out["elbo"], out["log_likelihood"] - out["kl"] + out["log_p_eta"] - out["log_q_eta"],
      rtol=1e-5, atol=1e-2)
  assert out["sample"].shape == (3,) + SHAPE and np.all(np.isfinite(out["sample"]))
  # Deterministic given the seed.
  again = everything(x, SEED)
  for key, value in out.items():
    np.testing.assert_array_equal(value, again[key].numpy(), err_msg=key)
  # No randomness in reconstruct: XLA and eager agree.
  np.testing.assert_allclose(out["reconstruct"], model.reconstruct(x).numpy(), rtol=1e-4,
                             atol=1e-4)
