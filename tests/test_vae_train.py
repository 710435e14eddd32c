"""End-to-end tests of the VAE family's training (`inv_tf.training.vae_train`) and trainer flags.

Every model (vae, vae_standard_aug, augvae, invvae; its one stage is named after it) trains a
tiny VAE for 6 steps on 64 digits (XLA-compiled for `XLA_STAGES`, plain graphs for the others)
and is scored with K = 5 on 16 test digits (`support.VAE_TINY`); the vae run is conftest.py's
`shared_vae_run`. augvae / invvae use the shared tiny SGM run (conftest.py's `shared_run`,
trained once per session and only read here). The "vae" run is then resumed to 10 steps in a
copy of its directory. The exports of the vae and invvae runs are loaded in a subprocess that
never imports inv_tf and compared with the in-process models. The trainer's bad VAE flags are
among `test_trainers.py`'s bad command lines.
"""

import glob
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from inv_tf.config import ConfigError
from inv_tf.models.inv_vae import InvVAE
from inv_tf.models.sgm import SGM
from inv_tf.training import checkpoints
from inv_tf.training import rundir
from inv_tf.training import train as train_lib
from inv_tf.training import vae_train

from support import (FORBID_INV_TF, IMAGE_SHAPE, checkpoint_value, read_events, sample_images,
                     tiny_config, train_capturing, vae_config)

STAGES = ("vae", "vae_standard_aug", "augvae", "invvae")
# The stages whose runs here are XLA-compiled, as a user's are. The others train as plain graphs
# (a tiny invvae run: 61 CPU-s with XLA, 29 without, idle): their compiled steps are trained by
# tests/test_vae.py (the VAE step) and tests/test_inv_vae.py (the InvVAE step), and these runs
# check what a run writes.
XLA_STAGES = ("vae_standard_aug", "augvae")
RESUMED_STEPS = 10
TEST_KEYS = ("test/iwlb", "test/elbo", "test/recon_mse", "test/num_images")
REF_KEYS = ("test/ref_iwlb", "test/ref_elbo")
# IWLB_K ≥ ELBO holds in expectation; the two use different samples. Measured gaps on these runs
# are 15–40 nats (e.g. vae −1103 vs −1120, invvae −1095 vs −1130), so 1 nat of slack is small.
BOUND_TOL = 1.0
N, SEED = 3, (3, 4)


def tree_digest(path):
  """{relative path: sha256} of every file under `path`."""
  digest = {}
  for root, _, files in os.walk(path):
    for name in files:
      full = os.path.join(root, name)
      with open(full, "rb") as f:
        digest[os.path.relpath(full, path)] = hashlib.sha256(f.read()).hexdigest()
  return digest


def scalar_steps(logdir, tag):
  """Steps of every scalar event `tag` in every event file under logdir, in write order.

  Read raw (not with TensorBoard's EventAccumulator, which drops events when steps go back, and
  so would hide a run that restarted from step 0).
  """
  steps = []
  for path in sorted(glob.glob(os.path.join(logdir, "events.out.tfevents.*"))):
    for event in tf.compat.v1.train.summary_iterator(path):
      steps += [event.step for value in event.summary.value if value.tag == tag]
  return steps


# ---------------------------------------------------------------------------------------------
# The runs.


@pytest.fixture(scope="module")
def sgm_dir(shared_run):
  return shared_run[0]


@pytest.fixture(scope="module")
def runs(sgm_dir, shared_vae_run, tmp_path_factory):
  """{stage: (workdir, results, trained VAE)}; the SGM dir's files are checked unchanged. The
  "vae" run is conftest.py's `shared_vae_run`."""
  before = tree_digest(sgm_dir)
  root = tmp_path_factory.mktemp("vae_runs")
  out = {"vae": shared_vae_run}
  for stage in STAGES[1:]:
    sgm = sgm_dir if stage in ("augvae", "invvae") else ""
    workdir = str(root / stage)
    results, vae = train_capturing(vae_config(stage, sgm, jit_compile=stage in XLA_STAGES),
                                   workdir)
    out[stage] = (workdir, results, vae)
  assert tree_digest(sgm_dir) == before  # --sgm_dir is read, never written
  return out


