r"""Tests of `mixed_precision=True`: bfloat16 matmuls/convolutions, float32 everything else.

What is checked:

* Model structure. Under mixed precision every variable is float32; the Dense / Conv / LayerNorm
  layers of the MLP trunks, p's base head and the VAE's conv stacks compute in bfloat16; q's mean
  head, p's μ/σ layers, every layer of the spline flow, the VAE's posterior heads and output conv
  compute in float32; every output (distributions, samples, log-densities, images) is float32 and
  finite, in eager, under `tf.function(jit_compile=True)` and through the SavedModel export.
* Compatibility. A mixed model has the same variable names, shapes and order as a float32 one, so
  a float32 `tf.train.Checkpoint` restores into it (and back); with equal weights the two give
  the same numbers up to bfloat16 rounding.
* Training tracks float32. From identical weights, stage 1, stage 2 and the VAE are trained for 30
  steps with the library's compiled step builders in both modes on one fixed MNIST batch, and the
  loss curves are compared.

Tolerances of the training comparison (steps 20–29; measured values on TF 2.21 / XLA:CPU in
brackets). Two runs of the same optimiser drift apart from ANY perturbation the size of
bfloat16's rounding: in a one-off check with this set-up, float32 training started from the
float32 weights rounded to bfloat16 drifted from the float32 run as far as the mixed run did
(stage 1: max relative gap 1.74 % vs 1.74 %; stage 2: 0.77 vs 0.59 nats; VAE: 1.4 vs 0.6 nats).
The gap is this chaotic drift, not a bias, so the tolerances are 3–10× the measured gaps:

* stage 1 (a mean squared error ≈ 0.44, noisy from step to step because every step draws new
  augmentations): |Δ| ≤ 5 % of the float32 loss at every step [max 1.6 %], and the means of
  the ten steps within 1 % [0.18 %];
* stage 2 (−log p(η|x̂) in nats; it crosses zero, so a gap relative to the loss is meaningless):
  |Δ| ≤ 5 % of the float32 run's decrease L₀ − mean(L₂₀..₂₉) (≈ 54 nats) at every step [0.29
  nats = 0.53 %];
* VAE (−ELBO ≈ 810 nats): |Δ| ≤ 0.5 % of the float32 loss at every step [0.084 %].

Both curves must also decrease: the mean of the last ten losses below the mean of the first five.
"""

import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from inv_tf import data as data_lib
from inv_tf.config import Config
from inv_tf.export import saved_model
from inv_tf.models.generative import GenerativeNet
from inv_tf.models.inference import InferenceNet
from inv_tf.models.sgm import SGM
from inv_tf.models.vae import VAE
from inv_tf.training import checkpoints
from inv_tf.training import train as train_lib
from inv_tf.training import vae_train

SHAPE = (16, 16, 1)
STEPS = 30
TINY = Config(inference_hidden_dims=(64, 32), generative_hidden_dims=(64, 32),
              conditioner_hidden_dims=(16,), num_flows=2, num_bins=4, interpolation_order=1,
              n_samples=2, generative_n_samples=2, latent_dim=4, vae_conv_dims=(8, 16),
              vae_dense_dims=(32,), batch_size=16)
# The training comparison: 30 steps of each stage, a learning rate at which stage 1 visibly
# learns in 30 steps, no blur curriculum (it would make step 0's loss incomparable).
TRAIN = TINY.replace(inference_steps=STEPS, generative_steps=STEPS, vae_steps=STEPS,
                     inference_lr=3e-3, blur_sigma_init=0.0)
VAE_KW = dict(latent_dim=4, conv_dims=(8, 16), dense_dims=(32,))
SEED = tf.constant([3, 7], tf.int32)


def _images(batch=8, shape=SHAPE, seed=0):
  """float32 `[batch, *shape]` in [-1, 1]: a random patch on a -1 background."""
  rng = np.random.default_rng(seed)
  x = np.full((batch,) + shape, -1.0, np.float32)
  x[:, 4:-4, 4:-4] = rng.uniform(-1, 1, (batch, shape[0] - 8, shape[1] - 8, shape[2]))
  return tf.constant(x)


