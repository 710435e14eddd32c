r"""dSprites rendered in code (NumPy), and the "augmented dSprites" latent distribution.

The latent grid is the one of dSprites (Matthey, Higgins, Hassabis & Lerchner, 2017,
github.com/google-deepmind/dsprites-dataset): 3 shapes × 6 scales × 40 orientations × 32 x × 32 y
= 737,280 binary 64×64 images,

* shape: 0 square, 1 ellipse, 2 heart;
* scale: `linspace(0.5, 1, 6)` = 0.5, 0.6, …, 1.0;
* orientation: `linspace(0, 2π, 40)` radians (both 0 and 2π are on the grid, as in dSprites);
* x, y position: `linspace(0, 1, 32)`.

The flat index of a grid point follows the dSprites file order (y varies fastest):
`index = (((shape·6 + scale_i)·40 + orientation_i)·32 + x_i)·32 + y_i`.

Rendering geometry
------------------
The dSprites images were drawn by their author with Love2D vector primitives (rectangle, ellipse,
and a custom mesh for the heart) on a canvas of normalised size 1 and rasterised to 64×64
(google-deepmind/dsprites-dataset, issue #2). The exact sizes and margins were never published, so
this module fixes its own, documented geometry with the same structure:

* Canvas: the unit square [0, 1]², 64×64 pixels; pixel (row i, column j) has its centre at
  u = (j + ½)/64 (rightwards), v = (i + ½)/64 (downwards). A pixel is 1 iff its centre lies inside
  the shape (point sampling, no anti-aliasing, so images are binary like dSprites').
* Position: the shape centre is c = (M + (1 − 2M)·x, M + (1 − 2M)·y) with margin M = 0.2, i.e.
  pixel coordinates 12.8 … 51.2. Every shape at every grid latent stays inside the canvas (the
  largest, a scale-1 square at 45° in a corner position, just reaches the border pixels).
* Orientation θ: the shape is rotated by θ counter-clockwise as seen on screen (about c).
* Square: side 0.28·scale (17.9 px at scale 1).
* Ellipse: semi-axes 0.18·scale along its own horizontal axis and 0.09·scale along its vertical
  axis (23 × 11.5 px at scale 1, orientation 0).
* Heart: the union of a "diamond" (a square of side s standing on a corner, half-diagonal
  d = s/√2) and two discs of diameter s centred on the midpoints of the diamond's two upper sides;
  the point is at the bottom at orientation 0. d = 0.1243·scale, so the heart is 2.414·d = 0.30·scale
  wide and 2.207·d tall; its bounding-box centre is placed at c. Area (s² + πs²/4).

Augmented dSprites (docs/design.md §9)
--------------------------------------
Each grid image gets probability ∝ the product of four per-factor densities evaluated at its
latent values (orientation, scale, x, y), normalised within each shape so every shape has total
probability 1/3; examples are drawn i.i.d. with replacement. Because the weight is a product, the
four latents are independent given the shape, each with the discrete marginal ∝ its density at the
grid values. Bounds of the uniform and truncated-normal densities are inclusive (grid values on a
bound, e.g. scale 1.0 for [0.55, 1.0], keep their density).

| shape   | orientation | scale                           | x                              | y                               |
|---------|-------------|---------------------------------|--------------------------------|---------------------------------|
| square  | U(0, 2π)    | TruncNormal(0.75, 0.2; [0.55, 1.0]) | U(0.5, 0.95)               | U(0.5, 0.95)                    |
| ellipse | U(0, π/2)   | TruncNormal(0.65, 0.15; [0.5, 0.85]) | TruncNormal(0.5, 0.25; [0.1, 0.9]) | TruncNormal(0.5, 0.15; [0.35, 0.65]) |
| heart   | δ(0)        | U(0.9, 1.0)                     | U(0.1, 0.5)                    | ½U(0.1, 0.3) + ½U(0.7, 0.9)      |

(TruncNormal(μ, σ; [a, b]) is a normal with mean μ and standard deviation σ truncated to [a, b];
δ(0) puts all mass on orientation 0.) On the grid this leaves, per shape, these supports: square
5 scales (0.6 … 1.0) × 40 orientations × 14 x × 14 y; ellipse 4 scales (0.5 … 0.8) × 10
orientations (0 … 9·2π/39) × 24 x × 10 y; heart 2 scales (0.9, 1.0) × 1 orientation × 12 x × 12 y.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Mapping

import numpy as np

IMAGE_SIZE = 64
NUM_SHAPES, NUM_SCALES, NUM_ORIENTATIONS, NUM_POSITIONS = 3, 6, 40, 32
GRID_SHAPE = (NUM_SHAPES, NUM_SCALES, NUM_ORIENTATIONS, NUM_POSITIONS, NUM_POSITIONS)
NUM_GRID_POINTS = int(np.prod(GRID_SHAPE))  # 737,280
SHAPE_NAMES = ("square", "ellipse", "heart")

SCALES = np.linspace(0.5, 1.0, NUM_SCALES)
ORIENTATIONS = np.linspace(0.0, 2.0 * np.pi, NUM_ORIENTATIONS)
POSITIONS = np.linspace(0.0, 1.0, NUM_POSITIONS)

# Rendering geometry, in canvas units (the canvas is [0, 1]²); see the module docstring.
MARGIN = 0.2
SQUARE_SIDE = 0.28
ELLIPSE_SEMI_AXES = (0.18, 0.09)
HEART_HALF_DIAGONAL = 0.1243
# Heart: the bounding box spans y ∈ [-d, (½ + 1/√2)·d] in the heart's own frame (y up), so its
# centre sits (1/√2 − ½)·d/2 above the diamond's centre.
_HEART_TOP = 0.5 + 1.0 / math.sqrt(2.0)
_HEART_BOX_CENTRE = (_HEART_TOP - 1.0) / 2.0

_TOL = 1e-9  # grid values on a density's bound count as inside


def centre(x, y):
  """Canvas coordinates (u rightwards, v downwards, both in [0, 1]) of a shape's centre.

  Args:
    x, y: float arrays (broadcastable), dSprites positions in [0, 1].

  Returns:
    (u, v) float64 arrays, each in [MARGIN, 1 − MARGIN].
  """
  return MARGIN + (1.0 - 2.0 * MARGIN) * np.asarray(x, np.float64), \
      MARGIN + (1.0 - 2.0 * MARGIN) * np.asarray(y, np.float64)


def shape_frame_coordinates(u, v, scale, orientation, x, y):
  """Maps canvas points into each shape's own frame (unit scale, orientation 0, y axis up).

  Args:
    u, v: float arrays of canvas points (u rightwards, v downwards), broadcastable against the
      latents.
    scale, orientation, x, y: float latent arrays (broadcastable).

  Returns:
    (p, q): the points in the shape frame, divided by `scale` (so shape outlines are those at
    scale 1), float64.
  """
  cu, cv = centre(x, y)
  du = np.asarray(u, np.float64) - cu
  dv = cv - np.asarray(v, np.float64)  # screen y is down; the shape frame's y is up
  cos, sin = np.cos(orientation), np.sin(orientation)
  # Undo a counter-clockwise rotation by θ: rotate the offset by −θ.
  p = (cos * du + sin * dv) / scale
  q = (-sin * du + cos * dv) / scale
  return p, q


def inside_square(p, q):
  """Bool array: (p, q) (shape frame, scale 1) inside the square of side SQUARE_SIDE."""
  h = SQUARE_SIDE / 2.0
  return (np.abs(p) <= h) & (np.abs(q) <= h)


def inside_ellipse(p, q):
  """Bool array: (p, q) (shape frame, scale 1) inside the ellipse with ELLIPSE_SEMI_AXES."""
  a, b = ELLIPSE_SEMI_AXES
  return (p / a) ** 2 + (q / b) ** 2 <= 1.0


def inside_heart(p, q):
  """Bool array: (p, q) (shape frame, scale 1, bounding-box centre at 0) inside the heart."""
  d = HEART_HALF_DIAGONAL
  q = q + _HEART_BOX_CENTRE * d  # to the diamond's centre
  diamond = np.abs(p) + np.abs(q) <= d
  r2 = (d / math.sqrt(2.0)) ** 2  # disc radius = side / 2 = d / √2
  left = (p + d / 2.0) ** 2 + (q - d / 2.0) ** 2 <= r2
  right = (p - d / 2.0) ** 2 + (q - d / 2.0) ** 2 <= r2
  return diamond | left | right


INSIDE: tuple[Callable, ...] = (inside_square, inside_ellipse, inside_heart)


def render(shape, scale, orientation, x, y, size: int = IMAGE_SIZE, chunk: int = 2048) -> np.ndarray:
  """Renders dSprites images from (continuous or grid) latents.

  Args:
    shape: int array `[N]` (or scalar), 0 square, 1 ellipse, 2 heart.
    scale: float array `[N]`, typically in [0.5, 1].
    orientation: float array `[N]`, radians.
    x, y: float arrays `[N]`, positions in [0, 1].
    size: image side in pixels (64 for dSprites).
    chunk: examples rendered per vectorised step (memory ~ chunk·size²·8 bytes).

  Returns:
    uint8 array `[N, size, size]` with values in {0, 1}.
  """
  shape, scale, orientation, x, y = np.broadcast_arrays(
      np.asarray(shape, np.int64), np.asarray(scale, np.float64),
      np.asarray(orientation, np.float64), np.asarray(x, np.float64), np.asarray(y, np.float64))
  scalar = shape.ndim == 0
  shape, scale, orientation, x, y = (a.reshape(-1) for a in (shape, scale, orientation, x, y))
  if np.any((shape < 0) | (shape >= NUM_SHAPES)):
    raise ValueError(f"shape: expected values in 0..{NUM_SHAPES - 1}, got {np.unique(shape)}")
  coords = (np.arange(size, dtype=np.float64) + 0.5) / size
  u = coords[None, None, :]
  v = coords[None, :, None]
  out = np.zeros((shape.size, size, size), np.uint8)
  for start in range(0, shape.size, chunk):
    sl = slice(start, start + chunk)
    lat = [a[sl, None, None] for a in (scale, orientation, x, y)]
    p, q = shape_frame_coordinates(u, v, *lat)
    block = np.zeros(p.shape, bool)
    for s, inside in enumerate(INSIDE):
      sel = shape[sl] == s
      if np.any(sel):
        block[sel] = inside(p[sel], q[sel])
    out[sl] = block
  return out[0] if scalar else out


def shape_area(shape: int, scale: float) -> float:
  """Exact area (canvas units², canvas = unit square) of a shape at `scale`."""
  if shape == 0:
    return (SQUARE_SIDE * scale) ** 2
  if shape == 1:
    return math.pi * ELLIPSE_SEMI_AXES[0] * ELLIPSE_SEMI_AXES[1] * scale ** 2
  side = HEART_HALF_DIAGONAL * math.sqrt(2.0) * scale
  return side ** 2 + math.pi * side ** 2 / 4.0


# ------------------------------------------------------------------------------------------------
# Latent grid and the augmented-dSprites distribution.


def grid_indices(index):
  """Splits flat dSprites indices into per-factor grid indices.

  Args:
    index: int array of flat indices in [0, 737280).

  Returns:
    (shape, scale_i, orientation_i, x_i, y_i) int64 arrays.
  """
  return np.unravel_index(np.asarray(index, np.int64), GRID_SHAPE)


def latents_from_index(index) -> dict[str, np.ndarray]:
  """Latent values of flat dSprites indices.

  Returns:
    dict with `shape` (int64, 0..2), `scale`, `orientation` (radians), `x`, `y` (float32).
  """
  s, sc, o, xi, yi = grid_indices(index)
  return {"shape": s.astype(np.int64), "scale": SCALES[sc].astype(np.float32),
          "orientation": ORIENTATIONS[o].astype(np.float32),
          "x": POSITIONS[xi].astype(np.float32), "y": POSITIONS[yi].astype(np.float32)}


def uniform(low: float, high: float) -> Callable[[np.ndarray], np.ndarray]:
  """Density of U(low, high) (bounds inclusive up to 1e-9)."""
  def pdf(t):
    t = np.asarray(t, np.float64)
    return np.where((t >= low - _TOL) & (t <= high + _TOL), 1.0 / (high - low), 0.0)
  return pdf


def truncated_normal(mean: float, std: float, low: float, high: float):
  """Unnormalised density of a normal(mean, std) truncated to [low, high] (inclusive).

  Only ratios matter (the grid weights are renormalised), so the truncation constant is omitted.
  """
  def pdf(t):
    t = np.asarray(t, np.float64)
    inside = (t >= low - _TOL) & (t <= high + _TOL)
    return np.where(inside, np.exp(-0.5 * ((t - mean) / std) ** 2), 0.0)
  return pdf


def delta(at: float):
  """Point mass at `at`: weight 1 on a grid value equal to `at` (up to 1e-9), 0 elsewhere."""
  def pdf(t):
    return np.where(np.abs(np.asarray(t, np.float64) - at) <= _TOL, 1.0, 0.0)
  return pdf


def mixture(*components: tuple[float, Callable]):
  """Density of a mixture Σ w_k·p_k given (w_k, p_k) pairs."""
  def pdf(t):
    return sum(w * p(t) for w, p in components)
  return pdf


@dataclasses.dataclass(frozen=True)
class ShapeDistribution:
  """Per-factor densities for one shape; each maps a float array to non-negative weights."""
  orientation: Callable[[np.ndarray], np.ndarray]
  scale: Callable[[np.ndarray], np.ndarray]
  x: Callable[[np.ndarray], np.ndarray]
  y: Callable[[np.ndarray], np.ndarray]


# The augmented-dSprites distribution the paper uses (docs/design.md §9).
AUGMENTED_DSPRITES: Mapping[int, ShapeDistribution] = {
    0: ShapeDistribution(orientation=uniform(0.0, 2.0 * np.pi),
                         scale=truncated_normal(0.75, 0.2, 0.55, 1.0),
                         x=uniform(0.5, 0.95), y=uniform(0.5, 0.95)),
    1: ShapeDistribution(orientation=uniform(0.0, np.pi / 2.0),
                         scale=truncated_normal(0.65, 0.15, 0.5, 0.85),
                         x=truncated_normal(0.5, 0.25, 0.1, 0.9),
                         y=truncated_normal(0.5, 0.15, 0.35, 0.65)),
    2: ShapeDistribution(orientation=delta(0.0), scale=uniform(0.9, 1.0),
                         x=uniform(0.1, 0.5),
                         y=mixture((0.5, uniform(0.1, 0.3)), (0.5, uniform(0.7, 0.9)))),
}


def factor_marginals(shape: int, distribution: Mapping[int, ShapeDistribution] = AUGMENTED_DSPRITES):
  """Discrete per-factor marginals of one shape on the grid.

  Returns:
    dict `scale` `[6]`, `orientation` `[40]`, `x` `[32]`, `y` `[32]`: float64 probabilities (each
    sums to 1) over the grid values `SCALES`, `ORIENTATIONS`, `POSITIONS`.
  """
  dist = distribution[shape]
  out = {}
  for name, values in (("scale", SCALES), ("orientation", ORIENTATIONS), ("x", POSITIONS),
                       ("y", POSITIONS)):
    w = np.asarray(getattr(dist, name)(values), np.float64)
    if w.sum() <= 0:
      raise ValueError(f"shape {shape}: the {name} density has no mass on the grid")
    out[name] = w / w.sum()
  return out


def grid_probabilities(distribution: Mapping[int, ShapeDistribution] = AUGMENTED_DSPRITES) -> np.ndarray:
  """Probability of every grid image, in dSprites flat-index order.

  Returns:
    float64 array `[737280]`, summing to 1; each shape's entries sum to 1/3.
  """
  probs = np.zeros(GRID_SHAPE, np.float64)
  for s in range(NUM_SHAPES):
    m = factor_marginals(s, distribution)
    probs[s] = (m["scale"][:, None, None, None] * m["orientation"][None, :, None, None]
                * m["x"][None, None, :, None] * m["y"][None, None, None, :]) / NUM_SHAPES
  return probs.reshape(-1)


def sample_indices(num: int, seed, distribution: Mapping[int, ShapeDistribution] = AUGMENTED_DSPRITES) -> np.ndarray:
  """Draws `num` flat grid indices i.i.d. (with replacement) from `grid_probabilities`.

  Args:
    num: number of draws.
    seed: anything `np.random.default_rng` accepts (an int or a sequence of ints).

  Returns:
    int64 array `[num]` of flat indices in [0, 737280).
  """
  probs = grid_probabilities(distribution)
  cdf = np.cumsum(probs)
  cdf /= cdf[-1]
  u = np.random.default_rng(seed).random(num)
  idx = np.searchsorted(cdf, u, side="right")
  return np.minimum(idx, NUM_GRID_POINTS - 1).astype(np.int64)
