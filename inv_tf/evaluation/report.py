r"""`evaluate_run(model_dir)`: every measure and figure of a finished run (`trainers.evaluate`).

For an SGM run (on upright test images of the run's dataset):

| output                     | what                                                              |
|----------------------------|-------------------------------------------------------------------|
| metrics.json               | `sgm_quality` (invariance ratios, circular spread R̄ / deviation  |
|                            | and flipped mass of p's rotation, per label, iterated ‖η‖); on a  |
|                            | known-truth dataset `truth` (`inv_tf.evaluation.truth`: per class |
|                            | per-image W1 / Kuiper / KS of the resamples' true poses against   |
|                            | the class's truth, with identity and oracle baselines, R̄ of p    |
|                            | against the truth's); for aug_dsprites, the                       |
|                            | pixel-latent KS statistics per shape (`ks`, `ks_xy_max`) and how  |
|                            | far resampling moves each image (`mobility`, `mobility_xy_min`)   |
| eta_sweep.png              | an image swept along each η component ± bounds, with prototypes   |
| orbits.png                 | per class: original | prototype | resamples                       |
| eta_marginals.png          | p(η\|x̂) marginals per component (histogram + KDE), q's η marked  |
| iterated_norms.png         | mean ‖η‖ per re-application of q                                  |
| rotation_strips.png        | 8 rotations of test images and their prototypes                   |
| latent_densities.png       | aug_dsprites: true vs resampled pixel latents per shape           |
| truth_recovery.png         | known truth: per class, the truth vs the resamples' poses         |

For a VAE-family run: metrics.json (test IWLB, ELBO, reconstruction MSE; InvVAE also the
reference's variants), samples.png, reconstructions.png (x | reconstruction).

Every PNG is also written to the run's TensorBoard under `MODEL_DIR/evaluation`, tag
`evaluate/<name>`, at the run's final step.

The aug_dsprites known-truth check: each test image is replaced by one SGM resample; both the
true and the resampled images go through `inv_tf.evaluation.latents.pixel_latents` (centre of
mass, second moments, √mass), and the two-sample KS statistic is computed per shape and latent.
The KS statistics are read together with the mobility: a model that returns its input scores
KS = 0 with mobility 0.
"""

import json
import os

import numpy as np
import tensorflow as tf

from inv_tf import data as data_lib
from inv_tf.config import VAE_STAGES, ConfigError
from inv_tf.data import sprites
from inv_tf.evaluation import figures, grids, invariance, latents, truth
from inv_tf.training import checkpoints, loop, vae_train

KS_IMAGES = 2000  # aug_dsprites test images used for the KS statistics.
TRUTH_SAMPLES = 100  # resamples per test image for the truth-recovery measures.


def _first_per_label(labels, per_label: int, max_labels: int = 10):
  """Indices of the first `per_label` examples of each of the first `max_labels` labels."""
  picked = []
  for label in np.unique(labels)[:max_labels]:
    picked.extend(np.flatnonzero(labels == label)[:per_label].tolist())
  return np.asarray(picked, np.int64)


def _test_batch(config, num_images: int, data_dir, image_shape=None):
  """The first `num_images` upright test examples of the config's dataset, as one batch."""
  test = data_lib.load(config.dataset, "test", seed=config.seed,
                       data_dir=data_dir or config.data_dir or None)
  if image_shape is not None and tuple(test.element_spec["image"].shape) != tuple(image_shape):
    raise ConfigError(f"--dataset={config.dataset}: images of shape "
                      f"{list(test.element_spec['image'].shape)}, but the model expects "
                      f"{list(image_shape)}")
  return next(iter(test.batch(num_images)))


