"""results/aug_dsprites_spill.py: its counterfactual shift and the position η stands for."""

import importlib.util
import os

import numpy as np
import tensorflow as tf

from inv_tf import transforms
from inv_tf.evaluation import latents
from support import REPO

SCRIPT = os.path.join(REPO, "results", "aug_dsprites_spill.py")


def _script():
  spec = importlib.util.spec_from_file_location("aug_dsprites_spill", SCRIPT)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_shift_matrix_moves_the_ink_by_the_requested_image_sides():
  """The re-centring moves each prototype by −residual: a wrong sign would double it instead."""
  spill = _script()
  images = -np.ones((2, 64, 48, 1), np.float32)
  images[0, 20:30, 30:36] = 1.0
  images[1, 40:44, 5:15] = 1.0
  before = latents.pixel_latents(images)
  shift = transforms.Transform(transforms.get_family("affine_no_shear"),
                               tf.constant(spill.shift_matrix([0.1, -0.05], [-0.05, 0.08], 64, 48)))
  after = latents.pixel_latents(shift.apply(images, order=1).numpy())
  np.testing.assert_allclose(after["x"] - before["x"], [0.1, -0.05], atol=1e-5)
  np.testing.assert_allclose(after["y"] - before["y"], [-0.05, 0.08], atol=1e-5)


def test_eta_position_is_where_the_warp_shows_the_source_centre():
  spill = _script()
  eta = np.array([[0.3, -0.2, 0.7, 0.1, -0.1], [0.0, 0.0, 0.0, 0.0, 0.0]], np.float32)
  centre = spill.eta_position(eta, "affine_no_shear")
  m = transforms.affine_matrix(tf.constant(eta), "affine_no_shear").numpy()
  np.testing.assert_allclose(np.einsum("bij,bj->bi", m[:, :2, :2], centre) + m[:, :2, 2], 0.0,
                             atol=1e-6)
  np.testing.assert_array_equal(centre[1], [0.0, 0.0])
  assert spill.outside(np.array([-1.0, 0.5, 2.0, 0.2]), np.array([0.0, 1.0])) == 0.5
