"""Tests for inv_tf.models.sgm: the SGM facade (prototype, resample, input checks)."""

import numpy as np
import pytest
import tensorflow as tf

from inv_tf import transforms
from inv_tf.config import Config
from inv_tf.models.sgm import SGM
from support import TINY_MODEL, model_images


def test_sgm_prototype_of_untrained_model_is_the_input():
  sgm = SGM(Config(**TINY_MODEL), (12, 12, 1))
  x = model_images()
  proto = sgm.prototype(x)
  assert sorted(proto) == ["eta", "x_hat"]  # the keys of the SavedModel's prototype signature
  assert sgm(x).keys() == proto.keys()
  x_hat, eta = proto["x_hat"], proto["eta"]
  np.testing.assert_allclose(eta.numpy(), 0.0, atol=1e-7)
  np.testing.assert_allclose(x_hat.numpy(), x.numpy(), atol=1e-6)


def test_sgm_resample_is_one_warp_from_x_with_the_sampled_eta():
  sgm = SGM(Config(**TINY_MODEL), (12, 12, 1))
  x = model_images(3)
  seed = tf.constant([4, 2], tf.int32)
  images, eta = sgm.resample(x, 2, seed)
  assert images.shape == (2, 3, 12, 12, 1) and eta.shape == (2, 3, 5)
  # q is the identity at init, so the resample is T(x, η') with η' ~ p(η|x).
  x_hat = sgm.prototype(x)["x_hat"]
  np.testing.assert_allclose(eta.numpy(), sgm.sample_eta(x_hat, 2, seed).numpy(), atol=1e-6)
  for k in range(2):
    want = transforms.transform_images(x, eta[k], "affine_no_shear", order=1)
    np.testing.assert_allclose(images[k].numpy(), want.numpy(), atol=1e-5)
  log_p = sgm.log_prob_eta(x_hat, eta)
  assert log_p.shape == (2, 3) and np.all(np.isfinite(log_p.numpy()))


def test_sgm_rejects_images_of_the_wrong_size():
  sgm = SGM(Config(**TINY_MODEL), (12, 12, 1))
  with pytest.raises(ValueError, match=r"x: this model expects images of shape \[B, 12, 12, 1\]"):
    sgm.prototype(tf.zeros([2, 28, 28, 1]))
  with pytest.raises(ValueError, match="3-channel"):
    SGM(Config(family="affine_no_shear_hsv", **TINY_MODEL), (12, 12, 1))


def test_sgm_with_centre_coordinates_samples_eta_from_p_over_centres():
  """--generative_coordinates=centre: the same weights give η' = C⁻¹ of the algebra model's."""
  algebra = SGM(Config(**TINY_MODEL), (12, 12, 1))
  centre = SGM(Config(generative_coordinates="centre", **TINY_MODEL), (12, 12, 1))
  centre.set_weights(algebra.get_weights())
  x = model_images(3)
  seed = tf.constant([1, 5], tf.int32)
  v = algebra.sample_eta(x, 4, seed)
  eta = centre.sample_eta(x, 4, seed)
  want, _ = transforms.from_centre_coordinates(v, "affine_no_shear")
  np.testing.assert_allclose(eta.numpy(), want.numpy(), atol=1e-5)
  _, eta_resampled = centre.resample(x, 4, seed)
  np.testing.assert_allclose(eta_resampled.numpy(), eta.numpy(), atol=1e-6)
  assert np.all(np.isfinite(centre.log_prob_eta(x, eta).numpy()))
