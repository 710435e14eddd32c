r"""Learned augmentation for a few-label classifier: none / global / SGM / oracle augmentation.

    python examples/classifier.py [--datasets=mnist,mnist_per_class] \
        [--arms=none,standard,rotation180,sgm,oracle] [--seeds=0,1,2,3,4] [--num_labels=500] \
        [--sgm_flagfile=mnist=quickstart,mnist_per_class=mnist_per_class] \
        [--sgm_dir=runs/classifier_sgm] [--out=results/classifier/classifier.csv]
    python examples/classifier.py --sgm_export=mnist=DIR/export,mnist_per_class=DIR/export [...]
    python examples/classifier.py --summarize --out=results/classifier/classifier.csv
    python examples/classifier.py --diagnose [--sgm_dir=… | --sgm_export=…] [--out=…]

The first command is the whole experiment and also continues it: it trains the SGMs it needs itself
(see "SGMs") and skips every row already in `--out`. The second uses SGMs trained elsewhere.

Why. The SGM learns, per example, how much of each transformation a dataset has; used as data
augmentation (`inv_tf.keras.SymmetryAugmentation`) it should help a classifier trained on few
labels as much as the augmentation that knows the truth (the oracle), and, when classes carry
different transformation distributions, more than any single global augmentation.

Datasets (embedded MNIST: 4,000 / 500 / 500 train / validation / test digits, each transformed
once by a fixed η*, see `inv_tf.data.mnist`):
* `mnist`: MNIST rotated by θ ~ U(−180°, 180°) (`rotation_deg=180`), the same for every class.
* `mnist_per_class`: each class has its own true distribution P_c
  (`inv_tf.data.known_truth.MNIST_PER_CLASS`: 2 and 7 fully rotated, 5 at ±60°, 1 translated,
  8 rescaled, 4 and 9 upright, …).

Labels. Per seed s, `--num_labels` training digits (stratified: num_labels/10 per class when
divisible, drawn with `np.random.default_rng([s, 1729])` from the 4,000 training digits). Early
stopping uses the whole labelled "validation" split (500, disjoint from the training digits) and
accuracy is measured on the "test" split (500). Images are float32 `[28, 28, 1]` in [-1, 1],
background -1.

Arms (same CNN, initial weights, label subset, batches and optimiser per seed; augmentation acts
in training only):

| arm           | augmentation of a training image x (label c, true pose η*)                 |
|---------------|----------------------------------------------------------------------------|
| `none`        | none                                                                       |
| `standard`    | RandomRotation ±15°, RandomZoom ×0.9–1.1, RandomTranslation ±10 %, fill -1 |
| `rotation180` | RandomRotation U(−180°, 180°), fill -1 (global: the same for every class)  |
| `sgm`         | `SymmetryAugmentation(export, probability=--sgm_probability)`: x' ~ p(x'|x)|
| `oracle`      | T(x₀, η'), η' ~ P_c: x warped ONCE by M(η*)⁻¹·M(η') (undo η*, apply η')    |

`none`, `standard`, `rotation180` and `sgm` are Keras layers at the front of the model; `oracle`
needs η* and the label, so it runs in the tf.data pipeline (`oracle_augment`, with stateless
per-batch seeds from `tf.data.Dataset.random(seed)`). `oracle_augment(x, η*, η*)` is x exactly
(identity matrix). "Best global" on a dataset is whichever of `standard` and `rotation180` has the
higher mean test accuracy there.

SGMs. Arm `sgm` on a dataset uses `--sgm_export` if given for it; otherwise the script trains
the dataset's SGM itself with `inv_tf.training.train.train_and_evaluate` from the flagfile
`--sgm_flagfile` names for it (a path, or a packaged flagfile such as `quickstart`, see
`inv_tf.flagfile_path`; it must be an SGM run of the same data: `--dataset`, and for mnist
`--rotation_deg=180`) in `<sgm_dir>/<dataset>`, and uses its `export/`. One SGM per dataset,
shared by every seed (the classifier seeds vary the labels, weights and augmentation draws, not
the SGM; the SGM trains with the flagfile's `--seed`, default 0, on the whole unlabelled training
split). It is trained lazily: only when the first missing `sgm` row of that dataset comes up, and
not again once finished (metrics.json and export/ present: `train_lib.run_finished`); a killed
SGM run resumes from its last checkpoint. A finished SGM directory is used whatever flags it was
trained with: after changing a flagfile, use another `--sgm_dir`. Each `sgm` row records the
export it used (`sgm_export`).

Training to convergence. Adam (lr 1e-3), batch 32, one "epoch" = `--steps_per_epoch` (50)
batches ≈ 3.2 passes over 500 labels, after which the validation split is evaluated. The learning
rate halves after `--lr_patience` (10) epochs without a new best validation accuracy (min 1e-5);
training stops after `--patience` (30) such epochs, or at `--max_epochs` (300), and the weights of
the best epoch (highest validation accuracy, ties broken by the lower validation loss, then the
earlier epoch) are restored before testing (`BestWeights`). Rows record `best_epoch` and
`stopped_epoch` (1-based; stopped_epoch == max_epochs means the cap ended the run).

Outputs (all written atomically: temporary file + rename):
* `--out` CSV, one row per (dataset, arm, seed, num_labels) with `CSV_FIELDS`; rows already
  present are SKIPPED, so a killed run continues where it stopped (the row is written as soon as
  its model is tested). The other settings are recorded per row; change `--out` when you change
  them.
* `<out stem>_curves.csv`: per epoch train loss/accuracy, validation loss/accuracy, lr.
* `<out stem>_summary.csv` and a printed table: per dataset and arm the mean test accuracy with a
  95 % t confidence interval over seeds, and the paired (by seed) differences sgm − none,
  sgm − standard, sgm − rotation180, sgm − best global, sgm − oracle with their 95 % CIs.
* `<out stem>.png`: accuracies per arm (mean, CI, seeds) and validation curves.
* `<sgm_dir>/<dataset>/`: the SGM run trained for arm `sgm`, written by
  `inv_tf.training.train.train_and_evaluate` (checkpoints, flags.cfg, metrics.json, export/).

Cost: on 2 shared CPU cores a run takes ~1–10 minutes (sgm is slowest: one SGM resample per
training image), so 2 datasets × 5 arms × 5 seeds take hours; runs are ordered seed-major so that
partial results are complete paired comparisons. Training the two SGMs adds about 11 (mnist,
`quickstart`) and 15 (mnist_per_class) minutes once; an SGM per seed would add that five times
over. Bad input (also an unknown dataset in `--sgm_flagfile`, a missing flagfile or one of
other data) exits with status 2 and a one-line error before anything is written; an SGM training that
diverges ends the same way (status 2, one line; its last good checkpoint is kept).
"""

