r"""Quality measures of a trained SGM and this package's bars for them (docs/design.md §11).

Rotation invariance. For each test image x and K angles θ_k = -π + 2π k / K (spread over ±180°),
let x_k = T(x, θ_k) and p_k = prototype(x_k). With d(a, b) = mean-pixel (a - b)²:

    full ratio = mean_{k<l} d(p_k, p_l) / mean_{k<l} d(x_k, x_l)
    axis ratio = mean_{k<l} min(d(p_k, p_l), d(p_k, R_π p_l)) / mean_{k<l} d(x_k, x_l)

(R_π: rotation by 180°). A perfectly invariant q gives prototypes that coincide: ratio ≈ 0 up to
interpolation error; q = identity gives 1. The axis ratio forgives prototypes that agree up to a
half turn (the top/bottom ambiguity of digits like 0, 1, 8).

Both divide by the views' differences, so a q that shrinks (or blurs) its prototypes scores low
whether or not they agree: small blobs differ little in pixels. The relative ratio divides by
what the prototypes themselves would differ by if they turned with the views:

    relative ratio = mean_{k<l} d(p_k, p_l) / mean_{k<l} d(R_k p_0, R_l p_0)

(R_k: the view's rotation, p_0 the prototype of view 0). q = identity gives 1, an invariant q 0,
and a q that shrinks its prototypes and turns them with the views still gives about 1.

Learned spread. For η ~ p(η|x̂) (n samples per test prototype) take the rotation component and
measure, per image, its mean resultant length R̄ and its angular deviation (RMS angle from the
circular mean; `inv_tf.evaluation.circular`), both independent of where the circle is cut; then
average over images. Rotations uniform on the circle give E R̄ ≈ sqrt(π/(4n)) (0.063 at the
n = 200 used here) and a deviation of π/√3 ≈ 1.81 rad; a half circle R̄ ≈ 0.64; an
upright dataset R̄ near 1. `far_mass` is the share of samples more than π/2 from their circular
mean (mass on the opposite side: flips).

Translation leakage (families with tx, ty and rotation). A translation does not turn anything,
so the rotation angle of q's linear part, α(x) = atan2(A₁₀ − A₀₁, A₀₀ + A₁₁) of M(η), η the mode
of q(η|x), should not change when x is moved. For K directions d_k take x_k = x moved by 0.2
(normalised units) along d_k, Δα_k = wrap(α(x_k) − α(x)) and Δφ_k = wrap(φ(x_k) − φ(x)), φ the
polar angle of the ink centroid about the image centre (`transforms.ink_centroid`; x right,
y down). Then

    translation_resultant = mean over images of R̄_k(Δα_k)       1: q ignores where x is
    polar_following       = −Σ Δα Δφ / Σ Δφ²                     0: ignores; 1: q takes the
                                                                  object's polar angle for its
                                                                  orientation

A rotation about the image centre by θ moves the polar angle by −θ (the warp samples input
R(θ) p at output p), so a q that reads orientation off the polar angle answers a move with
Δα = −Δφ: polar_following = 1. Both are computed from q alone.

Rotation equivariance in place. Both ratios above turn the views about the image centre, which
also moves an off-centre object round the centre: a q that reads orientation off the object's
polar angle (the shortcut `polar_following` measures) turns its prototypes back without looking
at the object, and scores well. Turning each object about its own ink centroid c instead,
x_k = T_c(x, φ_k) with matrix T(c) R(φ_k) T(−c), keeps the polar angle, so only a q that reads
the object's orientation follows. With n the object's rotational symmetry order (the turn 2π/n
leaves it unchanged, so its orientation is only defined modulo 2π/n):

    rotation_equivariance = R̄ over images and k of n (α(x_k) − α(x) − φ_k),  φ_k = 2πk/7

α as above, k = 1…6. 1: q turns with the object. Sevenths of a turn because 7 is prime to the
usual orders (1, 2, 3, 4, 6): a q that ignores the turn has errors n φ_k spread evenly over the
circle, R̄ = 1/6 (`ROTATION_EQUIVARIANCE_FLOOR`); so does the polar-angle shortcut.

Ink kept. A q can also lower every ratio above by zooming its prototypes in on a part of the
object: what is cropped cannot differ. Mapping each prototype back, x̃ = T(x̂, η) with q's η,
shows what it kept:

    ink_kept = mean over images of Σ ink(x̃) / Σ ink(x)      ink(·) = max(0, Σ_c (value + 1)) / 2

1 for a q that keeps the whole object in view (up to interpolation), about 1/k² of an object
that fills the view when the prototype zooms in k times. Background −1 images (dark backgrounds).

Iterated prototyping. x̂⁰ = x, x̂^{i+1} = prototype(x̂^i); report mean ‖η^i‖₂ per iteration
(η^i the parameters q inferred for x̂^{i-1}). A consistent q gives ‖η‖ → 0 after the first step.
"""

