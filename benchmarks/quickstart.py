r"""Times the README's main job end to end, next to the machine's float32 matmul rate.

    python benchmarks/quickstart.py [--flagfile_to_time=flags/quickstart.cfg] [--extra=--seed=1 ...]

Measures the matmul rate (`train_steps.matmul_gflops`, its own process), trains the flagfile in
a fresh temporary model dir (`python -m trainers.train`, a subprocess, so start-up, XLA
compilation and export count), measures the matmul rate again, and prints one JSON object:

    wall_s           the training command's wall time (seconds)
    stage_s          {stage: seconds} from the run's progress lines ("stage X" first to last)
    matmul_before, matmul_after
                     float32 matmul GFLOP/s before and after (they move with the machine's load)
    flagfile, extra  what ran

Issue 20's goal is stated for a machine at ≈ 250 GFLOP/s: compare wall times only together with
the matmul rates beside them. No assertions; the model dir is deleted afterwards.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from absl import app
from absl import flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_FLAGFILE = flags.DEFINE_string("flagfile_to_time", os.path.join(ROOT, "flags", "quickstart.cfg"),
                                "The flagfile to train.")
_EXTRA = flags.DEFINE_multi_string("extra", [], "Extra trainer flags, e.g. --extra=--seed=1.")


def _matmul() -> float:
  code = ("import sys; sys.path.insert(0, %r); from benchmarks.train_steps import matmul_gflops; "
          "print(matmul_gflops())" % ROOT)
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       cwd=ROOT)
  return round(float(out.stdout.strip().splitlines()[-1]), 1)


def _stage_seconds(lines, stamps) -> dict:
  """{stage: seconds between its first and last progress line}."""
  first, last = {}, {}
  for line, t in zip(lines, stamps):
    m = re.match(r"stage (\w+)", line)
    if m:
      first.setdefault(m.group(1), t)
      last[m.group(1)] = t
  return {k: round(last[k] - first[k], 1) for k in first}


def main(argv):
  del argv
  before = _matmul()
  workdir = tempfile.mkdtemp(prefix="inv_tf_quickstart_")
  command = [sys.executable, "-m", "trainers.train", f"--flagfile={_FLAGFILE.value}",
             *_EXTRA.value, f"--model_dir={os.path.join(workdir, 'run')}"]
  lines, stamps = [], []
  start = time.perf_counter()
  try:
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True) as proc:
      for raw in proc.stdout:
        for line in raw.replace("\r", "\n").splitlines():
          lines.append(line.strip())
          stamps.append(time.perf_counter() - start)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
      sys.exit(f"the training command failed (exit {proc.returncode}): {lines[-1] if lines else ''}")
  finally:
    shutil.rmtree(workdir, ignore_errors=True)
  print(json.dumps({"wall_s": round(wall, 1), "stage_s": _stage_seconds(lines, stamps),
                    "matmul_before": before, "matmul_after": _matmul(),
                    "flagfile": os.path.relpath(_FLAGFILE.value, ROOT), "extra": _EXTRA.value}))


if __name__ == "__main__":
  app.run(main)
