"""SavedModel exports with named signatures (the only code that knows them).

## SGM (`export_sgm`)

Signatures (all tensors float32 unless stated; B is dynamic, H, W, C and D are fixed by the model):

| name            | inputs                                        | outputs                                   |
|-----------------|-----------------------------------------------|-------------------------------------------|
| prototype       | x [B, H, W, C] in [-1, 1]                      | x_hat [B, H, W, C], eta [B, D]            |
| sample_eta      | x_hat [B, H, W, C], n int32 [], seed int32 [2] | eta [n, B, D]                             |
| log_prob_eta    | x_hat [B, H, W, C], eta [B, D]                 | log_prob [B]                              |
| resample        | x [B, H, W, C], n int32 [], seed int32 [2]     | images [n, B, H, W, C], eta [n, B, D]     |
| serving_default | = prototype                                   |                                           |

Every input is checked: a wrong shape or dtype, NaN or infinite pixels or η, and (for
`log_prob_eta`) `x_hat` and `eta` of different batch sizes raise `InvalidArgumentError` naming the
input; nothing is broadcast or replaced.

## VAE family (`export_vae`: VAE, AugVAE, VAE with standard augmentation, InvVAE)

| name            | inputs                                        | outputs                                   |
|-----------------|-----------------------------------------------|-------------------------------------------|
| sample          | n int32 [], seed int32 [2]                     | images [n, H, W, C] (decoder means)       |
| iwlb            | x [B, H, W, C] in [-1, 1], seed int32 [2]      | iwlb [B] nats/image (K fixed at export)   |
| reconstruct     | x [B, H, W, C]                                 | images [B, H, W, C]                       |
| serving_default | = reconstruct                                 |                                           |

For the InvVAE, `sample` draws prototypes from the VAE and transforms them with η ~ p(η|x̂), `iwlb`
is the pixel-space bound of `inv_tf.models.inv_vae`, and the SGM's variables are in the export.

Every export is self-contained: `tf.saved_model.load(path)` works in a process that never imports
inv_tf. It is written to a temporary sibling directory and renamed into place, so an interrupted
export never leaves a half-written directory at `path`.
"""

import glob
import os
import shutil
import uuid

import tensorflow as tf

SIGNATURES = ("prototype", "sample_eta", "log_prob_eta", "resample")
VAE_SIGNATURES = ("sample", "iwlb", "reconstruct")


def _signature(fn, *specs):
  """`fn` as a graph function with the input signature `specs` (traced without AutoGraph: the
  models write their control flow with TensorFlow ops)."""
  return tf.function(fn, autograph=False, input_signature=list(specs))


class SGMExportModule(tf.Module):
  """tf.Module wrapping an `inv_tf.models.SGM` with the signatures above."""

  def __init__(self, sgm):
    super().__init__(name="sgm_export")
    # Track the variables, not the Keras model: saving a Keras model would also trace its
    # default `call` signature, and p(η|x̂)'s call returns a distribution, not tensors.
    self.model_variables = list(sgm.variables)
    self.image_shape = tf.constant(sgm.image_shape, tf.int32)
    self.family = tf.constant(sgm.config.family)
    h, w, c = sgm.image_shape
    d = sgm.config.event_dim
    image = tf.TensorSpec([None, h, w, c], tf.float32)
    scalar_n = tf.TensorSpec([], tf.int32)
    seed = tf.TensorSpec([2], tf.int32)

    # Loaded signatures do not enforce static shapes at call time; check them in the graph so a
    # wrongly shaped input fails instead of being silently reshaped. A NaN or infinite input is
    # refused too: the warps would map it to background and q / p to finite η, a plausible
    # output that hides the bad input.
    def image_in(x, name):
      x = tf.ensure_shape(x, [None, h, w, c])
      return tf.debugging.assert_all_finite(x, f"{name}: contains NaN or infinite pixels")

    def eta_in(eta, x_hat):
      eta = tf.ensure_shape(eta, [None, d])
      same = tf.debugging.assert_equal(
          tf.shape(eta)[0], tf.shape(x_hat)[0],
          message="log_prob_eta: x_hat [B, H, W, C] and eta [B, D] must have the same batch B")
      with tf.control_dependencies([same]):
        return tf.debugging.assert_all_finite(eta, "eta: contains NaN or infinite values")

    def prototype(x):
      return sgm.prototype(image_in(x, "x"))

    def sample_eta(x_hat, n, seed):
      tf.debugging.assert_positive(n, message="n must be >= 1")
      return {"eta": sgm.sample_eta(image_in(x_hat, "x_hat"), n, seed)}

    def log_prob_eta(x_hat, eta):
      x_hat = image_in(x_hat, "x_hat")
      return {"log_prob": sgm.log_prob_eta(x_hat, eta_in(eta, x_hat))}

    def resample(x, n, seed):
      tf.debugging.assert_positive(n, message="n must be >= 1")
      images, eta = sgm.resample(image_in(x, "x"), n, seed)
      return {"images": images, "eta": eta}

    self.prototype = _signature(prototype, image)
    self.sample_eta = _signature(sample_eta, image, scalar_n, seed)
    self.log_prob_eta = _signature(log_prob_eta, image, tf.TensorSpec([None, d], tf.float32))
    self.resample = _signature(resample, image, scalar_n, seed)

  def signatures(self):
    return {"serving_default": self.prototype, "prototype": self.prototype,
            "sample_eta": self.sample_eta, "log_prob_eta": self.log_prob_eta,
            "resample": self.resample}


