r"""Differentiable image warping by an affine matrix (inverse mapping), bilinear or cubic B-spline.

Convention (Spatial-Transformer style; docs/design.md §2.2). For an output pixel at row i,
column j of an H×W image, its normalised coordinates are

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
  is linear, so we precompute its inverse matrix (float64, per image size, with the mirrored
  coefficients c_{-1} and c_n appended as extra rows) and apply it as two small matrix products.
  The value is Σ_{a,b} β(row - r_a) β(col - c_b) c[r_a, c_b] over the 4×4 neighbours, with the cubic
  B-spline weights for t = frac(coordinate):
      w_{-1} = (1-t)³/6,  w_0 = (3t³ - 6t² + 4)/6,  w_1 = (-3t³ + 3t² + 3t + 1)/6,  w_2 = t³/6.
* Fill: a point is inside iff -ε ≤ row ≤ H - 1 + ε and -ε ≤ col ≤ W - 1 + ε with ε = 1e-3 pixel
  (SciPy's "constant" mode, up to ε); outside points take `fill_value`. The ε keeps a border pixel
  whose source lands a float32 round-off outside the image (a pose composed with its inverse,
  matrix products of two exponentials) instead of replacing it with the fill.

With n = order + 1 taps per axis and base = clip(floor(coordinate), 0, size - 2) (the last sample
uses base size - 2 and t = 1, so the neighbourhood never leaves the array), the value is

    v = Σ_a w_a(t_row) · u_a,    u_a = Σ_b w_b(t_col) · S[base_row + a, base_col + b],

where S is the image (order 1) or the coefficient array c_{-1} … c_H × c_{-1} … c_W (order 3,
(H + 2) × (W + 2); tap a of base k is c_{k-1+a}, i.e. row k + a of S). The neighbours are read
from a ROW-WINDOW TABLE: R[r, k] = (S[r, k], S[r, k+1], …, S[r, k+n-1]) for every row r of S and
window start k = 0 … W - 2, stored as [rows · (W - 1), n · C] (n shifted slices of S, stacked).
A pixel then needs n gathers of one contiguous n·C-vector (table rows start + a·(W - 1)) instead
of n² scalar gathers. Two evaluation orders, same sums:
* differentiable (the default): the n windows of every pixel in ONE gather, [B, P, n, n·C],
  contracted with both weight vectors; autodiff reuses that tensor for the scatter-add into the
  table and for the coordinate derivatives.
* forward-only (`differentiable=False`): one window at a time, each reduced as soon as it is
  read, so nothing [B, P, n, n·C]-sized is materialised.
Measured on this project's 2-core CPU under XLA (batch 512), time relative to the n² scalar
gathers (forward / forward-only / forward + backward w.r.t. image and matrix):
    28×28×1 cubic 0.59 / 0.44 / 0.36      (forward-only sharing 5 copies by `image_index`: 0.26)
    28×28×1 bilinear 0.68 / 0.40 / 0.65
    64×64×3 cubic 0.70 / 0.90 / 0.70,     64×64×3 bilinear 1.16 / 0.93 / 0.84.

Sharing sources. `image_index` lets many outputs read one source image: output m samples image
`image_index[m]` with matrix m, so `warp(x, M, image_index=repeat(range(B), k))` equals
`warp(repeat(x, k), M)` (the same sums in the same order) while the table (and, for order 3, the
prefilter) is computed once per source image rather than once per copy.

Gradients: w.r.t. the image through the gather (a scatter-add), the stacked slices and the
prefilter's matrix products; w.r.t. the matrix through the weights' polynomial dependence on t
(the floor is piecewise constant). Both are exact derivatives of the interpolant (it is C⁰ for
order 1 and C² for order 3 inside the image) and everything compiles under XLA.
"""

import functools

import numpy as np
import tensorflow as tf


# Source points this close (in pixels) outside the image still count as inside (module docstring).
_EDGE_TOLERANCE = 1e-3


