"""`inv_tf.training.progress`: ETA from steps actually run, status lines, terminal width."""

import io
import re

import pytest

from inv_tf.training import progress


class FakeTerminal(io.StringIO):
  """A stream that says it is a terminal (so the line is redrawn in place)."""

  def isatty(self):
    return True


class Clock:
  def __init__(self):
    self.now = 1000.0

  def __call__(self):
    return self.now


def _redraws(text):
  """The successive contents of the progress line (split at carriage returns)."""
  return [part for part in text.split("\r") if part]


def test_eta_leaves_out_the_compiled_first_step():
  clock, out = Clock(), io.StringIO()
  bar = progress.Progress("stage inference", 1000, stream=out, log_seconds=0, clock=clock)
  assert "compiling" in out.getvalue()
  clock.now += 240.0  # step 1: four minutes of XLA compilation
  bar.update(1)
  assert "ETA ?" in out.getvalue().splitlines()[-1]  # no rate from the compile step alone
  for step in range(2, 101):  # then 10 steps/s
    clock.now += 0.1
    bar.update(step)
  last = out.getvalue().splitlines()[-1]
  rate = float(re.search(r"([\d.]+) steps/s", last).group(1))
  assert rate == pytest.approx(10.0, rel=1e-3)
  # 900 steps left at 10 steps/s: 1m30s (counting the compile step would say ~ 6 minutes).
  assert "ETA 1m30s" in last, last


def test_eta_of_a_resumed_stage_counts_from_its_own_first_step():
  clock, out = Clock(), io.StringIO()
  bar = progress.Progress("stage generative", 200, start=100, stream=out, log_seconds=0,
                          clock=clock)
  clock.now += 60.0
  bar.update(101)
  for step in range(102, 112):
    clock.now += 0.5
    bar.update(step)
  assert "2.00 steps/s ETA 44s" in out.getvalue().splitlines()[-1]


@pytest.mark.parametrize("columns", [40, 80, 120])
def test_terminal_line_fits_the_width_and_is_redrawn_in_place(monkeypatch, columns):
  monkeypatch.setenv("COLUMNS", str(columns))
  clock, out = Clock(), FakeTerminal()
  bar = progress.Progress("stage inference", 6000, stream=out, clock=clock)
  metrics = {"loss": 0.0123456, "x_mse": 0.00123, "sigma": 0.0004, "extra": 12345.678}
  for step in range(1, 50):
    clock.now += 1.0
    bar.update(step, metrics)
  text = out.getvalue()
  assert "\n" not in text  # every redraw replaced the line (a wrapped line would add one)
  lines = _redraws(text)
  assert len(lines) == 50  # "compiling …" + 49 updates (1 s apart, over the 0.5 s throttle)
  assert "compiling" in lines[0]
  assert all(len(line) <= columns - 1 for line in lines), max(map(len, lines))
  assert "steps/s" in lines[-1] or columns < 60
  assert lines[-1].startswith("stage inference")
  bar.close(metrics)
  assert out.getvalue().endswith("done in 49s\n")


def test_fit_cuts_with_an_ellipsis():
  assert progress.fit("abcdef", 80) == "abcdef"
  assert progress.fit("abcdefghij", 6) == "abcd…"


def test_status_and_disabled_progress():
  out = io.StringIO()
  progress.status("exporting the SavedModel to /x/export …", stream=out)
  assert out.getvalue() == "exporting the SavedModel to /x/export …\n"
  quiet = io.StringIO()
  bar = progress.Progress("stage inference", 10, stream=quiet, enabled=False)
  bar.update(5)
  bar.close()
  assert quiet.getvalue() == ""


def test_log_lines_are_rate_limited_when_not_a_terminal():
  clock, out = Clock(), io.StringIO()
  bar = progress.Progress("stage vae", 100, stream=out, log_seconds=15.0, clock=clock)
  for step in range(1, 101):
    clock.now += 1.0
    bar.update(step)
  # "compiling …", then one line per 15 s of the 100 s.
  assert 6 <= len(out.getvalue().splitlines()) <= 8
