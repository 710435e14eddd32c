r"""Throughput of an exported SGM's signatures (the SavedModel alone, no inv_tf model code).

    python benchmarks/export.py --export=runs/quickstart/export [--batch=512] [--repeats=20]

Without --export, a quickstart-sized SGM (untrained, same architecture and cost) is built and
exported to a temporary directory first. Prints one JSON object per line: signature, batch,
images_per_s, ms_per_call (median of `repeats` after a warm-up call), and the core count.
"""

import json
import os
import tempfile
import time

from absl import app
from absl import flags
import numpy as np
import tensorflow as tf

_EXPORT = flags.DEFINE_string("export", None, "An SGM SavedModel directory (default: build one).")
_BATCH = flags.DEFINE_integer("batch", 512, "Images per call.")
_REPEATS = flags.DEFINE_integer("repeats", 20, "Timed calls (median reported).")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _quickstart_export(directory: str) -> str:
  from inv_tf import config_flags
  from inv_tf.export import saved_model
  from inv_tf.models.sgm import SGM
  with open(os.path.join(ROOT, "flags", "quickstart.cfg"), encoding="utf-8") as f:
    config = config_flags.from_flagfile(f.read())
  return saved_model.export_sgm(SGM(config, (28, 28, 1)), os.path.join(directory, "export"))


def _median_ms(fn, repeats):
  fn()
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return 1e3 * float(np.median(times))


def main(argv):
  del argv
  with tempfile.TemporaryDirectory() as tmp:
    path = _EXPORT.value or _quickstart_export(tmp)
    sgm = tf.saved_model.load(path)
    shape = sgm.signatures["prototype"].structured_input_signature[1]["x"].shape
    rng = np.random.default_rng(0)
    x = tf.constant(rng.uniform(-1, 1, [_BATCH.value] + shape.as_list()[1:]), tf.float32)
    seed = tf.constant([0, 1], tf.int32)
    one = tf.constant(1, tf.int32)
    calls = {
        "prototype": lambda: sgm.prototype(x)["x_hat"].numpy(),
        "resample": lambda: sgm.resample(x, one, seed)["images"].numpy(),
    }
    for name, fn in calls.items():
      ms = _median_ms(fn, _REPEATS.value)
      print(json.dumps({"signature": name, "batch": _BATCH.value,
                        "images_per_s": round(_BATCH.value / ms * 1e3, 1),
                        "ms_per_call": round(ms, 2), "cores": os.cpu_count()}), flush=True)


if __name__ == "__main__":
  app.run(main)
