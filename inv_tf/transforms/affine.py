r"""Affine transformation matrices from Lie-algebra parameters.

An affine η = (η_0, …, η_5) = (tx, ty, rotation, log_scale_x, log_scale_y, shear) is mapped to a
3×3 homogeneous matrix by ONE matrix exponential of the summed algebra element

    M(η) = expm( Σ_i η_i G_i ),

with the generators (zero except for the listed entries; rows/columns are (x, y, 1)):

    G_0 (translate x): G[0,2] = 1          G_3 (scale x): G[0,0] = 1
    G_1 (translate y): G[1,2] = 1          G_4 (scale y): G[1,1] = 1
    G_2 (rotate):      G[1,0] = 1, G[0,1] = -1
    G_5 (shear, symmetric): G[0,1] = G[1,0] = 1

Closed forms that follow (and are tested): pure rotation θ gives [[cos θ, -sin θ, 0],
[sin θ, cos θ, 0], [0, 0, 1]]; pure translation gives [[1, 0, tx], [0, 1, ty], [0, 0, 1]];
scale gives diag(e^{sx}, e^{sy}, 1). M(-η) = M(η)^{-1}.

`M` maps OUTPUT normalised coordinates to INPUT coordinates (see `warp`): a positive tx shows
content from further right (the content moves left), a positive log-scale samples a wider area
(the content shrinks).

Matrix logarithm (`affine_log`, the inverse map). For M = [[A, t], [0, 1]] with det A > 0 the
principal logarithm is [[L, v], [0, 0]]. The 2×2 part, with s = tr(A)/2, d = det A and g = s² − d:

    L = ½ ln d · I + f · (A − s I),   f = φ/ω,            φ = atan2(ω, s), ω = √(−g)   (g < 0)
                                      f = artanh(μ/s)/μ,  μ = √g                        (g > 0)
                                      f = 1/s                                            (g = 0)

(A − sI is traceless with eigenvalues ±√g, so f maps them onto the eigenvalues' log differences).
The translation: expm([[L, v], [0, 0]]) has top-right V·v with V = Σ_k L^k/(k+1)!, linear in v;
V's columns are the top-right columns of expm3([[L, e_j], [0, 0]]), and v = V⁻¹ t. The algebra
element's coordinates in the generators are tx = v_0, ty = v_1, log_scale_x = L_00,
log_scale_y = L_11, rotation = (L_10 − L_01)/2, shear = (L_10 + L_01)/2. The six generators span
the whole algebra, so for the `affine` family affine_matrix(affine_log(M)) = M exactly whenever M
has a real logarithm. A family with fewer parameters keeps its own coordinates (the projection onto its
generators): exact when M is a product of the family's own elements that commute (e.g. rotations
with isotropic scale, or translations alone); otherwise the nearest element in those coordinates.
A has no real logarithm when its eigenvalues are real and negative (s < 0 < g: a half turn
combined with an anisotropic scale); then the log of −A plus a half turn is used (finite; exact
when A is a similarity).

Matrix exponential. `tf.linalg.expm`'s gradient does not compile under XLA (it is a while loop),
so we use scaling and squaring with a fixed-degree Taylor series, which is plain arithmetic:

    A_s = A / 2^s,  s = max(0, ceil(log2(‖A‖_1 / θ)))      (θ = 0.5, s ≤ MAX_SQUARINGS)
    expm(A) = (Σ_{k=0}^{N} A_s^k / k!)^(2^s)                 (N = 12, Horner's rule)

The truncation error of the series at ‖A_s‖ ≤ 0.5 is below 0.5^13/13! ≈ 2e-14 (relative), so the
result agrees with `tf.linalg.expm` to ~1e-12 in float64 and to float32 rounding in float32. The
squarings are unrolled MAX_SQUARINGS times and each is selected with `tf.where`, so shapes are
static and everything differentiates and compiles under `jit_compile=True`. s is piecewise constant
in η and is computed under `stop_gradient`; the gradient flows through the exact polynomial.
"""

import numpy as np
import tensorflow as tf

from inv_tf import families

_THETA = 0.5
_TAYLOR_DEGREE = 12
MAX_SQUARINGS = 16  # handles ‖A‖_1 up to 0.5 · 2^16 ≈ 3e4, far beyond any useful η.

_GENERATORS = np.zeros((6, 3, 3), np.float64)
_GENERATORS[0, 0, 2] = 1.0
_GENERATORS[1, 1, 2] = 1.0
_GENERATORS[2, 1, 0], _GENERATORS[2, 0, 1] = 1.0, -1.0
_GENERATORS[3, 0, 0] = 1.0
_GENERATORS[4, 1, 1] = 1.0
_GENERATORS[5, 0, 1], _GENERATORS[5, 1, 0] = 1.0, 1.0


