r"""Where each train step's time goes, piece by piece: stage 1 (q), stage 2 (p) and the VAE.

    python benchmarks/step_profile.py [--step=inference|generative|vae|all] [--config=paper|cpu]
                                      [--rounds=10]

(--config is `train_steps.py`'s flag, whose configurations this reuses; its default "both" means
paper here.) B = `batch_size` images `[B, H, W, C]` float32 in [-1, 1] (rotated MNIST, 28×28×1,
as `train_steps.py` uses); η has D = `event_dim` components (4 for affine_no_shear). Each piece
except the input is its own `tf.function(jit_compile=True)` on the step's real shapes; the step
index is 7 (inside stage 1's blur curriculum for both configs).

Stage 1, `--step=inference` (n = `n_samples` copies per image, N = n·B; q sees the 2N views, and
with the flip-equivariant head (--config=cpu) its trunk runs on 4N rows, each view and its half
turn):

    full_step           `train.make_inference_step` (what `train_steps.py` times)
    blur                the curriculum blur of the B input images (`transforms.gaussian_blur`)
    warps_aug           x_r1 = T(x, η_r1), x_r2 = T(x, η_r2) of the N blurred copies (forward,
                        the differentiable form the loss uses; x_r2 = x without
                        `symmetrized_loss`)
    q_fwd               η_q ~ q(η|x_r) on the 2N views (training=True, one sample each)
    q_fwd_bwd           q_fwd and the gradient of Σ η_q·c (c a fixed [2N, D] cotangent) w.r.t.
                        q's variables: q's MLP forward and backward alone, no warp
    composite_warp      x' = warp(x, M(η_r1) M(η_q1)⁻¹ M(η_q2) M(η_r2)⁻¹) on the N copies, the
                        mean (x − x')² and its gradient w.r.t. η_q1, η_q2 (the warp's forward and
                        backward as the loss's gradient passes it to q)
    inv_round_trip      T(T(x_r1, η_q1), η_q1)⁻¹ (two warps), its mse to x_r1 and the gradient
                        w.r.t. η_q1 (only when `inv_mult` > 0)
    align               the alignment term (`losses._alignment`) and its gradient w.r.t. η_q1
                        (only when `align_mult` > 0)
    loss_fwd            `losses.stage1_loss` forward (blur, warps, q, every term)
    loss_fwd_bwd        loss_fwd and its gradient w.r.t. q's variables (the step minus the update)
    optimizer           the step's update: the global norm, AdamW with global-norm clipping on
                        q's main variables and Adam on σ

Stage 2, `--step=generative` (k = `generative_n_samples` copies per image, N = k·B):

    full_step           `train.make_generative_step`
    q_targets           q(η|x) on the B images, k samples each (the targets)
    warp_1              x_r = T(x, η_r): the N augmented copies (forward-only, shared sources)
    q_copies            q(η|x_r) on the N copies, one sample each
    warp_2              x̂ = warp(x, M(η_r) M(η_p)⁻¹) (same form as warp_1)
    prototypes          `losses.prototypes_from_augmented` (warp_1 + q_copies + warp_2)
    p_fwd               log p(η|x̂) on the N prototypes, dropout on (training=True)
    p_fwd_bwd           p_fwd and its gradient w.r.t. p's variables (the step's backward pass)
    p_fwd_bwd_eval      the same with training=False (no dropout): p_fwd_bwd minus this is dropout
    p_trunk_fwd_bwd     p's trunk MLP alone on the N prototypes (dropout on) and the gradient of
                        Σ h·c (c a fixed cotangent of the trunk's output h) w.r.t. the trunk's
                        variables: p_fwd_bwd minus this is the flow (base head, conditioner MLPs,
                        splines)
    dropout_keras       Keras's dropout (`tf.nn.experimental.stateless_dropout`, what p used
                        before `inv_tf.models.layers.dropout`) alone, on every mask p draws per
                        step ([N, width] per trunk layer, [N, width] per coupling's conditioner)
    dropout_threefry    the same masks drawn as p draws them now (`layers.dropout`, Threefry)
    optimizer           the step's update: the global norm and AdamW with global-norm clipping
                        on p's variables

VAE, `--step=vae` (`--model=vae`: the VAE sees the images themselves; L = `latent_dim`):

    full_step           `vae_train.make_train_step`
    encoder             q(z|x)'s mean and scale `[B, L]` from the B images
    encoder_fwd_bwd     encoder and the gradient of Σ (μ·c₁ + τ·c₂) (fixed cotangents) w.r.t. the
                        VAE's variables (the encoder's)
    decoder             the decoder mean μ_θ(z) `[B, H, W, C]` from z `[B, L]`
    decoder_fwd_bwd     decoder and the gradient of Σ μ_θ(z)·c (a fixed `[B, H, W, C]` cotangent)
                        w.r.t. the decoder's variables
    elbo_fwd            `VAE.elbo` (encoder, one reparameterised z, decoder, analytic KL)
    elbo_fwd_bwd        elbo_fwd and the gradient of −mean ELBO (the step minus the update)
    optimizer           the step's update: the global norm and AdamW with global-norm clipping

Every step, the input (eager, not compiled):

    input               one batch pulled from the trainer's own pipeline (`runner.run`: the
                        config's `data.load_split` + `data.batch_for_training`, prefetching):
                        how long the step waits for its batch when the pipeline keeps up
    input_producer      the same pipeline without prefetch, one whole epoch per round, per batch:
                        the pipeline's own work per batch (on a busy CPU it competes with the
                        step even when prefetching hides it); the epoch's first batch refills the
                        whole-dataset shuffle buffer, so the mean over an epoch is the fair cost

Timing: per step, the pieces are called in alternating order, one call each per round, after two
warm-up calls; each line reports the median and minimum over the rounds (milliseconds) and
share = median / full_step's median. Pieces overlap (prototypes contains warp_1, q_copies and
warp_2; loss_fwd_bwd contains most of stage 1), so the shares do not add up to 1; a piece timed
alone can also run faster or slower than inside the fused step. The machine's load
(`os.getloadavg`) at the start and end of each step's rounds is printed: on a shared machine
compare pieces of one run. One JSON object per line; no assertions (the figures are for people).

Why the dropout lines: under XLA on CPU, TensorFlow's default ("auto_select") stateless random
ops lower to a Philox kernel that costs ~100–500 ns per number here, while alg="threefry" (or
"philox" via the V2 ops) costs a few ns; p draws ~8.5 M dropout numbers per paper-config step.
"""

