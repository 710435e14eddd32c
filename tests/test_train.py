"""End-to-end tests of `inv_tf.training.train` (library level): outputs, summaries, resume, refusal.

Every run uses TINY (`support.py`; a few seconds of XLA compilation per stage, 6 steps each). The
reference run is conftest.py's `shared_run`, which other modules read too; the other trainings are
the resume run (stage "inference", then "sgm" in the same directory), which must end bitwise
equal to the reference run (determinism), and a re-run of a copy of the finished reference run.
"""

import contextlib
import io
import json
import math
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from inv_tf import config as config_lib
from inv_tf import config_flags
from inv_tf.config import Config, ConfigError
from inv_tf.training import checkpoints
from inv_tf.training import rundir
from inv_tf.training import train as train_lib
from support import (IMAGE_SHAPE, TINY, assert_same_tensors, checkpoint_tensors,
                     checkpoint_value, read_events, sample_images, tiny_config)

# ---------------------------------------------------------------------------------------------
# The reference run.

STAGE_METRICS = {
    "inference": ("loss", "x_mse", "inv_mse", "grad_norm", "lr", "sigma_lr", "sigma",
                  "blur_sigma", "augment_mult"),
    "generative": ("loss", "log_p", "consistency", "grad_norm", "lr"),
}


@pytest.fixture(scope="module")
def run(shared_run):
  return shared_run


@pytest.mark.slow
def test_run_writes_every_output(run):
  workdir, results = run
  for name in ("flags.cfg", "config.json", "run.json", "metrics.json", "export/saved_model.pb"):
    assert os.path.isfile(os.path.join(workdir, name)), name
  for name in ("train", "validation"):
    files = os.listdir(os.path.join(workdir, name))
    assert any(f.startswith("events.out.tfevents") for f in files), (name, files)
  assert tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints")) is not None
  # Nothing temporary is left behind (atomic writes of files and of the export).
  leftovers = [f for f in os.listdir(workdir) if ".tmp" in f or ".old-" in f or f == ".write_test"]
  assert not leftovers
  with open(os.path.join(workdir, "run.json")) as f:
    run_info = json.load(f)
  assert run_info["image_shape"] == list(IMAGE_SHAPE)
  assert run_info["architecture"] == json.loads(json.dumps(tiny_config().architecture()))


@pytest.mark.slow
def test_results_are_finite_and_saved(run):
  workdir, results = run
  assert results["export_path"] == os.path.join(os.path.abspath(workdir), "export")
  for key in ("inference/loss", "inference/x_mse", "generative/loss", "generative/log_p",
              "generative/consistency"):
    assert key in results, sorted(results)
    assert math.isfinite(results[key]), (key, results[key])
  assert "generative/mae" not in results  # the consistency term's name before issue 18
  with open(os.path.join(workdir, "metrics.json")) as f:
    assert json.load(f) == pytest.approx(results)


@pytest.mark.slow
def test_checkpoint_holds_both_stages(run):
  workdir, _ = run
  assert checkpoint_value(workdir, "inference_step") == 6
  assert checkpoint_value(workdir, "generative_step") == 6
  for opt in ("inference_optimizer", "sigma_optimizer", "generative_optimizer"):
    assert checkpoint_value(workdir, f"{opt}/_iterations") == 6, opt
  # checkpoint_every=3: numbered by total steps, both stages' saves kept (max_checkpoints=3).
  state = tf.train.get_checkpoint_state(os.path.join(workdir, "checkpoints"))
  assert [os.path.basename(p) for p in state.all_model_checkpoint_paths] == [
      "ckpt-6", "ckpt-9", "ckpt-12"]


