r"""Times the compiled train steps: stage 1 (q), stage 2 (p) and the VAE.

    python benchmarks/train_steps.py [--config=paper|cpu|both] [--stages=inference,generative,vae]
                                     [--steps=20] [--xla_flags=SETTING ...]
                                     [--rotation_heads=flip_equivariant,quarter_turn_equivariant]

Each (stage, config) runs in its own subprocess (so peak memory is that step's alone) and prints
one JSON object per line:

    stage          inference | generative | vae
    config         paper (docs/design.md §10, MNIST: batch 512, 5 samples, cubic, q 2048-1024-512-256;
                   p trunk 1024-512-256, 6 flows × 6 bins, conditioner 256; VAE conv 64-128-256)
                   or cpu (flags/quickstart.cfg and flags/vae_cpu.cfg)
    images_per_s   batch / median step time
    ms_per_step    median over `--steps` (≥ 20) timed steps after two warm-up steps
    compile_s      first call (trace + XLA compile + one step)
    peak_mem_mib   the process's peak resident set size
    gflops         achieved: the step's floating-point operations (TF's graph profiler on the same
                   step traced without XLA) / median step time
    matmul_gflops  the machine's float32 matmul rate (2048² × 2048, median of 10), same process
    first_loss     the loss of the first step (same seed and batch in every process: settings
                   that change the numerics show here)
    xla_flags      the XLA_FLAGS the step ran with (`--xla_flags`, repeated, compares settings)
    rotation_head  q's rotation head (`--rotation_heads` compares several)

No assertions: the figures are for people (README and the issues' closing notes record them).
"""

import json
import os
import resource
import subprocess
import sys
import time

from absl import app
from absl import flags
import keras
import numpy as np
import tensorflow as tf

_CONFIG = flags.DEFINE_enum("config", "both", ["paper", "cpu", "both"], "Which configuration.")
_STAGES = flags.DEFINE_list("stages", ["inference", "generative", "vae"], "Which steps to time.")
_STEPS = flags.DEFINE_integer("steps", 20, "Timed steps (median reported).")
_XLA_FLAGS = flags.DEFINE_multi_string(
    "xla_flags", None, "XLA_FLAGS settings to compare (repeat the flag; '' = none); each step is "
    "timed once per setting, in its own process. Default: the environment's XLA_FLAGS.")
_ROTATION_HEADS = flags.DEFINE_list(
    "rotation_heads", None, "q's --rotation_head values to compare (each timed in its own "
    "process); default: each configuration's own.")
_CHILD = flags.DEFINE_string("child", None, "Internal: run one 'stage:config' in this process.")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PAPER = dict(batch_size=512, n_samples=5, generative_n_samples=5, interpolation_order=3,
             inference_hidden_dims=(2048, 1024, 512, 256), generative_hidden_dims=(1024, 512, 256),
             num_flows=6, num_bins=6, conditioner_hidden_dims=(256,), latent_dim=16,
             vae_conv_dims=(64, 128, 256), vae_dense_dims=(256,))


def _config(name: str, stage: str):
  from inv_tf import config as config_lib
  from inv_tf import config_flags
  if name == "paper":
    return config_lib.Config(**PAPER, model="sgm" if stage != "vae" else "vae")
  flagfile = "vae_cpu.cfg" if stage == "vae" else "quickstart.cfg"
  with open(os.path.join(ROOT, "flags", flagfile), encoding="utf-8") as f:
    return config_flags.from_flagfile(f.read())


def matmul_gflops() -> float:
  a = tf.random.stateless_normal([2048, 2048], [1, 2])
  f = tf.function(lambda x: tf.matmul(x, x))
  f(a).numpy()
  times = []
  for _ in range(10):
    start = time.perf_counter()
    f(a).numpy()
    times.append(time.perf_counter() - start)
  return 2 * 2048 ** 3 / float(np.median(times)) / 1e9


def _step_flops(step_fn, *args) -> float:
  """Float ops of one step: TF's profiler over the step's graph traced WITHOUT jit_compile."""
  plain = tf.function(step_fn.python_function)
  graph = plain.get_concrete_function(*args).graph
  options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
  options["output"] = "none"
  info = tf.compat.v1.profiler.profile(graph=graph, options=options)
  return float(info.total_float_ops)


