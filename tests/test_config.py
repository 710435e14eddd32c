"""`inv_tf.config`: every field describes itself (help text, domain) and is checked in one place.

The property-based tests draw random values of random types for every field: `Config.validate`
either accepts a value its domain contains or raises one line naming the field — never another
exception, never a value outside the domain accepted.
"""

import dataclasses
import json
import math

from hypothesis import given, settings, strategies as st
import pytest

from inv_tf import config as config_lib
from inv_tf import config_flags
from inv_tf.config import Config, ConfigError
from support import examples

PROPERTY = settings(max_examples=examples(300), derandomize=True, deadline=None)


def test_every_field_carries_its_help_text_and_domain():
  for field in dataclasses.fields(Config):
    assert field.metadata["help"].strip(), field.name
    domain = field.metadata["domain"]
    assert str(domain), field.name
    assert domain.error(getattr(Config(), field.name)) is None, field.name  # defaults are valid


def test_the_flags_take_their_help_text_and_list_type_from_the_fields():
  from trainers import flags as trainer_flags
  from absl import flags
  for name, field in config_lib.FIELDS.items():
    assert flags.FLAGS[name].help == field.metadata["help"], name
  assert set(config_lib.INT_LIST_FIELDS) == {
      "inference_hidden_dims", "generative_hidden_dims", "conditioner_hidden_dims",
      "vae_conv_dims", "vae_dense_dims"}
  assert trainer_flags.HELP["batch_size"] == "Global training batch size."


# Each value the issue found accepted (or crashing later), with the domain the error must state.
BAD = [
    (dict(inference_final_lr_mult=-1.0), "inference_final_lr_mult", "> 0"),
    (dict(inference_init_lr_mult=math.inf), "inference_init_lr_mult", "> 0"),
    (dict(generative_final_lr_mult=0.0), "generative_final_lr_mult", "> 0"),
    (dict(vae_final_lr_mult=math.nan), "vae_final_lr_mult", "> 0"),
    (dict(inference_lr=math.inf), "inference_lr", "> 0"),
    (dict(inference_lr=math.nan), "inference_lr", "> 0"),
    (dict(inference_weight_decay=-1e-4), "inference_weight_decay", ">= 0"),
    (dict(generative_weight_decay=math.nan), "generative_weight_decay", ">= 0"),
    (dict(x_mse_mult=math.inf), "x_mse_mult", ">= 0"),
    (dict(inv_mult=-0.1), "inv_mult", ">= 0"),
    (dict(consistency_mult=math.nan), "consistency_mult", ">= 0"),
    (dict(blur_sigma_init=-3.0), "blur_sigma_init", ">= 0"),
    (dict(blur_sigma_init=math.inf), "blur_sigma_init", ">= 0"),
    (dict(bounds=(math.nan,) * 5), "bounds", "> 0"),
    (dict(bounds=(0.25, math.inf, 3.0, 0.25, 0.25)), "bounds", "> 0"),
    (dict(offset=(math.nan,) * 5), "offset", "finite"),
    (dict(seed=2 ** 32), "seed", "[0, 2**32)"),
    (dict(seed=-1), "seed", "[0, 2**32)"),
    (dict(generative_dropout=1.0), "generative_dropout", "[0, 1)"),
    (dict(inference_warmup_pct=1.5), "inference_warmup_pct", "[0, 1]"),
    (dict(rotation_deg=math.nan), "rotation_deg", ">= 0"),
    (dict(init_sigma=0.0), "init_sigma", "> 0"),
    (dict(batch_size=0), "batch_size", ">= 1"),
    (dict(batch_size=16.0), "batch_size", "an integer"),
    (dict(inference_hidden_dims=()), "inference_hidden_dims", "non-empty"),
    (dict(export="yes"), "export", "true or false"),
]


@pytest.mark.parametrize("change, field, domain", BAD, ids=[f"{b[1]}={list(b[0].values())[0]}"
                                                            for b in BAD])
def test_a_value_outside_its_domain_is_one_line_naming_the_field_and_the_domain(
    change, field, domain):
  with pytest.raises(ConfigError) as e:
    Config(**change).validate()
  message = str(e.value)
  assert message.startswith(f"--{field}: must be ") and domain in message, message
  assert "\n" not in message