@pytest.mark.slow
def test_event_files_hold_scalars_images_and_histograms(run):
  workdir, results = run
  train = read_events(os.path.join(workdir, "train"))
  for stage, names in STAGE_METRICS.items():
    for name in names:
      plugin, events = train[f"{stage}/{name}"]
      assert plugin == "scalars"
      assert [step for step, _ in events] == [2, 4, 6], (stage, name)  # log_every=2
      assert all(np.isfinite(v) for _, v in events), (stage, name)
  # hparams: the session is the run's directory (see test_hparams_*), not train/.
  assert "_hparams_/session_start_info" not in train

  val = read_events(os.path.join(workdir, "validation"))
  for key in ("inference/loss", "inference/x_mse", "generative/loss", "generative/log_p"):
    plugin, events = val[key]
    assert plugin == "scalars"
    assert [step for step, _ in events] == [6]
    np.testing.assert_allclose(events[-1][1], results[key], rtol=1e-5, atol=1e-6)

  for stage in STAGE_METRICS:  # each stage writes its own grid and histograms
    plugin, images = val[f"{stage}/x | prototype | resamples"]
    assert plugin == "images" and images
    for _, value in images:  # [width, height, png]
      png = tf.io.decode_png(value[2])
      assert png.shape[0] >= 8 * IMAGE_SHAPE[0] and png.shape[1] >= 8 * IMAGE_SHAPE[1]
      assert (int(value[0]), int(value[1])) == (png.shape[1], png.shape[0])

  params = ("tx", "ty", "rotation", "log_scale_x", "log_scale_y")  # affine_no_shear
  batch = TINY["eval_batch_size"]  # the whole validation batch, not the 8 images of the grid
  for stage, name in ((s, n) for s in STAGE_METRICS for n in params):
    for kind, count in (("eta_q", batch), ("eta_p", batch * 8)):  # 8 draws of p per image
      plugin, hists = val[f"{stage}/{kind}/{name}"]
      assert plugin == "histograms"
      for _, value in hists:  # [buckets, (left, right, count)]
        assert value.ndim == 2 and value.shape[1] == 3
        assert np.all(np.isfinite(value))
        assert value[:, 2].sum() == pytest.approx(count), (kind, name)


def _metadata(logdir, tag):
  from tensorboard.backend.event_processing import event_accumulator as ea
  acc = ea.EventAccumulator(str(logdir), size_guidance={ea.TENSORS: 0})
  acc.Reload()
  return acc.SummaryMetadata(tag), acc


@pytest.mark.slow
def test_hparams_session_is_the_run_with_validation_metrics(run):
  from tensorboard.plugins.hparams import plugin_data_pb2
  workdir, _ = run
  experiment, acc = _metadata(workdir, "_hparams_/experiment")
  config = plugin_data_pb2.HParamsPluginData.FromString(experiment.plugin_data.content).experiment
  metrics = [(m.name.group, m.name.tag) for m in config.metric_infos]
  assert metrics == [("validation", f"{stage}/{name}") for stage, names in (
      ("inference", ("loss", "x_mse", "inv_mse")), ("generative", ("loss", "log_p", "consistency")))
      for name in names]
  assert all(m.description for m in config.metric_infos)
  assert {h.name for h in config.hparam_infos} >= {"inference_lr", "generative_augment_range",
                                                    "seed"}
  start, _ = _metadata(workdir, "_hparams_/session_start_info")
  session = plugin_data_pb2.HParamsPluginData.FromString(start.plugin_data.content)
  assert session.session_start_info.group_name == os.path.basename(workdir)  # trial id
  assert session.session_start_info.hparams["inference_steps"].number_value == 6
  # Every metric of the config is a scalar the validation writer holds.
  val = read_events(os.path.join(workdir, "validation"))
  assert all(tag in val for _, tag in metrics)


@pytest.mark.slow
def test_every_scalar_and_histogram_has_a_description(run):
  workdir, _ = run
  for sub in ("train", "validation"):
    for tag, (plugin, _) in read_events(os.path.join(workdir, sub)).items():
      if plugin in ("scalars", "histograms"):
        metadata, _ = _metadata(os.path.join(workdir, sub), tag)
        assert metadata.summary_description, (sub, tag)
  metadata, _ = _metadata(os.path.join(workdir, "validation"), "inference/x_mse")
  assert "prototype" in metadata.summary_description
  metadata, _ = _metadata(os.path.join(workdir, "train"), "generative/consistency")
  assert "log p" in metadata.summary_description


