r"""Is the aug_dsprites position-KS miss q's residual prototype position, or p's density?

The evaluation's resample of a test image x is x' = T(T(x, η_q)⁻¹, η') with η' ~ p(η|x̂), and
its position KS compares the pixel centroids of x' with those of the data, per shape and axis
(`inv_tf.evaluation.report.resample_ks`). Write c(·) for an image's pixel centroid (in [0, 1],
`latents.pixel_latents`). If every prototype of a shape sat at one place c̄_s, the resamples'
positions would be c̄_s moved by η' alone, and their distribution would be p's. Prototypes that
keep part of their image's position (residual r_i = c(x̂_i) − c̄_s) add r to the positions
unless p, which sees x̂, moves them back. Three views, per run, shape and axis, on the
evaluation's images (the first 2,000 test images of the run's seed) and its η' (seed 97):

    ks_actual     KS of c(x') against c(x): the evaluation's number (reproduced)
    ks_centred    the same η', but each prototype first moved by −r_i in the same single warp,
                  x'_c = T(x, M(η_q)⁻¹ · S(−r_i) · M(η')): the KS a q without residual would
                  leave with this p
    proto_std     std of c(x̂) (the residual's size), next to data_std, the std of c(x)

If ks_centred ≈ ks_actual, the residual is not the cause and the miss is p's; if ks_centred is
much smaller, q's residual is. S(d) moves content by d (in units of the image side).

Where p's miss lies, in η. M(η) = expm(Σ η_k G_k) couples translation with the linear part: its
translation column is V(L) t for the algebra coordinates t = (η_tx, η_ty) and the rotation and
scale terms L (`inv_tf.transforms.affine`). The point a warp by M(η) brings to the centre, where
q puts each shape's ink, is the translation column of M(η)⁻¹ — the position η stands for. Per
shape and axis, p's η' (one per image) against q's η on the same images, which are p's targets:

    ks_pos_eta    KS of the positions of η' against those of η_q (≈ ks_actual when the ink is
                  centred in x̂)
    ks_eta_t      KS of the algebra coordinate itself, η'_t against η_q,t: small with a large
                  ks_pos_eta means p fits each coordinate but not their coupling with L
    ks_rotation   KS of η'_rotation against η_q,rotation (per shape; both rows)

    p_outside     the share of η' positions outside the range of q's positions for the shape
                  (the data's band; 0 for a p whose samples stay in it)
    ks_halves     KS of q's positions in the first half of the shape's images against the
                  second half: sampling noise at half the size (KS of two samples of m each
                  scales as 1/√m, so the noise of the columns above is about 0.7 of this)

    python results/aug_dsprites_spill.py OUT.csv [--num_images=N] NAME=RUN_DIR [NAME=RUN_DIR ...]

N defaults to the evaluation's 2,000 (then ks_actual is its number); the test split has 10,240.
"""

import argparse
import csv
import sys

import numpy as np
import tensorflow as tf

from inv_tf import runs
from inv_tf import transforms
from inv_tf.data import sprites
from inv_tf.evaluation import latents
from inv_tf.evaluation import report

COLUMNS = ("run", "shape", "axis", "ks_actual", "ks_centred", "proto_std", "data_std",
           "ks_pos_eta", "ks_eta_t", "ks_rotation", "p_outside", "ks_halves", "num_images")
SEED = 97  # resample_ks's seed
BATCH = 250  # resample_ks's batch size


def shift_matrix(dx, dy, height: int, width: int) -> np.ndarray:
  """`[B, 3, 3]` output → input matrices that move content by (dx, dy) image sides.

  `warp.source_coordinates` samples input column j + ½(W − 1)·a₀₂ at output column j, so content
  moves by −½(W − 1)·a₀₂ pixels; a move of dx·W pixels needs a₀₂ = −2·dx·W / (W − 1) (rows alike).
  """
  m = np.tile(np.eye(3), (len(dx), 1, 1))
  m[:, 0, 2] = -2.0 * np.asarray(dx) * width / (width - 1)
  m[:, 1, 2] = -2.0 * np.asarray(dy) * height / (height - 1)
  return m.astype(np.float32)


def eta_position(eta, family) -> np.ndarray:
  """`[N, 2]` (x, y), normalised coordinates: c with M(η) c = 0, where a warp by M(η) shows the
  centre of its source (`transforms.to_centre_coordinates`)."""
  return transforms.to_centre_coordinates(tf.constant(eta), family)[0].numpy()[:, :2]


