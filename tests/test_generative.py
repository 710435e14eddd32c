"""Tests of the generative network p(η|x̂) (inv_tf.models.generative)."""

import math

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
import keras

from inv_tf.models.generative import GenerativeNet, ConditionalFlowDistribution
from support import tiered

tfd = tfp.distributions
tfb = tfp.bijectors

BOUNDS5 = [0.25, 0.25, math.pi, 0.25, 0.25]


def _net(seed=0,
         event_dim=5,
         bounds=BOUNDS5,
         squash=True,
         flows=3,
         dtype="float32",
         input_shape=(8, 8, 1),
         randomise=None,
         **kw):
  keras.utils.set_random_seed(seed)
  kw.setdefault("hidden_dims", (32, 16))
  kw.setdefault("conditioner_hidden_dims", (16,))
  net = GenerativeNet(event_dim,
                      bounds,
                      squash_to_bounds=squash,
                      num_flows=flows,
                      num_bins=4,
                      dtype=dtype,
                      **kw)
  net.build((None,) + tuple(input_shape))
  if randomise is not None:  # make the (zero-initialised) flow non-trivial
    rng = np.random.default_rng(seed)
    for c in net.flow.couplings:
      out = c.conditioner.out_layer
      out.kernel.assign(rng.normal(size=out.kernel.shape) * randomise)
      out.bias.assign(rng.normal(size=out.bias.shape) * randomise)
  return net


def _x(rng, n=4, shape=(8, 8, 1), dtype=np.float32):
  return tf.constant(rng.uniform(-1, 1, size=(n,) + shape), dtype)


def test_shapes_and_types():
  rng = np.random.default_rng(0)
  net = _net()
  x = _x(rng)
  dist = net(x)
  assert isinstance(dist, ConditionalFlowDistribution)
  assert dist.batch_shape == (4,) and dist.event_shape == (5,)
  eta = dist.sample(3, seed=7)
  assert eta.shape == (3, 4, 5) and eta.dtype == tf.float32
  assert dist.log_prob(eta).shape == (3, 4)
  assert dist.log_prob(eta[0]).shape == (4,)
  assert net.log_prob(x, eta).shape == (3, 4)
  # squashed samples lie in the bounds
  assert np.all(np.abs(eta.numpy()) <= np.array(BOUNDS5) + 2e-6)
  # every weight is created by build()
  names = [w.path for w in net.trainable_weights]
  assert len(names) == len(set(names)) and len(names) == 2 * 2 + 2 * 2 + 2 * 2 + 2 * 2 + 4 + 3 * 6


@pytest.mark.parametrize("squash", [False, True])
def test_init_equals_plain_transformed_normal(squash):
  """At init the flow is the identity: p(η|x̂) is the base Normal pushed through o + (b+ε)g."""
  rng = np.random.default_rng(1)
  offset = [0.1, -0.2, 0.0, 0.3, 0.0]
  net = _net(squash=squash, dtype="float64", offset=offset)
  x = _x(rng, dtype=np.float64)
  dist = net(x)
  scale = np.array(BOUNDS5) + 1e-6
  chain = [tfb.Shift(tf.constant(offset, tf.float64)), tfb.Scale(tf.constant(scale))]
  if squash:
    chain.append(tfb.Tanh())
  ref = tfd.TransformedDistribution(tfd.MultivariateNormalDiag(dist.loc, dist.scale),
                                    tfb.Chain(chain))
  eta = ref.sample(5, seed=3)
  np.testing.assert_allclose(dist.log_prob(eta).numpy(),
                             ref.log_prob(eta).numpy(),
                             rtol=1e-8,
                             atol=1e-6)


