"""A console progress line with rate and ETA, safe for terminals and for logs.

On a terminal the line is redrawn in place (carriage return); otherwise a full line is printed
at most every `log_seconds` seconds, so CI logs stay short.
"""

import sys
import time


def format_seconds(seconds: float) -> str:
  """1234.5 → '20m34s'; 3.2 → '3s'."""
  seconds = int(max(seconds, 0))
  hours, rest = divmod(seconds, 3600)
  minutes, secs = divmod(rest, 60)
  if hours:
    return f"{hours}h{minutes:02d}m"
  if minutes:
    return f"{minutes}m{secs:02d}s"
  return f"{secs}s"


class Progress:
  """Progress of one training stage: `update(step, metrics)` then `close()`.

  Args:
    name: the stage's name, shown first.
    total: the last step of the stage.
    start: the step the run (re)starts from.
    stream: where to write (default stderr).
    log_seconds: minimum seconds between lines when not writing to a terminal.
    enabled: False writes nothing (e.g. the non-chief workers of a multi-worker run).
  """

  def __init__(self, name: str, total: int, start: int = 0, stream=None, log_seconds: float = 15.0,
               enabled: bool = True):
    self.enabled = enabled
    self.name, self.total, self.start = name, int(total), int(start)
    self.stream = stream or sys.stderr
    self.interactive = hasattr(self.stream, "isatty") and self.stream.isatty()
    self.log_seconds = log_seconds
    self.started = time.time()
    self.last_print = 0.0
    self.step = start

  def update(self, step: int, metrics=None, force: bool = False):
    self.step = int(step)
    if not self.enabled:
      return
    now = time.time()
    if not force and now - self.last_print < (0.5 if self.interactive else self.log_seconds):
      return
    self.last_print = now
    done = self.step - self.start
    elapsed = now - self.started
    rate = done / elapsed if elapsed > 0 and done > 0 else 0.0
    eta = (self.total - self.step) / rate if rate > 0 else float("nan")
    width = 24
    filled = int(width * self.step / max(self.total, 1))
    bar = "#" * filled + "." * (width - filled)
    shown = " ".join(f"{k}={float(v):.4g}" for k, v in (metrics or {}).items())
    eta_text = format_seconds(eta) if rate > 0 else "?"
    line = (f"{self.name} [{bar}] {self.step}/{self.total} {rate:.2f} steps/s "
            f"ETA {eta_text} {shown}")
    if self.interactive:
      self.stream.write("\r" + line[:200].ljust(120))
    else:
      self.stream.write(line + "\n")
    self.stream.flush()

  def close(self, metrics=None):
    if not self.enabled:
      return
    self.update(self.step, metrics, force=True)
    if self.interactive:
      self.stream.write("\n")
    self.stream.write(f"{self.name}: done in {format_seconds(time.time() - self.started)}\n")
    self.stream.flush()
