"""examples/tour.py runs end to end (tiny settings: 2 steps per stage) and writes its figure."""

import os
import subprocess
import sys

import pytest

from support import REPO


@pytest.mark.slow
def test_tour_runs_and_writes_the_orbit_figure(tmp_path):
  # PYTHONPATH: this checkout's inv_tf, whatever is installed (the script's own dir is examples/).
  env = dict(os.environ, TOUR_STEPS="2", TOUR_DIR=str(tmp_path / "tour"), PYTHONPATH=str(REPO))
  proc = subprocess.run([sys.executable, str(REPO / "examples" / "tour.py")], cwd=str(REPO),
                        env=env, capture_output=True, text=True, timeout=900)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert (tmp_path / "tour" / "orbits.png").read_bytes().startswith(b"\x89PNG")
  assert (tmp_path / "tour" / "export" / "saved_model.pb").is_file()
  assert "augmented batch: (8, 24, 24, 1)" in proc.stdout
