r"""The InvVAE: a VAE over prototypes plus the SGM's p(η|x̂), scored in the VAE's pixel space.

Generative model (the SGM frozen, the VAE trained). With m(z) the VAE decoder's mean — a
prototype — and σ the VAE's free per-pixel scale:

    z ~ p(z),    η ~ p(η | m(z)),    x ~ N( T(m(z), η), diag σ² )                       (1)

so x is a noisy transformed prototype, and log p(x) is a density over the same [-1, 1] pixels,
with the same Gaussian form, as the plain VAE's: the two are comparable.

Variational posterior over (η, z), from the SGM's inference net and the VAE's encoder applied to
the prototype that η implies:

    η ~ q(η|x),    x̂ = T(x, η)⁻¹,    z ~ q(z | x̂).                                       (2)

This is a proper density over (η, z) given x, so Jensen's inequality gives an ELBO on log p(x)
and the usual importance-weighted bound (IWLB) with K samples (η_k, z_k) from (2):

    w_k = log N(x; T(m(z_k), η_k), σ²) + log p(z_k) + log p(η_k | m(z_k))
          − log q(η_k | x) − log q(z_k | x̂_k)
    ELBO = E[w_1] ≤ IWLB_K = E[log (1/K) Σ_k exp w_k] ≤ log p(x).

No Jacobian is needed: the latent variables are (η, z) and x is an observation with a density
under (1); nothing is a change of variables.

The reference implementation's bound (docs/design.md §8.3) scores the prototype instead of x:

    w_k^ref = log p(x̂_k | z_k) + log p(z_k) + log p(η_k | x̂_k) − log q(η_k|x) − log q(z_k|x̂_k)

It treats (x̂, η) as if it were x but leaves out the change of variables between x and (x̂, η)
(a warp is not volume-preserving, and x̂ discards what falls outside the frame), and conditions
p(η|·) on x̂, which is a function of x: it is not a bound on log p(x) and is not comparable with
the VAE's. We report it as `ref_iwlb` / `ref_elbo` only to compare with published numbers.

Training maximises the pixel-space ELBO (1)–(2) in the VAE's parameters (q(η|x) and p(η|x̂)
frozen: gradients pass through them to the decoder but do not update them).

Dtypes: the InvVAE builds no networks of its own; it inherits the VAE's and the SGM's
`mixed_precision` settings (bfloat16 matmuls/convolutions inside them). Everything it computes
here — η, the warps, the prototypes, the decoder means and every log-density — is float32.
"""

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from inv_tf import transforms
from inv_tf.models import vae as vae_lib

tfd = tfp.distributions


