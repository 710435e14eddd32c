"""Tests for `inv_tf.experiments.plan`: the data-efficiency experiment's models and plan.

(That it imports without TensorFlow is checked with the config and flags in tests/test_cli.py.)
"""

import pytest

from inv_tf.config import ConfigError
from inv_tf.experiments.plan import (MODEL_FIELDS, MODELS, RENAMED_MODELS, SGM_MODELS, Plan,
                                      upgrade_models)


def test_valid_plan_validates_to_itself():
  plan = Plan(sizes=(64, 128), seeds=(0,))
  assert plan.validate() is plan
  assert plan.models == MODELS == ("vae", "augvae", "invvae", "invvae_ref", "vae_standard_aug")


def test_old_model_names_are_upgraded_with_one_warning_each():
  models, warnings = upgrade_models(["vae", "vae_aug", "augvae"])
  assert models == ("vae", "vae_standard_aug", "augvae")
  assert warnings == ["--models=vae_aug is deprecated; use vae_standard_aug"]
  assert upgrade_models(list(MODELS)) == (MODELS, [])
  assert all(old not in MODELS and new in MODELS for old, new in RENAMED_MODELS.items())


@pytest.mark.parametrize("plan, match", [
    (Plan(sizes=(), seeds=(0,)), r"^--sizes: need positive training-set sizes, got \[\]"),
    (Plan(sizes=(100, -5), seeds=(0,)), r"^--sizes: .*\[100, -5\]"),
    (Plan(sizes=(0,), seeds=(0,)), r"^--sizes: "),
    (Plan(sizes=(100,), seeds=()), r"^--seeds: need at least one seed"),
    (Plan(sizes=(100,), seeds=(0,), models=("vae", "nope")), r"^--models: unknown \['nope'\]"),
    (Plan(sizes=(100,), seeds=(0,), models=()), r"^--models: unknown empty list"),
])
def test_invalid_plan_raises_naming_the_flag(plan, match):
  with pytest.raises(ConfigError, match=match):
    plan.validate()


def test_every_model_has_its_config_fields_and_the_sgm_models_are_models():
  assert set(MODEL_FIELDS) == set(MODELS)
  assert set(SGM_MODELS) < set(MODELS)
  assert all("model" in fields for fields in MODEL_FIELDS.values())

