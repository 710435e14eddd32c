"""The configuration every library entry point takes: one frozen dataclass, built from flags.

Field names are the trainer's flag names (`--batch_size` ↔ `Config.batch_size`), so a `Config`
written out as a flagfile (`to_flagfile`) reproduces a run; `to_json` / `from_json` store it as
data (a run's config.json). Defaults are the paper's MNIST settings
(docs/design.md §10). The library never reads absl flags.

Each field describes itself: its metadata holds the flag's help text and its domain (the values it
accepts, e.g. `Interval(0, low_open=True)` for a learning rate). `Config.validate` checks every
field against its domain and `trainers/flags.py` defines every flag from the same metadata, so a
new hyperparameter is one new field.
"""

import dataclasses
import json
import math
import numbers
import os
from typing import Optional

from inv_tf import families

# `--model`, what to train: the SGM or one of the VAE family (docs/design.md §8): a plain VAE, the
# AugVAE (trained on SGM resamples), the InvVAE (VAE over prototypes + p(η|x̂)) and the VAE with
# standard augmentation.
VAE_MODELS = ("vae", "augvae", "invvae", "vae_standard_aug")
MODELS = ("sgm",) + VAE_MODELS
# `--stage`, the SGM's phases: all (stage 1, q, then stage 2, p), or one of them.
SGM_STAGES = ("all", "inference", "generative")
# Models that need a trained SGM (--sgm_dir).
SGM_USING_MODELS = ("augvae", "invvae")
# `--distribution_strategy` values (`auto`: mirrored when several GPUs are visible, else
# one_device); see `inv_tf.training.distribute`.
STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker_mirrored", "tpu")
# How q(η|x) outputs the rotation (`inv_tf.models.inference`): "linear" (the paper: one
# unbounded output, b·μ), "circular" (θ = atan2 of two outputs, continuous round the circle) or
# "flip_equivariant" (circular, and exactly θ(R_π x) = θ(x) + π for the input's half turn) or
# "quarter_turn_equivariant" (likewise for quarter turns, θ(R_{π/2} x) = θ(x) + π/2; square images)
# or "axis_equivariant" (the ink's principal axis plus a flip head on the axis-aligned view:
# exact for every turn of elongated ink).
ROTATION_HEADS = ("linear", "circular", "flip_equivariant", "quarter_turn_equivariant",
                  "axis_equivariant")
TRANSLATION_HEADS = ("linear", "centroid")
# What the InvVAE trains on (inv_tf.training.vae_train): "pixel" (the pixel-space bound on log p(x)
# of inv_tf.models.inv_vae) or "reference" (the reference's VAE ELBO on prototypes, docs/design.md §8).
INVVAE_OBJECTIVES = ("pixel", "reference")
# The smallest spline bin width of p's flow (`inv_tf.models.flow.DEFAULT_MIN_BIN_SIZE`): the
# `num_bins` bins must fit in the spline range [-B, B].
SPLINE_MIN_BIN_SIZE = 1e-4

# Default augmentation half-widths b and centres o per family (docs/design.md §4, MNIST / Galaxy rows).
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


# ---------------------------------------------------------------------------------------------
# Domains: the values a field accepts. Each field of `Config` names its domain in its metadata;
# `Config.validate` checks every field against it and `trainers/flags.py` defines the flag's type
# from it.


def _number_text(value) -> str:
  if value == 2 ** 32:
    return "2**32"
  return f"{value:g}" if isinstance(value, float) else str(value)


@dataclasses.dataclass(frozen=True)
class Interval:
  """Finite numbers between `low` and `high` (open ends: `low_open`, `high_open`).

  `integer`: Python integers only (bool excluded); otherwise any finite real number.
  """
  low: float = -math.inf
  high: float = math.inf
  low_open: bool = False
  high_open: bool = False
  integer: bool = False

  def __str__(self) -> str:
    kind = "an integer" if self.integer else "a finite number"
    has_low, has_high = math.isfinite(self.low), math.isfinite(self.high)
    if has_low and has_high:
      return (f"{kind} in {'(' if self.low_open else '['}{_number_text(self.low)}, "
              f"{_number_text(self.high)}{')' if self.high_open else ']'}")
    if has_low:
      return f"{kind} {'>' if self.low_open else '>='} {_number_text(self.low)}"
    if has_high:
      return f"{kind} {'<' if self.high_open else '<='} {_number_text(self.high)}"
    return kind

  def contains(self, value) -> bool:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
      return False
    if self.integer and not isinstance(value, numbers.Integral):
      return False
    if not math.isfinite(value):
      return False
    above = value > self.low if self.low_open else value >= self.low
    below = value < self.high if self.high_open else value <= self.high
    return above and below

  def error(self, value):
    """None if `value` is in the domain, else the message (without the field's name)."""
    return None if self.contains(value) else f"must be {self}, got {value!r}"


