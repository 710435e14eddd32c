"""`inv_tf.runs`: evaluate_run on tiny SGM and VAE runs."""

import json
import os

import pytest
import tensorflow as tf

from inv_tf import runs
from inv_tf.config import ConfigError
from inv_tf.evaluation import report
from inv_tf.training import rundir
from inv_tf.training import train as train_lib
from support import tiny_config

PNG = b"\x89PNG\r\n\x1a\n"


def _pngs_in(directory):
  return {f[:-4] for f in os.listdir(directory) if f.endswith(".png")}


def test_evaluate_run_on_an_sgm_writes_metrics_figures_and_tensorboard(shared_run,
                                                                        tmp_path_factory):
  workdir, _ = shared_run
  out = str(tmp_path_factory.mktemp("eval_sgm"))
  metrics, dataset, written = runs.evaluate_run_files(workdir, out, num_images=20)
  assert dataset == "mnist"
  assert written == [os.path.join(out, f"{n}.png") for n in (
      "eta_sweep", "orbits", "eta_marginals", "iterated_norms", "rotation_strips",
      "truth_recovery")] + [os.path.join(out, "metrics.json"), os.path.join(workdir, "evaluation")]
  assert all(os.path.exists(p) for p in written)
  with open(os.path.join(out, "metrics.json")) as f:
    written = json.load(f)
  assert written["full_ratio"] == pytest.approx(metrics["full_ratio"])
  assert set(written["rotation_spread_by_label"]) == {str(k) for k in
                                                      metrics["rotation_spread_by_label"]}
  for key in ("full_ratio", "axis_ratio", "rotation_resultant", "rotation_deviation", "rotation_far_mass",
              "iterated_eta_norm_last", "rotation_spread_by_label"):
    assert key in metrics
  assert {"eta_sweep", "orbits", "eta_marginals", "iterated_norms",
          "rotation_strips", "truth_recovery"} <= _pngs_in(out)
  # MNIST carries its truth (here: every digit upright); undefined scores are JSON null.
  assert set(written["truth"]["classes"]) == {str(k) for k in metrics["truth"]["classes"]}
  assert written["truth"]["classes"]["3"]["rotation"]["recovery"] is None
  with open(os.path.join(out, "metrics.json")) as f:
    assert "NaN" not in f.read()
  for name in _pngs_in(out):
    with open(os.path.join(out, f"{name}.png"), "rb") as f:
      assert f.read(8) == PNG
  events = os.listdir(os.path.join(workdir, "evaluation"))
  assert any(e.startswith("events.out.tfevents") for e in events)
  tags = set()
  for e in events:
    for record in tf.compat.v1.train.summary_iterator(os.path.join(workdir, "evaluation", e)):
      tags |= {v.tag for v in record.summary.value}
  assert "evaluate/eta_sweep" in tags and "evaluate/full_ratio" in tags
  descriptions = {v.tag: v.metadata.summary_description
                  for e in events
                  for r in tf.compat.v1.train.summary_iterator(
                      os.path.join(workdir, "evaluation", e))
                  for v in r.summary.value}
  assert "invariant" in descriptions["evaluate/full_ratio"]


def test_evaluate_run_refuses_a_directory_without_a_run(tmp_path):
  with pytest.raises(ConfigError, match="holds no training run"):
    runs.evaluate_run(str(tmp_path))


def test_evaluate_run_on_a_vae_reports_test_scores(tmp_path):
  config = tiny_config(model="vae", vae_steps=4, latent_dim=3, vae_conv_dims=(4,),
                       vae_dense_dims=(8,), iwlb_num_samples=6, num_test=10, test_batch_size=5,
                       export=False)
  workdir = str(tmp_path / "vae")
  results = train_lib.train_and_evaluate(config, workdir)
  metrics = runs.evaluate_run(workdir, str(tmp_path / "out"))
  assert set(metrics) >= {"iwlb", "elbo", "recon_mse", "num_images"}
  assert metrics["num_images"] == 10
  # Same model, same seeds: the stand-alone evaluation reproduces the run's final test scores.
  assert metrics["iwlb"] == pytest.approx(results["test/iwlb"], rel=1e-4)
  assert {"samples", "reconstructions"} <= _pngs_in(str(tmp_path / "out"))


def _stage1_only_run(workdir, inference_step=6):
  """A run dir whose checkpoint has q trained for `inference_step` steps and p never trained."""
  config = tiny_config()
  rundir.prepare_workdir(config, workdir, (28, 28, 1))
  state = train_lib.create_state(config, (28, 28, 1))
  state.inference_step.assign(inference_step)
  tf.train.CheckpointManager(tf.train.Checkpoint(**state.trackables()),
                             os.path.join(workdir, "checkpoints"),
                             max_to_keep=1).save(checkpoint_number=inference_step)
  return config


def test_an_untrained_p_is_not_evaluated_and_the_stages_are_reported(tmp_path):
  workdir = str(tmp_path / "model")
  config = _stage1_only_run(workdir)
  metrics, _, written = runs.evaluate_run_files(workdir, num_images=8)
  assert metrics["stages"] == {"inference": {"step": 6, "steps": config.inference_steps},
                               "generative": {"step": 0, "steps": config.generative_steps}}
  for name in ("rotation_resultant", "rotation_spread_by_label", "truth"):
    assert name not in metrics and name in metrics["skipped"]["measures"]
  assert "stage generative at step 0" in metrics["skipped"]["reason"]
  assert "full_ratio" in metrics and "iterated_eta_norm_last" in metrics  # q's measures stay
  pngs = {os.path.basename(p)[:-4] for p in written if p.endswith(".png")}
  assert not pngs & {"orbits", "eta_marginals", "truth_recovery"}
  text = report.summary_table(metrics, "mnist", written)
  assert "R̄" not in text  # no p-based row, so no bar can be "met" by an untrained p
  assert ("trained: stage inference step 6 of 6, stage generative step 0 of 6 (untrained)"
          in text.splitlines())
  assert any(l.startswith("skipped: rotation_resultant") for l in text.splitlines())


def test_a_run_with_an_untrained_q_is_refused(tmp_path):
  workdir = str(tmp_path / "model")
  _stage1_only_run(workdir, inference_step=0)
  with pytest.raises(ConfigError, match=r"q\(η\|x\) has not trained"):
    runs.evaluate_run_files(workdir, num_images=8)


@pytest.mark.parametrize("where", ["file", "inside_a_file"])
def test_out_that_is_a_file_is_one_config_error(tmp_path, where):
  workdir = str(tmp_path / "model")
  _stage1_only_run(workdir)
  blocker = tmp_path / "taken.txt"
  blocker.write_text("keep me")
  out = blocker if where == "file" else blocker / "eval"
  with pytest.raises(ConfigError, match=rf"^--out: '{out}' .*not a directory"):
    runs.evaluate_run_files(workdir, str(out), num_images=8)
  assert blocker.read_text() == "keep me"
