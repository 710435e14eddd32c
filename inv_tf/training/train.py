r"""Training the SGM: `train_and_evaluate(config, workdir)` runs stage 1, stage 2, or both.

What a run writes to `workdir` (the trainer's `--model_dir`):

    flags.cfg            the effective flags: `python -m trainers.train --flagfile=flags.cfg`
                         reproduces the run
    run.json             architecture and image shape; a later run with another is refused
    checkpoints/         `tf.train.CheckpointManager` checkpoints of both nets, the three
                         optimisers and the stage step counters (resume = re-run the command)
    train/, validation/  TensorBoard logs: every loss term, learning rates, σ, blur σ,
                         log p(η|x̂); image grids x | prototype | resamples; η histograms; hparams
    export/              the SavedModel (see `inv_tf.export`)
    metrics.json         the final validation metrics

Randomness: every train step draws from the stateless seed fold_in(fold_in(seed, stage), step), so
a resumed run makes the same random choices as an uninterrupted one from the resumed step on.

Optimisation (SPEC §4.5, §6): stage 1 clips q's gradients (except σ) by global norm and applies
AdamW with a warm-up cosine schedule; σ has its own Adam (warm-up from σ_lr to 3σ_lr, cosine to
σ_lr/3). Stage 2 freezes q and trains p with clipped AdamW and its own schedule. Each train step
is one `tf.function(jit_compile=True)`.
"""

import dataclasses
import json
import os

from absl import logging
import keras
import numpy as np
import tensorflow as tf

from inv_tf import config as config_lib
from inv_tf import data as data_lib
from inv_tf import transforms
from inv_tf.config import Config, ConfigError
from inv_tf.evaluation import grids
from inv_tf.export import saved_model
from inv_tf.models.sgm import SGM
from inv_tf.training import losses, progress, schedules

STAGE_SEEDS = {"inference": 1, "generative": 2}


class RunError(RuntimeError):
  """The run cannot go on (e.g. a non-finite loss); the message is one line."""


# ---------------------------------------------------------------------------------------------
# Work directory.


def _write_atomic(path: str, text: str):
  tmp = f"{path}.tmp"
  with open(tmp, "w", encoding="utf-8") as f:
    f.write(text)
  os.replace(tmp, path)


def check_compatible(config: Config, image_shape) -> None:
  """Refuses flag combinations the data cannot support (ConfigError naming the flags)."""
  if transforms.get_family(config.family).has_colour and image_shape[-1] != 3:
    raise ConfigError(f"--family={config.family} transforms colour and needs RGB images, but "
                      f"--dataset={config.dataset} has {image_shape[-1]} channel(s)")
  if min(image_shape[:2]) < 2:
    raise ConfigError(f"--dataset={config.dataset}: images of shape {list(image_shape)} are too "
                      "small to warp")


def prepare_workdir(config: Config, workdir: str, image_shape) -> None:
  """Creates `workdir`, refuses one that holds a run of another architecture, writes flags.cfg.

  Raises:
    ConfigError: `workdir` is not writable, or holds a run with another architecture / image
      shape (the message names the first difference).
  """
  try:
    os.makedirs(workdir, exist_ok=True)
    probe = os.path.join(workdir, ".write_test")
    with open(probe, "w") as f:
      f.write("ok")
    os.remove(probe)
  except OSError as e:
    raise ConfigError(f"--model_dir: cannot write to {workdir!r} ({e.strerror})") from None
  run_file = os.path.join(workdir, "run.json")
  run = {"architecture": config.architecture(), "image_shape": list(image_shape)}
  if os.path.exists(run_file):
    with open(run_file, encoding="utf-8") as f:
      previous = json.load(f)
    keys = list(run["architecture"]) + [
        k for k in previous["architecture"] if k not in run["architecture"]]
    for key in keys:  # in Config.architecture() order: `family` before `bounds`.
      old, new = previous["architecture"].get(key), run["architecture"].get(key)
      if old != new:
        raise ConfigError(
            f"--model_dir: {workdir!r} holds a run with {key}={old}, but this run has "
            f"{key}={new}; use another --model_dir or the same configuration")
    if previous["image_shape"] != run["image_shape"]:
      raise ConfigError(
          f"--model_dir: {workdir!r} holds a model for images of shape "
          f"{previous['image_shape']}, but --dataset={config.dataset} has {list(image_shape)}")
  else:
    _write_atomic(run_file, json.dumps(run, indent=2))
  _write_atomic(os.path.join(workdir, "flags.cfg"), config.to_flagfile())


