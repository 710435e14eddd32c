"""Mean and 95 % interval over seeds of summarise.py's per-class rows.

    python results/symmetry/aggregate.py SUMMARY.csv OUT.csv

Runs are grouped by their name without a trailing `_s<seed>` (e.g. qsF5k, qsF5k_s1 … qsF5k_s4
form the group qsF5k). Per group and class: the number of seeds and, for R̄ of p, the per-image
rotation W1 and the recovery score, the mean and the 95 % Student-t half-width
(`inv_tf.evaluation.stats.mean_ci`); per group also the full invariance ratio and the iterated ‖η‖.
"""
import collections
import csv
import re
import sys

from inv_tf.evaluation import stats

MEASURES = ("resultant", "rotation_w1", "recovery_min_over_components")
RUN_MEASURES = ("full_ratio", "iterated_eta_norm_last")


def main(summary_path, out_path):
  with open(summary_path, newline="", encoding="utf-8") as f:
    rows = list(csv.DictReader(f))
  groups = collections.defaultdict(list)
  for r in rows:
    groups[(re.sub(r"_s\d+$", "", r["run"]), r["class"])].append(r)
  out = []
  for (group, label), members in sorted(groups.items(), key=lambda kv: (kv[0][0], int(kv[0][1]))):
    row = {"group": group, "class": label, "truth": members[0]["truth"],
           "resultant_truth": members[0]["resultant_truth"], "seeds": len(members)}
    for name in MEASURES + RUN_MEASURES:
      values = [float(m[name]) for m in members if m[name] not in ("", "nan")]
      if not values:  # not measured for this run (e.g. no invariance ratios)
        row[f"{name}_mean"] = row[f"{name}_ci95"] = ""
        continue
      ci = stats.mean_ci(values)
      row[f"{name}_mean"] = round(ci["mean"], 4)
      row[f"{name}_ci95"] = round(ci["half_width"], 4) if ci["n"] > 1 else ""
    out.append(row)
  with open(out_path, "w", newline="", encoding="utf-8") as f:
    writer = csv.DictWriter(f, fieldnames=list(out[0]))
    writer.writeheader()
    writer.writerows(out)
  for row in out:
    if row["seeds"] > 1:
      print(f"{row['group']:>12} {row['class']}: R̄ {row['resultant_mean']} ± "
            f"{row['resultant_ci95']}  W1 {row['rotation_w1_mean']} ± {row['rotation_w1_ci95']}"
            f"  (n={row['seeds']})")


if __name__ == "__main__":
  main(sys.argv[1], sys.argv[2])
