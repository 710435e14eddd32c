"""What the three trainers share on the command line: `--help`, flagfiles by name, the launch.

absl's own `--help` lists only the main module's key flags, alphabetically, and points to
`--helpfull` (hundreds of TensorFlow flags). Each trainer instead passes its docstring and its
flags in groups; `--help` (also -h, -?, --helpshort) prints those, with every flag's help text and
default, and exits 0. `--helpfull` is absl's, unchanged.

`--flagfile=NAME` with a bare NAME that is not an existing file (e.g. `--flagfile=quickstart`)
reads the packaged flags/NAME.cfg (`inv_tf.flagfile_path`), so an installed wheel runs the
shipped configurations from any directory; a path is passed to absl untouched.

A command line or flagfile absl cannot use (an unknown flag, a value of the wrong type, a
flagfile that is missing or a directory, a flagfile line that is not `--name=value`, a positional
argument) ends in one line `FATAL Flags parsing error: …` on stderr, naming the flagfile and its
line where there is one, and exit code 2 (`USAGE_EXIT`), as for every other usage error.
"""

import os
import sys
import textwrap

from absl import app
from absl import flags
from absl import logging

import inv_tf

HELP_ARGS = ("-h", "-?", "--help", "-help", "--helpshort", "-helpshort")
# The exit code of every usage error: a bad flag, a bad value, a refused configuration.
USAGE_EXIT = 2


def _default_text(holder):
  value = holder.default
  if isinstance(value, (list, tuple)):
    value = ",".join(str(v) for v in value)
  return "''" if value in ("", None) else str(value)


def usage(doc: str, groups, required=("model_dir",)) -> str:
  """The text of `--help`: `doc`, then each group's flags with help text and default.

  Args:
    doc: the trainer's module docstring.
    groups: [(title, [absl FlagHolder, …]), …] in display order.
    required: names of the flags shown as required (checked by the trainer).
  """
  out = [textwrap.dedent(doc).strip(), ""]
  for title, holders in groups:
    out.append(f"{title}:")
    for holder in holders:
      note = "required" if holder.name in required else f"default: {_default_text(holder)}"
      out.append(f"  --{holder.name} ({note})")
      out += textwrap.wrap(flags.FLAGS[holder.name].help, 96, initial_indent="      ",
                           subsequent_indent="      ")
    out.append("")
  out.append("--flagfile=NAME reads the shipped flags/NAME.cfg (e.g. --flagfile=quickstart),\n"
             "--flagfile=PATH a file; --helpfull lists absl's and TensorFlow's flags too.")
  return "\n".join(out)


def resolve_flagfiles(argv):
  """argv with each `--flagfile=NAME` (a bare name, not an existing path) → the packaged file."""
  out = list(argv[:1])
  rest = iter(argv[1:])
  for arg in rest:
    for prefix in ("--flagfile=", "-flagfile="):
      if arg.startswith(prefix):
        arg = prefix + _resolve(arg[len(prefix):])
    if arg in ("--flagfile", "-flagfile"):
      out.append(arg)
      arg = _resolve(next(rest, ""))
    out.append(arg)
  return out


def _resolve(value):
  if not value or os.path.exists(value) or os.sep in value:
    return value
  try:
    return inv_tf.flagfile_path(value)
  except FileNotFoundError:
    return value  # absl reports the missing file in one line


class FlagfileError(ValueError):
  """A flagfile absl would misread; the message names the file and the line."""


def _flagfile_args(argv):
  """The values of every `--flagfile=PATH` / `--flagfile PATH` in argv, in order."""
  paths, rest = [], iter(argv)
  for arg in rest:
    for prefix in ("--flagfile=", "-flagfile="):
      if arg.startswith(prefix):
        paths.append(arg[len(prefix):])
    if arg in ("--flagfile", "-flagfile"):
      paths.append(next(rest, ""))
  return paths


def check_flagfile(path: str, known, seen=()) -> None:
  """Checks that every line of the flagfile `path` (and of the flagfiles it names) is a flag.

  absl reads each non-comment line as one command-line argument: a line without dashes
  (`batch_size 16`) would become a positional argument and an unknown name a bare "Unknown
  command line flag" without the file. Comments are lines starting with `#` or `//`.

  Args:
    path: the flagfile.
    known: the names of the defined flags.
    seen: flagfiles already being checked (a flagfile naming itself is absl's to report).

  Raises:
    FlagfileError: the file cannot be read, or a line is not `--name[=value]` of a known flag.
  """
  if path in seen:
    return
  try:
    with open(path, encoding="utf-8") as f:
      lines = f.read().splitlines()
  except (OSError, UnicodeDecodeError) as e:
    reason = getattr(e, "strerror", None) or type(e).__name__
    raise FlagfileError(f"--flagfile={path}: cannot read it ({reason})") from None
  for number, line in enumerate(lines, 1):
    text = line.strip()
    if not text or text.startswith(("#", "//")):
      continue
    where = f"flagfile {path}, line {number}"
    if not text.startswith("-"):
      raise FlagfileError(f"{where}: {text!r} is not a flag; write --name=value")
    name, _, value = text.lstrip("-").partition("=")
    if name == "flagfile":
      check_flagfile(value, known, (*seen, path))
      continue
    negated = name.startswith("no") and name[2:] in known
    if name not in known and not negated:
      raise FlagfileError(f"{where}: unknown flag --{name}; see --help")


def parse_flags(argv):
  """Parses argv into absl's FLAGS (bare flagfile names resolved); usage errors exit 2.

  Returns:
    [program name]: positional arguments are refused.
  """
  argv = resolve_flagfiles(argv)
  try:
    for path in _flagfile_args(argv[1:]):
      check_flagfile(path, set(flags.FLAGS))
    rest = flags.FLAGS(argv)
  except (flags.Error, FlagfileError) as e:
    usage_error(str(e))
  if len(rest) > 1:
    usage_error(f"unexpected arguments: {' '.join(rest[1:])} (every argument is --name=value)")
  return rest


def error_exit(error: Exception):
  """Prints `error: <error>` (one line) and exits with `USAGE_EXIT`: a value or a run refused."""
  print(f"error: {error}", file=sys.stderr)
  sys.exit(USAGE_EXIT)


def usage_error(message: str):
  """Prints `FATAL Flags parsing error: message` (one line) and exits with `USAGE_EXIT`."""
  message = " ".join(message.split())
  print(f"FATAL Flags parsing error: {message}", file=sys.stderr)
  sys.exit(USAGE_EXIT)


def run(main, doc, groups):
  """Runs `main` under absl after handling --help and flagfile names (the console scripts)."""

  def parse(argv):
    if any(arg in HELP_ARGS for arg in argv[1:]):
      try:
        print(usage(doc, groups), flush=True)
      except BrokenPipeError:  # the reader stopped early (`--help | head`): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
      sys.exit(0)
    return parse_flags(argv)

  logging.set_verbosity(logging.ERROR)  # Library warnings (e.g. tfds') are not the user's.
  app.run(main, flags_parser=parse)
