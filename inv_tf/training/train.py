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

Optimisation (docs/design.md §4.5, §6): stage 1 clips q's gradients (except σ) by global norm
and applies AdamW with a warm-up cosine schedule; σ has its own Adam (warm-up from σ_lr to 3σ_lr, cosine to
σ_lr/3). Stage 2 freezes q and trains p with clipped AdamW and its own schedule. Each train step
is one `tf.function(jit_compile=True)`.
"""

import dataclasses
import json
import os

from absl import logging
import keras
import tensorflow as tf

from inv_tf import config as config_lib
from inv_tf import data as data_lib
from inv_tf import seeds
from inv_tf.config import Config, ConfigError
from inv_tf.evaluation import figures, grids
from inv_tf.export import saved_model
from inv_tf.models.sgm import SGM
from inv_tf.training import distribute, losses, progress, schedules, vae_train
from inv_tf.training.checkpoints import model_trackables
from inv_tf.training.loop import (Stage, check_checkpoint_dir, check_compatible, prepare_workdir,
                                  remove_partial_checkpoints, restore_latest, resume_text,
                                  run_stage, summary_writers, workdir_lock, write_atomic,
                                  write_flags, write_hparams, writing)

STAGE_SEEDS = {"inference": 1, "generative": 2}


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


def create_state(config: Config, image_shape) -> TrainState:
  """A fresh model and its optimisers (all variables created, so restores are immediate)."""
  model = SGM(config, image_shape)
  inf_schedule = schedules.warmup_cosine_decay(
      config.inference_lr, config.inference_steps, config.inference_warmup_pct,
      config.inference_init_lr_mult, config.inference_final_lr_mult)
  sigma_schedule = schedules.warmup_cosine_decay(
      3 * config.sigma_lr, config.inference_steps, config.inference_warmup_pct, 1 / 3, 1 / 9)
  gen_schedule = schedules.warmup_cosine_decay(
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


# ---------------------------------------------------------------------------------------------
# Steps.


def make_inference_step(state: TrainState, config: Config, strategy=None):
  """The compiled stage-1 step: (images [B, H, W, C], step int64 []) → metrics dict.

  `strategy`: the run's `tf.distribute.Strategy` (None: the default, one replica); see
  `inv_tf.training.distribute` for the multi-replica semantics.
  """
  q = state.model.inference
  base_seed = tf.constant([config.seed, STAGE_SEEDS["inference"]], tf.int32)
  main_vars, sigma_vars = q.main_variables, q.sigma_variables

  def compute(images, step, replica):
    seed = tf.random.experimental.stateless_fold_in(base_seed, tf.cast(step, tf.int32))
    seed = seeds.replica_seed(seed, replica)
    blur = schedules.blur_sigma(step, config.blur_sigma_init, config.inference_steps,
                                config.blur_end_pct)
    mult = schedules.ramp(step, config.inference_steps, config.augment_warmup_pct)
    with tf.GradientTape() as tape:
      loss, metrics = losses.stage1_loss(q, images, seed, config, blur_sigma=blur,
                                         augment_mult=mult, training=True)
    metrics["blur_sigma"] = blur
    metrics["augment_mult"] = mult
    return tape.gradient(loss, main_vars + sigma_vars), metrics

  def apply(grads, step):
    main_grads, sigma_grads = grads[:len(main_vars)], grads[len(main_vars):]
    grad_norm = tf.linalg.global_norm(main_grads)
    # The rates this update uses: read before apply_gradients advances the iteration count.
    lr = state.inference_optimizer.learning_rate
    sigma_lr = state.sigma_optimizer.learning_rate
    state.inference_optimizer.apply_gradients(zip(main_grads, main_vars))
    state.sigma_optimizer.apply_gradients(zip(sigma_grads, sigma_vars))
    return {"grad_norm": grad_norm, "lr": lr, "sigma_lr": sigma_lr,
            "sigma": tf.reduce_mean(q.sigma)}

  return distribute.compile_step(strategy or tf.distribute.get_strategy(), compute, apply)


def make_generative_step(state: TrainState, config: Config, strategy=None):
  """The compiled stage-2 step: (images, step) → metrics dict (q frozen); see above."""
  q, p = state.model.inference, state.model.generative
  base_seed = tf.constant([config.seed, STAGE_SEEDS["generative"]], tf.int32)
  variables = p.trainable_variables

  def compute(images, step, replica):
    seed = tf.random.experimental.stateless_fold_in(base_seed, tf.cast(step, tf.int32))
    seed = seeds.replica_seed(seed, replica)
    with tf.GradientTape() as tape:
      loss, metrics = losses.stage2_loss(q, p, images, seed, config, training=True)
    return tape.gradient(loss, variables), metrics

  def apply(grads, step):
    grad_norm = tf.linalg.global_norm(grads)
    lr = state.generative_optimizer.learning_rate  # This update's rate (read before applying).
    state.generative_optimizer.apply_gradients(zip(grads, variables))
    return {"grad_norm": grad_norm, "lr": lr}

  return distribute.compile_step(strategy or tf.distribute.get_strategy(), compute, apply)


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


def write_visuals(model: SGM, images: tf.Tensor, step: int, prefix: str, num_resamples: int = 6,
                  mask=None, num_eta_samples: int = 8, grid_images: int = 8):
  """A labelled grid x | prototype | resamples and η histograms of a validation batch.

  Args:
    model: the SGM being trained.
    images: float32 `[B, H, W, C]` in [-1, 1], a whole validation batch.
    step: the summary step.
    prefix: the stage's name; every tag starts with it, so the two stages' summaries do not
      collide.
    num_resamples: resamples per image in the grid.
    mask: optional float `[B]`, 1 for real images, 0 for the batch's padding (left out).
    num_eta_samples: η ~ p(η|x̂) drawn per image for the `eta_p` histograms.
    grid_images: images (the first real ones) in the grid.

  Writes `{prefix}/x | prototype | resamples` (a figure: title, rows "image i", column
  headers, lines between the groups), `{prefix}/eta_q/<component>` (q's η of every real image of
  the batch) and `{prefix}/eta_p/<component>` (`num_eta_samples` draws of p per image).
  """
  images = tf.convert_to_tensor(images, tf.float32)
  if mask is not None:
    images = tf.boolean_mask(images, tf.convert_to_tensor(mask) > 0)
  shown = images[:grid_images]
  x_hat_shown = model.prototype(shown)["x_hat"]
  resampled, _ = model.resample(shown, num_resamples, tf.constant([0, 7], tf.int32))
  rows = tf.concat([shown[:, None], x_hat_shown[:, None],
                    tf.transpose(resampled, [1, 0, 2, 3, 4])], axis=1)
  fig = grids.labelled_grid(
      rows, f"{prefix} stage, step {step}: validation image x | prototype x̂ | resamples "
      "T(x̂, η), η ~ p(η|x̂)", [f"image {i + 1}" for i in range(int(shown.shape[0]))],
      ["x", "prototype\nx̂"] + [f"resample\n{k + 1}" for k in range(num_resamples)],
      col_groups=(1, 2))
  figures.log_png(f"{prefix}/x | prototype | resamples", figures.png_bytes(fig), step)
  proto = model.prototype(images)
  x_hat, eta_q = proto["x_hat"], proto["eta"]
  eta_p = model.sample_eta(x_hat, num_eta_samples, tf.constant([0, 8], tf.int32))  # [n, B, D]
  for i, name in enumerate(model.family.parameters):
    tf.summary.histogram(f"{prefix}/eta_q/{name}", eta_q[:, i], step=step,
                         description=f"{name} that q(η|x) infers (its mode) for each of the "
                         f"{int(images.shape[0])} validation images of the batch")
    tf.summary.histogram(f"{prefix}/eta_p/{name}", tf.reshape(eta_p[..., i], [-1]), step=step,
                         description=f"{name} ~ p(η|x̂): {num_eta_samples} draws for each of "
                         f"the {int(images.shape[0])} validation images' prototypes")


# ---------------------------------------------------------------------------------------------
# The loop.


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
  # The strategy first: multi_worker_mirrored must be created before other TensorFlow work.
  strategy = distribute.create_strategy(config)
  if config.stage in config_lib.VAE_STAGES:
    return vae_train.train_and_evaluate(config, workdir, strategy)
  train_ds = data_lib.load_split(config, "train")
  image_shape = tuple(train_ds.element_spec["image"].shape)
  check_compatible(config, image_shape)
  check_checkpoint_dir(workdir)
  if config.stage == "generative" and not tf.train.latest_checkpoint(
      os.path.join(workdir, "checkpoints")):
    raise ConfigError(f"--stage=generative: {workdir!r} has no trained inference network; "
                      "run --stage=inference (or --stage=sgm) first")
  distribute.check_batch_size(config, strategy)
  # The global seed first: tf.data's shuffle takes its seed from it when the dataset is built.
  keras.utils.set_random_seed(config.seed)
  # Batching checks the dataset against the batch size: fail before anything is written.
  train_batches = data_lib.batch_for_training(train_ds, config.batch_size, seed=config.seed)
  chief = distribute.is_chief(strategy)
  with workdir_lock(workdir, chief):  # refuses a second run on the same model dir
    return _run_locked(config, workdir, strategy, image_shape, train_batches, chief)


def run_finished(config: Config, workdir: str) -> bool:
  """Whether `workdir` holds a finished run of `config` (one to read back, not train).

  Finished: `workdir/metrics.json` exists (a run writes it last) and, if `config.export`, so does
  the SavedModel (`workdir/export/saved_model.pb`). The run's flags are not compared with
  `config`.
  """
  exported = os.path.exists(os.path.join(workdir, "export", "saved_model.pb"))
  return os.path.exists(os.path.join(workdir, "metrics.json")) and (exported or not config.export)


def train_unless_done(config: Config, workdir: str) -> dict:
  """`train_and_evaluate`, or the metrics of a run that already finished in `workdir`.

  A finished run (`run_finished`) is read back as it is; anything else is trained or resumed.
  Calling `train_and_evaluate` on a finished run would not retrain it, but would evaluate and
  export it again and rewrite metrics.json.

  Args:
    config: the run's configuration (any stage).
    workdir: the model directory.

  Returns:
    The run's metrics.json contents (dict: metric name → float, plus `export_path` str when it
    exported).

  Raises:
    As `train_and_evaluate`.
  """
  if run_finished(config, workdir):
    with open(os.path.join(workdir, "metrics.json"), encoding="utf-8") as f:
      return json.load(f)
  return train_and_evaluate(config, workdir)


def _run_locked(config, workdir, strategy, image_shape, train_batches, chief) -> dict:
  """`train_and_evaluate` once the model dir is locked: restore, train, export, metrics."""
  ckpt_root = os.path.join(workdir, "checkpoints")
  if chief:
    prepare_workdir(config, workdir, image_shape)
    remove_partial_checkpoints(ckpt_root)
  with strategy.scope():
    state = create_state(config, image_shape)
  with distribute.CheckpointDirectory(ckpt_root, chief) as ckpt_dir:
    manager = tf.train.CheckpointManager(state.checkpoint(), ckpt_dir.path,
                                         max_to_keep=config.max_checkpoints)
    restored = restore_latest(state.checkpoint(), ckpt_root)
    if config.stage == "generative" and int(state.inference_step.numpy()) == 0:
      raise ConfigError(f"--stage=generative: {workdir!r} has no trained inference network; "
                        "run --stage=inference (or --stage=sgm) first")
    if chief:
      write_flags(config, workdir)  # every check passed: this run is the model dir's run now
    if restored:
      stage, step = _resumed_stage(config, state)
      progress.status(resume_text(stage, step, restored), enabled=chief)
    results = _train_stages(config, workdir, state, strategy, manager, train_batches, chief)
  if chief and config.export:
    progress.status(f"exporting the SavedModel to {os.path.join(workdir, 'export')} …")
    with writing("the SavedModel", os.path.join(workdir, "export")):
      results["export_path"] = saved_model.export_sgm(state.model,
                                                      os.path.join(workdir, "export"))
  if chief:
    with writing("metrics", os.path.join(workdir, "metrics.json")):
      write_atomic(os.path.join(workdir, "metrics.json"), json.dumps(results, indent=2))
  return results


def _resumed_stage(config: Config, state: TrainState) -> tuple:
  """(stage name, its step) where a restored run goes on training."""
  inference_step = int(state.inference_step.numpy())
  if config.stage == "inference" or (config.stage == "sgm"
                                     and inference_step < config.inference_steps):
    return "inference", inference_step
  return "generative", int(state.generative_step.numpy())


def _train_stages(config, workdir, state, strategy, manager, train_batches, chief) -> dict:
  """Runs the stages of `config.stage` from the restored state; returns validation metrics."""
  writers = summary_writers(workdir, chief)
  write_hparams(config, writers["train"])

  # Resume the data stream where it stopped: skip the batches earlier calls consumed.
  consumed = int(state.inference_step.numpy() + state.generative_step.numpy())
  train_iter = iter(distribute.distribute_batches(strategy, train_batches.skip(consumed)))
  val_ds = data_lib.batch_for_evaluation(data_lib.load_split(config, "validation"), config.eval_batch_size)
  eval_batches = list(val_ds.take(config.num_eval_batches))
  eval_fns = make_eval_fns(state, config)
  results = {}

  checkpoint_number = lambda: int(state.inference_step.numpy() + state.generative_step.numpy())
  visuals = lambda prefix: (lambda images, step: write_visuals(
      state.model, images, step, prefix, mask=eval_batches[0]["mask"]))
  if config.stage in ("sgm", "inference"):
    stage = Stage("inference", make_inference_step(state, config, strategy),
                  eval_fns["inference"],
                  state.inference_step, config.inference_steps, ("loss", "x_mse", "sigma"),
                  visuals("inference"),
                  variables=tuple(state.model.inference.trainable_variables))
    metrics = run_stage(stage, train_iter, eval_batches, config, manager, writers,
                        checkpoint_number, chief)
    results.update({f"inference/{k}": v for k, v in metrics.items()})
  if config.stage in ("sgm", "generative"):
    if int(state.inference_step.numpy()) == 0:
      raise ConfigError(f"--stage=generative: {workdir!r} has no trained inference network; "
                        "run --stage=inference (or --stage=sgm) first")
    stage = Stage("generative", make_generative_step(state, config, strategy),
                  eval_fns["generative"],
                  state.generative_step, config.generative_steps, ("loss", "log_p", "mae"),
                  visuals("generative"),
                  variables=tuple(state.model.generative.trainable_variables))
    metrics = run_stage(stage, train_iter, eval_batches, config, manager, writers,
                        checkpoint_number, chief)
    results.update({f"generative/{k}": v for k, v in metrics.items()})
  for writer in writers.values():
    writer.flush()
  return results
