r"""Training the VAE family (docs/design.md §8): `--model=vae|augvae|invvae|vae_standard_aug`.

All four train the same convolutional VAE (`inv_tf.models.vae`) by maximising an ELBO with clipped
AdamW and a warm-up cosine schedule (docs/design.md §8.5); they differ in what the VAE sees:

    vae      the training images x
    augvae   SGM resamples of x: x' = Resample(x) with the frozen SGM of `--sgm_dir` (p in
             training mode, so its dropout is active; docs/design.md §8.2); evaluated on real x
    invvae   prototypes: the pixel-space InvVAE bound of `inv_tf.models.inv_vae` (q(η|x) and
             p(η|x̂) of `--sgm_dir` frozen); with `invvae_objective=reference` instead the
             reference's objective, the plain VAE ELBO on prototypes x̂ = T(x, η)⁻¹ with a fresh
             η ~ q(η|x) each step (no p(η|·) term, no gradient through the SGM; §8.3).
             Validation, model selection and the test scores use the pixel-space bound either way
    vae_standard_aug
             standard augmentation (§8.4): rotation U(-15°, 15°), scale factors U(0.9, 1.1)
             in x and y, integer shifts in {-2, -1, 0, 1} pixels, composed rotate · scale ·
             translate and applied as one warp

After training, the test split is scored (in nats per image, on [-1, 1] pixels): the importance-
weighted bound IWLB_K with K = `iwlb_num_samples`, the single-sample ELBO, and the reconstruction
MSE; for the InvVAE also the reference's (non-pixel-space) variants `ref_iwlb` / `ref_elbo`.

Model selection (`vae_keep_best`, on by default): at every validation evaluation the weights with
the best validation ELBO so far are kept in `checkpoints/best/`, and the test scores and the
export use those weights, not the last step's; `vae_patience` = P > 0 stops training once P
evaluations in a row have not improved on the best (early stopping). A VAE with a free per-pixel
σ keeps improving its training ELBO by shrinking σ where its training images never put ink, long
after its validation ELBO has peaked, so the last step overstates how well a small-data VAE
generalises to nothing and the best-by-validation weights are the ones to score.

`VAETask` is the family's task for `inv_tf.training.runner`: a run's model directory has the
layout every task's has (flags.cfg, config.json, run.json, checkpoints/, train/, validation/,
export/, metrics.json); its checkpoints hold the VAE's variables, the optimiser and the step. The
SGM of `--sgm_dir` is read, never written.
"""

import dataclasses
import math
import os

import keras
import tensorflow as tf

from inv_tf import config as config_lib
from inv_tf import data as data_lib
from inv_tf import seeds
from inv_tf import transforms
from inv_tf.config import Config, ConfigError
from inv_tf.evaluation import grids, vae_scores
from inv_tf.export import saved_model
from inv_tf.models.inv_vae import InvVAE
from inv_tf.models.vae import VAE
from inv_tf.training import checkpoints, distribute, preflight, rundir, schedules
from inv_tf.training import task as task_lib
from inv_tf.training.losses import masked_mean
from inv_tf.training.loop import Selection, Stage

STAGE_SEED = 3
@dataclasses.dataclass
class VAEState:
  """Everything a VAE-family checkpoint holds (the SGM of an augvae/invvae run is not in it)."""
  vae: VAE
  optimizer: keras.optimizers.Optimizer
  step: tf.Variable

  def trackables(self) -> dict:
    """{name: trackable} of everything a checkpoint holds (variable lists, not the Keras model:
    see `inv_tf.training.checkpoints`)."""
    return {"vae_variables": list(self.vae.variables), "vae_optimizer": self.optimizer,
            "vae_step": self.step}


def create_vae_state(config: Config, image_shape) -> VAEState:
  """A fresh VAE (all variables built) and its optimiser."""
  vae = VAE(image_shape, latent_dim=config.latent_dim, conv_dims=config.vae_conv_dims,
            dense_dims=config.vae_dense_dims, max_2strides=config.max_2strides,
            mixed_precision=config.mixed_precision, name="vae")
  schedule = schedules.warmup_cosine_decay(config.vae_lr, config.vae_steps,
                                           config.vae_warmup_pct, config.vae_init_lr_mult,
                                           config.vae_final_lr_mult)
  optimizer = keras.optimizers.AdamW(
      schedule, weight_decay=config.vae_weight_decay, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
      global_clipnorm=config.vae_clip_norm, name="vae_adamw")
  optimizer.build(vae.trainable_variables)
  return VAEState(vae, optimizer, tf.Variable(0, dtype=tf.int64, name="vae_step",
                                              trainable=False))


