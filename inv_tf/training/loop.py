"""The step loop every training stage runs, and its summaries.

Every stage of every task (`inv_tf.training.task`; run by `inv_tf.training.runner`) runs
`run_stage`: one compiled train step per batch, scalars to `train/` every `log_every` steps,
validation to `validation/` every `eval_interval` steps, the stage's image and histogram
summaries (`visuals`) every `visuals_interval` steps and at the end, a checkpoint every
`checkpoint_every` steps and at the end, a progress line with ETA, and a stop with a one-line
`RunError` (the last good checkpoint kept) when a loss is not finite.
"""

import dataclasses
import os
from typing import Callable

from absl import logging
import numpy as np
import tensorflow as tf

from inv_tf.config import Config
from inv_tf.training import checkpoints, progress, rundir


# What each scalar a stage writes means (TensorBoard shows it under the chart). Keys: (stage,
# metric) first, then the metric alone; the VAE-family stages share "vae".
SCALAR_DESCRIPTIONS = {
    ("inference", "loss"): "Stage-1 objective of q(η|x): x_mse_mult·x_mse + inv_mult·inv_mse "
                           "(+ anchor / align terms when their multipliers are > 0).",
    ("generative", "loss"): "Stage-2 objective of p(η|x̂): −log p(η|x̂) "
                            "+ consistency_mult·consistency.",
    ("vae", "loss"): "−ELBO (nats per image).",
    "x_mse": "Invariance term: mean-pixel squared error between x and x' = x taken to one "
             "random view's prototype and back through another view's pose (0 = every "
             "transformed copy of x has the same prototype).",
    "inv_mse": "Invertibility term: mean-pixel squared error between a transformed copy and "
               "its round trip through its prototype, T(T(x_r, η_q), η_q)⁻¹ (0 = the warps lose "
               "nothing: no content pushed out of the frame or shrunk away).",
    "anchor": "Rotation anchor: 1 − mean cos(θ_q − θ_r) on the random turns θ_r of the copies "
              "(0 when --anchor_mult=0).",
    "align": "Prototype alignment: mean-pixel squared distance of each prototype to the batch's "
             "mean prototype (0 when --align_mult=0).",
    "eta_abs_mean": "Mean |η| that q infers per component (η units: normalised image units, "
                    "radians, ln scale).",
    "log_p": "Mean log p(η_k|x̂_k), η_k ~ q(η|x) and x̂_k the prototype of a randomly transformed "
             "copy (nats; larger = p explains the data's transformations better).",
    "consistency": "Consistency term: mean |log p(η_k|x̂_k) − log p(η_l|x̂_l)| over pairs of "
                   "copies of one image (0 = p gives the same density whichever copy's prototype "
                   "it sees).",
    "grad_norm": "Global norm of the gradient before clipping.",
    "lr": "Learning rate of the stage's main optimiser (warm-up, then cosine).",
    "sigma_lr": "Learning rate of q's σ (its own Adam).",
    "sigma": "Mean σ of q(η|x) (η units).",
    "blur_sigma": "Gaussian blur σ (pixels) applied to the images at this step (annealed to 0).",
    "augment_mult": "Fraction of the transformation bounds used to transform the training copies.",
    "elbo": "Evidence lower bound log p(x) ≥ E[log p(x|z)] − KL (nats per image).",
    "log_likelihood": "E_q(z|x)[log p(x|z)] (nats per image).",
    "kl": "KL(q(z|x) ‖ p(z)) (nats per image).",
    "pixel_sigma": "Mean learned per-pixel σ of the decoder.",
    "pixel_sigma_min": "Smallest learned per-pixel σ of the decoder.",
}

# The validation measures an hparams comparison shows (not every train scalar), per stage.
HPARAMS_METRICS = {"inference": ("loss", "x_mse", "inv_mse"),
                   "generative": ("loss", "log_p", "consistency"),
                   "vae": ("loss", "elbo", "log_likelihood", "kl")}


