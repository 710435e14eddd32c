"""The `Config`'s absl flags: defined once from the fields' metadata, read back into a `Config`.

`define(flag_values)` defines one flag per `Config` field (same name, the field's help text) and a
hidden flag per deprecated name (`config.RENAMED_FIELDS`); `read(flags)` turns the parsed flags
into a validated `Config`, mapping deprecated names to current ones. The trainers define them on
absl's global `FLAGS` (`trainers/flags.py`); `from_flagfile` defines them on a private
`FlagValues` to read a flagfile's text, so a flagfile read in Python (a shipped recipe, or the
flags.cfg of a run made before config.json existed) is parsed by the same absl parsers as the
command line. The library never reads the global flags.
"""

import dataclasses
import sys

from absl import flags as absl_flags

from inv_tf import config as config_lib
from inv_tf.config import ConfigError

# Help texts live with the fields (`Config`'s field metadata).
HELP = {name: field.metadata["help"] for name, field in config_lib.FIELDS.items()}
_LISTS = {name for name, field in config_lib.FIELDS.items()
          if isinstance(field.metadata["domain"], config_lib.Sequence)}


@dataclasses.dataclass(frozen=True)
class ConfigFlags:
  """The flag holders `define` made: `fields` ({field: FlagHolder}) and `deprecated` ({old name:
  FlagHolder}, default None, not in --help)."""
  fields: dict
  deprecated: dict


def define(flag_values: absl_flags.FlagValues) -> ConfigFlags:
  """Defines every Config flag (and the hidden deprecated names) on `flag_values`."""
  defaults = config_lib.Config()
  fields = {}
  for name in config_lib.FIELDS:
    default, help_text = getattr(defaults, name), HELP[name]
    if name in _LISTS:
      define_flag = absl_flags.DEFINE_list
      default = [str(v) for v in default]
    elif isinstance(default, bool):
      define_flag = absl_flags.DEFINE_bool
    elif isinstance(default, int):
      define_flag = absl_flags.DEFINE_integer
    elif isinstance(default, float):
      define_flag = absl_flags.DEFINE_float
    else:
      define_flag = absl_flags.DEFINE_string
    fields[name] = define_flag(name, default, help_text, flag_values=flag_values)
  deprecated = {}
  for old, new in config_lib.RENAMED_FIELDS.items():
    kind = type(getattr(defaults, new))
    define_flag = {float: absl_flags.DEFINE_float, int: absl_flags.DEFINE_integer}.get(
        kind, absl_flags.DEFINE_string)
    deprecated[old] = define_flag(old, None, f"Deprecated: use --{new}.",
                                  flag_values=flag_values)
  return ConfigFlags(fields, deprecated)


def read(defined: ConfigFlags, warn=None, validate: bool = True) -> config_lib.Config:
  """The frozen `Config` the parsed flags describe, validated unless `validate` is False.

  Args:
    defined: what `define` returned, on a parsed `FlagValues`.
    warn: called with each deprecation line (`--old is deprecated; use --new`), or None to drop
      them (a run file read back).
    validate: check the config (`Config.validate`) before returning it.

  Raises:
    ConfigError: a value is invalid, or a deprecated flag is given with the one replacing it (one
      line naming the flag).
  """
  values = {}
  for name, holder in defined.fields.items():
    value = holder.value
    if name in _LISTS:
      cast = int if name in config_lib.INT_LIST_FIELDS else float
      try:
        value = tuple(cast(v) for v in value if str(v).strip())
      except ValueError:
        raise ConfigError(f"--{name}: expected a comma-separated list of numbers, got "
                          f"{','.join(value)}") from None
    values[name] = value
  given = {name: values[name] for name, holder in defined.fields.items() if holder.present}
  given.update({old: holder.value for old, holder in defined.deprecated.items()
                if holder.present})
  upgraded, warnings = config_lib.upgrade_names(given)
  for warning in warnings if warn is not None else ():
    warn(warning)
  values.update(upgraded)
  config = config_lib.from_dict(values)
  return config.validate() if validate else config


def from_flagfile(text: str) -> config_lib.Config:
  """The `Config` a flagfile's text describes (lines `--name=value`; blank and '#' lines ignored),
  not validated (a recipe may be completed by `replace` first).

  `Config.to_flagfile` writes such text; the shipped recipes (flags/*.cfg) are such text. Old
  names (`config.upgrade_names`, a run made before a rename) are read silently as the new ones.

  Raises:
    ConfigError: a line that is not `--name=value`, an unknown flag, or a bad value (one line).
  """
  argv = ["flagfile"]
  for line in text.splitlines():
    line = line.strip()
    if not line or line.startswith("#"):
      continue
    if not line.startswith("--") or "=" not in line:
      raise ConfigError(f"flagfile: cannot parse line {line!r}")
    argv.append(line)
  flag_values = absl_flags.FlagValues()
  defined = define(flag_values)
  try:
    flag_values(argv, known_only=False)
  except absl_flags.UnrecognizedFlagError as e:
    raise ConfigError(f"flagfile: unknown flag --{e.flagname}") from None
  except absl_flags.IllegalFlagValueError as e:
    raise ConfigError(f"flagfile: {str(e).splitlines()[0]}") from None
  return read(defined, validate=False)


def print_warning(line: str) -> None:
  """`read`'s `warn` for the command line: `warning: …` on stderr."""
  print(f"warning: {line}", file=sys.stderr)