import gc
import json
import os
import sys
import time

from absl import app
from absl import flags
import numpy as np
import tensorflow as tf

import train_steps  # benchmarks/ is sys.path[0] when this file is run as a script.

STEPS = ("inference", "generative", "vae")

_STEP = flags.DEFINE_enum("step", "all", STEPS + ("all",), "Which train step to profile.")
_ROUNDS = flags.DEFINE_integer("rounds", 10, "Timed rounds (median reported).")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEP_INDEX = 7  # the step index every piece uses (stage 1: blur σ > 0 at this step)


def _seed() -> tf.Tensor:
  """The pieces' stateless seed, int32 `[2]`."""
  return tf.constant([1, 2], tf.int32)


def _jit(fn):
  return tf.function(fn, jit_compile=True)


def _update(norm_of, *optimizers):
  """A compiled update like the steps' `apply`: (grads…) → the global norm of `norm_of`'s part.

  `optimizers`: (optimizer, variables) pairs; the gradients arrive flat, in that order.
  """
  def fn(*grads):
    out, start = None, 0
    for optimizer, variables in optimizers:
      part = grads[start:start + len(variables)]
      if out is None and norm_of is optimizer:
        out = tf.linalg.global_norm(part)
      optimizer.apply_gradients(zip(part, variables))
      start += len(variables)
    return out
  return _jit(fn)


