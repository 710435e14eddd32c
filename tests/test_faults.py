"""Faults a long run meets: SIGKILL at any moment, damaged checkpoints, bad model dirs, bad data.

The kill chain runs `python -m trainers.train` as a user does (a subprocess from the repository
root) on a tiny configuration whose stages are long enough to be killed mid-way (100 steps each,
a checkpoint every 10), and SIGKILLs it four times at points drawn from a seeded RNG and the
progress observed in the model directory (polled every millisecond):

  1. stage 1, the instant a randomly chosen save `ckpt-T` (T in 20..90) starts (its `ckpt-T_temp`
     directory or its `.index` file appears), i.e. during or just after a save, so the restart
     resumes stage 1 mid-way;
  2. stage 2, 0-0.1 s after a randomly chosen checkpoint (110..170) appears;
  3. the instant the `checkpoint` state file names the final checkpoint (`ckpt-200`), before the
     export (this lands inside CheckpointManager.save, between its two state-file writes);
  4. during the export, the instant its temporary `.export.tmp-*` directory appears.

After each kill the directory must hold a checkpoint at least as new as the one the state file
named when the process died, with consistent step counters in every listed checkpoint that exists
(a kill inside CheckpointManager.save may leave the oldest one listed after its files were
deleted: TensorFlow's own order of operations), `restore_model` must work, and `export/` must be
absent or a complete SavedModel. Then the same command is re-run. The run finished after four
kills is compared with an uninterrupted run of the same flags (started at the same time in
another directory): measured bitwise equal (metrics.json, every checkpointed tensor and every
training scalar the killed processes logged). That comparison of two processes is also the
suite's same-seed reproducibility test across processes.

The other cases re-run a finished run whose latest checkpoint was damaged, point `--model_dir`
where nothing can be written, or train on an `npz:` file with NaN/inf pixels: each must end with
one `error:` line on stderr and exit status 2, not a traceback; a damaged or lost checkpoint
must also be left as it is (no restart from step 0 over it). A full disk is simulated with a
file-size limit (RLIMIT_FSIZE): the next checkpoint of a continued run cannot be written, which
must end in one error line with nothing partial left and the previous checkpoint still the
latest; without the limit the same command resumes and finishes.
"""

import concurrent.futures
import functools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from inv_tf.export import saved_model
from inv_tf.training import checkpoints
from inv_tf.training import rundir
from inv_tf.training import train as train_lib

from support import (REPO, assert_same_tensors, checkpoint_tensors, logged_scalars, run_module,
                     sample_images, tiny_config, user_lines)

STEPS = 100  # per stage
CHECKPOINT_EVERY = 10
KILL_SEED = 20240611
TIMEOUT = 600  # seconds for any one process
POLL = 0.001  # seconds between looks at the model directory
COUNTERS = ("inference_step", "generative_step", "inference_optimizer/_iterations",
            "sigma_optimizer/_iterations", "generative_optimizer/_iterations")
ALL_SIGNATURES = sorted(saved_model.SIGNATURES + ("serving_default",))


def kill_config():
  return tiny_config(inference_steps=STEPS, generative_steps=STEPS,
                     checkpoint_every=CHECKPOINT_EVERY, log_every=10, eval_every=50)


def _env():
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  env.pop("PYTHONPATH", None)
  return env


def _start_train(flagfile, model_dir, log_path):
  """Popen of `python -m trainers.train`, stdout+stderr to log_path."""
  log = open(log_path, "ab")
  try:
    return subprocess.Popen(
        [sys.executable, "-m", "trainers.train", f"--flagfile={flagfile}",
         f"--model_dir={model_dir}"], cwd=str(REPO), env=_env(), stdout=log, stderr=log)
  finally:
    log.close()  # the child holds its own descriptor


def _ckpt_numbers(names, suffix=".index"):
  return {int(m.group(1)) for n in names for m in [re.fullmatch(rf"ckpt-(\d+){suffix}", n)] if m}


def _committed(ckpt_dir):
  """The checkpoint number the `checkpoint` state file names (it is replaced atomically)."""
  try:
    with open(os.path.join(ckpt_dir, "checkpoint")) as f:
      match = re.search(r'^model_checkpoint_path: "ckpt-(\d+)"', f.read(), re.M)
  except OSError:
    return None
  return int(match.group(1)) if match else None