import math

import numpy as np
import tensorflow as tf

from inv_tf import transforms
from inv_tf.evaluation import circular


def _pairwise_mse(images):
  """images [K, B, H, W, C] → pairwise mean-pixel MSE [B, K, K]."""
  flat = tf.reshape(tf.transpose(images, [1, 0, 2, 3, 4]),
                    [tf.shape(images)[1], tf.shape(images)[0], -1])
  diff = flat[:, :, None, :] - flat[:, None, :, :]
  return tf.reduce_mean(tf.square(diff), axis=-1)


def _rotate(images, angle, order=3):
  """`images` `[B, H, W, C]` turned about the image centre by `angle` (radians: a float, or `[B]`
  for one angle per image)."""
  batch = tf.shape(images)[0]
  eta = tf.broadcast_to(tf.reshape(tf.cast(angle, tf.float32), [-1, 1]), [batch, 1])
  return transforms.transform_images(images, eta, "rotation", order=order)


def _flat(views):
  """`[K, B, H, W, C]` → `[K·B, H, W, C]` (view-major)."""
  return tf.reshape(views, tf.concat([[-1], tf.shape(views)[2:]], 0))


def _rotated_views(images, angles, order=3):
  """`[K, B, H, W, C]`: each of the B images turned by each of the K `angles`, as one warp."""
  x = tf.convert_to_tensor(images, tf.float32)
  k, batch = len(angles), tf.shape(x)[0]
  tiled = _flat(tf.tile(x[None], [k, 1, 1, 1, 1]))
  out = _rotate(tiled, tf.repeat(tf.constant(angles, tf.float32), batch), order)
  return tf.reshape(out, tf.concat([[k], tf.shape(x)], 0))


def rotation_invariance(sgm, images, num_angles: int = 8, batch_size: int = 250) -> dict:
  """Full and axis (flip-tolerant) invariance ratios of the SGM's prototypes.

  Args:
    sgm: an `inv_tf.models.SGM` (or anything with `prototype(x) -> (x_hat, eta)`).
    images: float32 `[N, H, W, C]` in [-1, 1], upright test images.
    num_angles: K views per image, at -π + 2π k / K.
    batch_size: images per call (memory).

  Returns:
    dict with `full_ratio`, `axis_ratio`, `relative_ratio` (floats ≥ 0), `image_mse`,
    `prototype_mse`, `prototype_mse_axis` (means over pairs and images) and `num_images`.
  """
  angles = [-math.pi + 2 * math.pi * k / num_angles for k in range(num_angles)]
  sums = np.zeros(4)
  mask = np.triu(np.ones((num_angles, num_angles)), 1).astype(np.float32)
  count = 0
  for start in range(0, int(images.shape[0]), batch_size):
    x = tf.convert_to_tensor(images[start:start + batch_size], tf.float32)
    views = _rotated_views(x, angles)  # [K, B, ...]
    protos = tf.reshape(sgm.prototype(_flat(views))["x_hat"], tf.shape(views))
    flipped = tf.reshape(_rotate(_flat(protos), math.pi), tf.shape(protos))
    d_img = _pairwise_mse(views).numpy()
    d_proto = _pairwise_mse(protos).numpy()
    # d(p_k, R_π p_l) for all k, l.
    flat_p = tf.reshape(tf.transpose(protos, [1, 0, 2, 3, 4]), [x.shape[0], num_angles, -1])
    flat_f = tf.reshape(tf.transpose(flipped, [1, 0, 2, 3, 4]), [x.shape[0], num_angles, -1])
    d_flip = tf.reduce_mean(tf.square(flat_p[:, :, None] - flat_f[:, None]), -1).numpy()
    d_axis = np.minimum(d_proto, d_flip)
    # The first view's prototype turned as the views are (relative to view 0).
    turned = _rotated_views(protos[0], [a - angles[0] for a in angles])
    d_turned = _pairwise_mse(turned).numpy()
    for i, d in enumerate((d_img, d_proto, d_axis, d_turned)):
      sums[i] += float((d * mask).sum())
    count += x.shape[0] * mask.sum()
  image_mse, proto_mse, axis_mse, turned_mse = sums / count
  return {"full_ratio": proto_mse / image_mse, "axis_ratio": axis_mse / image_mse,
          "relative_ratio": proto_mse / max(turned_mse, 1e-12),
          "image_mse": image_mse, "prototype_mse": proto_mse, "prototype_mse_axis": axis_mse,
          "num_images": int(images.shape[0])}


