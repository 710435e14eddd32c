"""Every trainer flag, defined once. One flag per `inv_tf.config.Config` field, same name, with
the help text of the field's metadata.

Flags are never mutated: `config_from_flags()` reads them into a frozen `Config`, and the library
only ever sees that.

A renamed field's old name (`config_lib.RENAMED_FIELDS`) is a hidden flag too, and `--stage` takes
its old values that named a model (`config_lib.LEGACY_STAGES`): given on the command line or in a
flagfile, each sets the new field and prints one deprecation warning to stderr.
"""

import sys

from absl import flags

from inv_tf import config as config_lib

# Help texts and domains live with the fields (`Config`'s field metadata).
HELP = {name: field.metadata["help"] for name, field in config_lib.FIELDS.items()}
_LISTS = {name for name, field in config_lib.FIELDS.items()
          if isinstance(field.metadata["domain"], config_lib.Sequence)}
_INT_LISTS = set(config_lib.INT_LIST_FIELDS)

MODEL_DIR = flags.DEFINE_string("model_dir", None, "Where the run writes checkpoints, logs, "
                                "the effective flags and the export. Re-running resumes.")

# `--help` groups: (title, first Config field of the group), in Config's field order (its section
# comments); each group runs up to the next one's first field.
GROUP_STARTS = (
    ("What to run", "model"),
    ("Data", "dataset"),
    ("Transformations", "family"),
    ("Stage 1: q(η|x), the inference network", "inference_steps"),
    ("Stage 2: p(η|x̂), the generative network", "generative_steps"),
    ("VAE family (--model=vae, augvae, invvae or vae_standard_aug)", "sgm_dir"),
    ("Logging, validation, checkpoints, export", "log_every"),
    ("Devices and numerics", "distribution_strategy"),
)


def _define_all():
  defaults = config_lib.Config()
  defined = {}
  for name in config_lib.FIELDS:
    default = getattr(defaults, name)
    help_text = HELP[name]
    if name in _LISTS:
      defined[name] = flags.DEFINE_list(name, [str(v) for v in default], help_text)
    elif isinstance(default, bool):
      defined[name] = flags.DEFINE_bool(name, default, help_text)
    elif isinstance(default, int):
      defined[name] = flags.DEFINE_integer(name, default, help_text)
    elif isinstance(default, float):
      defined[name] = flags.DEFINE_float(name, default, help_text)
    else:
      defined[name] = flags.DEFINE_string(name, default, help_text)
  return defined


_FLAGS = _define_all()


def _define_deprecated():
  """The old names of renamed fields: flags of the new field's type, default None, not in --help."""
  defined = {}
  for old, new in config_lib.RENAMED_FIELDS.items():
    default = getattr(config_lib.Config(), new)
    define = {float: flags.DEFINE_float, int: flags.DEFINE_integer}.get(type(default),
                                                                       flags.DEFINE_string)
    defined[old] = define(old, None, f"Deprecated: use --{new}.")
  return defined


_DEPRECATED = _define_deprecated()


def help_groups():
  """[(title, [FlagHolder, …]), …]: every Config flag once, --model_dir first, for `--help`."""
  names = list(_FLAGS)
  starts = [names.index(first) for _, first in GROUP_STARTS] + [len(names)]
  groups = [(title, [_FLAGS[n] for n in names[begin:end]])
            for (title, _), begin, end in zip(GROUP_STARTS, starts, starts[1:])]
  groups[0][1].insert(0, MODEL_DIR)
  return groups


def config_from_flags() -> config_lib.Config:
  """The frozen, validated `Config` the flags describe.

  A deprecated name (`config_lib.upgrade_names`) sets its new field and prints one line
  `warning: --old is deprecated; use --new` to stderr.

  Raises:
    ConfigError: a value is invalid, or a deprecated flag is given with the one replacing it (one
      line naming the flag).
  """
  values = {}
  for name, holder in _FLAGS.items():
    value = holder.value
    if name in _LISTS:
      cast = int if name in _INT_LISTS else float
      try:
        value = tuple(cast(v) for v in value if str(v).strip())
      except ValueError:
        raise config_lib.ConfigError(
            f"--{name}: expected a comma-separated list of numbers, got {','.join(value)}") from None
    values[name] = value
  given = {name: values[name] for name, holder in _FLAGS.items() if holder.present}
  given.update({old: holder.value for old, holder in _DEPRECATED.items() if holder.present})
  upgraded, warnings = config_lib.upgrade_names(given)
  for warning in warnings:
    print(f"warning: {warning}", file=sys.stderr)
  values.update(upgraded)
  return config_lib.from_dict(values).validate()
