"""Tests of inv_tf.config_flags: the Config's flags, and flagfiles read with absl's parsers."""

from absl import flags as absl_flags
import pytest

from inv_tf import config as config_lib
from inv_tf import config_flags
from inv_tf.config import Config, ConfigError


def test_a_flagfile_reads_back_the_config_that_wrote_it():
  config = Config(seed=3, inference_hidden_dims=(64, 32), generative_lr=2e-3, export=False,
                  dataset="mnist_per_class", spline_tails="learned")
  text = "# a comment\n\n" + config.to_flagfile()
  assert config_flags.from_flagfile(text) == config


def test_a_flagfile_is_not_validated_until_asked():
  config = config_flags.from_flagfile("--model=augvae\n")  # no --sgm_dir yet
  with pytest.raises(ConfigError, match="--sgm_dir"):
    config.validate()
  assert config.replace(sgm_dir="runs/x").validate().sgm_dir == "runs/x"


@pytest.mark.parametrize("text, message", [
    ("--no_such_flag=1\n", r"^flagfile: unknown flag --no_such_flag$"),
    ("batch_size 3\n", r"^flagfile: cannot parse line 'batch_size 3'$"),
    ("--batch_size=three\n", r"^flagfile: .*batch_size.*"),
    ("--inference_hidden_dims=8,x\n",
     r"^--inference_hidden_dims: expected a comma-separated list of numbers, got 8,x$"),
])
def test_a_bad_flagfile_is_one_line_naming_the_problem(text, message):
  with pytest.raises(ConfigError, match=message) as raised:
    config_flags.from_flagfile(text)
  assert "\n" not in str(raised.value)


def test_old_names_in_a_flagfile_are_read_silently_as_the_new_ones(capsys):
  config = config_flags.from_flagfile("--bounds_mult=0.25\n--stage=vae_aug\n")
  assert config.generative_augment_range == 0.25 and config.model == "vae_standard_aug"
  assert capsys.readouterr().err == ""


def test_every_field_has_one_flag_with_its_help_and_the_old_names_are_hidden():
  flag_values = absl_flags.FlagValues()
  defined = config_flags.define(flag_values)
  assert list(defined.fields) == list(config_lib.FIELDS)
  for name, holder in defined.fields.items():
    assert flag_values[name].help == config_flags.HELP[name]
  assert set(defined.deprecated) == set(config_lib.RENAMED_FIELDS)
  flag_values(["prog", "--seed=4", "--bounds_mult=0.5"])
  warnings = []
  config = config_flags.read(defined, warn=warnings.append)
  assert config.seed == 4 and config.generative_augment_range == 0.5
  assert warnings == ["--bounds_mult is deprecated; use --generative_augment_range"]