def restore_vae_model(workdir: str, checkpoint: str | None = None):
  """(model, config) of a VAE-family run in `workdir`: the `VAE`, or the `InvVAE` with its SGM.

  Raises:
    ConfigError: no VAE-family run or no checkpoint there.
  """
  config, image_shape = rundir.read_run(workdir)
  if config.model not in config_lib.VAE_MODELS:
    raise ConfigError(f"--model_dir: {workdir!r} holds a --model={config.model} run, not a VAE")
  state = create_vae_state(config, image_shape)
  checkpoints.restore_variables({"vae_variables": list(state.vae.variables)}, workdir, checkpoint)
  if config.model == "invvae":
    return InvVAE(state.vae, load_sgm(config, image_shape)), config
  return state.vae, config


def load_sgm(config: Config, image_shape):
  """The frozen SGM of `--sgm_dir` for an augvae/invvae run (None for the other models).

  Raises:
    ConfigError: no SGM run there (`preflight.check_sgm_dir`), one for images of another shape,
      or no checkpoint of it.
  """
  if config.model not in config_lib.SGM_USING_MODELS:
    return None
  preflight.check_sgm_dir(config, image_shape)  # the run's files, before building the SGM
  sgm = checkpoints.restore_model(config.sgm_dir, flag="sgm_dir")
  sgm.trainable = False
  return sgm


def standard_augmentation(images, seed, order: int = 3):
  """The standard augmentation of docs/design.md §8.4, one warp per image.

  Args:
    images: float32 `[B, H, W, C]` in [-1, 1].
    seed: int32 `[2]`.
    order: interpolation order (1 or 3).

  Returns:
    float32 `[B, H, W, C]`: rotated by U(-15°, 15°), scaled by U(0.9, 1.1) per axis, translated
    by an integer t ∈ {-2, -1, 0, 1} pixels per axis as in docs/design.md §8.4 (composed
    rotate · scale · translate). Our matrices map output to input coordinates, so the content moves by -t, i.e.
    by {-1, 0, 1, 2} pixels; the distribution is that one mirrored.
  """
  shape = tf.shape(images)
  batch, height, width = shape[0], shape[1], shape[2]
  s_rot, s_scale, s_shift = tf.unstack(tf.random.experimental.stateless_split(seed, 3))
  angle = tf.random.stateless_uniform([batch], s_rot, -math.pi / 12, math.pi / 12)
  factor = tf.random.stateless_uniform([batch, 2], s_scale, 0.9, 1.1)
  shift = tf.cast(tf.random.stateless_uniform([batch, 2], s_shift, -2, 2, dtype=tf.int32),
                  tf.float32)
  # One pixel is 2 / (side - 1) in normalised coordinates; a content scale s samples 1/s as much.
  pixel = tf.stack([2.0 / tf.cast(width - 1, tf.float32), 2.0 / tf.cast(height - 1, tf.float32)])
  zeros = tf.zeros([batch, 2])
  family = transforms.get_family("affine_no_shear")

  def make(tx_ty, rot, log_scale):
    eta = tf.concat([tx_ty, rot[:, None], log_scale], axis=1)
    return transforms.Transform.from_eta(eta, family)

  rotate = make(zeros, angle, zeros)
  scale = make(zeros, tf.zeros([batch]), -tf.math.log(factor))
  translate = make(shift * pixel, tf.zeros([batch]), zeros)
  return rotate.then(scale).then(translate).apply(images, order=order)


def make_train_step(state: VAEState, model, config: Config, sgm, strategy=None):
  """The compiled train step: (images [B, H, W, C], step int64 []) → metrics dict.

  `strategy`: the run's `tf.distribute.Strategy` (None: the default, one replica); see
  `inv_tf.training.distribute`.
  """
  base_seed = tf.constant([config.seed, STAGE_SEED], tf.int32)
  variables = state.vae.trainable_variables
  order = config.interpolation_order

  def compute(images, step, replica):
    seed = tf.random.experimental.stateless_fold_in(base_seed, tf.cast(step, tf.int32))
    seed = seeds.replica_seed(seed, replica)
    aug_seed, elbo_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    if config.model == "augvae":
      resampled, _ = sgm.resample(images, 1, aug_seed, training=True)
      images = resampled[0]
    elif config.model == "vae_standard_aug":
      images = standard_augmentation(images, aug_seed, order)
    elbo_model = model
    if config.model == "invvae" and config.invvae_objective == "reference":
      eta = sgm.inference(images, training=False).sample(seed=aug_seed)
      images = tf.stop_gradient(transforms.Transform.from_eta(eta, sgm.family).inverse().apply(
          images, order=order))
      elbo_model = model.vae
    with tf.GradientTape() as tape:
      terms = elbo_model.elbo(images, elbo_seed, training=True)
      loss = -tf.reduce_mean(terms["elbo"])
    metrics = {k: tf.reduce_mean(v) for k, v in terms.items()}
    metrics["loss"] = loss
    return tape.gradient(loss, variables), metrics

  def apply(grads, step):
    grad_norm = tf.linalg.global_norm(grads)
    lr = state.optimizer.learning_rate  # This update's rate (read before applying).
    state.optimizer.apply_gradients(zip(grads, variables))
    return {
        "grad_norm": grad_norm,
        "lr": lr,
        "pixel_sigma": tf.reduce_mean(state.vae.pixel_scale),
        "pixel_sigma_min": tf.reduce_min(state.vae.pixel_scale),
    }

  return distribute.compile_step(strategy or tf.distribute.get_strategy(), compute, apply,
                                config.jit_compile)