@pytest.mark.parametrize("squash", [False, True])
def test_log_prob_of_samples_consistent_with_change_of_variables(squash):
  rng = np.random.default_rng(2)
  net = _net(dtype="float64", randomise=0.5, flows=4, squash=squash)
  x = _x(rng, dtype=np.float64)
  dist = net(x)
  eta, lp = dist.sample_and_log_prob(50, seed=[5, 11])  # log p via the sampling direction
  # log_prob clips the tanh pre-image to ±(1 - 1e-6): compare away from that clip
  ok = np.all(np.abs(eta.numpy()) / (np.array(BOUNDS5) + 1e-6) < 1 - 1e-6, axis=-1) | (not squash)
  assert ok.mean() > 0.8
  np.testing.assert_allclose(dist.log_prob(eta).numpy()[ok], lp.numpy()[ok], atol=1e-6)
  # sample() and sample_and_log_prob() give the same draws for the same seed
  np.testing.assert_allclose(dist.sample(50, seed=[5, 11]).numpy(), eta.numpy(), atol=1e-12)


@tiered("squash", [False, True], fast=[False])  # the default: no squash
def test_density_integrates_to_one_2d(squash):
  rng = np.random.default_rng(3)
  bounds = [1.0, 0.5]
  # a moderately non-trivial flow: stronger random flows make the density too peaked for a grid
  net = _net(seed=3, event_dim=2, bounds=bounds, squash=squash, dtype="float64", randomise=0.12)
  x = _x(rng, n=1, dtype=np.float64)
  dist = net(x)
  y = tf.constant(rng.normal(size=(100, 1, 2)))
  u, _ = net.flow(y, net.features(x))
  assert np.max(np.abs(u.numpy() - y.numpy())) > 0.5  # the flow is far from the identity
  if squash:
    lo, hi = -np.array(bounds) - 1e-6, np.array(bounds) + 1e-6
  else:
    s = dist.sample(4000, seed=5).numpy()[:, 0]
    lo, hi = s.min(0) - 3.0, s.max(0) + 3.0
  n = 301  # midpoint-rule error ≈ 1e-4 here, well inside the 3e-3 tolerance
  g0, g1 = np.linspace(lo[0], hi[0], n), np.linspace(lo[1], hi[1], n)
  # midpoint rule (avoids evaluating exactly on the bounds)
  c0, c1 = (g0[1:] + g0[:-1]) / 2, (g1[1:] + g1[:-1]) / 2
  grid = np.stack(np.meshgrid(c0, c1, indexing="ij"), -1).reshape(-1, 1, 2)
  lp = dist.log_prob(tf.constant(grid)).numpy()[:, 0]
  mass = np.exp(lp).sum() * (g0[1] - g0[0]) * (g1[1] - g1[0])
  assert abs(mass - 1.0) < 3e-3, mass


def test_finite_log_prob_on_bounds_when_squashed():
  rng = np.random.default_rng(4)
  net = _net(randomise=0.5)
  x = _x(rng)
  b = np.array(BOUNDS5, np.float32)
  eta = np.stack([b, -b, b * np.array([1, -1, 1, -1, 1], np.float32), b * 0.999999, b * 2])
  eta = tf.constant(eta[:4])
  with tf.GradientTape() as tape:
    lp = net(x).log_prob(eta)
    loss = -tf.reduce_sum(lp)
  grads = tape.gradient(loss, net.trainable_weights)
  assert np.all(np.isfinite(lp.numpy()))
  assert all(g is not None and np.all(np.isfinite(g.numpy())) for g in grads)


