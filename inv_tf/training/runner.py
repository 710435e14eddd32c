"""One runner for every model family: `run(task, config, workdir)`.

What a run writes to `workdir` (the trainer's `--model_dir`), whatever its task:

    flags.cfg            the effective flags: `python -m trainers.train --flagfile=flags.cfg`
                         reproduces (or resumes) the run
    config.json          the same configuration as data (`Config.to_json`), read back by
                         `inv_tf.training.rundir.read_run`
    run.json             architecture and image shape; a later run with another is refused
    checkpoints/         `tf.train.CheckpointManager` checkpoints of the task's trackables
                         (resume = re-run the command)
    train/, validation/  TensorBoard logs of every stage; hparams in the directory itself
    export/              the SavedModel (with --export)
    metrics.json         the final validation metrics (and the task's scores)

The sequence, the same for every task (`inv_tf.training.task.Task`): the checks that need neither
TensorFlow nor the data (`inv_tf.training.preflight.check`, which the trainer makes before
importing TensorFlow), create the strategy, load the training data, check its images, the task's
checks, the checkpoint directory's check, the batch size's check, the global seed, batching; then,
holding the model dir's lock: prepare the model dir, create the state, restore the latest
checkpoint (and say where it resumes), write the run's flags, run the stages, let the task finish
and score, export, write metrics.json.

Randomness: the global seed (`config.seed`) is set after the task's setup and before batching
and the state: it fixes the data order and the initial weights; every train step draws from the
stateless seed of its stage and step, so a resumed run makes the same random choices as an
uninterrupted one from the resumed step on.
"""

import json
import os

import keras

from inv_tf import data as data_lib
from inv_tf.config import Config
from inv_tf.training import checkpoints, distribute, loop, preflight, progress, rundir
from inv_tf.training import task as task_lib


def run(task: task_lib.Task, config: Config, workdir: str) -> dict:
  """Trains (or resumes) `task` in `workdir`, then scores and exports it.

  Args:
    task: the run's task, built from `config`.
    config: the run's validated configuration (`train_and_evaluate` validates it).
    workdir: the model directory (created if needed).

  Returns:
    `<stage>/<metric>`: the last validation metrics of each stage this call ran, the task's
    extra entries (`Task.finish`, `Task.evaluate`), and `export_path` with --export.

  Raises:
    ConfigError: bad configuration or an incompatible `workdir`.
    inv_tf.data.DataError: the data cannot be loaded.
    RunError: training diverged (non-finite loss), or a write failed.
  """
  # What needs neither TensorFlow nor the data first: the trainer has made these checks already.
  preflight.check(config, workdir)
  # The strategy first: multi_worker_mirrored must be created before other TensorFlow work.
  strategy = distribute.create_strategy(config)
  train_ds = data_lib.load_split(config, "train")
  image_shape = tuple(train_ds.element_spec["image"].shape)
  preflight.check_images(config, image_shape)  # again: user data's shape is known only now
  task.setup(image_shape, strategy)
  checkpoints.check_checkpoint_dir(workdir)
  task.check_workdir(workdir)
  distribute.check_batch_size(config, strategy)
  # The global seed first: tf.data's shuffle takes its seed from it when the dataset is built.
  keras.utils.set_random_seed(config.seed)
  # Batching checks the dataset against the batch size: fail before anything is written.
  train_batches = data_lib.batch_for_training(train_ds, config.batch_size, seed=config.seed)
  chief = distribute.is_chief(strategy)
  with rundir.workdir_lock(workdir, chief):  # refuses a second run on the same model dir
    return _run_locked(task, config, workdir, strategy, image_shape, train_batches, chief)


def _run_locked(task, config, workdir, strategy, image_shape, train_batches, chief) -> dict:
  """`run` once the model dir is locked: restore, train, score, export, metrics."""
  if chief:
    rundir.prepare_workdir(config, workdir, image_shape)
    checkpoints.remove_partial_checkpoints(rundir.checkpoint_dir(workdir))
  with strategy.scope():
    state = task.create_state(image_shape)
  trackables = task.trackables(state)
  with checkpoints.open_checkpoints(trackables, workdir, config.max_checkpoints,
                                    chief) as manager:
    restored = checkpoints.restore_latest(trackables, workdir)
    task.check_restored(state, workdir)
    if chief:
      rundir.write_flags(config, workdir)  # every check passed: this run is the model dir's run
    plan = task.plan()
    if restored:
      steps = {p.counter: int(trackables[p.counter].numpy()) for p in plan}
      stage, step = task_lib.resume_point(plan, steps)
      progress.status(loop.resume_text(stage, step, restored), enabled=chief)
    writers = loop.summary_writers(workdir, chief)
    loop.write_hparams(config, writers["train"])
    # Resume the data stream where it stopped: skip the batches earlier calls consumed.
    consumed = lambda: sum(int(counter.numpy()) for counter in task.counters(state))
    train_iter = iter(distribute.distribute_batches(strategy, train_batches.skip(consumed())))
    val_ds = data_lib.batch_for_evaluation(data_lib.load_split(config, "validation"),
                                           config.eval_batch_size)
    eval_batches = list(val_ds.take(config.num_eval_batches))
    results = {}
    for stage in task.stages(state, strategy, eval_batches, manager.directory):
      metrics = loop.run_stage(stage, train_iter, eval_batches, config, manager, writers,
                               consumed, chief)
      results.update({f"{stage.name}/{k}": v for k, v in metrics.items()})
    task.finish(state, results)
  if chief:
    results.update(task.evaluate(state, writers))
  for writer in writers.values():
    writer.flush()
  if chief and config.export:
    path = os.path.join(workdir, "export")
    progress.status(f"exporting the SavedModel to {path} …")
    with rundir.writing("the SavedModel", path):
      results["export_path"] = task.export(state, path)
  if chief:
    metrics_path = os.path.join(workdir, "metrics.json")
    with rundir.writing("metrics", metrics_path):
      rundir.write_atomic(metrics_path, json.dumps(results, indent=2))
  return results