@functools.lru_cache(maxsize=None)
def _prefilter_matrix(n: int) -> np.ndarray:
  """Cubic B-spline prefilter with mirror boundaries, padded by 1 mirrored coefficient per side.

  Returns:
    float64 `[n + 2, n]` matrix Q such that Q @ x = (c_{-1}, c_0, …, c_{n-1}, c_n) for samples x of
    length n ≥ 2.
  """
  band = np.zeros((n, n))
  for k in range(n):
    band[k, k] += 4.0
    for neighbour in (k - 1, k + 1):
      band[k, _mirror(neighbour, n)] += 1.0
  inverse = np.linalg.inv(band / 6.0)
  return inverse[[_mirror(k, n) for k in range(-1, n + 1)]]


def _mirror(k: int, n: int) -> int:
  """Index k reflected into [0, n) about the end samples (…, 2, 1, 0, 1, 2, …)."""
  if n == 1:
    return 0
  period = 2 * (n - 1)
  k = abs(k) % period
  return period - k if k >= n else k


def _check_inputs(images, matrices, order, image_index=None):
  if order not in (1, 3):
    raise ValueError(f"order: must be 1 (bilinear) or 3 (cubic B-spline), got {order!r}")
  images = tf.convert_to_tensor(images)
  if images.dtype not in (tf.float32, tf.float64):
    raise TypeError(f"images: expected float32 or float64, got dtype {images.dtype.name}")
  if images.shape.rank != 4:
    raise ValueError(f"images: expected rank 4 [B, H, W, C], got shape {images.shape}")
  height, width, channels = images.shape[1:]
  if height is None or width is None or channels is None:
    raise ValueError(
        f"images: height, width and channels must be known when tracing, got {images.shape}")
  if height < 2 or width < 2:
    raise ValueError(f"images: height and width must be at least 2, got {images.shape}")
  matrices = tf.convert_to_tensor(matrices)
  if not matrices.dtype.is_floating:
    raise TypeError(f"matrices: expected a floating-point tensor, got dtype {matrices.dtype.name}")
  if matrices.shape.rank != 3 or matrices.shape[1:] != (3, 3):
    raise ValueError(f"matrices: expected shape [B, 3, 3], got {matrices.shape}")
  if image_index is None:
    if (images.shape[0] is not None and matrices.shape[0] is not None
        and images.shape[0] != matrices.shape[0]):
      raise ValueError(
          f"matrices: batch size {matrices.shape[0]} does not match images' batch size "
          f"{images.shape[0]}")
  else:
    image_index = tf.convert_to_tensor(image_index)
    if not image_index.dtype.is_integer:
      raise TypeError(f"image_index: expected an integer tensor, got dtype "
                      f"{image_index.dtype.name}")
    if image_index.shape.rank != 1:
      raise ValueError(f"image_index: expected shape [B], got {image_index.shape}")
    if (image_index.shape[0] is not None and matrices.shape[0] is not None
        and image_index.shape[0] != matrices.shape[0]):
      raise ValueError(
          f"image_index: length {image_index.shape[0]} does not match matrices' batch size "
          f"{matrices.shape[0]}")
    image_index = tf.cast(image_index, tf.int32)
  return images, tf.cast(matrices, images.dtype), image_index


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
  """Neighbour start index [B, P] (int32, in [0, size - 2]) and weights [B, P, order + 1]."""
  # Keep the neighbourhood inside the array: the last sample uses base size-2 and t = 1.
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


def _interpolate(table, row, col, image_index, size, order, at_once):
  """v [B, P, C] = Σ_a w_a(t_row) Σ_b w_b(t_col) R[start + a · (W - 1), b] (module docstring).

  Args:
    table: `[S · rows · (W - 1), n · C]` from `_row_window_table`.
    row, col: source coordinates `[B, P]`; image_index: int32 `[B]`.
    size: (H, W, C, rows); order: 1 or 3.
    at_once: gather the n windows of a pixel as ONE `[B, P, n, n·C]` tensor (what the backward
      pass wants: the gradients w.r.t. the table and the coordinates reuse it) rather than one
      `[B, P, n·C]` window at a time, each reduced as soon as it is read (the faster forward).
  """
  height, width, channels, rows = size
  taps = order + 1
  row0, row_w = _axis_weights(row, height, order)
  col0, col_w = _axis_weights(col, width, order)
  start = (image_index[:, None] * rows + row0) * (width - 1) + col0  # [B, P]
  shape = tf.shape(start)
  if at_once:
    windows = tf.gather(table, start[..., None] + np.arange(taps) * (width - 1))
    windows = tf.reshape(windows, tf.concat([shape, [taps, taps, channels]], axis=0))
    along_rows = tf.reduce_sum(windows * col_w[:, :, None, :, None], axis=3)  # [B, P, n, C]
    return tf.reduce_sum(along_rows * row_w[..., None], axis=2)
  values = None
  for a in range(taps):
    window = tf.gather(table, start + a * (width - 1))  # [B, P, n·C]
    window = tf.reshape(window, tf.concat([shape, [taps, channels]], axis=0))
    term = row_w[..., a:a + 1] * tf.reduce_sum(window * col_w[..., None], axis=2)
    values = term if values is None else values + term
  return values


