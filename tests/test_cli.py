"""The command line as installed users see it: grouped `--help`, flagfiles by name, the wheel.

`--help` runs are subprocesses (the three run together). The trainers check their flags before
importing TensorFlow, so `--help` or a rejected command line is a sub-second subprocess.
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

from support import REPO, run_module, user_lines

EXPERIMENT_ONLY = ("--sizes", "--seeds", "--models", "--smoke")


@pytest.fixture(scope="module")
def helps():
  with concurrent.futures.ThreadPoolExecutor(3) as pool:
    futures = {m: pool.submit(run_module, f"trainers.{m}", "--help")
               for m in ("train", "evaluate", "experiment")}
    return {m: f.result() for m, f in futures.items()}


def _flag_lines(text):
  return [line.split()[0] for line in text.splitlines() if line.startswith("  --")]


@pytest.mark.slow  # three `--help` subprocesses
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


@pytest.mark.slow  # three `--help` subprocesses
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


# name: (flagfile text or None, extra args, text the one line must contain). Each is a usage
# error: exit 2 (README), one line, no traceback, nothing written to --model_dir.
BAD_COMMAND_LINES = {
    "unknown_flag_in_a_flagfile": ("--seed=1\n# a comment\n--no_such_flag=3\n", [],
                                   "line 3: unknown flag --no_such_flag"),
    "flagfile_line_without_dashes": ("--seed=1\nbatch_size 16\n", [],
                                     "line 2: 'batch_size 16' is not a flag"),
    "non_integer_value": (None, ["--batch_size=abc"], "--batch_size=abc"),
    "flagfile_is_a_directory": (None, ["--flagfile={root}"], "Is a directory"),
    "positional_argument": (None, ["extra"], "unexpected arguments: extra"),
    "value_outside_its_domain": (None, ["--inference_final_lr_mult=-1"],
                                 "--inference_final_lr_mult: must be a finite number > 0"),
    "nan_bounds": (None, ["--bounds=nan,nan,nan,nan,nan"], "--bounds: must be"),
}


@pytest.fixture(scope="module")
def bad_command_lines(tmp_path_factory):
  root = tmp_path_factory.mktemp("cli")

  def launch(name):
    text, args, _ = BAD_COMMAND_LINES[name]
    model_dir = root / name
    argv = [f"--model_dir={model_dir}"] + [a.format(root=root) for a in args]
    if text is not None:
      (root / f"{name}.cfg").write_text(text)
      argv.append(f"--flagfile={root / f'{name}.cfg'}")
    return model_dir, run_module("trainers.train", *argv)

  with concurrent.futures.ThreadPoolExecutor(3) as pool:
    futures = {name: pool.submit(launch, name) for name in BAD_COMMAND_LINES}
    return root, {name: f.result() for name, f in futures.items()}


@pytest.mark.parametrize("name", list(BAD_COMMAND_LINES))
def test_a_bad_command_line_exits_2_in_one_line_and_writes_nothing(bad_command_lines, name):
  root, results = bad_command_lines
  model_dir, proc = results[name]
  lines = user_lines(proc.stderr)
  assert proc.returncode == 2, proc.stderr[-2000:]
  assert "Traceback" not in proc.stderr
  assert len(lines) == 1, lines
  # Config's domain checks say "error: "; what absl itself rejects, "FATAL Flags parsing error: ".
  domain = name in ("value_outside_its_domain", "nan_bounds")
  assert lines[0].startswith("error: " if domain else "FATAL Flags parsing error: "), lines
  assert BAD_COMMAND_LINES[name][2] in lines[0], lines
  if BAD_COMMAND_LINES[name][0] is not None:
    assert f"flagfile {root / (name + '.cfg')}, line" in lines[0], lines
  assert not model_dir.exists()


@pytest.mark.parametrize("name", [n for n in BAD_COMMAND_LINES if "domain" not in n
                                  and n != "nan_bounds"])
def test_parse_flags_exits_2_with_one_line(tmp_path, monkeypatch, capsys, name):
  """In-process twin of the subprocess test above (absl's parsing on a private FlagValues)."""
  from absl import flags
  from trainers import cli
  values = flags.FlagValues()
  flags.DEFINE_integer("batch_size", 8, "", flag_values=values)
  flags.DEFINE_integer("seed", 0, "", flag_values=values)
  flags.DEFINE_string("model_dir", None, "", flag_values=values)
  monkeypatch.setattr(cli.flags, "FLAGS", values)
  text, args, expected = BAD_COMMAND_LINES[name]
  argv = ["prog"] + [a.format(root=tmp_path) for a in args]
  if text is not None:
    (tmp_path / "f.cfg").write_text(text)
    argv.append(f"--flagfile={tmp_path / 'f.cfg'}")
  with pytest.raises(SystemExit) as e:
    cli.parse_flags(argv)
  assert e.value.code == cli.USAGE_EXIT == 2
  lines = capsys.readouterr().err.splitlines()
  assert len(lines) == 1 and lines[0].startswith("FATAL Flags parsing error: "), lines
  assert expected in lines[0], lines
  if text is not None:
    assert f"flagfile {tmp_path / 'f.cfg'}, line" in lines[0]


# Runs a trainer as `python -m` does and prints its exit code and whether TensorFlow was imported.
_RUN_AND_REPORT_IMPORTS = """
import runpy, sys
sys.argv = sys.argv[1:]
try:
  runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
except SystemExit as e:
  print(e.code, "tensorflow" in sys.modules)
"""


@pytest.mark.parametrize("module,args,expected", [
    ("trainers.train", ["--flagfile=quickstart", "--seed=-1", "--model_dir={tmp}"], "--seed"),
    ("trainers.train", ["--flagfile=quickstart", "--generative_dropout=1"], "--generative_dropout"),
    ("trainers.train", ["--flagfile=quickstart"], "--model_dir"),
    ("trainers.train", ["--help"], None),
    ("trainers.evaluate", ["--model_dir={tmp}", "--num_images=0"], "--num_images"),
    ("trainers.evaluate", [], "--model_dir"),
    ("trainers.evaluate", ["--help"], None),
    ("trainers.experiment", ["--flagfile=data_efficiency", "--sizes=a", "--model_dir={tmp}"],
     "--sizes"),
    ("trainers.experiment", ["--flagfile=data_efficiency", "--models=vae,nope",
                             "--model_dir={tmp}"], "--models"),
    ("trainers.experiment", ["--flagfile=data_efficiency"], "--model_dir"),
    ("trainers.experiment", ["--help"], None),
])
def test_a_rejected_command_line_is_reported_before_tensorflow_is_imported(tmp_path, module, args,
                                                                         expected):
  env = dict(os.environ)
  env.pop("PYTHONPATH", None)
  argv = [a.format(tmp=tmp_path / "model") for a in args]
  proc = subprocess.run([sys.executable, "-c", _RUN_AND_REPORT_IMPORTS, module, *argv],
                        cwd=str(REPO), env=env, capture_output=True, text=True, timeout=120)
  assert proc.stdout.split()[-2:] == ["0" if expected is None else "2", "False"], (
      proc.stdout[-1000:], proc.stderr[-2000:])
  if expected is not None:
    lines = user_lines(proc.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], lines
  assert not (tmp_path / "model").exists()


def test_the_config_the_plan_and_the_flags_import_without_tensorflow():
  code = ("import sys, inv_tf.config, inv_tf.families, inv_tf.experiments.plan, trainers.flags, "
          "trainers.cli; "
          "print(sorted(m for m in ('tensorflow', 'numpy', 'keras') if m in sys.modules))")
  proc = subprocess.run([sys.executable, "-c", code], cwd=str(REPO), capture_output=True,
                        text=True, timeout=120)
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert proc.stdout.strip() == "[]", proc.stdout


def test_check_flagfile_follows_nested_flagfiles_and_accepts_negated_booleans(tmp_path):
  from trainers import cli
  inner = tmp_path / "inner.cfg"
  inner.write_text("// comment\n--noexport\n--seed=2\n")
  outer = tmp_path / "outer.cfg"
  outer.write_text(f"--flagfile={inner}\n--batch_size=4\n")
  cli.check_flagfile(str(outer), {"export", "seed", "batch_size"})
  inner.write_text("--seeds=2\n")
  with pytest.raises(cli.FlagfileError, match=rf"flagfile {inner}, line 1: unknown flag --seeds"):
    cli.check_flagfile(str(outer), {"export", "seed", "batch_size"})


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
