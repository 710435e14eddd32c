r"""Figures of what an SGM learned (matplotlib, headless), and their PNG / TensorBoard output.

* `eta_sweep`: an image transformed along each η component from o − b to o + b, and the
  prototype of every transformed copy (the paper's invariance check, docs/design.md §11; one
  row pair per component);
* `orbit_grid`: per example, the original | its prototype | resamples;
* `rotation_strips`: images turned over ±180° and the prototype of every view;
* `eta_marginals`: histograms and Gaussian kernel density estimates (Scott's rule, robust
  spread) of η ~ p(η|x̂) per component for a few examples, rotation wrapped to [−π, π), with the
  η that q inferred marked;
* `iterated_norms`: mean ‖η‖ at each re-application of q to its own prototype;
* `latent_densities`: per group (shape) and latent, the densities of true and resampled images'
  pixel latents (`inv_tf.evaluation.latents`), overlaid, with the KS statistic in each title.

Every function returns a `matplotlib.figure.Figure` with a title, labelled rows / columns or axes
(with units) and a legend where it draws more than one kind of mark; the image grids are
`inv_tf.evaluation.grids.labelled_grid`s (row labels, column headers, lines between groups). They
are sized for TensorBoard's image card (≈ 0.6 inch = 60 pixels per 28-pixel image at 100 dpi).
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
from inv_tf.evaluation import circular, invariance, truth  # noqa: E402
from inv_tf.evaluation.latents import LATENTS  # noqa: E402


UNITS = {"tx": "normalised units: the image spans [−1, 1]",
         "ty": "normalised units: the image spans [−1, 1]",
         "rotation": "degrees", "log_scale_x": "ln of the scale factor",
         "log_scale_y": "ln of the scale factor", "shear": "shear factor",
         "hue": "turns of the colour wheel", "log_saturation": "ln of the factor",
         "log_value": "ln of the factor"}


LATENT_UNITS = {"x": "pixels", "y": "pixels", "orientation": "rad",
                "scale": "√ foreground mass, pixels"}


def format_eta(name: str, value: float) -> str:
  """One η component's value as a reader wants it: rotation in degrees, a log-scale as its factor
  (×1.28), others signed with 2 decimals."""
  value = float(value)
  if name == "rotation":
    return f"{math.degrees(value):+.0f}°"
  if name.startswith("log_"):
    return f"×{math.exp(value):.2f}"
  return f"{value:+.2f}"


def _class_label(labels, i) -> str:
  return f"class {int(labels[i])}" if labels is not None else f"image {i + 1}"


def eta_sweep(sgm, image, num_steps: int = 9, label=None) -> mpl_figure.Figure:
  """One image swept along each η component, with the prototype of every view.

  Args:
    sgm: an `inv_tf.models.SGM`.
    image: float32 `[H, W, C]` in [-1, 1].
    num_steps: views per component, evenly spaced over [o_i − b_i, o_i + b_i].
    label: optional class label of the image (shown in the title).

  Returns:
    A figure of a `2·D × num_steps` grid: for each component i a row of views (each cell
    notes its η_i) then a row of their prototypes; rows are labelled with the component and its
    range, columns with the fraction t of the bound (η_i = o_i + t·b_i), components separated by
    lines.
  """
  config = sgm.config
  d = config.event_dim
  names = sgm.family.parameters
  bounds = np.asarray(config.resolved_bounds, np.float32)
  offset = np.asarray(config.resolved_offset, np.float32)
  t = np.linspace(-1.0, 1.0, num_steps, dtype=np.float32)
  eta = np.tile(offset, (d * num_steps, 1))
  for i in range(d):
    eta[i * num_steps:(i + 1) * num_steps, i] += t * bounds[i]
  x = tf.tile(tf.convert_to_tensor(image, tf.float32)[None], [d * num_steps, 1, 1, 1])
  views = transforms.Transform.from_eta(tf.constant(eta), sgm.family).apply(
      x, order=config.interpolation_order)
  protos = sgm.prototype(views)["x_hat"]
  shape = [d, num_steps] + list(views.shape[1:])
  rows = tf.stack([tf.reshape(views, shape), tf.reshape(protos, shape)], axis=1)
  row_labels, notes = [], {}
  for i, name in enumerate(names):
    low, high = offset[i] - bounds[i], offset[i] + bounds[i]
    row_labels += [f"{name} {format_eta(name, low)}…{format_eta(name, high)}: views",
                   f"{name}: prototypes"]
    for k in range(num_steps):
      notes[(2 * i, k)] = format_eta(name, eta[i * num_steps + k, i])
  col_labels = ["t=0" if abs(v) < 1e-6 else f"t={v:+.2g}" for v in t]
  about = f" (class {int(label)})" if label is not None else ""
  title = (f"η sweep: a test image{about} transformed along each η component "
           "(η_i = o_i + t·b_i, value in each cell),\nand q's prototype of every view — "
           "identical prototypes in a row = invariance to that component")
  return grids.labelled_grid(tf.reshape(rows, [2 * d, num_steps] + list(views.shape[1:])),
                             title, row_labels, col_labels,
                             row_groups=range(2, 2 * d, 2), cell_notes=notes)


def orbit_grid(sgm, images, num_resamples: int = 6, seed: int = 0,
               labels=None) -> mpl_figure.Figure:
  """Rows: original | prototype | `num_resamples` resamples, one row per image.

  Args:
    images: float32 `[N, H, W, C]` in [-1, 1].
    labels: optional int `[N]` class labels (the row labels; else "image i").

  Returns:
    A figure of an `N × (2 + num_resamples)` grid with a title, row labels, column headers
    (x | prototype x̂ | resample 1…n) and lines between the three column groups.
  """
  images = tf.convert_to_tensor(images, tf.float32)
  x_hat = sgm.prototype(images)["x_hat"]
  resampled, _ = sgm.resample(images, num_resamples, tf.constant([seed, 3], tf.int32))
  rows = tf.concat([images[:, None], x_hat[:, None], tf.transpose(resampled, [1, 0, 2, 3, 4])],
                   axis=1)
  labels = None if labels is None else np.asarray(labels)
  row_labels = [_class_label(labels, i) for i in range(int(images.shape[0]))]
  col_labels = ["x", "prototype\nx̂"] + [f"resample\n{k + 1}" for k in range(num_resamples)]
  title = ("Orbits: test image x | its prototype x̂ = T(x, η_q)⁻¹ | resamples T(x̂, η), "
           "η ~ p(η|x̂)")
  return grids.labelled_grid(rows, title, row_labels, col_labels, col_groups=(1, 2))


def rotation_strips(sgm, images, num_angles: int = 8, labels=None) -> mpl_figure.Figure:
  """Each image turned by `num_angles` angles over ±180° (views) and the prototype of every view.

  Args:
    images: float32 `[N, H, W, C]` upright images in [-1, 1].
    labels: optional int `[N]` class labels (row labels).

  Returns:
    A figure of a `2N × num_angles` grid (`invariance.rotation_strip`): columns headed by the
    angle, rows "class c: views" / "prototypes", images separated by lines.
  """
  rows = invariance.rotation_strip(sgm, images, num_angles)
  labels = None if labels is None else np.asarray(labels)
  row_labels = []
  for i in range(int(images.shape[0])):
    row_labels += [f"{_class_label(labels, i)}: views", "prototypes"]
  angles = [-180 + 360 * k / num_angles for k in range(num_angles)]
  title = ("Rotation invariance: test images turned by each angle (views) and q's prototype of "
           "every view\nidentical prototypes in a row = q is invariant to rotation")
  return grids.labelled_grid(rows, title, row_labels, [f"{a:+.0f}°" for a in angles],
                             row_groups=range(2, 2 * int(images.shape[0]), 2))


def _kde(samples, points, period=None):
  """Gaussian KDE with Scott's bandwidth of 1-D `samples` evaluated at `points`.

  The spread in Scott's rule is min(standard deviation, IQR / 1.349) (robust to outliers).

  With `period` (2π for angles) the kernel is wrapped round the circle and the bandwidth comes
  from the angular deviation, so mass near ±π is not split across the cut.
  """
  samples = np.asarray(samples, np.float64)
  if period:
    spread = circular.angular_deviation(samples)
  else:  # Silverman's robust spread: a few far outliers do not flatten the estimate.
    q75, q25 = np.percentile(samples, [75, 25])
    spread = min(samples.std(), (q75 - q25) / 1.349) if q75 > q25 else samples.std()
  bandwidth = max(spread * samples.size ** (-1 / 5), 1e-6)
  shifts = (-period, 0.0, period) if period else (0.0,)
  density = 0.0
  for shift in shifts:
    z = (points[:, None] - samples[None, :] - shift) / bandwidth
    density = density + np.exp(-0.5 * z * z).sum(axis=1)
  return density / (samples.size * bandwidth * math.sqrt(2 * math.pi))


def eta_marginals(sgm, images, num_samples: int = 2000, seed: int = 0,
                  labels=None) -> mpl_figure.Figure:
  """Marginals of η ~ p(η|x̂) per component for each image (rows) — histogram + KDE.

  Args:
    images: float32 `[N, H, W, C]`, N small (≤ 6 reads well).
    labels: optional int `[N]` class labels (written under each image).

  Returns:
    A figure with N rows and D + 1 columns (the image, then one panel per η component, its
    x axis in the component's unit, rotation in degrees): grey histogram, blue KDE, red dashed
    line at the η q inferred for the image (the η that maps x̂ back to x); a legend, a title.
  """
  images = tf.convert_to_tensor(images, tf.float32)
  proto = sgm.prototype(images)
  x_hat, eta_q = proto["x_hat"], proto["eta"]
  eta = sgm.sample_eta(x_hat, num_samples, tf.constant([seed, 5], tf.int32)).numpy()  # [n, N, D]
  eta_q = eta_q.numpy()
  names = sgm.family.parameters
  bounds = np.asarray(sgm.config.resolved_bounds)
  offset = np.asarray(sgm.config.resolved_offset)
  labels = None if labels is None else np.asarray(labels)
  n, d = int(images.shape[0]), len(names)
  fig = mpl_figure.Figure(figsize=(2.4 * (d + 1), 1.9 * n + 1.2), dpi=100)
  axes = fig.subplots(n, d + 1, squeeze=False)
  handles = None
  for r in range(n):
    axes[r, 0].imshow(np.clip((images[r].numpy() + 1) / 2, 0, 1).squeeze(), cmap="gray",
                      vmin=0, vmax=1)
    axes[r, 0].set_xticks([])
    axes[r, 0].set_yticks([])
    axes[r, 0].set_xlabel(_class_label(labels, r), fontsize=8)
    for i, name in enumerate(names):
      ax = axes[r, i + 1]
      values, mark = eta[:, r, i], eta_q[r, i]
      # ±1.5 bounds, widened to hold the samples and q's η (p and q are not confined to it).
      low = min(offset[i] - 1.5 * bounds[i], float(np.percentile(values, 0.5)), mark)
      high = max(offset[i] + 1.5 * bounds[i], float(np.percentile(values, 99.5)), mark)
      period = None
      if name == "rotation":
        values, mark = circular.wrap(values), float(circular.wrap(mark))
        low, high, period = -math.pi, math.pi, 2 * math.pi
        ax.text(0.02, 0.95, f"R̄={circular.mean_resultant_length(values):.2f}",
                transform=ax.transAxes, fontsize=7, va="top")
        ax.set_xticks(np.radians([-180, -90, 0, 90, 180]), ["−180", "−90", "0", "90", "180"])
      # "stepfilled": one polygon per histogram, not one patch per bin (drawn many times faster).
      hist = ax.hist(values, bins=40, range=(low, high), density=True, color="0.75",
                     histtype="stepfilled", label="histogram of η ~ p(η|x̂)")[2]
      grid = np.linspace(low, high, 200)
      (kde,) = ax.plot(grid, _kde(values, grid, period), color="C0", label="KDE")
      line = ax.axvline(mark, color="C3", linestyle="--", label="η inferred by q(η|x)")
      handles = handles or [hist[0], kde, line]
      ax.set_yticks([])
      ax.tick_params(labelsize=7)
      if r == 0:
        ax.set_title(name, fontsize=9)
      if r == n - 1:
        ax.set_xlabel(f"{name} ({UNITS.get(name, 'η units')})", fontsize=7)
  axes[0, 0].set_title("x", fontsize=9)
  fig.suptitle(f"Learned distribution p(η|x̂) of each η component ({num_samples} samples per "
               "image)", fontsize=10)
  fig.legend(handles, [h.get_label() for h in handles], loc="lower center", ncol=3, fontsize=8,
             frameon=False)
  fig.tight_layout(rect=(0, 0.06, 1, 0.97))
  return fig


def iterated_norms(norms) -> mpl_figure.Figure:
  """Mean ‖η‖ per re-application of q (a list of floats, iteration 1 first)."""
  fig = mpl_figure.Figure(figsize=(4.5, 3.2), dpi=100)
  ax = fig.subplots()
  ax.plot(np.arange(1, len(norms) + 1), norms, marker="o")
  ax.set_yscale("log")
  ax.set_xlabel("re-application of q to its own prototype")
  ax.set_ylabel("mean ‖η‖ (η units)")
  ax.set_xticks(np.arange(1, len(norms) + 1))
  ax.set_title("Iterated prototyping: ‖η‖ → 0 means q is consistent", fontsize=9)
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
      ax.hist(a, bins=bins, density=True, alpha=0.5, histtype="stepfilled", label="data")
      ax.hist(b, bins=bins, density=True, alpha=0.5, histtype="stepfilled", label="resampled")
      label = group_names[g] if group_names is not None else g
      ax.set_title(f"{label}: {name} (KS {ks[g][name]:.3f})", fontsize=8)
      ax.set_yticks([])
      ax.tick_params(labelsize=7)
      if r == len(groups) - 1:
        ax.set_xlabel(f"{name} ({LATENT_UNITS.get(name, 'pixels')})", fontsize=7)
  axes[0, 0].legend(fontsize=7)
  fig.suptitle("Pixel latents of the data vs one SGM resample per image, per shape "
               "(KS statistic in each title)", fontsize=9)
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
    ax.hist(pooled, bins=bins, density=True, color="0.8", histtype="stepfilled",
            label="resamples (pooled)")
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
    image_or_figure.savefig(buffer, format="png", bbox_inches="tight", pad_inches=0.08,
                            facecolor="white")
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