def _copy(dst, src):
  """Assigns src's variables to dst's (same names and shapes, in order)."""
  assert len(dst.variables) == len(src.variables)
  for a, b in zip(dst.variables, src.variables):
    assert (a.name, tuple(a.shape)) == (b.name, tuple(b.shape))
    a.assign(b)


def _signature(model):
  """(path, shape, dtype) of every variable; dropout seed-generator numbering is global, so it
  is normalised (a float32 model built second differs from the first in the same way)."""
  return [(re.sub(r"seed_generator_\d+", "seed_generator", v.path), tuple(v.shape), v.dtype)
          for v in model.variables]


def _check_float_variables(model):
  floats = [v for v in model.variables if tf.as_dtype(v.dtype).is_floating]
  assert floats and all(v.dtype == "float32" for v in floats)


def _sub_layers(layer):
  """Every nested sub-layer (Keras' recursive walk; there is no public equivalent)."""
  return list(layer._flatten_layers(include_self=False))


def _finite32(*tensors):
  for t in tensors:
    assert t.dtype == tf.float32, t.dtype
    assert np.all(np.isfinite(t.numpy()))


@pytest.fixture(scope="module")
def sgm_pair():
  """(float32 SGM, mixed SGM) with equal weights, 16×16×1."""
  keras.utils.set_random_seed(0)
  f32 = SGM(TINY, SHAPE)
  mixed = SGM(TINY.replace(mixed_precision=True), SHAPE)
  _copy(mixed, f32)
  return f32, mixed


@pytest.fixture(scope="module")
def vae_pair():
  """(float32 VAE, mixed VAE) with equal weights, 16×16×1."""
  keras.utils.set_random_seed(1)
  f32 = VAE(SHAPE, name="vae", **VAE_KW)
  mixed = VAE(SHAPE, name="vae", mixed_precision=True, **VAE_KW)
  _copy(mixed, f32)
  return f32, mixed


# ---------------------------------------------------------------------------------------------
# Structure: which layer computes in which dtype.


def test_default_models_have_no_bfloat16_layer(sgm_pair, vae_pair):
  for model in (sgm_pair[0], vae_pair[0]):
    assert all(l.compute_dtype == "float32" for l in _sub_layers(model))
  assert not sgm_pair[0].inference.mixed_precision and not vae_pair[0].mixed_precision


def test_mixed_sgm_layers_compute_dtypes(sgm_pair):
  _, sgm = sgm_pair
  q, p = sgm.inference, sgm.generative
  assert q.mixed_precision and p.mixed_precision
  _check_float_variables(sgm)
  for mlp in (q.trunk, p.trunk, p.head):
    assert mlp.dense and mlp.compute_dtype == "bfloat16"
    for layer in mlp.dense + mlp.norms:
      assert (layer.compute_dtype, layer.variable_dtype) == ("bfloat16", "float32")
  for layer in (q.mean_head, p.loc_layer, p.scale_layer):
    assert layer.compute_dtype == "float32"
  flow_layers = _sub_layers(p.flow)
  assert any(isinstance(l, keras.layers.Dense) for l in flow_layers)
  assert all(l.compute_dtype == "float32" for l in flow_layers + [p.flow])


def test_mixed_vae_layers_compute_dtypes(vae_pair):
  _, vae = vae_pair
  _check_float_variables(vae)
  stacks = (vae.enc_convs + vae.enc_norms + [vae.enc_resize, vae.dec_dense] + vae.dec_convs
            + vae.dec_norms + vae.enc_mlp.dense + vae.dec_mlp.dense)
  for layer in stacks:
    assert (layer.compute_dtype, layer.variable_dtype) == ("bfloat16", "float32"), layer.name
  for layer in (vae.mean_head, vae.scale_head, vae.dec_out):
    assert layer.compute_dtype == "float32"


def test_mixed_precision_needs_a_float32_model():
  with pytest.raises(ValueError, match="mixed_precision"):
    GenerativeNet(2, bounds=(1.0, 1.0), hidden_dims=(8, 4), num_flows=1,
                  mixed_precision=True, dtype="float64")
  with pytest.raises(ValueError, match="mixed_precision"):
    InferenceNet(2, bounds=(1.0, 1.0), hidden_dims=(8,), mixed_precision=True, dtype="float64")


# ---------------------------------------------------------------------------------------------
# Outputs: float32, finite, close to the float32 model's.


