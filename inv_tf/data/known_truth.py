r"""Known-truth datasets: every example keeps the TRUE transformation η* that was applied to it.

Each class c has a true distribution P_c over the `affine_no_shear` parameters
η = (tx, ty, rotation, log_scale_x, log_scale_y) (units of `inv_tf.families`:
translations in normalised image units, the image spanning [−1, 1]; rotation in radians; scales as
natural logs). An example is an upright original x₀ transformed once, x = T(x₀, η*) with
η* ~ P_{label}, and carries η* as its field `eta_true` (float32 `[5]`); `rotation` = η*[2].

`ClassTruth` describes one P_c: the three parts are independent,

    rotation θ:     "fixed" δ(v)  |  "uniform" U(lo, hi)  |  "two_point" ½δ(a) + ½δ(b)
    translation:    tx, ty ~ U(−t, t) independently           (t = 0: none)
    log-scale:      s ~ U(−s_max, s_max), log_scale_x = log_scale_y = s   (isotropic; 0: none)

and maps four uniforms u ∈ [0, 1)⁴ (one per part: rotation, tx, ty, log-scale) to η by inverse
CDFs, so datasets draw u statelessly per example and `sample` draws u from a NumPy generator:

    θ = lo + u₀·(hi − lo) (uniform; fixed v has lo = hi = v),  θ = a if u₀ < ½ else b (two_point)
    tx = t·(2u₁ − 1),  ty = t·(2u₂ − 1),  s = s_max·(2u₃ − 1).

Rotation spread, analytically. The mean resultant length R̄ = |E[exp(iθ)]| is

    fixed: 1,    uniform(lo, hi): |sin(w/2) / (w/2)| with w = hi − lo,
    two_point(a, b): |cos((b − a)/2)|,

and the circular standard deviation is σ_c = √(−2 ln R̄) (∞ when R̄ = 0; R̄ < 1e-12 counts as 0).

Per-class MNIST (`MNIST_PER_CLASS`, dataset `mnist_per_class`)
--------------------------------------------------------------
| label | rotation θ               | tx, ty each     | log-scale s (x = y) | R̄      | σ_c     |
|-------|--------------------------|-----------------|---------------------|--------|---------|
| 0     | U(−45°, 45°)             | 0               | 0                   | 0.9003 | 0.4583  |
| 1     | 0 (upright)              | U(−0.2, 0.2)    | 0                   | 1      | 0       |
| 2     | U(−180°, 180°)           | 0               | 0                   | 0      | ∞       |
| 3     | U(−90°, 90°)             | 0               | 0                   | 0.6366 | 0.9504  |
| 4     | 0 (upright)              | 0               | 0                   | 1      | 0       |
| 5     | −60° or +60° (½ each)    | 0               | 0                   | 0.5    | 1.1774  |
| 6     | U(0°, 90°) (asymmetric)  | 0               | 0                   | 0.9003 | 0.4583  |
| 7     | U(−180°, 180°)           | 0               | 0                   | 0      | ∞       |
| 8     | 0 (upright)              | 0               | U(−0.25, 0.25)      | 1      | 0       |
| 9     | 0 (upright)              | 0               | 0                   | 1      | 0       |

(R̄ for ±45° and [0°, 90°]: sin(π/4)/(π/4) = 2√2/π; for ±90°: 2/π; for ±60°: cos 60° = ½.) A
translation of 0.2 is a tenth of the image width (2.8 px at 28×28); log-scale ±0.25 is a factor
in [0.78, 1.28]. MNIST's own digits are not all upright, so "upright" means "as written".

Glyphs (`GLYPH_GROUPS`, dataset `glyphs`)
-----------------------------------------
| label | glyph | rotation θ       | R̄      | σ_c    |
|-------|-------|------------------|--------|--------|
| 0     | "F"   | 0 (upright)      | 1      | 0      |
| 1     | "4"   | U(−90°, 90°)     | 0.6366 | 0.9504 |

Two blocky glyphs with no rotational or mirror symmetry, an "F" and a "4", drawn as axis-aligned
strokes (rectangles that touch but do not overlap), upright (y down), with the bounding-box
centre at the image centre. Why these two: strokes on the outline of a box ("G", "P", "b", …)
are nearly mirror-symmetric (a blocky 24×24 "G" can differ from its mirror image by a mean
absolute pixel difference of only 0.07), while every rendered "F" and "4" differs from each of
its rotations by 90°/180°/270° by more than 0.2 and from each of its four mirror images by more
than 0.1 (measured over 1,000 examples of each, seeds 0–2, at 16, 24 and 64 px): their
orientation is never ambiguous, and they look unlike each other.

Per example these nuisance parameters are drawn uniformly; they change the glyph's shape, not
its pose, so they are NOT transformations the model learns. Normalised units (the image spans
[−1, 1]); the bounding box is a × h, x ∈ [−a/2, a/2], y ∈ [−h/2, h/2]:

| nuisance           | "F" (label 0)                       | "4" (label 1)                       |
|--------------------|-------------------------------------|-------------------------------------|
| stroke thickness t | U(0.16, 0.24) (1.9–2.9 px at 24²)   | same                                |
| height h           | U(1.10, 1.25)                       | same                                |
| width a            | U(0.70, 0.82) (top bar length)      | U(0.80, 0.90) (crossbar length)     |
| bar length         | middle bar from left: U(0.48, 0.62) | left crossbar: U(0.45, 0.55)·a      |
| bar position y     | middle bar centre: U(−0.18, −0.08)  | crossbar top: U(0.05, 0.15)         |

"F" = stem (x ∈ [−a/2, −a/2 + t], full height) + top bar + middle bar (right of the stem);
"4" = left arm (top down to the crossbar) + crossbar left of the stem + stem (full height) +
crossbar right of the stem.

Rendering: a pixel's ink coverage c is the fraction of its 8×8 sub-pixel sample points inside
the strokes (supersampled box-filter anti-aliasing; a rectangle's coverage is separable, so this
is cheap), and its value is 2c − 1 (background −1). Then the group's η* = (0, 0, θ, 0, 0) is
applied with `transform_images(family="affine_no_shear", order=1, fill_value=−1)` and the result
clipped to [−1, 1]. The largest glyph's half-diagonal is 0.77 < 1, so no rotation cuts it.

Splits (option `split_sizes`, default (2,000, 250, 250)) are built in memory with NumPy in well
under a second. Split k (0 train, 1 validation, 2 test) is drawn from
`np.random.default_rng([seed, PURPOSE_GLYPHS, k])`, one row of 9 uniforms per example in order
(4 for η*, 5 nuisance), so example i is the same for any split size; labels alternate 0, 1, 0, …;
`index` = 1,000,000·k + i. `num_train` takes the first n training examples (nested).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Mapping

import numpy as np
import tensorflow as tf

from inv_tf import catalog
from inv_tf import transforms
from inv_tf.catalog import DataError
from inv_tf.data import common

ROTATION_KINDS = ("fixed", "uniform", "two_point")
TRUTH_FAMILY = "affine_no_shear"  # the family of every `eta_true`
ETA_DIM = 5
RESULTANT_ZERO = 1e-12  # R̄ below this counts as 0 (σ_c = ∞)


@dataclasses.dataclass(frozen=True)
class ClassTruth:
  """One class's true distribution over affine_no_shear η (see the module docstring).

  Attributes:
    rotation_kind: "fixed", "uniform" or "two_point".
    rotation_params: radians: (value,) for "fixed", (low, high) with low ≤ high for "uniform",
      (a, b) for "two_point" (each with probability ½).
    translation: t ≥ 0: tx, ty ~ U(−t, t) independently (normalised units; 0 = none).
    log_scale: s_max ≥ 0: one s ~ U(−s_max, s_max) used for both log_scale_x and log_scale_y.
    description: short human description.
  """
  rotation_kind: str = "fixed"
  rotation_params: tuple[float, ...] = (0.0,)
  translation: float = 0.0
  log_scale: float = 0.0
  description: str = ""

  def __post_init__(self):
    if self.rotation_kind not in ROTATION_KINDS:
      raise DataError(f"ClassTruth: rotation_kind must be one of {', '.join(ROTATION_KINDS)}, "
                      f"got {self.rotation_kind!r}")
    try:
      params = tuple(float(p) for p in self.rotation_params)
    except (TypeError, ValueError):
      params = ()
    expected = 1 if self.rotation_kind == "fixed" else 2
    if len(params) != expected or not all(math.isfinite(p) for p in params):
      raise DataError(f"ClassTruth: a {self.rotation_kind} rotation needs {expected} finite "
                      f"parameter(s), got {self.rotation_params!r}")
    if self.rotation_kind == "uniform" and params[0] > params[1]:
      raise DataError(f"ClassTruth: uniform rotation needs low <= high, got {params}")
    for field in ("translation", "log_scale"):
      value = float(getattr(self, field))
      if not math.isfinite(value) or value < 0:
        raise DataError(f"ClassTruth: {field} must be a finite number >= 0, got "
                        f"{getattr(self, field)!r}")
      object.__setattr__(self, field, value)
    object.__setattr__(self, "rotation_params", params)

  @classmethod
  def fixed(cls, value: float = 0.0, **kwargs) -> "ClassTruth":
    """θ = value (radians); `kwargs`: translation, log_scale, description."""
    return cls("fixed", (value,), **kwargs)

  @classmethod
  def uniform(cls, low: float, high: float, **kwargs) -> "ClassTruth":
    """θ ~ U(low, high) (radians)."""
    return cls("uniform", (low, high), **kwargs)

  @classmethod
  def two_point(cls, a: float, b: float, **kwargs) -> "ClassTruth":
    """θ = a or b (radians), each with probability ½."""
    return cls("two_point", (a, b), **kwargs)

  def table_row(self) -> np.ndarray:
    """float64 `[5]`: (two_point 0/1, low, high, translation, log_scale); fixed v → (0, v, v)."""
    p = self.rotation_params
    low, high = (p[0], p[0]) if self.rotation_kind == "fixed" else p
    return np.array([float(self.rotation_kind == "two_point"), low, high, self.translation,
                     self.log_scale], np.float64)

  def eta_from_uniform(self, u) -> np.ndarray:
    """Maps uniforms to η by inverse CDFs.

    Args:
      u: float array `[n, 4]` in [0, 1): columns rotation, tx, ty, log-scale.

    Returns:
      float64 `[n, 5]` affine_no_shear η: (tx, ty, rotation, log_scale_x, log_scale_y), with
      log_scale_x == log_scale_y.
    """
    u = np.asarray(u, np.float64)
    if u.ndim != 2 or u.shape[1] != 4:
      raise DataError(f"ClassTruth.eta_from_uniform: expected u of shape [n, 4], got {u.shape}")
    two_point, low, high, t, s = self.table_row()
    if two_point:
      theta = np.where(u[:, 0] < 0.5, low, high)
    else:
      theta = low + u[:, 0] * (high - low)
    scale = s * (2.0 * u[:, 3] - 1.0)
    return np.stack([t * (2.0 * u[:, 1] - 1.0), t * (2.0 * u[:, 2] - 1.0), theta, scale, scale],
                    axis=-1)

  def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
    """n i.i.d. draws of η.

    Args:
      rng: a NumPy generator (consumed: 4·n doubles).
      n: number of draws, ≥ 0.

    Returns:
      float64 `[n, 5]` affine_no_shear η (see `eta_from_uniform`).
    """
    return self.eta_from_uniform(rng.random((int(n), 4)))

  def rotation_resultant(self) -> float:
    """Analytic mean resultant length R̄ = |E[exp(iθ)]| in [0, 1] of the rotation."""
    if self.rotation_kind == "fixed":
      return 1.0
    a, b = self.rotation_params
    if self.rotation_kind == "two_point":
      r = abs(math.cos((b - a) / 2.0))
    else:
      half = (b - a) / 2.0
      r = 1.0 if half == 0 else abs(math.sin(half) / half)
    r = min(r, 1.0)
    return 0.0 if r < RESULTANT_ZERO else r

  def rotation_circular_std(self) -> float:
    """σ_c = √(−2 ln R̄) (radians; ∞ when R̄ = 0)."""
    r = self.rotation_resultant()
    if r == 0.0:
      return math.inf
    return math.sqrt(max(-2.0 * math.log(r), 0.0))


_DEG = math.pi / 180.0

MNIST_PER_CLASS: dict[int, ClassTruth] = {
    0: ClassTruth.uniform(-45 * _DEG, 45 * _DEG, description="rotation U(-45°, 45°)"),
    1: ClassTruth.fixed(0.0, translation=0.2,
                        description="upright, translation tx, ty ~ U(-0.2, 0.2)"),
    2: ClassTruth.uniform(-180 * _DEG, 180 * _DEG, description="rotation U(-180°, 180°)"),
    3: ClassTruth.uniform(-90 * _DEG, 90 * _DEG, description="rotation U(-90°, 90°)"),
    4: ClassTruth.fixed(0.0, description="upright"),
    5: ClassTruth.two_point(-60 * _DEG, 60 * _DEG, description="rotation -60° or +60°"),
    6: ClassTruth.uniform(0.0, 90 * _DEG, description="rotation U(0°, 90°) (asymmetric)"),
    7: ClassTruth.uniform(-180 * _DEG, 180 * _DEG, description="rotation U(-180°, 180°)"),
    8: ClassTruth.fixed(0.0, log_scale=0.25,
                        description="upright, isotropic log-scale U(-0.25, 0.25)"),
    9: ClassTruth.fixed(0.0, description="upright"),
}

GLYPH_GROUPS: dict[int, ClassTruth] = {
    0: ClassTruth.fixed(0.0, description="glyph F, upright"),
    1: ClassTruth.uniform(-90 * _DEG, 90 * _DEG, description="glyph 4, rotation U(-90°, 90°)"),
}


def truth_table(truths: Mapping[int, ClassTruth], num_classes: int) -> np.ndarray:
  """Per-label `ClassTruth.table_row`s.

  Args:
    truths: label → ClassTruth, with every label in 0..num_classes−1.
    num_classes: K.

  Returns:
    float64 `[K, 5]`: row c = truths[c].table_row().
  """
  missing = sorted(set(range(num_classes)) - set(truths))
  if missing:
    raise DataError(f"known truth: no ClassTruth for label(s) {missing}")
  return np.stack([truths[c].table_row() for c in range(num_classes)])


def eta_from_uniform_tf(table, label, u) -> tf.Tensor:
  """TensorFlow twin of `ClassTruth.eta_from_uniform` for one example.

  Args:
    table: float `[K, 5]` from `truth_table`.
    label: int scalar tensor in 0..K−1.
    u: float32 `[4]` in [0, 1) (rotation, tx, ty, log-scale).

  Returns:
    float32 `[5]` affine_no_shear η.
  """
  row = tf.gather(tf.constant(table, tf.float32), label)
  two_point, low, high, t, s = tf.unstack(row)
  theta = tf.where(two_point > 0.5, tf.where(u[0] < 0.5, low, high), low + u[0] * (high - low))
  scale = s * (2.0 * u[3] - 1.0)
  return tf.stack([t * (2.0 * u[1] - 1.0), t * (2.0 * u[2] - 1.0), theta, scale, scale])


def example_eta(seed: int, example_id, label, table) -> tf.Tensor:
  """float32 `[5]` η* of one example: a stateless function of (seed, example id) and its label.

  The four uniforms come from `common.example_uniform` with the `common.TRUTH_PURPOSES`.
  """
  u = tf.stack([common.example_uniform(seed, example_id, p, 0.0, 1.0)
                for p in common.TRUTH_PURPOSES])
  return eta_from_uniform_tf(table, label, u)


def _rotation_deg(value) -> float:
  try:
    a = float(value)
  except (TypeError, ValueError):
    raise DataError(f"rotation_deg must be a number of degrees, got {value!r}") from None
  if not 0.0 <= a <= 180.0:
    raise DataError(f"rotation_deg must be in [0, 180], got {value!r}")
  return a


def truth_for(name: str, **options) -> dict[int, ClassTruth] | None:
  """The per-label true η distribution of a dataset, or None when it has no affine truth.

  Args:
    name: a dataset name: "mnist_per_class" → `MNIST_PER_CLASS`; "glyphs" → `GLYPH_GROUPS`;
      "mnist" → U(−A°, A°) for labels 0..9 with A = option `rotation_deg` (fixed 0 when A = 0);
      "mnist_hsv" (its colour truth is not affine) and anything else → None.
    **options: the dataset's options; only `rotation_deg` is read, the others are ignored (the
      loader validates them).

  Returns:
    A new dict label → `ClassTruth`, or None.
  """
  if name == "mnist_per_class":
    return dict(MNIST_PER_CLASS)
  if name == "glyphs":
    return dict(GLYPH_GROUPS)
  if name == "mnist":
    a = _rotation_deg(options.get("rotation_deg", 0.0))
    if a == 0:
      spec = ClassTruth.fixed(0.0, description="upright")
    else:
      spec = ClassTruth.uniform(-a * _DEG, a * _DEG, description=f"rotation U(-{a:g}°, {a:g}°)")
    return {label: spec for label in range(10)}
  return None


# ------------------------------------------------------------------------------------------------
# Glyphs.

GLYPH_NAMES = ("F", "4")
DEFAULT_GLYPH_SIZE = catalog.DATASETS["glyphs"].image_shape[0]
GLYPH_SIZE_RANGE = (16, 64)
DEFAULT_GLYPH_SPLIT_SIZES = catalog.DATASETS["glyphs"].split_sizes
GLYPH_ID_STRIDE = 1_000_000  # index = stride·split id + position; split sizes ≤ this
SUPERSAMPLE = 8  # sub-pixel samples per axis
NUM_NUISANCE = 5
MAX_STROKES = 4

# Nuisance ranges (normalised units): per column of the nuisance uniforms.
THICKNESS = (0.16, 0.24)
HEIGHT = (1.10, 1.25)
F_WIDTH, F_MIDDLE_LENGTH, F_MIDDLE_Y = (0.70, 0.82), (0.48, 0.62), (-0.18, -0.08)
FOUR_WIDTH, FOUR_STEM_AT, FOUR_CROSSBAR_Y = (0.80, 0.90), (0.45, 0.55), (0.05, 0.15)


def _lerp(bounds, u):
  return bounds[0] + (bounds[1] - bounds[0]) * u


def glyph_strokes(glyph, nuisance) -> np.ndarray:
  """The strokes (axis-aligned, non-overlapping rectangles) of upright, centred glyphs.

  Args:
    glyph: int array `[n]`: 0 "F", 1 "4".
    nuisance: float array `[n, 5]` in [0, 1): thickness, height, width, bar length, bar position
      (mapped to the ranges of the module docstring).

  Returns:
    float64 `[n, 4, 4]`: per stroke (x0, x1, y0, y1) in normalised units (y down); unused strokes
    are empty (x0 = x1 = 0).
  """
  glyph = np.asarray(glyph, np.int64).reshape(-1)
  u = np.asarray(nuisance, np.float64).reshape(glyph.size, NUM_NUISANCE)
  if np.any((glyph < 0) | (glyph >= len(GLYPH_NAMES))):
    raise DataError(f"glyphs: glyph ids must be 0 (F) or 1 (4), got {np.unique(glyph)}")
  is_f = glyph == 0
  t = _lerp(THICKNESS, u[:, 0])
  h = _lerp(HEIGHT, u[:, 1])
  a = np.where(is_f, _lerp(F_WIDTH, u[:, 2]), _lerp(FOUR_WIDTH, u[:, 2]))
  left, right, top, bottom = -a / 2.0, a / 2.0, -h / 2.0, h / 2.0
  zero = np.zeros_like(t)
  # "F": stem, top bar, middle bar.
  mid_len = _lerp(F_MIDDLE_LENGTH, u[:, 3])
  mid_y = _lerp(F_MIDDLE_Y, u[:, 4])
  f = [(left, left + t, top, bottom), (left + t, right, top, top + t),
       (left + t, left + mid_len, mid_y - t / 2.0, mid_y + t / 2.0), (zero,) * 4]
  # "4": left arm, crossbar left of the stem, stem, crossbar right of the stem.
  stem = left + _lerp(FOUR_STEM_AT, u[:, 3]) * a
  bar = _lerp(FOUR_CROSSBAR_Y, u[:, 4])
  four = [(left, left + t, top, bar), (left, stem, bar, bar + t), (stem, stem + t, top, bottom),
          (stem + t, right, bar, bar + t)]
  return np.stack([np.stack([np.where(is_f, fc, gc) for fc, gc in zip(fs, gs)], axis=-1)
                   for fs, gs in zip(f, four)], axis=1)


def _axis_coverage(low, high, size: int) -> np.ndarray:
  """`[n, size]`: fraction of each pixel's SUPERSAMPLE sub-sample positions in [low, high)."""
  sub = (np.arange(size * SUPERSAMPLE, dtype=np.float64) + 0.5) / (size * SUPERSAMPLE) * 2.0 - 1.0
  inside = (sub >= low[:, None]) & (sub < high[:, None])
  return inside.reshape(low.size, size, SUPERSAMPLE).mean(axis=-1)


