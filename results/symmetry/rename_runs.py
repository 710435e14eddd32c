"""Rows of several summarise.py CSVs in one CSV, their runs renamed `<prefix><seed>` for paired.py.

    python results/symmetry/rename_runs.py OUT.csv CSV PATTERN PREFIX [CSV PATTERN PREFIX ...]

For each (CSV, PATTERN, PREFIX): the rows whose run matches the regular expression PATTERN in full
are kept, renamed PREFIX + its first group (the seed; "0" when the group did not take part, e.g.
the seed-0 run `qs_small` under `qs_small(?:_s(\d+))?`). CSV paths are relative to the working
directory. The CSVs' columns may differ: OUT has the first kept row's, empty where a row lacks one.
Example (the two rotation heads on ±180°, results/README.md):

    python results/symmetry/rename_runs.py /tmp/pm180_heads.csv \
      results/symmetry/quarter_turn_pm180.csv 'quarter_pm180_s(\d+)' quarter_s \
      results/symmetry/quickstart_small.csv 'qs_small(?:_s(\d+))?' flip_s
    python results/symmetry/paired.py /tmp/pm180_heads.csv quarter flip OUT_PAIRED.csv
"""
import csv
import re
import sys


def main(out_path, sources):
  """sources: [(csv path, pattern, prefix)]."""
  columns, rows = None, []
  for path, pattern, prefix in sources:
    with open(path, encoding="utf-8", newline="") as f:
      for row in csv.DictReader(f):
        m = re.fullmatch(pattern, row["run"])
        if m:
          columns = columns or list(row)
          rows.append({**row, "run": prefix + (m.group(1) or "0")})
  if columns is None:
    sys.exit("error: no run matched any PATTERN")
  with open(out_path, "w", newline="", encoding="utf-8") as f:
    writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
      writer.writerow({c: row.get(c, "") for c in columns})


if __name__ == "__main__":
  args = sys.argv[1:]
  if len(args) < 4 or (len(args) - 1) % 3:
    sys.exit("usage: rename_runs.py OUT.csv CSV PATTERN PREFIX [CSV PATTERN PREFIX ...]")
  main(args[0], [tuple(args[i:i + 3]) for i in range(1, len(args), 3)])
