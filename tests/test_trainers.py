"""The absl entry points as a user runs them: `python -m trainers.train` / `trainers.evaluate`.

Every case is a subprocess started from the repository root. Importing TensorFlow takes seconds,
so all processes of this module are launched together on a small pool when the first test needs
them (the bad-input cases fail before training and overlap with the one tiny training run).

A bad input must give exit status 2 (the README's code for a usage error), one line on stderr starting with "error:" (absl's
"FATAL Flags parsing error" for what absl itself rejects), and no Python traceback. TensorFlow's
native start-up log lines (printed before absl's C++ logging is initialised, whatever
TF_CPP_MIN_LOG_LEVEL says) are ignored.
"""

import concurrent.futures
import json
import math
import os
import re

import pytest

from inv_tf import config_flags
from inv_tf.training import rundir

from support import IMAGE_SHAPE, run_module, tiny_config, user_lines

# (A value outside its domain, NaN bounds, a non-integer batch size, a directory as --flagfile and
# every run refused before TensorFlow is imported by the checks of inv_tf.training.preflight (an
# unknown or absent dataset, --num_train or --batch_size too large for it, a colour family on grey
# images, --sgm_dir or --model_dir holding no or another run, --stage=generative without stage 1,
# multi_worker_mirrored without TF_CONFIG) are tests/test_cli.py's BAD_COMMAND_LINES: the same
# checks, asserted without TensorFlow, not run twice.)
# name: (extra args, how it fails ("error" or "fatal"), text the message must contain).
BAD_TRAIN = {
    "unknown_flag": (["--no_such_flag=1"], "fatal", "no_such_flag"),
    "negative_inference_steps": (["--inference_steps=-1"], "error", "--inference_steps"),
    "zero_bound": (["--bounds=0.25,0,3.14,0.25,0.25"], "error", "--bounds"),
    "wrong_number_of_bounds": (["--bounds=0.25,0.25"], "error", "bounds"),
    "non_numeric_hidden_dims": (["--inference_hidden_dims=a,b"], "error",
                                "--inference_hidden_dims"),
    "unknown_family": (["--family=nope"], "error", "--family"),
    "unknown_stage": (["--stage=nope"], "error", "--stage"),
    "unknown_model": (["--model=nope"], "error", "--model"),
    "stage_of_a_vae": (["--model=vae", "--stage=inference"], "error",
                       "--stage: only --model=sgm trains in stages"),
    "old_and_new_flag_name": (["--bounds_mult=0.5"], "error",  # tiny.cfg gives the new name
                              "--bounds_mult is the deprecated name"),
    "old_stage_and_model": (["--stage=vae", "--model=vae"], "error", "--stage=vae is deprecated"),
    "missing_model_dir": ([], "error", "--model_dir"),
    "missing_flagfile": (["--flagfile=/nonexistent/tiny.cfg"], "fatal", "tiny.cfg"),
    "interpolation_order_2": (["--interpolation_order=2"], "error", "--interpolation_order"),
    "augvae_without_sgm_dir": (["--model=augvae"], "error", "--sgm_dir"),
    "sgm_dir_for_a_plain_vae": (["--model=vae", "--sgm_dir={empty}"], "error", "--sgm_dir"),
    "negative_vae_steps": (["--model=vae", "--vae_steps=-5"], "error", "--vae_steps"),
    "empty_vae_conv_dims": (["--model=vae", "--vae_conv_dims="], "error", "--vae_conv_dims"),
    "zero_iwlb_num_samples": (["--model=vae", "--iwlb_num_samples=0"], "error",
                              "--iwlb_num_samples"),
    "batch_not_divisible_by_replicas": (
        ["--distribution_strategy=mirrored", "--num_cpu_devices=3"], "error",
        "--batch_size=16 is not divisible by the 3 replicas"),
    "unknown_distribution_strategy": (["--distribution_strategy=nope"], "error",
                                      "--distribution_strategy"),
    "seed_too_large": (["--seed=4294967296"], "error", "--seed: must be"),
    "dropout_one": (["--generative_dropout=1.0"], "error", "--generative_dropout"),
}
BAD_EVALUATE = {
    "no_run": (["--model_dir={empty}"], "error", "holds no training run"),
    "no_model_dir": ([], "error", "--model_dir"),
    "out_is_a_file": (["--model_dir={other}", "--out={file}"], "error", "--out:"),
}


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
  root = tmp_path_factory.mktemp("trainers")
  flagfile = root / "tiny.cfg"
  flagfile.write_text(tiny_config().to_flagfile())
  (root / "empty").mkdir()
  # A model dir holding a run of the tiny configuration (run.json + flags.cfg, no checkpoint).
  rundir.prepare_workdir(tiny_config(), str(root / "untrained"), IMAGE_SHAPE)
  return root, flagfile


def _good_run(root, flagfile):
  # Plain graphs: this run tests the command line and its outputs; the compiled steps and
  # their numbers are the library tests' (the flags that reach the library are compared below).
  model_dir = root / "good"
  train = run_module("trainers.train", f"--flagfile={flagfile}", f"--model_dir={model_dir}",
                     "--jit_compile=false")
  evaluate = None
  if train.returncode == 0:
    evaluate = run_module("trainers.evaluate", f"--model_dir={model_dir}", "--num_images=16")
  return model_dir, train, evaluate