from __future__ import annotations

import argparse
import csv
import fcntl
import functools
import math
import os
import sys
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf

import inv_tf
from inv_tf import config as config_lib
from inv_tf import config_flags
from inv_tf import data as data_lib
from inv_tf import transforms
from inv_tf.data import known_truth
from inv_tf.evaluation import circular, stats
from inv_tf.keras import SymmetryAugmentation
from inv_tf.training import rundir
from inv_tf.training import train as train_lib

DATASETS = ("mnist", "mnist_per_class")
DATASET_OPTIONS = {"mnist": {"rotation_deg": 180.0}, "mnist_per_class": {}}
ARMS = ("none", "standard", "rotation180", "sgm", "oracle")
GLOBAL_ARMS = ("standard", "rotation180")
CSV_FIELDS = ("dataset", "arm", "seed", "num_labels", "test_accuracy", "val_accuracy",
              "best_epoch", "stopped_epoch", "max_epochs", "steps_per_epoch", "patience",
              "lr_patience", "train_seconds", "sgm_export", "sgm_probability")
CURVE_FIELDS = ("dataset", "arm", "seed", "num_labels", "epoch", "loss", "accuracy", "val_loss",
                "val_accuracy", "lr")
KEY_FIELDS = ("dataset", "arm", "seed", "num_labels")
IMAGE_SHAPE = (28, 28, 1)
NUM_CLASSES = 10
BATCH_SIZE = 32
LEARNING_RATE = 1e-3
MIN_LEARNING_RATE = 1e-5
LABEL_SUBSET_PURPOSE = 1729  # second word of the label-subset generator's seed
TRUTH_FAMILY = known_truth.TRUTH_FAMILY  # "affine_no_shear"
# The flagfile (a path or a packaged name, `inv_tf.flagfile_path`) the SGM of each dataset is
# trained with when arm "sgm" has no --sgm_export for it, and where those SGMs live.
SGM_FLAGFILES = {"mnist": "quickstart", "mnist_per_class": "mnist_per_class"}
SGM_DIR = "runs/classifier_sgm"
EXTRA_CALLBACKS = []  # e.g. progress printers (tests, pilots)


# ------------------------------------------------------------------------------------------------
# Data.

def load_split(dataset: str, split: str):
  """All examples of one split as numpy arrays, read-only.

  A split is built once per process (building `mnist_per_class` warps every digit) and the same
  arrays are returned on later calls; they are read-only so that no caller can change them for
  the next. Index or copy them to get arrays of your own.

  Args:
    dataset: one of `DATASETS`.
    split: "train", "validation" or "test".

  Returns:
    (images float32 `[N, 28, 28, 1]` in [-1, 1], labels int64 `[N]`, eta_true float32 `[N, 5]`).
  """
  if dataset not in DATASETS:
    raise ValueError(f"unknown dataset {dataset!r}; valid: {', '.join(DATASETS)}")
  return _built_split(dataset, split)


@functools.lru_cache(maxsize=None)
def _built_split(dataset: str, split: str):
  ds = data_lib.load(dataset, split, seed=0, **DATASET_OPTIONS[dataset])
  images, labels, etas = [], [], []
  for ex in ds.batch(1000).as_numpy_iterator():
    images.append(ex["image"])
    labels.append(ex["label"])
    etas.append(ex["eta_true"])
  arrays = (np.concatenate(images).astype(np.float32), np.concatenate(labels).astype(np.int64),
            np.concatenate(etas).astype(np.float32))
  for a in arrays:
    a.flags.writeable = False
  return arrays


def label_subset(labels, num_labels: int, seed: int) -> np.ndarray:
  """Indices of a class-stratified random subset of the training set.

  Args:
    labels: int `[N]` in [0, 9].
    num_labels: subset size, 1 ≤ num_labels ≤ N; each class gets num_labels // 10 and the first
      num_labels % 10 classes (in a seeded random order) one more.
    seed: int ≥ 0; the subset is a function of (seed, num_labels, labels).

  Returns:
    int64 `[num_labels]` sorted indices into `labels`.
  """
  labels = np.asarray(labels)
  if not 1 <= num_labels <= len(labels):
    raise ValueError(f"num_labels must be in [1, {len(labels)}], got {num_labels}")
  rng = np.random.default_rng([int(seed), LABEL_SUBSET_PURPOSE])
  classes = np.unique(labels)
  extra = set(rng.permutation(classes)[:num_labels % len(classes)].tolist())
  chosen = []
  for c in classes:
    members = np.flatnonzero(labels == c)
    k = num_labels // len(classes) + (1 if c in extra else 0)
    if k > len(members):
      raise ValueError(f"num_labels={num_labels}: class {c} has only {len(members)} examples")
    chosen.append(rng.choice(members, size=k, replace=False))
  return np.sort(np.concatenate(chosen)).astype(np.int64)


# ------------------------------------------------------------------------------------------------
# The oracle.

def truth_table(dataset: str) -> np.ndarray:
  """float64 `[10, 5]` per-class truth table (`known_truth.truth_table`) of `dataset`."""
  truths = known_truth.truth_for(dataset, **DATASET_OPTIONS[dataset])
  if truths is None:
    raise ValueError(f"dataset {dataset!r} has no known per-class truth (oracle impossible)")
  return known_truth.truth_table(truths, NUM_CLASSES)


