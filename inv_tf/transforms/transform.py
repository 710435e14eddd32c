r"""T(x, η) and batched transform objects that compose and invert with ONE warp.

A `Transform` holds, per batch element, an affine matrix M (3×3, output → input coordinates, see
`warp`) and an additive colour offset c = (Δhue, Δlog_sat, Δlog_val). Applying it to an image
first adjusts the colours by c (see `colour.adjust_hsv`; skipped when the family has no colour
parameters), then warps ONCE by M (skipped when the family has no affine parameters):

    T(x) = warp(colour(x, c), M).

Composition order. `a.then(b)` is the transform "apply a first, then b". Each warp samples the
previous image at M·p, so the second warp's pixel p reads the first output at M_b p, which reads x
at M_a M_b p:

    warp(warp(x, M_a), M_b) ≈ warp(x, M_a · M_b),   a.then(b).matrix = M_a @ M_b,
    a.then(b).colour = c_a + c_b.

(≈: the left side interpolates twice, the right side once; they agree up to interpolation error
in the interior.) `compose(t1, t2, …, tn)` = t1.then(t2)…then(tn). `inverse()` has matrix M⁻¹ and
colour −c, so `t.then(t.inverse())` is the identity. For a `Transform.from_eta(η)`,
M = expm(Σ η_i G_i) and the inverse equals `from_eta(-η)`.

The stage-1 composite of docs/design.md §4.1, "augment by η_r1, canonicalise view 1, re-apply
view-2's pose, undo augmentation 2", is `compose(r1, q1.inverse(), q2, r2.inverse())`, matrix
M(η_r1) M(η_q1)⁻¹ M(η_q2) M(η_r2)⁻¹, applied to x with one interpolation.
"""

import dataclasses
from typing import Optional

import tensorflow as tf

from inv_tf.transforms import affine
from inv_tf.transforms import colour as colour_lib
from inv_tf import families
from inv_tf.transforms import warp as warp_lib


@dataclasses.dataclass(frozen=True)
class Transform:
  """A batch of transformations of one family.

  Attributes:
    family: the `Family` (its name via `.family.name`).
    matrix: float tensor `[B, 3, 3]`, output → input normalised coordinates (identity for a
      colour-only family).
    colour: float tensor `[B, Dc]` of additive colour parameters in the family's colour order, or
      None when the family has no colour parameters.
  """
  family: families.Family
  matrix: tf.Tensor
  colour: Optional[tf.Tensor] = None

  @classmethod
  def from_eta(cls, eta, family) -> "Transform":
    """T_η for η `[B, D]` (float32/float64) of `family` (name or `Family`)."""
    fam = families.get_family(family)
    eta = tf.convert_to_tensor(eta)
    if eta.shape.rank != 2:
      raise ValueError(f"eta: expected shape [B, {fam.dim}], got {eta.shape}")
    matrix = affine.affine_matrix(eta, fam)
    colour = eta[:, fam.num_affine:] if fam.has_colour else None
    return cls(fam, matrix, colour)

  @classmethod
  def identity(cls, batch_size, family, dtype=tf.float32) -> "Transform":
    """The identity transform for a batch of `batch_size` (int or scalar tensor)."""
    fam = families.get_family(family)
    return cls.from_eta(tf.zeros([batch_size, fam.dim], dtype), fam)

  def _check_same_family(self, other: "Transform"):
    if other.family != self.family:
      raise ValueError(
          f"other: cannot compose family {self.family.name!r} with {other.family.name!r}")

  def then(self, other: "Transform") -> "Transform":
    """The transform "apply self first, then other": matrix M_self @ M_other, colours add."""
    self._check_same_family(other)
    colour = None if self.colour is None else self.colour + other.colour
    return Transform(self.family, tf.matmul(self.matrix, other.matrix), colour)

  def inverse(self) -> "Transform":
    """The inverse: matrix M⁻¹ (computed in closed form for affine 3×3), colour −c."""
    colour = None if self.colour is None else -self.colour
    return Transform(self.family, invert_affine(self.matrix), colour)

  def apply(self, images, order: int = 3, fill_value: float = -1.0, image_index=None,
            differentiable: bool = True) -> tf.Tensor:
    """T(x): colour adjustment (if any), then ONE warp (if the family is affine).

    Args:
      images: float32/float64 `[S, H, W, C]` in [-1, 1] (C = 3 if the family has colour); S = B
        unless `image_index` is given.
      order, fill_value: see `warp`.
      image_index: optional int `[B]` in [0, S): transform m applies to `images[image_index[m]]`
        (see `warp`: for an affine-only family the warp's table is built once per source image).
      differentiable: False when no gradient will be taken: the result is stop-gradiented and
        the warp uses its faster forward-only form (see `warp`).

    Returns:
      Tensor `[B, H, W, C]`, images' dtype (B = this transform's batch size).
    """
    if order not in (1, 3):
      raise ValueError(f"order: must be 1 (bilinear) or 3 (cubic B-spline), got {order!r}")
    images = tf.convert_to_tensor(images)
    if images.dtype not in (tf.float32, tf.float64):
      raise TypeError(f"images: expected float32 or float64, got dtype {images.dtype.name}")
    if images.shape.rank != 4:
      raise ValueError(f"images: expected rank 4 [B, H, W, C], got shape {images.shape}")
    if image_index is not None and (self.family.has_colour or not self.family.has_affine):
      # The colour change is per output, so the sources are copied first.
      images, image_index = tf.gather(images, image_index), None
    if self.family.has_colour:
      images = colour_lib.adjust_hsv(images, self.colour, self.family.colour_indices)
    if self.family.has_affine:
      images = warp_lib.warp(images, self.matrix, order=order, fill_value=fill_value,
                             image_index=image_index, differentiable=differentiable)
    return images if differentiable else tf.stop_gradient(images)


