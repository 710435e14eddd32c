r"""The data-efficiency experiment: SGM once per seed, then the VAE family at several sizes.

    python -m trainers.experiment --flagfile=flags/data_efficiency.cfg --model_dir=DIR [--smoke]

Writes DIR/results.csv and DIR/iwlb_vs_size.png; re-running resumes (finished runs are read back).
"""

import sys

from absl import app
from absl import logging

from inv_tf import data as data_lib
from inv_tf.config import ConfigError
from inv_tf.evaluation import stats
from inv_tf.experiments import data_efficiency
from inv_tf.training import train as train_lib
from trainers import flags as trainer_flags


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  try:
    config = trainer_flags.config_from_flags()
    plan = trainer_flags.plan_from_flags()
    model_dir = trainer_flags.MODEL_DIR.value
    if not model_dir:
      raise ConfigError("--model_dir: required (where the runs, results.csv and the plot go)")
    if trainer_flags.SMOKE.value:
      config, plan = data_efficiency.smoke(config, plan)
    rows = data_efficiency.run(config, plan, model_dir)
  except (ConfigError, data_lib.DataError, train_lib.RunError) as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  claim = data_efficiency.summarise(rows)["claim"]
  print("Test IWLB (nats / image), mean ± 95 % CI half-width over seeds (number of seeds); "
        f"{model_dir}/results.csv")
  print(data_efficiency.markdown_table(rows))
  if claim is None:
    print("AugVAE at a quarter of the data − VAE at all of it: no seed has both rows")
  else:
    print(f"AugVAE@{claim['augvae_size']} − VAE@{claim['vae_size']} (paired by seed): "
          f"{stats.format_ci(claim)} nats — {claim['verdict']}")


if __name__ == "__main__":
  logging.set_verbosity(logging.ERROR)  # Library warnings (e.g. tfds') are not the user's.
  app.run(main)
