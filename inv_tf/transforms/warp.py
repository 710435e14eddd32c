r"""Differentiable image warping by an affine matrix (inverse mapping), bilinear or cubic B-spline.

Convention (Spatial-Transformer style; SPEC §2.2). For an output pixel at row i, column j of an
H×W image, its normalised coordinates are

    x_t = 2 j / (W - 1) - 1,   y_t = 2 i / (H - 1) - 1        (corner-aligned, both in [-1, 1])

and the matrix M maps them to input coordinates (x_s, y_s, 1)ᵀ = M (x_t, y_t, 1)ᵀ, which are
converted back to input pixel coordinates col = (x_s + 1)(W - 1)/2, row = (y_s + 1)(H - 1)/2.
We fold both conversions into one pixel-space affine map (col, row) = P (j, i, 1) with

    P_00 = a00,              P_01 = a01 (W-1)/(H-1),  P_02 = (W-1)/2 · (a02 + 1 - a00 - a01)
    P_10 = a10 (H-1)/(W-1),  P_11 = a11,              P_12 = (H-1)/2 · (a12 + 1 - a10 - a11)

so that the identity matrix gives (col, row) = (j, i) exactly, without rounding.

Interpolation, per channel, at a source point (row, col):
* order 1 (bilinear): the 2×2 neighbours with weights (1 - t, t) per axis, t = frac(coordinate).
* order 3 (cubic B-spline, as `scipy.ndimage.map_coordinates(order=3, mode="constant")`): the
  image is first prefiltered into B-spline coefficients c with the mirror boundary condition, i.e.
  per axis x_k = (c_{k-1} + 4 c_k + c_{k+1}) / 6 with c_{-1} = c_1 and c_n = c_{n-2}. The prefilter
  is linear, so we precompute its inverse matrix (float64, per image size, with the two mirrored
  coefficients on each side appended as extra rows) and apply it as two small matrix products.
  The value is Σ_{a,b} β(row - r_a) β(col - c_b) c[r_a, c_b] over the 4×4 neighbours, with the cubic
  B-spline weights for t = frac(coordinate):
      w_{-1} = (1-t)³/6,  w_0 = (3t³ - 6t² + 4)/6,  w_1 = (-3t³ + 3t² + 3t + 1)/6,  w_2 = t³/6.
* Fill: a point is inside iff 0 ≤ row ≤ H - 1 and 0 ≤ col ≤ W - 1 (as SciPy's "constant" mode);
  outside points take `fill_value`.

The neighbours are fetched with ONE `tf.gather(..., batch_dims=1)` of 4 (bilinear) or 16 (cubic)
indices per output pixel. Gradients: w.r.t. the image through the gather (a scatter-add) and the
prefilter; w.r.t. the matrix through the weights' polynomial dependence on t (the floor is
piecewise constant). Both are exact derivatives of the interpolant (it is C⁰ for order 1 and C² for
order 3 inside the image) and everything compiles under XLA.
"""

import functools

import numpy as np
import tensorflow as tf


@functools.lru_cache(maxsize=None)
def _prefilter_matrix(n: int) -> np.ndarray:
  """Cubic B-spline prefilter with mirror boundaries, padded by 2 mirrored coefficients per side.

  Returns:
    float64 `[n + 4, n]` matrix Q such that Q @ x = (c_{-2}, c_{-1}, c_0, …, c_{n-1}, c_n, c_{n+1})
    for samples x of length n.
  """
  if n == 1:
    inverse = np.ones((1, 1))
  else:
    band = np.zeros((n, n))
    for k in range(n):
      band[k, k] += 4.0
      for neighbour in (k - 1, k + 1):
        band[k, _mirror(neighbour, n)] += 1.0
    inverse = np.linalg.inv(band / 6.0)
  return inverse[[_mirror(k, n) for k in range(-2, n + 2)]]


def _mirror(k: int, n: int) -> int:
  """Index k reflected into [0, n) about the end samples (…, 2, 1, 0, 1, 2, …)."""
  if n == 1:
    return 0
  period = 2 * (n - 1)
  k = abs(k) % period
  return period - k if k >= n else k


def _check_inputs(images, matrices, order):
  if order not in (1, 3):
    raise ValueError(f"order: must be 1 (bilinear) or 3 (cubic B-spline), got {order!r}")
  images = tf.convert_to_tensor(images)
  if images.dtype not in (tf.float32, tf.float64):
    raise TypeError(f"images: expected float32 or float64, got dtype {images.dtype.name}")
  if images.shape.rank != 4:
    raise ValueError(f"images: expected rank 4 [B, H, W, C], got shape {images.shape}")
  height, width = images.shape[1], images.shape[2]
  if height is None or width is None:
    raise ValueError(f"images: height and width must be known when tracing, got {images.shape}")
  if height < 2 or width < 2:
    raise ValueError(f"images: height and width must be at least 2, got {images.shape}")
  matrices = tf.convert_to_tensor(matrices)
  if not matrices.dtype.is_floating:
    raise TypeError(f"matrices: expected a floating-point tensor, got dtype {matrices.dtype.name}")
  if matrices.shape.rank != 3 or matrices.shape[1:] != (3, 3):
    raise ValueError(f"matrices: expected shape [B, 3, 3], got {matrices.shape}")
  if (images.shape[0] is not None and matrices.shape[0] is not None
      and images.shape[0] != matrices.shape[0]):
    raise ValueError(
        f"matrices: batch size {matrices.shape[0]} does not match images' batch size "
        f"{images.shape[0]}")
  return images, tf.cast(matrices, images.dtype)


