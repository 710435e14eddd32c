r"""The SGM's training objectives: the paper's two learning stages (docs/design.md §4, §6).

Stage 1 — self-supervised inference (q(η|x) only). For each image x (blurred by the curriculum)
and each of its n = `n_samples` copies k:

    η_r1, η_r2 ~ U(o - m b, o + m b)        (η_r2 = 0 if not `symmetrized_loss`; m: aug. warm-up)
    x_r1 = T(x, η_r1),  x_r2 = T(x, η_r2)
    η_q1 ~ q(η|x_r1),   η_q2 ~ q(η|x_r2)    (reparameterised: gradients reach q)
    x'   = warp(x, M(η_r1) M(η_q1)⁻¹ M(η_q2) M(η_r2)⁻¹)       ONE interpolation
    mse  = mean_pixels (x - x')²
    inv  = mean_pixels (x_r1 - T(T(x_r1, η_q1), η_q1)⁻¹)²     (two interpolations)

The composite reads "augment by η_r1, canonicalise view 1 (its prototype), re-apply view 2's
pose, undo augmentation 2": x' = x exactly when both views have the same prototype, so the loss
asks every transformed copy of x to share one prototype while interpolating only once. `inv`
penalises η that destroy information (content pushed out of the frame, strong down-scaling).

    anchor = 1 − ½ [cos(θ_q1 − θ_r1) + cos(θ_q2 − θ_r2)]       (θ: the rotation components)

    x̂_k   = warp(x, M(η_r1) M(η̃_q1)⁻¹)    η̃_q1 = η_q1 with every component but the rotation
                                          stop-gradiented
    align = mean_pixels (x̂_k − sg[mean_{batch} x̂])²

    L₁ = mean_{images, k} [ x_mse_mult · mse + inv_mult · inv + anchor_mult · anchor
                            + align_mult · align ]

The anchor (not in the paper; `anchor_mult` = 0 turns it off) fixes which frame the prototypes
are in. The loss above only asks all views of x to share one prototype, so any orientation of it
will do; with q invariant, θ_q(T(x, θ_r)) − θ_r is the rotation q gives x itself, and the anchor
prefers prototypes in the data's own orientation. Upright data then gets upright prototypes (so p
has no offset to learn per shape); on data rotated uniformly every frame costs the same and the
anchor does not pick one.

The alignment term (not in the paper; `align_mult` = 0 turns it off) picks the frame without
looking at the data's orientation: it pulls every prototype's rotation towards the frame in which
it best matches the batch's mean prototype (congealing, Learned-Miller 2006). Upright data keeps
one frame per class, so the η that q gives the instances of an upright class agree and p(η|x̂) can
be narrow without reading each prototype's own tilt; on rotated data it only makes the prototypes
of a class share an orientation, which invariance leaves free. Only the rotation receives its
gradient: through scale or translation the same variance would fall by shrinking or moving the
content out of the frame.

Stage 2 — maximum likelihood for p(η|x̂) with q frozen. For each image and each of its n =
`generative_n_samples` copies k:

    η_k ~ q(η|x)                                   the target (sampled from q on the clean image)
    η_rk ~ U(o - m b, o + m b),  η_pk ~ q(η | T(x, η_rk))     (m = `generative_augment_range`)
    x̂_k = warp(x, M(η_rk) M(η_pk)⁻¹)             the prototype from a randomly augmented copy
    ℓ_k = log p(η_k | x̂_k)                        (dropout active)

    L₂ = mean_images [ -(1/n) Σ_k ℓ_k + c · (1/n²) Σ_{k,l} |ℓ_k - ℓ_l| ]     (c = consistency_mult)

Using prototypes of randomly augmented copies makes p robust to q's residual errors; the pairwise
term asks those differently-obtained prototypes to give the same likelihood.

Round-trip targets (`generative_target=round_trip`, not in the paper). Where q is not exactly
equivariant, x̂_k keeps a residual pose e_k (for a rotation, e = θ_q(R_φ x) − φ − θ_q(x)) while
the target η_k does not move with it, so the pair (x̂_k, η_k) is not a sample of the generative
model x = T(x̂, η): p learns e's spread as if it were the data's. The round-trip target is the η
that maps this prototype back onto x exactly,

    η_k = log( M(η_pk) M(η_rk)⁻¹ )      so that warp(x̂_k, M(η_k)) = x     (`affine_log`)

It equals q's pose of x when q is exactly equivariant (M(η_pk) = M(η_q(x)) M(η_rk)), so it
changes only what q's error does: the error moves prototype and target together.

The matrix logarithm is ill-conditioned where the product is near a half turn with unequal
scales. `generative_target=round_trip_rotation` moves only the rotation: the target is q's sample
η_k with its angle θ_k replaced by

    θ_k + δ_k,   δ_k = ∠( A(M(η_pk) M(η_rk)⁻¹) A(M(η_k))⁻¹ )     (wrapped to (−π, π])

where A(·) is a matrix's 2×2 linear part and ∠A = atan2(A₁₀ − A₀₁, A₀₀ + A₁₁) is the angle of
the rotation nearest to A (its polar factor's angle, defined for every A with positive
determinant). δ_k is q's rotation error on copy k (0 for an equivariant q); translation and
scales stay q's, so no logarithm is taken and the target is always finite.

Half-turn fold (`generative_fold=half_turn`, not in the paper). A prototype that is its own
half turn, x̂ ≈ R_π x̂ (a 0, 1 or 8 drawn straight), is explained equally well by η and by
η ∘ R_π, since T(x̂, η) ≈ T(R_π x̂, η). A q that is invariant cannot say which end of such a
prototype is up, and on real digits its frames split between the two (results/README.md), so
the targets of an upright class pile up at θ ≈ 0 and θ ≈ ±π and p, reading a prototype whose
two ends look alike, learns both: it turns upright 1s upside down. The fold keeps one of the
two: with x̂_η = warp(x, M(η)⁻¹) the target's own prototype,

    η ← log( M(η) R_π )   where  a(x̂_η) ≤ τ  and it turns less,  |θ(log(M(η) R_π))| < |θ(η)|

with a = `transforms.half_turn_asymmetry` and τ = `generative_fold_threshold`. M(η) R_π =
[[−A, t], [0, 1]] for M(η) = [[A, t], [0, 1]] (R_π is −I about the centre); its logarithm is
exact for a similarity and the family's nearest element otherwise (`transforms.affine_log`).
Prototypes without the symmetry keep q's target, so fully rotated asymmetric digits are
unchanged.

All functions take images `[B, H, W, C]` float32 in [-1, 1] and a stateless seed `[2]` int32 and
return (scalar loss, dict of scalar float32 metrics). Copies are laid out image-major: row
b·n + k of the `[n·B, …]` tensors is copy k of image b.
"""

