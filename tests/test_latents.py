"""Pixel latents (centre of mass, orientation, scale) and the two-sample KS statistic."""

import math

import numpy as np
import pytest

from inv_tf.data import sprites
from inv_tf.evaluation import latents


def _ellipse(cx, cy, a, b, theta, size=64):
  """A binary ellipse in [-1, 1] pixels: centre (cx, cy) px, semi-axes a, b, angle theta (CCW)."""
  rows, cols = np.mgrid[0:size, 0:size] + 0.5
  du, dv = cols - cx, -(rows - cy)  # v up
  p = math.cos(theta) * du + math.sin(theta) * dv
  q = -math.sin(theta) * du + math.cos(theta) * dv
  inside = (p / a) ** 2 + (q / b) ** 2 <= 1
  return np.where(inside, 1.0, -1.0)[..., None]


def test_centre_of_mass_orientation_and_scale_of_ellipses():
  images = np.stack([_ellipse(20, 40, 12, 4, 0.0), _ellipse(40, 20, 12, 4, math.pi / 4),
                     _ellipse(32, 32, 6, 2, -math.pi / 3)])
  lat = latents.pixel_latents(images)
  assert lat["x"] == pytest.approx([20 / 64, 40 / 64, 32 / 64], abs=0.005)
  assert lat["y"] == pytest.approx([40 / 64, 20 / 64, 32 / 64], abs=0.005)
  assert lat["orientation"] == pytest.approx([0.0, math.pi / 4, -math.pi / 3], abs=0.03)
  # √area: π·12·4 vs π·6·2 → ratio 2.
  assert lat["scale"][0] / lat["scale"][2] == pytest.approx(2.0, rel=0.05)


def test_empty_image_gives_nan_and_ks_ignores_it():
  lat = latents.pixel_latents(-np.ones((2, 8, 8, 1)))
  assert np.isnan(lat["x"]).all()
  assert math.isnan(latents.ks_statistic(lat["x"], [0.1, 0.2]))


def test_ks_statistic_known_values():
  assert latents.ks_statistic([1, 2, 3], [1, 2, 3]) == 0.0
  assert latents.ks_statistic([0, 0, 0], [1, 1]) == 1.0
  assert latents.ks_statistic([1, 2, 3, 4], [3, 4, 5, 6]) == pytest.approx(0.5)
  rng = np.random.default_rng(0)
  same = latents.ks_statistic(rng.normal(size=4000), rng.normal(size=4000))
  shifted = latents.ks_statistic(rng.normal(size=4000), rng.normal(0.5, size=4000))
  assert same < 0.04 and shifted > 0.15


def test_rendered_sprites_positions_recovered_and_ks_by_shape():
  rng = np.random.default_rng(0)
  n = 200
  shape = np.repeat([0, 1], n // 2)
  x, y = rng.uniform(0, 1, n), rng.uniform(0, 1, n)
  # render() gives {0, 1} masks; the datasets' images are 2·mask − 1.
  images = sprites.render(shape, np.full(n, 0.8), np.zeros(n), x, y)[..., None] * 2.0 - 1.0
  lat = latents.pixel_latents(images)
  margin = 0.2  # sprites.py: centre = M + (1 − 2M)·x in canvas units.
  assert np.corrcoef(lat["x"], x)[0, 1] > 0.99
  assert lat["y"] == pytest.approx(margin + (1 - 2 * margin) * y, abs=0.02)
  ks = latents.latent_ks_by_group(lat, shape, lat, shape)
  assert set(ks) == {0, 1} and all(v == 0.0 for d in ks.values() for v in d.values())