class VAEExportModule(tf.Module):
  """tf.Module wrapping a `VAE` or `InvVAE` with the VAE-family signatures above."""

  def __init__(self, model, num_samples: int):
    super().__init__(name="vae_export")
    self.model_variables = list(model.variables)
    self.num_samples = tf.constant(int(num_samples), tf.int32)
    h, w, c = model.image_shape
    image = tf.TensorSpec([None, h, w, c], tf.float32)

    def image_in(x):
      return tf.ensure_shape(x, [None, h, w, c])

    def sample(n, seed):
      tf.debugging.assert_positive(n, message="n must be >= 1")
      return {"images": model.sample(n, seed)}

    def iwlb(x, seed):
      return {"iwlb": model.iwlb(image_in(x), int(num_samples), seed)}

    def reconstruct(x):
      return {"images": model.reconstruct(image_in(x))}

    self.sample = _signature(sample, tf.TensorSpec([], tf.int32), tf.TensorSpec([2], tf.int32))
    self.iwlb = _signature(iwlb, image, tf.TensorSpec([2], tf.int32))
    self.reconstruct = _signature(reconstruct, image)

  def signatures(self):
    return {"serving_default": self.reconstruct, "sample": self.sample, "iwlb": self.iwlb,
            "reconstruct": self.reconstruct}


def _save_atomic(module, path: str) -> str:
  """tf.saved_model.save(module) to a temporary sibling, then renamed to `path`."""
  path = os.path.abspath(path)
  parent = os.path.dirname(path)
  os.makedirs(parent, exist_ok=True)
  # Leftovers of exports killed half-way (never loaded as the export) are removed first.
  for stale in glob.glob(os.path.join(parent, f".{os.path.basename(path)}.tmp-*")) + glob.glob(
      os.path.join(parent, f".{os.path.basename(path)}.old-*")):
    shutil.rmtree(stale, ignore_errors=True)
  tmp = os.path.join(parent, f".{os.path.basename(path)}.tmp-{uuid.uuid4().hex[:8]}")
  try:
    tf.saved_model.save(module, tmp, signatures=module.signatures())
    if os.path.exists(path):
      old = os.path.join(parent, f".{os.path.basename(path)}.old-{uuid.uuid4().hex[:8]}")
      os.replace(path, old)
      os.replace(tmp, path)
      shutil.rmtree(old, ignore_errors=True)
    else:
      os.replace(tmp, path)
  finally:
    shutil.rmtree(tmp, ignore_errors=True)
  return path


def export_sgm(sgm, path: str) -> str:
  """Writes `sgm` as a SavedModel at `path` atomically (temp dir + rename).

  Args:
    sgm: a built `inv_tf.models.SGM`.
    path: the target directory (replaced if it exists).

  Returns:
    The absolute path.
  """
  return _save_atomic(SGMExportModule(sgm), path)


def export_vae(model, path: str, num_samples: int) -> str:
  """Writes a `VAE` / `InvVAE` as a SavedModel at `path` atomically.

  Args:
    model: the trained model.
    path: the target directory (replaced if it exists).
    num_samples: K of the `iwlb` signature.

  Returns:
    The absolute path.
  """
  return _save_atomic(VAEExportModule(model, num_samples), path)
