"""Tests of inv_tf.training.rundir: the model dir's lock, its run files (flags.cfg, config.json)."""

import json
import os

import pytest

from inv_tf import config as config_lib
from inv_tf import config_flags
from inv_tf.config import ConfigError
from inv_tf.training import rundir
from support import IMAGE_SHAPE, tiny_config


def test_a_locked_model_dir_is_refused_naming_the_live_run(tmp_path):
  workdir = str(tmp_path / "model")
  with rundir.workdir_lock(workdir):
    with pytest.raises(ConfigError) as e:
      with rundir.workdir_lock(workdir):
        pass
  message = str(e.value)
  assert message.startswith(f"--model_dir: {workdir!r} is in use by another run (pid "
                            f"{os.getpid()} on "), message
  assert "\n" not in message
  assert not os.path.exists(os.path.join(workdir, rundir.LOCK_FILE))  # released and removed
  with rundir.workdir_lock(workdir):
    pass


def test_a_stale_lock_left_by_a_killed_run_is_taken_over(tmp_path):
  workdir = tmp_path / "model"
  workdir.mkdir()
  # What a kill -9 leaves: the file with the dead owner's pid, no process holding the flock.
  (workdir / rundir.LOCK_FILE).write_text("pid 999999 on somehost, started 2026-01-01T00:00:00")
  with rundir.workdir_lock(str(workdir)):
    assert f"pid {os.getpid()} " in (workdir / rundir.LOCK_FILE).read_text()
  assert not (workdir / rundir.LOCK_FILE).exists()


def test_a_lock_held_by_another_process_is_refused_and_recovered_after_its_kill(tmp_path):
  import subprocess
  import sys
  workdir = tmp_path / "model"
  holder = subprocess.Popen(
      [sys.executable, "-c", "import fcntl, os, sys, time\n"
       f"f = open({str(workdir / rundir.LOCK_FILE)!r}, 'a+')\n"
       "fcntl.flock(f, fcntl.LOCK_EX)\n"
       "f.write(f'pid {os.getpid()} on host, started now'); f.flush()\n"
       "print('locked', flush=True); time.sleep(60)\n"],
      stdout=subprocess.PIPE, text=True)
  try:
    workdir.mkdir()
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(ConfigError, match=rf"in use by another run \(pid {holder.pid} "):
      with rundir.workdir_lock(str(workdir)):
        pass
  finally:
    holder.kill()
    holder.wait()
  with rundir.workdir_lock(str(workdir)):  # the kernel dropped the dead process's lock
    pass


def test_a_new_run_writes_its_config_as_flags_cfg_and_as_config_json(tmp_path):
  workdir = str(tmp_path / "model")
  config = tiny_config(seed=3, bounds=(0.1, 0.2, 0.3, 0.4, 0.5))
  rundir.prepare_workdir(config, workdir, IMAGE_SHAPE)
  with open(os.path.join(workdir, "config.json")) as f:
    stored = json.load(f)
  assert stored["seed"] == 3 and stored["bounds"] == [0.1, 0.2, 0.3, 0.4, 0.5]
  with open(os.path.join(workdir, "flags.cfg")) as f:
    assert config_flags.from_flagfile(f.read()) == config
  assert rundir.read_run(workdir) == (config, IMAGE_SHAPE)
  assert not [n for n in os.listdir(workdir) if n.endswith(".tmp")]  # both written atomically


def test_read_run_reads_config_json_not_flags_cfg(tmp_path):
  workdir = str(tmp_path / "model")
  rundir.prepare_workdir(tiny_config(), workdir, IMAGE_SHAPE)
  with open(os.path.join(workdir, "flags.cfg"), "w") as f:
    f.write("a hand-edited flags.cfg is documentation, not the run's record\n")
  assert rundir.read_run(workdir)[0] == tiny_config()


