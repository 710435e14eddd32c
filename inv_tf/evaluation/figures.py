r"""Figures of what an SGM learned (matplotlib, headless), and their PNG / TensorBoard output.

* `eta_sweep`: an image transformed along each η component from o − b to o + b, and the
  prototype of every transformed copy (SPEC §11's invariance check, one row pair per component);
* `orbit_grid`: per example, the original | its prototype | resamples;
* `eta_marginals`: histograms and Gaussian kernel density estimates (Scott's bandwidth) of
  η ~ p(η|x̂) per component for a few examples, rotation wrapped to [−π, π), with the η that q
  inferred marked;
* `iterated_norms`: mean ‖η‖ at each re-application of q to its own prototype;
* `latent_densities`: per group (shape) and latent, the densities of true and resampled images'
  pixel latents (`inv_tf.evaluation.latents`), overlaid, with the KS statistic in each title.

Image grids are float32 `[rows·H, cols·W, C]` in [0, 1] (`inv_tf.evaluation.grids.tile`);
figures are `matplotlib.figure.Figure`s.
"""

import io
import math
import os

import matplotlib

matplotlib.use("Agg")
from matplotlib import figure as mpl_figure  # noqa: E402  (after choosing the backend)
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from inv_tf import transforms  # noqa: E402
from inv_tf.evaluation import grids  # noqa: E402
from inv_tf.evaluation import circular, truth  # noqa: E402
from inv_tf.evaluation.latents import LATENTS  # noqa: E402


def eta_sweep(sgm, image, num_steps: int = 9) -> tf.Tensor:
  """One image swept along each η component, with the prototype of every view.

  Args:
    sgm: an `inv_tf.models.SGM`.
    image: float32 `[H, W, C]` in [-1, 1].
    num_steps: views per component, evenly spaced over [o_i − b_i, o_i + b_i].

  Returns:
    A grid, float32 `[2·D·H, num_steps·W, C]` in [0, 1]: for each component i a row of views
    then a row of their prototypes.
  """
  config = sgm.config
  d = config.event_dim
  bounds = np.asarray(config.resolved_bounds, np.float32)
  offset = np.asarray(config.resolved_offset, np.float32)
  t = np.linspace(-1.0, 1.0, num_steps, dtype=np.float32)
  eta = np.tile(offset, (d * num_steps, 1))
  for i in range(d):
    eta[i * num_steps:(i + 1) * num_steps, i] += t * bounds[i]
  x = tf.tile(tf.convert_to_tensor(image, tf.float32)[None], [d * num_steps, 1, 1, 1])
  views = transforms.Transform.from_eta(tf.constant(eta), sgm.family).apply(
      x, order=config.interpolation_order)
  protos, _ = sgm.prototype(views)
  shape = [d, num_steps] + list(views.shape[1:])
  rows = tf.stack([tf.reshape(views, shape), tf.reshape(protos, shape)], axis=1)
  return grids.tile(tf.reshape(rows, [2 * d, num_steps] + list(views.shape[1:])))


def orbit_grid(sgm, images, num_resamples: int = 6, seed: int = 0) -> tf.Tensor:
  """Rows: original | prototype | `num_resamples` resamples, one row per image.

  Args:
    images: float32 `[N, H, W, C]` in [-1, 1].

  Returns:
    float32 `[N·H, (2 + num_resamples)·W, C]` in [0, 1].
  """
  images = tf.convert_to_tensor(images, tf.float32)
  x_hat, _ = sgm.prototype(images)
  resampled, _ = sgm.resample(images, num_resamples, tf.constant([seed, 3], tf.int32))
  rows = tf.concat([images[:, None], x_hat[:, None], tf.transpose(resampled, [1, 0, 2, 3, 4])],
                   axis=1)
  return grids.tile(rows)


def _kde(samples, points, period=None):
  """Gaussian KDE with Scott's bandwidth of 1-D `samples` evaluated at `points`.

  With `period` (2π for angles) the kernel is wrapped round the circle and the bandwidth comes
  from the angular deviation, so mass near ±π is not split across the cut.
  """
  samples = np.asarray(samples, np.float64)
  spread = circular.angular_deviation(samples) if period else samples.std()
  bandwidth = max(spread * samples.size ** (-1 / 5), 1e-6)
  shifts = (-period, 0.0, period) if period else (0.0,)
  density = 0.0
  for shift in shifts:
    z = (points[:, None] - samples[None, :] - shift) / bandwidth
    density = density + np.exp(-0.5 * z * z).sum(axis=1)
  return density / (samples.size * bandwidth * math.sqrt(2 * math.pi))


