r"""Truth recovery: does p(η|x̂) reproduce each class's real transformation distribution?

On a known-truth dataset (`inv_tf.data.truth_for`) every example x = T(x₀, η*) is an upright
original x₀ transformed by a known η*, drawn from its class's distribution P_c. The SGM resamples
x as x' = T(x, η_q)⁻¹ then T(·, η') with η_q the mode of q(η|x) and η' ~ p(η|x̂). With M(η) the
3×3 matrix of η (`inv_tf.transforms.affine_matrix`; applying A then B is one warp by M_A·M_B),
the true pose of the resample relative to x₀ is

    P' = M(η*) · M(η_q)⁻¹ · M(η')                                            (1)

and its pose parameters are read off the matrix:

    tx = P'[0, 2],  ty = P'[1, 2],  rotation = atan2(P'[1,0] − P'[0,1], P'[0,0] + P'[1,1])
    log_scale_x = ln ‖P'[:2, 0]‖,   log_scale_y = ln ‖P'[:2, 1]‖                (2)

(exact for η with one non-zero component; the rotation is the polar factor's angle otherwise).
P_c's reference sample goes through (2) as well, so the model and the truth are measured alike.

The whole orbit, per image. For each test image i, n resamples give n poses. Their distribution
is compared with P_c (a reference sample of size m) per component: the circular Wasserstein-1
and Kuiper's statistic for the rotation, W1 and KS for translations and log-scales
(`inv_tf.evaluation.circular`). Per class the per-image values are averaged. Pooling all the
resamples of a class instead would be fooled: a model that returns its input reproduces the
class's marginal exactly. Per image it scores the distance from a point mass (its own pose) to
P_c. Two baselines are measured the same way on every class:

    identity   every resample is the input (n copies of η*_i)        — what a useless p scores
    oracle     n fresh draws from P_c                               — the finite-sample floor

and `recovery = (identity − model) / (identity − oracle)` (1: as good as sampling the truth; 0:
no better than returning the input; < 0: worse) where identity − oracle > 0.01 (the class varies
in that component); NaN otherwise (e.g. upright classes, where the identity is the truth).

Stray resamples. A resample whose pose is non-finite, whose centre moved more than
STRAY_TRANSLATION = 2 (the canvas spans [−1, 1]: the content left the image) or whose log-scale
exceeds STRAY_LOG_SCALE = ln 4 in either axis is counted as a stray, per class ("stray_fraction")
and over all classes. Strays are not dropped from the finite measures (an absurd but finite pose
weighs on W1 as it should); only non-finite poses and rotations are left out of the distances.
A flow whose samples occasionally explode (e.g. spline tails with a vanishing boundary slope)
shows here rather than as an unexplained W1 of 10¹⁸.

The spread of p itself, per image: R̄ and the angular deviation of the n rotation samples η'
(not of the poses), against the truth's analytic R̄ and the deviation of its reference sample.

The rotation seen in the pixels. (1) counts a resample turned by a half turn as turned, even when
the object is its own half turn (a 1, a 0, an 8 are nearly so) and the resample looks exactly like
the data; and p, which sees only x̂, cannot tell such a prototype's two ends apart. So the spread
is also measured from the images, as a viewer would: with x the test image and x' a resample, both
are moved so their ink centroid is at the centre and scaled so their ink's RMS radius is
VISIBLE_RADIUS (`normalise_pose`); then

    α(x, x') = argmin_φ  mean-pixel (R_φ x − x')²                                   (3)

over VISIBLE_ANGLES turns φ = 2πk/K (refined by a parabola through the best three), R_φ turning
the content as T(·, η) with rotation φ does. For an object without symmetry α is the turn that
separates x' from x (the rotation of (1) minus the test image's own, θ' − θ_q for pure rotations);
for an object that is its own half turn, α and α + π fit alike and the smaller turn is taken
(fits within VISIBLE_TIE of the best, as a share of how much the fit varies over the turns, are
ties), so only a turn that shows is counted. Per image, R̄ and the deviation of the n values of α
("visible_resultant", "visible_deviation", "visible_width_rel_error" against the truth's
deviation), and the circular W1 of the visible poses θ* + α to P_c ("rotation_visible_w1"). A model
that returns its input scores α = 0: R̄ = 1, right for an upright class and a width error of 100 %
on a class that turns. Translation and isotropic scale do not change α; an anisotropic scale
does a little; a resample that left the canvas (a stray) has no ink to align and gives an
arbitrary α.
"""