def rotation_strip(sgm, images, num_angles: int = 8) -> tf.Tensor:
  """For each image: its K rotated views, then their prototypes, as rows of a grid.

  Args:
    images: float32 `[N, H, W, C]` upright images.

  Returns:
    float32 `[2N, K, H, W, C]` in [-1, 1]: row 2i holds the views of image i, row 2i+1 their
    prototypes (for `grids.tile`).
  """
  angles = [-math.pi + 2 * math.pi * k / num_angles for k in range(num_angles)]
  x = tf.convert_to_tensor(images, tf.float32)
  views = _rotated_views(x, angles)  # [K, N, ...]
  protos = tf.reshape(sgm.prototype(_flat(views))["x_hat"], tf.shape(views))
  rows = tf.stack([views, protos], axis=0)  # [2, K, N, ...] → [N, 2, K, ...]
  rows = tf.transpose(rows, tf.concat([[2, 0, 1], tf.range(3, tf.rank(rows))], 0))
  return tf.reshape(rows, tf.concat([[-1, num_angles], tf.shape(x)[1:]], 0))


def rotation_spread(sgm, images, num_samples: int = 200, seed: int = 0,
                    batch_size: int = 100) -> dict:
  """Per-image circular spread of the rotation η ~ p(η|x̂), x̂ the prototype of each image.

  Args:
    sgm: an `inv_tf.models.SGM` whose family has a `rotation` parameter.
    images: float32 `[N, H, W, C]` images.
    num_samples: η samples per image.

  Returns:
    dict of float64 `[N]` arrays: `resultant` — mean resultant length R̄ ∈ [0, 1];
    `deviation` — RMS angle (radians) from the circular mean (≈ 1.81 for a uniform angle);
    `far_mass` — the fraction of samples more than π/2 from their circular mean.
  """
  index = sgm.family.parameters.index("rotation")
  out = {"resultant": [], "deviation": [], "far_mass": []}
  for i, start in enumerate(range(0, int(images.shape[0]), batch_size)):
    x = tf.convert_to_tensor(images[start:start + batch_size], tf.float32)
    x_hat = sgm.prototype(x)["x_hat"]
    eta = sgm.sample_eta(x_hat, num_samples, tf.constant([seed, i], tf.int32))
    rotation = np.transpose(eta[..., index].numpy().astype(np.float64))  # [B, n]
    out["resultant"].append(circular.mean_resultant_length(rotation))
    out["deviation"].append(circular.angular_deviation(rotation))
    away = np.abs(circular.wrap(rotation - circular.circular_mean(rotation)[:, None])) > math.pi / 2
    out["far_mass"].append(away.mean(axis=-1))
  return {k: np.concatenate(v).astype(np.float64) for k, v in out.items()}


def spread_by_label(spread: dict, labels) -> dict:
  """{label: {"n", "resultant", "deviation", "far_mass"}}: `rotation_spread`'s means per label."""
  labels = np.asarray(labels)
  return {int(k): {"n": int((labels == k).sum()),
                   **{name: float(spread[name][labels == k].mean())
                      for name in ("resultant", "deviation", "far_mass")}}
          for k in np.unique(labels)}


def q_rotation_angle(sgm, images) -> np.ndarray:
  """Radians `[B]`: the rotation angle of the linear part of M(η), η = prototype(images)'s."""
  m = transforms.affine_matrix(sgm.prototype(images)["eta"], sgm.family).numpy()
  return np.arctan2(m[:, 1, 0] - m[:, 0, 1], m[:, 0, 0] + m[:, 1, 1])