def _inference_pieces(config, images):
  """Stage 1's pieces (module docstring): name → (function, args)."""
  from inv_tf import transforms
  from inv_tf.training import losses, schedules, train as train_lib
  state = train_lib.create_state(config, images.shape[1:])
  q = state.model.inference
  main_vars, sigma_vars = q.main_variables, q.sigma_variables
  variables = main_vars + sigma_vars
  family, order, n = config.family, config.interpolation_order, config.n_samples
  count = int(images.shape[0]) * n
  seed, step = _seed(), tf.constant(STEP_INDEX, tf.int64)
  seeds = tf.random.experimental.stateless_split(seed, 3)
  transform = lambda eta: transforms.Transform.from_eta(eta, family)

  def schedule(step):
    """(blur σ, augmentation multiplier) at `step`, as `make_inference_step` computes them."""
    blur = schedules.blur_sigma(step, config.blur_sigma_init, config.inference_steps,
                                config.blur_end_pct)
    return blur, schedules.ramp(step, config.inference_steps, config.augment_warmup_pct)

  def blur(x, step):
    return transforms.gaussian_blur(x, schedule(step)[0], config.blur_filter_size)

  def augment(x, eta_r1, eta_r2):
    x_r1 = transform(eta_r1).apply(x, order=order)
    x_r2 = transform(eta_r2).apply(x, order=order) if config.symmetrized_loss else x
    return x_r1, x_r2

  # The step's inputs to each piece, computed once (eagerly): blurred copies [N, H, W, C], the
  # augmentations η_r1, η_r2 [N, D], the views [2N, H, W, C] and q's η_q1, η_q2 [N, D].
  mult = schedule(step)[1]
  copies = tf.repeat(blur(images, step), n, axis=0)
  eta_r1 = losses._uniform_eta([count, config.event_dim], seeds[0], config, mult)
  eta_r2 = (losses._uniform_eta([count, config.event_dim], seeds[1], config, mult)
            if config.symmetrized_loss else tf.zeros_like(eta_r1))
  views = tf.concat(augment(copies, eta_r1, eta_r2), axis=0)
  eta_q1, eta_q2 = tf.split(q(views, training=True).sample(seed=seeds[2]), 2, axis=0)
  cotangent = tf.random.stateless_normal([2 * count, config.event_dim], seed)

  def q_fwd_bwd(x):
    with tf.GradientTape() as tape:
      out = tf.reduce_sum(q(x, training=True).sample(seed=seeds[2]) * cotangent)
    return tape.gradient(out, variables)

  def composite_warp(x, eta_r1, eta_q1, eta_q2, eta_r2):
    with tf.GradientTape() as tape:
      tape.watch([eta_q1, eta_q2])
      composite = transforms.compose(transform(eta_r1), transform(eta_q1).inverse(),
                                     transform(eta_q2), transform(eta_r2).inverse())
      mse = tf.reduce_mean(losses._per_image_mse(x, composite.apply(x, order=order)))
    return tape.gradient(mse, [eta_q1, eta_q2])

  def inv_round_trip(x_r1, eta_q1):
    with tf.GradientTape() as tape:
      tape.watch(eta_q1)
      q1 = transform(eta_q1)
      back = q1.inverse().apply(q1.apply(x_r1, order=order), order=order)
      mse = tf.reduce_mean(losses._per_image_mse(x_r1, back))
    return tape.gradient(mse, eta_q1)

  def align(x, eta_r1, eta_q1):
    with tf.GradientTape() as tape:
      tape.watch(eta_q1)
      term = tf.reduce_mean(losses._alignment(x, transform(eta_r1), eta_q1, config, None))
    return tape.gradient(term, eta_q1)

  def loss(x, step):
    blur_sigma, mult = schedule(step)
    return losses.stage1_loss(q, x, seed, config, blur_sigma=blur_sigma, augment_mult=mult,
                              training=True)[0]

  def loss_fwd_bwd(x, step):
    with tf.GradientTape() as tape:
      value = loss(x, step)
    return tape.gradient(value, variables)

  pieces = {
      "full_step": (train_lib.make_inference_step(state, config), (images, step)),
      "blur": (_jit(blur), (images, step)),
      "warps_aug": (_jit(augment), (copies, eta_r1, eta_r2)),
      "q_fwd": (_jit(lambda x: q(x, training=True).sample(seed=seeds[2])), (views,)),
      "q_fwd_bwd": (_jit(q_fwd_bwd), (views,)),
      "composite_warp": (_jit(composite_warp), (copies, eta_r1, eta_q1, eta_q2, eta_r2)),
  }
  x_r1 = views[:count]
  if config.inv_mult > 0:
    pieces["inv_round_trip"] = (_jit(inv_round_trip), (x_r1, eta_q1))
  if config.align_mult > 0:
    pieces["align"] = (_jit(align), (copies, eta_r1, eta_q1))
  pieces["loss_fwd"] = (_jit(loss), (images, step))
  pieces["loss_fwd_bwd"] = (_jit(loss_fwd_bwd), (images, step))
  pieces["optimizer"] = (
      _update(state.inference_optimizer, (state.inference_optimizer, main_vars),
              (state.sigma_optimizer, sigma_vars)),
      [tf.zeros_like(v) for v in variables])
  return pieces


