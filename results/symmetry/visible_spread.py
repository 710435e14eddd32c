"""Per class, p's rotation spread as η (R̄ of η') and as seen in the resamples' pixels (R̄ of α).

    python results/symmetry/visible_spread.py OUT.csv NAME=MODEL_DIR [NAME=MODEL_DIR ...]

For each run, `inv_tf.evaluation.report.truth_recovery` on the first 500 test images of the
run's known-truth dataset, 100 resamples each (what `trainers.evaluate` writes under "truth");
one row per run and class: the truth's R̄ and deviation, p's (`resultant`, from η'), the one
seen in the pixels (`visible_resultant`, from `truth.visible_rotation`), both width errors and
both rotation W1s. The model dirs are read only.
"""
import csv
import os
import sys

from inv_tf import runs
from inv_tf.evaluation import report

FIELDS = ("run", "class", "description", "resultant_truth", "resultant", "visible_resultant",
          "deviation_truth", "deviation", "visible_deviation", "width_rel_error",
          "visible_width_rel_error", "rotation_w1", "rotation_visible_w1", "stray_fraction")


def rows_of(name, model_dir):
  model, config = runs.load_model(model_dir)
  recovered, _ = report.truth_recovery(model, config)
  for label, c in sorted(recovered["classes"].items()):
    yield {"run": name, "class": label, **{k: c.get(k) for k in FIELDS[2:] if k in c},
           "rotation_w1": c["rotation"]["w1"]}


def main(out_path, specs):
  done = set()
  if os.path.exists(out_path):
    with open(out_path, encoding="utf-8") as f:
      done = {row["run"] for row in csv.DictReader(f)}
  for spec in specs:
    name, model_dir = spec.split("=", 1)
    if name in done:
      continue
    rows = list(rows_of(name, model_dir))
    new = not os.path.exists(out_path)
    with open(out_path, "a", newline="", encoding="utf-8") as f:
      writer = csv.DictWriter(f, FIELDS)
      if new:
        writer.writeheader()
      writer.writerows({k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}
                       for r in rows)
    print(name, "done", flush=True)


if __name__ == "__main__":
  main(sys.argv[1], sys.argv[2:])
