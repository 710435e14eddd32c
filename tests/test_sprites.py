"""Tests of inv_tf.data.sprites: the dSprites renderer and the augmented-dSprites distribution.

The target distribution is recomputed here independently, with scipy, from the table in
`inv_tf.data.sprites`' docstring (docs/design.md §9), and the rendered masks are checked against polygon outlines built independently with matplotlib.
"""

import math

from matplotlib.path import Path
import numpy as np
import pytest
from scipy import stats

from inv_tf.data import sprites

SCALES = np.linspace(0.5, 1.0, 6)
ORIENTATIONS = np.linspace(0.0, 2 * np.pi, 40)
POSITIONS = np.linspace(0.0, 1.0, 32)
EPS = 1e-9


def _uniform(lo, hi):
  return lambda t: ((t >= lo - EPS) & (t <= hi + EPS)).astype(float) / (hi - lo)


def _truncnorm(mu, sigma, lo, hi):
  dist = stats.truncnorm((lo - mu) / sigma, (hi - mu) / sigma, loc=mu, scale=sigma)
  return lambda t: np.where((t >= lo - EPS) & (t <= hi + EPS),
                            dist.pdf(np.clip(t, lo, hi)), 0.0)


# The augmented-dSprites table: shape → factor → density.
TARGET_TABLE = {
    0: {"orientation": _uniform(0, 2 * np.pi), "scale": _truncnorm(0.75, 0.2, 0.55, 1.0),
        "x": _uniform(0.5, 0.95), "y": _uniform(0.5, 0.95)},
    1: {"orientation": _uniform(0, np.pi / 2), "scale": _truncnorm(0.65, 0.15, 0.5, 0.85),
        "x": _truncnorm(0.5, 0.25, 0.1, 0.9), "y": _truncnorm(0.5, 0.15, 0.35, 0.65)},
    2: {"orientation": lambda t: (np.abs(t) < EPS).astype(float), "scale": _uniform(0.9, 1.0),
        "x": _uniform(0.1, 0.5),
        "y": lambda t: 0.5 * _uniform(0.1, 0.3)(t) + 0.5 * _uniform(0.7, 0.9)(t)},
}
GRID = {"scale": SCALES, "orientation": ORIENTATIONS, "x": POSITIONS, "y": POSITIONS}


def _target_pmf(shape, factor):
  w = TARGET_TABLE[shape][factor](GRID[factor])
  return w / w.sum()


def _ks_discrete(samples, grid, pmf):
  """KS statistic between samples on a grid and a discrete target pmf on that grid."""
  k = np.searchsorted(grid, samples - 1e-6)  # grid index of each (float32) sample
  assert np.allclose(grid[k], samples, atol=1e-5)
  ecdf = np.cumsum(np.bincount(k, minlength=grid.size)) / samples.size
  return np.abs(ecdf - np.cumsum(pmf)).max()


@pytest.fixture(scope="module")
def draws():
  return sprites.latents_from_index(sprites.sample_indices(30_000, seed=0))


def test_grid_matches_dsprites():
  np.testing.assert_allclose(sprites.SCALES, SCALES)
  np.testing.assert_allclose(sprites.ORIENTATIONS, ORIENTATIONS)
  np.testing.assert_allclose(sprites.POSITIONS, POSITIONS)
  assert sprites.NUM_GRID_POINTS == 737_280
  # Flat index order: y fastest, then x, orientation, scale, shape.
  lat = sprites.latents_from_index([0, 1, 32, 32 * 32, 32 * 32 * 40, 737_279])
  np.testing.assert_array_equal(lat["shape"], [0, 0, 0, 0, 0, 2])
  np.testing.assert_allclose(lat["y"], [0, 1 / 31, 0, 0, 0, 1], atol=1e-6)
  np.testing.assert_allclose(lat["x"], [0, 0, 1 / 31, 0, 0, 1], atol=1e-6)
  np.testing.assert_allclose(lat["orientation"], [0, 0, 0, 2 * np.pi / 39, 0, 2 * np.pi],
                             atol=1e-6)
  np.testing.assert_allclose(lat["scale"], [0.5, 0.5, 0.5, 0.5, 0.6, 1.0], atol=1e-6)