def sample_class_eta(table, labels, u) -> tf.Tensor:
  """η' ~ P_label for a batch: the batched twin of `known_truth.eta_from_uniform_tf`.

  Args:
    table: float `[K, 5]` from `truth_table`.
    labels: int `[B]` in [0, K).
    u: float32 `[B, 4]` uniforms in [0, 1) (rotation, tx, ty, log-scale).

  Returns:
    float32 `[B, 5]` affine_no_shear η (tx, ty, rotation, log_scale_x = log_scale_y).
  """
  rows = tf.gather(tf.constant(table, tf.float32), labels)
  two_point, low, high, t, s = tf.unstack(rows, axis=-1)
  theta = tf.where(two_point > 0.5, tf.where(u[:, 0] < 0.5, low, high),
                   low + u[:, 0] * (high - low))
  scale = s * (2.0 * u[:, 3] - 1.0)
  return tf.stack([t * (2.0 * u[:, 1] - 1.0), t * (2.0 * u[:, 2] - 1.0), theta, scale, scale], -1)


def oracle_augment(images, eta_true, eta_new) -> tf.Tensor:
  """Re-poses x = T(x₀, η*) as T(x₀, η'), with ONE bilinear warp.

  `inv_tf.transforms`: `a.then(b)` applies a, then b (matrix M_a @ M_b), so undoing η* and
  applying η' is `from_eta(η*).inverse().then(from_eta(η'))`, matrix M(η*)⁻¹ M(η'), applied with
  `transforms.warp`. With η' = η* the matrix is exactly the identity and the output equals
  `images`.

  Args:
    images: float32 `[B, 28, 28, 1]` in [-1, 1], the observed (already transformed) digits.
    eta_true: float32 `[B, 5]` their affine_no_shear η*.
    eta_new: float32 `[B, 5]` the new poses η'.

  Returns:
    float32 `[B, 28, 28, 1]` in [-1, 1] (background -1).
  """
  undo = transforms.Transform.from_eta(tf.cast(eta_true, tf.float64), TRUTH_FAMILY).inverse()
  redo = transforms.Transform.from_eta(tf.cast(eta_new, tf.float64), TRUTH_FAMILY)
  # Composed in float64 and rounded to 1e-9: `warp` treats a source coordinate a hair outside
  # [0, size - 1] as outside (fill -1), so the round-off of M⁻¹M ≈ I (1e-7 in float32) would
  # blank border pixels that carry ink; rounding makes η' = η* exactly the identity.
  matrix = tf.cast(tf.round(undo.then(redo).matrix * 1e9) / 1e9, tf.float32)
  out = transforms.warp(images, matrix, order=1, fill_value=-1.0, differentiable=False)
  return tf.clip_by_value(out, -1.0, 1.0)


def training_dataset(images, labels, eta_true, seed: int, oracle_table=None) -> tf.data.Dataset:
  """Infinite shuffled (seeded) batches (images float32 `[32, 28, 28, 1]`, labels int64 `[32]`).

  With `oracle_table` (from `truth_table`), every image is re-posed by `oracle_augment` with
  η' ~ P_label drawn statelessly from a per-batch seed of `tf.data.Dataset.random(seed)`.
  """
  ds = (tf.data.Dataset.from_tensor_slices((images, labels, eta_true))
        .shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
        .repeat().batch(BATCH_SIZE))
  if oracle_table is None:
    return ds.map(lambda x, y, e: (x, y)).prefetch(2)
  seeds = tf.data.Dataset.random(seed=seed).batch(2)

  def augment(batch, pair):
    x, y, e = batch
    u = tf.random.stateless_uniform([tf.shape(y)[0], 4], pair, dtype=tf.float32)
    return oracle_augment(x, e, sample_class_eta(oracle_table, y, u)), y

  return tf.data.Dataset.zip((ds, seeds)).map(augment).prefetch(2)


# ------------------------------------------------------------------------------------------------
# The SGM of arm "sgm", trained here when no export is given.

def sgm_config(dataset: str, flagfile: str) -> config_lib.Config:
  """The validated SGM training configuration of `dataset` from a flagfile.

  Args:
    dataset: one of `DATASETS`.
    flagfile: a flagfile path, or the name of a packaged one (`inv_tf.flagfile_path`, e.g.
      "quickstart"); lines `--name=value`, '#' comments ignored.

  Returns:
    The flagfile's Config with `export=True` (arm "sgm" needs the SavedModel).

  Raises:
    FileNotFoundError: neither a file nor a packaged flagfile of that name.
    ValueError: the flagfile cannot be parsed (`ConfigError`), is not an SGM run
      (`--model` other than sgm, or `--stage` other than all), or trains on other data than `dataset` (its `--dataset`, or
      `DATASET_OPTIONS` such as mnist's `--rotation_deg=180`).
  """
  path = flagfile if os.path.isfile(flagfile) else inv_tf.flagfile_path(flagfile)
  with open(path, encoding="utf-8") as f:
    config = config_flags.from_flagfile(f.read()).replace(export=True).validate()
  if (config.model, config.stage) != ("sgm", "all"):
    raise ValueError(f"--sgm_flagfile: {path} has --model={config.model} "
                     f"--stage={config.stage}, need --model=sgm --stage=all")
  expected = {"dataset": dataset, **DATASET_OPTIONS[dataset]}
  for name, value in expected.items():
    if getattr(config, name) != value:
      raise ValueError(f"--sgm_flagfile: {path} has --{name}={getattr(config, name)}, but the "
                       f"classifier's {dataset} needs --{name}={value}")
  return config


def ensure_sgm(dataset: str, config: config_lib.Config, sgm_dir: str = SGM_DIR,
               log=print) -> str:
  """Trains the SGM of `dataset` in `<sgm_dir>/<dataset>` unless it is finished; its export.

  `train_lib.train_unless_done`: a finished run (metrics.json and export/) is used as it is,
  whatever flags it was trained with; an interrupted one resumes from its last checkpoint; a
  missing one trains from scratch (on the whole unlabelled training split).

  Args:
    dataset: one of `DATASETS`.
    config: from `sgm_config`.
    sgm_dir: the parent directory of the SGM runs.
    log: callable for progress lines.

  Returns:
    The SavedModel directory `<sgm_dir>/<dataset>/export`.
  """
  workdir = os.path.join(sgm_dir, dataset)
  if not train_lib.run_finished(config, workdir):
    log(f"{dataset:<16} training its SGM in {workdir} (resumes an interrupted run)")
  train_lib.train_unless_done(config, workdir)
  return os.path.join(workdir, "export")