@dataclasses.dataclass(frozen=True)
class Choice:
  """One of `values`; `noun` names a value in the error ("unknown family 'x'; valid: …")."""
  values: tuple
  noun: str = ""

  def __str__(self) -> str:
    return "one of " + ", ".join(map(str, self.values))

  def error(self, value):
    if isinstance(value, bool) or value not in self.values:
      if self.noun:
        return f"unknown {self.noun} {value!r}; valid: {', '.join(map(str, self.values))}"
      return f"must be {self}, got {value!r}"
    return None


@dataclasses.dataclass(frozen=True)
class Sequence:
  """A list (tuple) of values, each in `item`; `nonempty`: at least one."""
  item: Interval
  nonempty: bool = False
  empty_means: str = ""  # what an empty list stands for, shown in the help and the error

  def __str__(self) -> str:
    text = f"a {'non-empty ' if self.nonempty else ''}comma-separated list, each {self.item}"
    return text + (f" (empty: {self.empty_means})" if self.empty_means else "")

  def error(self, value):
    if (not isinstance(value, (tuple, list)) or (self.nonempty and not value)
        or not all(self.item.contains(v) for v in value)):
      shown = list(value) if isinstance(value, (tuple, list)) else value
      return f"must be {self}, got {shown!r}"
    return None


@dataclasses.dataclass(frozen=True)
class Flag:
  """True or false."""

  def __str__(self) -> str:
    return "true or false"

  def error(self, value):
    return None if isinstance(value, bool) else f"must be {self}, got {value!r}"


@dataclasses.dataclass(frozen=True)
class Text:
  """Any string (what it names is checked where it is used: a path, a dataset, a TPU)."""

  def __str__(self) -> str:
    return "a string"

  def error(self, value):
    return None if isinstance(value, str) else f"must be {self}, got {value!r}"


POSITIVE = Interval(0.0, low_open=True)            # learning rates, multipliers of them, norms
NON_NEGATIVE = Interval(0.0)                       # loss weights, weight decays
FRACTION = Interval(0.0, 1.0)                      # fractions of a stage's steps
COUNT = Interval(1, integer=True)                  # sizes and counts that must be ≥ 1
OPTIONAL_COUNT = Interval(0, integer=True)         # counts where 0 means "all" / "off"
WIDTHS = Sequence(Interval(1, integer=True), nonempty=True)


def _field(default, help_text: str, domain):
  """A `Config` field: its default, its `--help` text and its domain (see above)."""
  return dataclasses.field(default=default, metadata={"help": help_text, "domain": domain})