def evaluate_sgm(model, config, num_images: int = 500, data_dir=None) -> tuple:
  """Measures and figures of a trained SGM.

  Args:
    model: an `inv_tf.models.SGM`; config: its run's `Config`.
    num_images: upright test images for the measures.
    data_dir: TFDS data directory override.

  Returns:
    (metrics dict, {name: PNG bytes}).
  """
  batch = _test_batch(config, num_images, data_dir, model.image_shape)
  images, labels = batch["image"], batch["label"].numpy()
  metrics = invariance.sgm_quality(model, images, labels=labels)
  pngs = {
      "eta_sweep": figures.png_bytes(figures.eta_sweep(model, images[0])),
      "orbits": figures.png_bytes(figures.orbit_grid(
          model, tf.gather(images, _first_per_label(labels, 2)))),
      "eta_marginals": figures.png_bytes(figures.eta_marginals(model, images[:4])),
      "iterated_norms": figures.png_bytes(figures.iterated_norms(metrics["iterated_eta_norms"])),
  }
  if "rotation" in model.family.parameters:
    pngs["rotation_strips"] = figures.png_bytes(
        grids.tile(invariance.rotation_strip(model, images[:6])))
  if config.dataset == "aug_dsprites":
    ks_metrics, pngs["latent_densities"] = dsprites_known_truth(model, config, data_dir)
    metrics.update(ks_metrics)
  recovered = truth_recovery(model, config, num_images, data_dir)
  if recovered is not None:
    metrics["truth"], pngs["truth_recovery"] = recovered
  return metrics, pngs


def truth_recovery(model, config, num_images: int = 500, data_dir=None,
                   num_samples: int = TRUTH_SAMPLES, seed: int = 0):
  """`inv_tf.evaluation.truth` on the first `num_images` test examples of a known-truth dataset.

  The test split is loaded as the run saw it (its rotation and other options), with each
  example's `eta_true`.

  Returns:
    None when the dataset carries no truth (`inv_tf.data.truth_for`) or the family has no affine
    part; else (`orbit_recovery`'s dict, PNG bytes of `figures.truth_recovery`).
  """
  truth_table = data_lib.truth_for(config.dataset, **loop.dataset_options(config))
  if truth_table is None or not model.family.has_affine:
    return None
  if data_dir:
    config = config.replace(data_dir=data_dir)
  batch = next(iter(loop.load_split(config, "test").batch(num_images)))
  images, labels = batch["image"].numpy(), batch["label"].numpy()
  eta_true = batch["eta_true"].numpy()
  sampled = truth.resample_poses(model, images, eta_true, num_samples, seed)
  recovered = truth.orbit_recovery(sampled["poses"], eta_true, labels, truth_table,
                                   sampled["rotation_samples"], seed=seed)
  fig = figures.truth_recovery(sampled["poses"], labels, recovered, truth_table, seed=seed)
  return recovered, figures.png_bytes(fig)


def resample_ks(model, images, groups, group_names=None, batch_size: int = 250,
                seed: int = 97) -> tuple:
  """KS statistics of one SGM resample per image vs the images, per group, from pixel latents.

  Args:
    model: anything with the SGM's `resample(x, n, seed)` (an `SGM`).
    images: float32 `[N, H, W, C]` in [-1, 1]; groups: int `[N]` (e.g. shape labels).
    group_names: names indexed by group label (for the metrics and the figure).

  Returns:
    ({"ks": {group name: {latent: D}}, "ks_xy_max": max over groups of the x and y statistics,
      "mobility": {group name: {"x", "y": mobility}}, "mobility_xy_min": min over groups and
      x, y (≈ 1 when resamples are independent draws, 0 for a model that returns its input;
      see `latents.mobility_by_group`), "ks_num_images": N}, PNG bytes of the overlaid
      densities).
  """
  images = np.asarray(images, np.float32)
  groups = np.asarray(groups)
  resampled = []
  for i, start in enumerate(range(0, images.shape[0], batch_size)):
    out, _ = model.resample(images[start:start + batch_size], 1, tf.constant([seed, i], tf.int32))
    resampled.append(np.asarray(out[0]))
  true_lat = latents.pixel_latents(images)
  res_lat = latents.pixel_latents(np.concatenate(resampled))
  ks = latents.latent_ks_by_group(true_lat, groups, res_lat, groups)
  name = (lambda g: group_names[g]) if group_names is not None else str
  xy_max = max(max(d["x"], d["y"]) for d in ks.values())
  mobility = latents.mobility_by_group(true_lat, res_lat, groups)
  fig = figures.latent_densities(true_lat, groups, res_lat, groups, ks, group_names)
  return ({"ks": {name(g): d for g, d in ks.items()}, "ks_xy_max": xy_max,
           "mobility": {name(g): d for g, d in mobility.items()},
           "mobility_xy_min": min(min(d.values()) for d in mobility.values()),
           "ks_num_images": int(images.shape[0])}, figures.png_bytes(fig))


