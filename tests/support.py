"""Helpers the test modules share: constants and plain functions (the fixtures are in conftest.py).

Test modules import these from here and never from each other.
"""

import os
import pathlib
import re
import subprocess
import sys
import textwrap

import numpy as np
import tensorflow as tf

from inv_tf import data as data_lib
from inv_tf.config import Config

REPO = pathlib.Path(__file__).resolve().parents[1]
TIMEOUT = 900

# TensorFlow's C++ start-up noise: "I0000 00:00:1795838416.920227   11799 port.cc:153] ...",
# its continuation line, and absl's pre-InitializeLog banner.
_NATIVE_LOG = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [\w./-]+\.(cc|h):\d+\]")
_NATIVE_OTHER = ("WARNING: All log messages before absl::InitializeLog() is called",
                 "To enable the following instructions:", "\t [[{{")


def user_lines(stderr: str) -> list:
  """stderr lines that come from the program (TensorFlow's native start-up logs removed)."""
  return [line for line in stderr.splitlines()
          if line.strip() and not _NATIVE_LOG.match(line) and not line.startswith(_NATIVE_OTHER)]


def run_module(module, *args, xla_defaults: bool = False):
  """`python -m module *args` from the repository root: the CompletedProcess (text stdout/stderr).

  xla_defaults: compile with XLA's default optimisation instead of the suite's level 0
  (conftest.py), for a run long enough that the faster code outweighs the longer compile.
  """
  env = dict(os.environ)
  env.pop("PYTHONPATH", None)
  env.pop("TF_CONFIG", None)
  if xla_defaults and env.get("XLA_FLAGS") == env.get("INV_TF_SUITE_XLA_FLAGS"):
    env.pop("XLA_FLAGS", None)
  proc = subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=str(REPO), env=env,
                        capture_output=True, text=True, timeout=TIMEOUT)
  return proc


# The tiny SGM configuration of the library-level runs.
TINY = dict(dataset="mnist", batch_size=16, eval_batch_size=32, inference_steps=6,
            generative_steps=6, inference_hidden_dims=(32,), generative_hidden_dims=(32, 16),
            conditioner_hidden_dims=(16,), num_flows=2, num_bins=3, n_samples=2,
            generative_n_samples=2, interpolation_order=1, log_every=2, checkpoint_every=3,
            num_eval_batches=1)
IMAGE_SHAPE = (28, 28, 1)


def tiny_config(**overrides) -> Config:
  return Config(**{**TINY, **overrides})


# The tiny VAE family runs (on top of TINY): 6 steps on 64 digits, scored with K = 5 on 16 test
# digits. conftest.py's `shared_vae_run` is the --model=vae one.
VAE_TINY = dict(vae_steps=6, batch_size=16, eval_batch_size=16, latent_dim=4, vae_conv_dims=(8,),
                vae_dense_dims=(16,), iwlb_num_samples=5, num_test=16, test_batch_size=16,
                num_train=64, checkpoint_every=3, log_every=2)


def vae_config(model="vae", sgm_dir="", **overrides) -> Config:
  return tiny_config(model=model, sgm_dir=sgm_dir, **{**VAE_TINY, **overrides})


def train_capturing(config, workdir):
  """(results, the trained VAE object) of `train_and_evaluate(config, workdir)`."""
  from inv_tf.training import train as train_lib  # pylint: disable=g-import-not-at-top
  from inv_tf.training import vae_train  # pylint: disable=g-import-not-at-top
  captured = {}
  create = vae_train.create_vae_state

  def capturing(*args, **kwargs):
    state = create(*args, **kwargs)
    captured["vae"] = state.vae
    return state

  vae_train.create_vae_state = capturing
  try:
    results = train_lib.train_and_evaluate(config, workdir)
  finally:
    vae_train.create_vae_state = create
  return results, captured["vae"]


def checkpoint_value(workdir, name):
  """A value of the latest checkpoint in workdir, e.g. "inference_step"."""
  reader = tf.train.load_checkpoint(os.path.join(workdir, "checkpoints"))
  return reader.get_tensor(f"{name}/.ATTRIBUTES/VARIABLE_VALUE")


def checkpoint_tensors(workdir, prefix, checkpoint=None):
  """{name: value} of the latest checkpoint in workdir (or of `checkpoint`, e.g. "ckpt-6")."""
  path = os.path.join(workdir, "checkpoints", checkpoint or "")
  reader = tf.train.load_checkpoint(path)
  return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
          if name.startswith(prefix) and name != "_CHECKPOINTABLE_OBJECT_GRAPH"}


def assert_same_tensors(got, want):
  assert got.keys() == want.keys()
  for name, value in want.items():
    np.testing.assert_array_equal(got[name], value, err_msg=name)


def read_events(logdir):
  """{tag: (plugin_name, [(step, ndarray), ...])} of every TF2 summary under logdir."""
  from tensorboard.backend.event_processing import event_accumulator as ea
  acc = ea.EventAccumulator(str(logdir), size_guidance={ea.TENSORS: 0})
  acc.Reload()
  events = {}
  for tag in acc.Tags()["tensors"]:
    plugin = acc.SummaryMetadata(tag).plugin_data.plugin_name
    events[tag] = (plugin, [(e.step, tf.make_ndarray(e.tensor_proto)) for e in acc.Tensors(tag)])
  return events


def logged_scalars(logdir):
  """{tag: {step: [float32 ndarray, ...]}}: every float32 scalar summary under logdir.

  Read event file by event file with `summary_iterator`, so a step logged twice (by a run that
  was killed and resumed, each process with its own file) appears twice in its list.
  """
  scalars = {}
  for name in sorted(os.listdir(logdir)):
    if not name.startswith("events.out.tfevents"):
      continue
    for event in tf.compat.v1.train.summary_iterator(os.path.join(logdir, name)):
      for value in event.summary.value:
        if value.HasField("tensor") and value.tensor.dtype == tf.float32.as_datatype_enum:
          array = tf.make_ndarray(value.tensor)
          if array.shape == ():
            scalars.setdefault(value.tag, {}).setdefault(event.step, []).append(array)
  return scalars