def scalar_description(stage: str, metric: str) -> str:
  """The TensorBoard description of scalar `stage/metric` ('' for an unknown metric)."""
  family = stage if stage in ("inference", "generative") else "vae"
  return SCALAR_DESCRIPTIONS.get((family, metric), SCALAR_DESCRIPTIONS.get(metric, ""))


def _stages_of(config: Config) -> tuple:
  if config.model != "sgm":
    return (config.model,)  # the VAE family's one stage is named after its model
  return ("inference", "generative") if config.stage == "all" else (config.stage,)


def write_hparams(config: Config, writer):
  """Writes the run's hyperparameters for TensorBoard's HPARAMS tab.

  With the `train` writer of `summary_writers`, the session is the run's directory (trial id =
  its name) and the experiment config lists as metrics the validation measures of the stages
  `config.model` / `config.stage` run (`HPARAMS_METRICS`, group "validation"). Any other writer
  gets the hyperparameters only.
  """
  try:
    from tensorboard.plugins.hparams import api as hp
  except ImportError:  # pragma: no cover - tensorboard is a dependency.
    return
  values = {}
  for field in dataclasses.fields(config):
    value = getattr(config, field.name)
    values[field.name] = ",".join(map(str, value)) if isinstance(value, tuple) else value
  run_writer = getattr(writer, "run_writer", None)
  if run_writer is None:
    with writer.as_default():
      hp.hparams(values)
    return
  metrics = []
  for stage in _stages_of(config):
    family = stage if stage in HPARAMS_METRICS else "vae"
    for name in HPARAMS_METRICS[family]:
      metrics.append(hp.Metric(f"{stage}/{name}", group="validation",
                               display_name=f"validation {stage}/{name}",
                               description=scalar_description(stage, name)))
  with run_writer.as_default():
    hp.hparams_config(hparams=[hp.HParam(name) for name in values], metrics=metrics)
    hp.hparams(values, trial_id=writer.run_name)
  run_writer.flush()


def resume_text(stage: str, step: int, checkpoint: str) -> str:
  """The line a resuming run shows, e.g. "resuming stage generative at step 40 from ckpt-540"."""
  return f"resuming stage {stage} at step {step} from {os.path.basename(checkpoint)}"


# ---------------------------------------------------------------------------------------------
# The loop.


def evaluate_batches(eval_fn, batches, seed_offset: int) -> dict:
  """Mask-weighted mean of `eval_fn`'s metrics over cached evaluation batches.

  Args:
    eval_fn: (images [B, H, W, C] float32, mask [B] float32, seed int32 [2]) → dict of scalars
      (each already a mask-weighted mean over its batch).
    batches: a list of dicts with `image` and `mask` (from `inv_tf.data.batch_for_evaluation`).
    seed_offset: folded into each batch's seed, so evaluations at different steps differ.

  Returns:
    {metric: float}, averaged over the real (unpadded) examples.
  """
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


class FiniteCheck:
  """Whether a list of variables is all finite, as one compiled reduction."""

  def __init__(self, variables):
    self.variables = tuple(variables)
    self._flags = tf.function(
        lambda: tf.stack([tf.reduce_all(tf.math.is_finite(v)) for v in self.variables]),
        autograph=False)

  def non_finite(self, limit: int = 3) -> list:
    """Names of up to `limit` variables holding a NaN or an infinity (empty: all finite)."""
    if not self.variables:
      return []
    flags = self._flags().numpy()
    return [v.name for v, ok in zip(self.variables, flags) if not ok][:limit]


