"""Paired differences over seeds between two groups of summarise.py's rows.

    python results/symmetry/paired.py SUMMARY.csv A B OUT.csv

A and B are run names without their `_s<seed>` suffix (e.g. round_trip_rotation and q_of_x from
targets_seeds.sh); rows of A_sS and B_sS with the same seed S are paired. Per class: the mean and
95 % Student-t interval of A − B (`inv_tf.evaluation.stats.paired_difference`) for R̄ of p, the
per-image rotation W1 and the relative width error, and their mean over a run's classes (class
"mean"); per pair of runs also the full invariance ratio and the share of stray resamples (class
"all").
"""
import collections
import csv
import re
import sys

from inv_tf.evaluation import stats

CLASS_MEASURES = ("resultant", "rotation_w1", "width_rel_error", "visible_resultant",
                  "visible_width_rel_error", "rotation_visible_w1")
RUN_MEASURES = ("full_ratio", "stray_fraction")


def _values(rows, group):
  """{(class, measure): {seed: value}} of the runs `group_s<seed>`; class "mean" is the mean over
  a run's classes (of those with the measure)."""
  out = collections.defaultdict(dict)
  per_run = collections.defaultdict(list)
  for r in rows:
    m = re.fullmatch(re.escape(group) + r"_s(\d+)", r["run"])
    if not m:
      continue
    seed = int(m.group(1))
    for name in CLASS_MEASURES:
      if r.get(name) not in (None, "", "nan"):
        out[(r["class"], name)][seed] = float(r[name])
        per_run[(seed, name)].append(float(r[name]))
    for name in RUN_MEASURES:
      if r[name] not in ("", "nan"):
        out[("all", name)][seed] = float(r[name])
  for (seed, name), values in per_run.items():
    out[("mean", name)][seed] = sum(values) / len(values)
  return out


def main(summary_path, a, b, out_path):
  with open(summary_path, newline="", encoding="utf-8") as f:
    rows = list(csv.DictReader(f))
  va, vb = _values(rows, a), _values(rows, b)
  out = []
  for key in sorted(set(va) & set(vb), key=lambda k: (k[0] in ("mean", "all"), k[0], k[1])):
    seeds = sorted(set(va[key]) & set(vb[key]))
    if not seeds:
      continue
    d = stats.paired_difference(va[key], vb[key])
    out.append({"class": key[0], "measure": key[1], "seeds": d["n"],
                "a_mean": round(sum(va[key][s] for s in seeds) / len(seeds), 4),
                "b_mean": round(sum(vb[key][s] for s in seeds) / len(seeds), 4),
                "diff_mean": round(d["mean"], 4),
                "diff_ci95": round(d["half_width"], 4) if d["n"] > 1 else ""})
  with open(out_path, "w", newline="", encoding="utf-8") as f:
    writer = csv.DictWriter(f, fieldnames=list(out[0]))
    writer.writeheader()
    writer.writerows(out)
  for row in out:
    print(f"{row['class']:>4} {row['measure']:>16}: {a} {row['a_mean']}  {b} {row['b_mean']}  "
          f"{a} − {b} {row['diff_mean']} ± {row['diff_ci95']} (n={row['seeds']})")


if __name__ == "__main__":
  main(*sys.argv[1:5])