@pytest.mark.slow  # XLA-compiles p and its gradients
def test_jit_compile_matches_eager_and_gradients_reach_every_weight():
  rng = np.random.default_rng(5)
  net = _net(randomise=0.3, flows=2)
  x = _x(rng)
  eta = tf.constant(rng.uniform(-1, 1, size=(2, 4, 5)) * np.array(BOUNDS5), tf.float32)

  def step(x, eta):
    with tf.GradientTape() as tape:
      d = net(x, training=True)
      loss = -tf.reduce_mean(d.log_prob(eta)) + tf.reduce_mean(d.sample(2, seed=[1, 2]))
    grads = tape.gradient(loss, net.trainable_weights)
    d_eval = net(x, training=False)
    return d_eval.log_prob(eta), d_eval.sample(3, seed=[3, 4]), loss, grads

  lp_eager, _, _, _ = step(x, eta)
  lp_fn, s_fn, _, _ = tf.function(step, autograph=False)(x, eta)
  lp_jit, s_jit, loss_jit, grads = tf.function(step, jit_compile=True, autograph=False)(x, eta)
  # float32, different kernels and fusions (XLA vs eager): a few ulps of each op accumulate to
  # ~2e-6 relative on log-densities of -100 or less (squashing log-dets near the bounds).
  np.testing.assert_allclose(lp_fn.numpy(), lp_eager.numpy(), atol=1e-5, rtol=1e-5)
  np.testing.assert_allclose(lp_jit.numpy(), lp_eager.numpy(), atol=1e-5, rtol=1e-5)
  assert s_jit.shape == (3, 4, 5) and np.all(np.isfinite(s_jit.numpy()))
  # (stateless seeds give different draws under XLA, so only the density values are compared)
  assert np.all(np.isfinite(net(x).log_prob(s_jit).numpy()))
  assert np.isfinite(loss_jit.numpy())
  assert len(grads) == len(net.trainable_weights)
  for w, g in zip(net.trainable_weights, grads):
    assert g is not None, w.path
    assert np.all(np.isfinite(g.numpy())), w.path
    # the conditioners' hidden layers get zero gradient only while the output layer is zero
    assert np.any(g.numpy() != 0), w.path


@pytest.mark.parametrize("kwargs,name", [
    (dict(event_dim=2, bounds=[1.0, 0.0]), "bounds"),
    (dict(event_dim=2, bounds=[1.0, -1.0]), "bounds"),
    (dict(event_dim=2, bounds=[1.0]), "bounds"),
    (dict(event_dim=2, bounds=[1.0, 1.0], offset=[0.0]), "offset"),
    (dict(event_dim=2, bounds=[1.0, 1.0], num_bins=0), "num_bins"),
    (dict(event_dim=2, bounds=[1.0, 1.0], num_flows=-1), "num_flows"),
    (dict(event_dim=0, bounds=[]), "event_dim"),
    (dict(event_dim=2, bounds=[1.0, 1.0], hidden_dims=()), "hidden_dims"),
    (dict(event_dim=2, bounds=[1.0, 1.0], dropout_rate=1.5), "dropout_rate"),
])
def test_bad_constructor_args(kwargs, name):
  with pytest.raises(ValueError, match=name):
    GenerativeNet(**kwargs)


@pytest.mark.slow  # trains many steps
def test_maximum_likelihood_training_lowers_nll():
  """η | x̂ ~ N(A·x̂[:2], 0.1²) for a 2-D toy; a few Adam steps must lower the held-out NLL."""
  rng = np.random.default_rng(6)
  n_train, n_val = 512, 256
  xs = rng.uniform(-1, 1, size=(n_train + n_val, 4)).astype(np.float32)
  eta = (0.6 * xs[:, :2] + 0.1 * rng.normal(size=(n_train + n_val, 2))).astype(np.float32)
  net = _net(seed=6,
             event_dim=2,
             bounds=[1.0, 1.0],
             squash=False,
             flows=2,
             input_shape=(4,),
             hidden_dims=(32, 16),
             dropout_rate=0.0)
  opt = keras.optimizers.Adam(3e-3)

  @tf.function(autograph=False)
  def step(x, e):
    with tf.GradientTape() as tape:
      loss = -tf.reduce_mean(net(x, training=True).log_prob(e))
    grads = tape.gradient(loss, net.trainable_weights)
    opt.apply_gradients(zip(grads, net.trainable_weights))
    return loss

  def val_nll():
    return float(-tf.reduce_mean(net(xs[n_train:]).log_prob(eta[n_train:])))

  before = val_nll()
  for i in range(80):
    idx = rng.integers(0, n_train, 128)
    step(xs[idx], eta[idx])
  after = val_nll()
  assert np.isfinite(after) and after < before - 0.5, (before, after)