def polar_angle(images) -> np.ndarray:
  """Radians `[B]`: the polar angle of the ink centroid about the image centre (x right, y down)."""
  centre = transforms.ink_centroid(images).numpy()
  return np.arctan2(centre[:, 1], centre[:, 0])


def translation_leakage(sgm, images, shift: float = 0.2, num_directions: int = 8) -> dict:
  """How much q's rotation follows where the object is (module docstring).

  Args:
    sgm: an SGM whose family has tx, ty and rotation.
    images: float32 `[N, H, W, C]` in [-1, 1] (background −1).
    shift: the length of each move, normalised units (the image spans [-1, 1]).
    num_directions: K moves per image, at angles 2πk/K.

  Returns:
    {"translation_resultant": float in [0, 1], "polar_following": float (0 ignores, 1 follows)}.
  """
  x = tf.convert_to_tensor(images, tf.float32)
  n = int(x.shape[0])
  angle, polar = q_rotation_angle(sgm, x), polar_angle(x)
  # All K moves of all images as one batch, direction-major: row k·n + i is image i moved along
  # direction k.
  directions = 2 * math.pi * np.arange(num_directions) / num_directions
  move = np.zeros((num_directions, n, sgm.family.dim), np.float32)
  move[..., 0] = (shift * np.cos(directions))[:, None]
  move[..., 1] = (shift * np.sin(directions))[:, None]
  moved = transforms.transform_images(_flat(tf.tile(x[None], [num_directions, 1, 1, 1, 1])),
                                      move.reshape(-1, sgm.family.dim), sgm.family, order=1)
  d_angle = circular.wrap(q_rotation_angle(sgm, moved).reshape(num_directions, n) - angle).T
  d_polar = circular.wrap(polar_angle(moved).reshape(num_directions, n) - polar).T
  return {"translation_resultant": float(circular.mean_resultant_length(d_angle).mean()),
          "polar_following": float(-(d_angle * d_polar).sum() / max((d_polar ** 2).sum(), 1e-12))}


EQUIVARIANCE_TURNS = tuple(2 * math.pi * k / 7 for k in range(1, 7))
ROTATION_EQUIVARIANCE_FLOOR = 1.0 / 6.0


def turn_in_place(images, angle) -> tf.Tensor:
  """Each image's content turned by `angle` about its ink centroid (one bilinear warp).

  Args:
    images: float32 `[B, H, W, C]` in [-1, 1] (background −1).
    angle: radians, a float or float `[B]` (one per image); the content turns as
      `transforms.transform_images(…, "rotation")` turns it, so a q that follows answers
      α + angle.

  Returns:
    float32 `[B, H, W, C]`; the ink centroid stays where it was (up to resampling).
  """
  x = tf.convert_to_tensor(images, tf.float32)
  n = int(x.shape[0])
  eta = np.zeros((n, 5), np.float32)
  eta[:, 2] = angle
  rotation = transforms.affine_matrix(eta, "affine_no_shear").numpy()
  c = transforms.ink_centroid(x).numpy()
  to_c = np.tile(np.eye(3, dtype=np.float32), (n, 1, 1))   # T(c): output p samples input p + c
  from_c = to_c.copy()
  to_c[:, :2, 2], from_c[:, :2, 2] = c, -c
  return transforms.warp(x, tf.constant(to_c @ rotation @ from_c), order=1)


def rotation_equivariance(angle_fn, images, order: int = 1, in_place: bool = True) -> float:
  """R̄ of order·(α(turned) − α(x) − φ) over images and `EQUIVARIANCE_TURNS` (module docs).

  Args:
    angle_fn: images `[B, H, W, C]` → radians `[B]`, e.g. `lambda x: q_rotation_angle(sgm, x)`.
    images: float32 `[N, H, W, C]` in [-1, 1], objects of one symmetry order.
    order: n ≥ 1, the objects' rotational symmetry order (1: no symmetry).
    in_place: turn each object about its ink centroid (`turn_in_place`); False turns about the
      image centre, as the invariance ratios do (which the polar-angle shortcut passes).

  Returns:
    float in [0, 1]: 1 when α turns with the objects, `ROTATION_EQUIVARIANCE_FLOOR` (1/6) when it
    ignores the turn.
  """
  if int(order) < 1:
    raise ValueError(f"order: must be an integer >= 1, got {order}")
  turn = turn_in_place if in_place else (lambda x, phi: _rotate(x, phi, order=1))
  x = tf.convert_to_tensor(images, tf.float32)
  base = np.asarray(angle_fn(x), np.float64)
  # Every turn of every image as one batch, turn-major.
  phis = np.repeat(np.asarray(EQUIVARIANCE_TURNS, np.float32), int(x.shape[0]))
  turned = np.asarray(angle_fn(turn(_flat(tf.tile(x[None], [len(EQUIVARIANCE_TURNS), 1, 1, 1, 1])),
                                    phis)), np.float64)
  errors = int(order) * (turned.reshape(len(EQUIVARIANCE_TURNS), -1) - base
                         - np.asarray(EQUIVARIANCE_TURNS)[:, None])
  return float(circular.mean_resultant_length(errors.reshape(-1)))


