r"""The transformation inference network q(η|x) (docs/design.md §3).

    h   = MLP(flatten(x))                 Dense → GELU (tanh approximation) → LayerNorm(ε = 1e-6)
    μ   = Dense_0(h)                      kernel and bias initialised to ZERO: q starts at η = o
    σ   = softplus(σ_raw)                 a free vector (not input-dependent), σ = 0.01 at init
    z   ~ N(μ, diag σ²)
    η   = o + b ⊙ z                       (squash_to_bounds = False), or
    η   = o + b ⊙ tanh(z)                 (squash_to_bounds = True; exact log-density)

Circular rotation head (``rotation_index`` set; the paper uses the linear head above). The map
from a rotated copy of x to its rotation has to go once round the circle as the copy turns a full
turn; a continuous network with one unbounded output cannot do that without a jump of 2π
somewhere, and a bounded (tanh) output cannot even reach every angle. The circular head gives the
rotation two outputs (u, v) and reads the angle off their direction:

    θ   = atan2(v, u) ∈ (−π, π]           the (u, v) pair turns once as the image turns once
    μ_r = g⁻¹((θ − o_r) / b_r)            g = identity, or tanh (squash_to_bounds; the argument
                                          is clipped to ±(1 − 1e-4) so g⁻¹ stays finite)

so η_r = o_r + b_r g(z_r) with z_r ~ N(μ_r, σ_r²) as for every other component. The (u, v) head
starts at (1, 0) (kernel zero, bias (1, 0)): θ = 0, q still starts at the identity. θ jumps from
π to −π where (u, v) crosses the negative u axis; a rotation by θ is continuous there, the other
parameters of the matrix exponential's joint algebra element only see a change of 2π in its
rotation generator's coefficient (exact for pure rotations, where expm is 2π-periodic).

Flip-equivariant head (``flip_equivariant=True`` with the circular head). Even a circular head
learns the digit's axis but not its direction: the π-periodic features that give the axis are
the easiest, and once q maps x and its half turn R_π x to one angle, moving a view to the other
branch means crossing a higher loss. The equivariant head builds the half-turn relation in:

    (u, v)(x) = f(x) − f(R_π x),  so  (u, v)(R_π x) = −(u, v)(x)  and  θ(R_π x) = θ(x) + π

exactly, with f = the (u, v) Dense head on the trunk and R_π x the image with both spatial axes
reversed (an exact half turn about the centre, which is where the warp rotates). The trunk runs on
x and R_π x as one batch of 2B. The (u, v) kernel starts small and random (a difference of equal
outputs would be zero), so θ starts at a random angle per image rather than at 0; for images
that are nearly their own half turn (0, 1, 8) (u, v) is small and the direction is, rightly,
arbitrary; for an image that is exactly its own half turn (a blank image) (u, v) = 0 and θ = 0.

Quarter-turn-equivariant head (``quarter_turn_equivariant=True``, which implies the flip head's
relation). The flip head is the two-element case of a construction that works for any cyclic
group of turns the pixel grid maps onto itself; with the four quarter turns R_k = R_{kπ/2} (exact
on a square grid: a transpose and a reversal), f's (u, v) read as the complex number s = u + i v,

    s(x) = Σ_{k=0..3} i^k f(R_{-k} x),  so  s(R_1 x) = i s(x)  and  θ(R_{π/2} x) = θ(x) + π/2

exactly (substitute k → k + 1 in the sum), and hence also θ(R_π x) = θ(x) + π. The trunk runs on
the four views as one batch of 4B. Between the quarter turns θ follows a turn of the image only as
well as the network learns to; the exactly equivariant points bound how far that error can grow.
As for the flip head the (u, v) kernel starts small and random and has no bias (Σ i^k = 0 cancels
it), and an image that is its own quarter turn gives s = 0, read as θ = 0.

Axis-equivariant head (``axis_equivariant=True`` with the circular head; not in the paper). The
flip and quarter-turn heads are exact for a few turns and learned in between. The principal axis
of the ink (`transforms.ink_axis`: angle α, modulo π) turns with the content exactly for every
angle, so the head measures the rotation relative to it:

    x_a     = R_{−α} x                    x turned so that its ink's axis is horizontal
    (u, v)  = f(x_a) − f(R_π x_a)         the flip head of above, on the aligned view
    θ       = α + atan2(v, u)

A turn of x by φ moves α to α + φ or α + φ − π (the axis has no direction); in the first case
x_a is unchanged, in the second it is turned by π, which the flip construction answers with +π,
so θ(R_φ x) = θ(x) + φ for every φ, up to resampling and for ink with a clear axis (anisotropy
well above 0; for nearly round ink α moves with small changes of the pixels). The network's
part atan2(v, u) then only picks the direction along the axis (and any offset from it); its v
column starts at zero, so at initialisation θ lies on the axis, at the end the flip head's
random (u) part points to. α is taken under stop-gradient (its gradient is 0/0 for ink without
an axis). The trunk runs on x (for the other outputs), x_a and R_π x_a as one batch of 3B.

Axis snap (``axis_snap = κ > 0``, circular heads only; not in the paper). A learned head follows a
turn of the image only as well as the network has learned to (its equivariance error is pose
noise in the prototypes that p(η|x̂) cannot read), while the principal axis of the ink
(`transforms.ink_axis`: angle α, anisotropy a) turns with the content exactly, modulo π. The snap
keeps the head's choice of direction and takes the angle from the axis:

    θ_axis = the nearer of α and α + π to θ
    θ'     = θ + sg(w · wrap(θ_axis − θ)),   w = min(1, a / κ)

where sg is stop-gradient (a straight-through estimate: the head trains as without the snap)
and w fades the snap out for ink with no clear axis (a disc, a blank image). The snapped angle
then inherits the axis's exact equivariance wherever the ink is elongated (a ≥ κ) and the head
picks the direction consistently; the head's flips are not corrected.

Centroid translation head (``translation_head="centroid"``; not in the paper). A network that
reads the whole image can take the object's polar angle about the image centre for its
orientation: a rotation about the image centre moves both together, so that shortcut is right for
every rotated copy stage 1 shows it and wrong only for translations (on aug_dsprites it maps the
hearts of the two y-bands to prototypes turned 120° apart, and p then reads the band off the
prototype). The centroid head takes translation out of the network's hands. With c the ink
centroid of x (`transforms.ink_centroid`, normalised coordinates):

    x_c = T(x, (c, 0, …))                 x moved so that its ink centroid is at the centre
    μ   = the heads above, on x_c         (rotation, scales, shear and colour)
    η̄   = o + b g(μ);  (tx, ty) ← V(L)⁻¹(−A c)     (`transforms.centring_eta`)

where L is η̄'s rotation/scale/shear algebra element and A = expm(L), so M(η̄) maps c to the
origin: the prototype has x's centroid at its centre. The translation means are g⁻¹((tx, ty −
o) / b) (clipped inside the bounds for g = tanh), and q(η|x) is the Normal around μ as before.
Shifting x by d shifts c by d and leaves x_c unchanged, so q's rotation and scales are exactly
invariant to translations and its translation exactly equivariant (up to interpolation and ink
leaving the image); the flip head's R_π x_c is then the half turn about the object's centroid.

Zoom (``zoom = z > 0``, centroid head only; not in the paper). A small object covers few pixels
of the centred image, and an MLP on raw pixels then reads little of its orientation. With r the
RMS radius of x's ink about c (`transforms.ink_radius`), the network sees the centred image
zoomed in by k = max(1, z / r):

    x_z(p) = x(c + p / k)                 one warp; the ink's RMS radius in x_z is max(r, z)
    μ   = the heads above, on x_z, with log k appended to the flattened pixels

so the network knows the zoom it cannot see and can still give the object's absolute scale. r
does not change when the object is moved or turned, so the zoom keeps the centroid head's exact
translation equivariance, and a turn of the object turns x_z with it.

The prototype of x is x̂ = T(x, η)⁻¹ = T(x, -η) (affine part; colour part negated) with η sampled
from q. Dense kernels use LeCun-normal initialisation and zero biases (as Flax), LayerNorm ε = 1e-6.
σ_raw is exposed as `sigma_variables` so it can have its own optimiser (docs/design.md §4.5).

Dtypes. By default everything is float32. With ``mixed_precision=True`` the trunk MLP runs under
the Keras policy "mixed_bfloat16" (float32 variables; matmuls and GELU in bfloat16, LayerNorm
evaluated in float32 internally), and h is cast to float32 before the mean head, so μ, σ, η
(which goes into the warps) and the distribution are float32. Variable names, shapes and order
do not depend on the mode, so checkpoints move between the two.
"""