def test_the_layers_defaults_are_the_configs():
  """A net built without arguments is the net a default Config builds (no second set of
  hidden defaults)."""
  import inspect  # pylint: disable=g-import-not-at-top
  from inv_tf.config import Config  # pylint: disable=g-import-not-at-top
  from inv_tf.models.inference import InferenceNet  # pylint: disable=g-import-not-at-top
  config = Config()
  fields = {GenerativeNet: {"hidden_dims": "generative_hidden_dims",
                            "dropout_rate": "generative_dropout", "num_flows": "num_flows",
                            "num_bins": "num_bins",
                            "conditioner_hidden_dims": "conditioner_hidden_dims",
                            "conditioner_dropout_rate": "conditioner_dropout",
                            "range_bound": "spline_range", "spline_tails": "spline_tails",
                            "squash_to_bounds": "squash_to_bounds",
                            "coordinates": "generative_coordinates"},
            InferenceNet: {"hidden_dims": "inference_hidden_dims", "init_sigma": "init_sigma",
                           "translation_head": "translation_head", "zoom": "inference_zoom",
                           "squash_to_bounds": "squash_to_bounds"}}
  for layer, names in fields.items():
    signature = inspect.signature(layer.__init__).parameters
    for argument, field in names.items():
      assert signature[argument].default == getattr(config, field), (layer.__name__, argument)
  assert not inspect.signature(InferenceNet.__init__).parameters["flip_equivariant"].default
  assert config.rotation_head != "flip_equivariant"


@pytest.mark.parametrize("squash", [False, True])
def test_centre_coordinates_density_is_the_flow_over_centre_coordinates(squash):
  """log p(η) = log p_v(C(η)) + log|det ∂C/∂η|, sampling and density agree, and samples are
  C⁻¹ of the same net's algebra-coordinate samples."""
  from inv_tf import transforms  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(6)
  x = _x(rng, dtype=np.float64)
  algebra = _net(seed=6, dtype="float64", randomise=0.5, squash=squash)
  centre = _net(seed=6, dtype="float64", randomise=0.5, squash=squash, coordinates="centre",
                family="affine_no_shear")
  v, lp_v = algebra(x).sample_and_log_prob(40, seed=[2, 9])
  eta, lp = centre(x).sample_and_log_prob(40, seed=[2, 9])
  expected_eta, log_deta_dv = transforms.from_centre_coordinates(v, "affine_no_shear")
  np.testing.assert_allclose(eta.numpy(), expected_eta.numpy(), atol=1e-12)
  np.testing.assert_allclose(lp.numpy(), (lp_v - log_deta_dv).numpy(), atol=1e-9)
  ok = np.all(np.abs(v.numpy()) / (np.array(BOUNDS5) + 1e-6) < 1 - 1e-6, axis=-1) | (not squash)
  assert ok.mean() > 0.8
  np.testing.assert_allclose(centre(x).log_prob(eta).numpy()[ok], lp.numpy()[ok], atol=1e-6)
  assert centre.get_config()["coordinates"] == "centre"


@pytest.mark.parametrize("kwargs,message", [
    (dict(coordinates="polar"), "coordinates"),
    (dict(coordinates="centre"), "tx, ty"),
    (dict(coordinates="centre", family="rotation"), "tx, ty"),
    (dict(coordinates="centre", family="affine"), "event_dim"),
])
def test_bad_coordinates(kwargs, message):
  with pytest.raises(ValueError, match=message):
    GenerativeNet(5, bounds=BOUNDS5, **kwargs)
