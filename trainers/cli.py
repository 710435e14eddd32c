"""What the three trainers share on the command line: `--help`, flagfiles by name, the launch.

absl's own `--help` lists only the main module's key flags, alphabetically, and points to
`--helpfull` (hundreds of TensorFlow flags). Each trainer instead passes its docstring and its
flags in groups; `--help` (also -h, -?, --helpshort) prints those, with every flag's help text and
default, and exits 0. `--helpfull` is absl's, unchanged.

`--flagfile=NAME` with a bare NAME that is not an existing file (e.g. `--flagfile=quickstart`)
reads the packaged flags/NAME.cfg (`inv_tf.flagfile_path`), so an installed wheel runs the
shipped configurations from any directory; a path is passed to absl untouched.
"""

import os
import sys
import textwrap

from absl import app
from absl import flags
from absl import logging

import inv_tf

HELP_ARGS = ("-h", "-?", "--help", "-help", "--helpshort", "-helpshort")


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


def run(main, doc, groups):
  """Runs `main` under absl after handling --help and flagfile names (the console scripts)."""

  def parse(argv):
    if any(arg in HELP_ARGS for arg in argv[1:]):
      print(usage(doc, groups))
      sys.exit(0)
    return app.parse_flags_with_usage(resolve_flagfiles(argv))

  logging.set_verbosity(logging.ERROR)  # Library warnings (e.g. tfds') are not the user's.
  app.run(main, flags_parser=parse)
