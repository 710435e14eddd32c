"""The ±180° runs of the two rotation heads in one CSV, named for paired.py.

    python results/symmetry/pm180_heads.py OUT.csv
    python results/symmetry/paired.py OUT.csv quarter flip PAIRED.csv

Rows of `quarter_turn_pm180.csv` (`quarter_pm180_s<S>`) become `quarter_s<S>`; the quickstart's
flip-head rows of `quickstart_small.csv` (`qs_small` is seed 0, `qs_small_s<S>`) become
`flip_s<S>`. The two files' columns differ; OUT has the first file's, empty where a row lacks one.
"""
import csv
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCES = (("quarter_turn_pm180.csv", r"quarter_pm180_s(\d+)", "quarter_s"),
           ("quickstart_small.csv", r"qs_small(?:_s(\d+))?", "flip_s"))


def main(out_path):
  columns, rows = None, []
  for name, pattern, prefix in SOURCES:
    with open(os.path.join(HERE, name), encoding="utf-8", newline="") as f:
      for row in csv.DictReader(f):
        m = re.fullmatch(pattern, row["run"])
        if m:
          columns = columns or list(row)
          rows.append({**row, "run": prefix + (m.group(1) or "0")})
  with open(out_path, "w", newline="", encoding="utf-8") as f:
    writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
      writer.writerow({c: row.get(c, "") for c in columns})


if __name__ == "__main__":
  main(sys.argv[1])
