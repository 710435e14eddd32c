"""inv_tf: the Symmetry-aware Generative Model (SGM) in TensorFlow / Keras 3 + TFP.

Subpackages: `transforms` (η → warps), `models` (q(η|x), p(η|x̂), the SGM, the VAE family), `data`,
`training`, `evaluation`, `export`, `experiments`, `runs` (a run directory read back and
evaluated); `inv_tf.keras` has the augmentation layer. Layering: docs/architecture.md.
"""

__version__ = "0.2.0.dev0"

import os as _os

# Where the shipped flagfiles are: inside the installed package (setup.py maps flags/ there), or
# the repository's flags/ beside this package in a source checkout / editable install.
_FLAGFILE_DIRS = (_os.path.join(_os.path.dirname(__file__), "flagfiles"),
                  _os.path.join(_os.path.dirname(_os.path.dirname(__file__)), "flags"))


def flagfile_path(name: str) -> str:
  """The path of a shipped flagfile, e.g. `flagfile_path("quickstart")` → …/quickstart.cfg.

  Works from an installed wheel and from a source checkout, so `--flagfile=` can name a shipped
  configuration from any directory (the trainers also accept `--flagfile=quickstart` directly).

  Args:
    name: the file's stem, with or without ".cfg" (the names of the repository's flags/ dir).

  Raises:
    FileNotFoundError: no shipped flagfile has that name (the message lists them).
  """
  stem = name[:-len(".cfg")] if name.endswith(".cfg") else name
  for folder in _FLAGFILE_DIRS:
    path = _os.path.join(folder, stem + ".cfg")
    if _os.sep not in stem and _os.path.isfile(path):
      return path
  shipped = sorted({f[:-4] for d in _FLAGFILE_DIRS if _os.path.isdir(d)
                    for f in _os.listdir(d) if f.endswith(".cfg")})
  raise FileNotFoundError(f"no shipped flagfile {name!r}; shipped: {', '.join(shipped)}")


def load(model_dir: str, checkpoint: str | None = None):
  """The trained model of a run directory, in one call: an `SGM`, or the VAE-family model.

  Args:
    model_dir: a run's --model_dir (or its export/ subdirectory for an SGM run).
    checkpoint: a checkpoint path (e.g. MODEL_DIR/checkpoints/ckpt-3000); default the latest.

  Returns:
    `inv_tf.models.SGM` for --model=sgm; the `VAE` for vae/augvae/vae_standard_aug;
    the `InvVAE` (VAE + its frozen SGM) for invvae. Images are float32 `[B, H, W, C]` in [-1, 1],
    e.g. `load(d).prototype(x)` → {"x_hat": `[B, H, W, C]`, "eta": `[B, D]`}.

  Raises:
    ConfigError: `model_dir` holds no training run, or no checkpoint (one line).
  """
  # Imported here, not at the top: `import inv_tf` (e.g. for `flagfile_path`) stays light, with
  # no TensorFlow until a model is loaded. No module of the package uses this facade.
  from inv_tf import config as config_lib
  from inv_tf import runs
  return runs.load_model(config_lib.run_dir(model_dir), checkpoint)[0]