import tensorflow as tf

from inv_tf import transforms
from inv_tf.config import Config


def _uniform_eta(shape, seed, config: Config, mult) -> tf.Tensor:
  """η ~ U(o - mult·b, o + mult·b), float32 `[*shape[:-1], D]`."""
  bounds = tf.constant(config.resolved_bounds, tf.float32) * mult
  offset = tf.constant(config.resolved_offset, tf.float32)
  unit = tf.random.stateless_uniform(shape, seed, minval=-1.0, maxval=1.0)
  return offset + bounds * unit


def _per_image_mse(a, b):
  return tf.reduce_mean(tf.square(a - b), axis=[1, 2, 3])


def masked_mean(values, mask):
  """Mean of `values` [N] weighted by `mask` [N] (None = all ones); 0 if the mask is all 0."""
  if mask is None:
    return tf.reduce_mean(values)
  mask = tf.cast(mask, values.dtype)
  return tf.math.divide_no_nan(tf.reduce_sum(values * mask), tf.reduce_sum(mask))


def _alignment(copies, r1, eta_q1, config: Config, copy_mask):
  """Per-copy `align` float32 `[N]` (module docstring): the squared distance of each prototype
  to the batch's (mask-weighted) mean prototype, with gradients reaching only q's rotation."""
  r = transforms.get_family(config.family).parameters.index("rotation")
  keep = tf.one_hot(r, config.event_dim, dtype=eta_q1.dtype)
  eta = keep * eta_q1 + (1.0 - keep) * tf.stop_gradient(eta_q1)
  q1 = transforms.Transform.from_eta(eta, config.family)
  protos = transforms.compose(r1, q1.inverse()).apply(copies, order=config.interpolation_order)
  weights = tf.ones_like(protos[:, 0, 0, 0]) if copy_mask is None else tf.cast(copy_mask,
                                                                                protos.dtype)
  mean = tf.math.divide_no_nan(tf.einsum("n,nhwc->hwc", weights, protos), tf.reduce_sum(weights))
  return _per_image_mse(protos, tf.stop_gradient(mean)[None])


