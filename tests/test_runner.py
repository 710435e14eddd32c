"""Tests of inv_tf.training.runner and inv_tf.training.task: one runner runs any `Task`.

A toy task (one weight vector fitted to the mean image, one stage) stands for a new model family:
what it writes, how it resumes and what it refuses come from the runner alone.
"""

import json
import os

import pytest
import tensorflow as tf

from inv_tf.config import ConfigError
from inv_tf.training import loop, runner
from inv_tf.training import task as task_lib
from support import tiny_config


class ToyTask(task_lib.Task):
  """Fits w [H·W·C] to the images by plain SGD on the mean squared difference; one stage."""

  def create_state(self, image_shape):
    size = image_shape[0] * image_shape[1] * image_shape[2]
    return {"w": tf.Variable(tf.zeros([size]), name="w"),
            "toy_step": tf.Variable(0, dtype=tf.int64, name="toy_step", trainable=False)}

  def trackables(self, state):
    return {"toy_variables": [state["w"]], "toy_step": state["toy_step"]}

  def plan(self):
    return (task_lib.PlannedStage("toy", "toy_step", self.config.inference_steps),)

  def counters(self, state):
    return (state["toy_step"],)

  def stages(self, state, strategy, eval_batches, checkpoint_dir):
    w = state["w"]

    def loss_of(images):
      flat = tf.reshape(images, [tf.shape(images)[0], -1])
      return tf.reduce_mean(tf.square(flat - w))

    @tf.function(autograph=False)
    def step_fn(images, step):
      with tf.GradientTape() as tape:
        loss = loss_of(images)
      w.assign_sub(0.5 * tape.gradient(loss, w))
      return {"loss": loss}

    def eval_fn(images, mask, seed):
      return {"loss": loss_of(images)}

    return [loop.Stage("toy", step_fn, eval_fn, state["toy_step"], self.config.inference_steps,
                       ("loss",), variables=(w,))]

  def export(self, state, path):
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "w.json"), "w") as f:
      json.dump([float(v) for v in state["w"].numpy()[:3]], f)
    return path


def test_resume_point_is_the_first_unfinished_stage_else_the_last():
  plan = (task_lib.PlannedStage("a", "a_step", 5), task_lib.PlannedStage("b", "b_step", 3))
  assert task_lib.resume_point(plan, {"a_step": 2, "b_step": 0}) == ("a", 2)
  assert task_lib.resume_point(plan, {"a_step": 5, "b_step": 1}) == ("b", 1)
  assert task_lib.resume_point(plan, {"a_step": 5, "b_step": 3}) == ("b", 3)


@pytest.mark.slow
def test_a_new_task_gets_the_whole_run_from_the_runner(tmp_path, capsys):
  workdir = str(tmp_path / "model")
  config = tiny_config(inference_steps=4, checkpoint_every=2)
  results = runner.run(ToyTask(config), config, workdir)
  assert set(results) >= {"toy/loss", "export_path"}
  for name in ("flags.cfg", "config.json", "run.json", "metrics.json", "export/w.json",
               "checkpoints/ckpt-4.index"):
    assert os.path.exists(os.path.join(workdir, name)), name
  with open(os.path.join(workdir, "metrics.json")) as f:
    assert json.load(f) == results

  # More steps: it resumes from the checkpoint and says so.
  longer = config.replace(inference_steps=6)
  again = runner.run(ToyTask(longer), longer, workdir)
  assert "resuming stage toy at step 4 from ckpt-4" in capsys.readouterr().err
  assert tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints")).endswith("ckpt-6")
  assert again["toy/loss"] <= results["toy/loss"]

  # A task whose state another checkpoint cannot fill is refused in one line naming the variable.
  class WiderToy(ToyTask):
    def create_state(self, image_shape):
      state = super().create_state(image_shape)
      state["w"] = tf.Variable(tf.zeros([state["w"].shape[0] + 1]))
      return state

  with pytest.raises(ConfigError, match=r"holds other variables than the model these flags build "
                     r"\(toy_variables/0 has shape \[785\] in the model, \[784\] in the "):
    runner.run(WiderToy(longer), longer, workdir)


def test_every_model_has_one_task_that_names_it_and_restores_it():
  from inv_tf import config as config_lib  # pylint: disable=g-import-not-at-top
  from inv_tf.training import train  # pylint: disable=g-import-not-at-top
  assert set(train.TASKS) == set(config_lib.MODELS)
  for model, task in train.TASKS.items():
    assert model in task.MODELS
    assert task.load_model.__func__ is not task_lib.Task.load_model.__func__, model


def test_trained_steps_reads_the_named_counters_a_checkpoint_holds(tmp_path):
  from inv_tf.training import checkpoints  # pylint: disable=g-import-not-at-top
  path = tf.train.Checkpoint(toy_step=tf.Variable(7, dtype=tf.int64),
                             other_step=tf.Variable(3, dtype=tf.int64)).write(
                                 str(tmp_path / "ckpt"))
  assert checkpoints.trained_steps(path, ["toy_step", "missing_step"]) == {"toy_step": 7}
