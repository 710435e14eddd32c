"""Tests of the conditional coupling flow (inv_tf.models.flow)."""

import numpy as np
import pytest
import tensorflow as tf
import keras

from inv_tf.models import flow as F

K = 6


def _randomise(flow_layer, rng, scale=0.4):
  """Give every conditioner's (zero-initialised) output layer random weights."""
  for c in flow_layer.couplings:
    out = c.conditioner.out_layer
    out.kernel.assign(rng.normal(size=out.kernel.shape) * scale)
    out.bias.assign(rng.normal(size=out.bias.shape) * scale)


def _make_flow(rng, dim=5, flows=3, feat=4, dtype="float64", randomise=True, dropout=0.1):
  keras.utils.set_random_seed(int(rng.integers(1 << 30)))
  fl = F.ConditionalSplineFlow(dim, flows, K, hidden_dims=(16,), dropout_rate=dropout, dtype=dtype)
  fl.build((None, dim), (None, feat))
  if randomise:
    _randomise(fl, rng)
  return fl


def test_masks():
  np.testing.assert_array_equal(F.coupling_mask(5, 0), [True, False, True, False, True])
  np.testing.assert_array_equal(F.coupling_mask(5, 1), [False, True, False, True, False])
  np.testing.assert_array_equal(F.coupling_mask(5, 2), F.coupling_mask(5, 0))


def test_flow_identity_at_init():
  rng = np.random.default_rng(10)
  fl = _make_flow(rng, randomise=False, dtype="float32")
  y = tf.constant(rng.normal(size=(6, 5)) * 3, tf.float32)
  h = tf.constant(rng.normal(size=(6, 4)), tf.float32)
  for training in (False, True):
    u, ld = fl(y, h, training=training)
    np.testing.assert_allclose(u.numpy(), y.numpy(), atol=1e-5)
    np.testing.assert_allclose(ld.numpy(), 0.0, atol=1e-5)
  assert len(fl.trainable_weights) == 3 * 6  # per coupling: 2 Dense (k, b) + LayerNorm (g, b)


def test_coupling_keeps_conditioning_coordinates():
  rng = np.random.default_rng(11)
  fl = _make_flow(rng)
  y = tf.constant(rng.normal(size=(8, 5)) * 2)
  h = tf.constant(rng.normal(size=(8, 4)))
  for c in fl.couplings:
    u, _ = c.forward_and_log_det(y, h)
    kept = ~c.mask
    np.testing.assert_array_equal(u.numpy()[:, kept], y.numpy()[:, kept])
    assert np.max(np.abs(u.numpy()[:, c.mask] - y.numpy()[:, c.mask])) > 1e-3
    # the spline parameters of the transformed coords must not depend on them
    y2 = y.numpy().copy()
    y2[:, c.mask] += 0.5
    u2, _ = c.forward_and_log_det(tf.constant(y2), h)
    yk2, _ = c.inverse_and_log_det(u2, h)
    np.testing.assert_allclose(yk2.numpy(), y2, atol=1e-10)


def test_flow_log_det_matches_full_jacobian():
  rng = np.random.default_rng(12)
  fl = _make_flow(rng, flows=4)
  y = tf.constant(np.concatenate([rng.normal(size=(3, 5)), rng.normal(size=(1, 5)) * 5]))
  h = tf.constant(rng.normal(size=(4, 4)))
  with tf.GradientTape(persistent=True) as tape:
    tape.watch(y)
    u, ld = fl(y, h)
    rows = [u[:, j] for j in range(u.shape[-1])]
  # Row j of every sample's Jacobian is the gradient of Σ_b u[b, j] (the samples are independent);
  # D eager backward passes are cheaper than `batch_jacobian`'s vectorised one.
  jac = np.stack([tape.gradient(r, y).numpy() for r in rows], axis=1)  # [B, D, D]
  _, logdet = np.linalg.slogdet(jac)
  np.testing.assert_allclose(ld.numpy(), logdet, atol=1e-9)
  # inverse direction
  yr, ldi = fl.inverse_and_log_det(u, h)
  np.testing.assert_allclose(yr.numpy(), y.numpy(), atol=1e-9)
  np.testing.assert_allclose(ldi.numpy(), -ld.numpy(), atol=1e-9)


def test_flow_sample_dim_broadcast():
  rng = np.random.default_rng(13)
  fl = _make_flow(rng)
  h = tf.constant(rng.normal(size=(4, 4)))
  u = tf.constant(rng.normal(size=(3, 4, 5)))
  y, ld = fl.inverse_and_log_det(u, h)
  assert y.shape == (3, 4, 5) and ld.shape == (3, 4)
  for i in range(3):  # same as evaluating each sample separately
    yi, ldi = fl.inverse_and_log_det(u[i], h)
    np.testing.assert_allclose(yi.numpy(), y.numpy()[i], atol=1e-12)
    np.testing.assert_allclose(ldi.numpy(), ld.numpy()[i], atol=1e-12)


@pytest.mark.slow  # XLA-compiles the flow and its gradients
def test_flow_jit_matches_eager_with_finite_gradients():
  rng = np.random.default_rng(14)
  fl = _make_flow(rng, dtype="float32", flows=2)
  y = tf.constant(rng.normal(size=(6, 5)) * 3, tf.float32)
  h = tf.constant(rng.normal(size=(6, 4)), tf.float32)

  @tf.function(jit_compile=True, autograph=False)
  def f(y, h):
    with tf.GradientTape() as tape:
      u, ld = fl(y, h, training=True)
      loss = tf.reduce_sum(u**2) - tf.reduce_sum(ld)
    return fl(y, h, training=False), tape.gradient(loss, fl.trainable_weights)

  (uj, ldj), grads = f(y, h)
  u0, ld0 = fl(y, h, training=False)
  # float32 round-off: XLA and eager order the sums differently (|log-det| up to ~15 here).
  np.testing.assert_allclose(uj.numpy(), u0.numpy(), rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(ldj.numpy(), ld0.numpy(), rtol=1e-5, atol=1e-5)
  assert len(grads) == len(fl.trainable_weights)
  for g in grads:
    assert g is not None and np.all(np.isfinite(g.numpy()))


@pytest.mark.parametrize("kwargs,name", [
    (dict(event_dim=0, num_flows=2, num_bins=4), "event_dim"),
    (dict(event_dim=3, num_flows=-1, num_bins=4), "num_flows"),
    (dict(event_dim=3, num_flows=2, num_bins=0), "num_bins"),
    (dict(event_dim=3, num_flows=2, num_bins=4, range_bound=-1.0), "range_bound"),
    (dict(event_dim=3, num_flows=2, num_bins=4, dropout_rate=1.0), "dropout_rate"),
    (dict(event_dim=3, num_flows=2, num_bins=4, tails="linear"), "tails"),
])
def test_flow_bad_args(kwargs, name):
  with pytest.raises(ValueError, match=name):
    F.ConditionalSplineFlow(**kwargs)