# ------------------------------------------------------------------------------------------------
# Model and training.

def augmentation_layers(arm: str, sgm_export: str | None, seed: int,
                        sgm_probability: float = 1.0) -> list:
  """The in-model augmentation of `arm` (Keras layers; empty for "none" and "oracle").

  Returns:
    Layers mapping float32 `[B, 28, 28, 1]` in [-1, 1] to the same shape and range (training
    only).
  """
  fill = {"fill_mode": "constant", "fill_value": -1.0}
  if arm in ("none", "oracle"):
    return []
  if arm == "standard":
    return [keras.layers.RandomRotation(15.0 / 360.0, seed=seed, **fill),
            keras.layers.RandomZoom((-0.1, 0.1), seed=seed + 1, **fill),
            keras.layers.RandomTranslation(0.1, 0.1, seed=seed + 2, **fill)]
  if arm == "rotation180":
    return [keras.layers.RandomRotation(0.5, seed=seed, **fill)]
  if arm == "sgm":
    if not sgm_export:
      raise ValueError("arm 'sgm' needs an SGM export (--sgm_export, or --sgm_flagfile to "
                       "train one)")
    return [SymmetryAugmentation(sgm_export, probability=sgm_probability, seed=seed)]
  raise ValueError(f"unknown arm {arm!r}; valid: {', '.join(ARMS)}")


def build_body() -> keras.Model:
  """The CNN: float32 `[B, 28, 28, 1]` -> logits float32 `[B, 10]` (61,034 parameters).

  Three 3×3 conv blocks (32, 64, 64 filters; conv → batch norm → ReLU; max-pool after the first
  two), global average pooling, Dense(64, ReLU), Dense(10). Batch norm matters: without it the
  augmented arms were still under-fitting (training accuracy ~50 %) when early stopping ended them.
  """
  layers = keras.layers

  def block(filters):
    return [layers.Conv2D(filters, 3, padding="same", use_bias=False),
            layers.BatchNormalization(), layers.ReLU()]

  return keras.Sequential([
      keras.Input(IMAGE_SHAPE), *block(32), layers.MaxPooling2D(), *block(64),
      layers.MaxPooling2D(), *block(64), layers.GlobalAveragePooling2D(),
      layers.Dense(64, activation="relu"), layers.Dense(NUM_CLASSES),
  ], name="body")


def build_classifier(augmentation: list, seed: int) -> keras.Model:
  """Augmentation block + CNN; the CNN's initial weights depend on `seed` only (not the arm)."""
  keras.utils.set_random_seed(seed)
  body = build_body()  # built before any augmentation layer can touch a global RNG
  return keras.Sequential([keras.Input(IMAGE_SHAPE), *augmentation, body])


class BestWeights(keras.callbacks.Callback):
  """Early stopping on validation accuracy that always restores the best epoch's weights.

  Best = highest `val_accuracy`, ties broken by the lower `val_loss`, then the earlier epoch.
  Halves the learning rate after `lr_patience` epochs without a new best (not below
  `min_lr`; 0 disables) and stops after `patience` epochs without one. At the end of training
  (early stop or the epoch cap) the model holds the best weights.

  Attributes (after `fit`): best_epoch and stopped_epoch (1-based), best (val_accuracy,
  val_loss), history: list of per-epoch dicts (loss, accuracy, val_loss, val_accuracy, lr).
  """

  def __init__(self, patience: int, lr_patience: int = 0, min_lr: float = MIN_LEARNING_RATE):
    super().__init__()
    self.patience, self.lr_patience, self.min_lr = int(patience), int(lr_patience), min_lr

  def on_train_begin(self, logs=None):
    self.best, self.best_epoch, self.stopped_epoch, self.wait, self.lr_wait = None, 0, 0, 0, 0
    self.best_weights, self.history = None, []

  def on_epoch_end(self, epoch, logs=None):
    logs = logs or {}
    lr = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
    self.history.append({k: float(logs[k]) for k in ("loss", "accuracy", "val_loss",
                                                     "val_accuracy")} | {"lr": lr})
    self.stopped_epoch = epoch + 1
    score = (float(logs["val_accuracy"]), -float(logs["val_loss"]))
    if self.best is None or score > self.best:
      self.best, self.best_epoch, self.wait, self.lr_wait = score, epoch + 1, 0, 0
      self.best_weights = self.model.get_weights()
      return
    self.wait += 1
    self.lr_wait += 1
    if self.lr_patience and self.lr_wait >= self.lr_patience and lr > self.min_lr:
      self.model.optimizer.learning_rate.assign(max(lr * 0.5, self.min_lr))
      self.lr_wait = 0
    if self.wait >= self.patience:
      self.model.stop_training = True

  def on_train_end(self, logs=None):
    if self.best_weights is not None:
      self.model.set_weights(self.best_weights)


