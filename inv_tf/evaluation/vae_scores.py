"""Test-split scores of a trained VAE-family model (`--model=vae|augvae|invvae|vae_standard_aug`).

In nats per image, on [-1, 1] pixels: the importance-weighted bound IWLB_K with K =
`iwlb_num_samples`, the single-sample ELBO and the reconstruction MSE; for the InvVAE also the
reference implementation's (non-pixel-space) variants `ref_iwlb` / `ref_elbo`.
"""

import tensorflow as tf

from inv_tf import data as data_lib
from inv_tf.config import Config, ConfigError
from inv_tf.models.inv_vae import InvVAE

TEST_SEED = 4  # Offset of the test scores' seed from the run seed.
TEST_DESCRIPTIONS = {
    "iwlb": "Test importance-weighted bound on log p(x), K = iwlb_num_samples (nats per image; "
            "the scored model's weights).",
    "elbo": "Test single-sample ELBO (nats per image).",
    "recon_mse": "Test reconstruction MSE on [-1, 1] pixels (z = posterior mean).",
    "num_images": "Number of test images scored.",
    "ref_iwlb": "InvVAE: the reference implementation's bound on prototypes (not comparable with "
                "the VAE's).",
    "ref_elbo": "InvVAE: the reference implementation's single-sample ELBO on prototypes.",
}


def evaluate_test(model, config: Config, test_ds: tf.data.Dataset) -> dict:
  """Test-split scores of a trained VAE-family model, in nats per image.

  Args:
    model: a `VAE` or `InvVAE`.
    config: `iwlb_num_samples` (K), `test_batch_size`, `num_test` (0 = all), `seed`.
    test_ds: the unbatched test split (dicts with `image`).

  Returns:
    {`iwlb`, `elbo`, `recon_mse`, `num_images`} — plus `ref_iwlb`, `ref_elbo` for the InvVAE —
    averaged over the test images (IWLB with K samples per image, computed in chunks of 50).
  """
  if config.num_test:
    test_ds = test_ds.take(config.num_test)
  batches = data_lib.batch_for_evaluation(test_ds, config.test_batch_size)
  is_inv = isinstance(model, InvVAE)
  k = config.iwlb_num_samples

  @tf.function(jit_compile=config.jit_compile, autograph=False)
  def score(images, seed):
    s_iwlb, s_elbo = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    out = {"iwlb": model.iwlb(images, k, s_iwlb)}
    terms = model.elbo(images, s_elbo, training=False)
    out["elbo"] = terms["elbo"]
    out["recon_mse"] = tf.reduce_mean(tf.square(model.reconstruct(images) - images), [1, 2, 3])
    if is_inv:
      out["ref_iwlb"] = model.iwlb(images, k, s_iwlb, reference=True)
      out["ref_elbo"] = terms["ref_elbo"]
    return out

  totals, count = {}, 0.0
  for i, batch in enumerate(batches):
    out = score(batch["image"], tf.constant([config.seed + TEST_SEED, i], tf.int32))
    mask = batch["mask"].numpy()
    for key, value in out.items():
      totals[key] = totals.get(key, 0.0) + float((value.numpy() * mask).sum())
    count += float(mask.sum())
  if count == 0:
    raise ConfigError(f"--dataset={config.dataset}: the test split is empty")
  results = {key: value / count for key, value in totals.items()}
  results["num_images"] = count
  return results
