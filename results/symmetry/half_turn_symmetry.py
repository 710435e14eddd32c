"""How close each test prototype is to its own half turn, per digit.

    python results/symmetry/half_turn_symmetry.py EXPORT_DIR

For 500 upright MNIST test digits, s = ‖x̂ − R_π x̂‖² / ‖x̂ + 1‖², where R_π x̂ is x̂ reversed along
both axes (the half turn about the image centre) and −1 is the background: 0 for a prototype
that is its own half turn. Prints the median and the 10 % / 90 % quantiles of s per digit.
"""
import sys

import numpy as np
import tensorflow as tf

from inv_tf import data as data_lib


def main(export_dir):
  module = tf.saved_model.load(export_dir)
  batch = next(iter(data_lib.load("mnist", "test", seed=0, rotation_deg=0).batch(500)))
  x_hat = module.prototype(batch["image"])["x_hat"].numpy()
  labels = batch["label"].numpy()
  s = ((x_hat - x_hat[:, ::-1, ::-1, :]) ** 2).sum((1, 2, 3)) / ((x_hat + 1) ** 2).sum((1, 2, 3))
  for digit in range(10):
    v = s[labels == digit]
    print(f"{digit}: median {np.median(v):.3f}  q10 {np.quantile(v, 0.1):.3f}  "
          f"q90 {np.quantile(v, 0.9):.3f}")


if __name__ == "__main__":
  main(sys.argv[1])
