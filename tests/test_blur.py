"""Tests for inv_tf.transforms.blur: the background-padded Gaussian blur (stage-1 curriculum)."""

import numpy as np
import tensorflow as tf

from inv_tf import transforms
from support import blobs


def test_gaussian_blur_zero_sigma_is_identity_and_keeps_background():
  images = blobs(2)
  np.testing.assert_allclose(transforms.gaussian_blur(images, 0.0).numpy(), images.numpy(), atol=1e-6)
  blurred = transforms.gaussian_blur(images, 2.0).numpy()
  assert blurred.min() >= -1.0 - 1e-6
  np.testing.assert_allclose(blurred[:, 0, 0], -1.0, atol=1e-6)  # background-padded corners.
  assert np.abs(blurred - images.numpy()).max() > 0.1
  # Mass (above background) is preserved away from the border.
  np.testing.assert_allclose((blurred + 1).sum(), (images.numpy() + 1).sum(), rtol=1e-3)


def test_gaussian_blur_at_zero_sigma_returns_the_images_exactly_also_compiled():
  """σ = 0 (most of stage 1) skips the convolutions: the images come back bit for bit, eagerly,
  with a tensor σ under XLA, and a tensor σ > 0 still blurs there."""
  images = blobs(2)
  np.testing.assert_array_equal(transforms.gaussian_blur(images, 0.0).numpy(), images.numpy())
  blur = tf.function(transforms.gaussian_blur, jit_compile=True, autograph=False)
  np.testing.assert_array_equal(blur(images, tf.constant(0.0)).numpy(), images.numpy())
  np.testing.assert_allclose(blur(images, tf.constant(2.0)).numpy(),
                             transforms.gaussian_blur(images, 2.0).numpy(), atol=1e-5)
