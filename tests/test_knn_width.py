"""results/symmetry/knn_width.py: the nearest-neighbour reference for p's width.

The reference must be high where look-alike prototypes share a rotation and at its floor
(≈ √π / (2√k) for uniform angles) where they do not: the failure it is meant to show.
"""

import importlib.util
import math
import os

import numpy as np

from support import REPO

SCRIPT = os.path.join(REPO, "results", "symmetry", "knn_width.py")


def _script():
  spec = importlib.util.spec_from_file_location("knn_width", SCRIPT)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def _data(rng, n_train=2000, n_test=200, dim=16):
  train, test = rng.normal(size=(n_train, dim)), rng.normal(size=(n_test, dim))
  return train, test


def test_squared_distances_match_the_direct_sum():
  knn = _script()
  rng = np.random.default_rng(0)
  train, test = _data(rng, 50, 7, 5)
  direct = ((test[:, None, :] - train[None, :, :]) ** 2).sum(-1)
  np.testing.assert_allclose(knn.squared_distances(test, train), direct, rtol=1e-10, atol=1e-10)


def test_reference_is_high_when_the_rotation_follows_the_prototype():
  knn = _script()
  rng = np.random.default_rng(1)
  train, test = _data(rng, dim=2)
  theta = 3.0 * train[:, 0]   # a smooth function of the prototype; over all of them R̄ ≈ 0.01
  assert np.abs(np.exp(1j * theta).mean()) < 0.05
  rbar = knn.knn_resultant(knn.squared_distances(test, train), theta, k=25)
  assert rbar.mean() > 0.9


def test_reference_falls_to_its_floor_when_look_alikes_disagree():
  knn = _script()
  rng = np.random.default_rng(2)
  train, test = _data(rng)
  theta = rng.uniform(-math.pi, math.pi, size=train.shape[0])   # unrelated to the prototype
  rbar = knn.knn_resultant(knn.squared_distances(test, train), theta, k=25)
  floor = math.sqrt(math.pi) / (2.0 * math.sqrt(25))
  assert abs(rbar.mean() - floor) < 0.03
  # A half-turn ambiguity (each look-alike group split between θ and θ + π) is caught too.
  split = 0.1 * train[:, 0] + math.pi * (rng.uniform(size=train.shape[0]) < 0.5)
  assert knn.knn_resultant(knn.squared_distances(test, train), split, k=25).mean() < 0.4