def render_glyphs(glyph, nuisance, size: int = DEFAULT_GLYPH_SIZE) -> np.ndarray:
  """Renders upright, centred glyphs (supersampled, anti-aliased).

  Args:
    glyph: int array `[n]`: 0 "F", 1 "4".
    nuisance: float array `[n, 5]` in [0, 1) (see `glyph_strokes`).
    size: image side in pixels.

  Returns:
    float32 `[n, size, size, 1]` in [−1, 1]: ink coverage c ∈ [0, 1] as 2c − 1 (background −1).
  """
  strokes = glyph_strokes(glyph, nuisance)
  n = strokes.shape[0]
  ink = np.zeros((n, size, size), np.float64)
  for k in range(MAX_STROKES):
    x0, x1, y0, y1 = (strokes[:, k, j] for j in range(4))
    ink += _axis_coverage(y0, y1, size)[:, :, None] * _axis_coverage(x0, x1, size)[:, None, :]
  ink = np.clip(ink, 0.0, 1.0)  # strokes do not overlap; guards round-off only
  return (2.0 * ink - 1.0).astype(np.float32)[..., None]


def check_glyph_size(size) -> int:
  lo, hi = GLYPH_SIZE_RANGE
  if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not lo <= size <= hi:
    raise DataError(f"dataset 'glyphs': size must be an integer in {lo}..{hi}, got {size!r}")
  return int(size)


