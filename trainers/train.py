r"""Trains the SGM (stage 1 then stage 2, or one of them) or a VAE-family model, and exports it.

    python -m trainers.train --flagfile=flags/quickstart.cfg --model_dir=DIR [--flag=value …]
    inv-tf-train --flagfile=quickstart --model_dir=DIR [--flag=value …]   (installed; any directory)

Re-running the same command resumes from the latest checkpoint in --model_dir.
"""

from absl import app

from inv_tf.catalog import DataError
from inv_tf.config import ConfigError
from inv_tf.training import preflight
from inv_tf.training.rundir import RunError
from trainers import cli
from trainers import flags as trainer_flags

# What refuses a run: each is one line, printed as `error: …` with exit status 2.
REFUSALS = (ConfigError, DataError, RunError)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  try:
    config = trainer_flags.config_from_flags()
    model_dir = trainer_flags.MODEL_DIR.value
    if not model_dir:
      raise ConfigError("--model_dir: required (where checkpoints, logs and the export go)")
    preflight.check(config, model_dir)
  except REFUSALS as e:
    cli.error_exit(e)
  # The library, and with it TensorFlow (seconds to import), only once the run has passed the
  # checks that need neither (Config.validate, preflight.check): a bad command line is refused at
  # once.
  # pylint: disable=g-import-not-at-top
  from inv_tf.training import loop
  from inv_tf.training import train as train_lib
  # pylint: enable=g-import-not-at-top
  try:
    results = train_lib.train_and_evaluate(config, model_dir)
  except REFUSALS as e:
    cli.error_exit(e)
  print(loop.summary_text(config, model_dir, results))


def run():
  """The `inv-tf-train` console script."""
  cli.run(main, __doc__, trainer_flags.help_groups())


if __name__ == "__main__":
  run()