def test_grid_probabilities_match_spec_table():
  probs = sprites.grid_probabilities().reshape(sprites.GRID_SHAPE)
  np.testing.assert_allclose(probs.reshape(3, -1).sum(axis=1), [1 / 3] * 3, atol=1e-12)
  for s in range(3):
    expected = (_target_pmf(s, "scale")[:, None, None, None]
                * _target_pmf(s, "orientation")[None, :, None, None]
                * _target_pmf(s, "x")[None, None, :, None]
                * _target_pmf(s, "y")[None, None, None, :]) / 3
    np.testing.assert_allclose(probs[s], expected, atol=1e-12)


def test_draws_reproduce_marginals_per_shape(draws):
  counts = np.bincount(draws["shape"], minlength=3)
  assert np.all(np.abs(counts / 30_000 - 1 / 3) < 0.015)  # ~5 binomial std
  for s in range(3):
    sel = draws["shape"] == s
    for factor in ("scale", "orientation", "x", "y"):
      pmf = _target_pmf(s, factor)
      samples = draws[factor][sel].astype(np.float64)
      d = _ks_discrete(samples, GRID[factor], pmf)
      assert d <= 0.03, (s, factor, d)
      # Nothing is drawn where the target has no mass.
      k = np.searchsorted(GRID[factor], samples - 1e-6)
      assert np.all(pmf[k] > 0), (s, factor)
      # A discrete chi-square goodness of fit as a second check.
      support = pmf > 0
      if support.sum() > 1:
        observed = np.bincount(k, minlength=pmf.size)[support]
        p = stats.chisquare(observed, pmf[support] * sel.sum()).pvalue
        assert p > 1e-4, (s, factor, p)


def test_ks_check_has_power(draws):
  # The square's x marginal is far from the ellipse's: the same statistic must flag it.
  squares = draws["x"][draws["shape"] == 0].astype(np.float64)
  assert _ks_discrete(squares, POSITIONS, _target_pmf(1, "x")) > 0.3


def test_sampling_is_deterministic():
  a = sprites.sample_indices(1000, seed=[3, 0])
  np.testing.assert_array_equal(a, sprites.sample_indices(1000, seed=[3, 0]))
  assert not np.array_equal(a, sprites.sample_indices(1000, seed=[3, 1]))


# ------------------------------------------------------------------------------------------------
# Rendering vs analytic outlines.


def _outline(shape, scale, theta, x, y, n=2000):
  """Polygon (pixel coordinates: column, row) of a shape's outline, built independently."""
  if shape == 0:
    h = 0.28 * scale / 2
    pts = np.array([[-h, -h], [h, -h], [h, h], [-h, h]])
  elif shape == 1:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    pts = np.stack([0.18 * scale * np.cos(t), 0.09 * scale * np.sin(t)], axis=1)
  else:
    d = 0.1243 * scale
    r = d / math.sqrt(2)
    # Tip at (0, -d); right side to (d, 0); arc around the right disc centre (d/2, d/2) from
    # (d, 0) over the top to (0, d); same mirrored on the left; back to the tip.
    a0 = math.atan2(-d / 2, d / 2)
    right = [(d / 2 + r * math.cos(a), d / 2 + r * math.sin(a))
             for a in np.linspace(a0, a0 + np.pi, n)]
    left = [(-px, py) for px, py in reversed(right)]
    pts = np.array([(0.0, -d)] + right + left)
    pts[:, 1] -= (0.5 + 1 / math.sqrt(2) - 1) / 2 * d  # bounding-box centre at the origin
  rot = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
  pts = pts @ rot.T  # counter-clockwise in a y-up frame
  cu, cv = 0.2 + 0.6 * x, 0.2 + 0.6 * y
  u = cu + pts[:, 0]
  v = cv - pts[:, 1]  # screen rows grow downwards
  return np.stack([u * 64, v * 64], axis=1)


def _reference_mask(shape, scale, theta, x, y):
  centres = np.stack(np.meshgrid(np.arange(64) + 0.5, np.arange(64) + 0.5), -1).reshape(-1, 2)
  inside = Path(_outline(shape, scale, theta, x, y)).contains_points(centres)
  return inside.reshape(64, 64)


