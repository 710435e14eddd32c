"""Every shipped flagfile parses into a valid Config and opens with its command and runtime."""

import pathlib

import pytest

from inv_tf import config as config_lib
from inv_tf import config_flags

FLAGS_DIR = pathlib.Path(__file__).resolve().parents[1] / "flags"
EXPERIMENT_ONLY = ("--sizes=", "--seeds=", "--models=", "--smoke")
FLAGFILES = sorted(FLAGS_DIR.glob("*.cfg"))


def test_there_are_flagfiles_for_every_stage_family():
  names = {p.stem for p in FLAGFILES}
  assert {"quickstart", "mnist_rot", "aug_dsprites_cpu", "vae_mnist", "vae_cpu", "augvae_cpu",
          "invvae_cpu", "vae_standard_aug_cpu", "data_efficiency"} <= names


@pytest.mark.parametrize("path", FLAGFILES, ids=lambda p: p.name)
def test_flagfile_parses_validates_and_documents_itself(path):
  text = path.read_text(encoding="utf-8")
  lines = text.splitlines()
  assert lines[0].startswith("# python -m trainers."), "first line: the command"
  assert path.name in lines[0]
  header = "\n".join(line for line in lines if line.startswith("#"))
  assert "Runtime" in header and "xpected" in header
  config_lines = [line for line in lines if not line.startswith(EXPERIMENT_ONLY)]
  config = config_flags.from_flagfile("\n".join(config_lines)).validate()
  if path.stem.endswith("_cpu") and config.model in config_lib.VAE_MODELS:
    assert config.model == path.stem[:-len("_cpu")]  # named after the model
    assert config.stage == "all"
  assert "--stage=" not in text or config.model == "sgm"  # --stage only picks the SGM's stages