# ---------------------------------------------------------------------------------------------
# Data.


def dataset_options(config: Config) -> dict:
  """The `inv_tf.data.load` options a config sets (only those that differ from the default)."""
  options = {}
  if config.rotation_deg:
    options["rotation_deg"] = config.rotation_deg
  if config.num_train:
    options["num_train"] = config.num_train
  return options


def load_split(config: Config, split: str) -> tf.data.Dataset:
  """The unbatched split of the config's dataset."""
  options = dict(dataset_options(config))
  if split != "train":
    options.pop("num_train", None)
  return data_lib.load(config.dataset, split, seed=config.seed, data_dir=config.data_dir or None,
                       **options)


# ---------------------------------------------------------------------------------------------
# Model state.


@dataclasses.dataclass
class TrainState:
  """Everything a checkpoint holds."""
  model: SGM
  inference_optimizer: keras.optimizers.Optimizer
  sigma_optimizer: keras.optimizers.Optimizer
  generative_optimizer: keras.optimizers.Optimizer
  inference_step: tf.Variable
  generative_step: tf.Variable

  def checkpoint(self) -> tf.train.Checkpoint:
    return tf.train.Checkpoint(
        **model_trackables(self.model),
        inference_optimizer=self.inference_optimizer, sigma_optimizer=self.sigma_optimizer,
        generative_optimizer=self.generative_optimizer, inference_step=self.inference_step,
        generative_step=self.generative_step)


def model_trackables(model: SGM) -> dict:
  """The model's variables as checkpoint children.

  Keras 3 layers are not fully visible to `tf.train.Checkpoint` (sub-layers held in Python lists
  are not tracked), so checkpoints hold the variable lists explicitly; their order is fixed by the
  architecture, which `run.json` pins.
  """
  return {"inference_variables": list(model.inference.variables),
          "generative_variables": list(model.generative.variables)}


def create_state(config: Config, image_shape) -> TrainState:
  """A fresh model and its optimisers (all variables created, so restores are immediate)."""
  model = SGM(config, image_shape)
  inf_schedule = schedules.WarmupCosine(
      config.inference_lr, config.inference_steps, config.inference_warmup_pct,
      config.inference_init_lr_mult, config.inference_final_lr_mult)
  sigma_schedule = schedules.WarmupCosine(
      3 * config.sigma_lr, config.inference_steps, config.inference_warmup_pct, 1 / 3, 1 / 9)
  gen_schedule = schedules.WarmupCosine(
      config.generative_lr, config.generative_steps, config.generative_warmup_pct,
      config.generative_init_lr_mult, config.generative_final_lr_mult)
  inference_optimizer = keras.optimizers.AdamW(
      inf_schedule, weight_decay=config.inference_weight_decay, beta_1=0.9, beta_2=0.999,
      epsilon=1e-8, global_clipnorm=config.inference_clip_norm, name="inference_adamw")
  sigma_optimizer = keras.optimizers.Adam(sigma_schedule, epsilon=1e-8, name="sigma_adam")
  generative_optimizer = keras.optimizers.AdamW(
      gen_schedule, weight_decay=config.generative_weight_decay, beta_1=0.9, beta_2=0.999,
      epsilon=1e-8, global_clipnorm=config.generative_clip_norm, name="generative_adamw")
  inference_optimizer.build(model.inference.main_variables)
  sigma_optimizer.build(model.inference.sigma_variables)
  generative_optimizer.build(model.generative.trainable_variables)
  return TrainState(model, inference_optimizer, sigma_optimizer, generative_optimizer,
                    tf.Variable(0, dtype=tf.int64, name="inference_step", trainable=False),
                    tf.Variable(0, dtype=tf.int64, name="generative_step", trainable=False))


