"""Tests of inv_tf.training.loop: the stage loop's model selection and early stopping."""

import dataclasses
import os

import numpy as np
import pytest
import tensorflow as tf

from inv_tf.config import Config
from inv_tf.training import loop, rundir

PEAK = 10  # the scripted validation score peaks at this step


def _stage(weight, selection, num_steps=40, nan_at=None):
  """A stage whose step adds 1 to `weight` (or makes it NaN at step `nan_at`, with a finite loss)
  and whose validation `elbo` is −|step − PEAK|."""

  def step_fn(images, step):
    if nan_at is not None and int(step) == nan_at:
      weight.assign(float("nan"))
    else:
      weight.assign_add(1.0)
    return {"loss": tf.constant(1.0)}

  def eval_fn(images, mask, seed):
    return {"elbo": -tf.abs(tf.cast(seed[0], tf.float32) - PEAK)}

  step_var = tf.Variable(0, dtype=tf.int64)
  return loop.Stage("toy", step_fn, eval_fn, step_var, num_steps, ("loss",), None, selection,
                    variables=(weight,))


def _run(stage, tmp_path, config):
  batches = iter(lambda: {"image": tf.zeros([1, 2, 2, 1])}, None)
  eval_batches = [{"image": tf.zeros([1, 2, 2, 1]), "mask": tf.ones([1])}]
  manager = tf.train.CheckpointManager(tf.train.Checkpoint(step=stage.step_var),
                                       str(tmp_path / "checkpoints"), max_to_keep=3)
  writers = {k: tf.summary.create_noop_writer() for k in ("train", "validation")}
  return loop.run_stage(stage, batches, eval_batches, config, manager, writers,
                        lambda: int(stage.step_var.numpy()))


@pytest.mark.parametrize("patience, stop_step", [(2, 20), (3, 25), (0, 40)])
def test_selection_keeps_the_best_weights_and_stops_after_patience(tmp_path, patience, stop_step):
  """Evaluations every 5 steps score −5, 0 (step 10, the best), −5, −10, …: with patience P the
  stage stops at step 10 + 5P, and the kept weights are those of step 10, not the last."""
  config = Config(eval_every=5, log_every=5, checkpoint_every=100)
  weight = tf.Variable(0.0)
  selection = loop.Selection("elbo", {"w": weight}, str(tmp_path / "best"), patience)
  stage = _stage(weight, selection)
  _run(stage, tmp_path, config)
  assert int(stage.step_var.numpy()) == stop_step
  assert float(weight.numpy()) == stop_step
  assert int(selection.best_step.numpy()) == PEAK and float(selection.best_value.numpy()) == 0.0
  assert selection.restore_best({"w": weight}) == PEAK
  assert float(weight.numpy()) == PEAK
  # The stop was checkpointed: a resumed stage reads the best back from disk and trains nothing.
  assert tf.train.latest_checkpoint(str(tmp_path / "checkpoints")).endswith(f"-{stop_step}")
  again = tf.Variable(0.0)
  resumed = loop.Selection("elbo", {"w": again}, str(tmp_path / "best"), patience)
  assert int(resumed.best_step.numpy()) == PEAK
  stage2 = _stage(again, resumed)
  stage2.step_var.assign(stop_step)
  _run(stage2, tmp_path, config)
  assert int(stage2.step_var.numpy()) == stop_step and float(again.numpy()) == 0.0
  assert resumed.restore_best({"w": again}) == PEAK and float(again.numpy()) == PEAK


def test_without_selection_the_stage_trains_every_step(tmp_path):
  weight = tf.Variable(0.0)
  stage = _stage(weight, None, num_steps=12)
  _run(stage, tmp_path, Config(eval_every=5, log_every=5, checkpoint_every=100))
  assert int(stage.step_var.numpy()) == 12 and float(weight.numpy()) == 12.0
  assert not os.path.exists(tmp_path / "best")


