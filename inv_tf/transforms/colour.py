r"""Colour transformations in HSV space with finite gradients everywhere.

Colour parameters (hue, log_saturation, log_value) act on each pixel (docs/design.md §2.3):

    rgb = (x + 1) / 2                                (images in [-1, 1] → [0, 1])
    (h, s, v) = rgb_to_hsv(rgb)                      (h in turns, [0, 1))
    s ← clip(s · exp(η_sat), 0, 1)
    h ← (h + η_hue) mod 1
    v ← clip(v · exp(η_val), 0, 1)
    x' = 2 · hsv_to_rgb(h, s, v) - 1

`clip` is straight-through: the forward value is clipped, the derivative is the identity, so
saturated pixels still pass gradient to η. Colour transforms compose by ADDING their parameters
and invert by negating them (exact for the hue; exact for saturation/value where no clipping
happened).

RGB → HSV (the hexcone model): v = max(r, g, b), c = v - min(r, g, b), s = c / v,
h = ((g - b)/c mod 6, (b - r)/c + 2, (r - g)/c + 4)/6 depending on which channel is the max.
The divisions use safe denominators (`tf.where`), so grey (c = 0) and black (v = 0) pixels get
h = 0 / s = 0 and FINITE gradients, unlike TF's own kernel.

HSV → RGB without branches: channel_n = v - v s · clamp(min(k, 4 - k), 0, 1) with
k = (n + 6h) mod 6 and n = 5, 3, 1 for r, g, b.
"""

import tensorflow as tf


def straight_through_clip(x: tf.Tensor, low: float, high: float) -> tf.Tensor:
  """clip(x, low, high) in the forward pass, identity derivative in the backward pass."""
  return x + tf.stop_gradient(tf.clip_by_value(x, low, high) - x)


def rgb_to_hsv(rgb: tf.Tensor) -> tf.Tensor:
  """RGB in [0, 1] → HSV, hue in turns [0, 1), saturation and value in [0, 1].

  Args:
    rgb: float tensor `[..., 3]`.

  Returns:
    Tensor `[..., 3]` = (h, s, v), same dtype; finite gradients for grey and black pixels.
  """
  r, g, b = tf.unstack(rgb, axis=-1)
  value = tf.reduce_max(rgb, axis=-1)
  chroma = value - tf.reduce_min(rgb, axis=-1)
  safe_chroma = tf.where(chroma > 0, chroma, tf.ones_like(chroma))
  safe_value = tf.where(value > 0, value, tf.ones_like(value))
  saturation = tf.where(value > 0, chroma / safe_value, tf.zeros_like(value))
  hue_r = tf.math.floormod((g - b) / safe_chroma, 6.0)
  hue_g = (b - r) / safe_chroma + 2.0
  hue_b = (r - g) / safe_chroma + 4.0
  hue = tf.where(value == r, hue_r, tf.where(value == g, hue_g, hue_b))
  hue = tf.where(chroma > 0, hue / 6.0, tf.zeros_like(hue))
  return tf.stack([hue, saturation, value], axis=-1)


def hsv_to_rgb(hsv: tf.Tensor) -> tf.Tensor:
  """HSV (hue in turns, any real; s, v in [0, 1]) → RGB in [0, 1].

  Args:
    hsv: float tensor `[..., 3]`.

  Returns:
    Tensor `[..., 3]`, same dtype.
  """
  hue, saturation, value = tf.unstack(hsv, axis=-1)
  channels = []
  for n in (5.0, 3.0, 1.0):
    k = tf.math.floormod(n + 6.0 * hue, 6.0)
    ramp = tf.clip_by_value(tf.minimum(k, 4.0 - k), 0.0, 1.0)
    channels.append(value - value * saturation * ramp)
  return tf.stack(channels, axis=-1)


def adjust_hsv(images: tf.Tensor, colour_eta: tf.Tensor, colour_indices=(0, 1, 2)) -> tf.Tensor:
  """Applies the colour part of T(x, η).

  Args:
    images: float32/float64 tensor `[B, H, W, 3]` in [-1, 1].
    colour_eta: tensor `[B, Dc]`, the colour parameters in the order given by `colour_indices`.
    colour_indices: for each column of `colour_eta`, its meaning (0 hue, 1 log_saturation,
      2 log_value). Missing parameters are 0.

  Returns:
    Tensor `[B, H, W, 3]` in [-1, 1], images' dtype.
  """
  if images.shape[-1] != 3:
    raise ValueError(f"images: colour transformations need 3 channels (RGB), got shape {images.shape}")
  colour_eta = tf.cast(colour_eta, images.dtype)
  columns = tf.unstack(colour_eta, num=len(colour_indices), axis=-1)
  zeros = tf.zeros_like(images[:, 0, 0, 0])
  params = [zeros, zeros, zeros]
  for column, index in zip(columns, colour_indices):
    params[index] = column
  d_hue, d_sat, d_val = (p[:, None, None] for p in params)
  hue, sat, val = tf.unstack(rgb_to_hsv((images + 1.0) / 2.0), axis=-1)
  sat = straight_through_clip(sat * tf.exp(d_sat), 0.0, 1.0)
  hue = tf.math.floormod(hue + d_hue, 1.0)
  val = straight_through_clip(val * tf.exp(d_val), 0.0, 1.0)
  return 2.0 * hsv_to_rgb(tf.stack([hue, sat, val], axis=-1)) - 1.0