@pytest.fixture(scope="module")
def resumed(runs, tmp_path_factory):
  """A copy of the 6-step vae run, trained on to RESUMED_STEPS: (workdir, results)."""
  workdir = str(tmp_path_factory.mktemp("vae_resume") / "model")
  shutil.copytree(runs["vae"][0], workdir)
  assert tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints")).endswith("ckpt-6")
  results = train_lib.train_and_evaluate(
      vae_config(vae_steps=RESUMED_STEPS, jit_compile=False), workdir)  # as the run it resumes
  return workdir, results


@pytest.mark.slow
@pytest.mark.parametrize("stage", STAGES)
def test_each_stage_writes_scores_logs_checkpoints_and_export(runs, sgm_dir, stage):
  workdir, results, _ = runs[stage]
  with open(os.path.join(workdir, "metrics.json")) as f:
    metrics = json.load(f)
  assert metrics == pytest.approx(results)
  keys = TEST_KEYS + (REF_KEYS if stage == "invvae" else ())
  assert set(keys) <= set(metrics), sorted(metrics)
  if stage != "invvae":
    assert not set(REF_KEYS) & set(metrics)
  for key in keys + (f"{stage}/elbo", f"{stage}/loss"):
    assert math.isfinite(metrics[key]), (key, metrics[key])
  assert metrics["test/num_images"] == 16
  assert metrics["test/iwlb"] >= metrics["test/elbo"] - BOUND_TOL, metrics
  assert metrics["test/recon_mse"] > 0
  if stage == "invvae":
    assert metrics["test/ref_iwlb"] >= metrics["test/ref_elbo"] - BOUND_TOL, metrics
    assert abs(metrics["test/ref_iwlb"] - metrics["test/iwlb"]) > 1.0, metrics
  assert metrics["export_path"] == os.path.join(os.path.abspath(workdir), "export")
  assert os.path.isfile(os.path.join(workdir, "export", "saved_model.pb"))
  for name in ("train", "validation"):
    files = os.listdir(os.path.join(workdir, name))
    assert any(f.startswith("events.out.tfevents") for f in files), (name, files)
  assert checkpoint_value(workdir, "vae_step") == 6
  assert checkpoint_value(workdir, "vae_optimizer/_iterations") == 6
  # One evaluation (at step 6): the best weights are the last ones, kept in checkpoints/best.
  assert metrics[f"{stage}/steps"] == 6 and metrics[f"{stage}/best_step"] == 6
  assert metrics[f"{stage}/best_elbo"] == pytest.approx(metrics[f"{stage}/elbo"], rel=1e-6)
  assert tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints", "best")).endswith("-6")
  with open(os.path.join(workdir, "run.json")) as f:
    architecture = json.load(f)["architecture"]
  assert architecture["model"] == stage
  if stage in ("augvae", "invvae"):
    assert architecture["sgm_dir"] == os.path.abspath(sgm_dir)
  else:
    assert "sgm_dir" not in architecture


@pytest.mark.slow
@pytest.mark.parametrize("stage", STAGES)
def test_each_stage_logs_training_and_test_scalars(runs, stage):
  workdir, results, _ = runs[stage]
  train = read_events(os.path.join(workdir, "train"))
  for name in ("loss", "log_likelihood", "kl", "grad_norm", "lr", "pixel_sigma",
               "pixel_sigma_min"):
    plugin, events = train[f"{stage}/{name}"]
    assert plugin == "scalars"
    assert [step for step, _ in events] == [2, 4, 6], name  # log_every=2
    assert all(np.isfinite(v) for _, v in events), name
  val = read_events(os.path.join(workdir, "validation"))
  for key in ("test/iwlb", "test/elbo", f"{stage}/loss", f"{stage}/best_elbo"):
    _, events = val[key]
    assert [step for step, _ in events] == [6], key
    np.testing.assert_allclose(events[-1][1], results[key], rtol=1e-5)
  sigma, sigma_min = train[f"{stage}/pixel_sigma"][1], train[f"{stage}/pixel_sigma_min"][1]
  assert all(low <= mean for (_, low), (_, mean) in zip(sigma_min, sigma))
  for tag in (f"{stage}/x | reconstruction", f"{stage}/samples"):
    assert val[tag][0] == "images", tag


# ---------------------------------------------------------------------------------------------
# Resume and refusal.


