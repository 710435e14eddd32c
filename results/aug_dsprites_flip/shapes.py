r"""Does q read each aug_dsprites shape's orientation? Per-shape measures of q alone.

    python results/aug_dsprites_flip/shapes.py OUT.csv NAME=RUN_DIR [NAME=RUN_DIR ...]

A square looks the same after a quarter turn and an ellipse after a half turn, so q can only
be asked for their orientation modulo 2π/n, n = the shape's symmetry order (square 4, ellipse 2,
heart 1). On the first 300 test images of each shape:

* `equivariance`: `invariance.rotation_equivariance` with n: each shape turned in place (about
  its own ink centroid) by sevenths of a turn; R̄ of n·(error of q's rotation angle). 1: q turns
  with the shape (modulo its symmetry); 1/6: q ignores the turn (`equivariance_constant_q`, α ≡ 0
  on the same images). `equivariance_about_centre` turns about the image centre instead, which
  also moves the shape round the centre: a q that reads the polar angle passes that one.
* `relative_ratio`: `invariance.rotation_invariance`'s relative ratio on the shape's images
  (1: the prototypes turn with the views, as for q = identity; 0: they coincide). For a symmetric
  shape the turned-prototype denominator is small at multiples of 2π/n, so read it beside
  `equivariance`.
* `iterated_eta_norm`: mean ‖η‖ at the fifth re-application of q to its own prototype.
* `half_turn_mse`: mean-pixel MSE between the image moved so its ink centroid is at the centre
  and that image's half turn, relative to the MSE between the centred image and the blank
  background: 0 for a shape that is its own half turn about its centroid. The flip-equivariant
  rotation head's (u, v) = f(x) − f(R_π x) vanishes there, so it cannot give such a shape an
  angle.
"""

import csv
import sys

import numpy as np
import tensorflow as tf

import inv_tf
from inv_tf import data as data_lib
from inv_tf import transforms
from inv_tf.evaluation import invariance

PER_SHAPE = 300
SHAPES = {0: ("square", 4), 1: ("ellipse", 2), 2: ("heart", 1)}
COLUMNS = ("run", "shape", "order", "equivariance", "equivariance_about_centre",
           "equivariance_constant_q", "relative_ratio", "full_ratio", "iterated_eta_norm",
           "half_turn_mse")


def half_turn_mse(x):
  """Mean over images of d(x_c, R_π x_c) / d(x_c, blank), x_c = x centred on its ink."""
  centre = transforms.ink_centroid(x).numpy()
  eta = np.concatenate([centre, np.zeros((len(x), 3), np.float32)], 1).astype(np.float32)
  centred = transforms.transform_images(x, eta, "affine_no_shear", order=1).numpy()
  flipped = centred[:, ::-1, ::-1]
  d_flip = ((centred - flipped) ** 2).mean(axis=(1, 2, 3))
  d_blank = ((centred + 1.0) ** 2).mean(axis=(1, 2, 3))
  return float((d_flip / d_blank).mean())


def measure(name, run_dir, by_shape):
  sgm = inv_tf.load(run_dir)
  rows = []
  for label, (shape, order) in SHAPES.items():
    x = by_shape[label]
    angle = lambda images: invariance.q_rotation_angle(sgm, images)  # pylint: disable=cell-var-from-loop
    ratios = invariance.rotation_invariance(sgm, x)
    rows.append({
        "run": name, "shape": shape, "order": order,
        "equivariance": round(invariance.rotation_equivariance(angle, x, order), 3),
        "equivariance_about_centre": round(invariance.rotation_equivariance(
            angle, x, order, in_place=False), 3),
        "equivariance_constant_q": round(invariance.rotation_equivariance(
            lambda images: np.zeros(len(images)), x, order), 3),
        "relative_ratio": round(float(ratios["relative_ratio"]), 3),
        "full_ratio": round(float(ratios["full_ratio"]), 3),
        "iterated_eta_norm": round(invariance.iterated_prototype_norms(sgm, x)[-1], 3),
        "half_turn_mse": round(half_turn_mse(x), 3),
    })
  return rows


def main(argv):
  if len(argv) < 3 or any("=" not in a for a in argv[2:]):
    sys.exit("usage: shapes.py OUT.csv NAME=RUN_DIR [NAME=RUN_DIR ...]")
  batch = next(iter(data_lib.load("aug_dsprites", "test").take(3000).batch(3000)))
  labels, images = batch["label"].numpy(), batch["image"].numpy()
  by_shape = {k: images[labels == k][:PER_SHAPE] for k in SHAPES}
  rows = [row for arg in argv[2:] for row in measure(*arg.split("=", 1), by_shape)]
  with open(argv[1], "w", newline="") as f:
    writer = csv.DictWriter(f, COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
  for row in rows:
    print(row)


if __name__ == "__main__":
  main(sys.argv)
