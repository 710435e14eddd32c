"""Tests of `inv_tf.training.distribute`: strategies, global-batch semantics, multi-worker runs.

Multi-replica cases need a process whose CPU is split into logical devices before TensorFlow
starts, so they run in subprocesses: this module's `_child_*` functions (the two in-process
comparisons share one child interpreter), or `trainers.train`. They are all in the slow tier.

Tolerances: with one replica and with two, the stage-1 step computes the same global-batch mean
loss and gradient; only the order of the floating-point sums differs (each replica averages its
half, then the halves are averaged). Over 5 steps the losses agree to a relative 1e-5 and the
weights to an absolute 1e-5. That comparison needs the same random numbers on both sides, which
per-replica streams do not give, so it uses a configuration whose randomness has no effect:
no augmentation (the augmentation range ramps from 0 over 10⁹ steps), σ of q = 1e-30 (its noise
then rounds away), no blur;
q's mean head starts at a non-zero η (rotation 0.6 rad, scale 0.2), so the invertibility term
(content lost at the borders by the round trip) gives a loss of ~0.05 and real gradients.
"""

import json
import os
import pathlib
import socket
import subprocess
import sys
import tempfile

import numpy as np
import pytest
import tensorflow as tf

from inv_tf.config import ConfigError
from inv_tf.training import distribute

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from support import run_module, tiny_config  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
TIMEOUT = 900


def _run_child(name: str, *args) -> dict:
  """Runs `_child_<name>(*args)` in a fresh interpreter; returns its JSON result."""
  env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
  env.pop("TF_CONFIG", None)
  code = (f"import sys, json; sys.path.insert(0, {str(REPO / 'tests')!r}); "
          f"import test_distribute as t; print('RESULT', json.dumps(t._child_{name}(*{args!r})))")
  proc = subprocess.run([sys.executable, "-c", code], cwd=str(REPO), env=env,
                        capture_output=True, text=True, timeout=TIMEOUT)
  lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
  assert proc.returncode == 0 and lines, proc.stderr[-3000:]
  return json.loads(lines[-1][len("RESULT "):])


# ---------------------------------------------------------------------------------------------
# In-process unit tests (one device).


def test_one_device_and_auto_on_a_cpu_machine():
  strategy = distribute.create_strategy(tiny_config(distribution_strategy="one_device"))
  assert isinstance(strategy, tf.distribute.OneDeviceStrategy)
  assert distribute.num_replicas(strategy) == 1 and distribute.is_chief(strategy)
  auto = distribute.create_strategy(tiny_config())
  assert isinstance(auto, tf.distribute.OneDeviceStrategy)


def test_multi_worker_without_tf_config_is_a_config_error(monkeypatch):
  monkeypatch.delenv("TF_CONFIG", raising=False)
  with pytest.raises(ConfigError, match="TF_CONFIG is not set"):
    distribute.create_strategy(tiny_config(distribution_strategy="multi_worker_mirrored"))
  monkeypatch.setenv("TF_CONFIG", "not json")
  with pytest.raises(ConfigError, match="TF_CONFIG is not JSON"):
    distribute.create_strategy(tiny_config(distribution_strategy="multi_worker_mirrored"))


def test_unknown_strategy_is_refused_by_validation():
  with pytest.raises(ConfigError, match="--distribution_strategy: unknown strategy 'nope'"):
    tiny_config(distribution_strategy="nope").validate()


def test_cpu_split_after_start_names_the_problem():
  tf.constant(1.0)  # TensorFlow's devices are initialised in this process.
  have = len(tf.config.list_logical_devices("CPU"))
  distribute.configure_cpu_devices(have)  # The current split: accepted.
  with pytest.raises(ConfigError, match=f"--num_cpu_devices={have + 3}: TensorFlow already"):
    distribute.configure_cpu_devices(have + 3)