def _row_window_table(images, order):
  """The row-window table R of the module docstring.

  Args:
    images: float `[S, H, W, C]` (static H, W, C; H, W ≥ 2).
    order: 1 or 3.

  Returns:
    (table, rows): `table` of the images' dtype, shape `[S · rows · (W - 1), n · C]`
    (n = order + 1), row (s · rows + r) · (W - 1) + k holding taps b = 0 … n - 1 (channels
    fastest) of row r at window start k; `rows` = H (order 1) or H + 2 (order 3).
  """
  _, height, width, channels = images.shape
  source = images
  if order == 3:
    dtype = images.dtype
    source = tf.einsum("hk,skwc->shwc", tf.constant(_prefilter_matrix(height), dtype), source)
    source = tf.einsum("wk,shkc->shwc", tf.constant(_prefilter_matrix(width), dtype), source)
  taps = order + 1
  table = tf.stack([source[:, :, b:width - 1 + b] for b in range(taps)], axis=3)
  return tf.reshape(table, [-1, taps * channels]), source.shape[1]


def warp(images, matrices, order: int = 3, fill_value: float = -1.0, image_index=None,
         differentiable: bool = True) -> tf.Tensor:
  """Warps images by affine matrices (one interpolation), differentiable w.r.t. both.

  Args:
    images: float32/float64 tensor `[S, H, W, C]` (H, W ≥ 2 and static), any values (the project
      uses [-1, 1] with background -1).
    matrices: float tensor `[B, 3, 3]` mapping OUTPUT normalised coordinates (x along the width, y
      along the height, both in [-1, 1], corner-aligned) to INPUT normalised coordinates. Only the
      top two rows are used. Cast to the images' dtype. B = S unless `image_index` is given.
    order: 1 (bilinear) or 3 (cubic B-spline with prefilter, as SciPy's `map_coordinates`).
    fill_value: value of output pixels whose source lies outside the input.
    image_index: optional int32 `[B]` with values in [0, S): output m warps
      `images[image_index[m]]` by `matrices[m]` (e.g. `tf.repeat(tf.range(S), k)` for k copies of
      each image, image-major). None means output m warps `images[m]`. Out-of-range values are
      not checked.
    differentiable: False when no gradient will be taken (e.g. stage 2's prototypes): the result
      is then stop-gradiented and computed in the faster forward-only form (see the module
      docstring). The values are the same up to float rounding.

  Returns:
    Tensor `[B, H, W, C]`, images' dtype.

  Raises:
    ValueError / TypeError at trace time (in Python) naming the bad argument: wrong rank, unknown
    height/width/channels, non-3×3 matrices, mismatched batch sizes, non-float images, bad `order`,
    a non-integer or non-vector `image_index`.
  """
  images, matrices, image_index = _check_inputs(images, matrices, order, image_index)
  if not differentiable:  # Nothing below is then on any backward pass.
    images, matrices = tf.stop_gradient(images), tf.stop_gradient(matrices)
  _, height, width, channels = images.shape
  dtype = images.dtype
  row, col = source_coordinates(matrices, height, width)
  inside = ((row >= -_EDGE_TOLERANCE) & (row <= height - 1.0 + _EDGE_TOLERANCE)
            & (col >= -_EDGE_TOLERANCE) & (col <= width - 1.0 + _EDGE_TOLERANCE))

  table, rows = _row_window_table(images, order)
  if image_index is None:
    image_index = tf.range(tf.shape(images)[0])
  values = _interpolate(table, row, col, image_index, (height, width, channels, rows), order,
                        at_once=differentiable)
  values = tf.where(inside[..., None], values, tf.constant(fill_value, dtype))
  return tf.reshape(values, [tf.shape(matrices)[0], height, width, channels])


