"""Mean ± 95 % CI over seeds of the aug_dsprites measures, for the rows of one recipe.

    python results/aug_dsprites_seeds.py results/aug_dsprites_cpu_variants.csv "SUBSTRING"

Takes the rows of the CSV (written by results/aug_dsprites_row.py) whose `flags` contain
SUBSTRING, one row per seed, and prints per statistic the mean ± Student-t half-width, the
range, and how many seeds meet the bar (position KS ≤ 0.10, mobility ≥ 0.8, iterated ‖η‖ ≤ 0.1).
"""
import csv
import sys

from inv_tf.evaluation import stats

BARS = {"ks": ("≤", 0.10), "mobility": ("≥", 0.8), "iterated": ("≤", 0.1)}


def main(path, substring):
  with open(path, encoding="utf-8") as f:
    rows = [r for r in csv.DictReader(f) if substring in r["flags"]]
  if not rows:
    sys.exit(f"no row of {path} has {substring!r} in its flags")
  print(f"{len(rows)} rows:", *(r["flags"] for r in rows), sep="\n  ")
  print("| statistic | mean ± 95 % CI | range | seeds meeting the bar |\n|---|---|---|---|")
  for key in [k for k in rows[0] if k != "flags"]:
    values = [float(r[key]) for r in rows]
    ci = stats.mean_ci(values)
    op, bar = BARS[key.split("_")[0]]
    met = sum((v <= bar) if op == "≤" else (v >= bar) for v in values)
    print(f"| {key} | {stats.format_ci(ci, 3)} | {min(values):.3f}–{max(values):.3f} | "
          f"{met} of {len(values)} ({op} {bar:g}) |")


if __name__ == "__main__":
  main(*sys.argv[1:3])