class InvVAE(keras.Model):
  """A `VAE` over prototypes combined with a frozen SGM.

  Args:
    vae: an `inv_tf.models.vae.VAE` for images of the SGM's shape (trained here).
    sgm: a trained `inv_tf.models.SGM` (frozen; its q gives η and prototypes, its p scores η).
  """

  def __init__(self, vae, sgm, **kwargs):
    super().__init__(**kwargs)
    if tuple(vae.image_shape) != tuple(sgm.image_shape):
      raise ValueError(f"vae image shape {vae.image_shape} != sgm image shape {sgm.image_shape}")
    self.vae = vae
    self.sgm = sgm
    self.image_shape = tuple(sgm.image_shape)

  @property
  def trainable_vae_variables(self):
    """The variables training updates (the VAE's; the SGM stays frozen)."""
    return self.vae.trainable_variables

  def _warp(self, images, eta, inverse=False):
    t = transforms.Transform.from_eta(eta, self.sgm.family)
    if inverse:
      t = t.inverse()
    return t.apply(images, order=self.sgm.config.interpolation_order)

  def log_weight_terms(self, x, seed, k: int, training=False, reference=True) -> dict:
    """Log-weight terms of k importance samples per image.

    Args:
      x: float32 `[B, H, W, C]` in [-1, 1].
      seed: int32 `[2]`.
      k: Python int ≥ 1, samples per image.
      training: passed to the VAE (the SGM always runs in inference mode).
      reference: also compute the reference variant's terms (one more pass of p(η|·)).

    Returns:
      dict of float32 `[k, B]` tensors (nats): `log_px` = log N(x; T(m(z), η), σ²), `log_pz`,
      `log_p_eta` = log p(η|m(z)), `log_q_eta` = log q(η|x), `log_qz` = log q(z|x̂), `w` (their
      signed sum, the log weight), and the reference variant's `log_p_xhat` = log p(x̂|z),
      `log_p_eta_ref` = log p(η|x̂), `w_ref`.
    """
    batch = tf.shape(x)[0]
    seed_eta, seed_z = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    q_eta = self.sgm.inference(x, training=False)
    eta = q_eta.sample(k, seed=seed_eta)  # [k, B, D]
    log_q_eta = q_eta.log_prob(eta)  # [k, B]
    flat_eta = tf.reshape(eta, [-1, self.sgm.config.event_dim])
    tiled_x = tf.tile(x, [k, 1, 1, 1])  # row j·B + b is sample j of image b.
    x_hat = self._warp(tiled_x, flat_eta, inverse=True)
    q_z = self.vae.encode(x_hat, training=training)
    z = q_z.sample(seed=seed_z)
    p_x_hat = self.vae.decode(z, training=training)
    m = p_x_hat.mean()
    x_mean = self._warp(m, flat_eta)
    scale = self.vae.pixel_scale
    log_px = tfd.Independent(tfd.Normal(x_mean, scale), 3).log_prob(tiled_x)
    terms = {
        "log_px": log_px,
        "log_pz": self.vae.prior().log_prob(z),
        "log_p_eta": self.sgm.generative(m, training=False).log_prob(flat_eta),
        "log_qz": q_z.log_prob(z),
    }
    if reference:
      terms["log_p_xhat"] = p_x_hat.log_prob(x_hat)
      terms["log_p_eta_ref"] = self.sgm.generative(x_hat, training=False).log_prob(flat_eta)
    terms = {name: tf.reshape(v, [k, batch]) for name, v in terms.items()}
    terms["log_q_eta"] = log_q_eta
    terms["w"] = (terms["log_px"] + terms["log_pz"] + terms["log_p_eta"] - terms["log_q_eta"]
                  - terms["log_qz"])
    if reference:
      terms["w_ref"] = (terms["log_p_xhat"] + terms["log_pz"] + terms["log_p_eta_ref"]
                        - terms["log_q_eta"] - terms["log_qz"])
    return terms

  def elbo(self, x, seed, training=False) -> dict:
    """Single-sample ELBO of the pixel-space bound and its terms.

    Args:
      x: float32 `[B, H, W, C]` in [-1, 1]; seed: int32 `[2]`.

    Returns:
      dict of float32 `[B]`: `elbo` (= w), `log_likelihood` (log_px), `kl` (log q(z|x̂) −
      log p(z)), `log_p_eta`, `log_q_eta`, and, when not training, `ref_elbo` (the
      reference's variant; left out of train steps, which do not need it).
    """
    t = {name: v[0] for name, v in self.log_weight_terms(
        x, seed, 1, training, reference=not training).items()}
    out = {"elbo": t["w"], "log_likelihood": t["log_px"], "kl": t["log_qz"] - t["log_pz"],
           "log_p_eta": t["log_p_eta"], "log_q_eta": t["log_q_eta"]}
    if not training:
      out["ref_elbo"] = t["w_ref"]
    return out

  def iwlb(self, x, num_samples: int, seed, chunk_size: int = 50, reference: bool = False):
    """IWLB_K on log p(x) (pixel space), or the reference's variant with `reference=True`.

    Args:
      x: float32 `[B, H, W, C]`; num_samples: K; seed: int32 `[2]`; chunk_size: samples per chunk.

    Returns:
      float32 `[B]`, nats per image.
    """
    key = "w_ref" if reference else "w"
    return vae_lib.importance_weighted_bound(
        lambda s, k: self.log_weight_terms(x, s, k, reference=reference)[key], num_samples, seed,
        chunk_size)

  def reconstruct(self, x):
    """T(VAE reconstruction of x̂, η) with η the mode of q(η|x): float32 `[B, H, W, C]`."""
    proto = self.sgm.prototype(x)
    x_hat, eta = proto["x_hat"], proto["eta"]
    return self._warp(self.vae.reconstruct(x_hat), eta)

  def sample(self, n: int, seed):
    """n new images: x̂ = decoder mean of z ~ p(z), η ~ p(η|x̂), x = T(x̂, η). `[n, H, W, C]`."""
    seed_z, seed_eta = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    x_hat = self.vae.sample(n, seed_z)
    eta = self.sgm.sample_eta(x_hat, 1, seed_eta)[0]
    return self._warp(x_hat, eta)

  def call(self, x, training=False):
    return self.reconstruct(x)
