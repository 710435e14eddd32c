"""The model directory a run writes: its lock, its run files, atomic writes, failed writes.

    .lock         held (flock) while a run writes to the directory (`workdir_lock`)
    run.json      architecture and image shape; a later run with another is refused
                  (`check_run`, `prepare_workdir`)
    flags.cfg     the effective flags: `--flagfile=flags.cfg` reproduces or resumes the run
    config.json   the same `Config` as data (`Config.to_json`); `read_run` reads it back
    checkpoints/  the run's checkpoints (`inv_tf.training.checkpoints` writes and reads them)

A failed write (disk full, permissions) becomes the one-line `RunError` of `writing`.

This module imports neither TensorFlow nor NumPy: the trainer reads and checks a model directory
with it before importing TensorFlow (`inv_tf.training.preflight`).
"""

import contextlib
import datetime
import errno
import fcntl
import glob
import json
import os
import re
import socket
import sys

from inv_tf import config as config_lib
from inv_tf import config_flags
from inv_tf.config import Config, ConfigError

# The run files of a model directory (see the module docstring).
RUN_FILE = "run.json"
FLAGS_FILE = "flags.cfg"
CONFIG_FILE = "config.json"
# The checkpoint directory of a model directory, and the state file in it that names the latest
# checkpoint (written by `tf.train.CheckpointManager`).
CHECKPOINTS = "checkpoints"
CHECKPOINT_STATE = "checkpoint"


class RunError(RuntimeError):
  """The run cannot go on (e.g. a non-finite loss); the message is one line."""


def write_errors() -> tuple:
  """The exception types of a failed write: OSError (Python's own writes) and TensorFlow's
  OpError (checkpoints, SavedModels). TensorFlow can raise only once it is imported, so its type
  is looked up in `sys.modules` instead of importing TensorFlow here."""
  tf = sys.modules.get("tensorflow")
  return (OSError,) if tf is None else (OSError, tf.errors.OpError)


def write_error_reason(error: Exception) -> str:
  """The OS's words for a failed write, e.g. 'No space left on device' or 'File too large'."""
  if isinstance(error, OSError):
    return error.strerror or str(error)
  text = (getattr(error, "message", "") or str(error)).strip()
  first = text.splitlines()[0] if text else type(error).__name__
  first = re.sub(r"\s*\[Op:\w+\]$", "", first)  # "…; File too large [Op:SaveV2]"
  return first.rsplit("; ", 1)[-1].strip() or first


@contextlib.contextmanager
def writing(what: str, path: str):
  """Turns a failed write inside the block (disk full, permissions) into a one-line RunError."""
  try:
    yield
  except write_errors() as e:  # evaluated when an exception arrives, after any TensorFlow import
    raise RunError(f"cannot write {what} {path} ({write_error_reason(e)}); free disk space or "
                   "fix the permissions, then re-run: it resumes from the last complete "
                   "checkpoint") from None


# ---------------------------------------------------------------------------------------------
# Work directory.


def write_atomic(path: str, text: str):
  """Writes `text` to `path` through a temporary file, so a reader sees the old or the new text."""
  tmp = f"{path}.tmp"
  with open(tmp, "w", encoding="utf-8") as f:
    f.write(text)
  os.replace(tmp, path)


def _cannot_write(workdir: str, reason: str) -> ConfigError:
  return ConfigError(f"--model_dir: cannot write to {workdir!r} ({reason})")


def check_writable(workdir: str) -> None:
  """Refuses a `workdir` that cannot be created or written, without writing anything.

  Judged from the path as it is: `workdir`, or a directory above it, is a file; or the nearest
  existing directory is not writable and searchable by this process (`os.access`, which lets
  root pass, as root's writes do). What only a write shows (a read-only filesystem, a full disk)
  is left to `make_workdir`.

  Raises:
    ConfigError: as `make_workdir`'s, with the OS's words for the reason.
  """
  target = os.path.abspath(workdir)
  path = target
  while not os.path.exists(path) and os.path.dirname(path) != path:
    path = os.path.dirname(path)
  if not os.path.isdir(path):
    raise _cannot_write(workdir, os.strerror(errno.EEXIST if path == target else errno.ENOTDIR))
  if not os.access(path, os.W_OK | os.X_OK):
    raise _cannot_write(workdir, os.strerror(errno.EACCES))


