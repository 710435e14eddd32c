r"""Why resampled hearts stay in their y-band: what q and p do with aug_dsprites' hearts.

    python results/aug_dsprites_flip/hearts.py OUT.csv NAME=RUN_DIR [NAME=RUN_DIR ...]

Hearts have one orientation (0) and y in two bands (½U(0.1, 0.3) + ½U(0.7, 0.9)), so a heart of
the upper band is a heart of the lower band moved vertically: a q invariant to translation gives
both the same prototype, and p(η|x̂) then has to put half its mass on each band. Measured on the
first 400 hearts of the test split (per run):

* `q_angle_top`, `q_angle_bottom`: circular mean (degrees) of the rotation angle of q's linear
  part, atan2(A₁₀ − A₀₁, A₀₀ + A₁₁) of M(η), per band. Both bands show the same orientation, so a
  translation-invariant q gives equal angles.
* `proto_rotation`: the rotation (degrees, 5° grid) that best aligns the two bands' mean
  prototypes, each first moved so its ink centroid is at the image centre (rotating about the
  image centre instead would find 0° for any off-centre pair). `proto_check` is the same search
  run on the first band's mean rotated by 120°: it must report ±120°, or the measure is blind.
* `p_ty_std`: the per-image std of the ty of 50 samples from p(η|x̂), mean over hearts, and
  `cross_band`: the share of 50 resamples per heart whose ink centroid is in the other half of the
  image (a fresh draw: 0.5).
* `polar_top`, `polar_bottom`: circular mean (degrees) of the polar angle of the hearts' ink
  centroids about the image centre (image axes: x right, y down), per band.
* `rotation_equivariance`: for each heart, 7 copies turned by φ = 45°, 90°, …, 315° about the
  image centre; R̄ of q's angle on the copy minus q's angle on the heart minus φ, mean over hearts
  (the heart has no rotational symmetry, so 1 is the only right answer: q turns with the heart).
* `translation_resultant`, `polar_following`: `inv_tf.evaluation.invariance.translation_leakage`
  on the hearts (8 moves of 0.2 per heart). polar_following 0: q's rotation ignores where the
  heart is; 1: q takes the heart's polar angle about the image centre for its orientation.
"""

import csv
import sys

import numpy as np
from scipy import ndimage
import tensorflow as tf

import inv_tf
from inv_tf import data as data_lib
from inv_tf import transforms
from inv_tf.evaluation import circular
from inv_tf.evaluation import invariance

NUM_HEARTS = 400
NUM_SAMPLES = 50
SHIFT = 0.2
COLUMNS = ("run", "q_angle_top", "q_angle_bottom", "polar_top", "polar_bottom", "proto_rotation",
           "proto_check", "p_ty_std", "cross_band", "rotation_equivariance", "translation_resultant",
           "polar_following")


def aligning_rotation(a, b):
  """Degrees (5° grid) that best rotate image b `[H, W]` onto a, both centred on their ink."""
  def centred(img):
    x, y = transforms.ink_centroid(img[None, ..., None]).numpy()[0]
    # Normalised → pixel units: the centroid is (x, y) · (size − 1) / 2 away from the centre.
    return ndimage.shift((img + 1.0) / 2.0, (-y * (img.shape[0] - 1) / 2,
                                             -x * (img.shape[1] - 1) / 2), order=1)
  a, b = centred(a), centred(b)
  errors = [(float(((ndimage.rotate(b, d, reshape=False, order=1) - a) ** 2).mean()), d)
            for d in range(-180, 180, 5)]
  return min(errors)[1]


def measure(name, run_dir, x, top):
  sgm = inv_tf.load(run_dir)
  angle = invariance.q_rotation_angle(sgm, x)
  proto = sgm.prototype(tf.constant(x))["x_hat"].numpy()
  mean_top, mean_bottom = proto[top].mean(0)[..., 0], proto[~top].mean(0)[..., 0]
  # The check feeds the search a known rotation of an image in [-1, 1].
  check = ndimage.rotate(mean_bottom, 120, reshape=False, order=1, cval=-1.0)
  images, eta = sgm.resample(tf.constant(x), NUM_SAMPLES, tf.constant([1, 2], tf.int32))
  images, eta = images.numpy(), eta.numpy()
  centre = transforms.ink_centroid(images.reshape((-1,) + images.shape[2:])).numpy()
  in_top = centre[:, 1].reshape(NUM_SAMPLES, -1) < 0.0  # y grows downwards
  errors = []
  for phi in np.deg2rad(np.arange(45, 360, 45)):
    turned = transforms.transform_images(x, np.full((len(x), 1), phi, np.float32), "rotation",
                                         order=1)  # the content turns by −φ; q should answer +φ
    errors.append(invariance.q_rotation_angle(sgm, turned) - angle - phi)
  leakage = invariance.translation_leakage(sgm, x, shift=SHIFT)
  polar = invariance.polar_angle(x)
  return {
      "run": name,
      "q_angle_top": round(float(np.rad2deg(circular.circular_mean(angle[top]))), 1),
      "q_angle_bottom": round(float(np.rad2deg(circular.circular_mean(angle[~top]))), 1),
      "polar_top": round(float(np.rad2deg(circular.circular_mean(polar[top]))), 1),
      "polar_bottom": round(float(np.rad2deg(circular.circular_mean(polar[~top]))), 1),
      "proto_rotation": aligning_rotation(mean_bottom, mean_top),
      "proto_check": aligning_rotation(mean_bottom, check),
      "p_ty_std": round(float(eta[..., 1].std(0).mean()), 4),
      "cross_band": round(float((in_top != top[None, :]).mean()), 4),
      "rotation_equivariance": round(float(
          circular.mean_resultant_length(np.stack(errors, -1)).mean()), 3),
      "translation_resultant": round(leakage["translation_resultant"], 3),
      "polar_following": round(leakage["polar_following"], 3),
  }


def main(argv):
  if len(argv) < 3 or any("=" not in a for a in argv[2:]):
    sys.exit("usage: hearts.py OUT.csv NAME=RUN_DIR [NAME=RUN_DIR ...]")
  batch = next(iter(data_lib.load("aug_dsprites", "test").take(4000).batch(4000)))
  hearts = batch["label"].numpy() == 2
  x = batch["image"].numpy()[hearts][:NUM_HEARTS]
  top = batch["y"].numpy()[hearts][:NUM_HEARTS] < 0.5  # y grows downwards in the image
  rows = [measure(*arg.split("=", 1), x, top) for arg in argv[2:]]
  with open(argv[1], "w", newline="") as f:
    writer = csv.DictWriter(f, COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
  for row in rows:
    print(row)


if __name__ == "__main__":
  main(sys.argv)
