"""Tests for inv_tf.keras.SymmetryAugmentation (examples/classifier.py: tests/test_classifier.py).

One tiny untrained SGM (28×28×1) is exported per module. Its q is the identity (η = 0) but
p(η|x̂) is a real distribution, so `resample` gives genuinely transformed images. Inputs are real
embedded MNIST test digits (structured, off-centre strokes), so a transform changes pixels.
"""


import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from inv_tf import data as data_lib
from inv_tf.config import Config
from inv_tf.export.saved_model import export_sgm
from inv_tf.keras import SymmetryAugmentation
from support import tiered

IMAGE_SHAPE = (28, 28, 1)


@pytest.fixture(scope="module", autouse=True)
def _load_each_export_once():
  """The layers built on one export share its loaded SavedModel, so loading it (≈ 0.8 CPU-s) and
  the first call of its functions (≈ 0.9 CPU-s) happen once per module, not once per layer. The
  first layer on each path still goes through the real loader, and failed loads are not kept."""
  from inv_tf import keras as keras_lib  # pylint: disable=g-import-not-at-top
  load, loaded = keras_lib._load_export, {}  # pylint: disable=protected-access

  def load_once(export_path):
    key = os.fspath(export_path)
    if key not in loaded:
      loaded[key] = load(export_path)
    return loaded[key]

  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(keras_lib, "_load_export", load_once)
    yield


@pytest.fixture(scope="module")
def export_path(tmp_path_factory):
  from inv_tf.models.sgm import SGM  # pylint: disable=g-import-not-at-top
  sgm = SGM(Config(inference_hidden_dims=(16,), generative_hidden_dims=(16,),
                   conditioner_hidden_dims=(8,), num_flows=1, num_bins=3,
                   interpolation_order=1), IMAGE_SHAPE)
  return export_sgm(sgm, str(tmp_path_factory.mktemp("keras_layer") / "sgm"))


@pytest.fixture(scope="module")
def digits():
  """64 rotated MNIST test digits: float32 [64, 28, 28, 1] in [-1, 1], and int64 labels [64]."""
  batch = next(iter(data_lib.load("mnist", "test", seed=0, rotation_deg=180).batch(64)))
  return batch["image"], batch["label"]


def changed(a, b):
  """bool [B]: which images of a and b ([B, H, W, C]) differ anywhere."""
  return np.any(np.asarray(a) != np.asarray(b), axis=(1, 2, 3))


def test_training_resamples_every_image_with_same_shape_dtype_and_range(export_path, digits):
  x = digits[0][:16]
  layer = SymmetryAugmentation(export_path, seed=0)
  assert layer.image_shape == IMAGE_SHAPE
  y = layer(x, training=True)
  assert y.shape == x.shape and y.dtype == tf.float32
  y = y.numpy()
  assert np.all(np.isfinite(y))
  # Bilinear interpolation of [-1, 1] images with fill -1 stays in [-1, 1].
  assert y.min() >= -1.0 - 1e-5 and y.max() <= 1.0 + 1e-5
  assert changed(y, x).all()
  assert np.mean(np.abs(y - x.numpy())) > 0.05  # real transforms, not round-off
  assert layer.compute_output_shape((None,) + IMAGE_SHAPE) == (None,) + IMAGE_SHAPE
  assert layer(tf.zeros((0,) + IMAGE_SHAPE), training=True).shape == (0,) + IMAGE_SHAPE


def test_identity_at_inference_and_with_probability_zero(export_path, digits):
  x = digits[0][:16]
  layer = SymmetryAugmentation(export_path, seed=0)
  np.testing.assert_array_equal(layer(x, training=False).numpy(), x.numpy())
  np.testing.assert_array_equal(layer(x).numpy(), x.numpy())  # training=None
  np.testing.assert_array_equal(layer(x.numpy()).numpy(), x.numpy())  # numpy float32 input
  off = SymmetryAugmentation(export_path, probability=0.0, seed=0)
  np.testing.assert_array_equal(off(x, training=True).numpy(), x.numpy())
  # A boolean tensor `training` selects the branch at run time.
  fn = tf.function(lambda images, training: layer(images, training=training), autograph=False)
  np.testing.assert_array_equal(fn(x, tf.constant(False)).numpy(), x.numpy())
  assert changed(fn(x, tf.constant(True)), x).all()


def test_probability_half_replaces_about_half_with_the_full_resamples(export_path, digits):
  x = digits[0]  # 64 images
  half = SymmetryAugmentation(export_path, probability=0.5, seed=7)(x, training=True).numpy()
  full = SymmetryAugmentation(export_path, probability=1.0, seed=7)(x, training=True).numpy()
  replaced = changed(half, x)
  # Binomial(64, 0.5): sd of the fraction is 0.0625; [0.25, 0.75] is ±4 sd. (Deterministic for
  # the seed, so this cannot flake; it guards against a wrong probability, e.g. 0 or 1.)
  assert 0.25 <= replaced.mean() <= 0.75, replaced.mean()
  # Same seed: the replaced images are exactly the probability-1 resamples, the others the input.
  np.testing.assert_array_equal(half, np.where(replaced[:, None, None, None], full, x.numpy()))


