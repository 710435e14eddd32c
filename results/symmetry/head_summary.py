"""One line per run: p's rotation width per digit and the measures of q that go with it.

    python results/symmetry/head_summary.py OUT.csv NAME=MODEL_DIR [NAME=MODEL_DIR ...]

Per run (after `python -m trainers.evaluate --model_dir=MODEL_DIR`): R̄ of p per digit 0–9 and
their mean, the per-image rotation W1 to the truth (mean over digits), the full and relative
invariance ratios, iterated ‖η‖, from eval/metrics.json; and `ink_kept`
(`inv_tf.evaluation.invariance.ink_kept`, computed here on the first 500 upright test digits, so
it exists for runs evaluated before the measure did).
"""
import csv
import json
import os
import sys

import numpy as np

from inv_tf import data as data_lib
from inv_tf.evaluation import invariance
from inv_tf.training import checkpoints


def row(name, model_dir):
  with open(os.path.join(model_dir, "eval", "metrics.json")) as f:
    metrics = json.load(f)
  classes = metrics["truth"]["classes"]
  model = checkpoints.restore_model(model_dir)
  upright = model.config.replace(rotation_deg=0)
  images = next(iter(data_lib.load_split(upright, "test").batch(500)))["image"]
  out = {"run": name, "rotation_deg": model.config.rotation_deg,
         "rotation_head": model.config.rotation_head,
         "squash_to_bounds": model.config.squash_to_bounds}
  resultants = [classes[str(k)]["resultant"] for k in range(10)]
  out.update({f"resultant_{k}": round(r, 4) for k, r in enumerate(resultants)})
  out["resultant_mean"] = round(float(np.mean(resultants)), 4)
  out["rotation_w1_mean"] = round(float(np.mean(
      [classes[str(k)]["rotation"]["w1"] for k in range(10)])), 4)
  for key in ("full_ratio", "relative_ratio", "iterated_eta_norm_last"):
    out[key] = round(metrics[key], 4)
  out["ink_kept"] = round(invariance.ink_kept(model, images), 4)
  return out


if __name__ == "__main__":
  rows = [row(*arg.split("=", 1)) for arg in sys.argv[2:]]
  with open(sys.argv[1], "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
  for r in rows:
    print(r)
