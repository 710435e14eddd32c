"""Collects the truth-recovery measures of evaluated runs into one CSV row per run and class.

    python results/symmetry/summarise.py OUT.csv NAME=MODEL_DIR [NAME=MODEL_DIR ...]

Reads MODEL_DIR/flags.cfg and MODEL_DIR/eval/metrics.json (written by `python -m
trainers.evaluate --model_dir=MODEL_DIR`). Columns: the run's name, dataset, rotation head,
--generative_augment_range (column `bounds_mult`, its name before the rename, so the CSVs already
written keep their columns), the invariance measures, then per class: the truth's and p's mean resultant length
R̄ and angular deviation (radians), the relative width error, the per-image W1 of the
resamples' rotation for the model, the identity and the oracle, the recovery score, the W1 of
tx and log-scale x, --generative_target, the share of stray resamples (`inv_tf.evaluation.truth.stray`),
--generative_fold, and the rotation seen in the resamples' pixels (`visible_*`, empty for runs
evaluated before that measure).
"""
import csv
import json
import os
import sys


def flags(model_dir):
  out = {}
  with open(os.path.join(model_dir, "flags.cfg"), encoding="utf-8") as f:
    for line in f:
      if line.startswith("--") and "=" in line:
        key, value = line[2:].strip().split("=", 1)
        out[key] = value
  return out


def augment_range(cfg):
  """--generative_augment_range of a run's flags, also under its old name --bounds_mult."""
  return cfg.get("generative_augment_range", cfg.get("bounds_mult"))


# Written by trainers.evaluate since the visible-rotation measure (empty for older evaluations).
VISIBLE = ("visible_resultant", "visible_deviation", "visible_width_rel_error",
           "rotation_visible_w1")


def _rounded(value):
  return "" if value is None else round(value, 3)


def main(out_path, runs):
  rows = []
  for spec in runs:
    name, model_dir = spec.split("=", 1)
    cfg = flags(model_dir)
    with open(os.path.join(model_dir, "eval", "metrics.json"), encoding="utf-8") as f:
      metrics = json.load(f)
    base = {"run": name, "dataset": cfg["dataset"], "rotation_deg": cfg.get("rotation_deg", ""),
            "rotation_head": cfg.get("rotation_head", "linear"),
            "bounds_mult": augment_range(cfg), "anchor_mult": cfg.get("anchor_mult", "0.0"),
            "inference_steps": cfg["inference_steps"],
            "spline_tails": cfg.get("spline_tails", "learned"),
            "generative_target": cfg.get("generative_target", "q_of_x"),
            "generative_fold": cfg.get("generative_fold", "none"),
            "stray_fraction": metrics["truth"].get("stray_fraction", ""),
            "full_ratio": round(metrics.get("full_ratio", float("nan")), 4),
            "axis_ratio": round(metrics.get("axis_ratio", float("nan")), 4),
            "iterated_eta_norm_last": round(metrics["iterated_eta_norm_last"], 4)}
    for label, c in sorted(metrics["truth"]["classes"].items(), key=lambda kv: int(kv[0])):
      rot = c["rotation"]
      scores = [c[n]["recovery"] for n in ("tx", "ty", "rotation", "log_scale_x", "log_scale_y")]
      scores = [v for v in scores if v is not None and v == v]  # null / NaN: does not vary
      worst = min(scores, default=float("nan"))
      rows.append({**base, "class": label, "truth": c["description"],
                   "resultant_truth": round(c["resultant_truth"], 3),
                   "resultant": round(c["resultant"], 3),
                   "deviation_truth": round(c["deviation_truth"], 3),
                   "deviation": round(c["deviation"], 3),
                   "width_rel_error": (round(c["width_rel_error"], 3)
                                       if c["width_rel_error"] is not None else ""),
                   "rotation_w1": round(rot["w1"], 3), "rotation_w1_identity": round(rot["w1_identity"], 3),
                   "rotation_w1_oracle": round(rot["w1_oracle"], 3),
                   "recovery_min_over_components": round(worst, 3),
                   "tx_w1": round(c["tx"]["w1"], 4),
                   "log_scale_x_w1": round(c["log_scale_x"]["w1"], 4),
                   "class_stray_fraction": c.get("stray_fraction", ""),
                   **{k: _rounded(c.get(k)) for k in VISIBLE}})
  with open(out_path, "w", newline="", encoding="utf-8") as f:
    writer = csv.DictWriter(f, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)


if __name__ == "__main__":
  main(sys.argv[1], sys.argv[2:])