def _values():
  """Any value a Python caller or a parsed flag could put in a field."""
  number = st.one_of(st.integers(-2 ** 40, 2 ** 40), st.floats(allow_nan=True,
                                                               allow_infinity=True))
  return st.one_of(number, st.booleans(), st.text(max_size=8), st.sampled_from(
      ["sgm", "rotation", "affine", "pixel", "auto", "linear"]),
                   st.lists(number, max_size=7).map(tuple))


@PROPERTY
@given(name=st.sampled_from(sorted(config_lib.FIELDS)), value=_values())
def test_any_value_of_any_field_is_accepted_only_inside_its_domain(name, value):
  config = Config(**{name: value})
  domain = config_lib.domain(name)
  try:
    config.validate()
  except ConfigError as e:
    message = str(e)
    assert "\n" not in message
    assert message.startswith("--"), message
    if domain.error(value) is not None:  # the field's own check comes first for its own value
      assert message == f"--{name}: {domain.error(value)}"
  else:
    assert domain.error(value) is None, (name, value)


@PROPERTY
@given(name=st.sampled_from([n for n, f in config_lib.FIELDS.items()
                             if isinstance(f.metadata["domain"], config_lib.Interval)]),
       value=st.floats(allow_nan=True, allow_infinity=True))
def test_numbers_are_checked_against_their_interval(name, value):
  domain = config_lib.domain(name)
  if domain.integer:
    value = int(value) if math.isfinite(value) else value
  inside = (math.isfinite(value) and
            (value > domain.low if domain.low_open else value >= domain.low) and
            (value < domain.high if domain.high_open else value <= domain.high))
  config = Config(**{name: value})
  if not inside:
    with pytest.raises(ConfigError, match=f"^--{name}: must be "):
      config.validate()
  else:
    try:
      config.validate()
    except ConfigError as e:  # only a check across fields may refuse a value inside the domain
      assert not str(e).startswith(f"--{name}: must be {domain}"), str(e)


def _configs(**fields):
  """Configs with any seed and 5-parameter bounds/offset, plus the given field strategies."""
  return st.builds(Config, seed=st.integers(0, 2 ** 32 - 1),
                   bounds=st.lists(st.floats(1e-3, 10.0), min_size=5, max_size=5).map(tuple),
                   offset=st.lists(st.floats(-5.0, 5.0), min_size=5, max_size=5).map(tuple),
                   **fields)


@PROPERTY
@given(config=_configs(generative_dropout=st.floats(0.0, 0.99),
                      inference_final_lr_mult=st.floats(1e-8, 1.0)))
def test_valid_configs_survive_the_flagfile_round_trip(config):
  config.validate()
  assert config_flags.from_flagfile(config.to_flagfile()) == config


@PROPERTY
@given(config=_configs(inference_hidden_dims=st.lists(st.integers(1, 512), min_size=1,
                                                 max_size=4).map(tuple),
                      generative_dropout=st.floats(0.0, 0.99),
                      inference_lr=st.floats(1e-9, 1.0) | st.integers(1, 3),
                      dataset=st.text(min_size=1, max_size=20),
                      export=st.booleans()))
def test_every_config_survives_the_json_round_trip(config):
  # Not only valid ones: config.json records whatever the run was given.
  assert config_lib.from_json(config.to_json()) == config


def test_from_json_fills_missing_fields_with_defaults_and_refuses_unknown_ones():
  assert config_lib.from_json('{"seed": 4}') == Config(seed=4)
  assert config_lib.from_json('{"bounds": [1, 2]}').bounds == (1.0, 2.0)
  with pytest.raises(ConfigError, match="unknown config field"):
    config_lib.from_json('{"sede": 4}')
  with pytest.raises(ConfigError, match="^config.json: not JSON"):
    config_lib.from_json("--seed=4")
  with pytest.raises(ConfigError, match="^--bounds: expected a list"):
    config_lib.from_json('{"bounds": 1.0}')


