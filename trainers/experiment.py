r"""The data-efficiency experiment: SGM once per seed, then the VAE family at several sizes.

    python -m trainers.experiment --flagfile=flags/data_efficiency.cfg --model_dir=DIR [--smoke]
    inv-tf-experiment --flagfile=data_efficiency --model_dir=DIR [--smoke]   (installed)

Writes DIR/results.csv and DIR/iwlb_vs_size.png; re-running resumes (finished runs are read back).
"""

import sys

from absl import app
from absl import flags

from inv_tf.config import ConfigError
from inv_tf.experiments import plan as plan_lib
from trainers import cli
from trainers import flags as trainer_flags

# Which runs to make; the Config flags of trainers.flags give every training setting. Only this
# trainer defines them, so `trainers.train --help` does not list them.
SIZES = flags.DEFINE_list("sizes", ["1000", "2000", "4000"],
                          "Nested training-set sizes (the SGM trains on the smallest).")
SEEDS = flags.DEFINE_list("seeds", ["0", "1"], "Random seeds.")
MODELS = flags.DEFINE_list("models", list(plan_lib.MODELS),
                           "Which VAE-family models to train at every size.")
SMOKE = flags.DEFINE_bool("smoke", False, "A minutes-long version (tiny models, 20 steps per run).")


def plan_from_flags() -> plan_lib.Plan:
  """The experiment's `Plan` from --sizes, --seeds, --models.

  Raises:
    ConfigError: a value is not a list of integers, or the plan is invalid.
  """
  try:
    sizes = tuple(int(v) for v in SIZES.value)
    seeds = tuple(int(v) for v in SEEDS.value)
  except ValueError:
    raise ConfigError("--sizes / --seeds: expected comma-separated integers") from None
  models, warnings = plan_lib.upgrade_models(MODELS.value)
  for warning in warnings:
    print(f"warning: {warning}", file=sys.stderr)
  return plan_lib.Plan(sizes, seeds, models).validate()


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  try:
    config = trainer_flags.config_from_flags()
    plan = plan_from_flags()
    model_dir = trainer_flags.MODEL_DIR.value
    if not model_dir:
      raise ConfigError("--model_dir: required (where the runs, results.csv and the plot go)")
  except ConfigError as e:
    cli.error_exit(e)
  # The library, and with it TensorFlow (seconds to import), only once the command line has
  # passed validation, which needs neither (as in trainers.train).
  # pylint: disable=g-import-not-at-top
  from inv_tf import data as data_lib
  from inv_tf.evaluation import stats
  from inv_tf.experiments import data_efficiency
  from inv_tf.training import rundir
  # pylint: enable=g-import-not-at-top
  try:
    if SMOKE.value:
      config, plan = data_efficiency.smoke(config, plan)
    rows = data_efficiency.run(config, plan, model_dir)
  except (ConfigError, data_lib.DataError, rundir.RunError) as e:
    cli.error_exit(e)
  claim = data_efficiency.summarise(rows)["claim"]
  print("Test IWLB (nats / image), mean ± 95 % CI half-width over seeds (number of seeds); "
        f"{model_dir}/results.csv")
  print(data_efficiency.markdown_table(rows))
  if claim is None:
    print("AugVAE at a quarter of the data − VAE at all of it: no seed has both rows")
  else:
    print(f"AugVAE@{claim['augvae_size']} − VAE@{claim['vae_size']} (paired by seed): "
          f"{stats.format_ci(claim)} nats — {claim['verdict']}")


def run():
  """The `inv-tf-experiment` console script."""
  groups = trainer_flags.help_groups()
  groups.insert(1, ("Which runs to make", [SIZES, SEEDS, MODELS, SMOKE]))
  cli.run(main, __doc__, groups)


if __name__ == "__main__":
  run()