def stage1_loss(inference, images, seed, config: Config, blur_sigma=0.0, augment_mult=1.0,
                training=True, mask=None):
  """L₁ (see module docstring).

  Args:
    inference: the `InferenceNet` q(η|x).
    images: float32 `[B, H, W, C]` in [-1, 1].
    seed: int32 `[2]` stateless seed.
    config: the run's `Config` (family, bounds, offset, n_samples, loss multipliers, order).
    blur_sigma: scalar ≥ 0, curriculum blur in pixels (0 = none).
    augment_mult: scalar in [0, 1], the augmentation-range multiplier m.
    training: passed to q.
    mask: optional float `[B]` example weights (1 real, 0 padding); averages are mask-weighted.

  Returns:
    (loss, metrics) with metrics `loss`, `x_mse`, `inv_mse`, `anchor`, `align`, `eta_abs_mean`
    (mean |η_q|).
  """
  family, order, n = config.family, config.interpolation_order, config.n_samples
  dim = config.event_dim
  images = transforms.gaussian_blur(images, blur_sigma, config.blur_filter_size)
  copies = tf.repeat(images, n, axis=0)
  count = tf.shape(copies)[0]
  # Copy m is image m // n: the warps read the B source images by index (their tables are built
  # once per image), and the augmentations, which no gradient passes through, use the
  # forward-only warp.
  source = tf.repeat(tf.range(tf.shape(images)[0]), n)
  seeds = tf.random.experimental.stateless_split(seed, 3)
  eta_r1 = _uniform_eta([count, dim], seeds[0], config, augment_mult)
  if config.symmetrized_loss:
    eta_r2 = _uniform_eta([count, dim], seeds[1], config, augment_mult)
  else:
    eta_r2 = tf.zeros_like(eta_r1)
  r1 = transforms.Transform.from_eta(eta_r1, family)
  r2 = transforms.Transform.from_eta(eta_r2, family)
  x_r1 = r1.apply(images, order=order, image_index=source, differentiable=False)
  x_r2 = (r2.apply(images, order=order, image_index=source, differentiable=False)
          if config.symmetrized_loss else copies)
  eta_q = inference(tf.concat([x_r1, x_r2], axis=0), training=training).sample(seed=seeds[2])
  eta_q1, eta_q2 = tf.split(eta_q, 2, axis=0)
  q1 = transforms.Transform.from_eta(eta_q1, family)
  q2 = transforms.Transform.from_eta(eta_q2, family)
  composite = transforms.compose(r1, q1.inverse(), q2, r2.inverse())
  x_mse = _per_image_mse(copies, composite.apply(images, order=order, image_index=source))
  loss = config.x_mse_mult * x_mse
  if config.inv_mult > 0:
    round_trip = q1.inverse().apply(q1.apply(x_r1, order=order), order=order)
    inv_mse = _per_image_mse(x_r1, round_trip)
    loss = loss + config.inv_mult * inv_mse
  else:
    inv_mse = tf.zeros_like(x_mse)
  anchor = tf.zeros_like(x_mse)
  if config.anchor_mult > 0:
    r = transforms.get_family(family).parameters.index("rotation")
    anchor = 1.0 - 0.5 * (tf.cos(eta_q1[:, r] - eta_r1[:, r]) + tf.cos(eta_q2[:, r] - eta_r2[:, r]))
    loss = loss + config.anchor_mult * anchor
  copy_mask = None if mask is None else tf.repeat(mask, n, axis=0)
  align = tf.zeros_like(x_mse)
  if config.align_mult > 0:
    align = _alignment(copies, r1, eta_q1, config, copy_mask)
    loss = loss + config.align_mult * align
  loss = masked_mean(loss, copy_mask)
  return loss, {
      "loss": loss,
      "x_mse": masked_mean(x_mse, copy_mask),
      "inv_mse": masked_mean(inv_mse, copy_mask),
      "anchor": masked_mean(anchor, copy_mask),
      "align": masked_mean(align, copy_mask),
      "eta_abs_mean": masked_mean(tf.reduce_mean(tf.abs(eta_q1), axis=-1), copy_mask),
  }


