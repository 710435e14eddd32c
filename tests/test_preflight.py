"""Tests of inv_tf.training.preflight: a run's checks that need neither TensorFlow nor the data.

Model dirs, SGM runs and data dirs are files in a temporary directory (`rundir.prepare_workdir`
writes a run's files without TensorFlow). That the trainer makes these checks before importing
TensorFlow is tests/test_cli.py's; that the runner refuses the same runs, test_train.py's and
test_vae_train.py's.
"""

import json
import os

import pytest

from inv_tf.catalog import DataError
from inv_tf.config import Config, ConfigError
from inv_tf.training import preflight, rundir

MNIST = (28, 28, 1)


def _sgm_run(path, image_shape=MNIST, **fields):
  """An SGM run's files (run.json, flags.cfg, config.json) in `path`, no checkpoint."""
  rundir.prepare_workdir(Config(**fields), str(path), image_shape)
  return str(path)


def test_a_run_that_can_start_passes_and_nothing_is_written(tmp_path):
  preflight.check(Config(), str(tmp_path / "model"))
  workdir = _sgm_run(tmp_path / "sgm")  # a model dir of the same run: it resumes
  before = sorted(os.listdir(workdir))
  preflight.check(Config(seed=3), workdir)
  assert sorted(os.listdir(workdir)) == before
  assert not (tmp_path / "model").exists()


def test_check_tf_config(monkeypatch):
  multi = Config(distribution_strategy="multi_worker_mirrored")
  monkeypatch.delenv("TF_CONFIG", raising=False)
  preflight.check_tf_config(Config())  # other strategies do not read it
  with pytest.raises(ConfigError, match=r"^--distribution_strategy=multi_worker_mirrored: "
                                        "TF_CONFIG is not set"):
    preflight.check_tf_config(multi)
  for bad in ("not json", json.dumps({"task": {}}), "[1]"):
    monkeypatch.setenv("TF_CONFIG", bad)
    with pytest.raises(ConfigError, match="TF_CONFIG is not JSON with a 'cluster' entry"):
      preflight.check_tf_config(multi)
  monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["localhost:1"]}}))
  preflight.check_tf_config(multi)


@pytest.mark.parametrize("fields, shape, message", [
    (dict(family="hsv", rotation_head="linear"), MNIST,
     "--family=hsv transforms colour and needs RGB images, but --dataset=mnist has 1 channel(s)"),
    (dict(rotation_head="quarter_turn_equivariant"), (12, 10, 1),
     "--rotation_head=quarter_turn_equivariant needs square images, but --dataset=mnist has "
     "12×10"),
    (dict(), (1, 5, 1), "--dataset=mnist: images of shape [1, 5, 1] are too small to warp"),
    (dict(model="vae"), (5, 1, 3), "--dataset=mnist: images of shape [5, 1, 3] are too small for "
                                   "the VAE"),
])
def test_check_images_refuses_images_the_model_cannot_train_on(fields, shape, message):
  with pytest.raises(ConfigError) as e:
    preflight.check_images(Config(**fields), shape)
  assert str(e.value) == message


def test_check_images_accepts_what_the_model_can_train_on():
  preflight.check_images(Config(family="hsv", rotation_head="linear"), (28, 28, 3))
  preflight.check_images(Config(rotation_head="quarter_turn_equivariant"), (12, 12, 1))
  preflight.check_images(Config(), (12, 10, 1))
  preflight.check_images(Config(model="vae", family="hsv", rotation_head="linear"), (2, 2, 1))


def test_check_sgm_dir(tmp_path):
  sgm, small = _sgm_run(tmp_path / "sgm"), _sgm_run(tmp_path / "small", (16, 16, 1))
  vae = tmp_path / "vae"
  rundir.prepare_workdir(Config(model="vae"), str(vae), MNIST)
  augvae = lambda sgm_dir: Config(model="augvae", sgm_dir=str(sgm_dir))  # noqa: E731
  preflight.check_sgm_dir(augvae(sgm), MNIST)
  preflight.check_sgm_dir(augvae(os.path.join(sgm, "export")), MNIST)  # or its export/
  preflight.check_sgm_dir(augvae(small), None)  # the images' shape not known: not compared
  preflight.check_sgm_dir(Config(model="vae"), MNIST)  # a plain VAE reads no SGM
  for sgm_dir, message in ((tmp_path / "empty", "holds no training run"),
                           (vae, "holds a --model=vae run, not an SGM"),
                           (small, "the SGM there models images of shape [16, 16, 1], but "
                                   "--dataset=mnist has [28, 28, 1]")):
    with pytest.raises(ConfigError) as e:
      preflight.check_sgm_dir(augvae(sgm_dir), MNIST)
    assert str(e.value).startswith("--sgm_dir: ") and message in str(e.value)