def test_same_seed_reproduces_and_successive_calls_differ(export_path, digits):
  x = digits[0][:8]
  a, b = (SymmetryAugmentation(export_path, seed=3) for _ in range(2))
  a1, a2 = a(x, training=True).numpy(), a(x, training=True).numpy()
  b1, b2 = b(x, training=True).numpy(), b(x, training=True).numpy()
  np.testing.assert_array_equal(a1, b1)
  np.testing.assert_array_equal(a2, b2)
  assert changed(a1, a2).all()
  other = SymmetryAugmentation(export_path, seed=4)(x, training=True).numpy()
  assert changed(a1, other).all()
  np.testing.assert_array_equal(a.seed_generator.state.numpy(), [3, 2])  # one step per call
  a(x, training=False)  # inference does not advance the state
  np.testing.assert_array_equal(a.seed_generator.state.numpy(), [3, 2])


def test_tf_data_map_matches_eager_calls(export_path, digits):
  x, y = digits
  ds = tf.data.Dataset.from_tensor_slices((x[:16], y[:16])).batch(8)
  layer = SymmetryAugmentation(export_path, seed=11)
  out = list(ds.map(lambda images, labels: (layer(images, training=True), labels)))
  assert [o[0].shape for o in out] == [(8,) + IMAGE_SHAPE] * 2
  reference = SymmetryAugmentation(export_path, seed=11)
  for i, (images, labels) in enumerate(out):
    np.testing.assert_array_equal(labels.numpy(), y[8 * i:8 * (i + 1)].numpy())
    # Same seeds, same draws; the tf.data graph is optimised differently from eager execution,
    # so float round-off (measured up to ~1e-5) can differ: compare to 1e-4, not bit for bit.
    np.testing.assert_allclose(images.numpy(),
                               reference(x[8 * i:8 * (i + 1)], training=True).numpy(), atol=1e-4)


def _tiny_model(layer):
  model = keras.Sequential([keras.Input(IMAGE_SHAPE), layer, keras.layers.Flatten(),
                            keras.layers.Dense(10)])
  model.compile(optimizer="adam",
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
  return model


@pytest.mark.slow  # Keras fit and predict
def test_sequential_fit_augments_and_predict_is_identity(export_path, digits, tmp_path):
  x, y = digits
  layer = SymmetryAugmentation(export_path, seed=0)
  model = _tiny_model(layer)
  ds = tf.data.Dataset.from_tensor_slices((x[:32], y[:32])).batch(16)
  history = model.fit(ds, epochs=1, shuffle=False, verbose=0)
  assert np.isfinite(history.history["loss"][0])
  np.testing.assert_array_equal(layer.seed_generator.state.numpy(), [0, 2])  # 2 train steps
  assert not layer.weights and not model.layers[0].trainable_weights  # SGM weights not trained
  logits = model.predict(x[:16], verbose=0)
  dense = model.layers[-1]
  expected = dense(keras.layers.Flatten()(x[:16])).numpy()
  np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-5)
  # The model saves and reloads (the layer is rebuilt from export_path).
  path = str(tmp_path / "model.keras")
  model.save(path)
  reloaded = keras.models.load_model(path)
  assert isinstance(reloaded.layers[0], SymmetryAugmentation)
  np.testing.assert_allclose(reloaded.predict(x[:16], verbose=0), logits, rtol=1e-5, atol=1e-5)


@pytest.mark.slow  # XLA-compiles the loaded resample
def test_jit_compile_works_with_its_own_random_stream(export_path, digits):
  """XLA compiles the loaded `resample`: valid, reproducible, but another stream than non-jit."""
  x = digits[0]  # 64 images; probability 0.5 exercises the resample and the per-image choice
  layer = SymmetryAugmentation(export_path, probability=0.5, seed=5)
  jitted = tf.function(lambda images: layer(images, training=True), jit_compile=True,
                       autograph=False)
  j1, j2 = jitted(x).numpy(), jitted(x).numpy()
  assert 0.25 <= changed(j1, x).mean() <= 0.75 and changed(j1, j2).any()
  assert j1.min() >= -1.0 - 1e-5 and j1.max() <= 1.0 + 1e-5
  layer.seed_generator.state.assign([5, 0])  # as a new layer with seed 5 (one compilation only)
  np.testing.assert_array_equal(jitted(x).numpy(), j1)
  np.testing.assert_array_equal(jitted(x).numpy(), j2)
  plain = SymmetryAugmentation(export_path, probability=0.5, seed=5)(x, training=True).numpy()
  if not tf.config.list_physical_devices("GPU"):
    # Measured on CPU (TF 2.21): XLA's stateless RNG differs from the TF kernels', so the same
    # seed gives other (equally valid) samples. Documented in inv_tf/keras.py.
    assert changed(j1, plain).any()