def restore_model(workdir: str, checkpoint: str | None = None) -> SGM:
  """The trained SGM of a finished (or interrupted) run in `workdir`.

  Args:
    workdir: the run's model directory.
    checkpoint: a checkpoint path (e.g. `workdir/checkpoints/ckpt-3000`); default the latest.

  Raises:
    ConfigError: `workdir` has no run (flags.cfg / run.json) or no checkpoint.
  """
  flag_path, run_path = os.path.join(workdir, "flags.cfg"), os.path.join(workdir, "run.json")
  if not (os.path.exists(flag_path) and os.path.exists(run_path)):
    raise ConfigError(f"--model_dir: {workdir!r} holds no SGM run (no flags.cfg / run.json)")
  with open(flag_path, encoding="utf-8") as f:
    config = config_lib.from_flagfile(f.read())
  with open(run_path, encoding="utf-8") as f:
    image_shape = tuple(json.load(f)["image_shape"])
  model = SGM(config, image_shape)
  latest = checkpoint or tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints"))
  if latest is None:
    raise ConfigError(f"--model_dir: {workdir!r} has no checkpoint to restore")
  status = tf.train.Checkpoint(**model_trackables(model)).restore(latest)
  status.expect_partial().assert_existing_objects_matched()
  return model


# ---------------------------------------------------------------------------------------------
# Steps.


def make_inference_step(state: TrainState, config: Config):
  """The compiled stage-1 step: (images [B, H, W, C], step int64 []) → metrics dict."""
  q = state.model.inference
  base_seed = tf.constant([config.seed, STAGE_SEEDS["inference"]], tf.int32)
  main_vars, sigma_vars = q.main_variables, q.sigma_variables

  @tf.function(jit_compile=True)
  def step_fn(images, step):
    seed = tf.random.experimental.stateless_fold_in(base_seed, tf.cast(step, tf.int32))
    blur = schedules.blur_sigma(step, config.blur_sigma_init, config.inference_steps,
                                config.blur_end_pct)
    mult = schedules.ramp(step, config.inference_steps, config.augment_warmup_pct)
    with tf.GradientTape() as tape:
      loss, metrics = losses.stage1_loss(q, images, seed, config, blur_sigma=blur,
                                         augment_mult=mult, training=True)
    grads = tape.gradient(loss, main_vars + sigma_vars)
    metrics["grad_norm"] = tf.linalg.global_norm(grads[:len(main_vars)])
    state.inference_optimizer.apply_gradients(zip(grads[:len(main_vars)], main_vars))
    state.sigma_optimizer.apply_gradients(zip(grads[len(main_vars):], sigma_vars))
    metrics["lr"] = schedules.warmup_cosine(
        step, config.inference_lr, config.inference_steps, config.inference_warmup_pct,
        config.inference_init_lr_mult, config.inference_final_lr_mult)
    metrics["sigma_lr"] = schedules.warmup_cosine(
        step, 3 * config.sigma_lr, config.inference_steps, config.inference_warmup_pct, 1 / 3,
        1 / 9)
    metrics["sigma"] = tf.reduce_mean(q.sigma)
    metrics["blur_sigma"] = blur
    metrics["augment_mult"] = mult
    return metrics

  return step_fn


def make_generative_step(state: TrainState, config: Config):
  """The compiled stage-2 step: (images, step) → metrics dict (q frozen)."""
  q, p = state.model.inference, state.model.generative
  base_seed = tf.constant([config.seed, STAGE_SEEDS["generative"]], tf.int32)
  variables = p.trainable_variables

  @tf.function(jit_compile=True)
  def step_fn(images, step):
    seed = tf.random.experimental.stateless_fold_in(base_seed, tf.cast(step, tf.int32))
    with tf.GradientTape() as tape:
      loss, metrics = losses.stage2_loss(q, p, images, seed, config, training=True)
    grads = tape.gradient(loss, variables)
    metrics["grad_norm"] = tf.linalg.global_norm(grads)
    state.generative_optimizer.apply_gradients(zip(grads, variables))
    metrics["lr"] = schedules.warmup_cosine(
        step, config.generative_lr, config.generative_steps, config.generative_warmup_pct,
        config.generative_init_lr_mult, config.generative_final_lr_mult)
    return metrics

  return step_fn


def make_eval_fns(state: TrainState, config: Config):
  """Compiled validation losses (no blur, full augmentation range, no dropout)."""
  q, p = state.model.inference, state.model.generative

  @tf.function(jit_compile=True)
  def inference_eval(images, mask, seed):
    return losses.stage1_loss(q, images, seed, config, training=False, mask=mask)[1]

  @tf.function(jit_compile=True)
  def generative_eval(images, mask, seed):
    return losses.stage2_loss(q, p, images, seed, config, training=False, mask=mask)[1]

  return {"inference": inference_eval, "generative": generative_eval}


