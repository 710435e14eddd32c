"""Reading a finished (or interrupted) run back: the SGM of a model directory.

Checkpoints hold each network's variables as an explicit list (see `model_trackables`); the order
is fixed by the architecture, which the run's `run.json` pins.
"""

import json
import os

import tensorflow as tf

from inv_tf import config as config_lib
from inv_tf.config import ConfigError
from inv_tf.models.sgm import SGM


def model_trackables(model: SGM) -> dict:
  """The model's variables as checkpoint children.

  Keras 3 layers are not fully visible to `tf.train.Checkpoint` (sub-layers held in Python lists
  are not tracked), so checkpoints hold the variable lists explicitly; their order is fixed by the
  architecture, which `run.json` pins.
  """
  return {"inference_variables": list(model.inference.variables),
          "generative_variables": list(model.generative.variables)}


# What a damaged or mismatched checkpoint raises when restored.
RESTORE_ERRORS = (tf.errors.OpError, ValueError, AssertionError, IndexError)


# Restore errors that say the checkpoint holds other variables than the model (a dtype or shape
# differs, or model variables find no value in it), as opposed to damaged files.
_MISMATCH_TEXTS = ("expected dtype", "incompatible tensor with shape",
                   "not bound to checkpointed values")


def _intact(path: str) -> bool:
  """Whether every tensor of the checkpoint at `path` reads back (index and data undamaged)."""
  try:
    reader = tf.train.load_checkpoint(path)
    for name in reader.get_variable_to_shape_map():
      reader.get_tensor(name)
  except Exception:  # pylint: disable=broad-except  (any failure here means damage)
    return False
  return True


def unreadable(flag: str, path: str, error: Exception, hint: str = "") -> ConfigError:
  """The one-line ConfigError for a checkpoint at `path` that failed to restore with `error`.

  An intact checkpoint whose variables do not match the model's (written with flags that build
  other variables) gets a message saying so, without `hint` (which tells how to get past a
  damaged checkpoint, and would lose a good one here).
  """
  reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
  if any(t in str(error) for t in _MISMATCH_TEXTS) and _intact(path):
    return ConfigError(
        f"--{flag}: the checkpoint {path} holds other variables than the model these flags "
        f"build ({reason}); it was written with different flags: use the run's own flags.cfg, "
        "or another --model_dir")
  return ConfigError(f"--{flag}: the checkpoint {path} cannot be read ({reason}){hint}")


def read_run(workdir: str, flag: str = "model_dir"):
  """(Config, image_shape) of the run in `workdir` (its flags.cfg and run.json).

  Raises:
    ConfigError: `workdir` holds no run; the message names `--{flag}`.
  """
  flag_path, run_path = os.path.join(workdir, "flags.cfg"), os.path.join(workdir, "run.json")
  if not (os.path.exists(flag_path) and os.path.exists(run_path)):
    raise ConfigError(f"--{flag}: {workdir!r} holds no training run (no flags.cfg / run.json)")
  with open(flag_path, encoding="utf-8") as f:
    config = config_lib.from_flagfile(f.read())
  with open(run_path, encoding="utf-8") as f:
    image_shape = tuple(json.load(f)["image_shape"])
  return config, image_shape


def restore_model(workdir: str, checkpoint: str | None = None, flag: str = "model_dir") -> SGM:
  """The trained SGM of a finished (or interrupted) run in `workdir`.

  Args:
    workdir: the run's model directory, or its `export/` subdirectory.
    checkpoint: a checkpoint path (e.g. `workdir/checkpoints/ckpt-3000`); default the latest.
    flag: the flag named in error messages.

  Raises:
    ConfigError: `workdir` holds no SGM run (flags.cfg / run.json), a VAE run, or no checkpoint.
  """
  workdir = config_lib.run_dir(workdir)
  config, image_shape = read_run(workdir, flag)
  if config.stage in config_lib.VAE_STAGES:
    raise ConfigError(f"--{flag}: {workdir!r} holds a --stage={config.stage} run, not an SGM")
  model = SGM(config, image_shape)
  restore_variables(model_trackables(model), workdir, checkpoint, flag)
  return model


def restore_variables(trackables: dict, workdir: str, checkpoint: str | None = None,
                      flag: str = "model_dir") -> str:
  """Restores `trackables` (checkpoint children) from a run's checkpoint; returns its path.

  Args:
    trackables: {name: variable list} as the run's checkpoints hold them.
    workdir: the run's model directory; checkpoint: a path (default the latest).

  Raises:
    ConfigError: no checkpoint, or it cannot be read (one line naming `--{flag}`).
  """
  latest = checkpoint or tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints"))
  if latest is None:
    raise ConfigError(f"--{flag}: {workdir!r} has no checkpoint to restore")
  try:
    tf.train.Checkpoint(**trackables).restore(latest).expect_partial(
    ).assert_existing_objects_matched()
  except RESTORE_ERRORS as e:
    raise unreadable(flag, latest, e) from None
  return latest


# The step counters of the runs' checkpoints: the SGM's two stages and the VAE family's one.
STEP_COUNTERS = ("inference_step", "generative_step", "vae_step")


def trained_steps(path: str) -> dict:
  """{counter: int} of the step counters (`STEP_COUNTERS`) the checkpoint at `path` holds.

  Read from the checkpoint's files, without building the model.
  """
  reader = tf.train.load_checkpoint(path)
  return {name: int(reader.get_tensor(f"{name}/.ATTRIBUTES/VARIABLE_VALUE"))
          for name in STEP_COUNTERS if reader.has_tensor(f"{name}/.ATTRIBUTES/VARIABLE_VALUE")}