def _generative_pieces(config, images):
  """Stage 2's pieces (module docstring): name → (function, args)."""
  import keras
  from inv_tf import transforms
  from inv_tf.models import layers
  from inv_tf.training import losses, train as train_lib
  state = train_lib.create_state(config, images.shape[1:])
  q, p = state.model.inference, state.model.generative
  batch, n = int(images.shape[0]), config.generative_n_samples
  seed = _seed()
  index = tf.repeat(tf.range(batch), n)
  eta = losses._uniform_eta([batch * n, config.event_dim], seed, config,
                            config.generative_augment_range)
  copies_r = transforms.Transform.from_eta(eta, config.family)
  x_r = copies_r.apply(images, config.interpolation_order, image_index=index)

  def warp(x, e):
    t = transforms.Transform.from_eta(e, config.family)
    return t.apply(x, config.interpolation_order, image_index=index, differentiable=False)

  def p_fwd_bwd(training):
    def fn(x_hat, targets):
      with tf.GradientTape() as tape:
        loss = -tf.reduce_mean(p(x_hat, training=training).log_prob(targets))
      return tape.gradient(loss, p.trainable_variables)
    return _jit(fn)

  # Every dropout mask of one step: the trunk's layers, then each coupling's conditioner layers.
  widths = [d for d in config.generative_hidden_dims if p.dropout_rate > 0]
  widths += [d for _ in range(p.num_flows) for d in p.conditioner_hidden_dims
             if p.conditioner_dropout_rate > 0]
  masks = [tf.ones([batch * n, d]) for d in widths]

  def dropout_keras(*hs):
    return [tf.nn.experimental.stateless_dropout(h, 0.1, seed=seed + i) for i, h in enumerate(hs)]

  generator = keras.random.SeedGenerator(0)

  def dropout_threefry(*hs):
    return [layers.dropout(h, 0.1, generator) for h in hs]

  trunk_cotangent = tf.random.stateless_normal([batch * n, p.hidden_dims[-1]], seed)

  def p_trunk_fwd_bwd(x_hat):
    with tf.GradientTape() as tape:
      out = tf.reduce_sum(p.features(x_hat, training=True) * trunk_cotangent)
    return tape.gradient(out, p.trunk.trainable_variables)

  targets = tf.reshape(tf.transpose(q(images).sample(n, seed=seed), [1, 0, 2]), [batch * n, -1])
  step = train_lib.make_generative_step(state, config)
  return {
      "full_step": (step, (images, tf.constant(STEP_INDEX, tf.int64))),
      "q_targets": (_jit(lambda x: q(x, training=False).sample(n, seed=seed)), (images,)),
      "warp_1": (_jit(warp), (images, eta)),
      "q_copies": (_jit(lambda x: q(x, training=False).sample(seed=seed)), (x_r,)),
      "warp_2": (_jit(warp), (images, -eta)),
      "prototypes": (_jit(lambda x: losses.prototypes_from_augmented(
          q, x, seed, config, config.generative_augment_range, copies=n)), (images,)),
      "p_fwd": (_jit(lambda x, t: p(x, training=True).log_prob(t)), (x_r, targets)),
      "p_fwd_bwd": (p_fwd_bwd(True), (x_r, targets)),
      "p_fwd_bwd_eval": (p_fwd_bwd(False), (x_r, targets)),
      "p_trunk_fwd_bwd": (_jit(p_trunk_fwd_bwd), (x_r,)),
      "dropout_keras": (_jit(dropout_keras), masks),
      "dropout_threefry": (_jit(dropout_threefry), masks),
      "optimizer": (_update(state.generative_optimizer,
                            (state.generative_optimizer, p.trainable_variables)),
                    [tf.zeros_like(v) for v in p.trainable_variables]),
  }