@pytest.mark.slow
def test_resume_trains_on_from_the_checkpoint(resumed, runs):
  workdir, results = resumed
  assert tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints")).endswith(
      f"ckpt-{RESUMED_STEPS}")
  assert checkpoint_value(workdir, "vae_step") == RESUMED_STEPS
  assert checkpoint_value(workdir, "vae_optimizer/_iterations") == RESUMED_STEPS
  state = tf.train.get_checkpoint_state(os.path.join(workdir, "checkpoints"))
  assert [os.path.basename(p) for p in state.all_model_checkpoint_paths] == [
      "ckpt-6", "ckpt-9", "ckpt-10"]
  # Steps 1–6 were logged once (by the first run), 7–10 by the resumed one: a restart from step 0
  # would have logged 2, 4, 6 again.
  assert scalar_steps(os.path.join(workdir, "train"), "vae/loss") == [2, 4, 6, 8, 10]
  # The weights went on changing after step 6, and the new scores are finite.
  after = tf.train.load_checkpoint(os.path.join(workdir, "checkpoints"))
  first = tf.train.load_checkpoint(os.path.join(runs["vae"][0], "checkpoints"))
  name = "vae_variables/0/.ATTRIBUTES/VARIABLE_VALUE"
  assert not np.array_equal(after.get_tensor(name), first.get_tensor(name))
  assert math.isfinite(results["test/iwlb"]) and math.isfinite(results["vae/loss"])


@pytest.mark.parametrize("previous, change, field", [
    ("sgm", dict(), "model"),                     # an SGM run's dir reused for --model=vae
    ("vae", dict(model="vae_standard_aug"), "model"),
    ("vae", dict(latent_dim=3), "latent_dim"),
    ("vae", dict(vae_conv_dims=(8, 8)), "vae_conv_dims"),
])
def test_model_dir_of_another_architecture_is_refused(tmp_path, previous, change, field):
  workdir = str(tmp_path / "model")
  old = tiny_config() if previous == "sgm" else vae_config()
  rundir.prepare_workdir(old, workdir, IMAGE_SHAPE)
  before = tree_digest(workdir)
  with pytest.raises(ConfigError, match=rf"^--model_dir: .* holds a run with {field}=.*"
                                        rf"but this run has {field}="):
    train_lib.train_and_evaluate(vae_config(**change), workdir)
  assert tree_digest(workdir) == before  # nothing written, no checkpoints


# ---------------------------------------------------------------------------------------------
# --sgm_dir.


def _vae_run_dir(path):
  rundir.prepare_workdir(vae_config(), str(path), IMAGE_SHAPE)
  return str(path)


def _sgm_run_without_checkpoint(path):
  rundir.prepare_workdir(tiny_config(), str(path), IMAGE_SHAPE)
  return str(path)


def _sgm_run_for_16x16(path):
  """An SGM run directory (untrained weights, one checkpoint) for 16×16×1 images."""
  config, shape = tiny_config(), (16, 16, 1)
  rundir.prepare_workdir(config, str(path), shape)
  sgm = SGM(config, shape)
  manager = tf.train.CheckpointManager(tf.train.Checkpoint(**checkpoints.model_trackables(sgm)),
                                       str(path / "checkpoints"), max_to_keep=1)
  manager.save(checkpoint_number=1)
  return str(path)


SGM_DIR_ERRORS = {
    "missing": (lambda p: str(p / "nope"), "holds no training run"),
    "empty": (lambda p: (p.mkdir(), str(p))[1], "holds no training run"),
    "vae_run": (_vae_run_dir, "holds a --model=vae run, not an SGM"),
    "no_checkpoint": (_sgm_run_without_checkpoint, "has no checkpoint to restore"),
    "other_image_shape": (_sgm_run_for_16x16,
                          r"the SGM there models images of shape \[16, 16, 1\], but "
                          r"--dataset=mnist has \[28, 28, 1\]"),
}


@pytest.mark.parametrize("stage", ["augvae", "invvae"])
@pytest.mark.parametrize("case", list(SGM_DIR_ERRORS))
def test_bad_sgm_dir_is_refused_before_touching_the_model_dir(tmp_path, stage, case):
  make, message = SGM_DIR_ERRORS[case]
  bad = make(tmp_path / "sgm")
  workdir = tmp_path / "model"
  with pytest.raises(ConfigError, match=f"^--sgm_dir: .*{message}"):
    train_lib.train_and_evaluate(vae_config(stage, bad), str(workdir))
  assert not workdir.exists()