def ink_kept(sgm, images, batch_size: int = 250) -> float:
  """The `ink_kept` measure of the module docstring, a float ≥ 0 (≈ 1 when nothing is cropped).

  Args:
    sgm: anything with `prototype(x) -> {"x_hat", "eta"}` and `family`.
    images: float32 `[N, H, W, C]` in [-1, 1], background −1.
  """
  shares = []
  for start in range(0, int(images.shape[0]), batch_size):
    x = tf.convert_to_tensor(images[start:start + batch_size], tf.float32)
    proto = sgm.prototype(x)
    back = transforms.transform_images(proto["x_hat"], proto["eta"], sgm.family, order=1)
    ink = lambda v: tf.reduce_sum(tf.nn.relu(tf.reduce_sum(v + 1.0, axis=-1)), axis=[1, 2]) / 2
    shares.append((ink(back) / tf.maximum(ink(x), 1e-6)).numpy())
  return float(np.mean(np.concatenate(shares)))


def iterated_prototype_norms(sgm, images, iterations: int = 5) -> list:
  """Mean ‖η‖₂ that q infers at each re-application of prototype() (length `iterations`)."""
  x = tf.convert_to_tensor(images, tf.float32)
  norms = []
  for _ in range(iterations):
    proto = sgm.prototype(x)
    x, eta = proto["x_hat"], proto["eta"]
    norms.append(float(tf.reduce_mean(tf.norm(eta, axis=-1))))
  return norms


def sgm_quality(sgm, images, num_angles: int = 8, num_samples: int = 200,
                iterations: int = 5, labels=None, with_p: bool = True) -> dict:
  """Every quality bar of the SGM issue on `images` (upright test images `[N, H, W, C]`).

  Args:
    labels: optional int `[N]` class labels; adds the rotation spread per label.
    with_p: False leaves out the measures of p(η|x̂) (the rotation spread), e.g. for a run
      whose stage 2 has not trained.

  Returns:
    dict: `full_ratio`, `axis_ratio` (rotation invariance; `rotation` families only),
    `rotation_resultant` (mean R̄), `rotation_deviation` (radians), `rotation_far_mass`,
    `rotation_spread_by_label` (with labels),
    `translation_resultant`, `polar_following`, `rotation_equivariance` (order 1; families
    with tx, ty and rotation),
    `ink_kept` (≈ 1 when prototypes keep the whole object),
    `iterated_eta_norms` (list), `iterated_eta_norm_last`.
  """
  out = {}
  if "rotation" in sgm.family.parameters:
    out.update(rotation_invariance(sgm, images, num_angles))
  if {"tx", "ty", "rotation"} <= set(sgm.family.parameters):
    out.update(translation_leakage(sgm, images))
    out["rotation_equivariance"] = rotation_equivariance(
        lambda x: q_rotation_angle(sgm, x), images)
  if "rotation" in sgm.family.parameters and with_p:
    spread = rotation_spread(sgm, images, num_samples)
    for name in ("resultant", "deviation", "far_mass"):
      out[f"rotation_{name}"] = float(spread[name].mean())
    if labels is not None:
      out["rotation_spread_by_label"] = spread_by_label(spread, labels)
  out["ink_kept"] = ink_kept(sgm, images)
  norms = iterated_prototype_norms(sgm, images, iterations)
  out["iterated_eta_norms"] = norms
  out["iterated_eta_norm_last"] = norms[-1]
  return out
