"""Image grids for TensorBoard and PNG files.

Images in [-1, 1] are mapped to [0, 1] (background black) and tiled row by row with a 1-pixel
white separator.
"""

import tensorflow as tf


def to_unit(images: tf.Tensor) -> tf.Tensor:
  """[-1, 1] → [0, 1], clipped; any float shape."""
  return tf.clip_by_value((tf.cast(images, tf.float32) + 1.0) / 2.0, 0.0, 1.0)


def tile(rows: tf.Tensor, pad: int = 1) -> tf.Tensor:
  """Tiles images `[R, K, H, W, C]` (R rows of K images) into one image.

  Args:
    rows: float `[R, K, H, W, C]` in [-1, 1].
    pad: separator width in pixels.

  Returns:
    float32 `[R·(H+pad)+pad, K·(W+pad)+pad, C]` in [0, 1].
  """
  images = to_unit(rows)
  images = tf.pad(images, [[0, 0], [0, 0], [pad, 0], [pad, 0], [0, 0]], constant_values=1.0)
  r, k, h, w, c = (tf.shape(images)[i] for i in range(5))
  grid = tf.reshape(tf.transpose(images, [0, 2, 1, 3, 4]), [r * h, k * w, c])
  return tf.pad(grid, [[0, pad], [0, pad], [0, 0]], constant_values=1.0)