def ink_centroid(images, background: float = -1.0) -> tf.Tensor:
  """The centre of mass of each image's ink, in the normalised coordinates of the module docstring.

  The mass of a pixel is max(0, Σ_channels (value − background)) / 2, so a background pixel has
  none. The centroid moves with the ink: shifting the content by d (normalised units, nothing
  leaving the image) shifts it by d, and an affine warp by M moves it to M⁻¹ c.

  Args:
    images: float tensor `[B, H, W, C]` (values in [-1, 1] with background −1 for the datasets here).
    background: the value that carries no mass.

  Returns:
    Tensor `[B, 2]` of the images' dtype: (x, y), x to the right and y down, in [-1, 1]; (0, 0)
    for an image without ink.
  """
  return _centroid(*_ink_mass(images, background))


def ink_radius(images, background: float = -1.0) -> tf.Tensor:
  """The RMS distance of each image's ink from its centroid, in normalised units.

  With the mass m of `ink_centroid` and its centroid c: r = sqrt(Σ m |p − c|² / Σ m). r is
  unchanged by moves and turns of the content and scales with it (a uniform disc of radius R
  gives R/√2, a square of side a gives a/√6).

  Args:
    images: float tensor `[B, H, W, C]`, as for `ink_centroid`.
    background: the value that carries no mass.

  Returns:
    Tensor `[B]` of the images' dtype, ≥ 0; 0 for an image without ink.
  """
  return ink_moments(images, background)[1]


def ink_moments(images, background: float = -1.0):
  """(`ink_centroid`, `ink_radius`) of the images from one pass over their ink mass.

  Returns:
    (centre `[B, 2]`, radius `[B]`), the images' dtype, as the two functions return them.
  """
  mass, centre, dx, dy, total = _centred_ink(images, background)
  second = tf.reduce_sum(mass * (tf.square(dx) + tf.square(dy)), axis=[1, 2]) / total
  return centre, tf.sqrt(tf.maximum(second, tf.constant(1e-12, second.dtype)))


def half_turn_asymmetry(images, background: float = -1.0) -> tf.Tensor:
  """How far each image's ink is from its own half turn about the image centre.

      a = Σ (m − R_π m)² / (Σ m² + Σ (R_π m)²)          m: the ink mass of `ink_centroid`

  R_π reverses both pixel axes, which is exactly the half turn about the centre of the
  normalised coordinates (matrix −I), so no interpolation is involved. a = 0 for ink that is its
  own half turn (an O, an upright 1 drawn straight), 1 when the ink and its half turn do not
  overlap at all, and ½ for uncorrelated ink of equal mass.

  Args:
    images: float tensor `[B, H, W, C]`, as for `ink_centroid`.
    background: the value that carries no mass.

  Returns:
    Tensor `[B]` of the images' dtype, in [0, 1]; 0 for an image without ink.
  """
  mass = _ink_mass(images, background)[0]
  turned = tf.reverse(mass, axis=[1, 2])
  norm = tf.reduce_sum(tf.square(mass) + tf.square(turned), axis=[1, 2])
  return tf.reduce_sum(tf.square(mass - turned), axis=[1, 2]) / tf.maximum(
      norm, tf.constant(1e-12, norm.dtype))


