"""Paired by seed: one aug_dsprites variant against another, mean ± 95 % CI of the differences.

    python results/aug_dsprites_paired.py results/aug_dsprites_cpu_variants.csv \
        --variant="--generative_dropout=0 --conditioner_dropout=0" --variant_without="--num_bins" \
        --baseline="--translation_head=centroid --rotation_head=linear --inference_zoom=0.4 --generative_augment_range=0.1" \
        --baseline_without="dropout=0"

Rows (written by results/aug_dsprites_row.py) are chosen by substrings of their `flags`: the
variant's rows contain --variant and none of the --variant_without strings (repeatable); the
baseline's contain --baseline and none of the --baseline_without strings.
The seed is the row's `--seed=S` (0 when absent); each side must have one row per seed. Prints,
for the worst position KS, the mean of the six position KS and the worst mobility, each side's
mean and the variant − baseline difference per seed and as mean ± Student-t half-width.
"""

import argparse
import csv
import re
import sys

from inv_tf.evaluation import stats

KS = [f"ks_{s}_{a}" for s in ("square", "ellipse", "heart") for a in "xy"]
MEASURES = {"worst position KS": lambda r: float(r["ks_xy_max"]),
            "mean of the six position KS": lambda r: sum(float(r[k]) for k in KS) / len(KS),
            "worst mobility": lambda r: float(r["mobility_xy_min"])}


def by_seed(rows, contains, without=()):
  """{seed: row} of the rows whose flags contain `contains` (and none of `without`)."""
  out = {}
  for row in rows:
    flags = row["flags"]
    if contains in flags and not any(w in flags for w in without):
      match = re.search(r"--seed=(\d+)", flags)
      seed = int(match.group(1)) if match else 0
      if seed in out:
        sys.exit(f"two rows for seed {seed}:\n  {out[seed]['flags']}\n  {flags}")
      out[seed] = row
  return out


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("csv")
  parser.add_argument("--variant", required=True)
  parser.add_argument("--variant_without", action="append", default=[],
                      help="leave out rows containing this (repeatable)")
  parser.add_argument("--baseline", required=True)
  parser.add_argument("--baseline_without", action="append", default=[],
                      help="leave out rows containing this (repeatable)")
  args = parser.parse_args(argv)
  with open(args.csv, encoding="utf-8") as f:
    rows = list(csv.DictReader(f))
  variant = by_seed(rows, args.variant, args.variant_without)
  baseline = by_seed(rows, args.baseline, args.baseline_without)
  seeds = sorted(set(variant) & set(baseline))
  if len(seeds) < 2:
    print(f"error: fewer than 2 seeds with both rows (variant {sorted(variant)}, baseline "
          f"{sorted(baseline)})", file=sys.stderr)
    return 2
  print(f"seeds {seeds}")
  for name, measure in MEASURES.items():
    v = {s: measure(variant[s]) for s in seeds}
    b = {s: measure(baseline[s]) for s in seeds}
    per_seed = ", ".join(f"{v[s] - b[s]:+.3f}" for s in seeds)
    print(f"{name}: baseline {stats.format_ci(stats.mean_ci(list(b.values())), 3)}, variant "
          f"{stats.format_ci(stats.mean_ci(list(v.values())), 3)}, variant − baseline "
          f"{stats.format_ci(stats.paired_difference(v, b), 3)} (per seed {per_seed})")
  return 0


if __name__ == "__main__":
  sys.exit(main())