@pytest.mark.parametrize("num_steps, visuals_every, expected", [
    (300, 0, list(range(30, 301, 30))),  # the default: every 10 % of the stage
    (40, 0, [10, 20, 30, 40]),           # … but not more often than every 10 steps
    (40, 15, [15, 30, 40]),              # and at the stage's last step
])
def test_visuals_come_every_visuals_interval_and_at_the_end(tmp_path, num_steps, visuals_every,
                                                           expected):
  weight = tf.Variable(0.0)
  stage = _stage(weight, None, num_steps=num_steps)
  written = []
  stage = dataclasses.replace(stage, visuals=lambda images, step: written.append(step))
  _run(stage, tmp_path, Config(eval_every=2, log_every=5, checkpoint_every=100,
                               visuals_every=visuals_every))
  assert written == expected


def test_an_early_stopped_stage_writes_its_last_visuals(tmp_path):
  weight = tf.Variable(0.0)
  selection = loop.Selection("elbo", {"w": weight}, str(tmp_path / "best"), 2)
  written = []
  stage = dataclasses.replace(_stage(weight, selection),
                              visuals=lambda images, step: written.append(step))
  _run(stage, tmp_path, Config(eval_every=5, log_every=5, checkpoint_every=100, visuals_every=8))
  assert written == [8, 16, 20]  # stopped at step 10 + 5 · 2


def test_a_non_finite_score_never_becomes_the_best(tmp_path):
  weight = tf.Variable(3.0)
  selection = loop.Selection("elbo", {"w": weight}, str(tmp_path / "best"), 1)
  assert not selection.update(5, {"elbo": np.nan})
  assert selection.update(10, {"elbo": -1.0})
  assert not selection.update(15, {"elbo": np.nan})
  assert int(selection.best_step.numpy()) == 10


def test_non_finite_parameters_with_a_finite_loss_stop_the_stage_before_anything_is_saved(
    tmp_path):
  """The weight turns NaN at step 12 while the loss stays finite: the check at step 15 (a log
  step) stops the stage, naming the steps and the variable; the checkpoint of step 10 stays the
  latest and the best checkpoint is not overwritten with NaN weights."""
  config = Config(eval_every=5, log_every=5, checkpoint_every=10)
  weight = tf.Variable(0.0, name="toy_weight")
  selection = loop.Selection("elbo", {"w": weight}, str(tmp_path / "best"), 0)
  stage = _stage(weight, selection, nan_at=12)
  with pytest.raises(rundir.RunError, match=r"^stage toy: diverged between steps 10 and 15: "
                     r"non-finite parameters \(toy_weight.*\) with a finite loss"):
    _run(stage, tmp_path, config)
  assert tf.train.latest_checkpoint(str(tmp_path / "checkpoints")).endswith("-10")
  assert selection.restore_best({"w": weight}) == PEAK and float(weight.numpy()) == PEAK


def test_a_non_finite_loss_stops_the_stage_naming_the_step_and_terms(tmp_path):
  """The loss and one other term turn NaN at step 4: the stage stops there, naming the step and
  the non-finite terms, and the checkpoint of step 3 stays the latest (the cheap twin of
  test_train.py's whole-run test, which is in the slow tier)."""
  weight = tf.Variable(0.0)

  def step_fn(images, step):
    weight.assign_add(1.0)
    bad = tf.constant(float("nan") if int(step) >= 4 else 1.0)
    return {"loss": bad, "x_mse": bad, "sigma": tf.constant(0.5)}

  step_var = tf.Variable(0, dtype=tf.int64)
  stage = loop.Stage("toy", step_fn, lambda images, mask, seed: {"loss": tf.constant(1.0)},
                     step_var, 6, ("loss", "x_mse", "sigma"), None, variables=(weight,))
  with pytest.raises(rundir.RunError, match=r"^stage toy: non-finite loss at step 4 \(terms: "
                     r"loss, x_mse\); the last good checkpoint is kept in "):
    _run(stage, tmp_path, Config(eval_every=10, log_every=2, checkpoint_every=3))
  assert tf.train.latest_checkpoint(str(tmp_path / "checkpoints")).endswith("-3")
  assert int(step_var.numpy()) == 4 and float(weight.numpy()) == 5.0


# ---------------------------------------------------------------------------------------------
# The model directory: one run at a time, leftovers of a kill, the resume line.


def test_resume_text_names_the_stage_step_and_checkpoint():
  assert (loop.resume_text("generative", 40, "/runs/x/checkpoints/ckpt-540")
          == "resuming stage generative at step 40 from ckpt-540")
