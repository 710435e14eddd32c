"""The configuration every library entry point takes: one frozen dataclass, built from flags.

Field names are the trainer's flag names (`--batch_size` ↔ `Config.batch_size`), so a `Config`
written out as a flagfile (`to_flagfile`) reproduces a run. Defaults are the paper's MNIST settings
(SPEC §10, HEAD base configs `inf_mnist` / `gen_mnist`). The library never reads absl flags.
"""

import dataclasses
import math
import os
from typing import Optional

from inv_tf import transforms

SGM_STAGES = ("sgm", "inference", "generative")
# The VAE family (SPEC §8): a plain VAE, the AugVAE (trained on SGM resamples), the InvVAE (VAE
# over prototypes + p(η|x̂)) and the VAE with standard augmentation.
VAE_STAGES = ("vae", "augvae", "invvae", "vae_aug")
STAGES = SGM_STAGES + VAE_STAGES
# Stages that need a trained SGM (--sgm_dir).
SGM_USING_STAGES = ("augvae", "invvae")
# `--distribution_strategy` values (`auto`: mirrored when several GPUs are visible, else
# one_device); see `inv_tf.training.distribute`.
STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker_mirrored", "tpu")
# How q(η|x) outputs the rotation (`inv_tf.models.inference`): "linear" (the paper: one
# unbounded output, b·μ), "circular" (θ = atan2 of two outputs, continuous round the circle) or
# "flip_equivariant" (circular, and exactly θ(R_π x) = θ(x) + π for the input's half turn).
ROTATION_HEADS = ("linear", "circular", "flip_equivariant")
# What the InvVAE trains on (inv_tf.training.vae_train): "pixel" (the pixel-space bound on log p(x)
# of inv_tf.models.inv_vae) or "reference" (the reference's VAE ELBO on prototypes, SPEC §8.3).
INVVAE_OBJECTIVES = ("pixel", "reference")
# List-valued fields holding integers (the other list fields hold floats).
INT_LIST_FIELDS = ("inference_hidden_dims", "generative_hidden_dims", "conditioner_hidden_dims",
                   "vae_conv_dims", "vae_dense_dims")

# Default augmentation half-widths b and centres o per family (SPEC §4.2, MNIST / Galaxy rows).
DEFAULT_BOUNDS = {
    "affine": (0.25, 0.25, math.pi, 0.25, 0.25, 0.25),
    "affine_no_shear": (0.25, 0.25, math.pi, 0.25, 0.25),
    "rotation": (math.pi,),
    "hsv": (0.5, 2.31, 0.51),
    "affine_no_shear_hsv": (0.25, 0.25, math.pi, 0.25, 0.25, 0.5, 2.31, 0.51),
}
DEFAULT_OFFSET = {
    "hsv": (0.5, 0.0, 0.0),
    "affine_no_shear_hsv": (0.0,) * 5 + (0.5, 0.0, 0.0),
}


def run_dir(path: str) -> str:
  """A run's model directory given it or its `export/` subdirectory (absolute, normalised)."""
  path = os.path.normpath(os.path.abspath(path))
  if os.path.basename(path) == "export" and not os.path.exists(os.path.join(path, "run.json")):
    return os.path.dirname(path)
  return path


class ConfigError(ValueError):
  """A configuration value is invalid; the message is one line naming the field."""


