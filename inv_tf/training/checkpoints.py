"""Checkpoints: writing, restoring, cleaning them, and reading a run's model back.

What a checkpoint holds is a dict of trackables, `{name: variable list | variable | optimizer}`,
which each task's state lists (`inv_tf.training.task.Task.trackables`). Keras 3 layers are not
fully visible to `tf.train.Checkpoint` (sub-layers held in Python lists are not tracked), so
networks are checkpointed as explicit variable lists (`model_trackables`); their order is fixed by
the architecture, which the run's run.json pins.

A run's checkpoints live in `MODEL_DIR/checkpoints` (`rundir.checkpoint_dir`), written by a
`tf.train.CheckpointManager` as `ckpt-N` with N the number of train steps taken over all stages.
`open_checkpoints` gives a task its manager (a private temporary directory on a non-chief worker),
`restore_latest` resumes from the newest, `save_checkpoint` writes one without leaving a partial
one behind, and `BestCheckpoint` keeps a stage's best weights by a validation score (`best/`). A
checkpoint that fails to restore is classified by its contents: damaged (a tensor or the index
does not read back) or written for another model (a variable's name, shape or dtype differs from
the model's), each with its own one-line `ConfigError`.
"""

import contextlib
import os
import shutil
import tempfile

import tensorflow as tf

from inv_tf import config as config_lib
from inv_tf.config import ConfigError
from inv_tf.models.sgm import SGM
from inv_tf.training import rundir

# What a damaged or mismatched checkpoint raises when restored.
RESTORE_ERRORS = (tf.errors.OpError, ValueError, AssertionError, IndexError)

# The key suffix of a variable's value in a checkpoint written by `tf.train.Checkpoint`.
_VALUE = ".ATTRIBUTES/VARIABLE_VALUE"


def model_trackables(model: SGM) -> dict:
  """The SGM's variables as checkpoint children: `{"inference_variables": [...],
  "generative_variables": [...]}` (see the module docstring for why lists)."""
  return {"inference_variables": list(model.inference.variables),
          "generative_variables": list(model.generative.variables)}


# ---------------------------------------------------------------------------------------------
# The checkpoint directory of a run.


def latest(workdir: str) -> str | None:
  """The path of `workdir`'s latest checkpoint (e.g. `D/checkpoints/ckpt-500`), or None."""
  return tf.train.latest_checkpoint(rundir.checkpoint_dir(workdir))


def check_checkpoint_dir(workdir: str) -> None:
  """Refuses a checkpoint directory whose state file is lost while checkpoints remain.

  Without the `checkpoint` state file, `tf.train.CheckpointManager` sees no checkpoint and the run
  would start again from step 0 over the existing ones; refusing keeps them.

  Raises:
    ConfigError: checkpoint files exist but the state file is missing or unreadable.
  """
  directory = rundir.checkpoint_dir(workdir)
  if not tf.io.gfile.glob(os.path.join(directory, "ckpt-*.index")):
    return
  try:
    state = tf.train.get_checkpoint_state(directory)
  except Exception:  # pylint: disable=broad-except  (a garbage text proto raises a parse error)
    state = None
  if state is None or not state.model_checkpoint_path:
    raise ConfigError(f"--model_dir: {directory} holds checkpoints but its 'checkpoint' state "
                      "file is missing or unreadable; restore it (it names the latest ckpt-N) "
                      "or use another --model_dir")


def remove_partial_checkpoints(directory: str) -> list:
  """Deletes what a kill during `CheckpointManager.save` leaves: `ckpt-N_temp*` directories.

  They are never read as checkpoints (the `checkpoint` state file names only complete ones).
  Call it only while holding the model dir's lock: a live run's save writes the same names.

  Args:
    directory: a checkpoint directory (its `best/` sub-directory is cleaned too).

  Returns:
    The paths removed.
  """
  partial = []
  for where in (directory, os.path.join(directory, "best")):
    partial += tf.io.gfile.glob(os.path.join(where, "ckpt-*_temp*"))
  _remove_paths(partial)
  return partial


def _remove_paths(paths) -> None:
  for path in paths:
    if os.path.isdir(path):
      shutil.rmtree(path, ignore_errors=True)
    elif os.path.exists(path):
      os.remove(path)


@contextlib.contextmanager
def open_checkpoints(trackables: dict, workdir: str, max_to_keep: int, chief: bool = True):
  """A `tf.train.CheckpointManager` of `trackables` for the block.

  The chief saves to `workdir/checkpoints`; another worker of a multi-worker run must take part in
  every save but writes nothing to the model dir, so its manager saves to a private temporary
  directory, deleted when the block ends.

  Yields:
    The manager (`manager.directory` is where this task saves).
  """
  directory = rundir.checkpoint_dir(workdir) if chief else tempfile.mkdtemp(
      prefix="inv_tf_worker_ckpt_")
  try:
    yield tf.train.CheckpointManager(tf.train.Checkpoint(**trackables), directory,
                                     max_to_keep=max_to_keep)
  finally:
    if not chief:
      shutil.rmtree(directory, ignore_errors=True)


