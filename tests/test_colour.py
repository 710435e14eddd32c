"""Tests for inv_tf.transforms.colour: RGB ↔ HSV, hue / saturation / value changes, gradients."""

import numpy as np
import tensorflow as tf

from inv_tf import transforms as T


def test_rgb_to_hsv_matches_tf_and_round_trips():
  rng = np.random.default_rng(7)
  rgb = tf.constant(rng.uniform(0, 1, (500, 3)), tf.float32)
  hsv = T.rgb_to_hsv(rgb)
  np.testing.assert_allclose(hsv.numpy(), tf.image.rgb_to_hsv(rgb).numpy(), atol=1e-5)
  np.testing.assert_allclose(T.hsv_to_rgb(hsv).numpy(), rgb.numpy(), atol=1e-5)


def test_colour_round_trip_and_additive_composition():
  rng = np.random.default_rng(8)
  images = tf.constant(rng.uniform(-0.5, 0.5, (3, 6, 6, 3)), tf.float64)
  a = tf.constant(rng.uniform(-0.2, 0.2, (3, 3)))
  b = tf.constant(rng.uniform(-0.2, 0.2, (3, 3)))
  ta, tb = T.Transform.from_eta(a, "hsv"), T.Transform.from_eta(b, "hsv")
  back = ta.inverse().apply(ta.apply(images))
  np.testing.assert_allclose(back.numpy(), images.numpy(), atol=1e-10)
  np.testing.assert_allclose(ta.then(tb).apply(images).numpy(), tb.apply(ta.apply(images)).numpy(),
                             atol=1e-10)
  # Hue is periodic: a full turn is the identity.
  full_turn = T.transform_images(images, tf.constant([[1.0, 0.0, 0.0]] * 3, tf.float64), "hsv")
  np.testing.assert_allclose(full_turn.numpy(), images.numpy(), atol=1e-10)


def test_hue_shift_of_pure_red_gives_green_and_blue():
  red = tf.constant(np.broadcast_to([1.0, -1.0, -1.0], (3, 2, 2, 3)), tf.float32)
  out = T.transform_images(red, tf.constant([[1 / 3, 0, 0], [2 / 3, 0, 0], [0, np.log(0.5), 0]]),
                           "hsv").numpy()
  np.testing.assert_allclose(out[0, 0, 0], [-1, 1, -1], atol=1e-5)
  np.testing.assert_allclose(out[1, 0, 0], [-1, -1, 1], atol=1e-5)
  np.testing.assert_allclose(out[2, 0, 0], [1, 0, 0], atol=1e-5)  # half saturation.


def test_gradients_finite_on_grey_and_black_pixels():
  grey = tf.constant(np.stack([np.full((4, 4, 3), v) for v in (-1.0, 0.0, 0.3, 1.0)]), tf.float32)
  eta = tf.constant([[0.2, 0.3, 0.1]] * 4, tf.float32)
  with tf.GradientTape(persistent=True) as tape:
    tape.watch([grey, eta])
    out = T.transform_images(grey, eta, "hsv")
    loss = tf.reduce_sum(out ** 2)
  for g in tape.gradient(loss, [grey, eta]):
    assert np.all(np.isfinite(g.numpy()))
  # Grey stays grey under hue and saturation changes.
  spread = tf.reduce_max(out, -1) - tf.reduce_min(out, -1)
  np.testing.assert_allclose(spread.numpy(), 0.0, atol=1e-6)
