"""What the data-efficiency experiment runs: its models and the `Plan` (sizes × seeds × models).

Pure Python (no TensorFlow, no numpy), so `trainers.experiment` defines its flags and rejects a
bad command line before the library, and with it TensorFlow, is imported.
"""

import dataclasses

from inv_tf import config as config_lib
from inv_tf.config import ConfigError

# results.csv's `model` names, in table order: the --model names, plus invvae_ref (the InvVAE
# trained with the reference's objective).
MODELS = ("vae", "augvae", "invvae", "invvae_ref", "vae_standard_aug")
# Names of before 0.2.0 (config_lib.LEGACY_STAGES), still accepted in --models and read in
# results.csv.
RENAMED_MODELS = {old: new for old, (new, _) in config_lib.LEGACY_STAGES.items()
                  if old != new and new in MODELS}
# The models that need the seed's SGM.
SGM_MODELS = ("augvae", "invvae", "invvae_ref")
# The Config fields each experiment model sets: its --model, and for invvae_ref the objective.
MODEL_FIELDS = {"vae": {"model": "vae"}, "augvae": {"model": "augvae"},
                "invvae": {"model": "invvae"}, "vae_standard_aug": {"model": "vae_standard_aug"},
                "invvae_ref": {"model": "invvae", "invvae_objective": "reference"}}


def upgrade_models(models) -> tuple:
  """(`models` with the names of `RENAMED_MODELS` replaced, [one deprecation line per old name]).

  Args:
    models: experiment model names (strings), e.g. --models' values or results.csv's column.
  """
  warnings = [f"--models={old} is deprecated; use {new}" for old, new in RENAMED_MODELS.items()
              if old in models]
  return tuple(RENAMED_MODELS.get(m, m) for m in models), warnings


@dataclasses.dataclass(frozen=True)
class Plan:
  """What the experiment runs.

  Attributes:
    sizes: training-set sizes, ints > 0 (ascending); the SGM trains on the smallest.
    seeds: random seeds, ints.
    models: a non-empty subset of MODELS.
  """
  sizes: tuple
  seeds: tuple
  models: tuple = MODELS

  def validate(self) -> "Plan":
    """Returns self; raises ConfigError (one line naming the flag) if the plan is invalid."""
    if not self.sizes or any(n < 1 for n in self.sizes):
      raise ConfigError(f"--sizes: need positive training-set sizes, got {list(self.sizes)}")
    if not self.seeds:
      raise ConfigError("--seeds: need at least one seed")
    unknown = [m for m in self.models if m not in MODELS]
    if unknown or not self.models:
      raise ConfigError(f"--models: unknown {unknown or 'empty list'}; valid: {', '.join(MODELS)}")
    return self