def test_check_stage_refuses_generative_on_a_model_dir_without_checkpoint_files(tmp_path):
  workdir = _sgm_run(tmp_path / "model")
  preflight.check_stage(Config(stage="inference"), workdir)
  with pytest.raises(ConfigError) as e:
    preflight.check_stage(Config(stage="generative"), workdir)
  assert str(e.value) == str(preflight.no_inference_network(workdir)) == (
      f"--stage=generative: {workdir!r} has no trained inference network; run "
      "--stage=inference (or --stage=all) first")
  os.makedirs(os.path.join(workdir, "checkpoints"))
  with open(os.path.join(workdir, "checkpoints", "checkpoint"), "w") as f:
    f.write('model_checkpoint_path: "ckpt-3"\n')
  preflight.check_stage(Config(stage="generative"), workdir)  # TensorFlow reads it later


# One run per check, each refused by `check` with that check's own message. {tmp}: an empty
# directory; {file}: a file; {run}: a model dir holding a run of `Config()`.
REFUSED = {
    "tf_config": (dict(distribution_strategy="multi_worker_mirrored"), ConfigError,
                  "TF_CONFIG is not set"),
    "unknown_dataset": (dict(dataset="nope"), DataError, "unknown dataset 'nope'"),
    "num_train": (dict(num_train=10 ** 6, data_dir="{tmp}"), DataError,
                  "dataset 'mnist': num_train=1000000 is larger than the 4000"),
    "tfds_data": (dict(dataset="dsprites", data_dir="{tmp}"), DataError,
                  "dataset 'dsprites': TFDS data not found in {tmp}"),
    "npz": (dict(dataset="npz:{tmp}/d.npz"), DataError, "npz:{tmp}/d.npz: file not found"),
    "build_dir": (dict(dataset="aug_dsprites", data_dir="{file}"), DataError,
                  "aug_dsprites: the data directory '{file}' is a file"),
    "colour": (dict(family="hsv", rotation_head="linear"), ConfigError,
               "--family=hsv transforms colour and needs RGB images"),
    "sgm_dir": (dict(model="augvae", sgm_dir="{tmp}"), ConfigError,
                "--sgm_dir: '{tmp}' holds no training run"),
    "stage": (dict(stage="generative"), ConfigError, "has no trained inference network"),
    "batch": (dict(num_train=8, batch_size=16, data_dir="{tmp}"), DataError,
              "the dataset has 8 examples, fewer than batch_size=16"),
    "model_dir": (dict(inference_hidden_dims=(16,)), ConfigError,
                  "holds a run with inference_hidden_dims=[2048, 1024, 512, 256], but this run "
                  "has inference_hidden_dims=[16]"),
    "image_shape": (dict(dataset="glyphs"), ConfigError,
                    "holds a model for images of shape [28, 28, 1], but --dataset=glyphs has "
                    "[24, 24, 1]"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_check_refuses_each_run_with_its_checks_message(tmp_path, monkeypatch, case):
  monkeypatch.delenv("TF_CONFIG", raising=False)
  fields, error, message = REFUSED[case]
  (tmp_path / "file").write_text("")
  (tmp_path / "tmp").mkdir()
  paths = dict(tmp=tmp_path / "tmp", file=tmp_path / "file")
  config = Config(**{k: v.format(**paths) if isinstance(v, str) else v
                     for k, v in fields.items()})
  workdir = _sgm_run(tmp_path / "run") if case in ("model_dir", "image_shape") else str(
      tmp_path / "model")
  with pytest.raises(error) as e:
    preflight.check(config, workdir)
  assert message.format(**paths) in str(e.value)
  assert sorted(os.listdir(tmp_path / "tmp")) == []  # nothing written


def test_check_refuses_in_the_runners_order(tmp_path, monkeypatch):
  # Each run fails two checks: the runner's earlier one is reported.
  monkeypatch.delenv("TF_CONFIG", raising=False)
  model_dir = _sgm_run(tmp_path / "run")
  runs = ((dict(distribution_strategy="multi_worker_mirrored", dataset="nope"), "TF_CONFIG"),
          (dict(dataset="nope", family="hsv", rotation_head="linear"), "unknown dataset"),
          (dict(family="hsv", rotation_head="linear", stage="generative"), "--family=hsv"),
          (dict(stage="generative", num_train=8, batch_size=16), "--stage=generative"),
          (dict(num_train=8, batch_size=16, inference_hidden_dims=(16,)), "batch_size=16"))
  for fields, first in runs:
    with pytest.raises((ConfigError, DataError)) as e:
      preflight.check(Config(data_dir=str(tmp_path / "empty"), **fields), model_dir)
    assert first in str(e.value), (fields, str(e.value))
