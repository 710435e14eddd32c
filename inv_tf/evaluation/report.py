r"""Every measure and figure of a trained model; `inv_tf.runs.evaluate_run(model_dir)` writes them.

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

import unicodedata

import numpy as np
import tensorflow as tf

from inv_tf import data as data_lib
from inv_tf.config import ConfigError
from inv_tf.data import sprites
from inv_tf.evaluation import figures, grids, invariance, latents, truth, vae_scores

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


# What an SGM evaluation leaves out when p(η|x̂) has not trained: every measure and figure that
# samples or scores p.
P_MEASURES = ("rotation_resultant", "rotation_deviation", "rotation_far_mass",
              "rotation_spread_by_label", "orbits", "eta_marginals", "truth", "ks",
              "latent_densities")


def evaluate_sgm(model, config, num_images: int = 500, data_dir=None,
                 with_p: bool = True) -> tuple:
  """Measures and figures of a trained SGM.

  Args:
    model: an `inv_tf.models.SGM`; config: its run's `Config`.
    num_images: upright test images for the measures.
    data_dir: TFDS data directory override.
    with_p: False: only the measures and figures of q(η|x) (`P_MEASURES` left out), for a run
      whose p(η|x̂) has not trained.

  Returns:
    (metrics dict, {name: PNG bytes}).
  """
  batch = _test_batch(config, num_images, data_dir, model.image_shape)
  images, labels = batch["image"], batch["label"].numpy()
  metrics = invariance.sgm_quality(model, images, labels=labels, with_p=with_p)
  pngs = {"eta_sweep": figures.png_bytes(figures.eta_sweep(model, images[0], label=labels[0]))}
  if with_p:
    picked = _first_per_label(labels, 2)
    pngs["orbits"] = figures.png_bytes(figures.orbit_grid(model, tf.gather(images, picked),
                                                          labels=labels[picked]))
    pngs["eta_marginals"] = figures.png_bytes(figures.eta_marginals(model, images[:4],
                                                                    labels=labels[:4]))
  pngs["iterated_norms"] = figures.png_bytes(figures.iterated_norms(metrics["iterated_eta_norms"]))
  if "rotation" in model.family.parameters:
    pngs["rotation_strips"] = figures.png_bytes(
        figures.rotation_strips(model, images[:6], labels=labels[:6]))
  if not with_p:
    return metrics, pngs
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
  truth_table = data_lib.truth_for(config.dataset, **data_lib.dataset_options(config))
  if truth_table is None or not model.family.has_affine:
    return None
  if data_dir:
    config = config.replace(data_dir=data_dir)
  batch = next(iter(data_lib.load_split(config, "test").batch(num_images)))
  images, labels = batch["image"].numpy(), batch["label"].numpy()
  eta_true = batch["eta_true"].numpy()
  sampled = truth.resample_poses(model, images, eta_true, num_samples, seed)
  visible = (truth.resample_visible_rotations(model, images, num_samples, seed)
             if sampled["rotation_samples"] is not None else None)
  recovered = truth.orbit_recovery(sampled["poses"], eta_true, labels, truth_table,
                                   sampled["rotation_samples"], seed=seed,
                                   visible_rotations=visible)
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
  metrics = vae_scores.evaluate_test(model, config, data_lib.load_split(config, "test"))
  images = next(iter(data_lib.load_split(config, "test").batch(8)))["image"]
  rows = tf.stack([images, model.reconstruct(images)], axis=1)
  samples = model.sample(16, tf.constant([0, 11], tf.int32))
  reconstructions = grids.labelled_grid(
      rows, "Reconstructions: test image x | the VAE's reconstruction (decoder mean)",
      [f"test image {i + 1}" for i in range(int(images.shape[0]))], ["x", "reconstruction"],
      col_groups=(1,))
  sample_grid = grids.labelled_grid(
      tf.reshape(samples, [2, 8] + list(samples.shape[1:])),
      "Samples of the VAE: decoder means of z ~ N(0, I)", ["samples 1–8", "samples 9–16"],
      [str(k + 1) for k in range(8)])
  return metrics, {"reconstructions": figures.png_bytes(reconstructions),
                   "samples": figures.png_bytes(sample_grid)}


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


# The README's bars for the headline measures. R̄ of p's rotation samples per image: ≤ 0.2 where
# the truth is uniform on the circle (on MNIST only for the digits without a rotated look-alike),
# ≥ 0.9 where the class is upright.
UNIFORM_RESULTANT_BAR = 0.2
UPRIGHT_RESULTANT_BAR = 0.9
MNIST_ASYMMETRIC_DIGITS = (2, 3, 4, 5, 7)
FULL_RATIO_BAR = 0.25
ITERATED_NORM_BAR = 0.1
KS_XY_BAR = 0.10
MOBILITY_BAR = 0.8
# Share of resamples whose true pose is a stray (`truth.stray`): one in a thousand at most.
STRAY_BAR = 0.001


# Descriptions of the scalars `inv_tf.runs.evaluate_run` logs to TensorBoard (tags evaluate/<key>).
EVALUATE_DESCRIPTIONS = {
    "full_ratio": "Mean pairwise MSE of the prototypes of 8 turns of each upright test image over "
                  "that of the turned images (0 = invariant q, 1 = identity); bar ≤ 0.25.",
    "axis_ratio": "As full_ratio, forgiving prototypes that agree up to a half turn.",
    "relative_ratio": "Mean pairwise MSE of those prototypes over that of the first one turned "
                      "with the views (0 = invariant q, 1 = prototypes turn with the image; "
                      "not lowered by prototypes that shrink).",
    "translation_resultant": "Mean over images of R̄ of the change in q's rotation when the "
                             "image is moved by 0.2 in 8 directions (1 = unchanged).",
    "polar_following": "How much q's rotation follows the object's polar angle about the image "
                       "centre when it is moved (0 = not at all, 1 = fully).",
    "rotation_equivariance": "R̄ of the error of q's rotation when each object is turned in "
                             "place (about its ink centroid) by sevenths of a turn (1 = q turns "
                             "with it, 1/6 = q ignores the turn; objects with rotational "
                             "symmetry score lower legitimately).",
    "image_mse": "Mean pairwise mean-pixel MSE between the turned views of an image.",
    "prototype_mse": "Mean pairwise mean-pixel MSE between the prototypes of those views.",
    "prototype_mse_axis": "As prototype_mse, the smaller of the two half-turn alignments.",
    "num_images": "Test images measured.",
    "rotation_resultant": "Mean over images of R̄ (mean resultant length, 0 = uniform on the "
                          "circle, 1 = one angle) of p's rotation samples.",
    "rotation_deviation": "Mean over images of the RMS angle (rad) of p's rotation samples from "
                          "their circular mean (uniform: 1.81).",
    "rotation_far_mass": "Mean share of p's rotation samples more than 90° from their circular "
                         "mean (flips).",
    "ink_kept": "Mean share of each test image's ink that its prototype keeps in view, mapped "
                "back with q's η (1 = nothing cropped; a q that zooms its prototypes in on a part "
                "of the object scores low, however invariant).",
    "iterated_eta_norm_last": "Mean ‖η‖ q infers at the last re-application to its own "
                              "prototype (0 = consistent q); bar ≤ 0.1.",
    "ks_xy_max": "aug_dsprites: largest KS statistic of the x / y pixel position of resamples vs "
                 "the data over shapes; bar ≤ 0.10.",
    "mobility_xy_min": "aug_dsprites: smallest x / y mobility over shapes (≈ 1 for independent "
                       "redraws, 0 for a model that returns its input); bar ≥ 0.8.",
    "ks_num_images": "aug_dsprites test images used for the KS statistics.",
    "iwlb": "Test importance-weighted lower bound on log p(x) (nats per image).",
    "elbo": "Test ELBO (nats per image).",
    "recon_mse": "Test mean-pixel MSE of the reconstructions.",
}


def _number(value: float) -> str:
  return f"{value:.1f}" if abs(value) >= 100 else f"{value:.3f}"


def _span(values) -> str:
  """'0.123' for one value (or equal ones), 'low–high' for several, 'n/a' for none defined."""
  values = [v for v in values if v is not None and np.isfinite(v)]
  if not values:
    return "n/a"
  low, high = _number(min(values)), _number(max(values))
  return low if low == high else f"{low}–{high}"


def _width(text: str) -> int:
  """Columns `text` takes on a terminal (combining marks, as in R̄, take none)."""
  return sum(not unicodedata.combining(ch) for ch in text)


def _pad(text: str, width: int, right: bool = False) -> str:
  fill = " " * max(width - _width(text), 0)
  return fill + text if right else text + fill


def _verdict(values, bar: str) -> str:
  """'met' / 'NOT met' for finite `values` against a bar '≤ a' or '≥ a' ('' without a bar)."""
  values = [v for v in values if v is not None and np.isfinite(v)]
  if not bar or not values:
    return ""
  limit = float(bar[2:])
  ok = all(v <= limit for v in values) if bar.startswith("≤") else all(v >= limit
                                                                        for v in values)
  return "met" if ok else "NOT met"


def headline_rows(metrics: dict, dataset: str = "") -> list:
  """The headline measures of an evaluation: [(measure, value text, bar text, verdict)].

  Args:
    metrics: `inv_tf.runs.evaluate_run`'s metrics (as written to metrics.json: undefined values
      None).
    dataset: the evaluated dataset's name (MNIST's rotation bar covers digits 2/3/4/5/7 only).

  Returns:
    Rows in reading order; bar '' where the README states none, verdict 'met' / 'NOT met' / ''.
  """
  rows = []

  def add(measure, values, bar=""):
    values = list(values)
    rows.append((measure, _span(values), bar, _verdict(values, bar)))

  classes = (metrics.get("truth") or {}).get("classes") or {}
  uniform, upright, other = {}, {}, {}
  for label, c in classes.items():
    if c.get("resultant") is None:
      continue
    if c.get("deviation_truth") is not None and c["deviation_truth"] <= truth.RECOVERY_MIN_GAP:
      upright[int(label)] = c["resultant"]
    elif c.get("resultant_truth") is not None and c["resultant_truth"] < 0.05:
      uniform[int(label)] = c["resultant"]
    else:
      other[int(label)] = c["resultant"]
  def add_group(kind, group, truth, bar=""):
    if group:
      add(f"R̄ of p's rotation, {kind} {'/'.join(map(str, sorted(group)))} ({truth})",
          group.values(), bar)

  barred = ({k: v for k, v in uniform.items() if k in MNIST_ASYMMETRIC_DIGITS}
            if dataset == "mnist" else uniform)
  add_group("classes", barred, "truth 0", f"≤ {UNIFORM_RESULTANT_BAR}")
  add_group("classes", {k: v for k, v in uniform.items() if k not in barred}, "truth 0")
  add_group("upright classes", upright, "truth 1", f"≥ {UPRIGHT_RESULTANT_BAR}")
  visible = {int(k): classes[k]["visible_resultant"] for k in classes
             if int(k) in upright and classes[k].get("visible_resultant") is not None}
  if visible:
    add(f"R̄ of the turn seen in the resamples' pixels, upright classes "
        f"{'/'.join(map(str, sorted(visible)))} (truth 1)", visible.values(),
        f"≥ {UPRIGHT_RESULTANT_BAR}")
  add_group("classes", other, "partial turns")
  if not classes and metrics.get("rotation_resultant") is not None:
    add("mean R̄ of p's rotation per image", [metrics["rotation_resultant"]])
  if metrics.get("full_ratio") is not None:
    add("full invariance ratio (prototype / image MSE)", [metrics["full_ratio"]],
        f"≤ {FULL_RATIO_BAR}")
  if metrics.get("axis_ratio") is not None:
    add("axis invariance ratio (half turns forgiven)", [metrics["axis_ratio"]])
  if metrics.get("relative_ratio") is not None:
    add("relative invariance ratio (prototypes turned with the views = 1)",
        [metrics["relative_ratio"]])
  if metrics.get("rotation_equivariance") is not None:
    add("q follows an object turned in place (1 = yes, 1/6 = ignores the turn)",
        [metrics["rotation_equivariance"]])
  if metrics.get("ink_kept") is not None:
    add("share of the ink the prototypes keep in view (1 = nothing cropped)",
        [metrics["ink_kept"]])
  if (metrics.get("truth") or {}).get("rotation_w1") is not None:
    add("per-image rotation W1 to the truth (rad)", [metrics["truth"]["rotation_w1"]])
  if (metrics.get("truth") or {}).get("recovery_min") is not None:
    add("worst per-image recovery (1 = oracle, 0 = identity)", [metrics["truth"]["recovery_min"]])
  if (metrics.get("truth") or {}).get("stray_fraction") is not None:
    add("stray resamples (off the canvas, > 4× zoom, non-finite)",
        [metrics["truth"]["stray_fraction"]], f"≤ {STRAY_BAR}")
  if metrics.get("ks_xy_max") is not None:
    add("aug_dsprites position KS, worst shape", [metrics["ks_xy_max"]], f"≤ {KS_XY_BAR:.2f}")
  if metrics.get("mobility_xy_min") is not None:
    add("aug_dsprites position mobility, worst shape", [metrics["mobility_xy_min"]],
        f"≥ {MOBILITY_BAR}")
  if metrics.get("iterated_eta_norm_last") is not None:
    add("iterated ‖η‖ at the last re-application of q", [metrics["iterated_eta_norm_last"]],
        f"≤ {ITERATED_NORM_BAR}")
  for key, measure in (("iwlb", "test IWLB (nats)"), ("elbo", "test ELBO (nats)"),
                       ("recon_mse", "test reconstruction MSE"),
                       ("ref_iwlb", "reference test IWLB (nats)")):
    if metrics.get(key) is not None:
      add(measure, [metrics[key]])
  return rows


def stage_lines(metrics: dict) -> list:
  """Where each network's training stood at the evaluated checkpoint, and what was skipped."""
  lines = []
  stages = metrics.get("stages") or {}
  if stages:
    lines.append("trained: " + ", ".join(
        f"stage {stage} step {at['step']} of {at['steps']}{' (untrained)' if not at['step'] else ''}"
        for stage, at in stages.items()))
  skipped = metrics.get("skipped")
  if skipped:
    lines.append(f"skipped: {', '.join(skipped['measures'])}: {skipped['reason']}")
  return [""] + lines if lines else []


def summary_table(metrics: dict, dataset: str = "", files=()) -> str:
  """What `trainers.evaluate` prints: a table of the headline measures with their bars, then the
  files written (the full metrics stay in metrics.json)."""
  rows = [("measure", "value", "bar", "")] + headline_rows(metrics, dataset)
  widths = [max(_width(r[i]) for r in rows) for i in range(3)]
  lines = []
  for i, (measure, value, bar, verdict) in enumerate(rows):
    lines.append(f"{_pad(measure, widths[0])}  {_pad(value, widths[1], right=True)}  "
                 f"{_pad(bar, widths[2])}  {verdict}".rstrip())
    if i == 0:
      lines.append("-" * (sum(widths) + 4 + len("NOT met") + 2))
  lines.extend(stage_lines(metrics))
  if files:
    lines.append("")
    lines.append("Written:")
    lines.extend(f"  {path}" for path in files)
  return "\n".join(lines)