@pytest.mark.slow
def test_load_sgm_returns_the_frozen_checkpointed_sgm(sgm_dir):
  assert vae_train.load_sgm(vae_config(), IMAGE_SHAPE) is None
  want = checkpoints.restore_model(sgm_dir)
  for path in (sgm_dir, os.path.join(sgm_dir, "export")):  # the run dir or its export/
    sgm = vae_train.load_sgm(vae_config("augvae", path), IMAGE_SHAPE)
    assert isinstance(sgm, SGM) and not sgm.trainable and sgm.trainable_variables == []
    assert len(sgm.variables) == len(want.variables)
    for got, value in zip(sgm.variables, want.variables):
      np.testing.assert_array_equal(got.numpy(), value.numpy())


@pytest.mark.slow
def test_invvae_reference_objective_trains_the_vae_on_prototypes_only(sgm_dir):
  """The reference objective is the plain VAE ELBO on x̂ (no p(η|·) or q(η|x) term); the default
  pixel objective includes both. Both update only the VAE."""
  images = sample_images(8)
  out = {}
  for objective in ("pixel", "reference"):
    # XLA for the reference objective only: tests/test_inv_vae.py compiles the pixel one.
    config = vae_config("invvae", sgm_dir, invvae_objective=objective,
                        jit_compile=objective == "reference")
    state = vae_train.create_vae_state(config, IMAGE_SHAPE)
    sgm = vae_train.load_sgm(config, IMAGE_SHAPE)
    sgm_before = [v.numpy().copy() for v in sgm.variables]
    vae_before = [v.numpy().copy() for v in state.vae.trainable_variables]
    step = vae_train.make_train_step(state, InvVAE(state.vae, sgm), config, sgm)
    metrics = {k: float(v) for k, v in step(images, tf.constant(0, tf.int64)).items()}
    assert all(np.array_equal(a, b.numpy()) for a, b in zip(sgm_before, sgm.variables))
    assert any(not np.array_equal(a, b.numpy())
               for a, b in zip(vae_before, state.vae.trainable_variables))
    out[objective] = metrics
  assert {"log_p_eta", "log_q_eta"} <= set(out["pixel"])
  assert not {"log_p_eta", "log_q_eta"} & set(out["reference"])
  assert math.isfinite(out["reference"]["loss"])
  assert out["reference"]["loss"] == pytest.approx(-out["reference"]["elbo"], rel=1e-5)
  with pytest.raises(ConfigError, match="^--invvae_objective: unknown objective 'nope'"):
    vae_config("invvae", sgm_dir, invvae_objective="nope").validate()


# ---------------------------------------------------------------------------------------------
# Standard augmentation (docs/design.md §8.4).


def _blob_images(batch, sigma_x=3.0, sigma_y=3.0, side=28):
  """A centred Gaussian blob on a -1 background, repeated: float32 [batch, side, side, 1]."""
  yy, xx = np.mgrid[0:side, 0:side].astype(np.float32)
  c = (side - 1) / 2
  blob = np.exp(-(xx - c) ** 2 / (2 * sigma_x ** 2) - (yy - c) ** 2 / (2 * sigma_y ** 2))
  return tf.constant(np.repeat((2 * blob - 1)[None, :, :, None], batch, 0).astype(np.float32))


def _moments(images):
  """Centre of mass (x, y) [B, 2] and second central moments (vxx, vyy, vxy) [B, 3] of (img+1)/2."""
  m = (images.numpy()[..., 0] + 1) / 2
  side = m.shape[1]
  yy, xx = np.mgrid[0:side, 0:side].astype(np.float64)
  total = m.sum((1, 2))
  cx, cy = (m * xx).sum((1, 2)) / total, (m * yy).sum((1, 2)) / total
  dx, dy = xx - cx[:, None, None], yy - cy[:, None, None]
  second = [(m * a * b).sum((1, 2)) / total for a, b in ((dx, dx), (dy, dy), (dx, dy))]
  return np.stack([cx, cy], 1), np.stack(second, 1)