@pytest.mark.slow
def test_visuals_of_the_two_stages_do_not_collide(run):
  workdir, _ = run
  val = read_events(os.path.join(workdir, "validation"))
  for tag, (plugin, events) in val.items():
    if plugin in ("images", "histograms"):
      steps = [step for step, _ in events]
      assert len(steps) == len(set(steps)), (tag, steps)


@pytest.mark.slow
def test_flags_cfg_parses_back_into_the_config(run):
  workdir, _ = run
  with open(os.path.join(workdir, "flags.cfg")) as f:
    text = f.read()
  assert config_flags.from_flagfile(text) == tiny_config()
  # One --name=value line per Config field.
  assert len(text.strip().splitlines()) == len(tiny_config().__dataclass_fields__)
  # config.json, written with it, holds the same config as data: what `read_run` reads back.
  with open(os.path.join(workdir, "config.json")) as f:
    assert config_lib.from_json(f.read()) == tiny_config()
  assert rundir.read_run(workdir) == (tiny_config(), IMAGE_SHAPE)


@pytest.mark.slow
def test_inv_tf_load_returns_the_trained_sgm(run, trained_model):
  import inv_tf
  from inv_tf.models.sgm import SGM
  workdir, _ = run
  for path in (workdir, os.path.join(workdir, "export")):
    model = inv_tf.load(path)
    assert isinstance(model, SGM) and model.config == tiny_config()
    x = sample_images()
    got, want = model.prototype(x), trained_model.prototype(x)
    np.testing.assert_array_equal(got["eta"].numpy(), want["eta"].numpy())
  with pytest.raises(config_lib.ConfigError, match="holds no training run"):
    inv_tf.load(os.path.dirname(workdir) + "/no_such_run")


