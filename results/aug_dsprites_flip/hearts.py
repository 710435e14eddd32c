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
* `translation_rbar`: for each heart, 8 copies moved by pure translations of length 0.2
  (normalised units, directions 0°, 45°, …); R̄ of q's angle on the copies minus q's angle on the
  heart, mean over hearts. 1: q's rotation ignores where the heart is.
* `polar_slope`: over those copies, the least-squares slope (through 0) of the change in q's angle
  on the change in the heart's polar angle (both wrapped to [−π, π)). 0: q's rotation ignores
  where the heart is; ±1: q reads the heart's polar angle about the image centre as its
  orientation (the sign depends on the axes' orientation; M maps output to input coordinates).
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

NUM_HEARTS = 400
NUM_SAMPLES = 50
SHIFT = 0.2
COLUMNS = ("run", "q_angle_top", "q_angle_bottom", "polar_top", "polar_bottom", "proto_rotation",
           "proto_check", "p_ty_std", "cross_band", "translation_rbar", "polar_slope")


def ink_centroid(images):
  """Rows and columns (pixels) of the ink centroid of float `[B, H, W, 1]` images in [-1, 1]."""
  w = (images[..., 0] + 1.0) / 2.0
  rows, cols = np.mgrid[:w.shape[1], :w.shape[2]]
  total = w.sum((1, 2))
  return (w * rows).sum((1, 2)) / total, (w * cols).sum((1, 2)) / total


def polar_angle(images):
  """Radians `[B]`: the polar angle of the ink centroid about the image centre (x right, y down)."""
  rows, cols = ink_centroid(images)
  return np.arctan2(rows - (images.shape[1] - 1) / 2, cols - (images.shape[2] - 1) / 2)


def q_angle(sgm, x):
  """Radians `[B]`: the rotation angle of the linear part of M(η), η the mode of q(η|x)."""
  m = transforms.Transform.from_eta(sgm.prototype(tf.constant(x))["eta"], sgm.family).matrix
  m = m.numpy()
  return np.arctan2(m[:, 1, 0] - m[:, 0, 1], m[:, 0, 0] + m[:, 1, 1])


def aligning_rotation(a, b):
  """Degrees (5° grid) that best rotate image b `[H, W]` onto a, both centred on their ink."""
  def centred(img):
    w = (img + 1.0) / 2.0
    r, c = ink_centroid(img[None, ..., None])
    return ndimage.shift(w, ((w.shape[0] - 1) / 2 - r[0], (w.shape[1] - 1) / 2 - c[0]), order=1)
  a, b = centred(a), centred(b)
  errors = [(float(((ndimage.rotate(b, d, reshape=False, order=1) - a) ** 2).mean()), d)
            for d in range(-180, 180, 5)]
  return min(errors)[1]


def measure(name, run_dir, x, top):
  sgm = inv_tf.load(run_dir)
  angle = q_angle(sgm, x)
  proto = sgm.prototype(tf.constant(x))["x_hat"].numpy()
  mean_top, mean_bottom = proto[top].mean(0)[..., 0], proto[~top].mean(0)[..., 0]
  # The check feeds the search a known rotation of an image in [-1, 1].
  check = ndimage.rotate(mean_bottom, 120, reshape=False, order=1, cval=-1.0)
  images, eta = sgm.resample(tf.constant(x), NUM_SAMPLES, tf.constant([1, 2], tf.int32))
  images, eta = images.numpy(), eta.numpy()
  rows, _ = ink_centroid(images.reshape((-1,) + images.shape[2:]))
  in_top = rows.reshape(NUM_SAMPLES, -1) < (x.shape[1] - 1) / 2
  directions = np.deg2rad(np.arange(0, 360, 45))
  copies = [transforms.transform_images(
      x, np.tile([[SHIFT * np.cos(d), SHIFT * np.sin(d), 0.0, 0.0, 0.0]], [len(x), 1])
      .astype(np.float32), sgm.family, order=1).numpy() for d in directions]
  change = circular.wrap(np.stack([q_angle(sgm, c) for c in copies], -1) - angle[:, None])
  polar = polar_angle(x)
  polar_change = circular.wrap(np.stack([polar_angle(c) for c in copies], -1) - polar[:, None])
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
      "translation_rbar": round(float(np.mean(circular.mean_resultant_length(change))), 3),
      "polar_slope": round(float((change * polar_change).sum() / (polar_change ** 2).sum()), 3),
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