def make_eval_fn(model, jit_compile: bool = True):
  """Compiled validation ELBO on real images: (images, mask, seed) → mask-weighted means
  (`jit_compile`: XLA, else a plain `tf.function`)."""

  @tf.function(jit_compile=jit_compile, autograph=False)
  def eval_fn(images, mask, seed):
    terms = model.elbo(images, seed, training=False)
    metrics = {k: masked_mean(v, mask) for k, v in terms.items()}
    metrics["loss"] = -metrics["elbo"]
    return metrics

  return eval_fn


def make_visuals(model, name: str):
  """Summaries: validation x | reconstruction, and 16 samples of the model."""

  def visuals(images, step):
    images = images[:8]
    rows = tf.stack([images, model.reconstruct(images)], axis=1)
    tf.summary.image(f"{name}/x | reconstruction", grids.tile(rows)[None], step=step)
    samples = model.sample(16, tf.constant([0, 11], tf.int32))
    tf.summary.image(f"{name}/samples", grids.tile(tf.reshape(
        samples, [2, 8] + list(samples.shape[1:])))[None], step=step)

  return visuals


class VAETask(task_lib.Task):
  """The VAE family's one stage, named after `config.model` (see the module docstring).

  `finish` adds `<stage>/steps` (steps trained; fewer than `vae_steps` after an early stop) and,
  with `vae_keep_best`, `<stage>/best_step` and `<stage>/best_elbo` (the scored weights' step and
  validation ELBO), loading the best weights; `evaluate` adds `test/<metric>` (see
  `inv_tf.evaluation.vae_scores.evaluate_test`).
  """

  MODELS = config_lib.VAE_MODELS

  @classmethod
  def load_model(cls, model_dir, checkpoint=None):
    return restore_vae_model(model_dir, checkpoint)

  def __init__(self, config: Config):
    super().__init__(config)
    self.sgm = None  # the frozen SGM of --sgm_dir (augvae, invvae)
    self.model = None  # what is trained and scored: the VAE, or the InvVAE around it
    self.selection = None  # the best checkpoint (vae_keep_best)

  def setup(self, image_shape, strategy):
    with strategy.scope():  # Mirrored: every replica's XLA cluster reads its own copy.
      self.sgm = load_sgm(self.config, image_shape)

  def create_state(self, image_shape):
    state = create_vae_state(self.config, image_shape)
    self.model = InvVAE(state.vae, self.sgm) if self.config.model == "invvae" else state.vae
    return state

  def trackables(self, state):
    return state.trackables()

  def plan(self):
    return (task_lib.PlannedStage(self.config.model, "vae_step", self.config.vae_steps),)

  def counters(self, state):
    return (state.step,)

  def stages(self, state, strategy, eval_batches, checkpoint_dir):
    config = self.config
    if config.vae_keep_best:
      self.selection = Selection("elbo", _weights(state), os.path.join(checkpoint_dir, "best"),
                                 config.vae_patience, distribute.is_chief(strategy))
    return [Stage(config.model, make_train_step(state, self.model, config, self.sgm, strategy),
                  make_eval_fn(self.model, config.jit_compile), state.step, config.vae_steps,
                  ("loss", "log_likelihood", "kl"), make_visuals(self.model, config.model),
                  self.selection, variables=tuple(state.vae.trainable_variables))]

  def finish(self, state, results):
    stage = self.config.model
    results[f"{stage}/steps"] = int(state.step.numpy())
    if self.selection is not None:
      results[f"{stage}/best_step"] = self.selection.restore_best(_weights(state))
      results[f"{stage}/best_elbo"] = float(self.selection.best_value.numpy())

  def evaluate(self, state, writers):
    test = vae_scores.evaluate_test(self.model, self.config,
                                    data_lib.load_split(self.config, "test"))
    with writers["validation"].as_default():
      for key, value in test.items():
        tf.summary.scalar(f"test/{key}", value, step=int(state.step.numpy()),
                          description=vae_scores.TEST_DESCRIPTIONS.get(key,
                                                                       f"Test-split {key}."))
    return {f"test/{k}": v for k, v in test.items()}

  def export(self, state, path):
    return saved_model.export_vae(self.model, path, self.config.iwlb_num_samples)


def _weights(state: VAEState) -> dict:
  """The part of a checkpoint the best checkpoint keeps: the VAE's variables."""
  return {"vae_variables": list(state.vae.variables)}