def source_coordinates(matrices: tf.Tensor, height: int, width: int):
  """Input pixel coordinates sampled by every output pixel.

  Args:
    matrices: float tensor `[B, 3, 3]` (output normalised coords → input normalised coords).
    height, width: the image size (≥ 2).

  Returns:
    (row, col): two tensors `[B, height * width]` of the matrices' dtype, in input pixel units
    (0 … height-1 / width-1 inside the image), output pixels in row-major order.
  """
  dtype = matrices.dtype
  a = matrices
  jj, ii = np.meshgrid(np.arange(width), np.arange(height))
  j = tf.constant(jj.reshape(-1), dtype)[None]
  i = tf.constant(ii.reshape(-1), dtype)[None]
  w1, h1 = float(width - 1), float(height - 1)
  col = (a[:, 0, 0:1] * j + a[:, 0, 1:2] * (w1 / h1) * i
         + 0.5 * w1 * (a[:, 0, 2:3] + 1.0 - a[:, 0, 0:1] - a[:, 0, 1:2]))
  row = (a[:, 1, 0:1] * (h1 / w1) * j + a[:, 1, 1:2] * i
         + 0.5 * h1 * (a[:, 1, 2:3] + 1.0 - a[:, 1, 0:1] - a[:, 1, 1:2]))
  return row, col


def _axis_weights(coord, size, order):
  """Neighbour start index [B, P] (int32) and weights [B, P, order + 1] along one axis."""
  # Keep the neighbourhood inside the (padded) array: the last sample uses base size-2 and t = 1.
  base = tf.clip_by_value(tf.floor(tf.stop_gradient(coord)), 0.0, float(size - 2))
  t = coord - base
  if order == 1:
    weights = tf.stack([1.0 - t, t], axis=-1)
  else:
    t2 = t * t
    t3 = t2 * t
    one_minus = 1.0 - t
    weights = tf.stack([one_minus * one_minus * one_minus / 6.0,
                        (3.0 * t3 - 6.0 * t2 + 4.0) / 6.0,
                        (-3.0 * t3 + 3.0 * t2 + 3.0 * t + 1.0) / 6.0,
                        t3 / 6.0], axis=-1)
  return tf.cast(base, tf.int32), weights


def warp(images, matrices, order: int = 3, fill_value: float = -1.0) -> tf.Tensor:
  """Warps images by affine matrices (one interpolation), differentiable w.r.t. both.

  Args:
    images: float32/float64 tensor `[B, H, W, C]` (H, W ≥ 2 and static), any values (the project
      uses [-1, 1] with background -1).
    matrices: float tensor `[B, 3, 3]` mapping OUTPUT normalised coordinates (x along the width, y
      along the height, both in [-1, 1], corner-aligned) to INPUT normalised coordinates. Only the
      top two rows are used. Cast to the images' dtype.
    order: 1 (bilinear) or 3 (cubic B-spline with prefilter, as SciPy's `map_coordinates`).
    fill_value: value of output pixels whose source lies outside the input.

  Returns:
    Tensor `[B, H, W, C]`, images' dtype.

  Raises:
    ValueError / TypeError at trace time (in Python) naming the bad argument: wrong rank, unknown
    height/width, non-3×3 matrices, mismatched batch sizes, non-float images, bad `order`.
  """
  images, matrices = _check_inputs(images, matrices, order)
  _, height, width, channels = images.shape
  dtype = images.dtype
  row, col = source_coordinates(matrices, height, width)
  inside = (row >= 0.0) & (row <= height - 1.0) & (col >= 0.0) & (col <= width - 1.0)

  if order == 3:
    q_h = tf.constant(_prefilter_matrix(height), dtype)
    q_w = tf.constant(_prefilter_matrix(width), dtype)
    source = tf.einsum("hk,bkwc->bhwc", q_h, images)
    source = tf.einsum("wk,bhkc->bhwc", q_w, source)  # [B, H+4, W+4, C]
    pad, src_w = 1, width + 4  # neighbour k of base b sits at padded index b - 1 + k + 2.
  else:
    source = images
    pad, src_w = 0, width

  row0, row_w = _axis_weights(row, height, order)
  col0, col_w = _axis_weights(col, width, order)
  taps = tf.range(order + 1, dtype=tf.int32)
  rows = row0[..., None] + pad + taps  # [B, P, n]
  cols = col0[..., None] + pad + taps
  index = rows[..., :, None] * src_w + cols[..., None, :]  # [B, P, n, n]
  batch = tf.shape(images)[0]
  flat_source = tf.reshape(source, [batch, -1, channels])
  flat_index = tf.reshape(index, [batch, -1])
  neighbours = tf.gather(flat_source, flat_index, batch_dims=1)
  neighbours = tf.reshape(neighbours, [batch, height * width, order + 1, order + 1, channels])
  values = tf.einsum("bpijc,bpi,bpj->bpc", neighbours, row_w, col_w)
  values = tf.where(inside[..., None], values, tf.constant(fill_value, dtype))
  return tf.reshape(values, [batch, height, width, channels])