@pytest.mark.slow
def test_keras_fit_with_jit_compile(export_path, digits):
  x, y = digits
  layer = SymmetryAugmentation(export_path, seed=0)
  model = _tiny_model(layer)
  model.compile(optimizer="adam", jit_compile=True,
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
  assert model.jit_compile is True  # explicit True is kept: the layer has supports_jit
  history = model.fit(x[:32], y[:32], batch_size=16, epochs=1, verbose=0)
  assert np.isfinite(history.history["loss"][0])
  np.testing.assert_array_equal(layer.seed_generator.state.numpy(), [0, 2])


def test_bad_inputs_raise_documented_errors(export_path, digits, tmp_path):
  x = digits[0][:4]
  layer = SymmetryAugmentation(export_path, seed=0)
  for bad in (x[:, :20], x[0], tf.zeros([4, 28, 28, 3])):
    for training in (True, False):
      with pytest.raises(ValueError, match=r"expects images of shape \[B, 28, 28, 1\]"):
        layer(bad, training=training)
  for bad in (x.numpy().astype(np.float64), tf.cast(x, tf.uint8), tf.cast(x, tf.float16)):
    with pytest.raises(TypeError, match="expects float32 images in \\[-1, 1\\]"):
      layer(bad, training=True)
  with pytest.raises(tf.errors.InvalidArgumentError, match="compatible with expected shape"):
    fn = tf.function(lambda images: layer(images, training=True),
                     input_signature=[tf.TensorSpec([None, None, None, 1], tf.float32)])
    fn(tf.zeros([2, 20, 28, 1]))  # unknown static shape: checked at run time
  missing = str(tmp_path / "missing")
  with pytest.raises(FileNotFoundError, match="no SavedModel at .*missing"):
    SymmetryAugmentation(missing)
  not_sgm = str(tmp_path / "not_sgm")
  module = tf.Module()
  module.f = tf.function(lambda v: {"y": v * 2.0}, input_signature=[tf.TensorSpec([None])])
  tf.saved_model.save(module, not_sgm, signatures={"serving_default": module.f})
  with pytest.raises(ValueError, match="is not an SGM export"):
    SymmetryAugmentation(not_sgm)
  for probability in (-0.1, 1.5):
    with pytest.raises(ValueError, match="probability"):
      SymmetryAugmentation(export_path, probability=probability)
  with pytest.raises(ValueError, match="seed"):
    SymmetryAugmentation(export_path, seed=-1)


@tiered("value_range", [(0.0, 1.0), (0, 255)], fast=[(0, 255)])
def test_value_range_maps_the_inputs_range_onto_the_sgms(export_path, digits, value_range):
  """Images in (lo, hi) give the [-1, 1] layer's augmentations mapped back to (lo, hi): the
  background stays lo, and inference returns the input exactly."""
  lo, hi = value_range
  x = digits[0][:8]
  scaled = (x + 1.0) * ((hi - lo) / 2.0) + lo
  unit = SymmetryAugmentation(export_path, seed=4)
  ranged = SymmetryAugmentation(export_path, seed=4, value_range=value_range)
  unit_out = unit(x, training=True).numpy()
  want = (unit_out + 1.0) * ((hi - lo) / 2.0) + lo
  got = ranged(scaled, training=True).numpy()
  np.testing.assert_allclose(got, want, atol=1e-4 * (hi - lo))
  assert got.min() >= lo - 1e-3 * (hi - lo)
  # Where the [-1, 1] layer writes its background (-1), the ranged layer writes lo.
  background = unit_out == -1.0
  assert background.mean() > 0.1
  np.testing.assert_allclose(got[background], lo, atol=1e-4 * (hi - lo))
  np.testing.assert_array_equal(ranged(scaled, training=False).numpy(), scaled.numpy())
  with pytest.raises(TypeError, match=f"expects float32 images in \\[{lo:g}, {hi:g}\\]"):
    ranged(tf.cast(scaled, tf.float16), training=True)


@pytest.mark.parametrize("bad", [(1, 0), (0, 0), (0, float("inf")), (0,), "ab", None])
def test_bad_value_range_is_refused(export_path, bad):
  with pytest.raises(ValueError, match="value_range"):
    SymmetryAugmentation(export_path, value_range=bad)


def test_get_config_round_trip(export_path, digits):
  x = digits[0][:8]
  layer = SymmetryAugmentation(export_path, probability=0.5, seed=9, name="aug")
  config = layer.get_config()
  assert (config["export_path"], config["probability"], config["seed"]) == (export_path, 0.5, 9)
  assert config["value_range"] == [-1.0, 1.0]
  wide = SymmetryAugmentation.from_config({**config, "value_range": [0, 255]})
  assert wide.value_range == (0.0, 255.0) and wide.get_config()["value_range"] == [0.0, 255.0]
  clone = SymmetryAugmentation.from_config(config)
  assert clone.get_config() == config and clone.name == "aug"
  np.testing.assert_array_equal(clone(x, training=True).numpy(), layer(x, training=True).numpy())