from typing import Sequence

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from inv_tf import config as config_lib
from inv_tf import transforms
from inv_tf.models import layers
from inv_tf.models.layers import MLP

tfd = tfp.distributions
tfb = tfp.bijectors


class _FirstColumn(keras.initializers.Initializer):
  """`inner`'s values in the first column of a `[n, 2]` kernel, zeros in the second."""

  def __init__(self, inner):
    self.inner = inner

  def __call__(self, shape, dtype=None):
    return self.inner(shape, dtype) * keras.ops.convert_to_tensor([1.0, 0.0], dtype)


def _wrap(angle):
  """Angles in radians wrapped to [−π, π) (gradient 1)."""
  return tf.math.floormod(angle + np.pi, 2 * np.pi) - np.pi


def _check_bounds(bounds, offset, event_dim):
  bounds = np.asarray(bounds, np.float32).reshape(-1)
  offset = np.zeros(event_dim, np.float32) if offset is None else np.asarray(offset, np.float32).reshape(-1)
  if bounds.shape != (event_dim,):
    raise ValueError(f"bounds: expected {event_dim} values, got {bounds.shape[0]}")
  if offset.shape != (event_dim,):
    raise ValueError(f"offset: expected {event_dim} values, got {offset.shape[0]}")
  if not np.all(bounds > 0):
    raise ValueError(f"bounds: every bound must be > 0, got {bounds.tolist()}")
  return bounds, offset


