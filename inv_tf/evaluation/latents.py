r"""Latents measured from pixels, and two-sample Kolmogorov–Smirnov statistics.

The known-truth check of augmented dSprites compares the distribution of SGM resamples with the
true data, per shape, without trusting η: every image (true or resampled) goes through the same
pixel measurement. With w(i, j) = (x(i, j) + 1) / 2 ∈ [0, 1] the foreground weight of the pixel in
row i, column j (channel mean) of an H × W image and m = Σ w its mass:

    x = (Σ w · (j + ½)) / (m W),   y = (Σ w · (i + ½)) / (m H)        centre of mass, in [0, 1]
    μ_20 = Σ w (j − x̄)² / m,  μ_02 = Σ w (i − ȳ)² / m,  μ_11 = Σ w (j − x̄)(i − ȳ) / m
    orientation = ½ atan2(−2 μ_11, μ_20 − μ_02)     principal-axis angle (counter-clockwise on
                                                    screen), in (−π/2, π/2]; undefined for shapes
                                                    with equal second moments (a square)
    scale = √m                                       proportional to the shape's linear size

The two-sample KS statistic is D = sup_t |F_a(t) − F_b(t)| with F the empirical CDFs (ties are
handled by evaluating both CDFs at every sample point, right-continuous).

A small D alone does not show that resampling works: a "resampler" that returns every image
unchanged has D = 0. The mobility of a latent z in a group (e.g. a shape) says how far resampling
moves each image, relative to two independent images of the group:

    mobility = mean_i |z(resample of x_i) − z(x_i)| / mean_i |z(x_i) − z(x_π(i))|

with π a random permutation of the group's images. It is 0 for the identity, about 1 when each
resample is an independent draw from the group's distribution (what the SGM should give when the
latent varies only by a symmetry of the group), and it can exceed 1 for resamples spread wider
than the data.
"""

import numpy as np

LATENTS = ("x", "y", "orientation", "scale")


def pixel_latents(images) -> dict:
  """Centre of mass, principal-axis orientation and √mass of each image.

  Args:
    images: float `[N, H, W, C]` in [-1, 1] (background -1).

  Returns:
    {"x", "y", "orientation", "scale"}: float64 `[N]` arrays (see the module docstring); images
    with no foreground get NaN.
  """
  images = np.asarray(images, np.float64)
  w = np.clip((images.mean(axis=-1) + 1.0) / 2.0, 0.0, 1.0)  # [N, H, W]
  _, height, width = w.shape
  mass = w.sum(axis=(1, 2))
  safe = np.where(mass > 0, mass, np.nan)
  rows = np.arange(height)[None, :, None] + 0.5
  cols = np.arange(width)[None, None, :] + 0.5
  cx = (w * cols).sum(axis=(1, 2)) / safe
  cy = (w * rows).sum(axis=(1, 2)) / safe
  dx = cols - cx[:, None, None]
  dy = rows - cy[:, None, None]
  mu20 = (w * dx * dx).sum(axis=(1, 2)) / safe
  mu02 = (w * dy * dy).sum(axis=(1, 2)) / safe
  mu11 = (w * dx * dy).sum(axis=(1, 2)) / safe
  # Rows grow downwards, so a counter-clockwise angle on screen has the opposite sign of μ_11.
  orientation = 0.5 * np.arctan2(-2.0 * mu11, mu20 - mu02)
  return {"x": cx / width, "y": cy / height, "orientation": orientation,
          "scale": np.sqrt(np.where(mass > 0, mass, np.nan))}


def ks_statistic(a, b) -> float:
  """Two-sample Kolmogorov–Smirnov statistic D ∈ [0, 1] of 1-D samples `a` `[N]`, `b` `[M]`.

  NaNs are dropped; returns NaN if either sample is empty.
  """
  a = np.sort(np.asarray(a, np.float64)[~np.isnan(a)])
  b = np.sort(np.asarray(b, np.float64)[~np.isnan(b)])
  if a.size == 0 or b.size == 0:
    return float("nan")
  points = np.concatenate([a, b])
  cdf_a = np.searchsorted(a, points, side="right") / a.size
  cdf_b = np.searchsorted(b, points, side="right") / b.size
  return float(np.max(np.abs(cdf_a - cdf_b)))


def latent_ks_by_group(true_latents: dict, true_groups, other_latents: dict,
                       other_groups) -> dict:
  """KS statistics per group (e.g. shape) and latent.

  Args:
    true_latents, other_latents: outputs of `pixel_latents`.
    true_groups, other_groups: int `[N]`, `[M]` group labels of those images.

  Returns:
    {group: {latent: D}} for every group present in both.
  """
  true_groups, other_groups = np.asarray(true_groups), np.asarray(other_groups)
  out = {}
  for g in np.intersect1d(np.unique(true_groups), np.unique(other_groups)):
    out[int(g)] = {name: ks_statistic(true_latents[name][true_groups == g],
                                      other_latents[name][other_groups == g])
                   for name in LATENTS}
  return out


def mobility_by_group(true_latents: dict, resampled_latents: dict, groups, names=("x", "y"),
                      seed: int = 0) -> dict:
  """How far resampling moves each image's latents (see the module docstring), per group.

  Args:
    true_latents, resampled_latents: outputs of `pixel_latents` for N images and their N
      resamples (row i of the second is a resample of image i).
    groups: int `[N]` group labels (e.g. shapes).
    names: which latents.
    seed: for the within-group permutation of the reference pairs.

  Returns:
    {group: {latent: mobility ≥ 0}} (NaN where a group has fewer than 2 measurable images).
  """
  groups = np.asarray(groups)
  rng = np.random.default_rng(seed)
  out = {}
  for g in np.unique(groups):
    members = np.flatnonzero(groups == g)
    partner = rng.permutation(members)
    out[int(g)] = {}
    for name in names:
      moved = np.nanmean(np.abs(resampled_latents[name][members] - true_latents[name][members]))
      spread = np.nanmean(np.abs(true_latents[name][partner] - true_latents[name][members]))
      out[int(g)][name] = float(moved / spread) if members.size > 1 and spread > 0 else float("nan")
  return out