class Selection:
  """Keeps the weights with the best validation score and stops a stage that no longer improves.

  At every evaluation of `run_stage` the validation metric `metric` (larger is better) is compared
  with the best so far; an improvement makes the weights the `checkpoints.BestCheckpoint` in
  `directory`. With `patience` = P > 0 the stage stops once P evaluations in a row have not
  improved on the best, i.e. when step − best step ≥ P · (evaluation interval). The best survives
  interruption: a resumed stage reads the best step and value back from its checkpoint.
  """

  def __init__(self, metric: str, trackables: dict, directory: str, patience: int = 0,
               chief: bool = True):
    """Args: `metric` a key of the stage's validation metrics; `trackables` what to save (e.g.
    {"vae_variables": [...]}); `directory` the best checkpoint's directory; `patience` ≥ 0
    (0 = never stop early); `chief` False: track but never write."""
    self.metric, self.patience = metric, int(patience)
    self.best = checkpoints.BestCheckpoint(trackables, directory, chief)

  @property
  def best_step(self) -> tf.Variable:
    return self.best.step

  @property
  def best_value(self) -> tf.Variable:
    return self.best.value

  @property
  def path(self) -> str | None:
    """The best checkpoint's path (None before the first evaluation)."""
    return self.best.path

  def update(self, step: int, metrics: dict) -> bool:
    """Records the evaluation at `step`; True if it is the best so far (and was saved)."""
    value = float(metrics[self.metric])
    if not value > float(self.best.value.numpy()):
      return False
    self.best.save(step, value)
    return True

  def exhausted(self, step: int, eval_every: int) -> bool:
    """True when `patience` evaluations since the best have not improved on it."""
    best = int(self.best.step.numpy())
    return self.patience > 0 and best >= 0 and step - best >= self.patience * eval_every

  def restore_best(self, trackables: dict) -> int:
    """Loads the best weights into `trackables` (same structure as at construction); returns the
    best step (-1 and nothing loaded if no evaluation was saved)."""
    return self.best.restore_into(trackables)


@dataclasses.dataclass
class Stage:
  """One training stage for `run_stage`.

  Attributes:
    name: summary prefix and progress label (e.g. `inference`, `vae`).
    step_fn: (images, step int64 []) → dict of scalar metrics, including `loss`.
    eval_fn: see `evaluate_batches`.
    step_var: int64 variable counting this stage's finished steps (checkpointed).
    num_steps: the stage's last step.
    log_metrics: metric names shown on the progress line.
    visuals: (validation images, step) → None, writes image/histogram summaries (may be None).
    selection: a `Selection` (best checkpoint by a validation metric, early stopping), or None.
    variables: the variables the stage trains; checked to be finite at every log step and before
      every checkpoint, so a diverged model is never saved (a NaN parameter can leave the loss
      finite, e.g. when NaN η warp every pixel to the fill value).
  """
  name: str
  step_fn: Callable
  eval_fn: Callable
  step_var: tf.Variable
  num_steps: int
  log_metrics: tuple
  visuals: Callable | None = None
  selection: Selection | None = None
  variables: tuple = ()


