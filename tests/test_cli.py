"""The command line as installed users see it: grouped `--help`, flagfiles by name, the wheel.

`--help` runs are subprocesses (the three run together). The trainers check their flags, and
`trainers.train` the run's other checks that need neither TensorFlow nor the data
(`inv_tf.training.preflight`), before importing TensorFlow: `--help` or a rejected command line
is a sub-second subprocess, and each of `BAD_COMMAND_LINES` asserts that TensorFlow was not
imported. The wheel test builds it with `pip wheel` (no network needed for --no-deps) and reads
its listing.
"""

import concurrent.futures
import os
import subprocess
import sys
import zipfile

import pytest

import inv_tf
from inv_tf import config as config_lib
from inv_tf.training import rundir

from support import IMAGE_SHAPE, REPO, run_module, user_lines

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


# Runs a module as `python -m` does (from the repository root, without PYTHONPATH or TF_CONFIG)
# and prints, last on stdout, its exit code and whether TensorFlow was imported.
_RUN_AND_REPORT_IMPORTS = """
import runpy, sys
sys.argv = sys.argv[1:]
try:
  runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
except SystemExit as e:
  print(e.code, "tensorflow" in sys.modules)
"""


def _run_reporting_imports(module, *args):
  env = dict(os.environ)
  env.pop("PYTHONPATH", None)
  env.pop("TF_CONFIG", None)
  return subprocess.run([sys.executable, "-c", _RUN_AND_REPORT_IMPORTS, module, *map(str, args)],
                        cwd=str(REPO), env=env, capture_output=True, text=True, timeout=120)


# name: (flagfile text or None, extra args, how it fails, text the one line must contain). Each
# is a usage error of `trainers.train`, refused before TensorFlow is imported: exit 2 (README),
# one line, no traceback, nothing written to --model_dir. How it fails: "fatal", absl's own
# parsing ("FATAL Flags parsing error: …"); "error", Config.validate or the run's checks before
# TensorFlow ("error: …"). In the args, {root} is the module's temporary directory, {empty} an
# empty directory in it, {file} a file; the model dir of `other_configuration` holds a run of the
# default configuration. (tests/test_trainers.py has the runs refused once TensorFlow is loaded.)
BAD_COMMAND_LINES = {
    "unknown_flag_in_a_flagfile": ("--seed=1\n# a comment\n--no_such_flag=3\n", [], "fatal",
                                   "line 3: unknown flag --no_such_flag"),
    "flagfile_line_without_dashes": ("--seed=1\nbatch_size 16\n", [], "fatal",
                                     "line 2: 'batch_size 16' is not a flag"),
    "non_integer_value": (None, ["--batch_size=abc"], "fatal", "--batch_size=abc"),
    "flagfile_is_a_directory": (None, ["--flagfile={root}"], "fatal", "Is a directory"),
    "positional_argument": (None, ["extra"], "fatal", "unexpected arguments: extra"),
    "value_outside_its_domain": (None, ["--inference_final_lr_mult=-1"], "error",
                                 "--inference_final_lr_mult: must be a finite number > 0"),
    "nan_bounds": (None, ["--bounds=nan,nan,nan,nan,nan"], "error", "--bounds: must be"),
    "multi_worker_without_tf_config": (None, ["--distribution_strategy=multi_worker_mirrored"],
                                       "error", "TF_CONFIG is not set"),
    "unknown_dataset": (None, ["--dataset=nope"], "error",
                        "unknown dataset 'nope'; valid names: mnist, "),
    "missing_npz": (None, ["--dataset=npz:/nonexistent/data.npz"], "error",
                    "npz:/nonexistent/data.npz: file not found"),
    "tfds_data_absent": (None, ["--dataset=dsprites", "--data_dir={empty}"], "error",
                         "dataset 'dsprites': TFDS data not found in"),
    "aug_dsprites_data_dir_is_a_file": (None, ["--dataset=aug_dsprites", "--data_dir={file}"],
                                        "error", "aug_dsprites: the data directory"),
    # The embedded MNIST digits (an empty --data_dir holds no TFDS mnist to use instead).
    "num_train_too_large": (None, ["--num_train=1000000", "--data_dir={empty}"], "error",
                            "dataset 'mnist': num_train=1000000 is larger than the 4000"),
    "colour_family_on_grey_images": (None, ["--family=hsv"], "error",
                                     "--family=hsv transforms colour and needs RGB images"),
    "sgm_dir_without_a_run": (None, ["--model=augvae", "--sgm_dir={empty}"], "error",
                              "holds no training run"),
    "generative_without_stage_1": (None, ["--stage=generative"], "error",
                                   "has no trained inference network"),
    "batch_larger_than_dataset": (None, ["--num_train=8", "--batch_size=16", "--data_dir={empty}"],
                                  "error", "the dataset has 8 examples, fewer than batch_size=16"),
    "model_dir_is_a_file": (None, ["--model_dir={file}"], "error",
                            "--model_dir: cannot write to"),
    "model_dir_under_a_file": (None, ["--model_dir={file}/model"], "error",
                               "--model_dir: cannot write to"),
    "other_configuration": (None, ["--inference_hidden_dims=16"], "error",
                            "holds a run with inference_hidden_dims=[2048, 1024, 512, 256], but "
                            "this run has inference_hidden_dims=[16]"),
}


