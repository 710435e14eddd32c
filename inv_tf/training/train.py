r"""The SGM task (`SGMTask`) and `train_and_evaluate(config, workdir)`, every run's entry point.

`train_and_evaluate` picks the run's task from `config.model` (`TASKS`: the SGM here, the VAE
family's in `inv_tf.training.vae_train`) and runs it with `inv_tf.training.runner.run`,
which documents what a run writes to its model directory. The SGM task trains stage 1 (q(η|x),
`inference`), stage 2 (p(η|x̂), `generative`), or both; its checkpoints hold both nets, the
three optimisers and the two stage step counters; its summaries are every loss term, learning
rates, σ, blur σ, log p(η|x̂), image grids x | prototype | resamples and η histograms; its
export is the SGM's SavedModel (`inv_tf.export`).

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

import keras
import tensorflow as tf

from inv_tf import config as config_lib
from inv_tf import seeds
from inv_tf.config import Config
from inv_tf.evaluation import figures, grids
from inv_tf.export import saved_model
from inv_tf.models.sgm import SGM
from inv_tf.training import (checkpoints, distribute, losses, preflight, runner, schedules,
                             vae_train)
from inv_tf.training import task as task_lib
from inv_tf.training.loop import Stage

STAGE_SEEDS = {"inference": 1, "generative": 2}
# The SGM stages each --stage trains, in order.
STAGES = {"all": ("inference", "generative"), "inference": ("inference",),
          "generative": ("generative",)}


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

  def trackables(self) -> dict:
    """{name: trackable} of everything a checkpoint holds."""
    return dict(
        **checkpoints.model_trackables(self.model),
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

  return distribute.compile_step(strategy or tf.distribute.get_strategy(), compute, apply,
                                config.jit_compile)


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

  return distribute.compile_step(strategy or tf.distribute.get_strategy(), compute, apply,
                                config.jit_compile)


def make_eval_fns(state: TrainState, config: Config):
  """Compiled validation losses (no blur, full augmentation range, no dropout)."""
  q, p = state.model.inference, state.model.generative

  @tf.function(jit_compile=config.jit_compile, autograph=False)
  def inference_eval(images, mask, seed):
    return losses.stage1_loss(q, images, seed, config, training=False, mask=mask)[1]

  @tf.function(jit_compile=config.jit_compile, autograph=False)
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
# The task.


class SGMTask(task_lib.Task):
  """The SGM's stages of `config.stage`: inference (q), generative (p), or both in that order."""

  MODELS = ("sgm",)

  @classmethod
  def load_model(cls, model_dir, checkpoint=None):
    model = checkpoints.restore_model(model_dir, checkpoint)
    return model, model.config

  def check_workdir(self, workdir):
    # A model dir without checkpoint files is refused before TensorFlow (`preflight.check_stage`);
    # here, one whose state file names no existing checkpoint.
    if self.config.stage == "generative" and not checkpoints.latest(workdir):
      raise preflight.no_inference_network(workdir)

  def create_state(self, image_shape):
    return create_state(self.config, image_shape)

  def trackables(self, state):
    return state.trackables()

  def check_restored(self, state, workdir):
    if self.config.stage == "generative" and int(state.inference_step.numpy()) == 0:
      raise preflight.no_inference_network(workdir)

  def plan(self):
    planned = {"inference": task_lib.PlannedStage("inference", "inference_step",
                                                  self.config.inference_steps),
               "generative": task_lib.PlannedStage("generative", "generative_step",
                                                   self.config.generative_steps)}
    return tuple(planned[name] for name in STAGES[self.config.stage])

  def counters(self, state):
    return (state.inference_step, state.generative_step)

  def stages(self, state, strategy, eval_batches, checkpoint_dir):
    config = self.config
    eval_fns = make_eval_fns(state, config)
    visuals = lambda prefix: (lambda images, step: write_visuals(
        state.model, images, step, prefix, mask=eval_batches[0]["mask"]))
    specs = {
        "inference": lambda: Stage(
            "inference", make_inference_step(state, config, strategy), eval_fns["inference"],
            state.inference_step, config.inference_steps, ("loss", "x_mse", "sigma"),
            visuals("inference"), variables=tuple(state.model.inference.trainable_variables)),
        "generative": lambda: Stage(
            "generative", make_generative_step(state, config, strategy), eval_fns["generative"],
            state.generative_step, config.generative_steps, ("loss", "log_p", "consistency"),
            visuals("generative"), variables=tuple(state.model.generative.trainable_variables)),
    }
    return [specs[name]() for name in STAGES[config.stage]]

  def export(self, state, path):
    return saved_model.export_sgm(state.model, path)


# The task of each --model (`inv_tf.config.MODELS`): a new model family adds its Task here.
TASKS = {model: task for task in (SGMTask, vae_train.VAETask) for model in task.MODELS}
if set(TASKS) != set(config_lib.MODELS):
  raise ImportError(f"inv_tf.config.MODELS {sorted(config_lib.MODELS)} and the tasks' models "
                    f"{sorted(TASKS)} differ")


def train_and_evaluate(config: Config, workdir: str) -> dict:
  """Trains (or resumes) the run `config` describes in `workdir`, then exports it.

  The task is the SGM (`SGMTask`, its `--stage`s) for --model=sgm and the VAE family
  (`inv_tf.training.vae_train.VAETask`) for the VAE models; `inv_tf.training.runner.run` runs
  it and documents what `workdir` receives.

  Args:
    config: the run's configuration (validated here).
    workdir: the model directory (created if needed).

  Returns:
    Final validation metrics, keys `<stage>/<metric>` for the stages that ran in this call (for
    the SGM `inference/…` and `generative/…`; the VAE family adds its own, see
    `inv_tf.training.vae_train`), plus `export_path`.

  Raises:
    ConfigError: bad configuration or an incompatible `workdir`.
    inv_tf.data.DataError: the data cannot be loaded.
    RunError: training diverged (non-finite loss), or a write failed.
  """
  config.validate()  # before the model picks the task: it names a bad --model
  return runner.run(TASKS[config.model](config), config, workdir)


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