def collect(ds):
  """Materialises an unbatched, finite, non-empty dataset as a dict of stacked numpy arrays.

  With a known size, one batch of everything: tf.data stacks it in C++, where iterating examples
  one by one from Python costs milliseconds each (4 s for 600 rotated MNIST digits). (tf.data
  reserves room for a whole batch, so the batch is the dataset's size, not "very large".)
  """
  size = int(ds.cardinality())
  if size > 0:
    return next(ds.batch(size).as_numpy_iterator())
  rows = list(ds.as_numpy_iterator())
  return {k: np.stack([r[k] for r in rows]) for k in rows[0]}


def sample_images(n=8, seed=0):
  """Deterministic validation-like images (float32 [n, 28, 28, 1] in [-1, 1])."""
  ds = data_lib.load("mnist", "test", seed=seed)
  return next(iter(ds.batch(n)))["image"].numpy()


# Synthetic images of the transforms tests (test_warp.py, test_transform.py).


def bordered_images(rng, batch, height, width, channels, border=4):
  """Random images in [-1, 1] whose outer `border` pixels are background (-1)."""
  images = np.full((batch, height, width, channels), -1.0)
  images[:, border:-border, border:-border] = rng.uniform(
      -1, 1, (batch, height - 2 * border, width - 2 * border, channels))
  return images


def smooth_images(batch, height, width, channels=1, dtype=np.float64):
  """Gaussian blobs on a -1 background: smooth, so interpolation error is small."""
  ii, jj = np.meshgrid(np.linspace(-1, 1, height), np.linspace(-1, 1, width), indexing="ij")
  blobs = []
  for b in range(batch):
    cx, cy = 0.15 * np.cos(b), 0.1 * np.sin(b)
    blob = np.exp(-((jj - cx) ** 2 / 0.08 + (ii - cy) ** 2 / 0.05))
    blobs.append(2.0 * blob - 1.0)
  images = np.stack(blobs)[..., None]
  return np.repeat(images, channels, axis=-1).astype(dtype)


# Images of the loss and blur tests (test_losses.py, test_blur.py).


def blobs(batch, size=24):
  """Asymmetric smooth shapes on a -1 background (no rotational symmetry)."""
  ii, jj = np.meshgrid(np.linspace(-1, 1, size), np.linspace(-1, 1, size), indexing="ij")
  images = []
  for b in range(batch):
    a = np.exp(-((jj - 0.3) ** 2 + (ii + 0.05 * b) ** 2) / 0.02)
    c = np.exp(-((jj + 0.2) ** 2 / 0.05 + (ii - 0.2) ** 2 / 0.01))
    images.append(2 * np.clip(a + c, 0, 1) - 1)
  return tf.constant(np.stack(images)[..., None], tf.float32)


# The untrained models of the model tests (test_inference.py, test_sgm.py):
# `SGM(Config(**TINY_MODEL), (12, 12, 1))` and its inputs.
TINY_MODEL = dict(inference_hidden_dims=(16,), generative_hidden_dims=(16, 8), num_flows=2,
                  num_bins=3, conditioner_hidden_dims=(8,), interpolation_order=1)


def model_images(batch=4, shape=(12, 12, 1), seed=0):
  """float32 tensor [batch, *shape]: uniform noise in [-1, 1] inside a 3-pixel background border."""
  rng = np.random.default_rng(seed)
  x = np.full((batch,) + shape, -1.0, np.float32)
  x[:, 3:-3, 3:-3] = rng.uniform(-1, 1, (batch, shape[0] - 6, shape[1] - 6, shape[2]))
  return tf.constant(x)


# Subprocess preamble: importing inv_tf or trainers fails, so an export that needs them fails.
FORBID_INV_TF = textwrap.dedent(r"""
    import importlib.abc
    import sys

    class _Forbid(importlib.abc.MetaPathFinder):
      def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("inv_tf", "trainers"):
          raise ImportError(f"the export must not need {name}")
        return None

    sys.meta_path.insert(0, _Forbid())

""")


def tiered(argnames, cases, fast):
  """`pytest.mark.parametrize(argnames, cases)` with the cases not in `fast` marked slow: the
  fast tier (`-m "not slow"`) runs the `fast` cases, the full suite every case."""
  import pytest  # pylint: disable=g-import-not-at-top
  several = len([n for n in argnames.split(",") if n.strip()]) > 1
  params = [case if case in fast else
            pytest.param(*case, marks=pytest.mark.slow) if several else
            pytest.param(case, marks=pytest.mark.slow)
            for case in cases]
  return pytest.mark.parametrize(argnames, params)


def fast_tier() -> bool:
  """True under `-m "not slow"` (conftest.py sets INV_TF_FAST_TIER for that marker expression)."""
  return os.environ.get("INV_TF_FAST_TIER") == "1"


def smoke_jit_compile() -> bool:
  """`Config.jit_compile` of the shared smoke runs: plain graphs in the fast tier (most of a tiny
  run's time is XLA compiling it), XLA in the full suite, which is what a user's run does."""
  return not fast_tier()


def examples(full: int) -> int:
  """hypothesis' max_examples: `full` in the full suite, a fifth (at least 10) in the fast tier
  (conftest.py sets INV_TF_FAST_TIER for `-m "not slow"`). Derandomised either way: the fast
  tier's examples are the same on every run."""
  return max(10, full // 5) if fast_tier() else full