def run_stage(stage: Stage, train_iter, eval_batches, config: Config, manager, writers,
              checkpoint_number: Callable[[], int], chief: bool = True) -> dict:
  """Trains `stage` from its step variable to `num_steps`; returns the last validation metrics.

  `train_iter` yields global batches (or per-replica values of a distributed dataset); a
  non-`chief` task shows no progress line and writes no visuals (its writers are no-ops).

  Raises:
    RunError: a non-finite loss (names the step and the non-finite terms).
  """
  name, num_steps = stage.name, stage.num_steps
  start = int(stage.step_var.numpy())
  eval_every = config.eval_interval(num_steps)
  visuals_every = config.visuals_interval(num_steps)
  selection = stage.selection
  if start >= num_steps or (selection is not None and selection.exhausted(start, eval_every)):
    logging.info("%s: already trained (%d/%d steps), skipping", name, start, num_steps)
    return evaluate_batches(stage.eval_fn, eval_batches, start)
  bar = progress.Progress(f"stage {name}", num_steps, start, enabled=chief)
  finite = FiniteCheck(stage.variables)
  checked = start  # the parameters were finite after this step
  sums, count, last_eval = {}, 0, {}
  for step in range(start, num_steps):
    batch = next(train_iter)
    metrics = stage.step_fn(batch["image"], tf.constant(step, tf.int64))
    loss = float(metrics["loss"])
    if not np.isfinite(loss):
      bad = [k for k, v in metrics.items() if not np.isfinite(float(v))]
      raise rundir.RunError(
          f"stage {name}: non-finite loss at step {step} (terms: {', '.join(bad)}); the last "
          f"good checkpoint is kept in {manager.directory}")
    stage.step_var.assign(step + 1)
    for k, v in metrics.items():
      sums[k] = sums.get(k, 0.0) + float(v)
    count += 1
    done = step + 1
    logging_step = done % config.log_every == 0 or done == num_steps
    eval_step = done % eval_every == 0 or done == num_steps
    if logging_step or eval_step or done % config.checkpoint_every == 0:
      bad = finite.non_finite()  # before anything of this step is logged, kept or saved
      if bad:
        raise rundir.RunError(
            f"stage {name}: diverged between steps {checked} and {done}: non-finite parameters "
            f"({', '.join(bad)}) with a finite loss; nothing after step {checked} was saved, the "
            f"last good checkpoint is kept in {manager.directory} (lower the learning rate and "
            "re-run)")
      checked = done
    if logging_step:
      with writers["train"].as_default():
        for k, v in sums.items():
          tf.summary.scalar(f"{name}/{k}", v / count, step=done,
                            description=scalar_description(name, k))
      sums, count = {}, 0
    if eval_step:
      if not last_eval:  # the first evaluation compiles the validation step: say so
        bar.status("compiling the validation step …")
      last_eval = evaluate_batches(stage.eval_fn, eval_batches, done)
      with writers["validation"].as_default():
        for k, v in last_eval.items():
          tf.summary.scalar(f"{name}/{k}", v, step=done, description=scalar_description(name, k))
      if selection is not None:
        selection.update(done, last_eval)
        with writers["validation"].as_default():
          tf.summary.scalar(f"{name}/best_{selection.metric}", float(selection.best_value.numpy()),
                            step=done, description=f"Best validation {selection.metric} so far "
                            "(the checkpoint that is scored and exported).")
    # Early stopping is decided at evaluation steps (the best only changes there), which were
    # checked for finite parameters above.
    stopping = selection is not None and selection.exhausted(done, eval_every)
    if (stage.visuals is not None and chief
        and (done % visuals_every == 0 or done == num_steps or stopping)):
      with writers["validation"].as_default():
        stage.visuals(eval_batches[0]["image"], done)
    if done % config.checkpoint_every == 0 or done == num_steps or stopping:
      checkpoints.save_checkpoint(manager, checkpoint_number())
    bar.update(done, {k: metrics[k] for k in stage.log_metrics})
    if stopping:
      logging.info("%s: validation %s has not improved for %d evaluations since step %d; "
                   "stopping at step %d", name, selection.metric, selection.patience,
                   int(selection.best_step.numpy()), done)
      break
  bar.close({k: v for k, v in last_eval.items() if k in stage.log_metrics})
  return last_eval


def summary_writers(workdir: str, chief: bool = True) -> dict:
  """TensorBoard writers `train`, `validation` and `run` under `workdir` (no-op if not chief).

  `run` writes to `workdir` itself: the hparams session (`write_hparams`, which finds it as the
  `train` writer's `run_writer`, with the run's name as `run_name`).
  """
  if not chief:
    writers = {k: tf.summary.create_noop_writer() for k in ("train", "validation", "run")}
  else:
    writers = {k: tf.summary.create_file_writer(os.path.join(workdir, k))
               for k in ("train", "validation")}
    writers["run"] = tf.summary.create_file_writer(workdir)
  writers["train"].run_writer = writers["run"]
  writers["train"].run_name = os.path.basename(os.path.normpath(workdir))
  return writers


def summary_text(config: Config, workdir: str, results: dict) -> str:
  """The short final summary a trainer prints: outputs, final metrics, the TensorBoard command."""
  what = f"--model={config.model}" + (f" --stage={config.stage}" if config.model == "sgm" else "")
  lines = [f"Finished {what} on --dataset={config.dataset} in {workdir}"]
  for key, value in sorted(results.items()):
    if key != "export_path":
      lines.append(f"  {key:<28} {value:.5g}")
  if "export_path" in results:
    lines.append(f"  SavedModel: {results['export_path']}")
  lines.append(f"  Effective flags: {os.path.join(workdir, 'flags.cfg')}")
  lines.append(f"  TensorBoard: tensorboard --logdir {workdir}")
  return "\n".join(lines)