import math

import numpy as np
import tensorflow as tf

from inv_tf import transforms
from inv_tf.data.known_truth import TRUTH_FAMILY
from inv_tf.evaluation import circular

POSE_NAMES = ("tx", "ty", "rotation", "log_scale_x", "log_scale_y")
VISIBLE_ANGLES = 72  # K turns of (3), 5° apart, before the parabolic refinement
VISIBLE_TIE = 0.01  # fits this close to the best (share of the fit's range over turns) are ties
VISIBLE_RADIUS = 0.35  # ink RMS radius (normalised units) both images are scaled to in (3)
RECOVERY_MIN_GAP = 0.01  # identity − oracle below this: the component does not vary in the class
STRAY_TRANSLATION = 2.0  # |tx| or |ty| beyond this: the content left the [-1, 1] canvas
STRAY_LOG_SCALE = math.log(4.0)  # |log-scale| beyond this: zoomed or shrunk more than 4×


def stray(poses) -> np.ndarray:
  """bool `[...]`: which poses (float `[..., 5]`, `POSE_NAMES` order) are strays (see above)."""
  poses = np.asarray(poses, np.float64)
  with np.errstate(invalid="ignore"):
    plausible = (np.all(np.isfinite(poses), axis=-1)
                 & np.all(np.abs(poses[..., :2]) <= STRAY_TRANSLATION, axis=-1)
                 & np.all(np.abs(poses[..., 3:]) <= STRAY_LOG_SCALE, axis=-1))
  return ~plausible


def pose_from_matrix(matrices) -> np.ndarray:
  """Pose parameters (2) of affine matrices.

  Args:
    matrices: float `[..., 3, 3]`.

  Returns:
    float64 `[..., 5]`: tx, ty (normalised units), rotation (radians in (−π, π]), log_scale_x,
    log_scale_y (natural logs).
  """
  m = np.asarray(matrices, np.float64)
  rotation = np.arctan2(m[..., 1, 0] - m[..., 0, 1], m[..., 0, 0] + m[..., 1, 1])
  return np.stack([m[..., 0, 2], m[..., 1, 2], rotation,
                   np.log(np.hypot(m[..., 0, 0], m[..., 1, 0])),
                   np.log(np.hypot(m[..., 0, 1], m[..., 1, 1]))], axis=-1)


def pose_of_eta(eta, family=TRUTH_FAMILY) -> np.ndarray:
  """Pose parameters of M(η): eta float `[..., D]` of `family` → float64 `[..., 5]`."""
  return pose_from_matrix(transforms.affine_matrix(tf.constant(eta, tf.float32), family).numpy())


def resample_poses(sgm, images, eta_true, num_samples: int = 100, seed: int = 0,
                   batch_size: int = 100) -> dict:
  """True poses (1) of `num_samples` SGM resamples of every image.

  Args:
    sgm: an `inv_tf.models.SGM` whose family has affine parameters.
    images: float32 `[N, H, W, C]` in [-1, 1], the known-truth test images.
    eta_true: float `[N, 5]`, their true affine_no_shear η*.
    num_samples: n resamples per image.
    seed: fixes p's samples.
    batch_size: images per call.

  Returns:
    {"poses": float64 `[N, n, 5]`, "rotation_samples": float64 `[N, n]` the rotation of η'
    (None when the family has no rotation)}.
  """
  family = sgm.family
  if not family.has_affine:
    raise ValueError(f"truth recovery needs an affine family, got {family.name!r}")
  rot_index = family.parameters.index("rotation") if "rotation" in family.parameters else None
  poses, rotations = [], []
  for i, start in enumerate(range(0, int(images.shape[0]), batch_size)):
    x = tf.convert_to_tensor(images[start:start + batch_size], tf.float32)
    proto = sgm.prototype(x)
    x_hat, eta_q = proto["x_hat"], proto["eta"]
    eta_new = sgm.sample_eta(x_hat, num_samples, tf.constant([seed, i], tf.int32))  # [n, B, D]
    m_true = transforms.affine_matrix(
        tf.constant(eta_true[start:start + batch_size], tf.float32), TRUTH_FAMILY)
    m_q = transforms.affine_matrix(eta_q, family)  # colour parameters are ignored
    m_new = transforms.affine_matrix(eta_new, family)
    base = tf.linalg.matmul(m_true, transforms.invert_affine(m_q))  # [B, 3, 3]
    pose = pose_from_matrix(tf.linalg.matmul(base[None], m_new).numpy())  # [n, B, 5]
    poses.append(np.transpose(pose, (1, 0, 2)))
    if rot_index is not None:
      rotations.append(np.transpose(eta_new[..., rot_index].numpy().astype(np.float64)))
  return {"poses": np.concatenate(poses),
          "rotation_samples": np.concatenate(rotations) if rotations else None}


