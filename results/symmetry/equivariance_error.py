"""How far is q from rotation-equivariant? Per class, the circular spread of q's rotation error.

    python results/symmetry/equivariance_error.py NAME=MODEL_DIR [NAME=MODEL_DIR ...]

For the first 500 test images x and 16 angles φ evenly spaced over the circle, the error
e = θ_q(R_φ x) − φ − θ_q(x) (wrapped) is 0 for a q whose prototypes of every rotated copy coincide.
Printed per class: the circular standard deviation of e in radians (sqrt(−2 ln R̄)), and in
brackets the share of copies whose |e| > π/2 (the copy's prototype points the other way).
With --generative_augment_range=1, p is trained on prototypes of such rotated copies: this spread
is pose noise p cannot read off the prototype, so it bounds how narrow p can be on an upright class.
"""
import sys

import numpy as np
import tensorflow as tf

from inv_tf import data as data_lib
from inv_tf import transforms
from inv_tf.evaluation import circular
from inv_tf.training import checkpoints


def rotation_errors(model_dir, num_images=500, num_angles=16):
  """Per class: (circular std of e, share |e| > π/2)."""
  model = checkpoints.restore_model(model_dir)
  config = model.config
  family = transforms.get_family(config.family)
  r = family.parameters.index("rotation")
  batch = next(iter(data_lib.load_split(config, "test").batch(num_images)))
  images, labels = batch["image"], batch["label"].numpy()
  theta0 = model.inference.mode(images).numpy()[:, r]
  errors = []
  for phi in np.linspace(-np.pi, np.pi, num_angles, endpoint=False):
    eta = np.zeros((num_images, len(family.parameters)), np.float32)
    eta[:, r] = phi
    rotated = transforms.transform_images(images, tf.constant(eta), config.family,
                                          order=config.interpolation_order)
    theta = model.inference.mode(rotated).numpy()[:, r]
    errors.append(circular.wrap(theta - phi - theta0))
  errors = np.stack(errors, axis=1)  # [N, angles]
  out = {}
  for c in np.unique(labels):
    e = errors[labels == c].ravel()
    rbar = circular.mean_resultant_length(e)
    out[int(c)] = (float(np.sqrt(-2.0 * np.log(max(rbar, 1e-12)))), float(np.mean(np.abs(e) > np.pi / 2)))
  return out


if __name__ == "__main__":
  for spec in sys.argv[1:]:
    name, model_dir = spec.split("=", 1)
    res = rotation_errors(model_dir)
    print(name, " ".join(f"{c}:{s:.2f}({f:.2f})" for c, (s, f) in res.items()))