def test_a_run_from_before_config_json_is_read_from_its_flags_cfg(tmp_path):
  workdir = str(tmp_path / "model")
  rundir.prepare_workdir(tiny_config(seed=5), workdir, IMAGE_SHAPE)
  os.remove(os.path.join(workdir, "config.json"))
  assert rundir.read_run(workdir) == (tiny_config(seed=5), IMAGE_SHAPE)


def test_a_dir_without_run_files_holds_no_run(tmp_path):
  with pytest.raises(ConfigError, match=r"^--sgm_dir: .* holds no training run"):
    rundir.read_run(str(tmp_path), flag="sgm_dir")


def test_check_run_compares_the_architecture_and_if_given_the_image_shape(tmp_path):
  workdir = str(tmp_path / "model")
  assert not rundir.check_run(tiny_config(), workdir, IMAGE_SHAPE)  # no run: nothing to compare
  assert not os.path.exists(workdir)  # and nothing created
  rundir.prepare_workdir(tiny_config(), workdir, IMAGE_SHAPE)
  assert rundir.check_run(tiny_config(seed=4), workdir, IMAGE_SHAPE)  # training flags may change
  with pytest.raises(ConfigError) as e:
    rundir.check_run(tiny_config(inference_hidden_dims=(16,)), workdir)
  assert str(e.value) == (f"--model_dir: {workdir!r} holds a run with inference_hidden_dims=[32], "
                          "but this run has inference_hidden_dims=[16]; use another --model_dir "
                          "or the same configuration")
  assert rundir.check_run(tiny_config(), workdir)  # no image shape: the architecture only
  with pytest.raises(ConfigError, match=r"holds a model for images of shape \[28, 28, 1\], but "
                                        r"--dataset=mnist has \[32, 32, 1\]$"):
    rundir.check_run(tiny_config(), workdir, (32, 32, 1))


def test_read_sgm_run_refuses_a_vae_run_and_reads_an_sgm_run_through_its_export(tmp_path):
  sgm, vae = str(tmp_path / "sgm"), str(tmp_path / "vae")
  rundir.prepare_workdir(tiny_config(), sgm, IMAGE_SHAPE)
  rundir.prepare_workdir(tiny_config(model="vae"), vae, IMAGE_SHAPE)
  assert rundir.read_sgm_run(os.path.join(sgm, "export")) == (tiny_config(), IMAGE_SHAPE)
  with pytest.raises(ConfigError, match=rf"^--sgm_dir: {vae!r} holds a --model=vae run, not an "
                                        "SGM$"):
    rundir.read_sgm_run(vae, flag="sgm_dir")


def test_has_checkpoint_files_sees_a_state_file_or_an_index(tmp_path):
  workdir = tmp_path / "model"
  assert not rundir.has_checkpoint_files(str(workdir))
  (workdir / "checkpoints").mkdir(parents=True)
  (workdir / "checkpoints" / "ckpt-3_temp").mkdir()  # a killed save's leftovers name nothing
  assert not rundir.has_checkpoint_files(str(workdir))
  (workdir / "checkpoints" / "ckpt-3.index").write_text("")
  assert rundir.has_checkpoint_files(str(workdir))
  (workdir / "checkpoints" / "ckpt-3.index").unlink()
  (workdir / "checkpoints" / "checkpoint").write_text('model_checkpoint_path: "ckpt-3"\n')
  assert rundir.has_checkpoint_files(str(workdir))
  assert rundir.checkpoint_dir(str(workdir)) == str(workdir / "checkpoints")


def test_writing_turns_a_failed_write_into_one_line_and_lets_other_errors_through(tmp_path):
  path = str(tmp_path / "no_such_dir" / "metrics.json")
  with pytest.raises(rundir.RunError, match=rf"^cannot write metrics {path} \(No such file or "
                                            r"directory\); free disk space"):
    with rundir.writing("metrics", path):
      rundir.write_atomic(path, "{}")
  with pytest.raises(KeyError):
    with rundir.writing("metrics", path):
      raise KeyError("not a write")


