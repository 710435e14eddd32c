"""What the runner (`inv_tf.training.runner`) needs to know about a model family: a `Task`.

A task is one run's model family under its `Config`: the SGM (`inv_tf.training.train.SGMTask`)
or the VAE family (`inv_tf.training.vae_train.VAETask`). It says how to check the data, create
the state (model, optimisers, step counters), which trackables a checkpoint holds, which stages
train (each an `inv_tf.training.loop.Stage`), what to score after training and how to export.
The runner does everything else, in the same order for every task. A new model family is one
new module with a `Task` subclass that names its `--model` values (`MODELS`) and restores a
trained model (`load_model`), listed in `inv_tf.training.train.TASKS`; `inv_tf.config.MODELS`
names the models for flag validation (the config is below every other module).

The runner calls, in this order: `setup`, `check_workdir`, `create_state` (in the strategy's
scope), `trackables`, `check_restored`, `plan` (for the resume line), `stages`, `finish`,
`evaluate` (chief only), `export` (chief only, with --export).
"""

import dataclasses

import tensorflow as tf

from inv_tf.config import Config


@dataclasses.dataclass(frozen=True)
class PlannedStage:
  """A stage a run trains, as the resume line and the data stream need it.

  Attributes:
    name: the stage's name (its summary prefix, e.g. `inference`, `vae`).
    counter: the key in `Task.trackables` of the stage's int64 step counter.
    num_steps: the stage's configured number of steps (≥ 1).
  """
  name: str
  counter: str
  num_steps: int


class Task:
  """One run's model family: subclasses implement the methods that raise NotImplementedError.

  Attributes:
    MODELS: the `--model` values (`inv_tf.config.MODELS`) this task trains (class attribute).
    config: the run's validated `Config`.
  """

  MODELS: tuple = ()

  def __init__(self, config: Config):
    self.config = config

  @classmethod
  def load_model(cls, model_dir: str, checkpoint: str | None = None) -> tuple:
    """(trained model, its `Config`) of a run of this task in `model_dir`, from `checkpoint`
    (default the latest), for inference and evaluation (no optimiser state).

    Raises:
      ConfigError: `model_dir` holds no run of this task, or no checkpoint (one line).
    """
    raise NotImplementedError

  def setup(self, image_shape: tuple, strategy: tf.distribute.Strategy) -> None:
    """Loads what the run reads but never trains (e.g. the SGM of --sgm_dir), and may refuse it.

    Runs before anything is written and before the global seed is set (so what it builds draws
    nothing from the seeded streams). The images suit the model by then: what a model needs of
    them is `inv_tf.training.preflight.check_images`, which the runner calls first; a check that
    needs neither TensorFlow nor the data belongs in `preflight`, so the trainer makes it before
    importing TensorFlow. The default loads nothing.

    Args:
      image_shape: the training images' shape `(H, W, C)`.
      strategy: the run's strategy (build read-only models in its scope).

    Raises:
      ConfigError: the data or a referenced run does not fit (one line naming the flag).
    """

  def check_workdir(self, workdir: str) -> None:
    """Refuses a model dir this task cannot continue, before the global seed is set and before
    anything is written (ConfigError). The default accepts any."""

  def create_state(self, image_shape: tuple):
    """A fresh state (model, optimisers, step counters), every variable created."""
    raise NotImplementedError

  def trackables(self, state) -> dict:
    """{name: trackable} of everything a checkpoint of `state` holds (see
    `inv_tf.training.checkpoints`); the step counters are among them under `PlannedStage.counter`
    names."""
    raise NotImplementedError

  def check_restored(self, state, workdir: str) -> None:
    """Refuses to go on from the restored (or fresh) `state` (ConfigError). The default accepts."""

  def plan(self) -> tuple:
    """The `PlannedStage`s this run trains, in order."""
    raise NotImplementedError

  def counters(self, state) -> tuple:
    """Every step counter a checkpoint holds (int64 variables), also of stages this run skips.

    Their sum is the number of training batches consumed so far, and the checkpoint number.
    """
    raise NotImplementedError

  def stages(self, state, strategy: tf.distribute.Strategy, eval_batches: list,
             checkpoint_dir: str) -> list:
    """The `inv_tf.training.loop.Stage`s to run, in the order of `plan()`.

    Args:
      state: the restored state.
      strategy: the run's strategy.
      eval_batches: the cached validation batches (dicts of `image` float32 `[B, H, W, C]` in
        [-1, 1] and `mask` float32 `[B]`).
      checkpoint_dir: where this task saves checkpoints (a task may keep more there, e.g. a best
        checkpoint in `best/`).
    """
    raise NotImplementedError

  def finish(self, state, results: dict) -> None:
    """Adds to `results` after the stages ran (e.g. the best weights' step); may change the
    state (e.g. load the best weights for scoring and export). The default does nothing."""

  def evaluate(self, state, writers: dict) -> dict:
    """Scores the trained model after training (the chief only).

    Args:
      state: the state after `finish`.
      writers: the run's summary writers (`inv_tf.training.loop.summary_writers`), for the
        scores' summaries.

    Returns:
      Entries for the run's results and metrics.json (e.g. `test/elbo`); the default has none.
    """
    return {}

  def export(self, state, path: str) -> str:
    """Exports the trained model as a SavedModel to `path`; returns the path written."""
    raise NotImplementedError


def resume_point(plan: tuple, steps: dict) -> tuple:
  """(stage name, its step) where a restored run goes on training.

  Args:
    plan: the run's `PlannedStage`s.
    steps: {counter name: int step} of the restored state.

  Returns:
    The first planned stage that has not reached its steps, else the last one.
  """
  for planned in plan:
    if steps[planned.counter] < planned.num_steps:
      return planned.name, steps[planned.counter]
  return plan[-1].name, steps[plan[-1].counter]