# ---------------------------------------------------------------------------------------------
# Summaries.


def write_visuals(model: SGM, images: tf.Tensor, step: int, prefix: str, num_resamples: int = 6):
  """Image grid x | prototype | resamples and η histograms for a few validation images.

  Tags start with `prefix` (the stage's name), so the two stages' summaries do not collide.
  """
  images = images[:8]
  x_hat, eta_q = model.prototype(images)
  resampled, eta_p = model.resample(images, num_resamples, tf.constant([0, 7], tf.int32))
  rows = tf.concat([images[:, None], x_hat[:, None], tf.transpose(resampled, [1, 0, 2, 3, 4])],
                   axis=1)
  tf.summary.image(f"{prefix}/x | prototype | resamples", grids.tile(rows)[None], step=step)
  names = model.family.parameters
  for i, name in enumerate(names):
    tf.summary.histogram(f"{prefix}/eta_q/{name}", eta_q[:, i], step=step)
    tf.summary.histogram(f"{prefix}/eta_p/{name}", tf.reshape(eta_p[..., i], [-1]), step=step)


def write_hparams(config: Config, writer):
  try:
    from tensorboard.plugins.hparams import api as hp
  except ImportError:  # pragma: no cover - tensorboard is a dependency.
    return
  values = {}
  for field in dataclasses.fields(config):
    value = getattr(config, field.name)
    values[field.name] = ",".join(map(str, value)) if isinstance(value, tuple) else value
  with writer.as_default():
    hp.hparams(values)


# ---------------------------------------------------------------------------------------------
# The loop.


def _evaluate(eval_fn, batches, seed_offset: int) -> dict:
  """Mean of eval_fn's metrics over the cached validation batches (padding masked out)."""
  totals, weight = {}, 0.0
  for i, batch in enumerate(batches):
    real = float(tf.reduce_sum(batch["mask"]))
    if real == 0:
      continue
    metrics = eval_fn(batch["image"], batch["mask"], tf.constant([seed_offset, i], tf.int32))
    for k, v in metrics.items():
      totals[k] = totals.get(k, 0.0) + float(v) * real
    weight += real
  return {k: v / max(weight, 1.0) for k, v in totals.items()}


def _run_stage(name, step_fn, eval_fn, step_var, num_steps, train_iter, eval_batches, state,
               config, manager, writers, log_metrics):
  start = int(step_var.numpy())
  if start >= num_steps:
    logging.info("%s: already trained (%d/%d steps), skipping", name, start, num_steps)
    return _evaluate(eval_fn, eval_batches, num_steps)
  bar = progress.Progress(f"stage {name}", num_steps, start)
  eval_every = config.eval_interval(num_steps)
  sums, count, last_eval = {}, 0, {}
  for step in range(start, num_steps):
    batch = next(train_iter)
    metrics = step_fn(batch["image"], tf.constant(step, tf.int64))
    loss = float(metrics["loss"])
    if not np.isfinite(loss):
      bad = [k for k, v in metrics.items() if not np.isfinite(float(v))]
      raise RunError(f"stage {name}: non-finite loss at step {step} (terms: {', '.join(bad)}); "
                     f"the last good checkpoint is kept in {manager.directory}")
    step_var.assign(step + 1)
    for k, v in metrics.items():
      sums[k] = sums.get(k, 0.0) + float(v)
    count += 1
    done = step + 1
    if done % config.log_every == 0 or done == num_steps:
      with writers["train"].as_default():
        for k, v in sums.items():
          tf.summary.scalar(f"{name}/{k}", v / count, step=done)
      sums, count = {}, 0
    if done % eval_every == 0 or done == num_steps:
      last_eval = _evaluate(eval_fn, eval_batches, done)
      with writers["validation"].as_default():
        for k, v in last_eval.items():
          tf.summary.scalar(f"{name}/{k}", v, step=done)
        write_visuals(state.model, eval_batches[0]["image"], done, name)
    if done % config.checkpoint_every == 0 or done == num_steps:
      manager.save(checkpoint_number=int(state.inference_step.numpy() + state.generative_step.numpy()))
    bar.update(done, {k: metrics[k] for k in log_metrics})
  bar.close({k: v for k, v in last_eval.items() if k in log_metrics})
  return last_eval


