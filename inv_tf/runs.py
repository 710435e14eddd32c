"""A run's model directory, read back: its trained model (`load_model`) and its evaluation.

`evaluate_run(model_dir)` (the `inv-tf-evaluate` command, `trainers.evaluate`) restores the run's
model, computes `inv_tf.evaluation.report`'s measures and figures, and writes them to
`out_dir` (PNGs, metrics.json) and to the run's TensorBoard (MODEL_DIR/evaluation). It sits above
`inv_tf.training` (which restores the checkpoints) and `inv_tf.evaluation` (which measures a
model it is given), so that evaluation need not import training (docs/architecture.md).
"""

import json
import os

import tensorflow as tf

from inv_tf import config as config_lib
from inv_tf.evaluation import figures, report
from inv_tf.training import checkpoints, rundir, train


def load_model(model_dir: str, checkpoint: str | None = None) -> tuple:
  """(model, config) of the run in `model_dir`.

  Args:
    model_dir: a run's --model_dir (`inv_tf.config.run_dir` maps an export/ path to it).
    checkpoint: a checkpoint path (e.g. MODEL_DIR/checkpoints/ckpt-3000); default the latest.

  Returns:
    (`inv_tf.models.SGM`, its `Config`) for --model=sgm; (the `VAE`, config) for
    vae/augvae/vae_standard_aug; (the `InvVAE`, config) for invvae.

  Raises:
    ConfigError: `model_dir` holds no training run, or no checkpoint (one line).
  """
  config, _ = rundir.read_run(model_dir)
  return train.TASKS[config.model].load_model(model_dir, checkpoint)


def evaluate_run(model_dir: str, out_dir: str | None = None, num_images: int = 500,
                 data_dir: str | None = None, checkpoint: str | None = None,
                 dataset: str | None = None) -> dict:
  """Evaluates the run in `model_dir`, writes metrics.json and PNGs to `out_dir`, logs to TB.

  `evaluate_run_files` does the same and also returns the paths it wrote.

  Args:
    model_dir: a finished (or interrupted: its latest checkpoint) run's model directory.
    out_dir: where to write (default `model_dir/eval`).
    num_images: test images for the SGM measures.
    data_dir: TFDS data directory override.
    checkpoint: a specific checkpoint path (default the latest).
    dataset: evaluate on this dataset instead of the run's (it must have the run's image shape).

  Returns:
    The metrics (undefined values as None, as written to metrics.json).

  Raises:
    ConfigError: no run / no checkpoint in `model_dir`; DataError: the test data is unavailable.
  """
  return evaluate_run_files(model_dir, out_dir, num_images, data_dir, checkpoint, dataset)[0]


def _checkpoint_path(model_dir: str, checkpoint: str | None) -> str:
  """The checkpoint an evaluation restores: `checkpoint`, else the run's latest."""
  return checkpoint or tf.train.latest_checkpoint(
      os.path.join(config_lib.run_dir(model_dir), "checkpoints"))


def trained_stages(config, checkpoint: str) -> dict:
  """{stage: {"step": trained steps, "steps": the stage's configured steps}} at `checkpoint`.

  Stages: every stage of the run's model (`Task.plan` of the whole run: `inference` and
  `generative` for an SGM run, also one trained with a single --stage; the VAE model's name
  otherwise).
  """
  plan = train.TASKS[config.model](config.replace(stage="all")).plan()
  counters = checkpoints.trained_steps(checkpoint, [p.counter for p in plan])
  return {p.name: {"step": counters.get(p.counter, 0), "steps": p.num_steps} for p in plan}


def check_out_dir(out_dir: str) -> None:
  """Refuses, before any work, an output directory that could not be written.

  Raises:
    ConfigError: `out_dir` (or the first of its ancestors that exists) is not a directory, or
      that ancestor is not writable (one line naming `--out`).
  """
  path = os.path.abspath(out_dir)
  while not os.path.exists(path):
    path = os.path.dirname(path)
  if not os.path.isdir(path):
    which = "exists" if path == os.path.abspath(out_dir) else f"is inside the file {path!r}"
    raise config_lib.ConfigError(f"--out: {out_dir!r} {which} and is not a directory; name a directory")
  if not os.access(path, os.W_OK | os.X_OK):
    raise config_lib.ConfigError(f"--out: cannot write to {path!r} (permission denied)")


def evaluate_run_files(model_dir: str, out_dir: str | None = None, num_images: int = 500,
                       data_dir: str | None = None, checkpoint: str | None = None,
                       dataset: str | None = None) -> tuple:
  """`evaluate_run`, returning (metrics, the evaluated dataset's name, [paths written]): the
  PNGs and metrics.json under `out_dir`, then the TensorBoard directory MODEL_DIR/evaluation.

  An SGM run whose q never trained is refused (ConfigError); one whose p never trained is
  evaluated without p's measures, listed under `skipped` in the metrics. `stages` gives each
  network's trained step.
  """
  out_dir = out_dir or os.path.join(model_dir, "eval")
  check_out_dir(out_dir)
  model, config = load_model(model_dir, checkpoint)
  stages = trained_stages(config, _checkpoint_path(model_dir, checkpoint))
  if config.model in config_lib.VAE_MODELS:
    metrics, pngs = report.evaluate_vae(model, config.replace(dataset=dataset or config.dataset),
                                        data_dir)
    step = config.vae_steps
  else:
    if stages["inference"]["step"] == 0:
      raise config_lib.ConfigError(
          f"--model_dir: {model_dir!r}: q(η|x) has not trained (stage inference at step 0 of "
          f"{config.inference_steps}); nothing to evaluate")
    with_p = stages["generative"]["step"] > 0
    metrics, pngs = report.evaluate_sgm(model, config.replace(dataset=dataset or config.dataset),
                                        num_images, data_dir, with_p=with_p)
    if not with_p:
      metrics["skipped"] = {
          "measures": list(report.P_MEASURES),
          "reason": f"p(η|x̂) has not trained (stage generative at step 0 of "
                    f"{config.generative_steps}); run --stage=generative (or resume --stage=all) "
                    "to train it"}
    step = config.inference_steps + config.generative_steps
  metrics["stages"] = stages
  metrics = report.json_safe(metrics)
  try:
    os.makedirs(out_dir, exist_ok=True)
  except OSError as e:
    raise config_lib.ConfigError(f"--out: cannot create {out_dir!r} ({e.strerror})") from None
  written = []
  for name, png in pngs.items():
    written.append(os.path.join(out_dir, f"{name}.png"))
    figures.write_png(written[-1], png)
  written.append(os.path.join(out_dir, "metrics.json"))
  rundir.write_atomic(written[-1], json.dumps(metrics, indent=2))
  written.append(os.path.join(model_dir, "evaluation"))
  writer = tf.summary.create_file_writer(written[-1])
  with writer.as_default():
    for name, png in pngs.items():
      figures.log_png(f"evaluate/{name}", png, step)
    for key, value in metrics.items():
      if isinstance(value, (int, float)):
        tf.summary.scalar(f"evaluate/{key}", value, step=step,
                          description=report.EVALUATE_DESCRIPTIONS.get(key, ""))
  writer.flush()
  return metrics, dataset or config.dataset, written
