"""Tests of inv_tf.training.checkpoints: what a checkpoint holds (every variable of the model and
optimisers, Keras 3 list-held layers too), cleaning partial ones, how a failed restore is named."""

import os
import random

import numpy as np
import pytest
import tensorflow as tf

from inv_tf.config import Config, ConfigError
from inv_tf.models.layers import MLP
from inv_tf.training import checkpoints
from inv_tf.training import train as train_lib

TINY = Config(inference_hidden_dims=(8, 8), generative_hidden_dims=(8, 4),
              conditioner_hidden_dims=(4,), num_flows=2, num_bins=3)
RATES = (TINY.generative_dropout, 0.05, 0.0)


@pytest.fixture(scope="module")
def states():
  """{generative_dropout: [two TrainStates of TINY at that rate]}, built once for the module.

  A test that saves one state fills it with new values first (`_fill`), so a restore into the
  other is seen to change it, whatever earlier tests left in either.
  """
  return {rate: [train_lib.create_state(TINY.replace(generative_dropout=rate), (10, 10, 1))
                 for _ in range(2)] for rate in RATES}


_fills = iter(range(1, 10 ** 6))


def _fill(state):
  """Gives every model variable values no earlier call gave (the i-th variable: i + offset)."""
  offset = next(_fills) * 1000
  for i, v in enumerate(state.model.variables):
    v.assign(tf.fill(v.shape, tf.constant(i + offset, v.dtype)))


def test_checkpoint_round_trips_every_variable(tmp_path, states):
  state, fresh = states[TINY.generative_dropout]
  _fill(state)
  path = tf.train.Checkpoint(**state.trackables()).save(str(tmp_path / "ckpt"))
  names = {n for n, _ in tf.train.list_variables(path)}
  assert sum(n.startswith("inference_variables/") for n in names) == len(
      state.model.inference.variables)
  assert sum(n.startswith("generative_variables/") for n in names) == len(
      state.model.generative.variables)

  tf.train.Checkpoint(**fresh.trackables()).restore(path).assert_existing_objects_matched()
  for a, b in zip(state.model.variables, fresh.model.variables):
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_checkpoint_of_one_dropout_rate_restores_at_another(tmp_path, states):
  # The dropout rate is not architecture (run.json does not pin it): a stage-1 run with
  # --generative_dropout=0.05 may continue stage 2 with --generative_dropout=0, and back.
  for saved_rate, restored_rate in ((0.05, 0.0), (0.0, 0.05)):
    state, fresh = states[saved_rate][0], states[restored_rate][1]
    _fill(state)
    path = tf.train.Checkpoint(**state.trackables()).save(str(tmp_path / f"ckpt_{saved_rate}"))
    tf.train.Checkpoint(**fresh.trackables()).restore(path).assert_existing_objects_matched()
    for a, b in zip(state.model.variables, fresh.model.variables):
      np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_zero_rate_seed_stream_is_fixed_and_draws_nothing_from_the_global_seed():
  # A rate-0 block's (unused) seed stream has a fixed seed, so it consumes nothing from the
  # global seed sequence: the initial weights of later layers are those of the code without it.
  random.seed(5)
  expected = random.getstate()
  mlp = MLP((), dropout_rate=0.0)  # no Dense layers: only the seed stream is created
  assert random.getstate() == expected
  np.testing.assert_array_equal(mlp.seed_generator.state.numpy(), [0, 0])


def test_checkpoint_of_other_variables_is_named_a_mismatch_not_damage(tmp_path, states):
  state = states[TINY.generative_dropout][0]
  path = tf.train.Checkpoint(**state.trackables()).save(str(tmp_path / "ckpt"))
  other = train_lib.create_state(TINY.replace(generative_hidden_dims=(8, 5)), (10, 10, 1))
  with pytest.raises(ConfigError) as e:
    checkpoints.restore_variables(checkpoints.model_trackables(other.model), str(tmp_path), path)
  message = str(e.value)
  assert "\n" not in message and message.startswith(f"--model_dir: the checkpoint {path} holds "
                                                    "other variables than the model")
  # The reason is read from the checkpoint: the first variable whose shape differs.
  assert "(generative_variables/" in message and "has shape [8, 5] in the model, [8, 4] in the " \
      "checkpoint)" in message and "delete" not in message
  # The same checkpoint with its data damaged is reported as unreadable instead.
  data = f"{path}.data-00000-of-00001"
  with open(data, "r+b") as f:
    f.write(b"\xff" * 64)
  with pytest.raises(ConfigError, match="cannot be read"):
    checkpoints.restore_variables(checkpoints.model_trackables(other.model), str(tmp_path), path)