def generators(family) -> np.ndarray:
  """The generators of a family's affine parameters.

  Args:
    family: a family name (see `FAMILIES`) or `Family`.

  Returns:
    float64 numpy array `[A, 3, 3]`, A = number of affine parameters of the family (0 for `hsv`).
  """
  fam = families.get_family(family)
  return _GENERATORS[list(fam.affine_indices)].reshape(fam.num_affine, 3, 3)


def expm3(a: tf.Tensor) -> tf.Tensor:
  """Matrix exponential of 3×3 matrices, XLA-compilable and differentiable.

  Args:
    a: float32/float64 tensor `[..., 3, 3]`, any finite values.

  Returns:
    Tensor `[..., 3, 3]` of the same dtype, expm(a).
  """
  a = tf.convert_to_tensor(a)
  dtype = a.dtype
  norm = tf.reduce_max(tf.reduce_sum(tf.abs(a), axis=-2), axis=-1)  # induced 1-norm, [...]
  s = tf.math.ceil(tf.math.log(tf.maximum(norm, _THETA) / _THETA) / np.log(2.0))
  s = tf.stop_gradient(tf.clip_by_value(s, 0.0, float(MAX_SQUARINGS)))
  scaled = a / tf.pow(tf.constant(2.0, dtype), s)[..., None, None]
  eye = tf.eye(3, batch_shape=tf.shape(a)[:-2], dtype=dtype)
  # Horner: I + A(I + A/2 (I + A/3 (...))).
  result = eye
  for k in range(_TAYLOR_DEGREE, 0, -1):
    result = eye + tf.matmul(scaled, result) / float(k)
  # A graph squares MAX_SQUARINGS times, each step kept only where s asks for it (one traceable
  # program for any input); run eagerly, the values are known, so the loop stops at max(s):
  # the same result with fewer ops.
  squarings = MAX_SQUARINGS
  if tf.executing_eagerly():
    finite_s = tf.where(tf.math.is_nan(s), tf.zeros_like(s), s)  # NaN input: no squaring
    squarings = int(tf.reduce_max(finite_s)) if int(tf.size(s)) else 0
  for i in range(squarings):
    result = tf.where((s > i)[..., None, None], tf.matmul(result, result), result)
  return result


def _check_eta(eta, fam: families.Family, dim: int, what: str = "eta") -> tf.Tensor:
  eta = tf.convert_to_tensor(eta)
  if not eta.dtype.is_floating:
    raise TypeError(f"{what}: expected a float32/float64 tensor, got dtype {eta.dtype.name}")
  if eta.shape.rank is None or eta.shape.rank < 1:
    raise ValueError(f"{what}: expected shape [..., {dim}], got rank {eta.shape.rank}")
  if eta.shape[-1] is not None and eta.shape[-1] != dim:
    raise ValueError(
        f"{what}: family {fam.name!r} has D = {dim} parameters ({', '.join(fam.parameters)}), "
        f"but the last axis of {what} has size {eta.shape[-1]}")
  return eta


def affine_matrix(eta, family) -> tf.Tensor:
  """M(η) = expm(Σ_i η_i G_i) for the affine parameters of η.

  Args:
    eta: float32/float64 tensor `[..., D]`, D = len(FAMILIES[family]). Colour parameters of the
      family (if any) are ignored.
    family: a family name (see `FAMILIES`) or `Family`.

  Returns:
    Tensor `[..., 3, 3]`, same dtype as `eta`; the identity for a family without affine parameters.
    The bottom row is exactly (0, 0, 1).

  Raises:
    ValueError: unknown family, or the last axis of `eta` is not D.
    TypeError: `eta` is not floating point.
  """
  fam = families.get_family(family)
  eta = _check_eta(eta, fam, fam.dim)
  affine_eta = eta[..., :fam.num_affine]
  if not fam.has_affine:
    return tf.eye(3, batch_shape=tf.shape(eta)[:-1], dtype=eta.dtype)
  gens = tf.constant(generators(fam), eta.dtype)
  algebra = tf.einsum("...a,aij->...ij", affine_eta, gens)
  # Only the top two rows are non-zero; the exponential keeps the bottom row (0, 0, 1).
  return expm3(algebra)


def _exp_and_v(log_a):
  """(A, V) for the 2×2 algebra part L `[..., 2, 2]`: A = expm(L) and V = Σ_k L^k/(k+1)!, so
  that expm([[L, v], [0, 0]]) has translation V v (module docstring). Both `[..., 2, 2]`."""
  # V's columns are the translations of expm3([[L, e_j], [0, 0]]); each top-left block is A.
  blocks = []
  for j in range(2):
    e_j = tf.one_hot(j, 2, dtype=log_a.dtype) + tf.zeros_like(log_a[..., 0])
    top = tf.concat([log_a, e_j[..., None]], axis=-1)                      # [..., 2, 3]
    blocks.append(expm3(tf.concat([top, tf.zeros_like(top[..., :1, :])], axis=-2)))
  return blocks[0][..., :2, :2], tf.stack([b[..., :2, 2] for b in blocks], axis=-1)


