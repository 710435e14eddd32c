"""Times building a rendered dataset at its default sizes into an empty data directory.

    python benchmarks/dataset_build.py [--dataset=aug_dsprites] [--seed=0]

Prints one JSON object: dataset, seed, the number of examples read back per split, and the wall
seconds of the build (rendering, writing the TFDS records and reading the cardinalities). The
directory is temporary and removed afterwards.
"""

import json
import shutil
import tempfile
import time

from absl import app
from absl import flags

from inv_tf import data

_DATASET = flags.DEFINE_enum("dataset", "aug_dsprites", ["aug_dsprites"],
                             "A dataset that is rendered into a TFDS data directory.")
_SEED = flags.DEFINE_integer("seed", 0, "Dataset seed.")


def main(argv):
  del argv
  root = tempfile.mkdtemp(prefix="inv_tf_build_")
  try:
    start = time.perf_counter()
    sizes = {s: int(data.load(_DATASET.value, s, seed=_SEED.value, data_dir=root).cardinality())
             for s in data.SPLITS}
    seconds = time.perf_counter() - start
  finally:
    shutil.rmtree(root, ignore_errors=True)
  print(json.dumps({"dataset": _DATASET.value, "seed": _SEED.value, "sizes": sizes,
                    "seconds": round(seconds, 1)}))


if __name__ == "__main__":
  app.run(main)