def recentre(images, centre, shrink, order: int = 1, differentiable: bool = True) -> tf.Tensor:
  """Images resampled about a point: output p reads input c + s · p (one warp).

  Moves c to the centre and magnifies by 1/s: translation and isotropic scale, written out as a
  matrix rather than exponentiated from η.

  Args:
    images: float tensor `[B, H, W, C]`.
    centre: `[B, 2]`, c (x, y) in normalised units, e.g. `ink_centroid(images)`.
    shrink: `[B]`, s > 0 (< 1 zooms in).
    order, differentiable: as for `warp`.

  Returns:
    Tensor `[B, H, W, C]`, the images' dtype.
  """
  shrink = tf.convert_to_tensor(shrink)
  zero, one = tf.zeros_like(shrink), tf.ones_like(shrink)
  matrix = tf.stack([tf.stack([shrink, zero, centre[:, 0]], -1),
                     tf.stack([zero, shrink, centre[:, 1]], -1),
                     tf.stack([zero, zero, one], -1)], axis=1)                  # [B, 3, 3]
  return warp(images, matrix, order=order, differentiable=differentiable)


def ink_axis(images, background: float = -1.0):
  """The principal axis of each image's ink, from its second moments about `ink_centroid`.

  With the mass m and centroid c of `ink_centroid` and d = p − c: μ20 = Σ m d_x², μ02 = Σ m d_y²,
  μ11 = Σ m d_x d_y (over Σ m). The axis angle α = −½ atan2(2 μ11, μ20 − μ02) (the image's y
  points down) turns with the content in the sense of η's rotation: a turn of the content by φ
  (`transform_images(…, "rotation")`) moves α to α + φ modulo π, exactly up to resampling. The
  anisotropy a = √((μ20 − μ02)² + 4 μ11²) / (μ20 + μ02) is the eigenvalue gap of the moment
  matrix over its trace: 0 for ink with no axis (a disc, a square, a blank image), 1 for a line.
  α is only meaningful where a is well above 0.

  Args:
    images: float tensor `[B, H, W, C]`, as for `ink_centroid`.
    background: the value that carries no mass.

  Returns:
    (angle `[B]` in [−π/2, π/2], anisotropy `[B]` in [0, 1]), the images' dtype.
  """
  mass, _, dx, dy, total = _centred_ink(images, background)
  mu20 = tf.reduce_sum(mass * tf.square(dx), axis=[1, 2]) / total
  mu02 = tf.reduce_sum(mass * tf.square(dy), axis=[1, 2]) / total
  mu11 = tf.reduce_sum(mass * dx * dy, axis=[1, 2]) / total
  angle = -0.5 * tf.atan2(2.0 * mu11, mu20 - mu02)
  gap = tf.sqrt(tf.square(mu20 - mu02) + 4.0 * tf.square(mu11))
  tiny = tf.constant(1e-12, gap.dtype)
  anisotropy = tf.where(mu20 + mu02 > tiny, gap / tf.maximum(mu20 + mu02, tiny), tf.zeros_like(gap))
  return angle, anisotropy


def _centred_ink(images, background):
  """(mass `[B, H, W]`, centroid `[B, 2]`, x − c_x `[B, 1, W]`, y − c_y `[B, H, 1]`, total mass
  `[B]`): what the second moments of the ink need."""
  mass, xs, ys, total = _ink_mass(images, background)
  centre = _centroid(mass, xs, ys, total)
  dx = xs[None, None, :] - centre[:, 0, None, None]
  dy = ys[None, :, None] - centre[:, 1, None, None]
  return mass, centre, dx, dy, total


def _centroid(mass, xs, ys, total):
  """The centre of mass `[B, 2]` (x, y) from `_ink_mass`'s outputs."""
  x = tf.reduce_sum(tf.reduce_sum(mass, axis=1) * xs, axis=-1)
  y = tf.reduce_sum(tf.reduce_sum(mass, axis=2) * ys, axis=-1)
  return tf.stack([x / total, y / total], axis=-1)


def _ink_mass(images, background):
  """(mass `[B, H, W]`, x coordinates `[W]`, y coordinates `[H]`, total mass `[B]` ≥ 1e-6)."""
  images = tf.convert_to_tensor(images)
  height, width = images.shape[1], images.shape[2]
  mass = tf.nn.relu(tf.reduce_sum(images - background, axis=-1)) / 2.0
  ys = tf.constant(np.linspace(-1.0, 1.0, height), images.dtype)
  xs = tf.constant(np.linspace(-1.0, 1.0, width), images.dtype)
  total = tf.maximum(tf.reduce_sum(mass, axis=[1, 2]), tf.constant(1e-6, images.dtype))
  return mass, xs, ys, total
