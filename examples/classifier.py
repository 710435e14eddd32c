r"""A small CNN on MNIST rotated ±180°, trained with no, standard, or SGM augmentation.

    python examples/classifier.py --sgm_export=PATH [--num_labels=500] [--epochs=30] \
        [--seeds=0,1,2] [--sgm_probability=1.0] [--out=results/classifier.csv]

`PATH` is the export of an SGM trained on the same data (`inv_tf.export.export_sgm`, e.g. the
`export/` directory of a `trainers.train` run on `mnist --rotation_deg=180`).

Data: the labelled training set is the first `--num_labels` digits of
`inv_tf.data.load("mnist", "train", seed=0, rotation_deg=180, num_train=N)` (class-interleaved,
exactly stratified when N is a multiple of 10); the test set is the whole "test" split with the
same rotation (500 embedded digits, or 10,000 with the TFDS source). Images are float32
`[28, 28, 1]` in [-1, 1] with background -1.

Methods (same CNN, optimiser, batch size, epochs and seed; the augmentation is the model's first
block, active in `fit` only):

| method     | augmentation                                                               |
|------------|----------------------------------------------------------------------------|
| `none`     | none                                                                       |
| `standard` | RandomRotation ±15°, RandomZoom ×0.9–1.1, RandomTranslation ±10 %, fill -1 |
| `sgm`      | `inv_tf.keras.SymmetryAugmentation(PATH, probability=--sgm_probability)`   |

Per seed, Keras' global seed is set before each model is built (so all three start from the same
weights) and the shuffling and augmentation seeds equal the run seed. Prints a table and writes
a CSV with columns method, num_labels, seed, test_accuracy (in [0, 1]), train_seconds (wall time
of `fit`). The default run (500 labels, 30 epochs, one seed) takes a few minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time

import keras
import numpy as np
import tensorflow as tf

from inv_tf import data as data_lib
from inv_tf.keras import SymmetryAugmentation

METHODS = ("none", "standard", "sgm")
CSV_FIELDS = ("method", "num_labels", "seed", "test_accuracy", "train_seconds")
IMAGE_SHAPE = (28, 28, 1)
NUM_CLASSES = 10
ROTATION_DEG = 180.0
BATCH_SIZE = 32
LEARNING_RATE = 1e-3


def load_split(split: str, num_labels: int | None = None):
  """Rotated-MNIST images and labels of one split as numpy arrays.

  Args:
    split: "train" or "test".
    num_labels: for "train", the number of labelled examples (first N); ignored otherwise.

  Returns:
    (images float32 `[N, 28, 28, 1]` in [-1, 1], labels int64 `[N]` in [0, 9]).
  """
  options = {"rotation_deg": ROTATION_DEG}
  if split == "train" and num_labels is not None:
    options["num_train"] = int(num_labels)
  ds = data_lib.load("mnist", split, seed=0, **options).map(lambda e: (e["image"], e["label"]))
  images, labels = [], []
  for x, y in ds.batch(1000).as_numpy_iterator():
    images.append(x)
    labels.append(y)
  return np.concatenate(images), np.concatenate(labels)


def augmentation_layers(method: str, sgm_export: str | None, seed: int,
                        sgm_probability: float = 1.0) -> list:
  """The augmentation block of `method` (a list of Keras layers, empty for "none").

  Args:
    method: one of `METHODS`.
    sgm_export: the SGM SavedModel directory (required for "sgm").
    seed: int ≥ 0, the augmentation seed.
    sgm_probability: float in [0, 1], per-image replacement probability for "sgm".

  Returns:
    Layers mapping float32 `[B, 28, 28, 1]` in [-1, 1] to the same shape and range.
  """
  if method == "none":
    return []
  if method == "standard":
    fill = {"fill_mode": "constant", "fill_value": -1.0}
    return [keras.layers.RandomRotation(15.0 / 360.0, seed=seed, **fill),
            keras.layers.RandomZoom((-0.1, 0.1), seed=seed + 1, **fill),
            keras.layers.RandomTranslation(0.1, 0.1, seed=seed + 2, **fill)]
  if method == "sgm":
    if not sgm_export:
      raise ValueError("method 'sgm' needs --sgm_export")
    return [SymmetryAugmentation(sgm_export, probability=sgm_probability, seed=seed)]
  raise ValueError(f"unknown method {method!r}; valid: {', '.join(METHODS)}")


def build_classifier(augmentation: list) -> keras.Model:
  """The CNN (after `augmentation`): float32 `[B, 28, 28, 1]` -> logits float32 `[B, 10]`."""
  return keras.Sequential([
      keras.Input(IMAGE_SHAPE),
      *augmentation,
      keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
      keras.layers.MaxPooling2D(),
      keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
      keras.layers.MaxPooling2D(),
      keras.layers.Conv2D(64, 3, padding="same", activation="relu"),
      keras.layers.GlobalAveragePooling2D(),
      keras.layers.Dense(64, activation="relu"),
      keras.layers.Dense(NUM_CLASSES),
  ])


def train_and_evaluate(method: str, sgm_export: str | None, train, test, epochs: int, seed: int,
                       sgm_probability: float = 1.0) -> dict:
  """Trains one classifier and measures its test accuracy.

  Args:
    method: one of `METHODS`.
    sgm_export: SGM SavedModel directory (for "sgm").
    train: (images float32 `[N, 28, 28, 1]`, labels int64 `[N]`), the labelled set.
    test: the same for the test set.
    epochs: int ≥ 1 passes over `train`.
    seed: int ≥ 0: weights, shuffling and augmentation seed.
    sgm_probability: float in [0, 1] (for "sgm").

  Returns:
    {"method", "num_labels", "seed", "test_accuracy" (float in [0, 1]), "train_seconds"}.
  """
  keras.utils.set_random_seed(seed)
  model = build_classifier(augmentation_layers(method, sgm_export, seed, sgm_probability))
  model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=["accuracy"])
  images, labels = train
  ds = (tf.data.Dataset.from_tensor_slices((images, labels))
        .shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
        .batch(BATCH_SIZE))
  start = time.perf_counter()
  model.fit(ds, epochs=epochs, shuffle=False, verbose=0)  # ds is shuffled (seeded) above
  seconds = time.perf_counter() - start
  _, accuracy = model.evaluate(test[0], test[1], batch_size=250, verbose=0)
  return {"method": method, "num_labels": int(len(labels)), "seed": int(seed),
          "test_accuracy": float(accuracy), "train_seconds": round(seconds, 2)}


def run(sgm_export: str, num_labels: int = 500, epochs: int = 30, seeds=(0,),
        sgm_probability: float = 1.0, methods=METHODS) -> list[dict]:
  """Trains every method for every seed.

  Args:
    sgm_export: SGM SavedModel directory (28×28×1 images).
    num_labels: int ≥ 1 labelled training digits.
    epochs: int ≥ 1.
    seeds: iterable of ints ≥ 0.
    sgm_probability: float in [0, 1], `SymmetryAugmentation`'s probability.
    methods: subset of `METHODS`, in the order to run.

  Returns:
    One dict per (seed, method) with keys `CSV_FIELDS`.
  """
  if num_labels < 1 or epochs < 1:
    raise ValueError(f"num_labels and epochs must be >= 1, got {num_labels}, {epochs}")
  if "sgm" in methods:
    augmentation_layers("sgm", sgm_export, 0)  # fail fast on a bad export, before any training
  train = load_split("train", num_labels)
  test = load_split("test")
  rows = []
  for seed in seeds:
    for method in methods:
      rows.append(train_and_evaluate(method, sgm_export, train, test, epochs, int(seed),
                                     sgm_probability))
  return rows


def write_csv(rows: list[dict], path: str) -> None:
  """Writes `rows` (dicts with keys `CSV_FIELDS`) to `path` (parent directories created)."""
  parent = os.path.dirname(os.path.abspath(path))
  os.makedirs(parent, exist_ok=True)
  with open(path, "w", newline="", encoding="utf-8") as f:
    writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
    writer.writeheader()
    for row in rows:
      writer.writerow({k: row[k] for k in CSV_FIELDS})


def _parse_args(argv):
  parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
  parser.add_argument("--sgm_export", required=True, help="SGM SavedModel directory.")
  parser.add_argument("--num_labels", type=int, default=500, help="Labelled training digits.")
  parser.add_argument("--epochs", type=int, default=30, help="Training epochs per model.")
  parser.add_argument("--seeds", default="0", help="Comma-separated seeds, e.g. 0,1,2.")
  parser.add_argument("--sgm_probability", type=float, default=1.0,
                      help="Per-image probability that SymmetryAugmentation resamples.")
  parser.add_argument("--out", default="results/classifier.csv", help="CSV output path.")
  args = parser.parse_args(argv)
  try:
    args.seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
  except ValueError:
    parser.error(f"--seeds: comma-separated integers expected, got {args.seeds!r}")
  if not args.seeds:
    parser.error("--seeds: at least one seed")
  return args


def main(argv=None) -> int:
  """Command-line entry point (see the module docstring); returns the exit status."""
  args = _parse_args(argv)
  try:
    rows = run(args.sgm_export, args.num_labels, args.epochs, args.seeds, args.sgm_probability)
  except (ValueError, OSError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  write_csv(rows, args.out)
  print(f"{'method':<10} {'seed':>4} {'labels':>6} {'test_acc':>8} {'train_s':>8}")
  for row in rows:
    print(f"{row['method']:<10} {row['seed']:>4} {row['num_labels']:>6} "
          f"{row['test_accuracy']:>8.4f} {row['train_seconds']:>8.1f}")
  for method in dict.fromkeys(r["method"] for r in rows):
    accuracies = [r["test_accuracy"] for r in rows if r["method"] == method]
    print(f"{method:<10} mean test accuracy {np.mean(accuracies):.4f} over {len(accuracies)} "
          f"seed(s)")
  print(f"wrote {args.out}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