def eta_marginals(sgm, images, num_samples: int = 2000, seed: int = 0) -> mpl_figure.Figure:
  """Marginals of η ~ p(η|x̂) per component for each image (rows) — histogram + KDE.

  Args:
    images: float32 `[N, H, W, C]`, N small (≤ 6 reads well).

  Returns:
    A figure with N rows and D + 1 columns (the image, then one panel per η component); the
    dashed line marks the η q inferred for the image (the η that maps x̂ back to x).
  """
  images = tf.convert_to_tensor(images, tf.float32)
  x_hat, eta_q = sgm.prototype(images)
  eta = sgm.sample_eta(x_hat, num_samples, tf.constant([seed, 5], tf.int32)).numpy()  # [n, N, D]
  eta_q = eta_q.numpy()
  names = sgm.family.parameters
  bounds = np.asarray(sgm.config.resolved_bounds)
  offset = np.asarray(sgm.config.resolved_offset)
  n, d = int(images.shape[0]), len(names)
  fig = mpl_figure.Figure(figsize=(2.2 * (d + 1), 1.8 * n), dpi=100)
  axes = fig.subplots(n, d + 1, squeeze=False)
  for r in range(n):
    axes[r, 0].imshow(np.clip((images[r].numpy() + 1) / 2, 0, 1).squeeze(), cmap="gray",
                      vmin=0, vmax=1)
    axes[r, 0].axis("off")
    for i, name in enumerate(names):
      ax = axes[r, i + 1]
      values, mark = eta[:, r, i], eta_q[r, i]
      low, high = offset[i] - 1.5 * bounds[i], offset[i] + 1.5 * bounds[i]
      period = None
      if name == "rotation":
        values, mark = circular.wrap(values), float(circular.wrap(mark))
        low, high, period = -math.pi, math.pi, 2 * math.pi
        ax.text(0.02, 0.95, f"R̄={circular.mean_resultant_length(values):.2f}",
                transform=ax.transAxes, fontsize=7, va="top")
      ax.hist(values, bins=40, range=(low, high), density=True, color="0.75")
      grid = np.linspace(low, high, 200)
      ax.plot(grid, _kde(values, grid, period), color="C0")
      ax.axvline(mark, color="C3", linestyle="--")
      ax.set_yticks([])
      if r == 0:
        ax.set_title(name, fontsize=9)
  fig.tight_layout()
  return fig


def iterated_norms(norms) -> mpl_figure.Figure:
  """Mean ‖η‖ per re-application of q (a list of floats, iteration 1 first)."""
  fig = mpl_figure.Figure(figsize=(4, 3), dpi=100)
  ax = fig.subplots()
  ax.plot(np.arange(1, len(norms) + 1), norms, marker="o")
  ax.set_yscale("log")
  ax.set_xlabel("re-application of q")
  ax.set_ylabel("mean ‖η‖")
  ax.grid(alpha=0.3)
  fig.tight_layout()
  return fig


def latent_densities(true_latents, true_groups, other_latents, other_groups, ks: dict,
                     group_names=None) -> mpl_figure.Figure:
  """Overlaid densities of true vs resampled pixel latents, one row per group.

  Args:
    true_latents, other_latents: `inv_tf.evaluation.latents.pixel_latents` outputs.
    true_groups, other_groups: int `[N]`, `[M]` labels.
    ks: `latent_ks_by_group` output (shown in the panel titles).
    group_names: optional names indexed by group label.
  """
  groups = sorted(ks)
  fig = mpl_figure.Figure(figsize=(2.6 * len(LATENTS), 2.0 * max(len(groups), 1)), dpi=100)
  axes = fig.subplots(max(len(groups), 1), len(LATENTS), squeeze=False)
  true_groups, other_groups = np.asarray(true_groups), np.asarray(other_groups)
  for r, g in enumerate(groups):
    for c, name in enumerate(LATENTS):
      ax = axes[r, c]
      a = true_latents[name][true_groups == g]
      b = other_latents[name][other_groups == g]
      a, b = a[~np.isnan(a)], b[~np.isnan(b)]
      both = np.concatenate([a, b])
      bins = np.linspace(both.min(), both.max() + 1e-9, 31) if both.size else 30
      ax.hist(a, bins=bins, density=True, alpha=0.5, label="data")
      ax.hist(b, bins=bins, density=True, alpha=0.5, label="resampled")
      label = group_names[g] if group_names is not None else g
      ax.set_title(f"{label}: {name} (KS {ks[g][name]:.3f})", fontsize=8)
      ax.set_yticks([])
  axes[0, 0].legend(fontsize=7)
  fig.tight_layout()
  return fig


