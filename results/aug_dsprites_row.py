"""Rows of results/aug_dsprites_cpu_variants.csv from evaluated aug_dsprites runs.

Each run's `eval/metrics.json` (written by `python -m trainers.evaluate`) gives the position KS
(resamples against the data, per shape and axis), the mobility (how far resampling moves an
image, relative to two independent images of its shape) and q's mean ‖η‖ after five
re-applications. Rows are appended to the CSV (the header is written if the file is new):

    python results/aug_dsprites_row.py --csv=results/aug_dsprites_cpu_variants.csv -- \
        RUN_DIR "--flags that made it" [RUN_DIR "--flags" ...]
"""

import argparse
import csv
import json
import os
import sys

SHAPES = ("square", "ellipse", "heart")
FIELDS = (["flags", "ks_xy_max", "mobility_xy_min", "iterated_eta_norm_last"]
          + [f"ks_{s}_{a}" for s in SHAPES for a in "xy"]
          + [f"mobility_{s}_{a}" for s in SHAPES for a in "xy"])


def row(run_dir: str, flags: str) -> dict:
  """The CSV row of one evaluated run (numbers rounded to 4 decimals)."""
  path = os.path.join(run_dir, "eval", "metrics.json")
  with open(path) as f:
    metrics = json.load(f)
  ks, mobility = metrics["ks"], metrics["mobility"]
  out = {"flags": flags,
         "ks_xy_max": max(ks[s][a] for s in SHAPES for a in "xy"),
         "mobility_xy_min": min(mobility[s][a] for s in SHAPES for a in "xy"),
         "iterated_eta_norm_last": metrics["iterated_eta_norm_last"]}
  out.update({f"ks_{s}_{a}": ks[s][a] for s in SHAPES for a in "xy"})
  out.update({f"mobility_{s}_{a}": mobility[s][a] for s in SHAPES for a in "xy"})
  return {k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in out.items()}


def main(argv) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--csv", required=True)
  parser.add_argument("pairs", nargs="+", help="RUN_DIR FLAGS pairs")
  args = parser.parse_args(argv)
  if len(args.pairs) % 2:
    parser.error("expected RUN_DIR FLAGS pairs")
  rows = [row(d, f) for d, f in zip(args.pairs[::2], args.pairs[1::2])]
  new = not os.path.exists(args.csv)
  with open(args.csv, "a", newline="") as f:
    writer = csv.DictWriter(f, FIELDS)
    if new:
      writer.writeheader()
    writer.writerows(rows)
  for r in rows:
    print(f"{r['flags']}: KS max {r['ks_xy_max']}, mobility min {r['mobility_xy_min']}, "
          f"iterated ‖η‖ {r['iterated_eta_norm_last']}")
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv[1:]))