def make_workdir(workdir: str) -> None:
  """Creates `workdir` and checks that a file can be written in it.

  Raises:
    ConfigError: `workdir` cannot be created or written (names the OS's reason).
  """
  try:
    os.makedirs(workdir, exist_ok=True)
    probe = os.path.join(workdir, ".write_test")
    with open(probe, "w") as f:
      f.write("ok")
    os.remove(probe)
  except OSError as e:
    raise _cannot_write(workdir, e.strerror) from None


# The lock file of a model directory (see `workdir_lock`).
LOCK_FILE = ".lock"


@contextlib.contextmanager
def workdir_lock(workdir: str, chief: bool = True):
  """Holds an exclusive lock on `workdir` for the block: one run writes to a model dir at a time.

  The lock is `flock` on `workdir/.lock`, which holds the owner's pid, host and start time while
  the block runs and is removed at its end. The kernel releases the lock when its owner exits,
  however it exits, so a lock file left behind by a killed run is stale and simply taken over.
  Creates `workdir` (see `make_workdir`). A non-chief task (multi-worker) writes nothing to
  `workdir` and takes no lock.

  Raises:
    ConfigError: another live process holds the lock (one line naming its pid), or `workdir`
      cannot be written.
  """
  if not chief:
    yield
    return
  make_workdir(workdir)
  path = os.path.join(workdir, LOCK_FILE)
  while True:
    lock = open(path, "a+", encoding="utf-8")  # pylint: disable=consider-using-with
    try:
      fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      lock.seek(0)
      owner = lock.read().strip() or "an unknown process"
      lock.close()
      raise ConfigError(f"--model_dir: {workdir!r} is in use by another run ({owner}); wait "
                        "for it to finish, stop it, or use another --model_dir") from None
    try:
      if os.fstat(lock.fileno()).st_ino == os.stat(path).st_ino:
        break
    except FileNotFoundError:
      pass
    lock.close()  # the previous owner removed this file after we opened it: lock the new one
  try:
    lock.seek(0)
    lock.truncate()
    started = datetime.datetime.now().isoformat(timespec="seconds")
    lock.write(f"pid {os.getpid()} on {socket.gethostname()}, started {started}")
    lock.flush()
    yield
  finally:
    # Removed while still held: a run that opened the file meanwhile finds it locked or gone.
    with contextlib.suppress(FileNotFoundError):
      os.remove(path)
    fcntl.flock(lock, fcntl.LOCK_UN)
    lock.close()


def check_run(config: Config, workdir: str, image_shape=None) -> bool:
  """Refuses `workdir` if it holds a run of another architecture or image shape.

  Reads only run.json, so the trainer calls it before importing TensorFlow (with the dataset's
  image shape when it is known without reading the data) and `prepare_workdir` again, under the
  model dir's lock, with the shape of the images loaded.

  Args:
    config: this run's configuration.
    workdir: the model directory (it need not exist).
    image_shape: this run's images' `(H, W, C)`, or None to compare the architecture only.

  Returns:
    Whether `workdir` holds a run (a run.json) that this run may continue.

  Raises:
    ConfigError: `workdir` holds a run with another architecture / image shape (the message names
      the first difference, in `Config.architecture()` order: `family` before `bounds`).
  """
  run_file = os.path.join(workdir, RUN_FILE)
  if not os.path.exists(run_file):
    return False
  with open(run_file, encoding="utf-8") as f:
    previous = json.load(f)
  old, new = previous["architecture"], config.architecture()
  if "model" in old:  # a model name of before 0.2.0 (config_lib.upgrade_model maps it)
    old["model"] = config_lib.upgrade_model(old["model"])
  for key in list(new) + [k for k in old if k not in new]:
    if old.get(key) != new.get(key):
      raise ConfigError(
          f"--model_dir: {workdir!r} holds a run with {key}={old.get(key)}, but this run has "
          f"{key}={new.get(key)}; use another --model_dir or the same configuration")
  if image_shape is not None and previous["image_shape"] != list(image_shape):
    raise ConfigError(
        f"--model_dir: {workdir!r} holds a model for images of shape "
        f"{previous['image_shape']}, but --dataset={config.dataset} has {list(image_shape)}")
  return True


