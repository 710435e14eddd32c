"""The command line as installed users see it: grouped `--help`, flagfiles by name, the wheel.

`--help` runs are subprocesses (importing TensorFlow takes seconds; the three run together).
The wheel test builds it with `pip wheel` (no network needed for --no-deps) and reads its listing.
"""

import concurrent.futures
import os
import subprocess
import sys
import zipfile

import pytest

import inv_tf
from inv_tf import config as config_lib

from support import REPO, run_module

EXPERIMENT_ONLY = ("--sizes", "--seeds", "--models", "--smoke")


@pytest.fixture(scope="module")
def helps():
  with concurrent.futures.ThreadPoolExecutor(3) as pool:
    futures = {m: pool.submit(run_module, f"trainers.{m}", "--help")
               for m in ("train", "evaluate", "experiment")}
    return {m: f.result() for m, f in futures.items()}


def _flag_lines(text):
  return [line.split()[0] for line in text.splitlines() if line.startswith("  --")]


def test_train_help_lists_every_config_flag_in_groups_and_no_experiment_flag(helps):
  proc = helps["train"]
  assert proc.returncode == 0, proc.stderr[-2000:]
  out = proc.stdout
  listed = _flag_lines(out)
  fields = [f.name for f in __import__("dataclasses").fields(config_lib.Config)]
  assert sorted(listed) == sorted(["--model_dir"] + [f"--{n}" for n in fields])
  assert len(listed) == len(set(listed))
  for title in ("What to run:", "Data:", "Stage 1: q(η|x)", "Stage 2: p(η|x̂)", "VAE family",
                "Devices and numerics:"):
    assert title in out
  assert "  --model_dir (required)" in out.splitlines()
  assert "  --batch_size (default: 512)" in out.splitlines()
  assert "Global training batch size." in out
  assert not set(EXPERIMENT_ONLY) & set(listed)
  assert "--helpfull" in out


def test_evaluate_and_experiment_help_list_their_own_flags(helps):
  evaluate, experiment = helps["evaluate"], helps["experiment"]
  assert evaluate.returncode == 0 and experiment.returncode == 0
  assert _flag_lines(evaluate.stdout) == ["--model_dir", "--out", "--num_images", "--dataset",
                                          "--data_dir", "--checkpoint"]
  listed = _flag_lines(experiment.stdout)
  assert set(EXPERIMENT_ONLY) <= set(listed) and "--inference_steps" in listed
  assert "Which runs to make:" in experiment.stdout


def test_flagfile_path_finds_shipped_flagfiles_by_name():
  path = inv_tf.flagfile_path("quickstart")
  assert os.path.samefile(path, REPO / "flags" / "quickstart.cfg")
  assert inv_tf.flagfile_path("glyphs.cfg") == inv_tf.flagfile_path("glyphs")
  with pytest.raises(FileNotFoundError, match="no shipped flagfile 'nope'; shipped: .*quickstart"):
    inv_tf.flagfile_path("nope")


def test_bare_flagfile_names_resolve_and_paths_pass_through(tmp_path, monkeypatch):
  from trainers import cli
  monkeypatch.chdir(tmp_path)
  quick = inv_tf.flagfile_path("quickstart")
  argv = ["prog", "--flagfile=quickstart", "--flagfile", "glyphs", "--flagfile=flags/x.cfg",
          "--flagfile=nope", "--seed=1"]
  assert cli.resolve_flagfiles(argv) == [
      "prog", f"--flagfile={quick}", "--flagfile", inv_tf.flagfile_path("glyphs"),
      "--flagfile=flags/x.cfg", "--flagfile=nope", "--seed=1"]
  (tmp_path / "quickstart").write_text("--seed=3\n")  # an existing file wins over the name
  assert cli.resolve_flagfiles(["prog", "--flagfile=quickstart"])[1] == "--flagfile=quickstart"


def test_setup_declares_the_console_scripts():
  setup = (REPO / "setup.py").read_text()
  for script, module in (("inv-tf-train", "train"), ("inv-tf-evaluate", "evaluate"),
                         ("inv-tf-experiment", "experiment")):
    assert f'"{script} = trainers.{module}:run"' in setup
    # Read, not imported: the trainers define clashing flags (--model_dir) in one process.
    assert "\ndef run():\n" in (REPO / "trainers" / f"{module}.py").read_text()


@pytest.mark.slow
def test_wheel_ships_the_flagfiles_and_the_console_scripts(tmp_path):
  subprocess.run([sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-q", "-w",
                  str(tmp_path)], check=True, capture_output=True, timeout=600,
                 cwd=str(tmp_path))
  (wheel,) = tmp_path.glob("inv_tf-*.whl")
  with zipfile.ZipFile(wheel) as z:
    names = set(z.namelist())
    entry_points = next(z.read(n).decode() for n in names if n.endswith("entry_points.txt"))
  shipped = {p.name for p in (REPO / "flags").glob("*.cfg")}
  assert {f"inv_tf/flagfiles/{n}" for n in shipped} <= names
  assert "trainers/cli.py" in names
  assert "inv-tf-train = trainers.train:run" in entry_points