def check_glyph_split_sizes(split_sizes) -> tuple[int, int, int]:
  try:
    sizes = tuple(split_sizes)
  except TypeError:
    sizes = ()
  if (len(sizes) != 3 or any(isinstance(s, bool) or not isinstance(s, (int, np.integer))
                             for s in sizes)
      or not all(0 <= s <= GLYPH_ID_STRIDE for s in sizes)):
    raise DataError(f"dataset 'glyphs': split_sizes must be three integers (train, validation, "
                    f"test) in 0..{GLYPH_ID_STRIDE}, got {split_sizes!r}")
  return tuple(int(s) for s in sizes)


def glyph_arrays(split: str, seed: int = 0, size: int = DEFAULT_GLYPH_SIZE,
                 split_sizes=DEFAULT_GLYPH_SPLIT_SIZES) -> dict[str, np.ndarray]:
  """Builds one whole split of "glyphs" in memory (see the module docstring).

  Args:
    split: "train", "validation" or "test".
    seed: non-negative int; fixes η* and the nuisance of every example.
    size: image side, 16..64.
    split_sizes: (train, validation, test) sizes.

  Returns:
    dict of NumPy arrays over the split's n examples: `image` float32 `[n, size, size, 1]` in
    [−1, 1] (background −1), `label` int64 (0 "F", 1 "4"), `index` int64, `rotation` float32
    (radians, = eta_true[:, 2]), `eta_true` float32 `[n, 5]`, `upright` float32 `[n, size, size,
    1]` (the glyph before η*).
  """
  catalog.check_split(split)
  size = check_glyph_size(size)
  split_id = common.SPLIT_IDS[split]
  n = check_glyph_split_sizes(split_sizes)[split_id]
  rng = np.random.default_rng([int(seed), common.PURPOSE_GLYPHS, split_id])
  u = rng.random((n, 4 + NUM_NUISANCE))  # row i is example i's, whatever n is
  label = np.arange(n, dtype=np.int64) % 2
  eta = np.zeros((n, ETA_DIM), np.float64)
  for c, spec in GLYPH_GROUPS.items():
    members = label == c
    eta[members] = spec.eta_from_uniform(u[members, :4])
  eta = eta.astype(np.float32)
  upright = render_glyphs(label, u[:, 4:], size)
  if n:
    images = transforms.transform_images(tf.constant(upright), tf.constant(eta), TRUTH_FAMILY,
                                         order=1, fill_value=-1.0)
    images = np.clip(images.numpy(), -1.0, 1.0)
  else:
    images = upright
  return {"image": images.astype(np.float32), "label": label,
          "index": (split_id * GLYPH_ID_STRIDE + np.arange(n)).astype(np.int64),
          "rotation": eta[:, 2].copy(), "eta_true": eta, "upright": upright}