def test_the_hidden_flow_defaults_are_fields_and_reach_the_model():
  from inv_tf.models import rq_spline
  from inv_tf.models.sgm import SGM
  assert Config().conditioner_dropout == 0.1 and Config().spline_range == 3.0
  assert config_lib.SPLINE_MIN_BIN_SIZE == rq_spline.DEFAULT_MIN_BIN_SIZE
  config = Config(inference_hidden_dims=(8,), generative_hidden_dims=(8,),
                  conditioner_hidden_dims=(4,), num_flows=1, num_bins=2,
                  conditioner_dropout=0.25, spline_range=2.0)
  sgm = SGM(config, (8, 8, 1))
  assert sgm.generative.conditioner_dropout_rate == 0.25
  assert sgm.generative.range_bound == 2.0
  with pytest.raises(ConfigError, match=r"^--num_bins: 100000 bins .*\(--spline_range\)"):
    Config(num_bins=100000).validate()


# ---------------------------------------------------------------------------------------------
# Renamed flags: an old name still works, with one deprecation warning on the command line and
# silently in a run's files (runs made before the rename).

# (old flag, the Config it gives, the warning it prints)
OLD_FLAGS = [
    ("--bounds_mult=0.25", dict(generative_augment_range=0.25),
     "warning: --bounds_mult is deprecated; use --generative_augment_range"),
    ("--stage=sgm", dict(model="sgm", stage="all"),
     "warning: --stage=sgm is deprecated; use --stage=all (--model=sgm is the default)"),
    ("--stage=vae", dict(model="vae"), "warning: --stage=vae is deprecated; use --model=vae"),
    ("--stage=augvae", dict(model="augvae", sgm_dir="runs/sgm"),
     "warning: --stage=augvae is deprecated; use --model=augvae"),
    ("--stage=invvae", dict(model="invvae", sgm_dir="runs/sgm"),
     "warning: --stage=invvae is deprecated; use --model=invvae"),
    ("--stage=vae_aug", dict(model="vae_standard_aug"),
     "warning: --stage=vae_aug is deprecated; use --model=vae_standard_aug"),
]


@pytest.fixture
def parse_trainer_flags():
  """parse(*args) → the Config `trainers.train` builds from that command line (absl's FLAGS)."""
  from absl import flags
  from trainers import cli
  from trainers import flags as trainer_flags

  def parse(*args):
    flags.FLAGS.unparse_flags()
    cli.parse_flags(["prog", *args])
    return trainer_flags.config_from_flags()

  yield parse
  flags.FLAGS.unparse_flags()


@pytest.mark.parametrize("where", ["command_line", "flagfile"])
@pytest.mark.parametrize("old, want, warning", OLD_FLAGS, ids=[o[0] for o in OLD_FLAGS])
def test_an_old_flag_maps_to_the_new_one_and_warns_once(
    parse_trainer_flags, capsys, tmp_path, where, old, want, warning):
  extra = [f"--sgm_dir={want['sgm_dir']}"] if "sgm_dir" in want else []
  if where == "flagfile":
    (tmp_path / "old.cfg").write_text(f"--seed=3\n{old}\n")
    config = parse_trainer_flags(f"--flagfile={tmp_path / 'old.cfg'}", *extra)
  else:
    config = parse_trainer_flags("--seed=3", old, *extra)
  assert config == Config(seed=3, **want)
  assert capsys.readouterr().err.splitlines() == [warning]
  assert parse_trainer_flags("--seed=3") == Config(seed=3)  # no old flag: no warning
  assert capsys.readouterr().err == ""


def test_an_old_flag_with_its_new_name_is_one_line_error(parse_trainer_flags, tmp_path):
  with pytest.raises(ConfigError, match=r"^--bounds_mult is the deprecated name of "
                     r"--generative_augment_range; give only --generative_augment_range$"):
    parse_trainer_flags("--bounds_mult=0.5", "--generative_augment_range=0.5")
  (tmp_path / "new.cfg").write_text("--generative_augment_range=0.5\n")
  with pytest.raises(ConfigError, match="^--bounds_mult is the deprecated name"):
    parse_trainer_flags(f"--flagfile={tmp_path / 'new.cfg'}", "--bounds_mult=0.5")
  with pytest.raises(ConfigError, match=r"^--stage=vae is deprecated \(use --model=vae\) and "
                     "names a model, but --model is given too"):
    parse_trainer_flags("--stage=vae", "--model=vae")
  # A run's own flags.cfg names --model: an old --stage value with it is refused too.
  (tmp_path / "run.cfg").write_text(Config().to_flagfile())
  with pytest.raises(ConfigError, match="^--stage=vae_aug is deprecated"):
    parse_trainer_flags(f"--flagfile={tmp_path / 'run.cfg'}", "--stage=vae_aug")


