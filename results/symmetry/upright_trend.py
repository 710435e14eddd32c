"""The paired seed summary of upright_width.py's rows for two groups of runs.

    python results/symmetry/upright_trend.py results/symmetry/upright_width_trend.csv 3500 14000
    python results/symmetry/upright_trend.py results/symmetry/upright_width_heads.csv flip quarter

Runs are named `s<steps>` (seed 0) or `s<seed>_<steps>` (groups: stage-1 budgets), or
`<group>_s<seed>`. Prints, per seed, the mean over digits of R̄ of p and of q's equivariance
error e in both groups; their paired difference over seeds
(`inv_tf.evaluation.stats.paired_difference`, 95 % Student t); per digit the means over seeds;
and the correlation of R̄ with e over every run and digit.
"""
import collections
import csv
import re
import sys

import numpy as np

from inv_tf.evaluation import stats


def main(path, before, after):
  table = collections.defaultdict(dict)  # (seed, steps) -> {digit: (R̄, e)}
  for r in csv.DictReader(open(path)):
    m = re.fullmatch(r"s(?:(\d+)_)?(\d+)", r["run"])
    if m:
      key = (int(m.group(1) or 0), m.group(2))
    else:
      m = re.fullmatch(r"(.+)_s(\d+)", r["run"])
      key = (int(m.group(2)), m.group(1))
    table[key][int(r["digit"])] = (float(r["p_resultant"]), float(r["q_equivariance_std"]))
  seeds = sorted(s for s, steps in table if steps == before and (s, after) in table)
  digits = sorted(table[(seeds[0], before)])
  arr = {steps: np.array([[table[(s, steps)][d] for d in digits] for s in seeds])
         for steps in (before, after)}  # [seed, digit, (R̄, e)]
  for k, name in enumerate(("R̄ of p", "e")):
    means = {steps: dict(zip(seeds, arr[steps][:, :, k].mean(1))) for steps in arr}
    print(name, "per seed", before, "->", after, ":",
          ", ".join(f"{means[before][s]:.3f} -> {means[after][s]:.3f}" for s in seeds))
    print("  paired difference:",
          stats.format_ci(stats.paired_difference(means[after], means[before]), 3))
    for steps in arr:
      print(f"  per digit at {steps}:", " ".join(f"{v:.2f}" for v in arr[steps][:, :, k].mean(0)))
  both = np.concatenate([arr[before], arr[after]]).reshape(-1, 2)
  print(f"corr(R̄, e) over {len(both)} run-digits: {np.corrcoef(both[:, 0], both[:, 1])[0, 1]:.2f}")


if __name__ == "__main__":
  main(*sys.argv[1:4])