@pytest.mark.slow
def test_restore_model_matches_the_trained_model(run, trained_model):
  workdir, _ = run
  model = checkpoints.restore_model(workdir)
  assert model.config == tiny_config()
  assert model.image_shape == IMAGE_SHAPE
  trained = trained_model
  assert len(model.variables) == len(trained.variables)
  for restored, original in zip(model.variables, trained.variables):
    np.testing.assert_array_equal(restored.numpy(), original.numpy(), err_msg=original.path)
  x = sample_images()
  proto = model.prototype(x)
  x_hat, eta = proto["x_hat"], proto["eta"]
  proto = trained.prototype(x)
  want_x_hat, want_eta = proto["x_hat"], proto["eta"]
  np.testing.assert_array_equal(eta.numpy(), want_eta.numpy())
  np.testing.assert_array_equal(x_hat.numpy(), want_x_hat.numpy())
  seed = tf.constant([1, 2], tf.int32)
  np.testing.assert_array_equal(model.sample_eta(x_hat, 3, seed).numpy(),
                                trained.sample_eta(want_x_hat, 3, seed).numpy())
  # The export was written from the same trained model.
  loaded = tf.saved_model.load(os.path.join(workdir, "export"))  # keep a reference: it owns
  exported = loaded.prototype(tf.constant(x))                     # the variables
  np.testing.assert_allclose(exported["eta"].numpy(), eta.numpy(), rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(exported["x_hat"].numpy(), x_hat.numpy(), rtol=1e-5, atol=1e-5)
  # And the restored weights are the checkpointed ones, not a fresh initialisation.
  fresh_eta = train_lib.create_state(tiny_config(), IMAGE_SHAPE).model.prototype(x)["eta"]
  assert not np.allclose(fresh_eta.numpy(), eta.numpy())


def test_restore_model_without_a_run_raises(tmp_path):
  with pytest.raises(ConfigError, match="holds no training run"):
    checkpoints.restore_model(str(tmp_path))
  rundir.prepare_workdir(tiny_config(), str(tmp_path), IMAGE_SHAPE)  # run files, no ckpt
  with pytest.raises(ConfigError, match="no checkpoint"):
    checkpoints.restore_model(str(tmp_path))


# ---------------------------------------------------------------------------------------------
# Re-running, resuming, refusing.


@pytest.fixture(scope="module")
def rerun(run, tmp_path_factory):
  """A copy of the finished reference run, re-run with the same config: (dir, before, results)."""
  workdir = str(tmp_path_factory.mktemp("rerun") / "model")
  shutil.copytree(run[0], workdir)
  before = {
      "checkpoints": sorted(os.listdir(os.path.join(workdir, "checkpoints"))),
      "variables": checkpoint_tensors(workdir, ""),
      "metrics_mtime": os.stat(os.path.join(workdir, "metrics.json")).st_mtime_ns,
  }
  os.utime(os.path.join(workdir, "metrics.json"), ns=(0, 0))
  # What a kill in the middle of a checkpoint write leaves behind.
  partial = os.path.join(workdir, "checkpoints", "ckpt-99_temp")
  os.makedirs(partial)
  with open(os.path.join(partial, "part-00000-of-00001.index"), "wb") as f:
    f.write(b"half")
  stderr = io.StringIO()
  with contextlib.redirect_stderr(stderr):
    results = train_lib.train_and_evaluate(tiny_config(), workdir)
  before["stderr"] = stderr.getvalue()
  return workdir, before, results


@pytest.mark.slow
def test_rerun_says_where_it_resumes_and_removes_a_killed_save(rerun):
  workdir, before, _ = rerun
  last = TINY["inference_steps"] + TINY["generative_steps"]
  assert (f"resuming stage generative at step {TINY['generative_steps']} from ckpt-{last}"
          in before["stderr"].splitlines()), before["stderr"]
  assert not os.path.exists(os.path.join(workdir, "checkpoints", "ckpt-99_temp"))


@pytest.mark.slow
def test_rerun_of_a_finished_run_trains_nothing(rerun, run):
  workdir, before, results = rerun
  assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == before["checkpoints"]
  after = checkpoint_tensors(workdir, "")
  assert after.keys() == before["variables"].keys()
  for name, value in after.items():
    np.testing.assert_array_equal(value, before["variables"][name], err_msg=name)
  # Nothing trained, but the final metrics are reported again (a re-evaluation of the same
  # model with the same seeds), so metrics.json and the summary keep them.
  _, original = run
  for key, value in original.items():
    if key.startswith(("inference/", "generative/")):
      assert results[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key
  # No new training scalars: still exactly the first run's log points.
  train = read_events(os.path.join(workdir, "train"))
  assert [s for s, _ in train["inference/loss"][1]] == [2, 4, 6]
  assert [s for s, _ in train["generative/loss"][1]] == [2, 4, 6]
  # metrics.json and the export are rewritten.
  assert os.stat(os.path.join(workdir, "metrics.json")).st_mtime_ns > 0
  with open(os.path.join(workdir, "metrics.json")) as f:
    assert json.load(f)["export_path"] == os.path.join(os.path.abspath(workdir), "export")
  assert os.path.isfile(os.path.join(workdir, "export", "saved_model.pb"))
  assert not [f for f in os.listdir(workdir) if ".tmp" in f or ".old-" in f]


@pytest.mark.slow
def test_rerun_keeps_the_final_metrics(rerun):
  workdir, _, _ = rerun
  with open(os.path.join(workdir, "metrics.json")) as f:
    metrics = json.load(f)
  assert "inference/loss" in metrics and "generative/log_p" in metrics, metrics


@pytest.fixture(scope="module")
def resumed(tmp_path_factory):
  """Stage "inference" then stage "sgm" in the same directory.

  Trained in the process that trains `shared_run`, after an unrelated global seed: the
  same-seed test below is also the check that a run does not depend on the process history.
  """
  workdir = str(tmp_path_factory.mktemp("resume") / "model")
  tf.random.set_seed(123)
  first = train_lib.train_and_evaluate(tiny_config(stage="inference"), workdir)
  after_first = {
      "inference_step": checkpoint_value(workdir, "inference_step"),
      "generative_step": checkpoint_value(workdir, "generative_step"),
      "inference_variables": checkpoint_tensors(workdir, "inference_variables/"),
      "all": checkpoint_tensors(workdir, ""),
  }
  second = train_lib.train_and_evaluate(tiny_config(), workdir)
  return workdir, first, after_first, second


@pytest.mark.slow
def test_stage_inference_trains_only_stage_1(resumed):
  _, first, after_first, _ = resumed
  assert after_first["inference_step"] == 6
  assert after_first["generative_step"] == 0
  assert "inference/loss" in first and math.isfinite(first["inference/loss"])
  assert not any(k.startswith("generative/") for k in first)


@pytest.mark.slow
def test_resume_skips_the_finished_stage_and_trains_the_next(resumed):
  workdir, _, after_first, second = resumed
  _, first, _, _ = resumed
  for key, value in first.items():  # stage 1 skipped: its metrics are a re-evaluation
    if key.startswith("inference/"):
      assert second[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key
  assert math.isfinite(second["generative/log_p"]) and math.isfinite(second["generative/loss"])
  assert checkpoint_value(workdir, "inference_step") == 6
  assert checkpoint_value(workdir, "generative_step") == 6
  assert checkpoint_value(workdir, "inference_optimizer/_iterations") == 6
  assert checkpoint_value(workdir, "generative_optimizer/_iterations") == 6
  # q is untouched by the second call (skipped stage 1, frozen in stage 2).
  now = checkpoint_tensors(workdir, "inference_variables/")
  for name, value in after_first["inference_variables"].items():
    np.testing.assert_array_equal(now[name], value, err_msg=name)
  train = read_events(os.path.join(workdir, "train"))
  assert [s for s, _ in train["inference/loss"][1]] == [2, 4, 6]
  assert [s for s, _ in train["generative/loss"][1]] == [2, 4, 6]
  with open(os.path.join(workdir, "flags.cfg")) as f:
    assert config_flags.from_flagfile(f.read()).stage == "all"  # the latest call's flags


@pytest.mark.slow
def test_same_seed_gives_identical_stage_1(run, resumed):
  """Same seed, another directory (and --stage=inference instead of sgm): bitwise-equal stage 1,
  although the two trainings ran one after the other in one process with other work and an
  unrelated `tf.random.set_seed` between them (the global seed is set before the data pipeline
  is built)."""
  workdir, results = run
  _, first, after_first, _ = resumed
  assert {k for k in first if k.startswith("inference/")} == {
      k for k in results if k.startswith("inference/")}
  for key, value in first.items():
    if key.startswith("inference/"):
      assert value == pytest.approx(results[key], rel=1e-6, abs=1e-6), key
  # The reference run's end-of-stage-1 checkpoint (ckpt-6) holds the very same values.
  assert_same_tensors(after_first["all"], checkpoint_tensors(workdir, "", "ckpt-6"))


@pytest.mark.slow
def test_resumed_run_equals_an_uninterrupted_one(run, resumed):
  """Stage 2 resumed in another call (and another directory) ends bitwise where the
  uninterrupted run does: every weight, optimiser slot and step counter."""
  workdir, results = run
  resume_dir, _, _, second = resumed
  for key, value in second.items():
    if key.startswith("generative/"):
      assert value == pytest.approx(results[key], rel=1e-6, abs=1e-6), key
  got, want = ({k: v for k, v in checkpoint_tensors(d, "").items()
                if not k.startswith("save_counter")} for d in (resume_dir, workdir))
  assert any(k.startswith("generative") for k in want)
  assert_same_tensors(got, want)


@pytest.mark.parametrize("field, change", [
    ("inference_hidden_dims", dict(inference_hidden_dims=(16,))),
    ("family", dict(family="rotation")),
    ("num_bins", dict(num_bins=4)),
])
def test_model_dir_of_another_architecture_is_refused(tmp_path, field, change):
  workdir = str(tmp_path / "model")
  rundir.prepare_workdir(tiny_config(), workdir, IMAGE_SHAPE)
  with open(os.path.join(workdir, "run.json")) as f:
    run_json = f.read()
  with open(os.path.join(workdir, "flags.cfg")) as f:
    flags_cfg = f.read()
  with pytest.raises(ConfigError, match=rf"--model_dir: .*{field}="):
    train_lib.train_and_evaluate(tiny_config(**change), workdir)
  # The refused run changed nothing.
  with open(os.path.join(workdir, "run.json")) as f:
    assert f.read() == run_json
  with open(os.path.join(workdir, "flags.cfg")) as f:
    assert f.read() == flags_cfg
  assert not os.path.exists(os.path.join(workdir, "checkpoints"))


def test_model_dir_for_another_image_shape_is_refused(tmp_path):
  workdir = str(tmp_path / "model")
  rundir.prepare_workdir(tiny_config(), workdir, (32, 32, 1))
  with pytest.raises(ConfigError, match=r"--model_dir: .*shape"):
    train_lib.train_and_evaluate(tiny_config(), workdir)


def _damaged_run(workdir):
  """A model dir holding a run (run.json, flags.cfg) whose latest checkpoint is unreadable."""
  rundir.prepare_workdir(tiny_config(), workdir, IMAGE_SHAPE)
  ckpt = os.path.join(workdir, "checkpoints")
  os.makedirs(ckpt)
  for name in ("ckpt-3.index", "ckpt-3.data-00000-of-00001"):
    with open(os.path.join(ckpt, name), "wb") as f:
      f.write(b"garbage")
  with open(os.path.join(ckpt, "checkpoint"), "w") as f:
    f.write('model_checkpoint_path: "ckpt-3"\nall_model_checkpoint_paths: "ckpt-3"\n')
  with open(os.path.join(workdir, "flags.cfg")) as f:
    return f.read()


def test_a_refused_run_leaves_the_run_it_points_at_unchanged(tmp_path):
  workdir = str(tmp_path / "model")
  flags_before = _damaged_run(workdir)
  with pytest.raises(ConfigError, match="--model_dir: .*ckpt-3"):
    train_lib.train_and_evaluate(tiny_config(stage="generative", generative_lr=0.5), workdir)
  with open(os.path.join(workdir, "flags.cfg")) as f:
    assert f.read() == flags_before


def test_a_second_run_on_a_model_dir_in_use_is_refused_naming_the_live_one(tmp_path):
  workdir = str(tmp_path / "model")
  rundir.prepare_workdir(tiny_config(), workdir, IMAGE_SHAPE)
  with open(os.path.join(workdir, "flags.cfg")) as f:
    flags_before = f.read()
  with rundir.workdir_lock(workdir):  # the live run
    with pytest.raises(ConfigError, match=rf"in use by another run \(pid {os.getpid()} "):
      train_lib.train_and_evaluate(tiny_config(seed=7), workdir)
  with open(os.path.join(workdir, "flags.cfg")) as f:
    assert f.read() == flags_before
  assert not os.path.exists(os.path.join(workdir, "checkpoints"))


def test_stage_generative_on_an_empty_dir_raises(tmp_path):
  workdir = str(tmp_path / "model")
  with pytest.raises(ConfigError, match="--stage=generative"):
    train_lib.train_and_evaluate(tiny_config(stage="generative"), workdir)
  assert tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints")) is None
  assert not os.path.exists(os.path.join(workdir, "export"))


@pytest.mark.parametrize("change, field", [
    (dict(inference_steps=-1), "inference_steps"),
    (dict(stage="nope"), "stage"),
    (dict(model="nope"), "model"),
    (dict(model="vae", stage="inference"), "stage"),
    (dict(family="nope"), "family"),
    (dict(bounds=(0.25, 0.0, 3.0, 0.25, 0.25)), "bounds"),
    (dict(inference_final_lr_mult=-1.0), "inference_final_lr_mult"),
    (dict(bounds=(float("nan"),) * 5), "bounds"),
    (dict(offset=(float("inf"),) * 5), "offset"),
    (dict(seed=2 ** 32), "seed"),
    (dict(generative_dropout=1.0), "generative_dropout"),
    (dict(blur_sigma_init=float("nan")), "blur_sigma_init"),
])
def test_invalid_config_raises_before_touching_the_model_dir(tmp_path, change, field):
  workdir = str(tmp_path / "model")
  with pytest.raises(ConfigError, match=f"^--{field}"):
    train_lib.train_and_evaluate(tiny_config(**change), workdir)
  assert not os.path.exists(workdir)


def test_unknown_dataset_and_too_large_num_train_raise_data_error(tmp_path):
  from inv_tf import data as data_lib
  with pytest.raises(data_lib.DataError, match="unknown dataset"):
    train_lib.train_and_evaluate(tiny_config(dataset="nope"), str(tmp_path / "a"))
  with pytest.raises(data_lib.DataError):
    train_lib.train_and_evaluate(tiny_config(num_train=10 ** 6), str(tmp_path / "b"))
  assert not os.path.exists(tmp_path / "a") and not os.path.exists(tmp_path / "b")


@pytest.mark.slow
def test_non_finite_loss_stops_naming_step_and_terms_and_keeps_the_last_checkpoint(
    tmp_path, monkeypatch):
  """A whole run (stage inference only: the NaN is at its step 4); the loop alone is checked in
  the fast tier by test_loop.py's toy stage."""
  real = train_lib.make_inference_step

  def diverging(state, config, strategy=None):
    step_fn = real(state, config, strategy)

    def wrapped(images, step):
      metrics = step_fn(images, step)
      if int(step) >= 4:  # From the 5th step on, x_mse (and so the loss) is NaN.
        metrics = dict(metrics, loss=tf.constant(math.nan), x_mse=tf.constant(math.nan))
      return metrics

    return wrapped

  monkeypatch.setattr(train_lib, "make_inference_step", diverging)
  workdir = str(tmp_path / "model")
  with pytest.raises(rundir.RunError,
                     match=r"stage inference: non-finite loss at step 4 \(terms: loss, x_mse\)"):
    train_lib.train_and_evaluate(tiny_config(stage="inference", checkpoint_every=3), workdir)
  # The checkpoint of step 3 is kept and is the latest; no export was written.
  assert tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints")).endswith("ckpt-3")
  assert int(checkpoint_value(workdir, "inference_step")) == 3
  assert not os.path.exists(os.path.join(workdir, "export"))


@pytest.mark.slow
def test_huge_learning_rate_diverges_in_the_parameters_and_no_poisoned_checkpoint_is_kept(tmp_path):
  """--inference_lr=1e9 turns q's parameters non-finite while the loss can stay finite (NaN η
  warp every pixel to the fill value): the stage must stop naming itself and the steps, keep
  only checkpoints with finite weights, and a re-run with a sane rate must train on from them."""
  workdir = str(tmp_path / "model")
  # Plain graphs: the check is on the parameters between steps, the same with or without XLA.
  # Stage 1 only (where the rate diverges), no export: the re-run need only train on.
  config = tiny_config(jit_compile=False, checkpoint_every=2, stage="inference", export=False)
  with pytest.raises(rundir.RunError, match=r"^stage inference: (diverged between steps "
                     r"\d+ and \d+: non-finite parameters|non-finite loss at step)"):
    train_lib.train_and_evaluate(config.replace(inference_lr=1e9), workdir)
  latest = tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints"))
  if latest is not None:
    reader = tf.train.load_checkpoint(latest)
    for name in reader.get_variable_to_shape_map():
      value = reader.get_tensor(name)
      if np.issubdtype(np.asarray(value).dtype, np.floating):
        assert np.all(np.isfinite(value)), name
  results = train_lib.train_and_evaluate(config, workdir)
  assert math.isfinite(results["inference/loss"])
  assert int(checkpoint_value(workdir, "inference_step")) == TINY["inference_steps"]


def test_the_consistency_term_is_named_consistency_in_every_log():
  from inv_tf.training import loop
  assert "log p" in loop.scalar_description("generative", "consistency")
  assert loop.scalar_description("generative", "mae") == ""
  assert "consistency" in loop.HPARAMS_METRICS["generative"]
  assert "consistency_mult·consistency" in loop.scalar_description("generative", "loss")