def test_mixed_sgm_outputs_are_float32_and_close_to_float32(sgm_pair):
  f32, mixed = sgm_pair
  x = _images()
  h = mixed.inference.trunk(tf.reshape(x, [8, -1]))
  assert h.dtype == tf.bfloat16  # The trunk really computes in bfloat16.
  out = {}
  for name, model in (("f32", f32), ("mixed", mixed)):
    q = model.inference(x)
    eta_q = q.sample(3, seed=SEED)
    proto = model.prototype(x)
    x_hat, eta = proto["x_hat"], proto["eta"]
    p = model.generative(x_hat)
    assert q.dtype == p.dtype == tf.float32
    eta_p = model.sample_eta(x_hat, 3, SEED)
    images, _ = model.resample(x, 2, SEED)
    out[name] = dict(q_lp=q.log_prob(eta_q), eta=eta, x_hat=x_hat, eta_p=eta_p,
                     p_lp=model.log_prob_eta(x_hat, eta_p), images=images,
                     h=model.generative.features(x_hat), loc=p.loc, scale=p.scale)
    _finite32(*out[name].values())
  a, b = out["f32"], out["mixed"]
  # q's mean head and bounds are zero at init: η and its density do not see the trunk.
  np.testing.assert_allclose(b["eta"], a["eta"], atol=1e-6)
  # bfloat16 rounding (2⁻⁹ relative) through two LayerNormed layers: features agree to a few
  # 1e-2 (absolute, LayerNormed features are O(1)); the base parameters pass two more bfloat16
  # layers (the head), so up to about twice that.
  np.testing.assert_allclose(b["h"], a["h"], atol=0.05)
  np.testing.assert_allclose(b["loc"], a["loc"], atol=0.1)
  np.testing.assert_allclose(b["scale"], a["scale"], rtol=0.05)
  # A sample is the flow of loc + scale·ε with |ε| ≤ ~3: base errors of 0.1 (loc) and 5 % (scale)
  # allow 0.1 + 3 × 0.05 = 0.25 before the flow (identity at init) and the squashing (contracts).
  np.testing.assert_allclose(b["eta_p"], a["eta_p"], atol=0.25)
  np.testing.assert_allclose(b["p_lp"], a["p_lp"], rtol=0.02, atol=0.1)


def test_mixed_dropout_masks_match_float32(sgm_pair):
  """Same seed-generator states → the same dropout masks in both modes (training=True)."""
  f32, mixed = sgm_pair
  x, eta = _images(), tf.zeros([8, TINY.event_dim])
  _copy(mixed.generative, f32.generative)  # Seed states included.
  lp_f32 = f32.generative(x, training=True).log_prob(eta)
  lp_mixed = mixed.generative(x, training=True).log_prob(eta)
  lp_other = f32.generative(x, training=True).log_prob(eta)  # The next (different) masks.
  gap = np.abs(lp_mixed.numpy() - lp_f32.numpy()).max()
  assert gap < 0.1 * np.abs(lp_other.numpy() - lp_f32.numpy()).max()


def test_mixed_vae_outputs_are_float32_and_close_to_float32(vae_pair):
  x = _images()
  out = {}
  for name, vae in zip(("f32", "mixed"), vae_pair):
    q = vae.encode(x)
    z = q.sample(seed=SEED)
    p = vae.decode(z)
    assert q.dtype == p.dtype == vae.prior().dtype == tf.float32
    out[name] = dict(recon=vae.reconstruct(x), sample=vae.sample(4, SEED),
                     noisy=vae.sample(2, SEED, mean=False), log_px=p.log_prob(x),
                     iwlb=vae.iwlb(x, 3, SEED, chunk_size=2), **vae.elbo(x, SEED))
    _finite32(*out[name].values())
  a, b = out["f32"], out["mixed"]
  np.testing.assert_allclose(b["recon"], a["recon"], atol=0.05)
  np.testing.assert_allclose(b["sample"], a["sample"], atol=0.05)
  # The pixel σ is 1 at init: per-pixel log-density errors are ~ |Δμ| (x − μ) summed over 256
  # pixels.
  np.testing.assert_allclose(b["elbo"], a["elbo"], rtol=1e-2)
  np.testing.assert_allclose(b["iwlb"], a["iwlb"], rtol=1e-2)


