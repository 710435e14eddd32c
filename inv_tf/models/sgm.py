r"""The SGM facade: prototypes, p(η|x̂) and resampling (docs/design.md §3, §5, §7).

    prototype(x):     η = mode of q(η|x) (q's σ collapses to ~1e-4, so this is what sampling
                      gives up to noise, and it is reproducible);  x̂ = T(x, η)⁻¹
    sample_eta(x̂, n): η' ~ p(η|x̂), n per image
    log_prob_eta:     log p(η|x̂)
    resample(x, n):   η = mode q(η|x), η' ~ p(η|x̂), x_new = warp(x, M(η)⁻¹ M(η'))   — ONE warp
                      from the original x (colour part additive: -η_c + η'_c).

Generation from scratch needs a model of prototypes (the InvVAE); the SGM alone transforms
observed images into new members of their learned orbit.

Dtypes: inputs and outputs are float32. `config.mixed_precision` runs the MLPs of q(η|x) (trunk)
and p(η|x̂) (trunk, base head) in bfloat16 with float32 variables (see `inv_tf.models.inference`
and `inv_tf.models.generative`); η, the spline flow, the warps and the densities stay float32.
"""

import keras
import tensorflow as tf

from inv_tf import transforms
from inv_tf.config import Config
from inv_tf.models.generative import GenerativeNet
from inv_tf.models.inference import InferenceNet


class SGM(keras.Model):
  """q(η|x) and p(η|x̂) of one transformation family, with the SGM's uses as methods.

  Args:
    config: a validated `Config` (family, bounds, offset, architecture, interpolation order,
      `mixed_precision`).
    image_shape: (H, W, C) of the images the model works on.
  """

  def __init__(self, config: Config, image_shape, **kwargs):
    super().__init__(**kwargs)
    self.config = config
    self.image_shape = tuple(int(d) for d in image_shape)
    self.family = transforms.get_family(config.family)
    if self.family.has_colour and self.image_shape[-1] != 3:
      raise ValueError(f"image_shape: family {config.family!r} needs 3-channel images, got "
                       f"{self.image_shape}")
    if (config.rotation_head == "quarter_turn_equivariant"
        and self.image_shape[0] != self.image_shape[1]):
      raise ValueError(f"rotation_head: quarter_turn_equivariant needs square images, got "
                       f"{self.image_shape[0]}×{self.image_shape[1]}")
    common = dict(event_dim=config.event_dim, bounds=config.resolved_bounds,
                  offset=config.resolved_offset, squash_to_bounds=config.squash_to_bounds,
                  mixed_precision=config.mixed_precision)
    rotation_index = (self.family.parameters.index("rotation")
                      if config.rotation_head != "linear" else None)
    self.inference = InferenceNet(hidden_dims=config.inference_hidden_dims,
                                  init_sigma=config.init_sigma, rotation_index=rotation_index,
                                  flip_equivariant=config.rotation_head == "flip_equivariant",
                                  quarter_turn_equivariant=(
                                      config.rotation_head == "quarter_turn_equivariant"),
                                  axis_equivariant=config.rotation_head == "axis_equivariant",
                                  translation_head=config.translation_head, family=self.family,
                                  zoom=config.inference_zoom,
                                  axis_snap=config.rotation_axis_snap,
                                  name="inference", **common)
    self.generative = GenerativeNet(
        hidden_dims=config.generative_hidden_dims, dropout_rate=config.generative_dropout,
        num_flows=config.num_flows, num_bins=config.num_bins,
        conditioner_hidden_dims=config.conditioner_hidden_dims,
        conditioner_dropout_rate=config.conditioner_dropout, range_bound=config.spline_range,
        spline_tails=config.spline_tails, coordinates=config.generative_coordinates,
        family=self.family, name="generative", **common)
    dummy = tf.zeros((1,) + self.image_shape)
    self.inference(dummy)
    self.generative(dummy)

  def _order(self):
    return self.config.interpolation_order

  def check_images(self, x) -> tf.Tensor:
    """x as float32 `[B, H, W, C]`; a ValueError naming the expected shape otherwise."""
    x = tf.convert_to_tensor(x)
    if x.dtype != tf.float32:
      if not (x.dtype.is_floating or x.dtype.is_integer):
        raise TypeError(f"x: expected float32 images in [-1, 1], got dtype {x.dtype.name}")
      x = tf.cast(x, tf.float32)
    if x.shape.rank != 4 or tuple(x.shape[1:]) != self.image_shape:
      raise ValueError(f"x: this model expects images of shape [B, {', '.join(map(str, self.image_shape))}], "
                       f"got {x.shape}")
    return x

  def prototype(self, x):
    """x̂ = T(x, η)⁻¹ with η the mode of q(η|x).

    Args:
      x: float32 `[B, H, W, C]` in [-1, 1].

    Returns:
      {"x_hat": float32 `[B, H, W, C]`, "eta": float32 `[B, D]`}: the same dict as the exported
      SavedModel's `prototype` signature.
    """
    x = self.check_images(x)
    eta = self.inference.mode(x)
    t = transforms.Transform.from_eta(eta, self.family)
    return {"x_hat": t.inverse().apply(x, order=self._order()), "eta": eta}

  def sample_eta(self, x_hat, n, seed, training=False):
    """η ~ p(η|x̂).

    Args:
      x_hat: float32 `[B, H, W, C]` prototypes.
      n: int ≥ 1 samples per prototype.
      seed: int32 `[2]` stateless seed.

    Returns:
      float32 `[n, B, D]`.
    """
    return self.generative(self.check_images(x_hat), training=training).sample(n, seed=seed)

  def log_prob_eta(self, x_hat, eta, training=False):
    """log p(η|x̂): eta float32 `[B, D]` or `[n, B, D]` → `[B]` or `[n, B]` (nats)."""
    return self.generative(self.check_images(x_hat), training=training).log_prob(eta)

  def resample(self, x, n, seed, training=False):
    """New members of each image's orbit, drawn from the learned p(η|x̂).

    Args:
      x: float32 `[B, H, W, C]` in [-1, 1].
      n: int ≥ 1 resamples per image.
      seed: int32 `[2]`.
      training: dropout in p (the AugVAE of docs/design.md §8.2 resamples with training=True).

    Returns:
      (images float32 `[n, B, H, W, C]`, eta float32 `[n, B, D]` the sampled η').
    """
    x = self.check_images(x)
    proto = self.prototype(x)
    x_hat, eta = proto["x_hat"], proto["eta"]
    new_eta = self.sample_eta(x_hat, n, seed, training=training)  # [n, B, D]
    batch = tf.shape(x)[0]
    flat_eta = tf.reshape(new_eta, [-1, self.config.event_dim])
    tiled_x = tf.tile(x, [n, 1, 1, 1])
    tiled_eta = tf.tile(eta, [n, 1])
    inverse_q = transforms.Transform.from_eta(tiled_eta, self.family).inverse()
    new = inverse_q.then(transforms.Transform.from_eta(flat_eta, self.family))
    images = new.apply(tiled_x, order=self._order())
    return tf.reshape(images, tf.concat([[n, batch], self.image_shape], 0)), new_eta

  def call(self, x, training=False):
    """The prototype (Keras entry point): {"x_hat", "eta"} as `prototype`."""
    return self.prototype(x)