def test_a_stage_with_a_vae_model_is_one_line_error(parse_trainer_flags):
  for stage in ("inference", "generative"):
    with pytest.raises(ConfigError, match=rf"^--stage: only --model=sgm trains in stages; "
                       rf"--model=vae trains in one \(leave --stage out\), got --stage={stage}$"):
      parse_trainer_flags("--model=vae", f"--stage={stage}")
  assert parse_trainer_flags("--model=vae", "--stage=all").model == "vae"
  config = parse_trainer_flags("--stage=inference")
  assert (config.model, config.stage) == ("sgm", "inference")


def test_the_old_names_are_not_in_help_and_upgrade_names_is_the_one_table():
  from trainers import flags as trainer_flags
  listed = {holder.name for _, holders in trainer_flags.help_groups() for holder in holders}
  assert not listed & set(config_lib.RENAMED_FIELDS)
  assert set(config_lib.RENAMED_FIELDS.values()) <= set(config_lib.FIELDS)
  assert config_lib.upgrade_names({"bounds_mult": 2.0, "seed": 1}) == (
      {"generative_augment_range": 2.0, "seed": 1},
      ["--bounds_mult is deprecated; use --generative_augment_range"])
  assert config_lib.upgrade_names({"stage": "generative"}) == ({"stage": "generative"}, [])
  for old, (model, stage) in config_lib.LEGACY_STAGES.items():
    assert model in config_lib.MODELS and stage in config_lib.SGM_STAGES
    assert config_lib.upgrade_names({"stage": old})[0] == {"model": model, "stage": stage}
    assert config_lib.upgrade_model(old) == model
  assert config_lib.upgrade_model("vae_standard_aug") == "vae_standard_aug"


@PROPERTY
@given(value=st.floats(1e-3, 10.0), old_stage=st.sampled_from(
    sorted(config_lib.LEGACY_STAGES) + ["inference", "generative"]))
def test_a_run_file_with_old_names_is_read_silently_as_the_new_ones(value, old_stage):
  model, stage = config_lib.LEGACY_STAGES.get(old_stage, ("sgm", old_stage))
  want = Config(generative_augment_range=value, model=model, stage=stage)
  # flags.cfg as written before the renames: no --model, --stage naming the model.
  lines = [line for line in want.to_flagfile().splitlines() if not line.startswith("--model=")]
  flagfile = "\n".join(lines).replace("--generative_augment_range=", "--bounds_mult=").replace(
      "--stage=" + stage, "--stage=" + old_stage)
  assert "generative_augment_range" not in flagfile and "--model" not in flagfile
  assert config_flags.from_flagfile(flagfile) == want
  stored = json.loads(want.to_json())
  stored["bounds_mult"] = stored.pop("generative_augment_range")
  del stored["model"]
  stored["stage"] = old_stage
  assert config_lib.from_json(json.dumps(stored)) == want


def test_a_config_is_checked_once_and_a_replaced_one_again(monkeypatch):
  calls = []
  check = Config._check
  monkeypatch.setattr(Config, "_check", lambda self: calls.append(1) or check(self))
  config = Config(seed=1)
  assert config.validate() is config and config.validate() is config
  assert len(calls) == 1
  assert config == Config(seed=1) and config_lib.from_json(config.to_json()) == config
  with pytest.raises(ConfigError, match="--batch_size"):
    config.replace(batch_size=0).validate()
  assert len(calls) == 2


def test_config_defaults_are_the_paper_mnist_settings():
  c = Config().validate()
  assert c.resolved_bounds == (0.25, 0.25, math.pi, 0.25, 0.25)
  assert c.resolved_offset == (0.0,) * 5
  assert (c.inference_steps, c.generative_steps, c.batch_size, c.n_samples) == (60000, 15000, 512, 5)
  assert c.inference_hidden_dims == (2048, 1024, 512, 256)
  hsv = Config(family="affine_no_shear_hsv")
  assert hsv.resolved_offset[5] == 0.5 and hsv.event_dim == 8