def save_checkpoint(manager: tf.train.CheckpointManager, number: int) -> None:
  """`manager.save` as checkpoint `number`; a failed write leaves no partial checkpoint behind.

  Raises:
    RunError: the checkpoint could not be written (the message names it and the OS's reason);
      the earlier checkpoints and the `checkpoint` state file are untouched.
  """
  path = os.path.join(manager.directory, f"ckpt-{number}")
  try:
    with rundir.writing("checkpoint", path):
      manager.save(checkpoint_number=number)
  except rundir.RunError:
    _remove_paths(tf.io.gfile.glob(f"{path}_temp*") + tf.io.gfile.glob(f"{path}.*"))
    raise


class BestCheckpoint:
  """The best-so-far weights of a stage by a validation score, kept in their own directory.

  One checkpoint (`max_to_keep=1`) holding `trackables` plus the step it was taken at and its
  score, so a resumed run knows what it has to beat. Writes go through `save_checkpoint` (a failed
  write leaves no partial checkpoint); a non-chief worker tracks the best but writes nothing.

  Attributes:
    step: int64 scalar variable, the best checkpoint's step (-1: none yet).
    value: float64 scalar variable, its score (-inf: none yet).
  """

  def __init__(self, trackables: dict, directory: str, chief: bool = True):
    """Args: `trackables` what the checkpoint holds (e.g. `{"vae_variables": [...]}`);
    `directory` where it lives (e.g. `MODEL_DIR/checkpoints/best`); `chief` False: never write.
    An existing best checkpoint's step and score are read back."""
    self.chief = chief
    self.step = tf.Variable(-1, dtype=tf.int64, trainable=False, name="best_step")
    self.value = tf.Variable(-float("inf"), dtype=tf.float64, trainable=False, name="best_value")
    self.manager = tf.train.CheckpointManager(
        tf.train.Checkpoint(best_step=self.step, best_value=self.value, **trackables), directory,
        max_to_keep=1)
    if self.manager.latest_checkpoint:
      tf.train.Checkpoint(best_step=self.step, best_value=self.value).read(
          self.manager.latest_checkpoint).expect_partial()

  @property
  def path(self) -> str | None:
    """The best checkpoint's path, or None before the first `save`."""
    return self.manager.latest_checkpoint

  def save(self, step: int, value: float) -> None:
    """Makes the current weights the best, taken at `step` with score `value` (finite float).

    Raises:
      RunError: the checkpoint could not be written (the previous best is kept).
    """
    self.step.assign(step)
    self.value.assign(value)
    if self.chief:
      save_checkpoint(self.manager, step)

  def restore_into(self, trackables: dict) -> int:
    """Loads the best weights into `trackables` (the structure given at construction).

    Returns:
      The best step, or -1 (and nothing loaded) when no best checkpoint exists.
    """
    if not self.manager.latest_checkpoint:
      return -1
    tf.train.Checkpoint(**trackables).read(self.manager.latest_checkpoint).expect_partial()
    return int(self.step.numpy())


def restore_latest(trackables: dict, workdir: str) -> str | None:
  """Restores `workdir`'s latest checkpoint into `trackables` (every one must find its values).

  The run's `CheckpointManager` cannot do this itself (`restore_or_initialize`): a non-chief
  worker's manager saves to a private directory, yet every worker resumes from the chief's.
  The restore goes through its own `tf.train.Checkpoint`, so the manager's save counter is not
  restored (checkpoints are numbered by the step, not by that counter).

  Returns:
    The restored checkpoint's path (e.g. `D/checkpoints/ckpt-500`), or None if there is none.

  Raises:
    ConfigError: the latest checkpoint is damaged, or holds other variables than `trackables`
      (one line naming it; see `restore_error`).
  """
  path = latest(workdir)
  if not path:
    return None
  try:
    tf.train.Checkpoint(**trackables).restore(path).assert_existing_objects_matched()
  except RESTORE_ERRORS as e:
    raise restore_error(
        "model_dir", path, trackables, e, "; delete its files and name an earlier ckpt-N in the "
        "'checkpoint' state file, or use another --model_dir") from None
  return path


# ---------------------------------------------------------------------------------------------
# What a failed restore means, from the checkpoint's contents.


def expected_values(trackables: dict) -> dict:
  """{checkpoint key: (shape list, dtype name)} of the variables `trackables` restore.

  Covers the children that are a variable or a list of variables (the networks and the step
  counters), the parts whose shapes the flags fix; optimiser slots follow the networks.
  """
  expected = {}

  def add(key, variable):
    expected[f"{key}/{_VALUE}"] = (list(variable.shape), tf.as_dtype(variable.dtype).name)

  for name, value in trackables.items():
    if isinstance(value, (list, tuple)):
      for i, variable in enumerate(value):
        if hasattr(variable, "shape") and hasattr(variable, "dtype"):
          add(f"{name}/{i}", variable)
    elif isinstance(value, tf.Variable):
      add(name, value)
  return expected


