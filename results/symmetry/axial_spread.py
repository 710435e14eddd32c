"""Is p's rotation spread two-fold? Per digit, R̄ of p's rotation samples and of their doubles.

    python results/symmetry/axial_spread.py NAME=EXPORT_DIR [NAME=EXPORT_DIR ...]

For 500 upright MNIST test digits, 100 samples η' ~ p(η|x̂) per prototype x̂; per image the mean
resultant length R̄ of the rotations θ and R̄₂ of 2θ (the "axial" spread: 1 for samples at
θ₀ and θ₀ + π alike). A low R̄ with a high R̄₂ is p unsure only of the direction, by a half turn.
Prints the per-digit means of R̄ and R̄₂.
"""
import sys

import numpy as np
import tensorflow as tf

from inv_tf import data as data_lib
from inv_tf.evaluation import circular


def spread(export_dir, num_samples=100):
  module = tf.saved_model.load(export_dir)
  batch = next(iter(data_lib.load("mnist", "test", seed=0, rotation_deg=0).batch(500)))
  x_hat = module.prototype(batch["image"])["x_hat"]
  eta = module.sample_eta(x_hat, tf.constant(num_samples), tf.constant([0, 1]))["eta"].numpy()
  theta = eta[..., 2].T  # [N, samples]; affine_no_shear: tx, ty, rotation, log-scales
  labels = batch["label"].numpy()
  r1 = circular.mean_resultant_length(theta, axis=-1)
  r2 = circular.mean_resultant_length(2.0 * theta, axis=-1)
  return {d: (r1[labels == d].mean(), r2[labels == d].mean()) for d in range(10)}


if __name__ == "__main__":
  for spec in sys.argv[1:]:
    name, path = spec.split("=", 1)
    print(name, " ".join(f"{d}:{a:.2f}/{b:.2f}" for d, (a, b) in spread(path).items()))