def test_one_replica_step_is_one_xla_function():
  calls = []

  def compute(images, step, replica):
    calls.append(replica)
    return [2.0 * images], {"loss": tf.reduce_mean(images)}

  def apply(grads, step):
    return {"grad_sum": tf.reduce_sum(grads[0])}

  step_fn = distribute.compile_step(tf.distribute.get_strategy(), compute, apply)
  out = step_fn(tf.ones([4, 2]), tf.constant(0, tf.int64))
  assert calls == [None]  # No replica index: the single-device random stream.
  assert float(out["loss"]) == 1.0 and float(out["grad_sum"]) == 16.0


def test_jit_compile_false_gives_a_plain_graph_with_the_same_values():
  """`--jit_compile=false`: the step runs as a plain tf.function (an op XLA cannot compile runs)
  and a deterministic step gives XLA's values to float32 round-off."""
  weights = tf.constant(np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32))

  def compute(images, step, replica):
    loss = tf.reduce_mean(tf.tanh(tf.reshape(images, [4, 8]) @ weights))
    return [tf.sin(images)], {"loss": loss}

  def apply(grads, step):
    return {"grad_sum": tf.reduce_sum(grads[0])}

  images = tf.constant(np.random.default_rng(1).normal(size=(4, 2, 4, 1)).astype(np.float32))
  step = tf.constant(0, tf.int64)
  xla = distribute.compile_step(tf.distribute.get_strategy(), compute, apply)(images, step)
  plain = distribute.compile_step(tf.distribute.get_strategy(), compute, apply,
                                  jit_compile=False)(images, step)
  for key in ("loss", "grad_sum"):
    np.testing.assert_allclose(float(plain[key]), float(xla[key]), rtol=1e-5)

  def strings(images, step, replica):  # tf.as_string has no XLA kernel
    return [images], {"loss": tf.cast(tf.strings.length(tf.as_string(step)), tf.float32)}

  out = distribute.compile_step(tf.distribute.get_strategy(), strings, apply,
                                jit_compile=False)(images, step)
  assert float(out["loss"]) == 1.0
  with pytest.raises(Exception):
    distribute.compile_step(tf.distribute.get_strategy(), strings, apply)(images, step)


# ---------------------------------------------------------------------------------------------
# Two replicas on two logical CPU devices.


def _child_compare_stage1(steps: int):
  distribute.configure_cpu_devices(2)
  import keras
  from inv_tf import data as data_lib
  from inv_tf.training import train as train_lib
  config = tiny_config(inference_steps=10 ** 9, augment_warmup_pct=1.0, init_sigma=1e-30,
                       blur_sigma_init=0.0, inv_mult=1.0)
  images = next(iter(data_lib.load("mnist", "train", seed=0, rotation_deg=180).batch(16)))["image"]
  out, initial = {}, None
  for name in ("one_device", "mirrored"):
    strategy = distribute.create_strategy(config.replace(distribution_strategy=name))
    keras.utils.set_random_seed(0)
    with strategy.scope():
      state = train_lib.create_state(config, images.shape[1:])
    variables = state.model.inference.trainable_variables
    if initial is None:
      initial = [v.numpy() for v in variables]
      bias = next(i for i, v in enumerate(variables) if "mean" in v.path and "bias" in v.path)
      initial[bias] = np.array([0.0, 0.0, 0.6 / np.pi, 0.8, 0.8], np.float32)
    for v, value in zip(variables, initial):
      v.assign(value)
    step_fn = train_lib.make_inference_step(state, config, strategy)
    inputs = images
    if distribute.num_replicas(strategy) > 1:
      half = lambda ctx: images[8 * ctx.replica_id_in_sync_group:][:8]
      inputs = strategy.experimental_distribute_values_from_function(half)
    losses = [float(step_fn(inputs, tf.constant(i, tf.int64))["loss"]) for i in range(steps)]
    out[name] = {"replicas": distribute.num_replicas(strategy), "losses": losses,
                 "weights": [v.numpy().ravel().tolist() for v in variables]}
  return out