def _solve_2x2(m, t):
  """m⁻¹ t for m `[..., 2, 2]` and t `[..., 2]` (Cramer's rule)."""
  det = m[..., 0, 0] * m[..., 1, 1] - m[..., 0, 1] * m[..., 1, 0]
  return tf.stack([m[..., 1, 1] * t[..., 0] - m[..., 0, 1] * t[..., 1],
                   m[..., 0, 0] * t[..., 1] - m[..., 1, 0] * t[..., 0]], -1) / det[..., None]


def centring_eta(eta, centre, family) -> tf.Tensor:
  """η with its translation replaced so that M(η) maps `centre` to the origin.

  The linear part A = expm(L) of M(η) (L = the rotation, scale and shear terms of η) is kept;
  the translation becomes t = −A c, so M(η) (c, 1)ᵀ = (0, 0, 1)ᵀ, and η's tx, ty are its algebra
  coordinates V(L)⁻¹ t. The prototype T(x, η)⁻¹ then has the point c of x at its centre (a warp
  samples input M p for output p). Colour parameters pass through.

  Args:
    eta: float32/float64 tensor `[..., D]` of a family with tx and ty.
    centre: tensor `[..., 2]` of eta's dtype: (x, y) in normalised image coordinates ([-1, 1]
      inside the image; x to the right, y down).
    family: a family name or `Family` whose first two parameters are tx, ty.

  Returns:
    Tensor `[..., D]`, eta with tx, ty replaced.
  """
  fam = _translation_family(family, "centring_eta")
  eta = _check_eta(eta, fam, fam.dim)
  return _eta_from_centre(tf.concat([tf.cast(centre, eta.dtype), eta[..., 2:]], axis=-1), fam)[0]


def _translation_family(family, what: str) -> families.Family:
  fam = families.get_family(family)
  if fam.parameters[:2] != ("tx", "ty"):
    raise ValueError(f"{what}: family {fam.name!r} has no translation")
  return fam


def _linear_part(eta, fam: families.Family):
  """(A, V, log det A) of η's rotation, scale and shear terms L (translation ignored):
  A = expm(L) and V = Σ_k L^k/(k+1)! `[..., 2, 2]`, log det A = tr L `[...]`."""
  no_translation = tf.concat([tf.zeros_like(eta[..., :2]), eta[..., 2:]], axis=-1)
  log_a = tf.einsum("...k,kij->...ij", no_translation[..., :fam.num_affine],
                    tf.constant(generators(fam)[:, :2, :2], eta.dtype))
  a, v_mat = _exp_and_v(log_a)
  return a, v_mat, tf.linalg.trace(log_a)


def _log_abs_det_2x2(m):
  return tf.math.log(tf.abs(m[..., 0, 0] * m[..., 1, 1] - m[..., 0, 1] * m[..., 1, 0]))


def to_centre_coordinates(eta, family):
  """η → u = (c_x, c_y, η_2, …): the translation replaced by the centre c it stands for.

  c is where a warp by M(η) puts the centre of its source (M(η) (c, 1)ᵀ = (0, 0, 1)ᵀ, the
  translation column of M(η)⁻¹): for a resample T(x̂, η) of a prototype whose content is centred,
  the content's position. With t = (η_tx, η_ty) and the linear part L, A = expm(L),
  c = −A⁻¹ V(L) t, linear in t for fixed L, so

      log |det ∂u/∂η| = log |det V(L)| − tr L.

  Unlike t, c does not move when the rotation or scale changes (t's meaning depends on L), so a
  density over positions independent of orientation stays a product in u.

  Args:
    eta: float32/float64 `[..., D]` of `family` (its first two parameters tx, ty).
    family: a family name or `Family` with a translation.

  Returns:
    (u `[..., D]`, log |det ∂u/∂η| `[...]`), eta's dtype; c in normalised coordinates ([−1, 1]
    inside the image). The inverse is `from_centre_coordinates`.
  """
  fam = _translation_family(family, "to_centre_coordinates")
  eta = _check_eta(eta, fam, fam.dim)
  a, v_mat, log_det_a = _linear_part(eta, fam)
  centre = -_solve_2x2(a, tf.linalg.matvec(v_mat, eta[..., :2]))
  return (tf.concat([centre, eta[..., 2:]], axis=-1),
          _log_abs_det_2x2(v_mat) - log_det_a)