@functools.lru_cache(maxsize=8)
def _cached_glyph_arrays(split, seed, size, split_sizes):
  return glyph_arrays(split, seed, size, split_sizes)


def load_glyphs(split: str, *, seed: int = 0, num_train=None, size: int = DEFAULT_GLYPH_SIZE,
                split_sizes=DEFAULT_GLYPH_SPLIT_SIZES) -> tf.data.Dataset:
  """The "glyphs" dataset as unbatched examples.

  Args:
    split: "train", "validation" or "test".
    seed: fixes every example (η* and nuisance).
    num_train: first n training examples (nested); None = all.
    size: image side, 16..64 (default 24).
    split_sizes: (train, validation, test), default (2000, 250, 250).

  Returns:
    `tf.data.Dataset` of dicts: `image` float32 `[size, size, 1]` in [−1, 1], `label` int64 0/1,
    `index` int64, `rotation` float32 radians, `eta_true` float32 `[5]`.
  """
  catalog.check_split(split)
  size = check_glyph_size(size)
  split_sizes = check_glyph_split_sizes(split_sizes)
  arrays = _cached_glyph_arrays(split, int(seed), size, split_sizes)
  n = arrays["label"].size
  if split == "train":
    n = catalog.check_num_train(num_train, n, "glyphs")
  elif n == 0:
    raise DataError(f"dataset 'glyphs': the {split} split is empty (split_sizes={split_sizes})")
  ds = tf.data.Dataset.from_tensor_slices(
      {k: v[:n] for k, v in arrays.items() if k != "upright"})
  return common.with_cardinality(ds, n)