@dataclasses.dataclass(frozen=True)
class Config:
  """All hyperparameters of a run. Each field is the flag of the same name; its metadata holds
  the flag's help text (`metadata["help"]`) and the values it accepts (`metadata["domain"]`), so
  a new hyperparameter is one new field here."""
  # What to run.
  model: str = _field(
      "sgm", f"What to train: {', '.join(MODELS)} (sgm: the Symmetry-aware Generative Model; "
      "augvae and invvae also need --sgm_dir).", Choice(MODELS, "model"))
  stage: str = _field(
      "all", "--model=sgm: which stages to train: all (stage 1, q(η|x), then stage 2, p(η|x̂)), "
      "inference (stage 1) or generative (stage 2 of a run whose stage 1 is trained).",
      Choice(SGM_STAGES, "stage"))
  seed: int = _field(0, "Random seed (data order, augmentations, initialisation).",
                     Interval(0, 2 ** 32, high_open=True, integer=True))
  # Data.
  dataset: str = _field(
      "mnist", "Dataset name (see docs/datasets.md), e.g. mnist, aug_dsprites, npz:PATH, "
      "folder:PATH.", Text())
  data_dir: str = _field(
      "", "TFDS data directory (default ~/tensorflow_datasets). With a prepared TFDS mnist "
      "there, --dataset=mnist uses the full 70k digits.", Text())
  rotation_deg: float = _field(
      0.0, "Rotated MNIST: each example gets one fixed rotation from U(-A, A) degrees.",
      NON_NEGATIVE)
  num_train: int = _field(
      0, "Number of training examples (0 = all); nested subsets for data efficiency.",
      OPTIONAL_COUNT)
  batch_size: int = _field(512, "Global training batch size.", COUNT)
  eval_batch_size: int = _field(512, "Validation batch size.", COUNT)
  # Transformations.
  family: str = _field(
      "affine_no_shear", "Transformation family: affine, affine_no_shear, rotation, hsv, "
      "affine_no_shear_hsv.", Choice(tuple(families.FAMILIES), "family"))
  bounds: tuple = _field(
      (), "Half-widths b of the η range, one per parameter (empty = family default).",
      Sequence(POSITIVE, empty_means="the family's default"))
  offset: tuple = _field(
      (), "Centres o of the η range, one per parameter (empty = family default).",
      Sequence(Interval(), empty_means="the family's default"))
  interpolation_order: int = _field(3, "Warp interpolation: 1 bilinear, 3 cubic B-spline.",
                                    Choice((1, 3)))
  squash_to_bounds: bool = _field(False, "Squash η into o ± b with tanh (q and p).", Flag())
  # Stage 1: q(η|x).
  inference_steps: int = _field(60000, "Stage-1 (q(η|x)) training steps.", OPTIONAL_COUNT)
  inference_lr: float = _field(3e-4, "Stage-1 peak learning rate (AdamW).", POSITIVE)
  inference_init_lr_mult: float = _field(
      1e-2, "Stage-1 warm-up start, as a multiple of the peak rate.", POSITIVE)
  inference_final_lr_mult: float = _field(
      1e-4, "Stage-1 final rate after cosine decay, as a multiple of the peak.", POSITIVE)
  inference_warmup_pct: float = _field(0.1, "Fraction of stage-1 steps spent warming up.",
                                       FRACTION)
  inference_clip_norm: float = _field(2.0, "Stage-1 global gradient-norm clip.", POSITIVE)
  inference_weight_decay: float = _field(1e-4, "Stage-1 decoupled weight decay.", NON_NEGATIVE)
  inference_hidden_dims: tuple = _field((2048, 1024, 512, 256), "q(η|x) MLP widths.", WIDTHS)
  rotation_head: str = _field(
      "linear", "How q(η|x) outputs the rotation: linear (the paper: b·μ, one output), "
      "circular (atan2 of two outputs, continuous round the whole circle), flip_equivariant "
      "(circular, and exactly equivariant to a half turn of the image) or "
      "quarter_turn_equivariant (circular, exactly equivariant to quarter turns; square images; "
      "q's trunk runs on 4 views instead of 2) or axis_equivariant (experimental: the ink's "
      "principal axis, which turns exactly with the image, plus a flip_equivariant head on the "
      "image turned to that axis; dark backgrounds; q's trunk runs on 3 views).",
      Choice(ROTATION_HEADS, "head"))
  translation_head: str = _field(
      "linear", "How q(η|x) outputs the translation: linear (the paper: from the network) or "
      "centroid (the ink centroid's, and the other outputs from the image centred on it: q's "
      "rotation cannot then follow where the object is; dark backgrounds).",
      Choice(TRANSLATION_HEADS, "head"))
  inference_zoom: float = _field(
      0.0, "With --translation_head=centroid: q's network sees the centred object zoomed in "
      "until its ink's RMS radius is at least this (normalised units, the image spans [-1, 1]), "
      "with the zoom's log as an extra input, so small objects fill more of its view; 0 = no "
      "zoom.", Interval(0.0, 1.0, high_open=True))
  rotation_axis_snap: float = _field(
      0.0, "With a circular --rotation_head (experimental): snap q's rotation to the nearer end "
      "of the ink's principal axis, which turns exactly with the image, wherever the ink's "
      "anisotropy (0 = no axis, 1 = a line) is at least this, in proportion below it; the head "
      "still picks the direction and trains as without the snap; 0 = no snap.",
      Interval(0.0, 1.0))
  init_sigma: float = _field(
      0.01, "Initial σ of q(η|x) (in units of the bounds); learned by its own optimiser.",
      POSITIVE)
  sigma_lr: float = _field(3e-3, "Base learning rate of q's σ (own Adam; peak 3×).", POSITIVE)
  blur_sigma_init: float = _field(
      3.0, "Initial Gaussian blur σ (pixels) of the stage-1 curriculum (0 = no blur).",
      NON_NEGATIVE)
  blur_filter_size: int = _field(5, "Blur filter size (odd).", COUNT)
  blur_end_pct: float = _field(
      0.01, "Fraction of stage-1 steps over which the blur decays to 0.", FRACTION)
  n_samples: int = _field(5, "Stage-1 augmented copies per image.", COUNT)
  x_mse_mult: float = _field(1.0, "Weight of the stage-1 reconstruction MSE.", NON_NEGATIVE)
  inv_mult: float = _field(0.1, "Weight of the stage-1 invertibility loss.", NON_NEGATIVE)
  anchor_mult: float = _field(
      0.0, "Weight of the stage-1 rotation anchor 1 - cos(θ_q(x_r) - θ_r): prefers prototypes "
      "in the data's own orientation (0 = off, the paper).", NON_NEGATIVE)
  align_mult: float = _field(
      0.0, "Weight of the stage-1 prototype alignment: each prototype's rotation is pulled "
      "towards the batch's mean prototype (0 = off, the paper).", NON_NEGATIVE)
  symmetrized_loss: bool = _field(
      True, "Augment both views in stage 1 (else the second view is x itself).", Flag())
  augment_warmup_pct: float = _field(
      0.0, "Fraction of stage-1 steps over which the augmentation range grows from 0 to the "
      "bounds (0 = off).", FRACTION)
  # Stage 2: p(η|x̂).
  generative_steps: int = _field(15000, "Stage-2 (p(η|x̂)) training steps.", OPTIONAL_COUNT)
  generative_lr: float = _field(3e-3, "Stage-2 peak learning rate (AdamW).", POSITIVE)
  generative_init_lr_mult: float = _field(
      0.1, "Stage-2 warm-up start, as a multiple of the peak rate.", POSITIVE)
  generative_final_lr_mult: float = _field(
      0.03, "Stage-2 final rate, as a multiple of the peak.", POSITIVE)
  generative_warmup_pct: float = _field(0.2, "Fraction of stage-2 steps spent warming up.",
                                        FRACTION)
  generative_clip_norm: float = _field(2.0, "Stage-2 global gradient-norm clip.", POSITIVE)
  generative_weight_decay: float = _field(1e-4, "Stage-2 decoupled weight decay.",
                                          NON_NEGATIVE)
  generative_hidden_dims: tuple = _field((1024, 512, 256), "p(η|x̂) trunk MLP widths.", WIDTHS)
  generative_dropout: float = _field(0.2, "p(η|x̂) trunk dropout rate.",
                                     Interval(0.0, 1.0, high_open=True))
  num_flows: int = _field(6, "Coupling layers in the spline flow.", COUNT)
  num_bins: int = _field(6, "Rational-quadratic spline bins.", COUNT)
  conditioner_hidden_dims: tuple = _field((256,), "Coupling conditioner MLP widths.", WIDTHS)
  conditioner_dropout: float = _field(0.1, "Coupling conditioner dropout rate.",
                                      Interval(0.0, 1.0, high_open=True))
  spline_range: float = _field(
      3.0, "Range B of the rational-quadratic splines: each coupling transforms [-B, B] and is "
      "linear outside (see --spline_tails).", POSITIVE)
  spline_tails: str = _field(
      "identity", "The splines' slopes outside [-B, B]: identity (slope 1: a sample leaving the "
      "range is never stretched) or learned (the paper's reference code; its rare stretched "
      "samples are absurd poses, results/README.md).",
      Choice(("learned", "identity")))
  generative_coordinates: str = _field(
      "algebra", "The coordinates p(η|x̂)'s flow models: algebra (the paper's: η itself) or "
      "centre (η's translation replaced by the position c it moves the prototype's centre to; "
      "a position independent of the angle stays independent in c, where in η's translation it "
      "depends on the rotation and scale; with --squash_to_bounds the translation bounds bound "
      "c). Experimental: no gain on aug_dsprites (results/README.md). centre needs a family "
      "with tx, ty.",
      Choice(("algebra", "centre"), "p's coordinates"))
  generative_n_samples: int = _field(5, "Stage-2 prototypes per image.", COUNT)
  consistency_mult: float = _field(1.0, "Weight of the stage-2 pairwise consistency term.",
                                   NON_NEGATIVE)
  generative_augment_range: float = _field(
      1.0, "Stage-2 augmentation range for prototypes, as a multiple of the bounds (the "
      "prototypes are made from copies augmented within o ± range·b).", POSITIVE)
  generative_target: str = _field(
      "q_of_x", "Stage-2 targets: q_of_x (the paper's: η ~ q(η|x) of the clean image, whatever "
      "pose q left in the augmented copy's prototype x̂) or round_trip (the η that takes x̂ back "
      "to x exactly, log M(η_p) M(η_r)⁻¹; equal to q_of_x when q is exactly equivariant). "
      "Experimental, not adopted: on MNIST it narrows p on upright digits but makes stray "
      "resamples (results/README.md). round_trip_rotation: q_of_x with only the rotation moved "
      "by q's error on the copy (no matrix logarithm; experimental). Both need an affine "
      "family without colour.",
      Choice(("q_of_x", "round_trip", "round_trip_rotation"), "stage-2 target"))
  generative_fold: str = _field(
      "none", "Stage-2 targets of prototypes that are their own half turn (a 0, 1 or 8 drawn "
      "straight): none (the paper's: q's pose, whichever end of the prototype q put up) or "
      "half_turn (the pose composed with a half turn when that turns less, so p learns one "
      "pose where the two explain the image alike). Experimental, not adopted: on "
      "class-dependent MNIST it makes p narrow on upright 1s but in the prototype's pose, which "
      "is upside down for half of them (results/README.md). Needs a family with a rotation.",
      Choice(("none", "half_turn"), "stage-2 fold"))
  generative_fold_threshold: float = _field(
      0.15, "--generative_fold=half_turn: the largest half-turn asymmetry of a target's "
      "prototype (inv_tf.transforms.half_turn_asymmetry: 0 for ink that is its own half turn, "
      "1 for ink that does not overlap it) at which the target is folded.",
      Interval(0.0, 1.0))
  # VAE family (docs/design.md §8).
  sgm_dir: str = _field(
      "", "--model=augvae|invvae: the --model_dir of a trained SGM run (or its export/).",
      Text())
  vae_steps: int = _field(10000, "VAE training steps.", OPTIONAL_COUNT)
  vae_lr: float = _field(6e-3, "VAE peak learning rate (AdamW).", POSITIVE)
  vae_init_lr_mult: float = _field(0.03, "VAE warm-up start, as a multiple of the peak rate.",
                                   POSITIVE)
  vae_final_lr_mult: float = _field(
      1e-4, "VAE final rate after cosine decay, as a multiple of the peak.", POSITIVE)
  vae_warmup_pct: float = _field(0.1, "Fraction of VAE steps spent warming up.", FRACTION)
  vae_clip_norm: float = _field(2.0, "VAE global gradient-norm clip.", POSITIVE)
  vae_weight_decay: float = _field(1e-4, "VAE decoupled weight decay.", NON_NEGATIVE)
  invvae_objective: str = _field(
      "pixel", "What --model=invvae trains on: pixel (the pixel-space bound on log p(x)) or "
      "reference (the reference's VAE ELBO on prototypes).",
      Choice(INVVAE_OBJECTIVES, "objective"))
  vae_keep_best: bool = _field(
      True, "Score and export the VAE weights with the best validation ELBO (kept in "
      "checkpoints/best/), not the last step's.", Flag())
  vae_patience: int = _field(
      0, "Stop VAE training after this many validation evaluations without a better validation "
      "ELBO (0 = train all --vae_steps).", OPTIONAL_COUNT)
  latent_dim: int = _field(16, "VAE latent dimension.", COUNT)
  vae_conv_dims: tuple = _field((64, 128, 256), "VAE encoder conv widths (the decoder mirrors "
                                "them).", WIDTHS)
  vae_dense_dims: tuple = _field((256,), "VAE encoder MLP widths after the convs (the decoder "
                                 "mirrors them).", WIDTHS)
  max_2strides: int = _field(2, "At most this many stride-2 conv layers in the VAE.",
                             OPTIONAL_COUNT)
  iwlb_num_samples: int = _field(300, "Importance samples K of the test IWLB.", COUNT)
  test_batch_size: int = _field(50, "Batch size of the test-set IWLB / ELBO evaluation.", COUNT)
  num_test: int = _field(0, "Test images for the final IWLB / ELBO (0 = the whole test split).",
                         OPTIONAL_COUNT)
  # Bookkeeping.
  log_every: int = _field(50, "Write training scalars every N steps.", COUNT)
  eval_every: int = _field(0, "Validate every N steps (0 = every 1 % of a stage).",
                           OPTIONAL_COUNT)
  num_eval_batches: int = _field(4, "Validation batches per evaluation.", COUNT)
  visuals_every: int = _field(
      0, "Write the validation image grid and η histograms to TensorBoard every N steps (0 = "
      "every 10 % of a stage); also at each stage's last step.", OPTIONAL_COUNT)
  checkpoint_every: int = _field(500, "Checkpoint every N steps.", COUNT)
  max_checkpoints: int = _field(3, "Checkpoints to keep.", COUNT)
  export: bool = _field(True, "Write the SavedModel to MODEL_DIR/export at the end.", Flag())
  # Devices and numerics (not part of the architecture: checkpoints move between them).
  distribution_strategy: str = _field(
      "auto", "tf.distribute strategy: auto (mirrored when several GPUs are visible, else "
      "one_device), one_device, mirrored, multi_worker_mirrored (TF_CONFIG names the cluster), "
      "tpu.", Choice(STRATEGIES, "strategy"))
  num_cpu_devices: int = _field(
      0, "Split the host CPU into N logical devices (0 = no split), e.g. to run "
      "--distribution_strategy=mirrored on a CPU-only machine.", OPTIONAL_COUNT)
  tpu: str = _field(
      "", "--distribution_strategy=tpu: TPU name or grpc:// address (empty: local or from the "
      "environment).", Text())
  mixed_precision: bool = _field(
      False, "bfloat16 matmuls and convolutions (variables, the flow, the warps' coordinates "
      "and the losses stay float32).", Flag())
  jit_compile: bool = _field(
      True, "Compile the train, validation and test steps with XLA (tf.function(jit_compile="
      "True)); false: plain TensorFlow graphs with TensorFlow's own kernels (oneDNN on CPU). The "
      "losses agree to float32 round-off; which is faster depends on the model and the device "
      "(benchmarks/README.md). Only XLA runs are bitwise reproducible (docs/scaling.md).",
      Flag())

  # -----------------------------------------------------------------------------------------
  @property
  def resolved_bounds(self) -> tuple:
    """b: D floats > 0 (the family default when `bounds` is empty)."""
    values = self.bounds or DEFAULT_BOUNDS[self.family]
    return families.parse_per_parameter(values, self.family, "bounds")

  @property
  def resolved_offset(self) -> tuple:
    """o: D floats (the family default, usually zeros, when `offset` is empty)."""
    fam = families.get_family(self.family)
    values = self.offset or DEFAULT_OFFSET.get(self.family, (0.0,) * fam.dim)
    return families.parse_per_parameter(values, self.family, "offset")

  @property
  def event_dim(self) -> int:
    return families.get_family(self.family).dim

  def eval_interval(self, steps: int) -> int:
    return self.eval_every or max(10, steps // 100)

  def visuals_interval(self, steps: int) -> int:
    # Rendering the figures costs several validation passes: 10 per stage, not 100.
    return self.visuals_every or max(10, steps // 10)

  def validate(self) -> "Config":
    """Checks every field against its domain, then the combinations of fields.

    A config is checked once: the CLI validates the one it builds from the flags and
    `train_and_evaluate` validates what it is given, so validating the same (immutable) object
    again returns at once. `replace` makes a new object, which is checked again.

    Returns:
      self.

    Raises:
      ConfigError: one line naming the field and the values it accepts.
    """
    if self.__dict__.get("_validated"):
      return self
    self._check()
    object.__setattr__(self, "_validated", True)  # not a field: equality, JSON and flags ignore it
    return self

  def _check(self) -> None:
    """`validate`'s checks; raises ConfigError."""
    def fail(field, message):
      raise ConfigError(f"--{field}: {message}")

    for field in dataclasses.fields(self):
      message = field.metadata["domain"].error(getattr(self, field.name))
      if message:
        fail(field.name, message)
    for name in ("anchor_mult", "align_mult"):
      if getattr(self, name) > 0 and "rotation" not in families.FAMILIES[self.family]:
        fail(name, f"needs a family with a rotation, got {self.family!r}")
    if self.rotation_head != "linear" and "rotation" not in families.FAMILIES[self.family]:
      fail("rotation_head", f"circular needs a family with a rotation, got {self.family!r}")
    if (self.translation_head != "linear"
        and families.FAMILIES[self.family][:2] != ("tx", "ty")):
      fail("translation_head", f"centroid needs a family with tx, ty, got {self.family!r}")
    if self.rotation_axis_snap > 0 and self.rotation_head == "linear":
      fail("rotation_axis_snap", "needs a circular --rotation_head (circular, flip_equivariant, "
           "quarter_turn_equivariant or axis_equivariant), got --rotation_head=linear")
    if self.inference_zoom > 0 and self.translation_head != "centroid":
      fail("inference_zoom", "needs --translation_head=centroid (the zoom is about the ink "
           f"centroid), got --translation_head={self.translation_head}")
    try:
      self.resolved_bounds, self.resolved_offset  # pylint: disable=pointless-statement
    except ValueError as e:
      raise ConfigError(f"--{e}") from None
    if self.model != "sgm" and self.stage != "all":
      fail("stage", f"only --model=sgm trains in stages; --model={self.model} trains in one "
           f"(leave --stage out), got --stage={self.stage}")
    sgm = f"--model=sgm --stage={self.stage}"
    if self.model == "sgm" and self.stage in ("all", "inference") and self.inference_steps < 1:
      fail("inference_steps", f"must be >= 1 for {sgm}")
    if self.model == "sgm" and self.stage in ("all", "generative") and self.generative_steps < 1:
      fail("generative_steps", f"must be >= 1 for {sgm}")
    if self.model in VAE_MODELS and self.vae_steps < 1:
      fail("vae_steps", f"must be >= 1 for --model={self.model}")
    if self.model in SGM_USING_MODELS and not self.sgm_dir:
      fail("sgm_dir", f"--model={self.model} needs the model_dir of a trained SGM run")
    if self.model not in SGM_USING_MODELS and self.sgm_dir:
      fail("sgm_dir", f"only --model={' or '.join(SGM_USING_MODELS)} use an SGM; "
           f"--model={self.model} does not")
    if self.generative_target != "q_of_x" and families.get_family(self.family).has_colour:
      fail("generative_target", f"{self.generative_target} needs a family without colour, got "
           f"{self.family!r}")
    if (self.generative_coordinates == "centre"
        and families.FAMILIES[self.family][:2] != ("tx", "ty")):
      fail("generative_coordinates", f"centre needs a family with tx, ty, got {self.family!r}")
    if (self.generative_fold != "none"
        and "rotation" not in families.get_family(self.family).parameters):
      fail("generative_fold", f"{self.generative_fold} needs a family with a rotation, got "
           f"{self.family!r}")
    if self.blur_filter_size % 2 != 1:
      fail("blur_filter_size", f"must be odd, got {self.blur_filter_size}")
    if not self.num_bins * SPLINE_MIN_BIN_SIZE < 2 * self.spline_range:
      fail("num_bins", f"{self.num_bins} bins of at least {SPLINE_MIN_BIN_SIZE:g} do not fit in "
           f"the spline range [-{self.spline_range:g}, {self.spline_range:g}] (--spline_range)")

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

  def to_json(self) -> str:
    """The config as a JSON object `{field: value}` (tuples as lists), one field per line.

    `from_json` reads it back into an equal Config; a run stores it as config.json.
    """
    return json.dumps(dataclasses.asdict(self), indent=2) + "\n"

  def architecture(self) -> dict:
    """The fields that fix variable shapes: a checkpoint of another architecture is refused."""
    if self.model in VAE_MODELS:
      arch = {"model": self.model, "latent_dim": self.latent_dim,
              "vae_conv_dims": list(self.vae_conv_dims),
              "vae_dense_dims": list(self.vae_dense_dims), "max_2strides": self.max_2strides}
      if self.model in SGM_USING_MODELS:
        arch["sgm_dir"] = run_dir(self.sgm_dir)
      return arch
    keys = ("family", "inference_hidden_dims", "generative_hidden_dims", "num_flows", "num_bins",
            "conditioner_hidden_dims", "squash_to_bounds")
    arch = {k: getattr(self, k) for k in keys}
    # The paper's heads add no key, so a run.json without these keys still matches them.
    if self.rotation_head != "linear":
      arch["rotation_head"] = self.rotation_head
    if self.translation_head != "linear":
      arch["translation_head"] = self.translation_head
    if self.inference_zoom > 0:  # one more input to q's trunk
      arch["inference_zoom"] = self.inference_zoom
    if self.generative_coordinates != "algebra":  # same shapes, but p's weights mean another η
      arch["generative_coordinates"] = self.generative_coordinates
    arch["bounds"] = self.resolved_bounds
    arch["offset"] = self.resolved_offset
    return {k: list(v) if isinstance(v, tuple) else v for k, v in arch.items()}


def domain(name: str):
  """The domain (`Interval`, `Choice`, `Sequence`, `Flag` or `Text`) of the field `name`."""
  return FIELDS[name].metadata["domain"]


FIELDS = {f.name: f for f in dataclasses.fields(Config)}

# List-valued fields holding integers (the other list fields hold floats).
INT_LIST_FIELDS = tuple(name for name, f in FIELDS.items()
                        if isinstance(f.metadata["domain"], Sequence)
                        and f.metadata["domain"].item.integer)

# Renamed fields, old name → new name. An old name still works: given as a flag (command line or
# flagfile) it sets the new field and the trainers print a deprecation warning
# (`upgrade_names`); in a run's flags.cfg / config.json (runs made before the rename) it is read
# silently.
RENAMED_FIELDS = {"bounds_mult": "generative_augment_range"}
# `--stage` values from before `--model` existed (--stage chose the model too), each → (model,
# stage). Read like `RENAMED_FIELDS`: a warning on the command line, silently from run files
# (their config.json / flags.cfg, and run.json's architecture: `upgrade_model`).
LEGACY_STAGES = {"sgm": ("sgm", "all"), "vae": ("vae", "all"), "augvae": ("augvae", "all"),
                 "invvae": ("invvae", "all"), "vae_aug": ("vae_standard_aug", "all")}


def upgrade_model(name: str) -> str:
  """The current `--model` name of a model named `name` by an old run (e.g. vae_aug)."""
  return LEGACY_STAGES[name][0] if name in LEGACY_STAGES else name


def upgrade_names(values: dict):
  """Maps the old names in `values` ({name: value}, only what was given) to the current ones.

  The one place that knows the deprecated names (`RENAMED_FIELDS`) and `--stage` values
  (`LEGACY_STAGES`, e.g. `stage=vae_aug` → `model=vae_standard_aug, stage=all`): the flag layer
  prints the warnings; the readers of run files (`from_json`, `config_flags.from_flagfile`) drop
  them.

  Args:
    values: field values by name, as given (a name absent from it was not given).

  Returns:
    (the dict with current names only, [one-line deprecation warning per old name used]).

  Raises:
    ConfigError: an old name and its new name are both given (or an old --stage value and
      --model).
  """
  values, warnings = dict(values), []
  for old, new in RENAMED_FIELDS.items():
    if old not in values:
      continue
    if new in values:
      raise ConfigError(f"--{old} is the deprecated name of --{new}; give only --{new}")
    values[new] = values.pop(old)
    warnings.append(f"--{old} is deprecated; use --{new}")
  stage = values.get("stage")
  if isinstance(stage, str) and stage in LEGACY_STAGES:
    model, values["stage"] = LEGACY_STAGES[stage]
    use = "--stage=all (--model=sgm is the default)" if model == "sgm" else f"--model={model}"
    if "model" in values:
      raise ConfigError(f"--stage={stage} is deprecated (use {use}) and names a model, but "
                        "--model is given too; give --stage=all, inference or generative")
    values["model"] = model
    warnings.append(f"--stage={stage} is deprecated; use {use}")
  return values, warnings


def from_dict(values: dict, base: Optional[Config] = None) -> Config:
  """A Config from a {field: value} dict (unknown keys raise ConfigError)."""
  base = base or Config()
  names = {f.name for f in dataclasses.fields(Config)}
  unknown = sorted(set(values) - names)
  if unknown:
    raise ConfigError(f"unknown config field(s): {', '.join(unknown)}")
  return dataclasses.replace(base, **values)


def from_json(text: str) -> Config:
  """Parses the text `Config.to_json` wrote. Missing fields take their defaults.

  Raises:
    ConfigError: not a JSON object, an unknown field, or a value of the wrong kind.
  """
  try:
    values = json.loads(text)
  except ValueError as e:
    raise ConfigError(f"config.json: not JSON ({e})") from None
  if not isinstance(values, dict):
    raise ConfigError("config.json: not a JSON object of fields")
  values, _ = upgrade_names(values)  # a run made before a rename: silently the new names
  defaults = Config()
  for name, value in values.items():
    if not hasattr(defaults, name):
      continue  # from_dict names every unknown field
    default = getattr(defaults, name)
    if isinstance(default, tuple):
      if not isinstance(value, list):
        raise ConfigError(f"--{name}: expected a list in config.json, got {value!r}")
      cast = int if name in INT_LIST_FIELDS else float
      try:
        values[name] = tuple(cast(v) for v in value)
      except (TypeError, ValueError):
        raise ConfigError(f"--{name}: cannot parse value {value!r} in config.json") from None
    elif isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
      values[name] = float(value)
  return from_dict(values)