def from_centre_coordinates(u, family):
  """u = (c_x, c_y, η_2, …) → η, the inverse of `to_centre_coordinates`.

  Args:
    u: float32/float64 `[..., D]`: the centre c (normalised coordinates), then η's other
      parameters in `family`'s order.
    family: a family name or `Family` with a translation.

  Returns:
    (η `[..., D]`, log |det ∂η/∂u| `[...]` = tr L − log |det V(L)|), u's dtype.
  """
  fam = _translation_family(family, "from_centre_coordinates")
  u = _check_eta(u, fam, fam.dim, "u")
  eta, v_mat, log_det_a = _eta_from_centre(u, fam)
  return eta, log_det_a - _log_abs_det_2x2(v_mat)


def _eta_from_centre(u, fam: families.Family):
  """(η, V, tr L) for u = (c, η_2, …): the translation t = V⁻¹(−A c) of the module docstring,
  shared by `centring_eta` (q's centroid head, in the train step) and `from_centre_coordinates`
  (which alone needs the log-determinant)."""
  a, v_mat, log_det_a = _linear_part(u, fam)
  t = -tf.linalg.matvec(a, u[..., :2])
  return tf.concat([_solve_2x2(v_mat, t), u[..., 2:]], axis=-1), v_mat, log_det_a


def affine_log(matrix, family) -> tf.Tensor:
  """The η of `family` whose M(η) is `matrix` (the principal matrix logarithm; module docstring).

  Args:
    matrix: float32/float64 tensor `[..., 3, 3]` of affine matrices (bottom row (0, 0, 1)) whose
      2×2 part has a positive determinant, e.g. products of `affine_matrix` values.
    family: a family name or `Family`; its colour parameters (if any) come out as 0.

  Returns:
    Tensor `[..., D]` of `matrix`'s dtype: tx, ty in normalised units, rotation (in [−π, π] for
    a similarity; the principal log's, possibly beyond π, when the 2×2 part is anisotropic),
    log-scales, shear, as the family orders them. Exact for `affine`; for a family without some
    generators, the coordinates on its own generators.
  """
  fam = families.get_family(family)
  m = tf.convert_to_tensor(matrix)
  dtype = m.dtype
  a, t = m[..., :2, :2], m[..., :2, 2]
  s = 0.5 * (a[..., 0, 0] + a[..., 1, 1])
  d = a[..., 0, 0] * a[..., 1, 1] - a[..., 0, 1] * a[..., 1, 0]
  # Real negative eigenvalues (s < 0, g ≥ 0 up to round-off) have no real log: take the log of −A
  # and add a half turn. This also covers an exact half turn, where A − sI vanishes.
  half = tf.logical_and(s < 0.0, s * s - d > -1e-6 * s * s)
  a = tf.where(half[..., None, None], -a, a)
  s = tf.where(half, -s, s)
  g = s * s - d
  # At g = 0 (A a multiple of I) both forms tend to 1/s; the floor on √|g| lands there.
  root = tf.sqrt(tf.maximum(tf.abs(g), 1e-30))
  f_rot = tf.atan2(root, s) / root
  f_hyp = tf.atanh(tf.minimum(root / tf.maximum(s, 1e-30), 1.0 - 1e-7)) / root
  f = tf.where(g < 0.0, f_rot, f_hyp)
  eye = tf.eye(2, batch_shape=tf.shape(a)[:-2], dtype=dtype)
  log_a = (0.5 * tf.math.log(d)[..., None, None] * eye
           + f[..., None, None] * (a - s[..., None, None] * eye))
  rotation = 0.5 * (log_a[..., 1, 0] - log_a[..., 0, 1])
  # The half turn goes the shorter way: the rotation stays in [−π, π] (equal up to 2π for a
  # similarity). Without it the principal log's rotation may exceed π when A is anisotropic.
  rotation = tf.where(half, rotation - tf.where(rotation > 0.0, tf.constant(np.pi, dtype),
                                                tf.constant(-np.pi, dtype)), rotation)
  shear = 0.5 * (log_a[..., 1, 0] + log_a[..., 0, 1])
  log_a = tf.stack([tf.stack([log_a[..., 0, 0], shear - rotation], -1),
                    tf.stack([shear + rotation, log_a[..., 1, 1]], -1)], -2)
  v = _solve_2x2(_exp_and_v(log_a)[1], t)                                  # v = V⁻¹ t
  coords = tf.stack([v[..., 0], v[..., 1], rotation, log_a[..., 0, 0], log_a[..., 1, 1], shear],
                    axis=-1)                                                 # all six generators
  affine_eta = tf.gather(coords, list(fam.affine_indices), axis=-1)
  colour = tf.zeros(tf.concat([tf.shape(m)[:-2], [fam.num_colour]], 0), dtype)
  return tf.concat([affine_eta, colour], axis=-1)