def _bad_train(root, flagfile, name):
  args, _, _ = BAD_TRAIN[name]
  model_dir = root / "bad" / name
  base = [f"--flagfile={flagfile}"]
  if name != "missing_model_dir":
    base.append(f"--model_dir={model_dir}")
  if name == "missing_flagfile":
    base = [f"--model_dir={model_dir}"]
  args = [a.format(empty=root / "empty", file=flagfile) for a in args]
  return model_dir, run_module("trainers.train", *base, *args)


def _bad_evaluate(root, flagfile, name):
  args, _, _ = BAD_EVALUATE[name]
  return run_module("trainers.evaluate", *[
      a.format(empty=root / "empty", file=flagfile, other=root / "untrained")
      for a in args])


@pytest.fixture(scope="module")
def launched(paths):
  """Futures of every subprocess of this module, started at once (3 at a time)."""
  root, flagfile = paths
  pool = concurrent.futures.ThreadPoolExecutor(max_workers=3)
  futures = {"good": pool.submit(_good_run, root, flagfile)}  # the longest first
  for name in BAD_TRAIN:
    futures[f"train/{name}"] = pool.submit(_bad_train, root, flagfile, name)
  for name in BAD_EVALUATE:
    futures[f"evaluate/{name}"] = pool.submit(_bad_evaluate, root, flagfile, name)
  yield futures
  pool.shutdown(wait=True)


@pytest.fixture(scope="module")
def good(launched):
  return launched["good"].result()


def _assert_one_error_line(proc, kind, text):
  assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])  # the README's usage code
  assert "Traceback" not in proc.stderr, proc.stderr
  lines = user_lines(proc.stderr)
  if kind == "error":
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: "), lines
    assert text in lines[0], lines
  else:  # absl rejected the command line itself
    assert lines and lines[0].startswith("FATAL Flags parsing error"), lines
    assert text in lines[0], lines
    assert len(lines) <= 2 and all("error" in l or "--help" in l for l in lines), lines


# ---------------------------------------------------------------------------------------------
# A tiny run from a flagfile, then evaluate.


@pytest.mark.slow
def test_tiny_run_exits_0_and_prints_the_summary(good):
  model_dir, train, _ = good
  assert train.returncode == 0, train.stderr[-3000:]
  assert "Traceback" not in train.stderr
  assert f"tensorboard --logdir {model_dir}" in train.stdout
  assert "Finished --model=sgm --stage=all on --dataset=mnist" in train.stdout
  for key in ("inference/loss", "generative/log_p"):
    assert key in train.stdout
  assert f"SavedModel: {model_dir / 'export'}" in train.stdout
  assert not [l for l in user_lines(train.stderr) if re.match(r"error|FATAL|[EF]\d{4} ", l)]


@pytest.mark.slow
def test_tiny_run_writes_the_run_and_its_effective_flags(good):
  model_dir, train, _ = good
  assert train.returncode == 0
  with open(model_dir / "flags.cfg") as f:  # what the library was called with
    assert config_flags.from_flagfile(f.read()) == tiny_config(jit_compile=False)
  with open(model_dir / "metrics.json") as f:
    metrics = json.load(f)
  assert math.isfinite(metrics["inference/loss"]) and math.isfinite(metrics["generative/log_p"])
  assert (model_dir / "export" / "saved_model.pb").is_file()


@pytest.mark.slow
def test_evaluate_writes_the_quality_metrics(good):
  model_dir, train, evaluate = good
  assert train.returncode == 0
  assert evaluate.returncode == 0, evaluate.stderr[-3000:]
  assert "Traceback" not in evaluate.stderr
  with open(model_dir / "eval" / "metrics.json") as f:
    metrics = json.load(f)
  for key in ("full_ratio", "axis_ratio", "rotation_resultant", "iterated_eta_norm_last"):
    assert math.isfinite(metrics[key]), (key, metrics)
    assert metrics[key] >= 0, (key, metrics)
  # stdout: the headline table and the files written, not a JSON dump of the metrics.
  out = evaluate.stdout
  assert "{" not in out and '"full_ratio"' not in out
  assert len(out.splitlines()) < 25, out
  assert out.splitlines()[0].split() == ["measure", "value", "bar"]
  full = next(l for l in out.splitlines() if l.startswith("full invariance ratio"))
  assert f"{metrics['full_ratio']:.3f}" in full and "≤ 0.25" in full
  assert any(l.startswith("iterated ‖η‖") and "≤ 0.1" in l for l in out.splitlines())
  assert f"  {model_dir / 'eval' / 'metrics.json'}" in out.splitlines()
  assert f"  {model_dir / 'eval' / 'eta_sweep.png'}" in out.splitlines()


# ---------------------------------------------------------------------------------------------
# Bad input: one line, no traceback.


@pytest.mark.slow
@pytest.mark.parametrize("name", list(BAD_TRAIN))
def test_train_rejects_bad_input_in_one_line(launched, name):
  model_dir, proc = launched[f"train/{name}"].result()
  _, kind, text = BAD_TRAIN[name]
  _assert_one_error_line(proc, kind, text)
  assert not model_dir.exists(), sorted(os.listdir(model_dir))


@pytest.mark.slow
@pytest.mark.parametrize("name", list(BAD_EVALUATE))
def test_evaluate_rejects_bad_input_in_one_line(launched, paths, name):
  proc = launched[f"evaluate/{name}"].result()
  _, kind, text = BAD_EVALUATE[name]
  _assert_one_error_line(proc, kind, text)
  root, _ = paths
  assert os.listdir(root / "empty") == []  # no eval/ written
