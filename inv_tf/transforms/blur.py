r"""Gaussian blur with background padding (the stage-1 curriculum of docs/design.md §2.4).

    k(t) ∝ exp(-t² / (2σ²)),  t = -(n-1)/2 … (n-1)/2,  Σ k = 1      (separable, n × n)
    blur(x) = conv(x + 1, k ⊗ k) - 1                                  ("SAME" zero padding)

Shifting by +1 before the convolution makes the zero padding act like background (-1). For
σ < 1e-5 the kernel is the unit impulse, so the blur is the identity (up to the rounding of
the ±1 shift, ~6e-8); σ may be a tensor
(it follows a schedule inside a compiled train step).
"""

import tensorflow as tf


def gaussian_kernel(sigma, size: int, dtype=tf.float32) -> tf.Tensor:
  """Normalised 1-D Gaussian kernel.

  Args:
    sigma: scalar (Python or tensor) ≥ 0, in pixels; below 1e-5 gives the unit impulse.
    size: odd kernel length ≥ 1.

  Returns:
    Tensor `[size]` of `dtype`, non-negative, summing to 1.
  """
  if size < 1 or size % 2 != 1:
    raise ValueError(f"size: blur filter size must be an odd integer >= 1, got {size}")
  sigma = tf.cast(sigma, dtype)
  t = tf.range(size, dtype=dtype) - (size - 1) / 2.0
  safe_sigma = tf.maximum(sigma, 1e-5)
  logits = -0.5 * tf.square(t / safe_sigma)
  kernel = tf.nn.softmax(logits)
  impulse = tf.cast(tf.equal(t, 0.0), dtype)
  return tf.where(sigma < 1e-5, impulse, kernel)


def gaussian_blur(images: tf.Tensor, sigma, size: int = 5) -> tf.Tensor:
  """Blurs each channel with an n × n Gaussian, padding with background (-1).

  Args:
    images: float `[B, H, W, C]` in [-1, 1].
    sigma: scalar ≥ 0 (pixels); 0 (or < 1e-5) leaves the images unchanged.
    size: odd filter size (the paper's settings use 5).

  Returns:
    Tensor `[B, H, W, C]`, same dtype, in [-1, 1].
  """
  images = tf.convert_to_tensor(images)
  channels = images.shape[-1]

  def blur():
    kernel = gaussian_kernel(sigma, size, images.dtype)
    rows = tf.tile(tf.reshape(kernel, [size, 1, 1, 1]), [1, 1, channels, 1])
    cols = tf.tile(tf.reshape(kernel, [1, size, 1, 1]), [1, 1, channels, 1])
    shifted = images + 1.0
    shifted = tf.nn.depthwise_conv2d(shifted, rows, [1, 1, 1, 1], "SAME")
    shifted = tf.nn.depthwise_conv2d(shifted, cols, [1, 1, 1, 1], "SAME")
    return shifted - 1.0

  # The curriculum's σ is 0 for most of stage 1: skip the two convolutions then (a conditional,
  # so a compiled step runs only the branch it takes).
  if not tf.is_tensor(sigma):
    return images if sigma < 1e-5 else blur()
  return tf.cond(tf.cast(sigma, tf.float32) < 1e-5, lambda: tf.identity(images), blur)
