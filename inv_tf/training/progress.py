"""A console progress line with rate and ETA, safe for terminals and for logs.

On a terminal the line is redrawn in place (carriage return) and cut to the terminal's width,
re-read at every redraw (a line one column too long wraps, and every redraw would then start a new
line); otherwise a full line is printed at most every `log_seconds` seconds, so CI logs stay short.

The rate and the ETA are measured from the steps run after the first one: the first step of a
stage includes XLA's compilation of the step (seconds to minutes), which says nothing about the
speed of the others. Until a second step has finished the line says "compiling …"; `status`
shows what a silent phase is doing (e.g. "exporting …").
"""

import os
import shutil
import sys
import time

ELLIPSIS = "…"


def format_seconds(seconds: float) -> str:
  """1234.5 → '20m34s'; 3.2 → '3s'."""
  seconds = int(round(max(seconds, 0)))
  hours, rest = divmod(seconds, 3600)
  minutes, secs = divmod(rest, 60)
  if hours:
    return f"{hours}h{minutes:02d}m"
  if minutes:
    return f"{minutes}m{secs:02d}s"
  return f"{secs}s"


def terminal_columns(stream) -> int:
  """The width of the terminal `stream` writes to (COLUMNS if set, else the tty's, else 80)."""
  if os.environ.get("COLUMNS", "").isdigit() and int(os.environ["COLUMNS"]) > 0:
    return int(os.environ["COLUMNS"])
  try:
    return os.get_terminal_size(stream.fileno()).columns
  except (AttributeError, OSError, ValueError):
    return shutil.get_terminal_size((80, 24)).columns


def fit(line: str, columns: int) -> str:
  """`line` cut to at most `columns` − 1 characters (the last column is never written: a
  character there makes some terminals wrap), ending in '…' when cut."""
  room = max(columns - 1, 1)
  return line if len(line) <= room else line[:room - 1] + ELLIPSIS


class Progress:
  """Progress of one training stage: `update(step, metrics)` then `close()`.

  Args:
    name: the stage's name, shown first.
    total: the last step of the stage.
    start: the step the run (re)starts from.
    stream: where to write (default stderr).
    log_seconds: minimum seconds between lines when not writing to a terminal.
    enabled: False writes nothing (e.g. the non-chief workers of a multi-worker run).
    clock: a function returning seconds (default `time.time`; tests pass a fake one).

  On construction the line shows "compiling …" (the first step compiles the train step).
  """

  def __init__(self, name: str, total: int, start: int = 0, stream=None, log_seconds: float = 15.0,
               enabled: bool = True, clock=None):
    self.enabled = enabled
    self.name, self.total, self.start = name, int(total), int(start)
    self.stream = stream or sys.stderr
    self.interactive = hasattr(self.stream, "isatty") and self.stream.isatty()
    self.log_seconds = log_seconds
    self.clock = clock or time.time
    self.started = self.clock()
    self.last_print = 0.0
    self.step = start
    self.first = None  # (step, time) of the first update: the end of the compiled first step.
    self.status(f"compiling the {name} step {ELLIPSIS}" if name else f"compiling {ELLIPSIS}")

  def rate(self, now: float) -> float:
    """Steps per second since the first update (0.0 until a step after it has finished)."""
    if self.first is None:
      return 0.0
    steps, seconds = self.step - self.first[0], now - self.first[1]
    return steps / seconds if steps > 0 and seconds > 0 else 0.0

  def line(self, now: float, metrics=None, columns: int = 10_000) -> str:
    """The progress text at `now`, fitted to `columns` (the bar shrinks first, then the end is
    cut)."""
    rate = self.rate(now)
    if rate > 0:
      speed = f"{rate:.2f} steps/s ETA {format_seconds((self.total - self.step) / rate)}"
    elif self.first is None:
      speed = f"compiling {ELLIPSIS}"
    else:  # Only the compiled first step has finished: no rate yet.
      speed = "ETA ?"
    shown = " ".join(f"{k}={float(v):.4g}" for k, v in (metrics or {}).items())
    head = f"{self.name} ["
    tail = f"] {self.step}/{self.total} {speed} {shown}".rstrip()
    width = min(24, max(columns - 1 - len(head) - len(tail), 0))
    filled = int(width * min(self.step, self.total) / max(self.total, 1))
    bar = "#" * filled + "." * (width - filled)
    return fit(head + bar + tail if width >= 4 else f"{self.name} {tail[2:]}", columns)

  def _write(self, text: str, columns: int):
    if self.interactive:
      self.stream.write("\r" + text.ljust(max(columns - 1, 1)))
    else:
      self.stream.write(text + "\n")
    self.stream.flush()

  def status(self, message: str):
    """Shows `message` (e.g. "exporting …") on the progress line (a log line when not a tty)."""
    if not self.enabled:
      return
    columns = terminal_columns(self.stream) if self.interactive else 10_000
    self._write(fit(f"{self.name}: {message}" if self.name else message, columns), columns)

  def update(self, step: int, metrics=None, force: bool = False):
    self.step = int(step)
    now = self.clock()
    if self.first is None:
      self.first = (self.step, now)
    if not self.enabled:
      return
    if not force and now - self.last_print < (0.5 if self.interactive else self.log_seconds):
      return
    self.last_print = now
    columns = terminal_columns(self.stream) if self.interactive else 10_000
    self._write(self.line(now, metrics, columns), columns)

  def close(self, metrics=None):
    if not self.enabled:
      return
    self.update(self.step, metrics, force=True)
    if self.interactive:
      self.stream.write("\n")
    self.stream.write(f"{self.name}: done in {format_seconds(self.clock() - self.started)}\n")
    self.stream.flush()


def status(message: str, stream=None, enabled: bool = True):
  """One line saying what a silent phase outside a stage is doing, e.g. "exporting …"."""
  if enabled:
    stream = stream or sys.stderr
    stream.write(message + "\n")
    stream.flush()