CASES = [(s, sc, th, x, y) for s in range(3)
         for sc, th, x, y in ((1.0, 0.0, 0.5, 0.5), (0.5, 0.7, 0.1, 0.9), (0.8, 2.3, 0.9, 0.2),
                              (0.6, 4.0, 0.35, 0.6))]


@pytest.mark.parametrize("shape, scale, theta, x, y", CASES)
def test_render_matches_outline(shape, scale, theta, x, y):
  mask = sprites.render(shape, scale, theta, x, y)
  assert mask.shape == (64, 64) and mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 1}
  ref = _reference_mask(shape, scale, theta, x, y)
  mismatch = np.sum(mask.astype(bool) != ref)
  assert mismatch <= max(2, 0.01 * ref.sum()), mismatch
  # Pixel area ≈ analytic area (discretisation error ~ the perimeter in pixels).
  area_px = sprites.shape_area(shape, scale) * 64 ** 2
  assert abs(mask.sum() - area_px) <= 0.1 * area_px + 4


def test_render_geometry_facts():
  # Square, scale 1, orientation 0, centre: side 0.28·64 = 17.9 px → 18×18 pixels around (32, 32).
  m = sprites.render(0, 1.0, 0.0, 0.5, 0.5)
  rows, cols = np.nonzero(m)
  assert (rows.min(), rows.max(), cols.min(), cols.max()) == (23, 40, 23, 40)
  # Position maps to the centre linearly over [0.2, 0.8] of the canvas; y grows downwards.
  m = sprites.render(1, 0.5, 0.0, 0.0, 1.0)
  rows, cols = np.nonzero(m)
  assert abs(cols.mean() + 0.5 - 0.2 * 64) < 0.5 and abs(rows.mean() + 0.5 - 0.8 * 64) < 0.5
  # The ellipse is wide at orientation 0 and tall at π/2.
  wide = sprites.render(1, 1.0, 0.0, 0.5, 0.5)
  tall = sprites.render(1, 1.0, np.pi / 2, 0.5, 0.5)
  assert np.ptp(np.nonzero(wide)[1]) > 1.8 * np.ptp(np.nonzero(wide)[0])
  assert np.ptp(np.nonzero(tall)[0]) > 1.8 * np.ptp(np.nonzero(tall)[1])
  # Heart: tip down at 0 (more ink in the upper half); counter-clockwise by π/2 → tip right.
  heart = sprites.render(2, 1.0, 0.0, 0.5, 0.5)
  r = np.nonzero(heart)[0]
  assert r.mean() < (r.min() + r.max()) / 2
  turned = sprites.render(2, 1.0, np.pi / 2, 0.5, 0.5)
  c = np.nonzero(turned)[1]
  assert c.mean() < (c.min() + c.max()) / 2
  # 0 and 2π render identically (both are on the dSprites grid).
  np.testing.assert_array_equal(sprites.render(2, 0.7, 0.0, 0.3, 0.3),
                                sprites.render(2, 0.7, 2 * np.pi, 0.3, 0.3))


def test_all_grid_extremes_stay_on_canvas():
  # The largest shapes at the corner positions and every orientation: ink never clipped much.
  n = 40
  for s in range(3):
    for x, y in ((0.0, 0.0), (1.0, 1.0), (0.0, 1.0)):
      masks = sprites.render(np.full(n, s), 1.0, ORIENTATIONS, x, y)
      area = sprites.shape_area(s, 1.0) * 64 ** 2
      assert np.all(np.abs(masks.sum(axis=(1, 2)) - area) <= 0.1 * area + 4)


def test_batch_render_equals_single_render():
  idx = sprites.sample_indices(50, seed=5)
  lat = sprites.latents_from_index(idx)
  batch = sprites.render(lat["shape"], lat["scale"], lat["orientation"], lat["x"], lat["y"],
                         chunk=7)
  for i in (0, 13, 49):
    np.testing.assert_array_equal(
        batch[i], sprites.render(lat["shape"][i], lat["scale"][i], lat["orientation"][i],
                                 lat["x"][i], lat["y"][i]))