def test_config_round_trips_through_its_flagfile():
  c = Config(family="rotation", bounds=(1.5,), inference_hidden_dims=(32, 16), rotation_deg=90.0,
             symmetrized_loss=False, dataset="npz:/tmp/x.npz")
  assert config_flags.from_flagfile(c.to_flagfile()) == c


@pytest.mark.parametrize("changes,flag", [
    (dict(stage="vae2"), "--stage"), (dict(family="scale"), "--family"),
    (dict(bounds=(1.0, 0.0, 1.0, 1.0, 1.0)), "--bounds"), (dict(bounds=(1.0, 2.0)), "--bounds"),
    (dict(inference_steps=-1), "--inference_steps"), (dict(batch_size=0), "--batch_size"),
    (dict(interpolation_order=2), "--interpolation_order"),
    (dict(blur_filter_size=4), "--blur_filter_size"), (dict(inference_lr=0.0), "--inference_lr"),
    (dict(generative_dropout=1.5), "--generative_dropout"),
    (dict(inference_hidden_dims=()), "--inference_hidden_dims"),
    (dict(stage="generative", generative_steps=0), "--generative_steps"),
    (dict(model="vae", vae_steps=0), "--vae_steps"),
    (dict(model="augvae"), "--sgm_dir"), (dict(model="invvae"), "--sgm_dir"),
    (dict(model="vae", sgm_dir="/tmp/sgm"), "--sgm_dir"),
    (dict(model="vae", vae_conv_dims=()), "--vae_conv_dims"),
    (dict(model="vae", latent_dim=0), "--latent_dim"),
    (dict(model="vae", iwlb_num_samples=0), "--iwlb_num_samples"),
    (dict(model="vae", vae_lr=-1.0), "--vae_lr"),
    (dict(model="vae", vae_warmup_pct=2.0), "--vae_warmup_pct"),
    (dict(generative_coordinates="polar"), "--generative_coordinates"),
    (dict(family="rotation", generative_coordinates="centre"), "--generative_coordinates"),
])
def test_config_validation_names_the_flag(changes, flag):
  with pytest.raises(ConfigError, match=flag):
    Config(**changes).validate()


def test_architecture_lists_shape_relevant_fields_only():
  a = Config().architecture()
  assert a["family"] == "affine_no_shear" and a["bounds"] == list(Config().resolved_bounds)
  assert Config(inference_lr=1.0).architecture() == a
  assert Config(num_flows=3).architecture() != a
  # p's weights mean another η in centre coordinates; the paper's adds no key (old run.json match).
  assert "generative_coordinates" not in a
  assert Config(generative_coordinates="centre").architecture() != a


def test_vae_architecture_differs_from_the_sgm_and_between_models():
  vae = Config(model="vae").architecture()
  assert vae["model"] == "vae" and "family" not in vae
  assert vae != Config().architecture()
  assert Config(model="vae", vae_lr=1.0).architecture() == vae
  assert Config(model="vae", latent_dim=3).architecture() != vae
  assert Config(model="vae_standard_aug").architecture() != vae
  aug = Config(model="augvae", sgm_dir="runs/sgm").architecture()
  assert aug["sgm_dir"].endswith("runs/sgm") and aug["model"] == "augvae"


def test_vae_list_fields_round_trip_as_integers():
  c = Config(model="vae", vae_conv_dims=(8, 16), vae_dense_dims=(32,))
  back = config_flags.from_flagfile(c.to_flagfile())
  assert back == c and all(isinstance(d, int) for d in back.vae_conv_dims)


def test_sgm_dir_and_its_export_subdirectory_are_the_same_architecture(tmp_path):
  a = Config(model="augvae", sgm_dir=str(tmp_path / "sgm")).architecture()
  b = Config(model="augvae", sgm_dir=str(tmp_path / "sgm" / "export")).architecture()
  assert a == b and config_lib.run_dir(str(tmp_path / "sgm" / "export/")) == str(tmp_path / "sgm")