def test_partial_checkpoints_of_a_killed_save_are_removed(tmp_path):
  ckpt = tmp_path / "checkpoints"
  for partial in ("ckpt-6_temp", "ckpt-9_temp_4f2a", "best/ckpt-4_temp"):
    (ckpt / partial).mkdir(parents=True)
    (ckpt / partial / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"x")
  (ckpt / "ckpt-3.index").write_bytes(b"complete")
  removed = checkpoints.remove_partial_checkpoints(str(ckpt))
  assert sorted(os.path.relpath(p, ckpt) for p in removed) == [
      "best/ckpt-4_temp", "ckpt-6_temp", "ckpt-9_temp_4f2a"]
  assert sorted(os.listdir(ckpt)) == ["best", "ckpt-3.index"]
  assert os.listdir(ckpt / "best") == []


def test_a_checkpoint_of_another_model_names_the_first_difference(tmp_path):
  vae = tf.Variable(tf.zeros([3]), name="w")
  path = tf.train.Checkpoint(vae_variables=[vae], vae_step=tf.Variable(0, dtype=tf.int64)).save(
      str(tmp_path / "ckpt"))
  sgm = {"inference_variables": [tf.Variable(tf.zeros([2]))],
         "inference_step": tf.Variable(0, dtype=tf.int64)}
  assert checkpoints.differences(path, sgm) == ["inference_variables/0 is not in the checkpoint"]
  as_float64 = {"vae_variables": [tf.Variable(tf.zeros([3], tf.float64))]}
  assert checkpoints.differences(path, as_float64) == [
      "vae_variables/0 has dtype float64 in the model, float32 in the checkpoint"]
  assert checkpoints.differences(path, {"vae_variables": [tf.Variable(tf.zeros([3]))]}) == []
  with pytest.raises(ConfigError, match=r"holds other variables than the model these flags build "
                     r"\(inference_variables/0 is not in the checkpoint\)"):
    checkpoints.restore_variables(sgm, str(tmp_path), path)


def test_a_damaged_index_is_unreadable_with_the_hint(tmp_path):
  state = {"w": [tf.Variable(tf.ones([4]))], "step": tf.Variable(0, dtype=tf.int64)}
  manager = tf.train.CheckpointManager(tf.train.Checkpoint(**state), str(tmp_path / "checkpoints"),
                                       max_to_keep=1)
  path = manager.save(checkpoint_number=3)
  os.truncate(f"{path}.index", os.path.getsize(f"{path}.index") // 2)
  assert not checkpoints.intact(path)
  with pytest.raises(ConfigError) as e:
    checkpoints.restore_latest(state, str(tmp_path))
  message = str(e.value)
  assert message.startswith(f"--model_dir: the checkpoint {path} cannot be read (")
  assert message.endswith("; delete its files and name an earlier ckpt-N in the 'checkpoint' "
                          "state file, or use another --model_dir") and "\n" not in message


def test_best_checkpoint_keeps_the_best_weights_and_reads_its_score_back(tmp_path):
  weight = tf.Variable([1.0, 2.0])
  best = checkpoints.BestCheckpoint({"w": weight}, str(tmp_path / "best"))
  assert best.path is None and best.restore_into({"w": tf.Variable([0.0, 0.0])}) == -1
  best.save(5, -3.5)
  weight.assign([7.0, 8.0])  # later, worse weights are not saved
  again = checkpoints.BestCheckpoint({"w": tf.Variable([0.0, 0.0])}, str(tmp_path / "best"))
  assert int(again.step.numpy()) == 5 and float(again.value.numpy()) == -3.5
  target = tf.Variable([0.0, 0.0])
  assert again.restore_into({"w": target}) == 5
  np.testing.assert_array_equal(target.numpy(), [1.0, 2.0])
  assert os.path.basename(again.path) == "ckpt-5"


def test_best_checkpoint_of_a_non_chief_worker_writes_nothing(tmp_path):
  best = checkpoints.BestCheckpoint({"w": tf.Variable(1.0)}, str(tmp_path / "best"), chief=False)
  best.save(3, 1.0)
  assert int(best.step.numpy()) == 3 and best.path is None
  assert not (tmp_path / "best").exists() or not os.listdir(tmp_path / "best")