@pytest.mark.slow  # XLA-compiles both mixed models
def test_mixed_models_compile_with_xla(sgm_pair, vae_pair):
  """The sampling directions under XLA (the training tests below compile q, p's density and the
  ELBO with their gradients). XLA's random streams differ from eager ones, so samples are only
  checked for dtype and finiteness."""
  _, sgm = sgm_pair
  _, vae = vae_pair

  @tf.function(jit_compile=True, autograph=False)
  def run(x_hat):
    return sgm.sample_eta(x_hat, 2, SEED), vae.sample(2, SEED)

  _finite32(*run(_images()))


# ---------------------------------------------------------------------------------------------
# Checkpoints and export.


def test_same_variables_and_checkpoints_move_between_modes(sgm_pair, vae_pair, tmp_path):
  for f32, mixed in (sgm_pair, vae_pair):
    assert _signature(mixed) == _signature(f32)
  f32, _ = sgm_pair
  keras.utils.set_random_seed(5)
  fresh = SGM(TINY.replace(mixed_precision=True), SHAPE)  # Other random weights.
  path = tf.train.Checkpoint(**checkpoints.model_trackables(f32)).write(str(tmp_path / "sgm"))
  tf.train.Checkpoint(**checkpoints.model_trackables(fresh)).read(
      path).assert_existing_objects_matched()
  for a, b in zip(fresh.variables, f32.variables):
    np.testing.assert_array_equal(a.numpy(), b.numpy())

  vae32, _ = vae_pair
  mixed_vae = VAE(SHAPE, name="vae", mixed_precision=True, **VAE_KW)
  path = tf.train.Checkpoint(vae_variables=list(vae32.variables)).write(str(tmp_path / "vae"))
  tf.train.Checkpoint(vae_variables=list(mixed_vae.variables)).read(
      path).assert_existing_objects_matched()
  for a, b in zip(mixed_vae.variables, vae32.variables):
    np.testing.assert_array_equal(a.numpy(), b.numpy())
  # And back: a mixed model's checkpoint restores into a float32 one.
  back = VAE(SHAPE, name="vae", **VAE_KW)
  path = tf.train.Checkpoint(vae_variables=list(mixed_vae.variables)).write(str(tmp_path / "b"))
  tf.train.Checkpoint(vae_variables=list(back.variables)).read(
      path).assert_existing_objects_matched()
  np.testing.assert_array_equal(back.reconstruct(_images()).numpy(),
                                vae32.reconstruct(_images()).numpy())


@pytest.mark.slow  # exports two SavedModels
def test_mixed_exports_take_and_return_float32(sgm_pair, vae_pair, tmp_path):
  _, sgm = sgm_pair
  _, vae = vae_pair
  x = _images(4)
  loaded = tf.saved_model.load(saved_model.export_sgm(sgm, str(tmp_path / "sgm")))
  out = loaded.signatures["prototype"](x=x)
  _finite32(out["x_hat"], out["eta"])
  np.testing.assert_allclose(out["x_hat"].numpy(), sgm.prototype(x)["x_hat"].numpy(), atol=1e-6)
  lp = loaded.signatures["log_prob_eta"](x_hat=out["x_hat"], eta=out["eta"])["log_prob"]
  _finite32(lp)
  # Graph rewrites (e.g. fused MatMul + BiasAdd) round bfloat16 differently from eager.
  np.testing.assert_allclose(lp.numpy(), sgm.log_prob_eta(out["x_hat"], out["eta"]).numpy(),
                             rtol=0.02, atol=0.05)
  res = loaded.signatures["resample"](x=x, n=tf.constant(2), seed=SEED)
  _finite32(res["images"], res["eta"])

  loaded = tf.saved_model.load(saved_model.export_vae(vae, str(tmp_path / "vae"), 3))
  recon = loaded.signatures["reconstruct"](x=x)["images"]
  _finite32(recon)
  np.testing.assert_allclose(recon.numpy(), vae.reconstruct(x).numpy(), atol=0.02)
  _finite32(loaded.signatures["iwlb"](x=x, seed=SEED)["iwlb"],
            loaded.signatures["sample"](n=tf.constant(2), seed=SEED)["images"])


