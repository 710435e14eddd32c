r"""Evaluates a trained SGM: the quality measures of `inv_tf.evaluation.invariance`.

    python -m trainers.evaluate --model_dir=DIR [--num_images=500] [--out=DIR]

Writes `metrics.json` (under --out, default MODEL_DIR/eval) and prints it.
"""

import json
import os
import sys

from absl import app
from absl import flags

from inv_tf import data as data_lib
from inv_tf.config import ConfigError
from inv_tf.evaluation import invariance
from inv_tf.training import train as train_lib

_MODEL_DIR = flags.DEFINE_string("model_dir", None, "A trained SGM run's model directory.")
_OUT = flags.DEFINE_string("out", None, "Output directory (default MODEL_DIR/eval).")
_NUM_IMAGES = flags.DEFINE_integer("num_images", 500, "Test images to evaluate on.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "TFDS data directory (default: the run's).")


def main(argv):
  del argv
  try:
    if not _MODEL_DIR.value:
      raise ConfigError("--model_dir: required")
    model = train_lib.restore_model(_MODEL_DIR.value)
    config = model.config
    # Upright test images: the invariance check rotates them itself.
    test = data_lib.load(config.dataset, "test", seed=config.seed,
                         data_dir=_DATA_DIR.value or config.data_dir or None)
    images = next(iter(test.batch(_NUM_IMAGES.value)))["image"]
    metrics = invariance.sgm_quality(model, images)
  except (ConfigError, data_lib.DataError) as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  out = _OUT.value or os.path.join(_MODEL_DIR.value, "eval")
  os.makedirs(out, exist_ok=True)
  with open(os.path.join(out, "metrics.json"), "w", encoding="utf-8") as f:
    json.dump(metrics, f, indent=2)
  print(json.dumps(metrics, indent=2))


if __name__ == "__main__":
  app.run(main)