@pytest.mark.parametrize("shape", [(4, 28, 28, 1), (3, 20, 24, 3)])
def test_standard_augmentation_shape_dtype_and_seeds(shape):
  x = tf.constant(np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32))
  seed = tf.constant([1, 2], tf.int32)
  out = vae_train.standard_augmentation(x, seed)
  assert out.shape == shape and out.dtype == tf.float32
  assert np.all(np.isfinite(out.numpy()))
  np.testing.assert_array_equal(out.numpy(), vae_train.standard_augmentation(x, seed).numpy())
  other = vae_train.standard_augmentation(x, tf.constant([1, 3], tf.int32)).numpy()
  assert not np.allclose(out.numpy(), other, atol=1e-3)
  # Every image gets its own transformation.
  same = tf.repeat(x[:1], shape[0], axis=0)
  out = vae_train.standard_augmentation(same, seed).numpy()
  assert not np.allclose(out[0], out[1], atol=1e-3)


@pytest.mark.parametrize("order", [1, 3])
def test_standard_augmentation_shifts_by_whole_pixels_and_scales_by_10_percent(order):
  x = _blob_images(256)
  centre, second = _moments(x)
  out = vae_train.standard_augmentation(x, tf.constant([1, 2], tf.int32), order)
  new_centre, new_second = _moments(out)
  # Rotation and scaling are about the image centre, so a centred blob's centre of mass moves by
  # the integer shift alone. The shift is η's translation in {-2, -1, 0, 1} pixels; with the
  # package's convention (matrices map output to input coordinates) the content moves by −shift,
  # i.e. by {-1, 0, 1, 2} pixels. Measured: within 0.002 px of an integer.
  moved = new_centre - centre
  np.testing.assert_allclose(moved, np.round(moved), atol=0.02)
  for axis in (0, 1):
    assert set(np.round(moved[:, axis]).astype(int)) == {-1, 0, 1, 2}, axis
  # The principal standard deviations scale by factors in [0.9, 1.1] (rotation does not change
  # them). Measured: 0.900–1.109 (bilinear interpolation blurs slightly).
  cov = np.stack([[new_second[:, 0], new_second[:, 2]], [new_second[:, 2], new_second[:, 1]]])
  eig = np.linalg.eigvalsh(np.moveaxis(cov, -1, 0))
  ratios = np.sqrt(eig / second[0, 0])
  assert ratios.min() >= 0.89 and ratios.max() <= 1.12, (ratios.min(), ratios.max())
  assert ratios.min() < 0.93 and ratios.max() > 1.07  # the whole range is used
  # Some mass falls outside / comes in at the border only through scaling: roughly conserved.
  mass = ((out.numpy() + 1) / 2).sum((1, 2, 3)) / ((x.numpy()[0] + 1) / 2).sum()
  assert 0.75 < mass.min() and mass.max() < 1.25


def test_standard_augmentation_rotates_by_up_to_15_degrees():
  x = _blob_images(256, sigma_x=6.0, sigma_y=1.5)  # a horizontal bar
  _, second = _moments(vae_train.standard_augmentation(x, tf.constant([4, 2], tf.int32), order=1))
  angle = 0.5 * np.degrees(np.arctan2(2 * second[:, 2], second[:, 0] - second[:, 1]))
  # Rotations are U(−15°, 15°); the per-axis scaling that follows tilts the bar by up to
  # atan(1.1 / 0.9 · tan 15°) = 18.1°. Measured: −17.2° to 18.1°.
  assert np.abs(angle).max() <= 18.5, np.abs(angle).max()
  assert np.percentile(angle, 5) < -10 and np.percentile(angle, 95) > 10
  assert abs(np.median(angle)) < 3


# ---------------------------------------------------------------------------------------------
# The export, loaded without inv_tf.

