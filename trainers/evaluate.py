r"""Evaluates a trained SGM: the quality measures of `inv_tf.evaluation.invariance`.

    python -m trainers.evaluate --model_dir=DIR [--num_images=500] [--out=DIR]

Writes `metrics.json` (under --out, default MODEL_DIR/eval) and prints it, plus two figures:
`rotation_strips.png` (rows of rotated test views, each followed by the row of their prototypes)
and `resamples.png` (each test image, then 8 SGM resamples of it).
"""

import json
import os
import sys

from absl import app
from absl import flags

from inv_tf import data as data_lib
from inv_tf.config import ConfigError
import tensorflow as tf

from inv_tf.evaluation import grids
from inv_tf.evaluation import invariance
from inv_tf.training import train as train_lib

_MODEL_DIR = flags.DEFINE_string("model_dir", None, "A trained SGM run's model directory.")
_OUT = flags.DEFINE_string("out", None, "Output directory (default MODEL_DIR/eval).")
_NUM_IMAGES = flags.DEFINE_integer("num_images", 500, "Test images to evaluate on.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "TFDS data directory (default: the run's).")
_CHECKPOINT = flags.DEFINE_string("checkpoint", None, "Checkpoint to evaluate (default: latest).")


def main(argv):
  del argv
  try:
    if not _MODEL_DIR.value:
      raise ConfigError("--model_dir: required")
    model = train_lib.restore_model(_MODEL_DIR.value, _CHECKPOINT.value)
    config = model.config
    # Upright test images: the invariance check rotates them itself.
    test = data_lib.load(config.dataset, "test", seed=config.seed,
                         data_dir=_DATA_DIR.value or config.data_dir or None)
    batch = next(iter(test.batch(_NUM_IMAGES.value)))
    images = batch["image"]
    metrics = invariance.sgm_quality(model, images, labels=batch["label"].numpy())
  except (ConfigError, data_lib.DataError) as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  out = _OUT.value or os.path.join(_MODEL_DIR.value, "eval")
  os.makedirs(out, exist_ok=True)
  with open(os.path.join(out, "metrics.json"), "w", encoding="utf-8") as f:
    json.dump(metrics, f, indent=2)
  print(json.dumps(metrics, indent=2))
  _write_png(os.path.join(out, "rotation_strips.png"),
             grids.tile(invariance.rotation_strip(model, images[:6])))
  resampled, _ = model.resample(images[:8], 8, tf.constant([0, 1], tf.int32))
  rows = tf.concat([images[:8, None], tf.transpose(resampled, [1, 0, 2, 3, 4])], axis=1)
  _write_png(os.path.join(out, "resamples.png"), grids.tile(rows))


def _write_png(path, grid):
  """Writes a [0, 1] float image [H, W, C], enlarged 3× for viewing."""
  size = tf.shape(grid)[:2] * 3
  big = tf.image.resize(grid, size, method="nearest")
  tf.io.write_file(path, tf.io.encode_png(tf.cast(tf.round(big * 255), tf.uint8)))


if __name__ == "__main__":
  app.run(main)