def quarter_turns(x: tf.Tensor) -> list:
  """[R_{-k} x for k = 0, 1, 2, 3]: x turned clockwise by k quarter turns about its centre.

  R_1 = R_{π/2} is the warp's rotation by +π/2 (`transforms.transform_images` with rotation
  π/2, exact at order 1), so R_{-k} undoes k such turns.

  Args:
    x: `[B, H, W, C]` with H = W, any dtype.

  Returns:
    Four tensors like x; the first is x itself.

  Raises:
    ValueError: the images are not square.
  """
  if x.shape[1] is not None and x.shape[1] != x.shape[2]:
    raise ValueError(f"quarter turns need square images, got {x.shape[1]}×{x.shape[2]}")
  views = [x]
  for _ in range(3):  # R_{-1} y: the transpose of y with its rows reversed
    views.append(tf.transpose(tf.reverse(views[-1], axis=[1]), [0, 2, 1, 3]))
  return views


class InferenceNet(keras.Model):
  """q(η|x): maps images to a distribution over transformation parameters.

  Args:
    event_dim: D, the number of transformation parameters.
    bounds: D floats > 0, the half-widths b that scale the network output.
    offset: D floats, the centre o (default zeros).
    squash_to_bounds: if True, η = o + b tanh(z) lies strictly inside o ± b.
    hidden_dims: MLP widths (the paper's: (2048, 1024, 512, 256) for MNIST/dSprites).
    init_sigma: initial σ (> 0).
    mixed_precision: run the trunk's matmuls in bfloat16 (float32 variables and outputs).
    rotation_index: None (linear head) or the index of the rotation component, which then gets
      the circular head of the module docstring.
    flip_equivariant: with `rotation_index`, make the circular head exactly equivariant to a
      half turn of the input (module docstring).
    quarter_turn_equivariant: with `rotation_index`, make it exactly equivariant to quarter
      turns (module docstring; needs square images). Implies `flip_equivariant`.
    axis_equivariant: with `rotation_index`, measure the rotation from the ink's principal axis
      with a flip head on the axis-aligned view, exactly equivariant to every turn of elongated
      ink (module docstring). Not with `quarter_turn_equivariant`.
    translation_head: "linear" (the paper: tx, ty from the network like every other output) or
      "centroid" (module docstring; needs `family`).
    family: the transformation family (name or `Family`); needed by the centroid head, whose
      family must start with tx, ty.
    zoom: z in [0, 1), normalised units: with the centroid head, the network sees the centred
      object zoomed in to an ink RMS radius of at least z (module docstring); 0 = no zoom.
    axis_snap: κ in [0, 1]: with `rotation_index`, snap the rotation to the ink's principal axis
      where the ink's anisotropy is at least κ, in proportion below it (module docstring);
      0 = no snap.

  Raises:
    ValueError: bad `event_dim`, `bounds`, `offset` or `init_sigma`; `mixed_precision` with a
      non-float32 `dtype`.
  """

  def __init__(self, event_dim: int, bounds: Sequence[float], offset: Sequence[float] | None = None,
               squash_to_bounds: bool = False, hidden_dims: Sequence[int] = (2048, 1024, 512, 256),
               init_sigma: float = 0.01, mixed_precision: bool = False,
               rotation_index: int | None = None, flip_equivariant: bool = False,
               quarter_turn_equivariant: bool = False, axis_equivariant: bool = False,
               translation_head: str = "linear", family=None, zoom: float = 0.0,
               axis_snap: float = 0.0, **kwargs):
    super().__init__(**kwargs)
    self.mixed_precision = layers.check_mixed_precision(mixed_precision, self)
    if event_dim < 1:
      raise ValueError(f"event_dim: must be >= 1, got {event_dim}")
    if init_sigma <= 0:
      raise ValueError(f"init_sigma: must be > 0, got {init_sigma}")
    self.event_dim = int(event_dim)
    self.bounds, self.offset = _check_bounds(bounds, offset, self.event_dim)
    self.squash_to_bounds = bool(squash_to_bounds)
    self.trunk = MLP(hidden_dims, dtype=layers.stack_policy(self.mixed_precision), name="trunk")
    if rotation_index is not None and not 0 <= rotation_index < self.event_dim:
      raise ValueError(f"rotation_index: must be in [0, {self.event_dim}), got {rotation_index}")
    if flip_equivariant and rotation_index is None:
      raise ValueError("flip_equivariant: needs rotation_index (the circular head)")
    if quarter_turn_equivariant and rotation_index is None:
      raise ValueError("quarter_turn_equivariant: needs rotation_index (the circular head)")
    self.rotation_index = rotation_index
    # The order of the cyclic group of turns the rotation output is exactly equivariant to.
    if axis_equivariant and (rotation_index is None or quarter_turn_equivariant):
      raise ValueError("axis_equivariant: needs rotation_index (the circular head) and not "
                       "quarter_turn_equivariant")
    self.axis_equivariant = bool(axis_equivariant)
    self.equivariant_turns = (4 if quarter_turn_equivariant
                              else 2 if flip_equivariant or axis_equivariant else 1)
    self.flip_equivariant = self.equivariant_turns > 1
    # Views of each image the trunk sees: x (and its turns), or x, x_a and R_π x_a.
    self.trunk_views = 3 if self.axis_equivariant else self.equivariant_turns
    if translation_head not in config_lib.TRANSLATION_HEADS:
      raise ValueError(f"translation_head: expected one of {config_lib.TRANSLATION_HEADS}, got "
                       f"{translation_head!r}")
    self.translation_head = translation_head
    self.family = None if family is None else transforms.get_family(family)
    if translation_head == "centroid" and (
        self.family is None or self.family.parameters[:2] != ("tx", "ty")
        or self.family.dim != self.event_dim):
      raise ValueError("translation_head: centroid needs a family starting with tx, ty and of "
                       f"dimension event_dim = {self.event_dim}, got {family!r}")
    if not 0.0 <= zoom < 1.0 or (zoom > 0 and translation_head != "centroid"):
      raise ValueError(f"zoom: must be in [0, 1), and 0 unless translation_head is centroid; got "
                       f"{zoom} with translation_head {translation_head!r}")
    self.zoom = float(zoom)
    if not 0.0 <= axis_snap <= 1.0 or (axis_snap > 0 and rotation_index is None):
      raise ValueError(f"axis_snap: must be in [0, 1], and 0 without rotation_index (the circular "
                       f"head); got {axis_snap} with rotation_index {rotation_index}")
    self.axis_snap = float(axis_snap)
    self.mean_head = keras.layers.Dense(self.event_dim, kernel_initializer="zeros",
                                        bias_initializer="zeros", name="mean")
    if rotation_index is not None:
      # (u, v) of the circular head; replaces the mean head's rotation output.
      if self.axis_equivariant:  # θ starts on the axis: v = 0
        init = dict(kernel_initializer=_FirstColumn(keras.initializers.RandomNormal(stddev=1e-2)),
                    use_bias=False)
      elif self.flip_equivariant:
        init = dict(kernel_initializer=keras.initializers.RandomNormal(stddev=1e-2),
                    use_bias=False)  # a bias would cancel in f(x) − f(R_π x)
      else:
        init = dict(kernel_initializer="zeros",
                    bias_initializer=keras.initializers.Constant([1.0, 0.0]))
      self.rotation_head = keras.layers.Dense(2, name="rotation_uv", **init)
    raw = float(np.log(np.expm1(init_sigma)))
    self.sigma_raw = self.add_weight(
        name="sigma_raw", shape=(self.event_dim,),
        initializer=keras.initializers.Constant(raw), trainable=True)

  @property
  def sigma_variables(self):
    """The σ parameter (its own optimiser group)."""
    return [self.sigma_raw]

  @property
  def main_variables(self):
    """Every trainable variable except σ."""
    sigma_ids = {id(v) for v in self.sigma_variables}
    return [v for v in self.trainable_variables if id(v) not in sigma_ids]

  @property
  def sigma(self) -> tf.Tensor:
    """σ = softplus(σ_raw), float32 `[D]`, > 0."""
    return tf.nn.softplus(tf.convert_to_tensor(self.sigma_raw))

  def _output_bijector(self, dtype):
    shift = tfb.Shift(tf.constant(self.offset, dtype))
    scale = tfb.Scale(tf.constant(self.bounds, dtype))
    if self.squash_to_bounds:
      return tfb.Chain([shift, scale, tfb.Tanh()])  # Chain applies its LAST bijector first.
    return tfb.Chain([shift, scale])

  def _mean(self, x, training):
    """μ(x) float32 `[B, D]` from images float32 `[B, H, W, C]`."""
    if self.translation_head == "linear":
      return self._network_mean(x, training)
    view, centre, log_zoom = self.centred_view(x)
    mean = self._network_mean(view, training, None if self.zoom == 0 else log_zoom[:, None])
    eta = transforms.centring_eta(self._output_bijector(mean.dtype).forward(mean), centre,
                                  self.family)
    unit = (eta[:, :2] - self.offset[:2]) / self.bounds[:2]
    if self.squash_to_bounds:
      unit = tf.atanh(tf.clip_by_value(unit, -1.0 + 1e-4, 1.0 - 1e-4))
    return tf.concat([unit, mean[:, 2:]], axis=-1)

  def centred_view(self, x):
    """What the centroid head's network sees (module docstring).

    Args:
      x: float32 `[B, H, W, C]` in [-1, 1], background −1.

    Returns:
      (view `[B, H, W, C]`: x moved so its ink centroid is at the centre and, with `zoom`, zoomed
      in by k; centre c `[B, 2]`, normalised units; log k `[B]`, ≥ 0, 0 without `zoom`).
    """
    if self.zoom > 0:
      centre, radius = transforms.ink_moments(x)
      log_zoom = tf.nn.relu(tf.math.log(self.zoom / tf.maximum(radius, 1e-6)))  # log max(1, z/r)
    else:
      centre = transforms.ink_centroid(x)
      log_zoom = tf.zeros_like(centre[:, 0])
    # x_z(p) = x(c + p / k).
    return transforms.recentre(x, centre, tf.exp(-log_zoom), order=1), centre, log_zoom

  def _network_mean(self, x, training, extra=None):
    """The heads' μ float32 `[B, D]` from images float32 `[B, H, W, C]` (no centring) and
    optional per-image inputs `extra` `[B, E]` appended to the pixels."""
    batch = tf.shape(x)[0]
    view = x
    if self.axis_equivariant:
      axis = tf.stop_gradient(transforms.ink_axis(x)[0])
      aligned = transforms.transform_images(x, -axis[:, None], "rotation", order=1)  # x_a
      x = tf.concat([x, aligned, tf.reverse(aligned, axis=[1, 2])], axis=0)  # x, x_a, R_π x_a
    elif self.equivariant_turns == 2:
      x = tf.concat([x, tf.reverse(x, axis=[1, 2])], axis=0)  # x and R_π x
    elif self.equivariant_turns == 4:
      x = tf.concat(quarter_turns(x), axis=0)  # R_{-k} x, k = 0..3
    if extra is not None:
      extra = tf.concat([extra] * self.trunk_views, axis=0)
    flat = tf.reshape(x, [tf.shape(x)[0], -1])
    if extra is not None:
      flat = tf.concat([flat, tf.cast(extra, flat.dtype)], axis=-1)
    h = self.trunk(flat, training=training)
    if self.mixed_precision:
      h = layers.to_float32(h)
    mean = self.mean_head(h[:batch])
    if self.rotation_index is None:
      return mean
    uv = self.rotation_head(h)
    if self.axis_equivariant:
      uv = uv[batch:2 * batch] - uv[2 * batch:]
    elif self.equivariant_turns == 2:
      uv = uv[:batch] - uv[batch:]
    elif self.equivariant_turns == 4:
      # Σ_k i^k (u_k + i v_k): i^k turns (u, v) to (u, v), (−v, u), (−u, −v), (v, −u).
      u0, u1, u2, u3 = tf.split(uv[:, 0], 4)
      v0, v1, v2, v3 = tf.split(uv[:, 1], 4)
      uv = tf.stack([u0 - v1 - u2 + v3, v0 + u1 - v2 - u3], axis=-1)
    r = self.rotation_index
    # atan2's gradient is 0/0 at (0, 0), which the flip head reaches exactly for an image that is
    # its own half turn (a blank or padding image): read such a direction as (1, 0) instead.
    degenerate = tf.reduce_sum(tf.square(uv), axis=-1, keepdims=True) < 1e-20
    uv = tf.where(degenerate, tf.constant([[1.0, 0.0]], uv.dtype), uv)
    angle = tf.atan2(uv[:, 1], uv[:, 0])
    if self.axis_equivariant:
      angle = _wrap(angle + tf.cast(axis, angle.dtype))
    if self.axis_snap > 0:
      angle = _wrap(angle + tf.stop_gradient(self._axis_correction(view, angle)))
    unit = (angle - float(self.offset[r])) / float(self.bounds[r])
    if self.squash_to_bounds:
      unit = tf.atanh(tf.clip_by_value(unit, -1.0 + 1e-4, 1.0 - 1e-4))
    return tf.concat([mean[:, :r], unit[:, None], mean[:, r + 1:]], axis=-1)

  def _axis_correction(self, view, angle):
    """w · wrap(θ_axis − θ) of the module docstring, float32 `[B]` in [−π/2, π/2]."""
    axis, anisotropy = transforms.ink_axis(view)
    axis, anisotropy = tf.cast(axis, angle.dtype), tf.cast(anisotropy, angle.dtype)
    flipped = tf.abs(_wrap(angle - axis)) > np.pi / 2
    nearer = axis + tf.where(flipped, tf.constant(np.pi, angle.dtype), tf.zeros_like(axis))
    weight = tf.minimum(1.0, anisotropy / self.axis_snap)
    return weight * _wrap(nearer - angle)

  def call(self, x, training=False):
    """q(η|x).

    Args:
      x: float32 `[B, H, W, C]` in [-1, 1].
      training: unused (no dropout), kept for the Keras signature.

    Returns:
      A TFP distribution with batch shape [B] and event shape [D]; `sample(n, seed)` → `[n, B, D]`
      (reparameterised), `log_prob(eta)` for eta `[..., B, D]`.
    """
    mean = self._mean(x, training)
    scale = tf.broadcast_to(tf.cast(self.sigma, mean.dtype), tf.shape(mean))
    base = tfd.Independent(tfd.Normal(mean, scale), reinterpreted_batch_ndims=1)
    return tfd.TransformedDistribution(base, self._output_bijector(mean.dtype))

  def mode(self, x, training=False) -> tf.Tensor:
    """η at the mean of z: o + b μ (or o + b tanh μ); float32 `[B, D]`."""
    mean = self._mean(x, training)
    return self._output_bijector(mean.dtype).forward(mean)