def _write_as_before_the_renames(workdir: str, old_stage: str):
  """Rewrites a run's flags.cfg, config.json and run.json as inv_tf wrote them before the renames
  of issue 18: `bounds_mult`, no `model`, `stage` naming the model (e.g. vae_aug)."""
  path = os.path.join(workdir, "flags.cfg")
  with open(path) as f:
    lines = [l for l in f.read().splitlines() if not l.startswith(("--model=", "--stage="))]
  with open(path, "w") as f:
    f.write("\n".join(lines + [f"--stage={old_stage}"]).replace(
        "--generative_augment_range=", "--bounds_mult=") + "\n")
  path = os.path.join(workdir, "config.json")
  with open(path) as f:
    stored = json.load(f)
  stored["bounds_mult"] = stored.pop("generative_augment_range")
  del stored["model"]
  stored["stage"] = old_stage
  with open(path, "w") as f:
    json.dump(stored, f)
  path = os.path.join(workdir, "run.json")
  with open(path) as f:
    run = json.load(f)
  if "model" in run["architecture"]:
    run["architecture"]["model"] = old_stage
  with open(path, "w") as f:
    json.dump(run, f)


@pytest.mark.parametrize("kept", ["config.json", "flags.cfg"])
@pytest.mark.parametrize("old_stage, model, stage", [
    ("sgm", "sgm", "all"), ("generative", "sgm", "generative"), ("vae", "vae", "all"),
    ("vae_aug", "vae_standard_aug", "all"), ("augvae", "augvae", "all")])
def test_a_run_written_before_the_renames_is_read_with_the_new_names(tmp_path, kept, old_stage,
                                                                      model, stage):
  workdir = str(tmp_path / "model")
  config = tiny_config(seed=2, generative_augment_range=0.25, model=model, stage=stage,
                       sgm_dir="runs/sgm" if model == "augvae" else "")
  rundir.prepare_workdir(config, workdir, IMAGE_SHAPE)
  _write_as_before_the_renames(workdir, old_stage)
  for name in ("config.json", "flags.cfg"):
    with open(os.path.join(workdir, name)) as f:
      text = f.read()
    assert "bounds_mult" in text and "generative_augment_range" not in text, name
    assert "model" not in text.replace("model_dir", ""), name
  if kept == "flags.cfg":
    os.remove(os.path.join(workdir, "config.json"))
  assert rundir.read_run(workdir) == (config, IMAGE_SHAPE)
  rundir.prepare_workdir(config, workdir, IMAGE_SHAPE)  # resumable: run.json's model is the same


def test_check_writable_refuses_what_make_workdir_cannot_write_and_writes_nothing(tmp_path):
  blocker = tmp_path / "blocker"
  blocker.write_text("x")
  for path, reason in ((blocker, "File exists"), (blocker / "model", "Not a directory")):
    with pytest.raises(ConfigError) as refused:
      rundir.check_writable(str(path))
    with pytest.raises(ConfigError) as failed:
      rundir.make_workdir(str(path))
    assert str(refused.value) == str(failed.value)  # the same line as the write's
    assert str(refused.value) == f"--model_dir: cannot write to {str(path)!r} ({reason})"
  rundir.check_writable(str(tmp_path / "new" / "nested" / "model"))  # creatable
  rundir.check_writable(str(tmp_path))  # exists
  assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker"]


def test_check_writable_refuses_a_read_only_parent(tmp_path):
  if os.geteuid() == 0:
    pytest.skip("root ignores directory permissions")
  parent = tmp_path / "read_only"
  parent.mkdir()
  parent.chmod(0o500)
  try:
    with pytest.raises(ConfigError, match=r"cannot write to .*\(Permission denied\)"):
      rundir.check_writable(str(parent / "model"))
  finally:
    parent.chmod(0o700)
