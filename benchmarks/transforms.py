"""Times `inv_tf.transforms.transform_images`: forward and forward+backward (w.r.t. η).

    python benchmarks/transforms.py [--repeats=20]

Prints one JSON object per line: shape, order, mode (eager | xla), ms_forward, ms_forward_backward
(medians over `repeats` calls after a warm-up), and the machine's core count. No assertions:
the figures are read by people (the closing notes of issues record them).
"""

import json
import os
import time

from absl import app
from absl import flags
import numpy as np
import tensorflow as tf

from inv_tf import transforms

_REPEATS = flags.DEFINE_integer("repeats", 20, "Timed calls per setting (median reported).")
_BATCH = flags.DEFINE_integer("batch", 512, "Batch size.")


def _median_ms(fn, *args, repeats):
  fn(*args)  # warm-up (and compilation).
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    out = fn(*args)
    tf.nest.map_structure(lambda t: t.numpy(), out)
    times.append(time.perf_counter() - start)
  return 1e3 * float(np.median(times))


def main(argv):
  del argv
  rng = np.random.default_rng(0)
  for height, width, channels in ((28, 28, 1), (64, 64, 3)):
    images = tf.constant(rng.uniform(-1, 1, (_BATCH.value, height, width, channels)), tf.float32)
    eta = tf.constant(rng.uniform(-0.3, 0.3, (_BATCH.value, 5)), tf.float32)
    for order in (1, 3):
      def forward(x, e, order=order):
        return transforms.transform_images(x, e, "affine_no_shear", order=order)

      def forward_backward(x, e, order=order):
        with tf.GradientTape() as tape:
          tape.watch(e)
          loss = tf.reduce_mean(forward(x, e) ** 2)
        return loss, tape.gradient(loss, e)

      for mode in ("eager", "xla"):
        wrap = (lambda f: f) if mode == "eager" else (lambda f: tf.function(f, jit_compile=True))
        print(json.dumps({
            "shape": [_BATCH.value, height, width, channels], "order": order, "mode": mode,
            "ms_forward": round(_median_ms(wrap(forward), images, eta, repeats=_REPEATS.value), 2),
            "ms_forward_backward": round(
                _median_ms(wrap(forward_backward), images, eta, repeats=_REPEATS.value), 2),
            "cores": os.cpu_count(),
        }), flush=True)


if __name__ == "__main__":
  app.run(main)
