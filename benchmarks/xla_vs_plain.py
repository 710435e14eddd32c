r"""Each train step compiled by XLA vs run as a plain `tf.function` (TensorFlow's oneDNN kernels),
in float32 and with `--mixed_precision` (bfloat16 MLPs).

    python benchmarks/xla_vs_plain.py [--config=cpu|paper] [--stages=inference,generative,vae]
                                      [--rounds=8]

Per (config, stage) one JSON line with the median milliseconds per step of the four variants
(`xla_f32`, `plain_f32`, `xla_bf16`, `plain_bf16`). The variants are timed in alternating order,
one call each per round after two warm-up calls, so a shared machine's load hits them alike; the
load average at start and end is printed. "plain" traces the same Python step function
(`step.python_function`) without `jit_compile`. No assertions: the figures are for people.

Why: on this CPU (AMX-BF16, AVX-512) TensorFlow's own kernels use oneDNN while XLA:CPU emits its
own dots and convolutions; which is faster depends on the step (see benchmarks/README.md).
"""

import json
import os
import sys
import time

from absl import app
from absl import flags
import numpy as np
import tensorflow as tf

import train_steps  # benchmarks/ is sys.path[0] when this file is run as a script.

_ROUNDS = flags.DEFINE_integer("rounds", 8, "Timed rounds (median reported).")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _variants(name: str, stage: str):
  """variant → (step function, images)."""
  out = {}
  for mixed in (False, True):
    config = train_steps._config(name, stage).replace(
        model="vae" if stage == "vae" else "sgm", stage="all", mixed_precision=mixed)
    step, images = train_steps.build_step(config, stage)
    suffix = "bf16" if mixed else "f32"
    out[f"xla_{suffix}"] = (step, images)
    out[f"plain_{suffix}"] = (tf.function(step.python_function), images)
  return out


def main(argv):
  del argv
  names = ["paper", "cpu"] if train_steps._CONFIG.value == "both" else [train_steps._CONFIG.value]
  for name in names:
    for stage in train_steps._STAGES.value:
      variants = _variants(name, stage)
      for fn, images in variants.values():
        for i in range(2):
          fn(images, tf.constant(i, tf.int64))["loss"].numpy()
      load_start = os.getloadavg()[0]
      times = {k: [] for k in variants}
      for r in range(_ROUNDS.value):
        for k in (list(variants) if r % 2 == 0 else list(variants)[::-1]):
          fn, images = variants[k]
          start = time.perf_counter()
          fn(images, tf.constant(2 + r, tf.int64))["loss"].numpy()
          times[k].append(1e3 * (time.perf_counter() - start))
      print(json.dumps({"config": name, "stage": stage,
                        **{f"{k}_ms": round(float(np.median(v)), 1) for k, v in times.items()},
                        "loadavg_start": load_start, "loadavg_end": os.getloadavg()[0],
                        "cores": os.cpu_count()}), flush=True)


if __name__ == "__main__":
  sys.path.insert(0, ROOT)
  app.run(main)
