"""The model directory a run writes: its lock, its run files, atomic writes, failed writes.

    .lock         held (flock) while a run writes to the directory (`workdir_lock`)
    run.json      architecture and image shape; a later run with another is refused
                  (`prepare_workdir`)
    flags.cfg     the effective flags: `--flagfile=flags.cfg` reproduces or resumes the run
    config.json   the same `Config` as data (`Config.to_json`); `read_run` reads it back

A failed write (disk full, permissions) becomes the one-line `RunError` of `writing`.
"""

import contextlib
import datetime
import fcntl
import json
import os
import re
import socket

import tensorflow as tf

from inv_tf import config as config_lib
from inv_tf import config_flags
from inv_tf.config import Config, ConfigError

# The run files of a model directory (see the module docstring).
RUN_FILE = "run.json"
FLAGS_FILE = "flags.cfg"
CONFIG_FILE = "config.json"


class RunError(RuntimeError):
  """The run cannot go on (e.g. a non-finite loss); the message is one line."""


# What a failed write raises: Python's own writes, and TensorFlow's (checkpoints, SavedModels).
WRITE_ERRORS = (OSError, tf.errors.OpError)


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
  except WRITE_ERRORS as e:
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
    raise ConfigError(f"--model_dir: cannot write to {workdir!r} ({e.strerror})") from None


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


def prepare_workdir(config: Config, workdir: str, image_shape) -> None:
  """Creates `workdir` and refuses one that holds a run of another architecture or image shape.

  Writes run.json for a new run; an existing run's files are left as they are (`write_flags`
  records the effective flags once the run is sure to train).

  Raises:
    ConfigError: `workdir` is not writable, or holds a run with another architecture / image
      shape (the message names the first difference).
  """
  make_workdir(workdir)
  run_file = os.path.join(workdir, RUN_FILE)
  run = {"architecture": config.architecture(), "image_shape": list(image_shape)}
  if os.path.exists(run_file):
    with open(run_file, encoding="utf-8") as f:
      previous = json.load(f)
    old = previous["architecture"]
    if "model" in old:  # a model name of before 0.2.0 (config_lib.upgrade_model maps it)
      old["model"] = config_lib.upgrade_model(old["model"])
    keys = list(run["architecture"]) + [
        k for k in previous["architecture"] if k not in run["architecture"]]
    for key in keys:  # in Config.architecture() order: `family` before `bounds`.
      old, new = previous["architecture"].get(key), run["architecture"].get(key)
      if old != new:
        raise ConfigError(
            f"--model_dir: {workdir!r} holds a run with {key}={old}, but this run has "
            f"{key}={new}; use another --model_dir or the same configuration")
    if previous["image_shape"] != run["image_shape"]:
      raise ConfigError(
          f"--model_dir: {workdir!r} holds a model for images of shape "
          f"{previous['image_shape']}, but --dataset={config.dataset} has {list(image_shape)}")
  else:
    write_atomic(run_file, json.dumps(run, indent=2))
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