def train_and_evaluate(config: Config, workdir: str) -> dict:
  """Trains (or resumes) the SGM stages of `config.stage` in `workdir`, then exports it.

  Args:
    config: the run's configuration (validated here).
    workdir: the model directory (created if needed).

  Returns:
    Final validation metrics, keys `inference/<metric>` and `generative/<metric>` for the stages
    that ran in this call, plus `export_path`.

  Raises:
    ConfigError: bad configuration or an incompatible `workdir`.
    inv_tf.data.DataError: the data cannot be loaded.
    RunError: training diverged (non-finite loss).
  """
  config.validate()
  train_ds = load_split(config, "train")
  image_shape = tuple(train_ds.element_spec["image"].shape)
  check_compatible(config, image_shape)
  if config.stage == "generative" and not tf.train.latest_checkpoint(
      os.path.join(workdir, "checkpoints")):
    raise ConfigError(f"--stage=generative: {workdir!r} has no trained inference network; "
                      "run --stage=inference (or --stage=sgm) first")
  prepare_workdir(config, workdir, image_shape)
  keras.utils.set_random_seed(config.seed)
  state = create_state(config, image_shape)
  manager = tf.train.CheckpointManager(state.checkpoint(), os.path.join(workdir, "checkpoints"),
                                       max_to_keep=config.max_checkpoints)
  if manager.latest_checkpoint:
    state.checkpoint().restore(manager.latest_checkpoint).assert_existing_objects_matched()
    logging.info("Resumed from %s (stage 1 step %d, stage 2 step %d)", manager.latest_checkpoint,
                 int(state.inference_step.numpy()), int(state.generative_step.numpy()))
  writers = {k: tf.summary.create_file_writer(os.path.join(workdir, k))
             for k in ("train", "validation")}
  write_hparams(config, writers["train"])

  # Resume the data stream where it stopped: skip the batches earlier calls consumed.
  consumed = int(state.inference_step.numpy() + state.generative_step.numpy())
  train_iter = iter(data_lib.batch_for_training(train_ds, config.batch_size,
                                                seed=config.seed).skip(consumed))
  val_ds = data_lib.batch_for_evaluation(load_split(config, "validation"), config.eval_batch_size)
  eval_batches = list(val_ds.take(config.num_eval_batches))
  eval_fns = make_eval_fns(state, config)
  results = {}

  if config.stage in ("sgm", "inference"):
    metrics = _run_stage("inference", make_inference_step(state, config), eval_fns["inference"],
                         state.inference_step, config.inference_steps, train_iter, eval_batches,
                         state, config, manager, writers, ("loss", "x_mse", "sigma"))
    results.update({f"inference/{k}": v for k, v in metrics.items()})
  if config.stage in ("sgm", "generative"):
    if int(state.inference_step.numpy()) == 0:
      raise ConfigError(f"--stage=generative: {workdir!r} has no trained inference network; "
                        "run --stage=inference (or --stage=sgm) first")
    metrics = _run_stage("generative", make_generative_step(state, config),
                         eval_fns["generative"], state.generative_step, config.generative_steps,
                         train_iter, eval_batches, state, config, manager, writers,
                         ("loss", "log_p", "mae"))
    results.update({f"generative/{k}": v for k, v in metrics.items()})
  for writer in writers.values():
    writer.flush()
  if config.export:
    results["export_path"] = saved_model.export_sgm(state.model, os.path.join(workdir, "export"))
  _write_atomic(os.path.join(workdir, "metrics.json"), json.dumps(results, indent=2))
  return results


def summary_text(config: Config, workdir: str, results: dict) -> str:
  """The short final summary a trainer prints: outputs, final metrics, the TensorBoard command."""
  lines = [f"Finished --stage={config.stage} on --dataset={config.dataset} in {workdir}"]
  for key, value in sorted(results.items()):
    if key != "export_path":
      lines.append(f"  {key:<28} {value:.5g}")
  if "export_path" in results:
    lines.append(f"  SavedModel: {results['export_path']}")
  lines.append(f"  Effective flags: {os.path.join(workdir, 'flags.cfg')}")
  lines.append(f"  TensorBoard: tensorboard --logdir {workdir}")
  return "\n".join(lines)