LOADER = FORBID_INV_TF + textwrap.dedent(r"""
    import numpy as np
    import tensorflow as tf

    inputs_path, outputs_path = sys.argv[1:3]
    inp = dict(np.load(inputs_path))
    x = tf.constant(inp["x"])
    n, seed = tf.constant(int(inp["n"]), tf.int32), tf.constant(inp["seed"], tf.int32)
    out = {}
    for name, export_dir in zip(inp["names"], inp["dirs"]):
      sig = tf.saved_model.load(str(export_dir)).signatures
      calls = {
          "reconstruct": lambda: sig["reconstruct"](x=x),
          "serving_default": lambda: sig["serving_default"](x=x),
          "sample": lambda: sig["sample"](n=n, seed=seed),
          "sample_again": lambda: sig["sample"](n=n, seed=seed),
          "iwlb": lambda: sig["iwlb"](x=x, seed=seed),
          "iwlb_again": lambda: sig["iwlb"](x=x, seed=seed),
      }
      for call_name, call in calls.items():
        for key, value in call().items():
          out[f"{name}/{call_name}/{key}"] = value.numpy()
      out[f"{name}/signatures"] = np.array(sorted(sig.keys()))
      try:
        sig["sample"](n=tf.constant(0), seed=seed)
        out[f"{name}/n0"] = np.array("RETURNED")
      except tf.errors.InvalidArgumentError:
        out[f"{name}/n0"] = np.array("InvalidArgumentError")
    out["modules"] = np.array(sorted({m.split(".")[0] for m in sys.modules}))
    np.savez(outputs_path, **out)
""")
EXPORTED = ("vae", "invvae")


@pytest.fixture(scope="module")
def loaded(runs, tmp_path_factory):
  """Outputs of the exports of EXPORTED, called in a subprocess that imports no inv_tf."""
  tmp = tmp_path_factory.mktemp("vae_export_subprocess")
  np.savez(tmp / "inputs.npz", x=sample_images(4), n=np.int32(N), seed=np.array(SEED, np.int32),
           names=np.array(EXPORTED),
           dirs=np.array([os.path.join(runs[s][0], "export") for s in EXPORTED]))
  (tmp / "loader.py").write_text(LOADER)
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  env.pop("PYTHONPATH", None)
  proc = subprocess.run([sys.executable, str(tmp / "loader.py"), str(tmp / "inputs.npz"),
                         str(tmp / "outputs.npz")], cwd=str(tmp), env=env, capture_output=True,
                        text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return dict(np.load(tmp / "outputs.npz"))


def _python_model(runs, sgm_dir, stage):
  vae = runs[stage][2]
  return InvVAE(vae, checkpoints.restore_model(sgm_dir)) if stage == "invvae" else vae


@pytest.mark.slow
@pytest.mark.parametrize("stage", EXPORTED)
def test_export_matches_the_trained_model_without_inv_tf(loaded, runs, sgm_dir, stage):
  modules = set(loaded["modules"].tolist())
  assert "inv_tf" not in modules and "trainers" not in modules
  assert "tensorflow_probability" not in modules
  assert sorted(loaded[f"{stage}/signatures"].tolist()) == [
      "iwlb", "reconstruct", "sample", "serving_default"]
  model = _python_model(runs, sgm_dir, stage)
  x = sample_images(4)
  seed = tf.constant(SEED, tf.int32)
  h, w, c = IMAGE_SHAPE
  got = {k.split("/", 1)[1]: v for k, v in loaded.items() if k.startswith(f"{stage}/")}
  assert got["reconstruct/images"].shape == (4, h, w, c)
  assert got["sample/images"].shape == (N, h, w, c)
  assert got["iwlb/iwlb"].shape == (4,)
  for key in ("reconstruct/images", "sample/images", "iwlb/iwlb"):
    assert got[key].dtype == np.float32 and np.all(np.isfinite(got[key])), key
  # Deterministic given the seed; serving_default is reconstruct.
  np.testing.assert_array_equal(got["sample/images"], got["sample_again/images"])
  np.testing.assert_array_equal(got["iwlb/iwlb"], got["iwlb_again/iwlb"])
  np.testing.assert_array_equal(got["serving_default/images"], got["reconstruct/images"])
  assert str(got["n0"]) == "InvalidArgumentError"
  # The same numbers as the trained model in this process (neither is jit-compiled, so the
  # stateless seeds draw the same samples).
  np.testing.assert_allclose(got["reconstruct/images"], model.reconstruct(x).numpy(), rtol=1e-4,
                             atol=1e-4)
  np.testing.assert_allclose(got["sample/images"], model.sample(N, seed).numpy(), rtol=1e-4,
                             atol=1e-4)
  k = vae_config().iwlb_num_samples
  np.testing.assert_allclose(got["iwlb/iwlb"], model.iwlb(x, k, seed).numpy(), rtol=1e-4,
                             atol=1e-2)