@dataclasses.dataclass(frozen=True)
class Config:
  """All hyperparameters of an SGM run. Each field is a flag; trainers/flags.py has its help text."""
  # What to run.
  stage: str = "sgm"
  seed: int = 0
  # Data.
  dataset: str = "mnist"
  data_dir: str = ""
  rotation_deg: float = 0.0
  num_train: int = 0  # 0 = all available.
  batch_size: int = 512
  eval_batch_size: int = 512
  # Transformations.
  family: str = "affine_no_shear"
  bounds: tuple = ()  # () = DEFAULT_BOUNDS[family].
  offset: tuple = ()  # () = DEFAULT_OFFSET.get(family, zeros).
  interpolation_order: int = 3
  squash_to_bounds: bool = False
  # Stage 1: q(η|x).
  inference_steps: int = 60000
  inference_lr: float = 3e-4
  inference_init_lr_mult: float = 1e-2
  inference_final_lr_mult: float = 1e-4
  inference_warmup_pct: float = 0.1
  inference_clip_norm: float = 2.0
  inference_weight_decay: float = 1e-4
  inference_hidden_dims: tuple = (2048, 1024, 512, 256)
  rotation_head: str = "linear"  # see ROTATION_HEADS
  init_sigma: float = 0.01
  sigma_lr: float = 3e-3
  blur_sigma_init: float = 3.0
  blur_filter_size: int = 5
  blur_end_pct: float = 0.01
  n_samples: int = 5
  x_mse_mult: float = 1.0
  inv_mult: float = 0.1
  anchor_mult: float = 0.0  # stage-1 rotation anchor (not in the paper; inv_tf.training.losses)
  align_mult: float = 0.0  # stage-1 prototype alignment (not in the paper; inv_tf.training.losses)
  symmetrized_loss: bool = True
  augment_warmup_pct: float = 0.0
  # Stage 2: p(η|x̂).
  generative_steps: int = 15000
  generative_lr: float = 3e-3
  generative_init_lr_mult: float = 0.1
  generative_final_lr_mult: float = 0.03
  generative_warmup_pct: float = 0.2
  generative_clip_norm: float = 2.0
  generative_weight_decay: float = 1e-4
  generative_hidden_dims: tuple = (1024, 512, 256)
  generative_dropout: float = 0.2
  num_flows: int = 6
  num_bins: int = 6
  conditioner_hidden_dims: tuple = (256,)
  generative_n_samples: int = 5
  consistency_mult: float = 1.0
  bounds_mult: float = 1.0
  # VAE family (SPEC §8.1, §8.5; `vae_mnist` base config).
  sgm_dir: str = ""  # augvae / invvae: the model_dir of a trained SGM run.
  vae_steps: int = 10000
  vae_lr: float = 6e-3
  vae_init_lr_mult: float = 0.03
  vae_final_lr_mult: float = 1e-4
  vae_warmup_pct: float = 0.1
  vae_clip_norm: float = 2.0
  vae_weight_decay: float = 1e-4
  invvae_objective: str = "pixel"  # see INVVAE_OBJECTIVES
  vae_keep_best: bool = True  # score / export the best-by-validation-ELBO weights
  vae_patience: int = 0  # evaluations without improvement before stopping (0 = never)
  latent_dim: int = 16
  vae_conv_dims: tuple = (64, 128, 256)
  vae_dense_dims: tuple = (256,)
  max_2strides: int = 2
  iwlb_num_samples: int = 300
  test_batch_size: int = 50
  num_test: int = 0  # 0 = the whole test split.
  # Bookkeeping.
  log_every: int = 50
  eval_every: int = 0  # 0 = every 1 % of a stage's steps (at least every 10 steps).
  num_eval_batches: int = 4
  checkpoint_every: int = 500
  max_checkpoints: int = 3
  export: bool = True
  # Devices and numerics (not part of the architecture: checkpoints move between them).
  distribution_strategy: str = "auto"
  num_cpu_devices: int = 0  # > 0: split the host CPU into this many logical devices (replicas).
  tpu: str = ""  # --distribution_strategy=tpu: the TPU name or address ("" = local / from env).
  mixed_precision: bool = False  # bfloat16 matmuls/convolutions; float32 flow, warps, losses.

  # -----------------------------------------------------------------------------------------
  @property
  def resolved_bounds(self) -> tuple:
    """b: D floats > 0 (the family default when `bounds` is empty)."""
    values = self.bounds or DEFAULT_BOUNDS[self.family]
    return transforms.parse_per_parameter(values, self.family, "bounds")

  @property
  def resolved_offset(self) -> tuple:
    """o: D floats (the family default, usually zeros, when `offset` is empty)."""
    fam = transforms.get_family(self.family)
    values = self.offset or DEFAULT_OFFSET.get(self.family, (0.0,) * fam.dim)
    return transforms.parse_per_parameter(values, self.family, "offset")

  @property
  def event_dim(self) -> int:
    return transforms.get_family(self.family).dim

  def eval_interval(self, steps: int) -> int:
    return self.eval_every or max(10, steps // 100)

  def validate(self) -> "Config":
    """Checks every field; raises `ConfigError` (one line naming the field) or returns self."""
    def fail(field, message):
      raise ConfigError(f"--{field}: {message}")

    if self.stage not in STAGES:
      fail("stage", f"unknown stage {self.stage!r}; valid: {', '.join(STAGES)}")
    for name in ("anchor_mult", "align_mult"):
      if (getattr(self, name) > 0
          and "rotation" not in transforms.FAMILIES.get(self.family, ("rotation",))):
        fail(name, f"needs a family with a rotation, got {self.family!r}")
    if self.invvae_objective not in INVVAE_OBJECTIVES:
      fail("invvae_objective", f"unknown objective {self.invvae_objective!r}; valid: "
           f"{', '.join(INVVAE_OBJECTIVES)}")
    if self.rotation_head not in ROTATION_HEADS:
      fail("rotation_head", f"unknown head {self.rotation_head!r}; valid: "
           f"{', '.join(ROTATION_HEADS)}")
    if self.rotation_head != "linear" and "rotation" not in transforms.FAMILIES.get(
        self.family, ("rotation",)):
      fail("rotation_head", f"circular needs a family with a rotation, got {self.family!r}")
    if self.distribution_strategy not in STRATEGIES:
      fail("distribution_strategy", f"unknown strategy {self.distribution_strategy!r}; valid: "
           f"{', '.join(STRATEGIES)}")
    if self.family not in transforms.FAMILIES:
      fail("family", f"unknown family {self.family!r}; valid: {', '.join(transforms.FAMILIES)}")
    try:
      bounds, _ = self.resolved_bounds, self.resolved_offset
    except ValueError as e:
      raise ConfigError(f"--{e}") from None
    if any(b <= 0 for b in bounds):
      fail("bounds", f"every bound must be > 0, got {list(bounds)}")
    if self.interpolation_order not in (1, 3):
      fail("interpolation_order", f"must be 1 or 3, got {self.interpolation_order}")
    for name in ("batch_size", "eval_batch_size", "n_samples", "generative_n_samples", "num_flows",
                 "num_bins", "blur_filter_size", "log_every", "checkpoint_every",
                 "max_checkpoints", "num_eval_batches", "latent_dim", "iwlb_num_samples",
                 "test_batch_size"):
      if getattr(self, name) < 1:
        fail(name, f"must be >= 1, got {getattr(self, name)}")
    for name in ("inference_steps", "generative_steps", "vae_steps", "num_train", "eval_every",
                 "num_test", "max_2strides", "num_cpu_devices", "vae_patience"):
      if getattr(self, name) < 0:
        fail(name, f"must be >= 0, got {getattr(self, name)}")
    if self.stage in ("sgm", "inference") and self.inference_steps < 1:
      fail("inference_steps", f"must be >= 1 for --stage={self.stage}")
    if self.stage in ("sgm", "generative") and self.generative_steps < 1:
      fail("generative_steps", f"must be >= 1 for --stage={self.stage}")
    if self.stage in VAE_STAGES and self.vae_steps < 1:
      fail("vae_steps", f"must be >= 1 for --stage={self.stage}")
    if self.stage in SGM_USING_STAGES and not self.sgm_dir:
      fail("sgm_dir", f"--stage={self.stage} needs the model_dir of a trained SGM run")
    if self.stage not in SGM_USING_STAGES and self.sgm_dir:
      fail("sgm_dir", f"only --stage={' or '.join(SGM_USING_STAGES)} use an SGM; "
           f"--stage={self.stage} does not")
    if self.blur_filter_size % 2 != 1:
      fail("blur_filter_size", f"must be odd, got {self.blur_filter_size}")
    for name in ("inference_lr", "sigma_lr", "init_sigma", "generative_lr", "inference_clip_norm",
                 "generative_clip_norm", "bounds_mult", "vae_lr", "vae_clip_norm",
                 "vae_init_lr_mult", "vae_final_lr_mult"):
      if not getattr(self, name) > 0:
        fail(name, f"must be > 0, got {getattr(self, name)}")
    for name in ("inference_warmup_pct", "generative_warmup_pct", "blur_end_pct",
                 "augment_warmup_pct", "generative_dropout", "vae_warmup_pct"):
      if not 0 <= getattr(self, name) <= 1:
        fail(name, f"must be in [0, 1], got {getattr(self, name)}")
    for name in ("inference_weight_decay", "generative_weight_decay", "blur_sigma_init",
                 "x_mse_mult", "inv_mult", "anchor_mult", "align_mult", "consistency_mult",
                 "rotation_deg", "vae_weight_decay"):
      if getattr(self, name) < 0:
        fail(name, f"must be >= 0, got {getattr(self, name)}")
    for name in ("inference_hidden_dims", "generative_hidden_dims", "conditioner_hidden_dims",
                 "vae_conv_dims", "vae_dense_dims"):
      dims = getattr(self, name)
      if not dims or any(int(d) < 1 for d in dims):
        fail(name, f"must be a non-empty list of positive widths, got {list(dims)}")
    return self

  def replace(self, **changes) -> "Config":
    return dataclasses.replace(self, **changes)

  def to_flagfile(self) -> str:
    """The flagfile text (one `--name=value` per line) that reproduces this config."""
    lines = []
    for field in dataclasses.fields(self):
      value = getattr(self, field.name)
      if isinstance(value, bool):
        lines.append(f"--{field.name}={'true' if value else 'false'}")
      elif isinstance(value, tuple):
        lines.append(f"--{field.name}={','.join(repr(v) if isinstance(v, float) else str(v) for v in value)}")
      elif isinstance(value, float):
        lines.append(f"--{field.name}={value!r}")
      else:
        lines.append(f"--{field.name}={value}")
    return "\n".join(lines) + "\n"

  def architecture(self) -> dict:
    """The fields that fix variable shapes: a checkpoint of another architecture is refused."""
    if self.stage in VAE_STAGES:
      arch = {"model": self.stage, "latent_dim": self.latent_dim,
              "vae_conv_dims": list(self.vae_conv_dims),
              "vae_dense_dims": list(self.vae_dense_dims), "max_2strides": self.max_2strides}
      if self.stage in SGM_USING_STAGES:
        arch["sgm_dir"] = run_dir(self.sgm_dir)
      return arch
    keys = ("family", "inference_hidden_dims", "generative_hidden_dims", "num_flows", "num_bins",
            "conditioner_hidden_dims", "squash_to_bounds")
    arch = {k: getattr(self, k) for k in keys}
    if self.rotation_head != "linear":  # absent in runs made before the circular head existed
      arch["rotation_head"] = self.rotation_head
    arch["bounds"] = self.resolved_bounds
    arch["offset"] = self.resolved_offset
    return {k: list(v) if isinstance(v, tuple) else v for k, v in arch.items()}


def from_dict(values: dict, base: Optional[Config] = None) -> Config:
  """A Config from a {field: value} dict (unknown keys raise ConfigError)."""
  base = base or Config()
  names = {f.name for f in dataclasses.fields(Config)}
  unknown = sorted(set(values) - names)
  if unknown:
    raise ConfigError(f"unknown config field(s): {', '.join(unknown)}")
  return dataclasses.replace(base, **values)


def _parse_value(name: str, text: str, default):
  if isinstance(default, bool):
    if text.lower() not in ("true", "false", "1", "0"):
      raise ConfigError(f"--{name}: expected true or false, got {text!r}")
    return text.lower() in ("true", "1")
  if isinstance(default, tuple):
    cast = int if name in INT_LIST_FIELDS else float
    return tuple(cast(v) for v in text.split(",") if v.strip())
  if isinstance(default, int):
    return int(text)
  if isinstance(default, float):
    return float(text)
  return text


def from_flagfile(text: str) -> Config:
  """Parses the text `Config.to_flagfile` wrote (lines `--name=value`; '#' comments ignored)."""
  defaults = Config()
  values = {}
  for line in text.splitlines():
    line = line.strip()
    if not line or line.startswith("#"):
      continue
    if not line.startswith("--") or "=" not in line:
      raise ConfigError(f"flagfile: cannot parse line {line!r}")
    name, value = line[2:].split("=", 1)
    if not hasattr(defaults, name):
      raise ConfigError(f"flagfile: unknown flag --{name}")
    try:
      values[name] = _parse_value(name, value, getattr(defaults, name))
    except ValueError:
      raise ConfigError(f"--{name}: cannot parse value {value!r}") from None
  return from_dict(values)
