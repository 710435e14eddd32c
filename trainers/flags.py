"""Every trainer flag, defined once. One flag per `inv_tf.config.Config` field, same name.

Flags are never mutated: `config_from_flags()` reads them into a frozen `Config`, and the library
only ever sees that.
"""

import dataclasses

from absl import flags

from inv_tf import config as config_lib

HELP = {
    "stage": f"What to train: {', '.join(config_lib.STAGES)} (sgm = stage 1 then stage 2; "
             "augvae and invvae also need --sgm_dir).",
    "seed": "Random seed (data order, augmentations, initialisation).",
    "dataset": "Dataset name (see docs/datasets.md), e.g. mnist, aug_dsprites, npz:PATH, "
               "folder:PATH.",
    "data_dir": "TFDS data directory (default ~/tensorflow_datasets). With a prepared TFDS "
                "mnist there, --dataset=mnist uses the full 70k digits.",
    "rotation_deg": "Rotated MNIST: each example gets one fixed rotation from U(-A, A) degrees.",
    "num_train": "Number of training examples (0 = all); nested subsets for data efficiency.",
    "batch_size": "Global training batch size.",
    "eval_batch_size": "Validation batch size.",
    "family": "Transformation family: affine, affine_no_shear, rotation, hsv, affine_no_shear_hsv.",
    "bounds": "Half-widths b of the η range, one per parameter (empty = family default).",
    "offset": "Centres o of the η range, one per parameter (empty = family default).",
    "interpolation_order": "Warp interpolation: 1 bilinear, 3 cubic B-spline.",
    "squash_to_bounds": "Squash η into o ± b with tanh (q and p).",
    "inference_steps": "Stage-1 (q(η|x)) training steps.",
    "inference_lr": "Stage-1 peak learning rate (AdamW).",
    "inference_init_lr_mult": "Stage-1 warm-up start, as a multiple of the peak rate.",
    "inference_final_lr_mult": "Stage-1 final rate after cosine decay, as a multiple of the peak.",
    "inference_warmup_pct": "Fraction of stage-1 steps spent warming up.",
    "inference_clip_norm": "Stage-1 global gradient-norm clip.",
    "inference_weight_decay": "Stage-1 decoupled weight decay.",
    "inference_hidden_dims": "q(η|x) MLP widths.",
    "rotation_head": "How q(η|x) outputs the rotation: linear (the paper: b·μ, one output), "
                     "circular (atan2 of two outputs, continuous round the whole circle) or "
                     "flip_equivariant (circular, and exactly equivariant to a half turn of "
                     "the image).",
    "init_sigma": "Initial σ of q(η|x) (in units of the bounds); learned by its own optimiser.",
    "sigma_lr": "Base learning rate of q's σ (own Adam; peak 3×).",
    "blur_sigma_init": "Initial Gaussian blur σ (pixels) of the stage-1 curriculum.",
    "blur_filter_size": "Blur filter size (odd).",
    "blur_end_pct": "Fraction of stage-1 steps over which the blur decays to 0.",
    "n_samples": "Stage-1 augmented copies per image.",
    "x_mse_mult": "Weight of the stage-1 reconstruction MSE.",
    "inv_mult": "Weight of the stage-1 invertibility loss.",
    "anchor_mult": "Weight of the stage-1 rotation anchor 1 - cos(θ_q(x_r) - θ_r): prefers "
                   "prototypes in the data's own orientation (0 = off, the paper).",
    "align_mult": "Weight of the stage-1 prototype alignment: each prototype's rotation is pulled "
                  "towards the batch's mean prototype (0 = off, the paper).",
    "symmetrized_loss": "Augment both views in stage 1 (else the second view is x itself).",
    "augment_warmup_pct": "Fraction of stage-1 steps over which the augmentation range grows "
                          "from 0 to the bounds (0 = off).",
    "generative_steps": "Stage-2 (p(η|x̂)) training steps.",
    "generative_lr": "Stage-2 peak learning rate (AdamW).",
    "generative_init_lr_mult": "Stage-2 warm-up start, as a multiple of the peak rate.",
    "generative_final_lr_mult": "Stage-2 final rate, as a multiple of the peak.",
    "generative_warmup_pct": "Fraction of stage-2 steps spent warming up.",
    "generative_clip_norm": "Stage-2 global gradient-norm clip.",
    "generative_weight_decay": "Stage-2 decoupled weight decay.",
    "generative_hidden_dims": "p(η|x̂) trunk MLP widths.",
    "generative_dropout": "p(η|x̂) trunk dropout rate.",
    "num_flows": "Coupling layers in the spline flow.",
    "num_bins": "Rational-quadratic spline bins.",
    "conditioner_hidden_dims": "Coupling conditioner MLP widths.",
    "generative_n_samples": "Stage-2 prototypes per image.",
    "consistency_mult": "Weight of the stage-2 pairwise consistency term.",
    "bounds_mult": "Stage-2 augmentation range for prototypes, as a multiple of the bounds.",
    "sgm_dir": "--stage=augvae|invvae: the --model_dir of a trained SGM run (or its export/).",
    "vae_steps": "VAE training steps.",
    "vae_lr": "VAE peak learning rate (AdamW).",
    "vae_init_lr_mult": "VAE warm-up start, as a multiple of the peak rate.",
    "vae_final_lr_mult": "VAE final rate after cosine decay, as a multiple of the peak.",
    "vae_warmup_pct": "Fraction of VAE steps spent warming up.",
    "vae_clip_norm": "VAE global gradient-norm clip.",
    "vae_weight_decay": "VAE decoupled weight decay.",
    "invvae_objective": "What --stage=invvae trains on: pixel (the pixel-space bound on log p(x)) "
                        "or reference (the reference's VAE ELBO on prototypes).",
    "vae_keep_best": "Score and export the VAE weights with the best validation ELBO (kept in "
                     "checkpoints/best/), not the last step's.",
    "vae_patience": "Stop VAE training after this many validation evaluations without a better "
                    "validation ELBO (0 = train all --vae_steps).",
    "latent_dim": "VAE latent dimension.",
    "vae_conv_dims": "VAE encoder conv widths (the decoder mirrors them).",
    "vae_dense_dims": "VAE encoder MLP widths after the convs (the decoder mirrors them).",
    "max_2strides": "At most this many stride-2 conv layers in the VAE.",
    "iwlb_num_samples": "Importance samples K of the test IWLB.",
    "test_batch_size": "Batch size of the test-set IWLB / ELBO evaluation.",
    "num_test": "Test images for the final IWLB / ELBO (0 = the whole test split).",
    "log_every": "Write training scalars every N steps.",
    "eval_every": "Validate every N steps (0 = every 1 % of a stage).",
    "num_eval_batches": "Validation batches per evaluation.",
    "checkpoint_every": "Checkpoint every N steps.",
    "max_checkpoints": "Checkpoints to keep.",
    "export": "Write the SavedModel to MODEL_DIR/export at the end.",
    "distribution_strategy": "tf.distribute strategy: auto (mirrored when several GPUs are "
                             "visible, else one_device), one_device, mirrored, "
                             "multi_worker_mirrored (TF_CONFIG names the cluster), tpu.",
    "num_cpu_devices": "Split the host CPU into N logical devices (0 = no split), e.g. to run "
                       "--distribution_strategy=mirrored on a CPU-only machine.",
    "tpu": "--distribution_strategy=tpu: TPU name or grpc:// address (empty: local or from the "
           "environment).",
    "mixed_precision": "bfloat16 matmuls and convolutions (variables, the flow, the warps' "
                       "coordinates and the losses stay float32).",
}