def _child_mirrored(steps: int):
  """Both two-replica comparisons in ONE fresh interpreter (one TensorFlow start-up)."""
  return {"compare_stage1": _child_compare_stage1(steps), "dropout_masks": _child_dropout_masks()}


@pytest.fixture(scope="module")
def mirrored_child():
  """The results of `_child_mirrored(5)`, run once for the module's two mirrored tests."""
  return _run_child("mirrored", 5)


@pytest.mark.slow
def test_mirrored_matches_one_device_at_the_same_global_batch(mirrored_child):
  out = mirrored_child["compare_stage1"]
  one, mirrored = out["one_device"], out["mirrored"]
  assert one["replicas"] == 1 and mirrored["replicas"] == 2
  assert one["losses"][0] > 0.01  # A real loss, not rounding noise.
  np.testing.assert_allclose(mirrored["losses"], one["losses"], rtol=1e-5)
  assert one["losses"][-1] < one["losses"][0]  # It trained.
  for a, b in zip(one["weights"], mirrored["weights"]):
    np.testing.assert_allclose(b, a, atol=1e-5)


def _child_dropout_masks():
  """Dropout inside `compile_step` (as in the train steps): per replica, then the replica mean."""
  distribute.configure_cpu_devices(2)  # accepted again when the split is already 2
  import keras
  from inv_tf.models import layers
  out = {}
  for name in ("one_device", "mirrored"):
    strategy = distribute.create_strategy(tiny_config().replace(distribution_strategy=name))
    with strategy.scope():
      generator = keras.random.SeedGenerator(3)

    def compute(images, step, replica):
      del step, replica
      mask = layers.dropout(tf.ones([64, 32]), 0.5, generator)  # entries 0 or 2
      return [mask + 0.0 * tf.reduce_sum(images)], {"kept": tf.reduce_mean(tf.sign(mask))}

    step_fn = distribute.compile_step(strategy, compute, lambda grads, step: {"mask": grads[0]})
    images = tf.zeros([2, 2, 2, 1])
    if distribute.num_replicas(strategy) > 1:
      images = strategy.experimental_distribute_values_from_function(lambda ctx: images[:1])
    result = step_fn(images, tf.constant(0, tf.int64))
    out[name] = {"mask": result["mask"].numpy().ravel().tolist(), "kept": float(result["kept"]),
                 "state": generator.state.numpy().tolist()}
  return out


@pytest.mark.slow
def test_mirrored_replicas_draw_different_dropout_masks(mirrored_child):
  out = mirrored_child["dropout_masks"]
  one, mirrored = out["one_device"], out["mirrored"]
  assert one["state"] == mirrored["state"] == [3, 1]  # one draw per replica copy
  assert 0.4 < one["kept"] < 0.6 and 0.4 < mirrored["kept"] < 0.6  # rate 0.5
  assert set(one["mask"]) == {0.0, 2.0}
  # The replica mean of two masks is 1 where they disagree: independent masks disagree on about
  # half of the 2,048 units, identical ones (the same seed on both replicas) nowhere.
  assert 0.4 < np.mean(np.array(mirrored["mask"]) == 1.0) < 0.6