# ---------------------------------------------------------------------------------------------
# Training tracks float32 (tolerances: see the module docstring).


@pytest.fixture(scope="module")
def mnist_batch():
  """The first 16 rotated-MNIST training images, float32 `[16, 28, 28, 1]` in [-1, 1]."""
  ds = data_lib.load("mnist", "train", seed=0, rotation_deg=180)
  return next(iter(ds.batch(16)))["image"]


def _train(step, images):
  """Losses of STEPS calls of a compiled step on the same batch, float64 `[STEPS]`."""
  return np.array([float(step(images, tf.constant(i, tf.int64))["loss"]) for i in range(STEPS)])


def _check_decrease(*curves):
  for curve in curves:
    assert np.all(np.isfinite(curve))
    assert curve[-10:].mean() < curve[:5].mean(), curve


@pytest.fixture(scope="module")
def stage1(mnist_batch):
  """States after 30 stage-1 steps from equal weights: (f32 state, mixed state, losses...)."""
  shape = tuple(mnist_batch.shape[1:])
  keras.utils.set_random_seed(0)
  state32 = train_lib.create_state(TRAIN, shape)
  mixed_config = TRAIN.replace(mixed_precision=True)
  state_mixed = train_lib.create_state(mixed_config, shape)
  assert state_mixed.model.inference.mixed_precision
  _copy(state_mixed.model, state32.model)
  loss32 = _train(train_lib.make_inference_step(state32, TRAIN), mnist_batch)
  loss_mixed = _train(train_lib.make_inference_step(state_mixed, mixed_config), mnist_batch)
  return state32, state_mixed, loss32, loss_mixed


@pytest.mark.slow
def test_stage1_training_tracks_float32(stage1):
  _, state_mixed, loss32, loss_mixed = stage1
  _check_float_variables(state_mixed.model)
  _check_decrease(loss32, loss_mixed)
  gap = np.abs(loss_mixed - loss32)[-10:]
  assert np.all(gap <= 0.05 * np.abs(loss32[-10:])), gap / np.abs(loss32[-10:])
  assert abs(loss_mixed[-10:].mean() - loss32[-10:].mean()) <= 0.01 * loss32[-10:].mean()


@pytest.mark.slow
def test_stage2_training_tracks_float32(stage1, mnist_batch):
  state32, state_mixed, _, _ = stage1
  _copy(state_mixed.model.inference, state32.model.inference)  # Both from the same trained q.
  mixed_config = TRAIN.replace(mixed_precision=True)
  loss32 = _train(train_lib.make_generative_step(state32, TRAIN), mnist_batch)
  loss_mixed = _train(train_lib.make_generative_step(state_mixed, mixed_config), mnist_batch)
  _check_float_variables(state_mixed.model)
  _check_decrease(loss32, loss_mixed)
  decrease = loss32[0] - loss32[-10:].mean()
  assert decrease > 5.0  # nats
  gap = np.abs(loss_mixed - loss32)[-10:]
  assert np.all(gap <= 0.05 * decrease), gap / decrease


@pytest.mark.slow
def test_vae_training_tracks_float32(mnist_batch):
  shape = tuple(mnist_batch.shape[1:])
  config = TRAIN.replace(model="vae")
  mixed_config = config.replace(mixed_precision=True)
  keras.utils.set_random_seed(2)  # The same weights whichever tests ran before.
  state32 = vae_train.create_vae_state(config, shape)
  state_mixed = vae_train.create_vae_state(mixed_config, shape)
  assert state_mixed.vae.mixed_precision, (
      "vae_train.create_vae_state must pass mixed_precision=config.mixed_precision to VAE(...)")
  _copy(state_mixed.vae, state32.vae)
  loss32 = _train(vae_train.make_train_step(state32, state32.vae, config, None), mnist_batch)
  loss_mixed = _train(vae_train.make_train_step(state_mixed, state_mixed.vae, mixed_config, None),
                      mnist_batch)
  _check_float_variables(state_mixed.vae)
  _check_decrease(loss32, loss_mixed)
  gap = np.abs(loss_mixed - loss32)[-10:]
  assert np.all(gap <= 0.005 * np.abs(loss32[-10:])), gap / np.abs(loss32[-10:])