def normalise_pose(images) -> tf.Tensor:
  """Images moved so their ink centroid is at the centre and scaled to ink RMS radius
  `VISIBLE_RADIUS` (one bilinear warp each).

  Args:
    images: float32 `[B, H, W, C]` in [-1, 1], background −1.

  Returns:
    float32 `[B, H, W, C]`.
  """
  x = tf.convert_to_tensor(images, tf.float32)
  centre, radius = transforms.ink_moments(x)
  shrink = tf.maximum(radius, 1e-3) / VISIBLE_RADIUS           # output p samples c + p · r / R
  return transforms.recentre(x, centre, shrink, order=1, differentiable=False)


def visible_rotation(references, images, num_angles: int = VISIBLE_ANGLES) -> np.ndarray:
  """The turn α (3) that best maps each reference onto each of its images, read from pixels.

  Args:
    references: float32 `[B, H, W, C]` in [-1, 1] (background −1), e.g. test images.
    images: float32 `[n, B, H, W, C]`, e.g. n resamples of each reference.
    num_angles: K ≥ 8 turns searched (2π/K apart), then refined by a parabola.

  Returns:
    float64 `[B, n]`, radians in (−π, π]: `images[j, b]` ≈ `references[b]` turned by α[b, j] (as
    `transforms.Transform` turns content by a rotation η), up to centring and isotropic scale.
  """
  if int(num_angles) < 8:
    raise ValueError(f"num_angles: must be >= 8, got {num_angles}")
  refs = normalise_pose(references)
  images = tf.convert_to_tensor(images, tf.float32)
  n, batch = int(images.shape[0]), int(refs.shape[0])
  shape = refs.shape[1:]
  imgs = normalise_pose(tf.reshape(images, (n * batch,) + tuple(shape)))
  step = 2.0 * math.pi / num_angles
  angles = np.arange(num_angles) * step
  eta = np.zeros((num_angles, 5), np.float32)
  eta[:, 2] = angles
  turns = tf.constant(transforms.affine_matrix(eta, TRUTH_FAMILY).numpy())        # [K, 3, 3]
  turned = transforms.warp(refs, tf.tile(turns, [batch, 1, 1]), order=1, differentiable=False,
                           image_index=tf.repeat(tf.range(batch), num_angles))  # [B·K, H, W, C]
  turned = tf.reshape(turned, [batch, num_angles, -1])
  flat = tf.transpose(tf.reshape(imgs, [n, batch, -1]), [1, 0, 2])                # [B, n, P]
  # Mean-pixel squared distance up to the images' own norms, which do not depend on the turn.
  dist = (tf.reduce_sum(tf.square(turned), -1)[:, None, :]
          - 2.0 * tf.einsum("bnp,bkp->bnk", flat, turned))                         # [B, n, K]
  dist = dist.numpy().astype(np.float64)
  # Local minima that fit within VISIBLE_TIE of the best (relative to how much the fit varies
  # with the turn) are ties; of these the smallest turn is taken.
  lowest = dist.min(-1, keepdims=True)
  contrast = np.median(dist, -1, keepdims=True) - lowest
  local = (dist <= np.roll(dist, 1, -1)) & (dist <= np.roll(dist, -1, -1))
  tie = local & (dist <= lowest + VISIBLE_TIE * contrast)
  size = np.abs(np.angle(np.exp(1j * angles)))                                    # |turn| [K]
  best = np.argmin(np.where(tie, size, np.inf), axis=-1)
  take = lambda k: np.take_along_axis(dist, (k % num_angles)[..., None], -1)[..., 0]
  lo, mid, hi = take(best - 1), take(best), take(best + 1)
  curvature = lo - 2.0 * mid + hi
  with np.errstate(divide="ignore", invalid="ignore"):
    shift = np.where(curvature > 0, 0.5 * (lo - hi) / curvature, 0.0)
  alpha = (best + np.clip(shift, -0.5, 0.5)) * step
  return np.angle(np.exp(1j * alpha))