@pytest.mark.slow
def test_mirrored_trainer_trains_and_exports_a_vae_stage(tmp_path, shared_run):
  """The AugVAE under `mirrored`: SGM resamples (p with dropout) in each replica, the VAE step,
  test IWLB and export. (Stages 1 and 2 under several replicas: the worker test below.)"""
  sgm_dir, _ = shared_run
  flagfile = tmp_path / "tiny.cfg"
  flagfile.write_text(tiny_config(jit_compile=False).to_flagfile())  # bookkeeping: plain graphs
  vae_dir = tmp_path / "augvae"
  vae = run_module("trainers.train", f"--flagfile={flagfile}", "--distribution_strategy=mirrored",
                   "--num_cpu_devices=2", f"--model_dir={vae_dir}", "--model=augvae",
                   f"--sgm_dir={sgm_dir}", "--vae_steps=4", "--vae_conv_dims=8,8",
                   "--vae_dense_dims=16", "--iwlb_num_samples=4", "--num_test=16",
                   "--test_batch_size=16")
  assert vae.returncode == 0, vae.stderr[-3000:]
  assert tf.train.latest_checkpoint(str(vae_dir / "checkpoints")).endswith("ckpt-4")
  results = json.loads((vae_dir / "metrics.json").read_text())
  assert np.isfinite(results["test/iwlb"])
  loaded = tf.saved_model.load(str(vae_dir / "export"))
  assert loaded.signatures["reconstruct"](x=tf.zeros([2, 28, 28, 1]))  # Exported from replicas.


# ---------------------------------------------------------------------------------------------
# Two worker processes on 127.0.0.1.


def _free_ports(count: int) -> list:
  sockets = [socket.socket() for _ in range(count)]
  for s in sockets:
    s.bind(("127.0.0.1", 0))
  ports = [s.getsockname()[1] for s in sockets]
  for s in sockets:
    s.close()
  return ports


def _run_workers(flagfile, model_dir, *args):
  ports = _free_ports(2)
  cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
  procs = []
  for index in range(2):
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env["TF_CONFIG"] = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
    procs.append(subprocess.Popen(
        [sys.executable, "-m", "trainers.train", f"--flagfile={flagfile}",
         f"--model_dir={model_dir}", "--distribution_strategy=multi_worker_mirrored", *args],
        cwd=str(REPO), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
  outs = []
  for proc in procs:
    try:
      stdout, stderr = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
      for p in procs:
        p.kill()
      raise
    outs.append((proc.returncode, stdout, stderr))
  return outs


@pytest.mark.slow
def test_multi_worker_mirrored_trains_writes_one_checkpoint_set_and_resumes(tmp_path):
  flagfile = tmp_path / "tiny.cfg"
  # Plain graphs: this checks the workers' bookkeeping; the XLA step under several replicas is
  # the mirrored comparison's.
  flagfile.write_text(tiny_config(inference_steps=4, generative_steps=2, checkpoint_every=2,
                                  export=False, jit_compile=False).to_flagfile())
  model_dir = tmp_path / "model"
  temp_dirs = lambda: {f for f in os.listdir(tempfile.gettempdir())
                       if f.startswith("inv_tf_worker_ckpt_")}
  before = temp_dirs()
  outs = _run_workers(flagfile, model_dir)
  for code, _, stderr in outs:
    assert code == 0, stderr[-3000:]
  files = sorted(os.listdir(model_dir / "checkpoints"))  # Stage 1 (4 steps), then stage 2 (2).
  assert files == ["checkpoint"] + [f"ckpt-{n}.{ext}" for n in (2, 4, 6)
                                    for ext in ("data-00000-of-00001", "index")]
  assert "Finished" in outs[0][1]  # The chief prints the summary; both print it.
  assert (model_dir / "metrics.json").exists() and (model_dir / "train").is_dir()
  # Resume: 2 more stage-2 steps from the end, in both workers.
  outs = _run_workers(flagfile, model_dir, "--generative_steps=4")
  for code, _, stderr in outs:
    assert code == 0, stderr[-3000:]
  assert tf.train.latest_checkpoint(str(model_dir / "checkpoints")).endswith("ckpt-8")
  reader = tf.train.load_checkpoint(str(model_dir / "checkpoints"))
  assert int(reader.get_tensor("inference_step/.ATTRIBUTES/VARIABLE_VALUE")) == 4
  assert int(reader.get_tensor("generative_step/.ATTRIBUTES/VARIABLE_VALUE")) == 4
  assert temp_dirs() <= before  # The worker's private checkpoint directory is gone.
