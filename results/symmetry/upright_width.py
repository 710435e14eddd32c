"""Upright MNIST: p's width per class beside q's rotation-equivariance error and frame consistency.

    python results/symmetry/upright_width.py OUT.csv NAME=MODEL_DIR [NAME=MODEL_DIR ...]

Per run (after `python -m trainers.evaluate --model_dir=MODEL_DIR`) and class, one row:
`p_resultant` (R̄ of p's rotation samples per image, from eval/metrics.json; truth 1),
`q_equivariance_std` / `q_flip_share` (equivariance_error.py), `frame_resultant` /
`frame_axial_resultant` (frame_consistency.py), and the run's stage-1 / stage-2 steps.
"""
import csv
import json
import os
import sys

import equivariance_error
import frame_consistency

from inv_tf.training import checkpoints

COLUMNS = ("run", "inference_steps", "generative_steps", "digit", "p_resultant",
           "q_equivariance_std", "q_flip_share", "frame_resultant", "frame_axial_resultant")


def rows(name, model_dir):
  with open(os.path.join(model_dir, "eval", "metrics.json")) as f:
    classes = json.load(f)["truth"]["classes"]
  config = checkpoints.restore_model(model_dir).config
  errors = equivariance_error.rotation_errors(model_dir)
  frames = frame_consistency.frame_resultants(model_dir)
  for digit in sorted(errors):
    yield {"run": name, "inference_steps": config.inference_steps,
           "generative_steps": config.generative_steps, "digit": digit,
           "p_resultant": round(classes[str(digit)]["resultant"], 4),
           "q_equivariance_std": round(errors[digit][0], 4),
           "q_flip_share": round(errors[digit][1], 4),
           "frame_resultant": round(frames[digit][0], 4),
           "frame_axial_resultant": round(frames[digit][1], 4)}


if __name__ == "__main__":
  out = sys.argv[1]
  with open(out, "w", newline="") as f:
    writer = csv.DictWriter(f, COLUMNS)
    writer.writeheader()
    for spec in sys.argv[2:]:
      name, model_dir = spec.split("=", 1)
      for row in rows(name, model_dir):
        writer.writerow(row)
        print(row)