def resample_visible_rotations(sgm, images, num_samples: int = 100, seed: int = 0,
                               batch_size: int = 100) -> np.ndarray:
  """`visible_rotation` of each image's SGM resamples, drawn as `resample_poses` draws them.

  Args, as `resample_poses` (the same seed gives the same η'); returns float64 `[N, n]`.
  """
  out = []
  for i, start in enumerate(range(0, int(images.shape[0]), batch_size)):
    x = tf.convert_to_tensor(images[start:start + batch_size], tf.float32)
    resampled, _ = sgm.resample(x, num_samples, tf.constant([seed, i], tf.int32))
    out.append(visible_rotation(x, resampled))
  return np.concatenate(out)


def _distances(samples, reference, component: int):
  """(W1, KS-type statistic) between `samples` `[n]` and `reference` `[m]` of one component."""
  samples = samples[np.isfinite(samples)]
  if samples.size == 0:
    return float("nan"), float("nan")
  if POSE_NAMES[component] == "rotation":
    return circular.circular_wasserstein1(samples, reference), circular.kuiper(samples, reference)
  return circular.wasserstein1(samples, reference), circular.ks_statistic(samples, reference)


def orbit_recovery(poses, eta_true, labels, truth: dict, rotation_samples=None,
                   reference_size: int = 2000, seed: int = 0, visible_rotations=None) -> dict:
  """Per-class truth recovery of the resamples' poses (see the module docstring).

  Args:
    poses: float `[N, n, 5]` from `resample_poses`.
    eta_true: float `[N, 5]` true η* of the images.
    labels: int `[N]` class labels (keys of `truth`; other labels are skipped).
    truth: {label: `inv_tf.data.known_truth.ClassTruth`}.
    rotation_samples: optional float `[N, n]` rotations of p's η' (spread of p).
    reference_size: m, the size of each class's reference sample.
    seed: for the reference and oracle draws.
    visible_rotations: optional float `[N, n]` α (3) of the resamples (`resample_visible_rotations`).

  Returns:
    {"classes": {label: {"description", "num_images", <pose name>: {"w1", "w1_identity",
    "w1_oracle", "dist", "dist_identity", "dist_oracle", "recovery"}, "resultant",
    "resultant_truth", "deviation", "deviation_truth", "width_rel_error", "stray_fraction", and
    with `visible_rotations` "visible_resultant", "visible_deviation", "visible_width_rel_error",
    "rotation_visible_w1"}},
    plus summaries "stray_fraction" (over all resamples of the scored classes),
    "rotation_w1" (mean over classes), "recovery_min" (min over varying class components),
    "width_rel_error_max" (over classes whose rotation varies), "upright_resultant_min" (over
    classes whose rotation is fixed), and their "visible_" counterparts}. `dist` is Kuiper's V for the rotation and KS otherwise.
  """
  poses = np.asarray(poses, np.float64)
  eta_true = np.asarray(eta_true, np.float64)
  labels = np.asarray(labels)
  rng = np.random.default_rng(seed)
  n = poses.shape[1]
  classes = {}
  for label in sorted(set(np.unique(labels).tolist()) & set(truth)):
    spec = truth[label]
    members = np.flatnonzero(labels == label)
    reference = pose_of_eta(spec.sample(rng, reference_size))
    true_pose = pose_of_eta(eta_true[members])
    oracle = pose_of_eta(spec.sample(rng, members.size * n)).reshape(members.size, n, -1)
    out = {"description": spec.description, "num_images": int(members.size),
           "stray_fraction": float(stray(poses[members]).mean())}
    for c, name in enumerate(POSE_NAMES):
      rows = {"model": [], "identity": [], "oracle": []}
      for j, i in enumerate(members):
        for key, sample in (("model", poses[i, :, c]), ("identity", np.full(n, true_pose[j, c])),
                            ("oracle", oracle[j, :, c])):
          rows[key].append(_distances(sample, reference[:, c], c))
      means = {k: np.nanmean(np.asarray(v), axis=0) for k, v in rows.items()}
      gap = means["identity"][0] - means["oracle"][0]
      out[name] = {
          "w1": float(means["model"][0]), "w1_identity": float(means["identity"][0]),
          "w1_oracle": float(means["oracle"][0]),
          "dist": float(means["model"][1]), "dist_identity": float(means["identity"][1]),
          "dist_oracle": float(means["oracle"][1]),
          "recovery": float((means["identity"][0] - means["model"][0]) / gap)
                      if gap > RECOVERY_MIN_GAP else float("nan")}
    out["resultant_truth"] = float(spec.rotation_resultant())
    out["deviation_truth"] = float(circular.angular_deviation(reference[:, 2]))
    if rotation_samples is not None:
      rot = np.asarray(rotation_samples, np.float64)[members]
      finite = np.all(np.isfinite(rot), axis=-1)  # images with a non-finite draw are left out
      out["resultant"] = float(circular.mean_resultant_length(rot[finite], -1).mean())
      out["deviation"] = float(circular.angular_deviation(rot[finite], -1).mean())
      out["width_rel_error"] = (abs(out["deviation"] - out["deviation_truth"])
                                / out["deviation_truth"]
                                if out["deviation_truth"] > RECOVERY_MIN_GAP else float("nan"))
    if visible_rotations is not None:
      alpha = np.asarray(visible_rotations, np.float64)[members]
      out["visible_resultant"] = float(circular.mean_resultant_length(alpha, -1).mean())
      out["visible_deviation"] = float(circular.angular_deviation(alpha, -1).mean())
      out["visible_width_rel_error"] = (
          abs(out["visible_deviation"] - out["deviation_truth"]) / out["deviation_truth"]
          if out["deviation_truth"] > RECOVERY_MIN_GAP else float("nan"))
      seen = true_pose[:, 2, None] + alpha                           # visible poses θ* + α
      out["rotation_visible_w1"] = float(np.mean(
          [_distances(row, reference[:, 2], 2)[0] for row in seen]))
    classes[int(label)] = out
  scored = np.isin(labels, list(classes))
  return {"classes": classes, **summarise(classes),
          "stray_fraction": float(stray(poses[scored]).mean()) if scored.any() else float("nan")}


def summarise(classes: dict) -> dict:
  """Headline numbers of `orbit_recovery`'s per-class results (NaN when nothing qualifies)."""
  def pick(values):
    values = [v for v in values if v is not None and not math.isnan(v)]
    return values

  recoveries = pick(d[name]["recovery"] for d in classes.values() for name in POSE_NAMES)
  nan = float("nan")
  out = {"rotation_w1": float(np.mean([d["rotation"]["w1"] for d in classes.values()]))
                        if classes else nan,
         "recovery_min": min(recoveries) if recoveries else nan}
  for prefix in ("", "visible_"):
    widths = pick(d.get(prefix + "width_rel_error") for d in classes.values())
    upright = pick(d.get(prefix + "resultant") for d in classes.values()
                   if d["deviation_truth"] <= RECOVERY_MIN_GAP)
    if prefix and not widths and not upright:
      continue
    out[prefix + "width_rel_error_max"] = max(widths) if widths else nan
    out[prefix + "upright_resultant_min"] = min(upright) if upright else nan
  return out