def dsprites_known_truth(model, config, data_dir=None, num_images: int = KS_IMAGES) -> tuple:
  """`resample_ks` on the first `num_images` aug_dsprites test images, grouped by shape."""
  batch = _test_batch(config, num_images, data_dir, model.image_shape)
  return resample_ks(model, batch["image"].numpy(), batch["label"].numpy(), sprites.SHAPE_NAMES)


def evaluate_vae(model, config, data_dir=None) -> tuple:
  """Test scores and figures of a trained VAE-family model: (metrics, {name: PNG bytes})."""
  if data_dir:
    config = config.replace(data_dir=data_dir)
  metrics = vae_train.evaluate_test(model, config, loop.load_split(config, "test"))
  images = next(iter(loop.load_split(config, "test").batch(8)))["image"]
  rows = tf.stack([images, model.reconstruct(images)], axis=1)
  samples = model.sample(16, tf.constant([0, 11], tf.int32))
  return metrics, {
      "reconstructions": figures.png_bytes(grids.tile(rows)),
      "samples": figures.png_bytes(grids.tile(tf.reshape(samples, [2, 8] + list(
          samples.shape[1:])))),
  }


def json_safe(value):
  """`value` with every non-finite float (an undefined measure, e.g. a recovery score of a class
  that does not vary) replaced by None, so metrics.json is strict JSON (null)."""
  if isinstance(value, dict):
    return {k: json_safe(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [json_safe(v) for v in value]
  if isinstance(value, float) and not np.isfinite(value):
    return None
  return value


def evaluate_run(model_dir: str, out_dir: str | None = None, num_images: int = 500,
                 data_dir: str | None = None, checkpoint: str | None = None,
                 dataset: str | None = None) -> dict:
  """Evaluates the run in `model_dir`, writes metrics.json and PNGs to `out_dir`, logs to TB.

  Args:
    model_dir: a finished (or interrupted: its latest checkpoint) run's model directory.
    out_dir: where to write (default `model_dir/eval`).
    num_images: test images for the SGM measures.
    data_dir: TFDS data directory override.
    checkpoint: a specific checkpoint path (default the latest).
    dataset: evaluate on this dataset instead of the run's (it must have the run's image shape).

  Returns:
    The metrics (undefined values as None, as written to metrics.json).

  Raises:
    ConfigError: no run / no checkpoint in `model_dir`; DataError: the test data is unavailable.
  """
  config, _ = checkpoints.read_run(model_dir)
  if config.stage in VAE_STAGES:
    model, config = vae_train.restore_vae_model(model_dir, checkpoint)
    metrics, pngs = evaluate_vae(model, config.replace(dataset=dataset or config.dataset),
                                 data_dir)
    step = config.vae_steps
  else:
    model = checkpoints.restore_model(model_dir, checkpoint)
    metrics, pngs = evaluate_sgm(model, config.replace(dataset=dataset or config.dataset),
                                 num_images, data_dir)
    step = config.inference_steps + config.generative_steps
  metrics = json_safe(metrics)
  out_dir = out_dir or os.path.join(model_dir, "eval")
  os.makedirs(out_dir, exist_ok=True)
  for name, png in pngs.items():
    figures.write_png(os.path.join(out_dir, f"{name}.png"), png)
  loop.write_atomic(os.path.join(out_dir, "metrics.json"), json.dumps(metrics, indent=2))
  writer = tf.summary.create_file_writer(os.path.join(model_dir, "evaluation"))
  with writer.as_default():
    for name, png in pngs.items():
      figures.log_png(f"evaluate/{name}", png, step)
    for key, value in metrics.items():
      if isinstance(value, (int, float)):
        tf.summary.scalar(f"evaluate/{key}", value, step=step)
  writer.flush()
  return metrics