def prototypes_from_augmented(inference, images, seed, config: Config, mult, copies: int = 1,
                              with_round_trip: bool = False):
  """x̂ = warp(x, M(η_r) M(η_p)⁻¹) with η_r ~ U(o ± mult·b), η_p ~ q(η|T(x, η_r)).

  With k = `copies` > 1 the result equals (up to float rounding) that of k = 1 on
  `tf.repeat(images, k, axis=0)`, with the same random draws, but both warps read the N source
  images directly (`image_index`): nothing is repeated and the warps' spline table is built from
  N images, not k·N. Values only: the result is stop-gradiented (no gradient reaches the images,
  q or the warps, which use their forward-only form).

  Args:
    inference: q(η|x), evaluated with training=False.
    images: float32 `[N, H, W, C]` in [-1, 1].
    seed: int32 `[2]`.
    mult: scalar ≥ 0 multiplying the bounds.
    copies: k ≥ 1 augmented copies per image (a Python int).

    with_round_trip: also return the round trip's matrix (module docstring).

  Returns:
    float32 `[k·N, H, W, C]` prototypes (one interpolation from x), image-major: row n·k + j is
    copy j of image n; with `with_round_trip`, (prototypes, M(η_p) M(η_r)⁻¹ `[k·N, 3, 3]`
    float32, the affine matrix with warp(x̂, M) = x, stop-gradiented).
  """
  seeds = tf.random.experimental.stateless_split(seed, 2)
  count = tf.shape(images)[0] * copies
  image_index = None if copies == 1 else tf.repeat(tf.range(tf.shape(images)[0]), copies)
  eta_r = _uniform_eta([count, config.event_dim], seeds[0], config, mult)
  r = transforms.Transform.from_eta(eta_r, config.family)
  x_r = r.apply(images, order=config.interpolation_order, image_index=image_index,
                differentiable=False)
  eta_p = inference(x_r, training=False).sample(seed=seeds[1])
  p = transforms.Transform.from_eta(eta_p, config.family)
  x_hat = r.then(p.inverse()).apply(images, order=config.interpolation_order,
                                    image_index=image_index, differentiable=False)
  if not with_round_trip:
    return x_hat
  return x_hat, tf.stop_gradient(p.then(r.inverse()).matrix)


def _nearest_rotation_angle(a):
  """∠A = atan2(A₁₀ − A₀₁, A₀₀ + A₁₁) of float `[..., 2, 2]`: the angle of A's polar factor."""
  return tf.atan2(a[..., 1, 0] - a[..., 0, 1], a[..., 0, 0] + a[..., 1, 1])


def round_trip_rotation_target(eta_q, back, family):
  """q's target with its rotation moved by q's error on the copy (module docstring).

  Args:
    eta_q: float32 `[M, D]`, q's samples for the clean images (the paper's targets).
    back: float32 `[M, 3, 3]`, the round trip M(η_p) M(η_r)⁻¹ of the same rows.
    family: an affine family with a rotation parameter (name or `Family`).

  Returns:
    float32 `[M, D]`: `eta_q` with the rotation θ + δ wrapped to (−π, π]; other entries unchanged.
  """
  fam = transforms.get_family(family)
  index = fam.parameters.index("rotation")
  residual = tf.matmul(back, transforms.Transform.from_eta(eta_q, fam).inverse().matrix)
  delta = _nearest_rotation_angle(residual[:, :2, :2])
  theta = eta_q[:, index] + delta
  theta = tf.atan2(tf.sin(theta), tf.cos(theta))
  keep = tf.one_hot(index, fam.dim, dtype=eta_q.dtype)
  return eta_q + keep * (theta - eta_q[:, index])[:, None]