def batch_of_images(batch: int) -> tf.Tensor:
  """The first `batch` rotated MNIST training images (tiled past 4,000): float32 `[batch, 28, 28,
  1]` in [-1, 1], the same batch for every step benchmark."""
  from inv_tf import data as data_lib
  images = next(iter(data_lib.load("mnist", "train", seed=0, rotation_deg=180).batch(
      min(batch, 4000))))["image"]
  return tf.tile(images, [-(-batch // int(images.shape[0])), 1, 1, 1])[:batch]


def build_step(config, stage: str):
  """(the compiled train step of `stage` for `config`, one batch of rotated MNIST images)."""
  from inv_tf.training import train as train_lib, vae_train
  images = batch_of_images(config.batch_size)
  if stage == "vae":
    state = vae_train.create_vae_state(config, images.shape[1:])
    return vae_train.make_train_step(state, state.vae, config, None), images
  state = train_lib.create_state(config, images.shape[1:])
  make = (train_lib.make_inference_step if stage == "inference"
          else train_lib.make_generative_step)
  return make(state, config), images


def run_child(stage: str, name: str, steps: int) -> dict:
  """Times one step in this process and returns the JSON record."""
  config = _config(name, stage).replace(model="vae" if stage == "vae" else "sgm", stage="all")
  if _ROTATION_HEADS.value and stage != "vae":
    config = config.replace(rotation_head=_ROTATION_HEADS.value[0])
  batch = config.batch_size
  keras.utils.set_random_seed(config.seed)  # the same initial weights in every process
  step_fn, images = build_step(config, stage)
  step = tf.constant(0, tf.int64)
  start = time.perf_counter()
  first_loss = float(step_fn(images, step)["loss"].numpy())
  compile_s = time.perf_counter() - start
  step_fn(images, tf.constant(1, tf.int64))["loss"].numpy()
  times = []
  for i in range(steps):
    start = time.perf_counter()
    step_fn(images, tf.constant(2 + i, tf.int64))["loss"].numpy()
    times.append(time.perf_counter() - start)
  ms = 1e3 * float(np.median(times))
  flops = _step_flops(step_fn, images, step)
  return {"stage": stage, "config": name, "images_per_s": round(batch / ms * 1e3, 1),
          "ms_per_step": round(ms, 2), "compile_s": round(compile_s, 2),
          "peak_mem_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
          "gflops": round(flops / ms / 1e6, 2), "matmul_gflops": round(matmul_gflops(), 1),
          "batch_size": batch, "cores": os.cpu_count(), "first_loss": first_loss,
          "rotation_head": config.rotation_head if stage != "vae" else "",
          "xla_flags": os.environ.get("XLA_FLAGS", "")}


def main(argv):
  del argv
  if _CHILD.value:
    stage, name = _CHILD.value.split(":")
    print(json.dumps(run_child(stage, name, _STEPS.value)), flush=True)
    return
  configs = ["paper", "cpu"] if _CONFIG.value == "both" else [_CONFIG.value]
  settings = _XLA_FLAGS.value or [os.environ.get("XLA_FLAGS", "")]
  for name in configs:
    for stage in _STAGES.value:
      heads = _ROTATION_HEADS.value if stage != "vae" and _ROTATION_HEADS.value else [None]
      for xla_flags in settings:
        for head in heads:
          proc = subprocess.run(
              [sys.executable, os.path.abspath(__file__), f"--child={stage}:{name}",
               f"--steps={_STEPS.value}"] + ([f"--rotation_heads={head}"] if head else []),
              capture_output=True, text=True, cwd=ROOT,
              env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "XLA_FLAGS": xla_flags})
          _print_record(proc, stage, name)


def _print_record(proc, stage: str, name: str):
  """Prints a child's JSON record, or an error record with the end of its stderr."""
  lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
  if proc.returncode != 0 or not lines:
    print(json.dumps({"stage": stage, "config": name, "error": proc.stderr[-500:]}))
  else:
    print(lines[-1], flush=True)


if __name__ == "__main__":
  sys.path.insert(0, ROOT)
  app.run(main)
