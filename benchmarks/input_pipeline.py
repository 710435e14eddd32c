"""Measures the training input pipeline's throughput (does it keep up with the train step?).

    python benchmarks/input_pipeline.py [--dataset=mnist] [--rotation_deg=180] [--batch_size=512]

Prints one JSON object: dataset, batch_size, batches_per_s and images_per_s over `--batches`
batches after `--warmup` batches (the first epoch fills the in-memory cache). Compare with the
train step's images/s (benchmarks of the steps): the pipeline should be several times faster.
"""

import json
import time

from absl import app
from absl import flags

from inv_tf import data

_DATASET = flags.DEFINE_string("dataset", "mnist", "Dataset name.")
_ROTATION = flags.DEFINE_float("rotation_deg", 180.0, "Rotation (MNIST only; 0 = none).")
_BATCH = flags.DEFINE_integer("batch_size", 512, "Batch size.")
_BATCHES = flags.DEFINE_integer("batches", 200, "Timed batches.")
_WARMUP = flags.DEFINE_integer("warmup", 20, "Untimed batches first.")


def main(argv):
  del argv
  options = {"rotation_deg": _ROTATION.value} if _ROTATION.value else {}
  ds = data.batch_for_training(data.load(_DATASET.value, "train", **options), _BATCH.value, seed=0)
  it = iter(ds)
  for _ in range(_WARMUP.value):
    next(it)
  start = time.perf_counter()
  for _ in range(_BATCHES.value):
    next(it)["image"].numpy()
  seconds = time.perf_counter() - start
  print(json.dumps({"dataset": _DATASET.value, "batch_size": _BATCH.value,
                    "batches_per_s": round(_BATCHES.value / seconds, 1),
                    "images_per_s": round(_BATCHES.value * _BATCH.value / seconds)}))


if __name__ == "__main__":
  app.run(main)
