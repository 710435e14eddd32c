r"""Evaluates a trained run: every measure and figure of `inv_tf.evaluation.report`.

    python -m trainers.evaluate --model_dir=DIR [--dataset=NAME] [--num_images=500] [--out=DIR]
    inv-tf-evaluate --model_dir=DIR …                                   (installed)

For an SGM run: invariance ratios, the circular spread of p's rotation (R̄, deviation, flipped
mass, per label), iterated prototyping; on known-truth data (`inv_tf.data.truth_for`) the
per-class truth recovery of `inv_tf.evaluation.truth`; for aug_dsprites the pixel-latent KS
statistics of resamples vs data; figures eta_sweep / orbits / eta_marginals / iterated_norms /
rotation_strips / truth_recovery / latent_densities.
For a VAE-family run: test IWLB, ELBO, reconstruction MSE, samples and reconstructions.
Writes metrics.json and the PNGs under --out (default MODEL_DIR/eval) and logs the figures to the
run's TensorBoard (MODEL_DIR/evaluation). Prints a short table: each headline measure, its bar
where the README states one and whether it is met (`report.summary_table`), then the paths
written; every measure is in metrics.json.
"""

from absl import app
from absl import flags

from inv_tf.config import ConfigError
from trainers import cli

_MODEL_DIR = flags.DEFINE_string("model_dir", None, "A trained run's model directory.")
_OUT = flags.DEFINE_string("out", None, "Output directory (default MODEL_DIR/eval).")
_NUM_IMAGES = flags.DEFINE_integer("num_images", 500, "Test images for the SGM measures.")
_DATASET = flags.DEFINE_string("dataset", None, "Evaluate on this dataset instead of the run's "
                               "(same image shape).")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "TFDS data directory (default: the run's).")
_CHECKPOINT = flags.DEFINE_string("checkpoint", None, "Checkpoint to evaluate (default: latest).")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  try:
    if not _MODEL_DIR.value:
      raise ConfigError("--model_dir: required")
    if _NUM_IMAGES.value < 1:
      raise ConfigError(f"--num_images: must be >= 1, got {_NUM_IMAGES.value}")
  except ConfigError as e:
    cli.error_exit(e)
  # TensorFlow (seconds to import) only once the flags are known to be usable.
  # pylint: disable=g-import-not-at-top
  from inv_tf import data as data_lib
  from inv_tf import runs
  from inv_tf.evaluation import report
  # pylint: enable=g-import-not-at-top
  try:
    metrics, dataset, written = runs.evaluate_run_files(
        _MODEL_DIR.value, _OUT.value, _NUM_IMAGES.value, _DATA_DIR.value, _CHECKPOINT.value,
        _DATASET.value)
  except (ConfigError, data_lib.DataError) as e:
    cli.error_exit(e)
  print(report.summary_table(metrics, dataset, written))


def run():
  """The `inv-tf-evaluate` console script."""
  cli.run(main, __doc__, [("Flags", [_MODEL_DIR, _OUT, _NUM_IMAGES, _DATASET, _DATA_DIR,
                                     _CHECKPOINT])])


if __name__ == "__main__":
  run()