def _listing(model_dir):
  names = set()
  for sub in ("", "checkpoints"):
    try:
      names |= {os.path.join(sub, n) if sub else n for n in os.listdir(os.path.join(model_dir,
                                                                                    sub))}
    except OSError:
      pass
  return names


def _kill_when(proc, model_dir, trigger, delay=0.0):
  """SIGKILLs `proc` `delay` s after trigger(names in model_dir and checkpoints/) is true.

  Returns:
    {"trigger": the names that fired it, "committed": the checkpoint number the state file named
    at the kill, "killed": False if the process ended first, "returncode": its exit status}.
  """
  deadline = time.monotonic() + TIMEOUT
  while proc.poll() is None and time.monotonic() < deadline:
    fired = trigger(_listing(model_dir))
    if fired:
      if delay:
        time.sleep(delay)
      committed = _committed(os.path.join(model_dir, "checkpoints"))
      proc.send_signal(signal.SIGKILL)
      proc.wait()
      return {"trigger": sorted(fired), "committed": committed, "killed": True,
              "returncode": proc.returncode}
    time.sleep(POLL)
  if proc.poll() is None:
    proc.kill()
    proc.wait()
  return {"trigger": [], "committed": None, "killed": False, "returncode": proc.returncode}


@functools.lru_cache(maxsize=1)
def _images():
  return sample_images(2)


def _inspect(model_dir):
  """What a killed run left behind (errors are recorded, not raised, so every test can report)."""
  ckpt_dir = os.path.join(model_dir, "checkpoints")
  facts = {"errors": []}
  latest = tf.train.latest_checkpoint(ckpt_dir)
  facts["latest"] = int(latest.rsplit("-", 1)[1]) if latest else None
  state = tf.train.get_checkpoint_state(ckpt_dir)
  listed = [os.path.basename(p) for p in state.all_model_checkpoint_paths] if state else []
  facts["listed"] = listed
  facts["counters"], facts["missing"] = {}, []
  for name in listed:
    if not os.path.exists(os.path.join(ckpt_dir, f"{name}.index")):
      # CheckpointManager.save records the new checkpoint, deletes the oldest beyond
      # max_to_keep, then records again: a kill in between leaves a deleted one listed.
      facts["missing"].append(int(name.split("-")[1]))
      continue
    try:
      reader = tf.train.load_checkpoint(os.path.join(ckpt_dir, name))
      facts["counters"][int(name.split("-")[1])] = {
          k: int(reader.get_tensor(f"{k}/.ATTRIBUTES/VARIABLE_VALUE")) for k in COUNTERS}
    except Exception as e:  # pylint: disable=broad-except
      facts["errors"].append(f"reading {name}: {type(e).__name__}: {e}")
  try:
    model = checkpoints.restore_model(model_dir)
    if not all(np.all(np.isfinite(v.numpy())) for v in model.variables):
      facts["errors"].append("restored variables are not finite")
  except Exception as e:  # pylint: disable=broad-except
    facts["errors"].append(f"restore_model: {type(e).__name__}: {e}")
  export = os.path.join(model_dir, "export")
  facts["export"] = None
  if os.path.exists(export):
    try:
      loaded = tf.saved_model.load(export)
      facts["export"] = sorted(loaded.signatures.keys())
      out = loaded.prototype(tf.constant(_images()))
      if not np.all(np.isfinite(out["x_hat"].numpy())):
        facts["errors"].append("export gives non-finite prototypes")
    except Exception as e:  # pylint: disable=broad-except
      facts["errors"].append(f"loading export/: {type(e).__name__}: {e}")
  facts["hidden"] = sorted(n for n in os.listdir(model_dir)
                          if n.startswith(".") and n != rundir.LOCK_FILE)
  facts["checkpoint_files"] = sorted(os.listdir(ckpt_dir)) if os.path.isdir(ckpt_dir) else []
  return facts