def _vae_pieces(config, images):
  """The VAE step's pieces (module docstring): name → (function, args)."""
  from inv_tf.training import vae_train
  state = vae_train.create_vae_state(config, images.shape[1:])
  vae, variables = state.vae, state.vae.trainable_variables
  seed = _seed()
  batch = int(images.shape[0])
  z = vae.encode(images).sample(seed=seed)  # [B, L]
  c_mean, c_scale = tf.unstack(tf.random.stateless_normal([2, batch, vae.latent_dim], seed))
  c_image = tf.random.stateless_normal(images.shape.as_list(), seed)

  def encoder(x):
    q = vae.encode(x, training=True)
    return q.mean(), q.stddev()

  def decoder(z):
    return vae.decode(z, training=True).mean()

  def gradient(value_fn):
    """A function (inputs…) → the gradients of `value_fn`'s scalar w.r.t. the variables it
    reaches (the others are left out)."""
    def fn(*args):
      with tf.GradientTape() as tape:
        value = value_fn(*args)
      return [g for g in tape.gradient(value, variables) if g is not None]
    return _jit(fn)

  def encoder_out(x):
    mean, scale = encoder(x)
    return tf.reduce_sum(mean * c_mean + scale * c_scale)

  def elbo(x):
    return vae.elbo(x, seed, training=True)["elbo"]

  return {
      "full_step": (vae_train.make_train_step(state, vae, config, None),
                    (images, tf.constant(STEP_INDEX, tf.int64))),
      "encoder": (_jit(encoder), (images,)),
      "encoder_fwd_bwd": (gradient(encoder_out), (images,)),
      "decoder": (_jit(decoder), (z,)),
      "decoder_fwd_bwd": (gradient(lambda z: tf.reduce_sum(decoder(z) * c_image)), (z,)),
      "elbo_fwd": (_jit(elbo), (images,)),
      "elbo_fwd_bwd": (gradient(lambda x: -tf.reduce_mean(elbo(x))), (images,)),
      "optimizer": (_update(state.optimizer, (state.optimizer, variables)),
                    [tf.zeros_like(v) for v in variables]),
  }


def _input_pieces(config):
  """`input` and `input_producer` (module docstring): name → (function, args, batches per call).
  """
  from inv_tf import data as data_lib
  train_ds = data_lib.load_split(config, "train")
  batches = lambda prefetch: data_lib.batch_for_training(
      train_ds, config.batch_size, seed=config.seed, prefetch=prefetch)
  trainer, plain = iter(batches(True)), iter(batches(False))
  # Whole epochs per round (drop_remainder: an epoch is exactly size // batch batches).
  per_epoch = max(int(train_ds.cardinality()) // config.batch_size, 1)
  return {"input": (lambda: next(trainer), (), 1),
          "input_producer": (lambda: [next(plain) for _ in range(per_epoch)], (), per_epoch)}


BUILDERS = {"inference": _inference_pieces, "generative": _generative_pieces, "vae": _vae_pieces}


def _call(fn, args):
  """Calls `fn(*args)` and waits for every output (copies them to NumPy)."""
  tf.nest.map_structure(lambda t: t.numpy(), fn(*args))


def profile(stage: str, setting: str, rounds: int) -> list:
  """Times `stage`'s pieces under the `setting` configuration; returns the JSON records."""
  config = train_steps._config(setting, stage).replace(
      model="vae" if stage == "vae" else "sgm", stage="all")
  images = train_steps.batch_of_images(config.batch_size)
  pieces = {name: (fn, args, 1) for name, (fn, args) in BUILDERS[stage](config, images).items()}
  pieces.update(_input_pieces(config))
  for fn, args, _ in pieces.values():  # two warm-up calls: tracing, XLA compiles, caches
    _call(fn, args)
    _call(fn, args)
  load_start = os.getloadavg()
  times = {name: [] for name in pieces}
  for r in range(rounds):
    # Alternating order, so a change of the machine's load hits every piece alike.
    for name in (list(pieces) if r % 2 == 0 else list(pieces)[::-1]):
      fn, args, per_call = pieces[name]
      start = time.perf_counter()
      _call(fn, args)
      times[name].append(1e3 * (time.perf_counter() - start) / per_call)
  load_end = os.getloadavg()
  full = float(np.median(times["full_step"]))
  records = [{"step": stage, "piece": name, "config": setting,
              "ms_median": round(float(np.median(ts)), 2), "ms_min": round(min(ts), 2),
              "rounds": len(ts), "share": round(float(np.median(ts)) / full, 3)}
             for name, ts in times.items()]
  records.append({"step": stage, "config": setting, "loadavg_1min_start": load_start[0],
                  "loadavg_1min_end": load_end[0], "cores": os.cpu_count()})
  return records


def main(argv):
  del argv
  setting = "paper" if train_steps._CONFIG.value == "both" else train_steps._CONFIG.value
  for stage in STEPS if _STEP.value == "all" else (_STEP.value,):
    for record in profile(stage, setting, _ROUNDS.value):
      print(json.dumps(record), flush=True)
    gc.collect()  # the step's functions and variables are gone: free them before the next


if __name__ == "__main__":
  sys.path.insert(0, ROOT)
  app.run(main)