def train_and_evaluate(dataset: str, arm: str, seed: int, train, validation, test,
                       sgm_export: str | None = None, sgm_probability: float = 1.0,
                       max_epochs: int = 300, patience: int = 30, lr_patience: int = 10,
                       steps_per_epoch: int = 50) -> tuple[dict, list[dict]]:
  """Trains one classifier to convergence (early stopping) and tests it.

  Args:
    dataset, arm, seed: the row's key (`seed` ≥ 0 fixes weights, batches, augmentation).
    train: (images `[n, 28, 28, 1]`, labels `[n]`, eta_true `[n, 5]`), the labelled subset.
    validation, test: (images, labels, eta_true) of the whole splits.
    sgm_export: SGM SavedModel directory (arm "sgm").
    sgm_probability: float in [0, 1] (arm "sgm").
    max_epochs, patience, lr_patience, steps_per_epoch: see the module docstring.

  Returns:
    (row dict with keys `CSV_FIELDS`, curve rows with keys `CURVE_FIELDS`).
  """
  model = build_classifier(augmentation_layers(arm, sgm_export, seed, sgm_probability), seed)
  model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=["accuracy"])
  table = truth_table(dataset) if arm == "oracle" else None
  ds = training_dataset(*train, seed=seed, oracle_table=table)
  callback = BestWeights(patience, lr_patience)
  callbacks = [callback] + list(EXTRA_CALLBACKS)
  start = time.perf_counter()
  model.fit(ds, epochs=max_epochs, steps_per_epoch=steps_per_epoch,
            validation_data=(validation[0], validation[1]), validation_batch_size=250,
            callbacks=callbacks, verbose=0)
  seconds = time.perf_counter() - start
  _, accuracy = model.evaluate(test[0], test[1], batch_size=250, verbose=0)
  row = {"dataset": dataset, "arm": arm, "seed": int(seed), "num_labels": int(len(train[1])),
         "test_accuracy": round(float(accuracy), 6), "val_accuracy": round(callback.best[0], 6),
         "best_epoch": callback.best_epoch, "stopped_epoch": callback.stopped_epoch,
         "max_epochs": max_epochs, "steps_per_epoch": steps_per_epoch, "patience": patience,
         "lr_patience": lr_patience, "train_seconds": round(seconds, 1),
         "sgm_export": sgm_export if arm == "sgm" else "",
         "sgm_probability": sgm_probability if arm == "sgm" else ""}
  curves = [{"dataset": dataset, "arm": arm, "seed": int(seed), "num_labels": row["num_labels"],
             "epoch": i + 1, **{k: round(v, 6) for k, v in h.items()}}
            for i, h in enumerate(callback.history)]
  return row, curves


# ------------------------------------------------------------------------------------------------
# Results files.

def read_csv(path: str) -> list[dict]:
  """Rows of a CSV written by `write_csv_atomic` (all values str); [] if the file is missing."""
  if not os.path.exists(path):
    return []
  with open(path, newline="", encoding="utf-8") as f:
    return list(csv.DictReader(f))


def write_csv_atomic(rows: list[dict], path: str, fields) -> None:
  """Writes `rows` to `path` via a temporary file in the same directory and `os.replace`."""
  parent = os.path.dirname(os.path.abspath(path))
  os.makedirs(parent, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=parent, prefix=".tmp_", suffix=".csv")
  try:
    with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
      writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
      writer.writeheader()
      for row in rows:
        writer.writerow(row)
    os.chmod(tmp, 0o644)  # mkstemp creates 0600
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def row_key(row: dict) -> tuple:
  """(dataset, arm, seed, num_labels) with seed and num_labels as ints."""
  return (row["dataset"], row["arm"], int(row["seed"]), int(row["num_labels"]))


def side_path(out: str, suffix: str) -> str:
  """`results/x.csv` + "_curves.csv" → `results/x_curves.csv`."""
  return os.path.splitext(out)[0] + suffix


def run(datasets=DATASETS, arms=ARMS, seeds=(0, 1, 2, 3, 4), num_labels: int = 500,
        sgm_exports: dict | None = None, out: str = "results/classifier/classifier.csv",
        log=print, sgm_flagfiles: dict | None = None, sgm_dir: str = SGM_DIR,
        **train_kwargs) -> list[dict]:
  """Trains every missing (dataset, arm, seed) row, seed-major, appending each to `out`.

  Args:
    datasets, arms, seeds: what to run (subsets of `DATASETS`, `ARMS`; ints ≥ 0).
    num_labels: labelled training digits per run.
    sgm_exports: dataset → SGM export directory for arm "sgm" (given: used as it is).
    sgm_flagfiles: dataset → flagfile (path or packaged name, `sgm_config`) for arm "sgm" on the
      datasets without an export: their SGM is trained by `ensure_sgm` in `<sgm_dir>/<dataset>`
      when the first of their missing "sgm" rows comes up (not at all if none is missing), and
      shared by every seed.
    sgm_dir: the parent directory of the SGMs trained here.
    out: results CSV; rows already in it are skipped. `<out stem>.lock` is held (flock) while
      running, so a second run on the same file fails at once instead of overwriting rows; it is
      removed at the end.
    log: callable for progress lines.
    **train_kwargs: `train_and_evaluate`'s sgm_probability, max_epochs, patience, lr_patience,
      steps_per_epoch.

  Returns:
    All rows of `out` after the run.
  """
  sgm_exports = {k: v for k, v in (sgm_exports or {}).items() if v}
  sgm_flagfiles = dict(sgm_flagfiles or {})
  for name in datasets:
    if name not in DATASETS:
      raise ValueError(f"unknown dataset {name!r}; valid: {', '.join(DATASETS)}")
  for arm in arms:
    if arm not in ARMS:
      raise ValueError(f"unknown arm {arm!r}; valid: {', '.join(ARMS)}")
  sgm_configs = {}
  if "sgm" in arms:
    for name in datasets:  # fail fast on a missing or bad export / flagfile, before any training
      if name in sgm_exports or name not in sgm_flagfiles:
        augmentation_layers("sgm", sgm_exports.get(name), 0)
      else:
        sgm_configs[name] = sgm_config(name, sgm_flagfiles[name])
  os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
  with open(side_path(out, ".lock"), "a", encoding="utf-8") as lock:
    try:  # one writer per results file: a second run would overwrite the first one's rows
      fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      raise ValueError(f"another run is writing {out!r} (lock {lock.name!r})") from None
    try:
      return _run_locked(datasets, arms, seeds, num_labels, sgm_exports, out, log, train_kwargs,
                         sgm_configs, sgm_dir)
    finally:
      os.remove(lock.name)  # still held: nobody else can be inside; keeps results/ tidy


