"""The SavedModel export of a trained SGM: self-contained, every signature, same numbers as Python.

The export of the shared tiny run (conftest.py's `shared_run`) is loaded in a SUBPROCESS that imports only
tensorflow and numpy (importing inv_tf / trainers there is made to fail), every signature is called
on fixed inputs from an .npz, and the outputs are compared with the in-process model restored by
`restore_model` (both not jit-compiled, so stateless seeds give the same samples).
"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from inv_tf.export import saved_model
from inv_tf.training import checkpoints

from support import FORBID_INV_TF, IMAGE_SHAPE, examples, sample_images, tiny_config

D = tiny_config().event_dim  # 5 for affine_no_shear
N, SEED = 3, (3, 4)
BAD_CASES = ("x_float64", "x_wrong_size", "x_rank3", "n_float", "seed_len3", "eta_wrong_dim",
             "eta_batch_mismatch", "n_negative", "x_same_size_wrong_shape")

# Runs in the subprocess: argv = export_dir, inputs.npz, outputs.npz.
LOADER = FORBID_INV_TF + textwrap.dedent(r"""
    import json
    import numpy as np
    import tensorflow as tf

    export_dir, inputs_path, outputs_path = sys.argv[1:4]
    inp = dict(np.load(inputs_path))
    model = tf.saved_model.load(export_dir)
    sig = model.signatures
    x, x_hat, eta = (tf.constant(inp[k]) for k in ("x", "x_hat", "eta"))
    n, seed = tf.constant(int(inp["n"]), tf.int32), tf.constant(inp["seed"], tf.int32)
    calls = {
        "prototype": lambda: sig["prototype"](x=x),
        "serving_default": lambda: sig["serving_default"](x=x),
        "sample_eta": lambda: sig["sample_eta"](x_hat=x_hat, n=n, seed=seed),
        "log_prob_eta": lambda: sig["log_prob_eta"](x_hat=x_hat, eta=eta),
        "resample": lambda: sig["resample"](x=x, n=n, seed=seed),
        # The restored tf.functions are callable too (positional arguments).
        "fn_prototype": lambda: model.prototype(x),
        "fn_sample_eta": lambda: model.sample_eta(x_hat, n, seed),
    }
    out = {}
    for name, call in calls.items():
      for key, value in call().items():
        out[f"{name}/{key}"] = value.numpy()
        out[f"{name}/{key}/dtype"] = np.array(value.dtype.name)

    b = x.shape[0]
    h, w, c = x.shape[1:]
    bad = {
        "x_float64": lambda: sig["prototype"](x=tf.cast(x, tf.float64)),
        "x_wrong_size": lambda: sig["prototype"](x=tf.zeros([b, h + 4, w + 4, c])),
        "x_rank3": lambda: sig["prototype"](x=x[0]),
        "n_float": lambda: sig["sample_eta"](x_hat=x_hat, n=tf.constant(2.0), seed=seed),
        "seed_len3": lambda: sig["sample_eta"](x_hat=x_hat, n=n, seed=tf.constant([1, 2, 3])),
        "eta_wrong_dim": lambda: sig["log_prob_eta"](x_hat=x_hat, eta=eta[:, :-1]),
        "eta_batch_mismatch": lambda: sig["log_prob_eta"](x_hat=x_hat, eta=eta[:-1]),
        "n_negative": lambda: sig["resample"](x=x, n=tf.constant(-1), seed=seed),
        # Same number of pixels, wrong height/width: must not be silently reinterpreted.
        "x_same_size_wrong_shape": lambda: sig["prototype"](x=tf.reshape(x, [b, h * 2, w // 2, c])),
    }
    errors = {}
    for name, call in bad.items():
      try:
        call()
        errors[name] = "RETURNED"
      except (ValueError, TypeError, tf.errors.InvalidArgumentError) as e:
        errors[name] = type(e).__name__
    out["errors"] = np.array(json.dumps(errors))
    out["signatures"] = np.array(sorted(sig.keys()))
    out["modules"] = np.array(sorted({m.split(".")[0] for m in sys.modules}))
    np.savez(outputs_path, **out)
""")


@pytest.fixture(scope="module")
def run(shared_run):
  return shared_run


@pytest.fixture(scope="module")
def inputs():
  rng = np.random.default_rng(0)
  x = sample_images(4)
  x_hat = sample_images(4, seed=1)[::-1].copy()
  bounds = np.array(tiny_config().resolved_bounds, np.float32)
  eta = (rng.uniform(-0.5, 0.5, (4, D)) * bounds).astype(np.float32)
  return {"x": x, "x_hat": x_hat, "eta": eta, "n": np.int32(N), "seed": np.array(SEED, np.int32)}


@pytest.fixture(scope="module")
def loaded(run, inputs, tmp_path_factory):
  """Outputs of the subprocess that loads the export with tensorflow only."""
  workdir, _ = run
  tmp = tmp_path_factory.mktemp("export_subprocess")
  np.savez(tmp / "inputs.npz", **inputs)
  (tmp / "loader.py").write_text(LOADER)
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  env.pop("PYTHONPATH", None)
  proc = subprocess.run(
      [sys.executable, str(tmp / "loader.py"), os.path.join(workdir, "export"),
       str(tmp / "inputs.npz"), str(tmp / "outputs.npz")],
      cwd=str(tmp), env=env, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return dict(np.load(tmp / "outputs.npz"))


@pytest.fixture(scope="module")
def model(run):
  return checkpoints.restore_model(run[0])


@pytest.mark.slow
def test_export_loads_without_inv_tf(loaded):
  modules = set(loaded["modules"].tolist())
  assert "tensorflow" in modules
  assert "inv_tf" not in modules and "trainers" not in modules
  assert "tensorflow_probability" not in modules
  assert sorted(loaded["signatures"].tolist()) == sorted(
      saved_model.SIGNATURES + ("serving_default",))


@pytest.mark.slow
def test_signature_shapes_and_dtypes(loaded):
  h, w, c = IMAGE_SHAPE
  want = {
      "prototype/x_hat": (4, h, w, c), "prototype/eta": (4, D),
      "serving_default/x_hat": (4, h, w, c), "serving_default/eta": (4, D),
      "sample_eta/eta": (N, 4, D), "log_prob_eta/log_prob": (4,),
      "resample/images": (N, 4, h, w, c), "resample/eta": (N, 4, D),
  }
  for key, shape in want.items():
    assert loaded[key].shape == shape, key
    assert str(loaded[f"{key}/dtype"]) == "float32", key
    assert np.all(np.isfinite(loaded[key])), key
  signature_keys = {k.rsplit("/", 1)[0] if k.endswith("/dtype") else k for k in loaded}
  assert {k for k in signature_keys if "/" in k} == set(want) | {
      "fn_prototype/x_hat", "fn_prototype/eta", "fn_sample_eta/eta"}


@pytest.mark.slow
def test_prototype_matches_python(loaded, model, inputs):
  proto = model.prototype(inputs["x"])
  x_hat, eta = proto["x_hat"], proto["eta"]
  for name in ("prototype", "serving_default", "fn_prototype"):
    np.testing.assert_allclose(loaded[f"{name}/eta"], eta.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(loaded[f"{name}/x_hat"], x_hat.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_log_prob_eta_matches_python(loaded, model, inputs):
  log_prob = model.log_prob_eta(inputs["x_hat"], inputs["eta"]).numpy()
  np.testing.assert_allclose(loaded["log_prob_eta/log_prob"], log_prob, rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_sample_eta_matches_python_with_the_same_seed(loaded, model, inputs):
  seed = tf.constant(SEED, tf.int32)
  eta = model.sample_eta(inputs["x_hat"], N, seed).numpy()
  np.testing.assert_allclose(loaded["sample_eta/eta"], eta, rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(loaded["fn_sample_eta/eta"], eta, rtol=1e-4, atol=1e-5)
  # The samples depend on the seed and differ between draws.
  other = model.sample_eta(inputs["x_hat"], N, tf.constant([5, 6], tf.int32)).numpy()
  assert not np.allclose(other, eta)
  assert not np.allclose(eta[0], eta[1])


@pytest.mark.slow
def test_resample_matches_python_with_the_same_seed(loaded, model, inputs):
  images, eta = model.resample(inputs["x"], N, tf.constant(SEED, tf.int32))
  np.testing.assert_allclose(loaded["resample/eta"], eta.numpy(), rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(loaded["resample/images"], images.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("case", [
    c
    for c in BAD_CASES])
def test_bad_inputs_to_a_signature_raise(loaded, case):
  import json
  errors = json.loads(str(loaded["errors"]))
  assert errors[case] != "RETURNED", errors


def _leftovers(parent):
  return sorted(f for f in os.listdir(parent) if ".tmp-" in f or ".old-" in f)


@pytest.mark.slow
def test_run_leaves_no_temporary_export_dirs(run):
  workdir, _ = run
  assert _leftovers(workdir) == []
  assert sorted(os.listdir(os.path.join(workdir, "export"))) == [
      "assets", "fingerprint.pb", "saved_model.pb", "variables"]


@pytest.mark.slow
def test_export_is_atomic(model, inputs, tmp_path, monkeypatch):
  path = str(tmp_path / "export")
  assert saved_model.export_sgm(model, path) == path
  with open(os.path.join(path, "saved_model.pb"), "rb") as f:
    original = f.read()

  def broken_save(module, export_dir, signatures=None, **kwargs):
    os.makedirs(os.path.join(export_dir, "variables"), exist_ok=True)
    with open(os.path.join(export_dir, "saved_model.pb"), "wb") as f:
      f.write(b"half-written")
    raise OSError("disk full")

  monkeypatch.setattr(saved_model.tf.saved_model, "save", broken_save)
  with pytest.raises(OSError, match="disk full"):
    saved_model.export_sgm(model, path)
  monkeypatch.undo()
  # The previous export is intact and nothing temporary is left next to it.
  with open(os.path.join(path, "saved_model.pb"), "rb") as f:
    assert f.read() == original
  assert _leftovers(tmp_path) == []

  # A successful re-export replaces it in place (no .old- directory left).
  saved_model.export_sgm(model, path)
  assert _leftovers(tmp_path) == []
  reloaded = tf.saved_model.load(path)
  np.testing.assert_allclose(reloaded.prototype(tf.constant(inputs["x"]))["eta"].numpy(),
                             model.prototype(inputs["x"])["eta"].numpy(), rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# Input checks of the signatures, on the export of an untrained small SGM (fast: no training).

from hypothesis import given, settings, strategies as st  # noqa: E402

SMALL_SHAPE = (8, 8, 1)


@pytest.fixture(scope="module")
def small_export(tmp_path_factory):
  from inv_tf.models.sgm import SGM
  sgm = SGM(tiny_config(), SMALL_SHAPE)
  path = saved_model.export_sgm(sgm, str(tmp_path_factory.mktemp("small") / "export"))
  return tf.saved_model.load(path)


def _images(b, value=None):
  x = np.random.default_rng(b).uniform(-1, 1, (b, *SMALL_SHAPE)).astype(np.float32)
  if value is not None:
    x[0, 3, 4, 0] = value
  return tf.constant(x)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("signature", ["prototype", "resample", "sample_eta", "log_prob_eta"])
def test_non_finite_pixels_are_refused_not_laundered(small_export, signature, bad):
  x = _images(3, bad)
  eta = tf.zeros([3, D])
  seed = tf.constant([1, 2], tf.int32)
  call = {"prototype": lambda: small_export.prototype(x),
          "resample": lambda: small_export.resample(x, tf.constant(2), seed),
          "sample_eta": lambda: small_export.sample_eta(x, tf.constant(2), seed),
          "log_prob_eta": lambda: small_export.log_prob_eta(x, eta)}[signature]
  name = "x" if signature in ("prototype", "resample") else "x_hat"
  with pytest.raises(tf.errors.InvalidArgumentError, match=f"{name}: contains NaN or infinite"):
    call()


def test_non_finite_eta_is_refused(small_export):
  eta = np.zeros([2, D], np.float32)
  eta[1, 2] = np.nan
  with pytest.raises(tf.errors.InvalidArgumentError, match="eta: contains NaN or infinite"):
    small_export.log_prob_eta(_images(2), tf.constant(eta))


@pytest.mark.parametrize("b_x, b_eta", [(1, 4), (4, 1), (4, 2), (0, 3)])
def test_log_prob_eta_refuses_different_batches_naming_the_inputs(small_export, b_x, b_eta):
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=r"log_prob_eta: x_hat \[B, H, W, C\] and eta \[B, D\] must have the "
                           r"same batch B"):
    small_export.log_prob_eta(_images(b_x), tf.zeros([b_eta, D]))


@settings(max_examples=examples(40), derandomize=True, deadline=None)
@given(b=st.integers(0, 4), b_eta=st.integers(0, 4), n=st.integers(-1, 3),
       value=st.sampled_from([0.0, 0.5, -1.0, np.nan, np.inf]),
       dtype=st.sampled_from([tf.float32, tf.float64, tf.int32]),
       shape=st.sampled_from([SMALL_SHAPE, (8, 9, 1), (8, 8, 3), (8, 8)]))
def test_any_input_gives_the_right_shapes_or_one_invalid_argument_error(
    small_export, b, b_eta, n, value, dtype, shape):
  x = np.full((b, *shape), value, np.float64) if b else np.zeros((0, *shape))
  x = tf.cast(tf.constant(x), dtype) if dtype != tf.int32 or np.isfinite(value) else None
  if x is None:
    return
  valid_x = dtype == tf.float32 and tuple(shape) == SMALL_SHAPE and (b == 0 or np.isfinite(value))
  seed = tf.constant([0, 1], tf.int32)
  calls = {
      "prototype": (lambda: small_export.prototype(x), valid_x),
      "resample": (lambda: small_export.resample(x, tf.constant(n), seed), valid_x and n >= 1),
      "log_prob_eta": (lambda: small_export.log_prob_eta(x, tf.zeros([b_eta, D])),
                       valid_x and b == b_eta),
  }
  for name, (call, valid) in calls.items():
    try:
      out = call()
    except (tf.errors.InvalidArgumentError, ValueError, TypeError) as e:
      assert not valid, (name, b, b_eta, n, value, dtype, shape, str(e)[:300])
      continue
    assert valid, (name, b, b_eta, n, value, dtype, shape)
    for key, tensor in out.items():
      assert np.all(np.isfinite(tensor.numpy())), (name, key)
    if name == "prototype":
      assert out["x_hat"].shape == (b, *SMALL_SHAPE) and out["eta"].shape == (b, D)
    elif name == "resample":
      assert out["images"].shape == (n, b, *SMALL_SHAPE) and out["eta"].shape == (n, b, D)
    else:
      assert out["log_prob"].shape == (b,)