def differences(path: str, trackables: dict, limit: int = 1) -> list:
  """Up to `limit` lines on how the checkpoint at `path` differs from what `trackables` expect.

  Each names a variable as its checkpoint key without the `/.ATTRIBUTES/VARIABLE_VALUE` suffix,
  e.g. "generative_variables/3 has shape [8, 5] in the model, [8, 4] in the checkpoint". Empty:
  every expected variable is there with its shape and dtype. Reads only the checkpoint's index.
  """
  reader = tf.train.load_checkpoint(path)
  shapes, dtypes = reader.get_variable_to_shape_map(), reader.get_variable_to_dtype_map()
  found = []
  for key, (shape, dtype) in expected_values(trackables).items():
    name = key[:-len(_VALUE) - 1]
    if key not in shapes:
      found.append(f"{name} is not in the checkpoint")
    elif list(shapes[key]) != shape:
      found.append(f"{name} has shape {shape} in the model, {list(shapes[key])} in the "
                   "checkpoint")
    elif dtypes[key].name != dtype:
      found.append(f"{name} has dtype {dtype} in the model, {dtypes[key].name} in the checkpoint")
    if len(found) >= limit:
      break
  return found


def intact(path: str) -> bool:
  """Whether every tensor of the checkpoint at `path` reads back (index and data undamaged)."""
  try:
    reader = tf.train.load_checkpoint(path)
    for name in reader.get_variable_to_shape_map():
      reader.get_tensor(name)
  except Exception:  # pylint: disable=broad-except  (any failure here means damage)
    return False
  return True


def restore_error(flag: str, path: str, trackables: dict, error: Exception,
                  hint: str = "") -> ConfigError:
  """The one-line ConfigError for the checkpoint at `path` that failed to restore `trackables`.

  A checkpoint whose tensors all read back but whose variables differ from the model's (it was
  written with flags that build other variables) is named a mismatch, with the first difference,
  and without `hint` (which tells how to get past a damaged checkpoint, and would lose a good one
  here). Any other is named unreadable, with the first line of `error` and then `hint`.
  """
  if intact(path):
    found = differences(path, trackables)
    reason = found[0] if found else _first_line(error)
    return ConfigError(
        f"--{flag}: the checkpoint {path} holds other variables than the model these flags "
        f"build ({reason}); it was written with different flags: use the run's own flags.cfg, "
        "or another --model_dir")
  return ConfigError(f"--{flag}: the checkpoint {path} cannot be read ({_first_line(error)}){hint}")


def _first_line(error: Exception) -> str:
  text = str(error).strip()
  return text.splitlines()[0][:200] if text else type(error).__name__


# ---------------------------------------------------------------------------------------------
# Reading a finished (or interrupted) run back.


def restore_variables(trackables: dict, workdir: str, checkpoint: str | None = None,
                      flag: str = "model_dir") -> str:
  """Restores `trackables` (a part of what the run's checkpoints hold); returns the path.

  Args:
    trackables: {name: variable list} as the run's checkpoints hold them.
    workdir: the run's model directory; checkpoint: a path (default the latest).
    flag: the flag named in error messages.

  Raises:
    ConfigError: no checkpoint, or it cannot be restored (one line naming `--{flag}`).
  """
  path = checkpoint or latest(workdir)
  if path is None:
    raise ConfigError(f"--{flag}: {workdir!r} has no checkpoint to restore")
  try:
    tf.train.Checkpoint(**trackables).restore(path).expect_partial(
    ).assert_existing_objects_matched()
  except RESTORE_ERRORS as e:
    raise restore_error(flag, path, trackables, e) from None
  return path


def restore_model(workdir: str, checkpoint: str | None = None, flag: str = "model_dir") -> SGM:
  """The trained SGM of a finished (or interrupted) run in `workdir`.

  Args:
    workdir: the run's model directory, or its `export/` subdirectory.
    checkpoint: a checkpoint path (e.g. `workdir/checkpoints/ckpt-3000`); default the latest.
    flag: the flag named in error messages.

  Raises:
    ConfigError: `workdir` holds no SGM run (config.json or flags.cfg / run.json), a VAE run, or
      no checkpoint.
  """
  workdir = config_lib.run_dir(workdir)
  config, image_shape = rundir.read_sgm_run(workdir, flag)
  model = SGM(config, image_shape)
  restore_variables(model_trackables(model), workdir, checkpoint, flag)
  return model


def trained_steps(path: str, counters) -> dict:
  """{counter: int} of the step counters the checkpoint at `path` holds.

  Read from the checkpoint's files, without building the model.

  Args:
    path: a checkpoint path (e.g. MODEL_DIR/checkpoints/ckpt-3000).
    counters: the names of step counters (`inv_tf.training.task.PlannedStage.counter`); those
      the checkpoint does not hold are left out.
  """
  reader = tf.train.load_checkpoint(path)
  return {name: int(reader.get_tensor(f"{name}/{_VALUE}"))
          for name in counters if reader.has_tensor(f"{name}/{_VALUE}")}