def _run_locked(datasets, arms, seeds, num_labels, sgm_exports, out, log, train_kwargs,
                sgm_configs, sgm_dir):
  rows = read_csv(out)
  done = {row_key(r) for r in rows}
  curves_path = side_path(out, "_curves.csv")
  curves = read_csv(curves_path)
  splits = {}
  for seed in seeds:
    for name in datasets:
      todo = [a for a in arms if (name, a, int(seed), int(num_labels)) not in done]
      if not todo:
        continue
      if name not in splits:
        splits[name] = {s: load_split(name, s) for s in ("train", "validation", "test")}
      full_train = splits[name]["train"]
      idx = label_subset(full_train[1], num_labels, int(seed))
      train = tuple(a[idx] for a in full_train)
      for arm in todo:
        if arm == "sgm" and name not in sgm_exports:  # once per dataset: its first missing row
          sgm_exports[name] = ensure_sgm(name, sgm_configs[name], sgm_dir, log)
        row, curve = train_and_evaluate(name, arm, int(seed), train, splits[name]["validation"],
                                        splits[name]["test"], sgm_exports.get(name),
                                        **train_kwargs)
        curves = [c for c in curves if row_key(c) != row_key(row)] + curve
        write_csv_atomic(curves, curves_path, CURVE_FIELDS)  # curves first: a row means done
        rows.append(row)
        write_csv_atomic(rows, out, CSV_FIELDS)
        done.add(row_key(row))
        log(f"{name:<16} {arm:<12} seed {seed}: test {row['test_accuracy']:.4f} "
            f"val {row['val_accuracy']:.4f} best/stop epoch {row['best_epoch']}/"
            f"{row['stopped_epoch']} ({row['train_seconds']:.0f} s)")
  return rows


# ------------------------------------------------------------------------------------------------
# Statistics (`inv_tf.evaluation.stats`: Student-t intervals over seeds).

def summarize(rows: list[dict], num_labels: int | None = None) -> list[dict]:
  """Per dataset: each arm's mean ± CI and the paired differences of sgm against the others.

  Args:
    rows: result rows (values may be str, as read back from the CSV).
    num_labels: keep only rows with this many labels (None: all).

  Returns:
    Dicts with keys dataset, comparison ("arm" or "sgm - X"), name, mean, ci95 (half-width of
    the 95 % Student-t interval, `stats.mean_ci`; nan for one seed), n, and for arms mean
    best/stopped epochs. Accuracies are in [0, 1]; differences are paired by seed
    (`stats.paired_difference`: only seeds present in both arms; a pair with no common seed is
    left out).
  """
  rows = [r for r in rows if num_labels is None or int(r["num_labels"]) == num_labels]
  out = []
  for name in [d for d in DATASETS if any(r["dataset"] == d for r in rows)]:
    acc = {}
    for r in rows:
      if r["dataset"] == name:
        acc.setdefault(r["arm"], {})[int(r["seed"])] = float(r["test_accuracy"])
    for arm in [a for a in ARMS if a in acc]:
      mine = [r for r in rows if r["dataset"] == name and r["arm"] == arm]
      ci = stats.mean_ci(list(acc[arm].values()))
      out.append({"dataset": name, "comparison": "arm", "name": arm, "mean": ci["mean"],
                  "ci95": ci["half_width"], "n": ci["n"],
                  "best_epoch": np.mean([int(r["best_epoch"]) for r in mine]),
                  "stopped_epoch": np.mean([int(r["stopped_epoch"]) for r in mine]),
                  "max_stopped_epoch": max(int(r["stopped_epoch"]) for r in mine)})
    globals_ = [a for a in GLOBAL_ARMS if a in acc]
    best_global = max(globals_, key=lambda a: np.mean(list(acc[a].values())), default=None)
    if "sgm" not in acc:
      continue
    others = [(a, a) for a in ("none", "standard", "rotation180", "oracle") if a in acc]
    if best_global:
      others.append(("best global", best_global))
    for label, arm in others:
      if not set(acc["sgm"]) & set(acc[arm]):
        continue  # no seed in common: nothing to pair
      ci = stats.paired_difference(acc["sgm"], acc[arm])
      out.append({"dataset": name, "comparison": f"sgm - {label}", "name": arm,
                  "mean": ci["mean"], "ci95": ci["half_width"], "n": ci["n"]})
  return out


def format_summary(summary: list[dict]) -> str:
  """The summary as a plain-text table (accuracies in percentage points)."""
  lines = [f"{'dataset':<16} {'arm / paired difference':<30} {'mean %':>7} {'±95% CI':>8} "
           f"{'n':>2} {'best/stop epoch':>16}"]
  for s in summary:
    label = s["name"] if s["comparison"] == "arm" else (
        s["comparison"] + (f" ({s['name']})" if s["comparison"] == "sgm - best global" else ""))
    epochs = (f"{s['best_epoch']:.0f}/{s['stopped_epoch']:.0f}" if s["comparison"] == "arm"
              else "")
    ci = "" if math.isnan(s["ci95"]) else f"{100 * s['ci95']:.1f}"
    lines.append(f"{s['dataset']:<16} {label:<30} {100 * s['mean']:>7.1f} {ci:>8} {s['n']:>2} "
                 f"{epochs:>16}")
  return "\n".join(lines)