def half_turn_fold(images, targets, config: Config, image_index=None):
  """Stage-2 targets with the half turn folded out where the prototype allows (module docstring).

  Args:
    images: float32 `[N, H, W, C]` in [-1, 1], the clean images the targets are poses of.
    targets: float32 `[M, D]` poses in `config.family` (which has a rotation); row m is a pose of
      image `image_index[m]` (of image m when `image_index` is None, M = N).
    config: the run's `Config` (`family`, `generative_fold_threshold`, `interpolation_order`).
    image_index: optional int32 `[M]` in [0, N).

  Returns:
    (folded float32 `[M, D]` — colour entries unchanged, the rotation of a folded row in
    [−π, π] — and a float32 `[M]` in {0, 1}, 1 where the row was folded). Values only: no
    gradient flows.
  """
  fam = transforms.get_family(config.family)
  index = fam.parameters.index("rotation")
  pose = transforms.Transform.from_eta(targets, fam)
  prototypes = pose.inverse().apply(images, order=config.interpolation_order,
                                    image_index=image_index, differentiable=False)
  symmetric = transforms.half_turn_asymmetry(prototypes) <= config.generative_fold_threshold
  turned = pose.matrix * tf.constant([-1.0, -1.0, 1.0])  # M R_π: the 2×2 part's columns negated
  folded = transforms.affine_log(turned, fam)
  if fam.has_colour:
    folded = tf.concat([folded[:, :fam.num_affine], targets[:, fam.num_affine:]], axis=-1)
  fold = tf.logical_and(symmetric, tf.abs(folded[:, index]) < tf.abs(targets[:, index]))
  out = tf.where(fold[:, None], folded, targets)
  return tf.stop_gradient(out), tf.cast(fold, tf.float32)


def stage2_loss(inference, generative, images, seed, config: Config, training=True, mask=None):
  """L₂ (see module docstring).

  Args:
    inference: the frozen `InferenceNet` q(η|x) (evaluated with training=False).
    generative: the `GenerativeNet` p(η|x̂).
    images: float32 `[B, H, W, C]` in [-1, 1].
    seed: int32 `[2]`.
    config: the run's `Config`.
    training: dropout in p.
    mask: optional float `[B]` example weights (1 real, 0 padding).

  Returns:
    (loss, metrics) with metrics `loss`, `log_p` (mean log p(η|x̂)), `consistency` (the pairwise
    consistency term) and, with `generative_fold=half_turn`, `folded` (the share of targets
    folded, in [0, 1]).
  """
  n = config.generative_n_samples
  batch = tf.shape(images)[0]
  seeds = tf.random.experimental.stateless_split(seed, 2)
  if config.generative_target != "round_trip":
    targets = inference(images, training=False).sample(n, seed=seeds[0])  # [n, B, D]
    targets = tf.reshape(tf.transpose(targets, [1, 0, 2]), [batch * n, config.event_dim])
  if config.generative_target == "q_of_x":
    x_hat = prototypes_from_augmented(inference, images, seeds[1], config,
                                      config.generative_augment_range, copies=n)
  else:
    x_hat, back = prototypes_from_augmented(inference, images, seeds[1], config,
                                            config.generative_augment_range, copies=n,
                                            with_round_trip=True)
    if config.generative_target == "round_trip":
      targets = transforms.affine_log(back, config.family)
    else:
      targets = round_trip_rotation_target(targets, back, config.family)
  extra = {}
  if config.generative_fold == "half_turn":
    targets, folded = half_turn_fold(images, targets, config,
                                     image_index=tf.repeat(tf.range(batch), n))
    extra["folded"] = masked_mean(tf.reduce_mean(tf.reshape(folded, [batch, n]), axis=1), mask)
  x_hat, targets = tf.stop_gradient(x_hat), tf.stop_gradient(targets)
  log_p = generative(x_hat, training=training).log_prob(targets)
  log_p = tf.reshape(log_p, [batch, n])
  # Consistency: mean |log p_k − log p_l| over pairs of copies of one image.
  consistency = tf.reduce_mean(tf.abs(log_p[:, :, None] - log_p[:, None, :]), axis=[1, 2])
  loss = masked_mean(-tf.reduce_mean(log_p, axis=1) + config.consistency_mult * consistency, mask)
  return loss, {"loss": loss, "log_p": masked_mean(tf.reduce_mean(log_p, axis=1), mask),
                "consistency": masked_mean(consistency, mask), **extra}