@pytest.fixture(scope="module")
def bad_command_lines(tmp_path_factory):
  root = tmp_path_factory.mktemp("cli")
  (root / "empty").mkdir()
  (root / "a_file").write_text("")
  rundir.prepare_workdir(config_lib.Config(), str(root / "other_configuration"), IMAGE_SHAPE)
  before = sorted(os.listdir(root / "other_configuration"))

  def launch(name):
    text, args, _, _ = BAD_COMMAND_LINES[name]
    model_dir = root / name
    argv = [f"--model_dir={model_dir}"] + [
        a.format(root=root, empty=root / "empty", file=root / "a_file") for a in args]
    if text is not None:
      (root / f"{name}.cfg").write_text(text)
      argv.append(f"--flagfile={root / f'{name}.cfg'}")
    return model_dir, _run_reporting_imports("trainers.train", *argv)

  with concurrent.futures.ThreadPoolExecutor(3) as pool:
    futures = {name: pool.submit(launch, name) for name in BAD_COMMAND_LINES}
    results = {name: f.result() for name, f in futures.items()}
  assert os.listdir(root / "empty") == [] and (root / "a_file").read_text() == ""
  assert sorted(os.listdir(root / "other_configuration")) == before
  return root, results


@pytest.mark.parametrize("name", list(BAD_COMMAND_LINES))
def test_a_bad_command_line_exits_2_in_one_line_before_tensorflow_and_writes_nothing(
    bad_command_lines, name):
  root, results = bad_command_lines
  model_dir, proc = results[name]
  text, _, kind, expected = BAD_COMMAND_LINES[name]
  # Exit status 2 (the README's usage error), and TensorFlow was not imported.
  assert proc.stdout.split()[-2:] == ["2", "False"], (proc.stdout[-1000:], proc.stderr[-2000:])
  assert "Traceback" not in proc.stderr
  lines = user_lines(proc.stderr)
  assert len(lines) == 1, lines
  assert lines[0].startswith("error: " if kind == "error" else "FATAL Flags parsing error: "), lines
  assert expected in lines[0], lines
  if text is not None:
    assert f"flagfile {root / (name + '.cfg')}, line" in lines[0], lines
  if name != "other_configuration":  # that run's files: unchanged (the fixture checks)
    assert not model_dir.exists()


@pytest.mark.parametrize("name", [n for n, case in BAD_COMMAND_LINES.items() if case[2] == "fatal"])
def test_parse_flags_exits_2_with_one_line(tmp_path, monkeypatch, capsys, name):
  """In-process twin of the subprocess test above (absl's parsing on a private FlagValues)."""
  from absl import flags
  from trainers import cli
  values = flags.FlagValues()
  flags.DEFINE_integer("batch_size", 8, "", flag_values=values)
  flags.DEFINE_integer("seed", 0, "", flag_values=values)
  flags.DEFINE_string("model_dir", None, "", flag_values=values)
  monkeypatch.setattr(cli.flags, "FLAGS", values)
  text, args, _, expected = BAD_COMMAND_LINES[name]
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
  proc = _run_reporting_imports(module, *[a.format(tmp=tmp_path / "model") for a in args])
  assert proc.stdout.split()[-2:] == ["0" if expected is None else "2", "False"], (
      proc.stdout[-1000:], proc.stderr[-2000:])
  if expected is not None:
    lines = user_lines(proc.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], lines
  assert not (tmp_path / "model").exists()


def test_the_config_the_plan_and_the_flags_import_without_tensorflow():
  code = ("import sys, inv_tf.config, inv_tf.families, inv_tf.catalog, inv_tf.experiments.plan, "
          "inv_tf.training.preflight, trainers.flags, trainers.cli; "
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