def prepare_workdir(config: Config, workdir: str, image_shape) -> None:
  """Creates `workdir` and refuses one that holds a run of another architecture or image shape.

  Writes run.json for a new run; an existing run's files are left as they are (`write_flags`
  records the effective flags once the run is sure to train).

  Raises:
    ConfigError: `workdir` is not writable, or holds a run with another architecture / image
      shape (`check_run`).
  """
  make_workdir(workdir)
  if not check_run(config, workdir, image_shape):
    run = {"architecture": config.architecture(), "image_shape": list(image_shape)}
    write_atomic(os.path.join(workdir, RUN_FILE), json.dumps(run, indent=2))
    write_flags(config, workdir)  # a new run is resumable from its flags.cfg from the start


def write_flags(config: Config, workdir: str) -> None:
  """Writes the run's configuration: `workdir/flags.cfg` and `workdir/config.json`.

  flags.cfg is for people and for the trainer (`--flagfile=flags.cfg` reproduces or resumes the
  run); config.json is the same `Config` as data (`Config.to_json`), which `read_run` reads back.
  Each is replaced atomically. Call it once every check before training has passed: a run refused
  on an existing model dir must leave that run's files as they were.
  """
  write_atomic(os.path.join(workdir, CONFIG_FILE), config.to_json())
  write_atomic(os.path.join(workdir, FLAGS_FILE), config.to_flagfile())


def read_run(workdir: str, flag: str = "model_dir"):
  """(Config, image_shape) of the run in `workdir`: its config.json (or flags.cfg) and run.json.

  A run written before config.json existed has only flags.cfg; it is parsed instead.

  Args:
    workdir: a run's model directory.
    flag: the flag named in error messages.

  Returns:
    (`Config`, image shape as a tuple of 3 ints `(H, W, C)`).

  Raises:
    ConfigError: `workdir` holds no run; the message names `--{flag}`.
  """
  config_path, flag_path = os.path.join(workdir, CONFIG_FILE), os.path.join(workdir, FLAGS_FILE)
  run_path = os.path.join(workdir, RUN_FILE)
  have_config = os.path.exists(config_path) or os.path.exists(flag_path)
  if not (have_config and os.path.exists(run_path)):
    raise ConfigError(f"--{flag}: {workdir!r} holds no training run (no flags.cfg / run.json)")
  if os.path.exists(config_path):
    with open(config_path, encoding="utf-8") as f:
      config = config_lib.from_json(f.read())
  else:
    with open(flag_path, encoding="utf-8") as f:
      config = config_flags.from_flagfile(f.read())
  with open(run_path, encoding="utf-8") as f:
    image_shape = tuple(json.load(f)["image_shape"])
  return config, image_shape


def read_sgm_run(workdir: str, flag: str = "model_dir"):
  """(Config, image_shape) of the SGM run in `workdir`, as `read_run`, refusing any other run.

  Args:
    workdir: an SGM run's model directory, or its `export/` subdirectory (`config.run_dir`).
    flag: the flag named in error messages.

  Raises:
    ConfigError: `workdir` holds no run, or a VAE-family run (one line naming `--{flag}`).
  """
  workdir = config_lib.run_dir(workdir)
  config, image_shape = read_run(workdir, flag)
  if config.model in config_lib.VAE_MODELS:
    raise ConfigError(f"--{flag}: {workdir!r} holds a --model={config.model} run, not an SGM")
  return config, image_shape


# ---------------------------------------------------------------------------------------------
# The checkpoint directory (what is in the checkpoints: `inv_tf.training.checkpoints`).


def checkpoint_dir(workdir: str) -> str:
  """`workdir`'s checkpoint directory."""
  return os.path.join(workdir, CHECKPOINTS)


def has_checkpoint_files(workdir: str) -> bool:
  """Whether `workdir`'s checkpoint directory holds a state file or any `ckpt-N.index`.

  Without either, no checkpoint can be restored from it. With one, which checkpoint is the latest
  and whether it reads back takes TensorFlow (`checkpoints.latest`, `check_checkpoint_dir`).
  """
  directory = checkpoint_dir(workdir)
  return (os.path.exists(os.path.join(directory, CHECKPOINT_STATE))
          or bool(glob.glob(os.path.join(glob.escape(directory), "ckpt-*.index"))))