def _kill_plan(rng, model_dir):
  """[(name, factory, delay)] of the four kills.

  A factory takes the latest checkpoint number before the restart and returns (target, trigger);
  trigger(names) is the set of names that make it fire (empty: not yet).
  """
  total = 2 * STEPS
  ckpt_dir = os.path.join(model_dir, "checkpoints")

  def after_checkpoint(low, high):
    target = CHECKPOINT_EVERY * int(rng.integers(low // CHECKPOINT_EVERY,
                                                 high // CHECKPOINT_EVERY + 1))

    def factory(_):
      def trigger(names):
        return {f"checkpoints/ckpt-{n}.index" for n in _ckpt_numbers(
            os.path.basename(x) for x in names) if n >= target}
      return target, trigger
    return factory

  def during_save(_):
    # A stage-1 save after the first one and before the last, so that a checkpoint exists
    # whichever side of the state-file write the kill lands and the restart resumes stage 1
    # mid-way: fires the moment the save's temporary directory or its .index file shows up.
    target = CHECKPOINT_EVERY * int(rng.integers(2, STEPS // CHECKPOINT_EVERY))
    prefix = f"checkpoints/ckpt-{target}"
    return target, lambda names: {n for n in names if n in (f"{prefix}_temp", f"{prefix}.index")}

  def final_checkpoint(_):
    # Once the state file names the final checkpoint (the export comes next).
    def trigger(_):
      return {"checkpoints/checkpoint"} if _committed(ckpt_dir) == total else set()
    return total, trigger

  def export_tmp(_):
    return None, lambda names: {n for n in names if n.startswith(".export.tmp-")}

  return [
      ("stage 1 during a save", during_save, 0.0),
      ("stage 2 after a checkpoint",
       after_checkpoint(STEPS + CHECKPOINT_EVERY, total - 3 * CHECKPOINT_EVERY),
       float(rng.uniform(0.0, 0.1))),
      ("after the final checkpoint, before the export", final_checkpoint, 0.0),
      ("during the export", export_tmp, 0.0),
  ]


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
  """The kill chain and the uninterrupted run: {"kills": [...], "final": ..., dirs, logs}."""
  root = tmp_path_factory.mktemp("faults")
  flagfile = root / "kill.cfg"
  flagfile.write_text(kill_config().to_flagfile())
  killed_dir, whole_dir = str(root / "killed"), str(root / "whole")
  whole = _start_train(flagfile, whole_dir, root / "whole.log")  # runs alongside the chain
  rng = np.random.default_rng(KILL_SEED)
  kills, latest = [], 0
  try:
    for i, (name, factory, delay) in enumerate(_kill_plan(rng, killed_dir)):
      target, trigger = factory(latest)
      proc = _start_train(flagfile, killed_dir, root / f"killed.{i}.log")
      kill = _kill_when(proc, killed_dir, trigger, delay)
      kill.update(name=name, target=target, delay=delay, after=_inspect(killed_dir))
      kills.append(kill)
      latest = kill["after"]["latest"] or 0
    final = _start_train(flagfile, killed_dir, root / "killed.final.log")
    final_rc = final.wait(timeout=TIMEOUT)
    whole_rc = whole.wait(timeout=TIMEOUT)
  finally:
    if whole.poll() is None:
      whole.kill()
      whole.wait()
  return {"kills": kills, "final_rc": final_rc, "whole_rc": whole_rc, "killed_dir": killed_dir,
          "whole_dir": whole_dir, "root": root,
          "final_log": (root / "killed.final.log").read_text(errors="replace"),
          "whole_log": (root / "whole.log").read_text(errors="replace")}


def _describe(kill):
  after = kill["after"]
  return (f"{kill['name']}: target={kill['target']} delay={kill['delay']:.3f}s "
          f"trigger={kill['trigger']} committed={kill['committed']} latest={after['latest']} "
          f"listed={after['listed']} missing={after['missing']} "
          f"export={'complete' if after['export'] else 'absent'} hidden={after['hidden']}")


@pytest.mark.slow
def test_every_kill_happened_where_planned(chain):
  kills = chain["kills"]
  print("\n".join(_describe(k) for k in kills))
  assert [k["killed"] for k in kills] == [True] * 4, [_describe(k) for k in kills]
  assert all(k["returncode"] == -signal.SIGKILL for k in kills)
  steps = [k["after"]["counters"].get(k["after"]["latest"], {}) for k in kills]
  # 1: in stage 1; 2: in stage 2; 3, 4: after the last step.
  assert steps[0]["generative_step"] == 0 and 0 < steps[0]["inference_step"] < STEPS, steps[0]
  assert steps[1]["inference_step"] == STEPS and 0 < steps[1]["generative_step"] < STEPS
  for s in steps[2:]:
    assert (s["inference_step"], s["generative_step"]) == (STEPS, STEPS), s
  # Kill 4 struck while the export was being written: its temporary directory was left.
  assert any(n.startswith(".export.tmp-") for n in kills[3]["after"]["hidden"]), kills[3]
  # Each restart went on from where the previous process was killed.
  latest = [k["after"]["latest"] for k in kills]
  assert latest[0] < latest[1] < latest[2] == latest[3] == 2 * STEPS, latest


@pytest.mark.slow
def test_no_kill_loses_a_checkpoint(chain):
  for kill in chain["kills"]:
    after = kill["after"]
    assert not after["errors"], (_describe(kill), after["errors"])
    assert after["latest"] is not None, _describe(kill)
    # Never older than what the state file named when the process died.
    assert kill["committed"] is not None and after["latest"] >= kill["committed"], _describe(kill)
    listed = {int(n.split("-")[1]) for n in after["listed"]}
    assert after["counters"].keys() == listed - set(after["missing"]), after
    # Only an old one, that the manager was deleting when the kill struck, may be gone.
    assert after["latest"] in after["counters"], after
    assert all(n < after["latest"] for n in after["missing"]), after
    for number, counters in after["counters"].items():
      inf, gen = counters["inference_step"], counters["generative_step"]
      assert inf + gen == number, (number, counters)  # numbered by total steps
      assert counters["inference_optimizer/_iterations"] == inf, counters
      assert counters["sigma_optimizer/_iterations"] == inf, counters
      assert counters["generative_optimizer/_iterations"] == gen, counters
      assert 0 <= inf <= STEPS and 0 <= gen <= STEPS and (gen == 0 or inf == STEPS), counters
      assert number % CHECKPOINT_EVERY == 0, number


@pytest.mark.slow
def test_a_kill_never_leaves_a_half_written_export(chain):
  for kill in chain["kills"]:
    after = kill["after"]
    assert after["export"] in (None, ALL_SIGNATURES), _describe(kill)
    # Partial exports only ever exist under hidden temporary names, never as `export/`.
    for name in after["hidden"]:
      assert re.fullmatch(r"\.export\.(tmp|old)-[0-9a-f]{8}", name), (name, _describe(kill))
  # Killed before the first export finished: no export at all.
  assert [k["after"]["export"] for k in chain["kills"]] == [None] * 4


@pytest.mark.slow
def test_restarted_run_finishes_with_a_complete_export(chain):
  assert chain["final_rc"] == 0, chain["final_log"][-3000:]
  assert "Traceback" not in chain["final_log"]
  workdir = chain["killed_dir"]
  facts = _inspect(workdir)
  assert not facts["errors"], facts["errors"]
  assert facts["export"] == ALL_SIGNATURES
  assert facts["latest"] == 2 * STEPS
  # The export is the finished model's, not a stale or partial directory.
  model = checkpoints.restore_model(workdir)
  loaded = tf.saved_model.load(os.path.join(workdir, "export"))
  x = sample_images(4)
  proto = model.prototype(x)
  want_x_hat, want_eta = proto["x_hat"], proto["eta"]
  got = loaded.prototype(tf.constant(x))
  np.testing.assert_allclose(got["eta"].numpy(), want_eta.numpy(), rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(got["x_hat"].numpy(), want_x_hat.numpy(), rtol=1e-5, atol=1e-5)
  # The killed export's temporary directory is still there (nothing removes it), hidden, and
  # without a saved_model.pb: nothing would mistake it for the export.
  for name in facts["hidden"]:
    assert name.startswith(".export.tmp-"), facts["hidden"]
    assert not os.path.exists(os.path.join(workdir, name, "saved_model.pb")), name


@pytest.mark.slow
def test_interrupted_run_equals_the_uninterrupted_one(chain):
  """Resume is exact: the four-times-killed run ends with bitwise the same weights and metrics."""
  assert chain["whole_rc"] == 0, chain["whole_log"][-3000:]
  assert chain["final_rc"] == 0, chain["final_log"][-3000:]
  metrics = []
  for workdir in (chain["killed_dir"], chain["whole_dir"]):
    with open(os.path.join(workdir, "metrics.json")) as f:
      metrics.append({k: v for k, v in json.load(f).items() if k != "export_path"})
  killed, whole = metrics
  assert killed.keys() == whole.keys()
  assert any(k.startswith("inference/") for k in whole)
  assert any(k.startswith("generative/") for k in whole)
  # Measured: identical to the last bit (max relative difference 0). rtol 1e-5 allows for
  # float non-associativity should XLA ever reorder a reduction between processes.
  worst = max(abs(killed[k] - v) / max(abs(v), 1e-12) for k, v in whole.items())
  print(f"\ninterrupted vs uninterrupted metrics.json: max relative difference {worst:.3g}")
  for key, value in whole.items():
    assert killed[key] == pytest.approx(value, rel=1e-5, abs=1e-7), key
  # All weights, optimiser slots and step counters (not the per-process save counter).
  got, want = (
      {k: v for k, v in checkpoint_tensors(d, "").items() if not k.startswith("save_counter")}
      for d in (chain["killed_dir"], chain["whole_dir"]))
  assert_same_tensors(got, want)


@pytest.mark.slow
def test_interrupted_run_logged_the_uninterrupted_runs_scalars(chain):
  """Every training scalar the killed processes logged is bitwise the uninterrupted run's.

  Two processes with the same seed (and, for the killed run, four restarts from checkpoints) log
  the same trajectory: a step re-trained after a restart logs the same value again. A kill may
  lose a process's unflushed events, so the killed run may lack some steps, never differ.
  """
  whole = logged_scalars(os.path.join(chain["whole_dir"], "train"))
  killed = logged_scalars(os.path.join(chain["killed_dir"], "train"))
  assert killed.keys() == whole.keys()
  for tag in ("inference/loss", "inference/x_mse", "inference/grad_norm", "generative/loss",
              "generative/log_p"):
    assert sorted(whole[tag]) == list(range(10, STEPS + 1, 10)), tag  # log_every=10
    assert all(len(v) == 1 for v in whole[tag].values()), tag  # logged once per step
  compared = 0
  for tag, steps in killed.items():
    assert set(steps) <= set(whole[tag]), tag
    for step, values in steps.items():
      want = whole[tag][step][0]
      for value in values:
        assert np.isfinite(value), (tag, step)
        assert value.tobytes() == want.tobytes(), (tag, step, value, want)
        compared += 1
  # Most of the trajectory was compared, and it is a real one (not a constant).
  assert len(killed["inference/loss"]) >= len(whole["inference/loss"]) // 2
  assert len(killed["generative/loss"]) >= len(whole["generative/loss"]) // 2
  losses = [whole["inference/loss"][s][0] for s in sorted(whole["inference/loss"])]
  assert len(np.unique(losses)) > len(losses) // 2
  print(f"\n{compared} logged scalars of the killed run equal the uninterrupted run's")


# ---------------------------------------------------------------------------------------------
# Damaged checkpoints, unwritable model dirs, NaN data: one line, exit 2.


def _damage(workdir, how):
  ckpt_dir = os.path.join(workdir, "checkpoints")
  latest = tf.train.latest_checkpoint(ckpt_dir)
  data, index = f"{latest}.data-00000-of-00001", f"{latest}.index"
  rng = np.random.default_rng(7)
  if how == "data_garbage":
    size = os.path.getsize(data)
    with open(data, "wb") as f:
      f.write(rng.integers(0, 256, size, dtype=np.uint8).tobytes())
  elif how == "data_truncated":
    os.truncate(data, os.path.getsize(data) // 2)
  elif how == "index_truncated":
    os.truncate(index, os.path.getsize(index) // 2)
  elif how == "data_missing":
    os.remove(data)
  else:
    raise ValueError(how)


DAMAGE = ("data_garbage", "data_truncated", "index_truncated", "data_missing")
STATE_DAMAGE = ("state_garbage", "state_missing")


def _rerun_damaged(source, root, how):
  workdir = str(root / how)
  shutil.copytree(source, workdir)
  _damage(workdir, how)
  flagfile = os.path.join(workdir, "flags.cfg")
  return workdir, run_module("trainers.train", f"--flagfile={flagfile}", f"--model_dir={workdir}")


def _rerun_with_bad_state_file(source, root, how):
  """Re-runs a finished run whose `checkpoint` state file is garbage or missing.

  The ckpt-* files are intact. If it starts training from scratch over them (a `ckpt-10` file
  appears) it is stopped at once (SIGKILL), so that failure costs seconds, not a whole run.
  """
  workdir = str(root / how)
  shutil.copytree(source, workdir)
  state_file = os.path.join(workdir, "checkpoints", "checkpoint")
  if how == "state_garbage":
    with open(state_file, "w") as f:
      f.write("model_checkpoint_path: {{{ not a checkpoint state\n")
  else:
    os.remove(state_file)
  log_path = root / f"{how}.log"
  proc = _start_train(os.path.join(workdir, "flags.cfg"), workdir, log_path)
  first = f"checkpoints/ckpt-{CHECKPOINT_EVERY}.index"
  kill = _kill_when(proc, workdir, lambda names: {n for n in names if n == first})
  return workdir, kill, log_path.read_text(errors="replace")


@pytest.fixture(scope="module")
def damaged(chain):
  """{case: result} of re-running copies of the finished uninterrupted run, damaged."""
  root = chain["root"] / "damaged"
  root.mkdir()
  source = chain["whole_dir"]
  with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
    futures = {how: pool.submit(_rerun_damaged, source, root, how) for how in DAMAGE}
    for how in STATE_DAMAGE:
      futures[how] = pool.submit(_rerun_with_bad_state_file, source, root, how)
    return {k: f.result() for k, f in futures.items()}


def _assert_one_error_line(stderr, returncode, *texts):
  assert "Traceback" not in stderr, stderr[-3000:]
  assert returncode == 2, (returncode, stderr[-3000:])
  lines = user_lines(stderr)
  assert len(lines) == 1 and lines[0].startswith("error: "), lines
  assert any(t in lines[0] for t in texts), lines


@pytest.mark.slow
@pytest.mark.parametrize("how", DAMAGE)
def test_damaged_checkpoint_gives_one_error_line(damaged, how):
  workdir, proc = damaged[how]
  _assert_one_error_line(proc.stderr, proc.returncode, "checkpoint")
  line = user_lines(proc.stderr)[0]
  assert "--model_dir" in line and os.path.join(workdir, "checkpoints", "ckpt-") in line, line


@pytest.mark.slow
def test_damaged_checkpoint_is_not_overwritten(damaged):
  """A failed restore must not start over and replace the checkpoints, nor export anything."""
  for how in DAMAGE + STATE_DAMAGE:
    workdir = damaged[how][0]
    names = os.listdir(os.path.join(workdir, "checkpoints"))
    assert _ckpt_numbers(names) == {2 * STEPS - 20, 2 * STEPS - 10, 2 * STEPS}, (how, names)
    if how in DAMAGE:
      assert _committed(os.path.join(workdir, "checkpoints")) == 2 * STEPS, how
    assert not any(n.startswith(".export.tmp-") for n in os.listdir(workdir)), how


@pytest.mark.slow
@pytest.mark.parametrize("how", STATE_DAMAGE)
def test_bad_checkpoint_state_file_is_refused_not_ignored(damaged, how):
  """Without a readable state file, TF sees no checkpoint: the run must not restart from 0."""
  _, kill, log = damaged[how]
  assert not kill["killed"], "it started training from step 0: " + log[-2000:]
  _assert_one_error_line(log, kill["returncode"], "'checkpoint' state file")


# A model dir that is a file or under one: tests/test_cli.py's BAD_COMMAND_LINES (refused before
# TensorFlow, like this case).
@pytest.mark.slow
@pytest.mark.parametrize("where", ["read_only_parent"])
def test_unwritable_model_dir_fails_before_training(tmp_path, where):
  blocker = tmp_path / "blocker"
  blocker.write_text("not a directory\n")
  if where == "under_a_file":  # fails for root too
    model_dir = blocker / "model"
  elif where == "is_a_file":
    model_dir = blocker
  else:
    if os.geteuid() == 0:
      pytest.skip("root ignores directory permissions (the file cases cover root)")
    parent = tmp_path / "read_only"
    parent.mkdir()
    parent.chmod(0o500)
    model_dir = parent / "model"
  before = sorted(p.name for p in tmp_path.iterdir())
  flagfile = tmp_path / "tiny.cfg.txt"
  flagfile.write_text(tiny_config().to_flagfile())
  try:
    proc = run_module("trainers.train", f"--flagfile={flagfile}", f"--model_dir={model_dir}")
  finally:
    if where == "read_only_parent":
      (tmp_path / "read_only").chmod(0o700)
  _assert_one_error_line(proc.stderr, proc.returncode, "--model_dir")
  assert "cannot write" in user_lines(proc.stderr)[0]
  assert "stage " not in proc.stderr  # no progress line: it failed before training
  assert blocker.read_text() == "not a directory\n"
  assert sorted(p.name for p in tmp_path.iterdir()) == sorted(before + ["tiny.cfg.txt"])
  if where == "read_only_parent":
    assert os.listdir(tmp_path / "read_only") == []


@pytest.mark.slow
@pytest.mark.parametrize("bad", ["nan", "inf"])
def test_npz_with_non_finite_pixels_gives_one_error_line(tmp_path, bad):
  rng = np.random.default_rng(3)
  images = rng.uniform(0.0, 1.0, (60, 28, 28)).astype(np.float32)
  images[17, 5, 9] = np.nan if bad == "nan" else np.inf
  path = tmp_path / "digits.npz"
  np.savez(path, images=images, labels=np.arange(60) % 3)
  flagfile = tmp_path / "tiny.cfg"
  flagfile.write_text(tiny_config(dataset=f"npz:{path}").to_flagfile())
  model_dir = tmp_path / "model"
  proc = run_module("trainers.train", f"--flagfile={flagfile}", f"--model_dir={model_dir}")
  _assert_one_error_line(proc.stderr, proc.returncode, "NaN or infinite")
  assert str(path) in user_lines(proc.stderr)[0]
  assert not model_dir.exists()


def _train_with_file_size_limit(flagfile, model_dir, limit, *args):
  """`python -m trainers.train` where no file may grow beyond `limit` bytes (RLIMIT_FSIZE).

  Writes past the limit fail with EFBIG ("File too large"), as they fail with ENOSPC on a full
  disk: the same failed-write path, reproducible without root or a small filesystem.
  """

  def limit_file_size():
    import resource
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed.

  return subprocess.run(
      [sys.executable, "-m", "trainers.train", f"--flagfile={flagfile}",
       f"--model_dir={model_dir}", *args], cwd=str(REPO), env=_env(), capture_output=True,
      text=True, timeout=TIMEOUT, preexec_fn=limit_file_size)


@pytest.mark.slow
def test_full_disk_at_a_checkpoint_keeps_the_last_one_and_resumes(chain, tmp_path):
  # A copy of the finished uninterrupted run, continued by 10 stage-2 steps (one checkpoint).
  model_dir = tmp_path / "model"
  shutil.copytree(chain["whole_dir"], model_dir)
  flagfile = model_dir / "flags.cfg"
  # Plain graphs: the failed write and the resume are bookkeeping, not the compiled step.
  more = (f"--generative_steps={STEPS + CHECKPOINT_EVERY}", "--jit_compile=false")
  ckpt_dir = model_dir / "checkpoints"
  before = sorted(os.listdir(ckpt_dir))
  last = f"ckpt-{2 * STEPS}"
  size = os.path.getsize(ckpt_dir / f"{last}.data-00000-of-00001")
  # The next checkpoint cannot be written: its data file would exceed the limit.
  full = _train_with_file_size_limit(flagfile, model_dir, size // 2, *more)
  assert "Traceback" not in full.stderr and full.returncode == 2, full.stderr[-3000:]
  lines = [line for line in user_lines(full.stderr)
           if not line.startswith(("stage generative", "resuming stage generative"))]
  assert len(lines) == 1, lines  # Besides the resume and progress lines: one error line.
  new = f"ckpt-{2 * STEPS + CHECKPOINT_EVERY}"
  assert lines[0].startswith(f"error: cannot write checkpoint {ckpt_dir}/{new} (File too large)")
  assert "re-run" in lines[0], lines
  assert sorted(os.listdir(ckpt_dir)) == before  # No partial checkpoint; the last one stays.
  assert tf.train.latest_checkpoint(str(ckpt_dir)).endswith(last)
  # Space freed: the same command resumes from that checkpoint, finishes and exports.
  again = run_module("trainers.train", f"--flagfile={flagfile}", f"--model_dir={model_dir}", *more)
  assert again.returncode == 0, again.stderr[-3000:]
  assert tf.train.latest_checkpoint(str(ckpt_dir)).endswith(new)
  assert (model_dir / "export" / "saved_model.pb").exists()