_FIELD_TYPES = {f.name: f for f in dataclasses.fields(config_lib.Config)}
_INT_LISTS = set(config_lib.INT_LIST_FIELDS)
_FLOAT_LISTS = {"bounds", "offset"}

MODEL_DIR = flags.DEFINE_string("model_dir", None, "Where the run writes checkpoints, logs, "
                                "the effective flags and the export. Re-running resumes.")

# `--help` groups: (title, first Config field of the group), in Config's field order (its section
# comments); each group runs up to the next one's first field.
GROUP_STARTS = (
    ("What to run", "stage"),
    ("Data", "dataset"),
    ("Transformations", "family"),
    ("Stage 1: q(η|x), the inference network", "inference_steps"),
    ("Stage 2: p(η|x̂), the generative network", "generative_steps"),
    ("VAE family (--stage=vae, augvae, invvae or vae_aug)", "sgm_dir"),
    ("Logging, validation, checkpoints, export", "log_every"),
    ("Devices and numerics", "distribution_strategy"),
)


def _define_all():
  defaults = config_lib.Config()
  defined = {}
  for name, field in _FIELD_TYPES.items():
    default = getattr(defaults, name)
    help_text = HELP[name]
    if name in _INT_LISTS or name in _FLOAT_LISTS:
      defined[name] = flags.DEFINE_list(name, [str(v) for v in default], help_text)
    elif isinstance(default, bool):
      defined[name] = flags.DEFINE_bool(name, default, help_text)
    elif isinstance(default, int):
      defined[name] = flags.DEFINE_integer(name, default, help_text)
    elif isinstance(default, float):
      defined[name] = flags.DEFINE_float(name, default, help_text)
    else:
      defined[name] = flags.DEFINE_string(name, default, help_text)
  return defined


_FLAGS = _define_all()


def help_groups():
  """[(title, [FlagHolder, …]), …]: every Config flag once, --model_dir first, for `--help`."""
  names = list(_FLAGS)
  starts = [names.index(first) for _, first in GROUP_STARTS] + [len(names)]
  groups = [(title, [_FLAGS[n] for n in names[begin:end]])
            for (title, _), begin, end in zip(GROUP_STARTS, starts, starts[1:])]
  groups[0][1].insert(0, MODEL_DIR)
  return groups


def config_from_flags() -> config_lib.Config:
  """The frozen, validated `Config` the flags describe.

  Raises:
    ConfigError: a value is invalid (one line naming the flag).
  """
  values = {}
  for name, holder in _FLAGS.items():
    value = holder.value
    if name in _INT_LISTS or name in _FLOAT_LISTS:
      cast = int if name in _INT_LISTS else float
      try:
        value = tuple(cast(v) for v in value if str(v).strip())
      except ValueError:
        raise config_lib.ConfigError(
            f"--{name}: expected a comma-separated list of numbers, got {','.join(value)}") from None
    values[name] = value
  return config_lib.from_dict(values).validate()