def truth_recovery(poses, labels, recovered: dict, truth_table: dict, images_per_class: int = 3,
                   seed: int = 0) -> mpl_figure.Figure:
  """Per class: the true distribution against the poses of the SGM's resamples.

  Each panel shows the class's most varying pose component (rotation unless the class varies
  only in translation or scale): the truth's density (black), all resamples of the class pooled
  (grey histogram) and the resamples of `images_per_class` single images (coloured KDEs: the
  orbit each image gets). The title gives the per-image W1 of the model, the identity and the
  oracle (`inv_tf.evaluation.truth`), and for the rotation p's R̄ against the truth's.

  Args:
    poses: float `[N, n, 5]` resample poses; labels: int `[N]`.
    recovered: `truth.orbit_recovery`'s output; truth_table: {label: ClassTruth}.
  """
  labels = np.asarray(labels)
  classes = recovered["classes"]
  cols = min(5, max(1, len(classes)))
  rows = -(-len(classes) // cols)
  fig = mpl_figure.Figure(figsize=(3.2 * cols, 2.6 * rows), dpi=100)
  axes = fig.subplots(rows, cols, squeeze=False).reshape(-1)
  rng = np.random.default_rng(seed)
  for ax, (label, result) in zip(axes, sorted(classes.items())):
    gaps = [result[n]["w1_identity"] - result[n]["w1_oracle"] for n in truth.POSE_NAMES]
    c = int(np.argmax(gaps)) if max(gaps) > truth.RECOVERY_MIN_GAP else 2
    name = truth.POSE_NAMES[c]
    reference = truth.pose_of_eta(truth_table[label].sample(rng, 4000))[:, c]
    members = np.flatnonzero(labels == label)
    pooled = np.asarray(poses)[members, :, c].reshape(-1)
    period = None
    if name == "rotation":
      reference, pooled, period = circular.wrap(reference), circular.wrap(pooled), 2 * math.pi
      low, high = -math.pi, math.pi
    else:
      both = np.concatenate([reference, pooled])
      low, high = np.percentile(both, 0.5) - 0.05, np.percentile(both, 99.5) + 0.05
    bins = np.linspace(low, high, 49)
    ax.hist(pooled, bins=bins, density=True, color="0.8", label="resamples (pooled)")
    ax.hist(reference, bins=bins, density=True, histtype="step", color="k", label="truth")
    grid = np.linspace(low, high, 200)
    for k, i in enumerate(members[:images_per_class]):
      values = np.asarray(poses)[i, :, c]
      values = circular.wrap(values) if period else values
      ax.plot(grid, _kde(values, grid, period), color=f"C{k}", lw=1,
              label="one image's resamples" if k == 0 else None)
    r = result[name]
    title = (f"class {label}: {result['description']}\n{name} W1 {r['w1']:.2f} "
             f"(identity {r['w1_identity']:.2f}, oracle {r['w1_oracle']:.2f})")
    if name == "rotation" and "resultant" in result:
      title += f"\nR̄ of p {result['resultant']:.2f} (truth {result['resultant_truth']:.2f})"
    ax.set_title(title, fontsize=7)
    ax.set_xlabel(f"{name} of the resample's true pose", fontsize=7)
    ax.set_yticks([])
    ax.tick_params(labelsize=7)
  for ax in axes[len(classes):]:
    ax.axis("off")
  if classes:
    axes[0].legend(fontsize=6, loc="upper right")
  fig.suptitle("Truth recovery: each class's true transformation distribution vs SGM resamples",
               fontsize=9)
  fig.tight_layout()
  return fig


def png_bytes(image_or_figure) -> bytes:
  """PNG encoding of a figure, or of a grid float `[H, W, C]` in [0, 1] (enlarged 3× to view)."""
  if isinstance(image_or_figure, mpl_figure.Figure):
    buffer = io.BytesIO()
    image_or_figure.savefig(buffer, format="png")
    return buffer.getvalue()
  grid = tf.convert_to_tensor(image_or_figure, tf.float32)
  big = tf.image.resize(grid, tf.shape(grid)[:2] * 3, method="nearest")
  return tf.io.encode_png(tf.cast(tf.round(tf.clip_by_value(big, 0, 1) * 255), tf.uint8)).numpy()


def write_png(path: str, png: bytes):
  """Writes PNG bytes to `path` (via a temporary file, so a reader never sees half a file)."""
  tmp = f"{path}.tmp"
  with open(tmp, "wb") as f:
    f.write(png)
  os.replace(tmp, path)


def log_png(tag: str, png: bytes, step: int):
  """Adds PNG bytes as an image summary to the default summary writer."""
  image = tf.image.decode_png(png)  # 1, 3 or 4 channels, as encoded.
  tf.summary.image(tag, image[None], step=step)
