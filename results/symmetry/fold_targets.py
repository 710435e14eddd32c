"""What the half-turn fold does to the stage-2 targets of a trained q, per class and threshold.

    python results/symmetry/fold_targets.py OUT.csv MODEL_DIR [THRESHOLD ...]

For the run's first 500 test images (a known-truth dataset with labels): one sample η of q per
image (the stage-2 target), the half-turn asymmetry of its prototype
(`transforms.half_turn_asymmetry`), and per class the R̄ of the targets' rotations pooled over the
class before and after `losses.half_turn_fold` at each threshold (default 0.1 0.15 0.2 0.3), with
the share folded. Writes one row per class and threshold; prints them.
"""
import csv
import sys

import numpy as np
import tensorflow as tf

from inv_tf import data as data_lib
from inv_tf import runs, transforms
from inv_tf.evaluation import circular
from inv_tf.training import losses


def main(out_path, model_dir, thresholds):
  model, config = runs.load_model(model_dir)
  batch = next(iter(data_lib.load_split(config, "test").batch(500)))
  x, labels = batch["image"], batch["label"].numpy()
  eta = model.inference(x, training=False).sample(seed=[1, 2])
  index = transforms.get_family(config.family).parameters.index("rotation")
  prototypes = transforms.Transform.from_eta(eta, config.family).inverse().apply(
      x, order=config.interpolation_order)
  asymmetry = transforms.half_turn_asymmetry(prototypes).numpy()
  theta = eta.numpy()[:, index]
  rows = []
  for threshold in thresholds:
    folded, share = losses.half_turn_fold(
        x, eta, config.replace(generative_fold="half_turn", generative_fold_threshold=threshold))
    folded_theta, share = folded.numpy()[:, index], share.numpy()
    for c in sorted(set(labels.tolist())):
      k = labels == c
      rows.append({"class": c, "threshold": threshold,
                   "asymmetry_median": round(float(np.median(asymmetry[k])), 3),
                   "target_resultant": round(float(circular.mean_resultant_length(theta[k], -1)), 3),
                   "folded_resultant": round(float(circular.mean_resultant_length(
                       folded_theta[k], -1)), 3),
                   "share_folded": round(float(share[k].mean()), 3)})
  with open(out_path, "w", newline="", encoding="utf-8") as f:
    writer = csv.DictWriter(f, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
  for r in rows:
    print(r)


if __name__ == "__main__":
  main(sys.argv[1], sys.argv[2], [float(t) for t in sys.argv[3:]] or [0.1, 0.15, 0.2, 0.3])