def outside(samples, reference) -> float:
  """The share of `samples` outside [min, max] of `reference` (both float `[N]`)."""
  return float(np.mean((samples < reference.min()) | (samples > reference.max())))


def measure(name: str, run_dir: str, num_images: int) -> list:
  model, config = runs.load_model(run_dir)
  batch = report._test_batch(config, num_images, None, model.image_shape)
  images, groups = batch["image"].numpy(), batch["label"].numpy()
  height, width = images.shape[1:3]
  order = 1 if config.interpolation_order == 1 else 3
  proto_eta, protos, actual, new_etas = [], [], [], []
  for i, start in enumerate(range(0, len(images), BATCH)):
    x = images[start:start + BATCH]
    out, new_eta = model.resample(x, 1, tf.constant([SEED, i], tf.int32))
    proto = model.prototype(x)
    actual.append(out[0].numpy())
    new_etas.append(new_eta[0].numpy())
    protos.append(proto["x_hat"].numpy())
    proto_eta.append(proto["eta"].numpy())
  actual, protos = np.concatenate(actual), np.concatenate(protos)
  new_eta, proto_eta = np.concatenate(new_etas), np.concatenate(proto_eta)
  true_lat = latents.pixel_latents(images)
  proto_lat = latents.pixel_latents(protos)
  actual_lat = latents.pixel_latents(actual)
  # The residual of each prototype against its shape's mean prototype centroid.
  resid = {a: np.zeros(len(images)) for a in "xy"}
  for g in np.unique(groups):
    sel = groups == g
    for a in "xy":
      resid[a][sel] = proto_lat[a][sel] - np.nanmean(proto_lat[a][sel])
  centred = []
  for start in range(0, len(images), BATCH):
    sl = slice(start, start + BATCH)
    inv_q = transforms.Transform.from_eta(proto_eta[sl], model.family).inverse()
    shift = transforms.Transform(inv_q.family, tf.constant(
        shift_matrix(-resid["x"][sl], -resid["y"][sl], height, width)))
    new = transforms.compose(inv_q, shift, transforms.Transform.from_eta(new_eta[sl],
                                                                         model.family))
    centred.append(new.apply(images[sl], order=order, differentiable=False).numpy())
  centred_lat = latents.pixel_latents(np.concatenate(centred))
  ks_actual = latents.latent_ks_by_group(true_lat, groups, actual_lat, groups)
  ks_centred = latents.latent_ks_by_group(true_lat, groups, centred_lat, groups)
  pos_new, pos_q = eta_position(new_eta, model.family), eta_position(proto_eta, model.family)
  rotation = list(model.family.parameters).index("rotation")
  rows = []
  for g in sorted(ks_actual):
    sel = groups == g
    ks_rot = latents.ks_statistic(new_eta[sel, rotation], proto_eta[sel, rotation])
    members = np.flatnonzero(sel)
    first, second = members[:len(members) // 2], members[len(members) // 2:]
    for k, a in enumerate("xy"):
      rows.append({"run": name, "shape": sprites.SHAPE_NAMES[g], "axis": a,
                   "ks_actual": f"{ks_actual[g][a]:.4f}", "ks_centred": f"{ks_centred[g][a]:.4f}",
                   "proto_std": f"{np.nanstd(proto_lat[a][sel]):.4f}",
                   "data_std": f"{np.nanstd(true_lat[a][sel]):.4f}",
                   "ks_pos_eta": f"{latents.ks_statistic(pos_new[sel, k], pos_q[sel, k]):.4f}",
                   "ks_eta_t": f"{latents.ks_statistic(new_eta[sel, k], proto_eta[sel, k]):.4f}",
                   "ks_rotation": f"{ks_rot:.4f}",
                   "p_outside": f"{outside(pos_new[sel, k], pos_q[sel, k]):.4f}",
                   "ks_halves": f"{latents.ks_statistic(pos_q[first, k], pos_q[second, k]):.4f}",
                   "num_images": len(images)})
  return rows


def main(argv) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("out")
  parser.add_argument("--num_images", type=int, default=report.KS_IMAGES)
  parser.add_argument("runs", nargs="+", help="NAME=RUN_DIR")
  args = parser.parse_args(argv[1:])
  if any("=" not in a for a in args.runs):
    parser.error("runs must be NAME=RUN_DIR")
  rows = [r for arg in args.runs for r in measure(*arg.split("=", 1), args.num_images)]
  with open(args.out, "w", newline="") as f:
    writer = csv.DictWriter(f, COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
  for r in rows:
    print(" ".join(f"{k}={r[k]}" for k in COLUMNS))
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv))