def compose(*transforms: Transform) -> Transform:
  """compose(t1, …, tn) = "apply t1, then t2, …, then tn" as ONE transform (one warp)."""
  if not transforms:
    raise ValueError("transforms: compose() needs at least one transform")
  result = transforms[0]
  for t in transforms[1:]:
    result = result.then(t)
  return result


def invert_affine(matrix: tf.Tensor) -> tf.Tensor:
  """Inverse of affine 3×3 matrices [[A, t], [0, 0, 1]] as [[A⁻¹, -A⁻¹ t], [0, 0, 1]].

  Args:
    matrix: float tensor `[..., 3, 3]` whose bottom row is (0, 0, 1) and whose 2×2 block is
      invertible.

  Returns:
    Tensor `[..., 3, 3]`, same dtype. Closed form (no LU), so it compiles and differentiates
    under XLA.
  """
  a, b, tx = matrix[..., 0, 0], matrix[..., 0, 1], matrix[..., 0, 2]
  c, d, ty = matrix[..., 1, 0], matrix[..., 1, 1], matrix[..., 1, 2]
  det = a * d - b * c
  ia, ib, ic, id_ = d / det, -b / det, -c / det, a / det
  zero, one = tf.zeros_like(a), tf.ones_like(a)
  rows = [tf.stack([ia, ib, -(ia * tx + ib * ty)], -1),
          tf.stack([ic, id_, -(ic * tx + id_ * ty)], -1),
          tf.stack([zero, zero, one], -1)]
  return tf.stack(rows, axis=-2)


def transform_images(images, eta, family, order: int = 3, fill_value: float = -1.0) -> tf.Tensor:
  """T(x, η): the colour part in HSV (if the family has one), then the affine part as ONE warp.

  Args:
    images: float32/float64 `[B, H, W, C]`, values in [-1, 1] (background -1); C = 3 for families
      with colour parameters.
    eta: float tensor `[B, D]`, D = len(FAMILIES[family]), in the units of `families`.
    family: a family name from `FAMILIES` (or a `Family`).
    order: 1 (bilinear) or 3 (cubic B-spline).
    fill_value: value for pixels whose source lies outside the image.

  Returns:
    Tensor `[B, H, W, C]`, images' dtype, in [-1, 1] up to interpolation overshoot.
  """
  fam = families.get_family(family)
  images = tf.convert_to_tensor(images)
  eta = tf.convert_to_tensor(eta)
  if not eta.dtype.is_floating:
    raise TypeError(f"eta: expected a float32/float64 tensor, got dtype {eta.dtype.name}")
  if images.dtype in (tf.float32, tf.float64):
    eta = tf.cast(eta, images.dtype)
  if (images.shape.rank == 4 and eta.shape.rank == 2 and images.shape[0] is not None
      and eta.shape[0] is not None and images.shape[0] != eta.shape[0]):
    raise ValueError(
        f"eta: batch size {eta.shape[0]} does not match images' batch size {images.shape[0]}")
  return Transform.from_eta(eta, fam).apply(images, order=order, fill_value=fill_value)
