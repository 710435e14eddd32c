"""Every trainer flag, defined once. One flag per `inv_tf.config.Config` field, same name, with
the help text of the field's metadata (`inv_tf.config_flags` defines them on absl's `FLAGS`).

Flags are never mutated: `config_from_flags()` reads them into a frozen `Config`, and the library
only ever sees that.

A renamed field's old name (`config_lib.RENAMED_FIELDS`) is a hidden flag too, and `--stage` takes
its old values that named a model (`config_lib.LEGACY_STAGES`): given on the command line or in a
flagfile, each sets the new field and prints one deprecation warning to stderr.
"""


from absl import flags

from inv_tf import config as config_lib
from inv_tf import config_flags

HELP = config_flags.HELP

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


_DEFINED = config_flags.define(flags.FLAGS)
_FLAGS = _DEFINED.fields


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
  return config_flags.read(_DEFINED, warn=config_flags.print_warning)