def plot(rows: list[dict], curves: list[dict], summary: list[dict], path: str) -> None:
  """Accuracy per arm (mean, 95 % CI, seeds) and validation curves per dataset, to a PNG."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  names = [d for d in DATASETS if any(r["dataset"] == d for r in rows)]
  if not names:
    return
  fig, axes = plt.subplots(2, len(names), figsize=(6 * len(names), 8), squeeze=False)
  for j, name in enumerate(names):
    ax = axes[0, j]
    arms = [s for s in summary if s["dataset"] == name and s["comparison"] == "arm"]
    for i, s in enumerate(arms):
      seeds = [float(r["test_accuracy"]) for r in rows
               if r["dataset"] == name and r["arm"] == s["name"]]
      ax.scatter(np.full(len(seeds), i) + np.linspace(-0.15, 0.15, len(seeds)), seeds, s=10,
                 color="0.6", zorder=1)
      ax.errorbar(i, s["mean"], yerr=0 if math.isnan(s["ci95"]) else s["ci95"], fmt="o",
                  color="C3" if s["name"] == "sgm" else "C0", capsize=4, zorder=2)
    ax.set_xticks(range(len(arms)), [s["name"] for s in arms])
    ax.set_ylabel("test accuracy (mean, 95% CI, seeds)")
    ax.set_title(f"{name}: {rows[0]['num_labels']} labels")
    ax.grid(alpha=0.3)
    ax = axes[1, j]
    for k, arm in enumerate(ARMS):
      for seed in sorted({int(c["seed"]) for c in curves if c["dataset"] == name}):
        mine = [c for c in curves if c["dataset"] == name and c["arm"] == arm
                and int(c["seed"]) == seed]
        if mine:
          ax.plot([int(c["epoch"]) for c in mine], [float(c["val_accuracy"]) for c in mine],
                  color=f"C{k}", alpha=0.6, lw=0.8, label=arm if seed == 0 else None)
    ax.set_xlabel("epoch (validation check)")
    ax.set_ylabel("validation accuracy")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def report(out: str, num_labels: int | None = None, make_plot: bool = True) -> str:
  """Summarises `out` into `<stem>_summary.csv` (+ PNG); returns the printed table."""
  rows = read_csv(out)
  summary = summarize(rows, num_labels)
  write_csv_atomic(summary, side_path(out, "_summary.csv"),
                   ("dataset", "comparison", "name", "mean", "ci95", "n", "best_epoch",
                    "stopped_epoch", "max_stopped_epoch"))
  if make_plot and rows:
    plot(rows, read_csv(side_path(out, "_curves.csv")), summary, side_path(out, ".png"))
  return format_summary(summary)


# ------------------------------------------------------------------------------------------------
# What the SGM augmentation does, per class (diagnostics).

def diagnose(dataset: str, sgm_export: str, path_stem: str, num_samples: int = 32,
             seed: int = 0) -> list[dict]:
  """Per class: the spread of the SGM's resampled poses η' next to the true P_c's.

  For every validation digit x the export draws `num_samples` resamples (its `resample`
  signature: images and η' [n, B, 5]); per digit the rotation's circular std and the standard
  deviations of tx, ty and log-scale x over the samples are averaged per class, next to the same
  estimates from `num_samples` draws of the class's true P_c per digit (same estimator, so a
  full circle reads ≈ 1.9 rad at n = 32, not ∞; fixed parts read 0). Writes
  `<path_stem>_diagnostics.csv` and `<path_stem>_samples.png`: rows = the first 3 validation
  digits of class 0, then of class 1, …, 9; columns = the digit x | 4 SGM augmentations | 4
  oracle augmentations (white separators), pixel-exact 28×28 cells.

  Returns:
    Rows with keys dataset, label, sgm_rot_sd, true_rot_sd, sgm_tx_sd, true_tx_sd, sgm_ty_sd,
    true_ty_sd, sgm_logscale_sd, true_logscale_sd (radians, normalised units, nats; circular std
    for the rotation).
  """
  images, labels, eta_true = load_split(dataset, "validation")
  module = tf.saved_model.load(sgm_export)
  out = module.resample(x=tf.constant(images), n=tf.constant(num_samples, tf.int32),
                        seed=tf.constant([seed, 7], tf.int32))
  eta = out["eta"].numpy()  # [n, B, 5]
  truths = known_truth.truth_for(dataset, **DATASET_OPTIONS[dataset])
  rng = np.random.default_rng([seed, LABEL_SUBSET_PURPOSE, 1])
  rows = []
  for c in range(NUM_CLASSES):
    e = eta[:, labels == c]  # [n, b, 5]
    t = np.stack([truths[c].sample(rng, num_samples) for _ in range(e.shape[1])], 1)
    row = {"dataset": dataset, "label": c}
    for name, k in (("rot", 2), ("tx", 0), ("ty", 1), ("logscale", 3)):
      for source, values in (("sgm", e), ("true", t)):
        sd = circular.circular_std(values[..., k], axis=0) if k == 2 else values[..., k].std(axis=0)
        row[f"{source}_{name}_sd"] = round(float(np.mean(sd)), 4) + 0.0  # no "-0.0"
    rows.append(row)
  write_csv_atomic(rows, path_stem + "_diagnostics.csv", tuple(rows[0]))

  table = truth_table(dataset)
  rng = np.random.default_rng(seed)
  cell, gap = IMAGE_SHAPE[0], 2
  grid = np.ones((NUM_CLASSES * 3 * (cell + gap), 9 * cell + 2 * gap))  # white separators
  sgm_images = out["images"].numpy()
  for c in range(NUM_CLASSES):
    for k, i in enumerate(np.flatnonzero(labels == c)[:3]):
      new = sample_class_eta(table, np.full(4, c), rng.random((4, 4)).astype(np.float32))
      oracle = oracle_augment(np.repeat(images[i:i + 1], 4, 0),
                              np.repeat(eta_true[i:i + 1], 4, 0), new).numpy()
      row = (3 * c + k) * (cell + gap)
      for j, img in enumerate([images[i], *sgm_images[:4, i], *oracle]):
        col = j * cell + (gap if j >= 1 else 0) + (gap if j >= 5 else 0)
        grid[row:row + cell, col:col + cell] = (img[..., 0] + 1.0) / 2.0
  from PIL import Image  # pylint: disable=g-import-not-at-top  (matplotlib's dependency)
  Image.fromarray(np.round(np.clip(grid, 0.0, 1.0) * 255).astype(np.uint8), mode="L").save(
      path_stem + "_samples.png", optimize=True)
  return rows


# ------------------------------------------------------------------------------------------------
# Command line.

def _parse_list(text: str, valid, what: str) -> list[str]:
  items = [s.strip() for s in text.split(",") if s.strip()]
  bad = [s for s in items if s not in valid]
  if bad or not items:
    raise ValueError(f"--{what}: expected a comma-separated subset of {', '.join(valid)}, "
                     f"got {text!r}")
  return items


def _parse_exports(text: str, datasets) -> dict:
  """"mnist=PATH,mnist_per_class=PATH" (or one PATH for every dataset) → dict."""
  if not text:
    return {}
  if "=" not in text:
    return {name: text for name in datasets}
  exports = {}
  for part in text.split(","):
    name, sep, path = part.partition("=")
    if not sep or name.strip() not in DATASETS or not path.strip():
      raise ValueError(f"--sgm_export: expected DATASET=PATH[,DATASET=PATH], got {part!r}")
    exports[name.strip()] = path.strip()
  return exports


def _parse_flagfiles(text: str) -> dict:
  """"mnist=quickstart,mnist_per_class=PATH" → {dataset: flagfile}; "" → {} (train none)."""
  flagfiles = {}
  for part in [p for p in text.split(",") if p.strip()]:
    name, sep, flagfile = part.partition("=")
    if not sep or not flagfile.strip():
      raise ValueError(f"--sgm_flagfile: expected DATASET=FLAGFILE[,DATASET=FLAGFILE], got "
                       f"{part!r}")
    if name.strip() not in DATASETS:
      raise ValueError(f"--sgm_flagfile: unknown dataset {name.strip()!r}; valid: "
                       f"{', '.join(DATASETS)}")
    flagfiles[name.strip()] = flagfile.strip()
  return flagfiles


def _trained_export(sgm_dir: str, dataset: str) -> str:
  """`<sgm_dir>/<dataset>/export` if it holds a SavedModel, else ""."""
  export = os.path.join(sgm_dir, dataset, "export")
  return export if os.path.exists(os.path.join(export, "saved_model.pb")) else ""


def _parse_args(argv):
  parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
  parser.add_argument("--sgm_export", default="",
                      help="DATASET=PATH[,DATASET=PATH]: SGM export per dataset (or one PATH).")
  parser.add_argument("--sgm_flagfile",
                      default=",".join(f"{k}={v}" for k, v in SGM_FLAGFILES.items()),
                      help="DATASET=FLAGFILE[,...]: for arm sgm on a dataset without "
                           "--sgm_export, train its SGM with this flagfile (a path or a packaged "
                           "name) in SGM_DIR/DATASET, once, when one of its sgm rows is missing. "
                           "Replaces the whole default.")
  parser.add_argument("--sgm_dir", default=SGM_DIR,
                      help="Where the SGMs trained for arm sgm go (one sub-directory per "
                           "dataset; a finished one is reused).")
  parser.add_argument("--datasets", default=",".join(DATASETS))
  parser.add_argument("--arms", default=",".join(ARMS))
  parser.add_argument("--seeds", default="0,1,2,3,4", help="Comma-separated ints >= 0.")
  parser.add_argument("--num_labels", type=int, default=500)
  parser.add_argument("--sgm_probability", type=float, default=1.0)
  parser.add_argument("--max_epochs", type=int, default=300)
  parser.add_argument("--patience", type=int, default=30)
  parser.add_argument("--lr_patience", type=int, default=10)
  parser.add_argument("--steps_per_epoch", type=int, default=50)
  parser.add_argument("--out", default="results/classifier/classifier.csv")
  parser.add_argument("--summarize", action="store_true",
                      help="Only summarise the existing --out (no training).")
  parser.add_argument("--no_plot", action="store_true")
  parser.add_argument("--diagnose", action="store_true",
                      help="Only write per-class SGM-vs-truth pose spreads and sample images "
                           "(<out stem>_<dataset>_diagnostics.csv / _samples.png), no training.")
  return parser.parse_args(argv)


def main(argv=None) -> int:
  """Command-line entry point (see the module docstring); returns the exit status."""
  args = _parse_args(argv)
  try:
    if args.diagnose:
      datasets = _parse_list(args.datasets, DATASETS, "datasets")
      exports = _parse_exports(args.sgm_export, datasets)
      for name in datasets:
        exports[name] = exports.get(name) or _trained_export(args.sgm_dir, name)
        if not exports[name]:
          raise ValueError(f"--diagnose: no --sgm_export for {name} and no SGM trained in "
                           f"{os.path.join(args.sgm_dir, name)}")
        augmentation_layers("sgm", exports[name], 0)  # one-line error on a bad export
        rows = diagnose(name, exports[name], side_path(args.out, f"_{name}"))
        print(" ".join(f"{k:>8}" for k in ("label", "rot_sgm", "rot_true", "tx_sgm", "tx_true",
                                             "ls_sgm", "ls_true")))
        for r in rows:
          print(" ".join(f"{v:>8}" for v in (r["label"], r["sgm_rot_sd"], r["true_rot_sd"],
                                             r["sgm_tx_sd"], r["true_tx_sd"],
                                             r["sgm_logscale_sd"], r["true_logscale_sd"])))
      return 0
    if not args.summarize:
      datasets = _parse_list(args.datasets, DATASETS, "datasets")
      arms = _parse_list(args.arms, ARMS, "arms")
      try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
      except ValueError:
        raise ValueError(f"--seeds: comma-separated integers expected, got {args.seeds!r}")
      if not seeds or min(seeds) < 0:
        raise ValueError(f"--seeds: at least one integer >= 0, got {args.seeds!r}")
      for flag in ("num_labels", "max_epochs", "patience", "steps_per_epoch"):
        if getattr(args, flag) < 1:
          raise ValueError(f"--{flag} must be >= 1, got {getattr(args, flag)}")
      if not 0.0 <= args.sgm_probability <= 1.0:
        raise ValueError(f"--sgm_probability must be in [0, 1], got {args.sgm_probability}")
      run(datasets, arms, seeds, args.num_labels, _parse_exports(args.sgm_export, datasets),
          args.out, log=lambda s: print(s, flush=True),
          sgm_flagfiles=_parse_flagfiles(args.sgm_flagfile), sgm_dir=args.sgm_dir,
          sgm_probability=args.sgm_probability,
          max_epochs=args.max_epochs, patience=args.patience, lr_patience=args.lr_patience,
          steps_per_epoch=args.steps_per_epoch)
    elif not os.path.exists(args.out):
      raise ValueError(f"--summarize: no results file {args.out!r}")
    print(report(args.out, args.num_labels if not args.summarize else None,
                 make_plot=not args.no_plot))
  except (ValueError, OSError, data_lib.DataError, rundir.RunError) as e:
    print(f"error: {str(e).splitlines()[0] if str(e) else type(e).__name__}", file=sys.stderr)
    return 2
  print(f"results: {args.out}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
