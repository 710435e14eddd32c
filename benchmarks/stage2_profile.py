r"""Where the stage-2 (generative) train step's time goes, piece by piece.

    python benchmarks/stage2_profile.py [--config=paper|cpu] [--rounds=10]

(--config is `train_steps.py`'s flag, whose configurations this reuses; its default "both" means
paper here.)

Each piece is its own `tf.function(jit_compile=True)` on the step's shapes (B images, k =
`generative_n_samples` copies each, N = k·B):

    full_step        `train.make_generative_step` (what `train_steps.py` times)
    q_targets        q(η|x) on the B images, k samples each (the targets)
    warp_1           x_r = T(x, η_r): the N augmented copies (forward-only, shared sources)
    q_copies         q(η|x_r) on the N copies, one sample each
    warp_2           x̂ = warp(x, M(η_r) M(η_p)⁻¹) (same form as warp_1)
    prototypes       `losses.prototypes_from_augmented` (warp_1 + q_copies + warp_2)
    p_fwd            log p(η|x̂) on the N prototypes, dropout on (training=True)
    p_fwd_bwd        p_fwd and its gradient w.r.t. p's variables (the step's backward pass)
    p_fwd_bwd_eval   the same with training=False (no dropout): p_fwd_bwd minus this is dropout
    dropout_keras    Keras's dropout (`tf.nn.experimental.stateless_dropout`, what p used
                     before `inv_tf.models.layers.dropout`) alone, on every mask p draws per step
                     ([N, width] per trunk layer, [N, width] per coupling's conditioner)
    dropout_threefry the same masks drawn as p draws them now (`layers.dropout`, Threefry)
    optimizer        AdamW with global-norm clipping on p's variables

Timing: the pieces are called in alternating order, one call each per round, after a warm-up;
each line reports the median and minimum over the rounds, milliseconds. The machine's load
(`os.getloadavg`) at start and end is printed: on a shared machine compare pieces of one run.
One JSON object per line; no assertions (the figures are for people).

Why the dropout lines: under XLA on CPU, TensorFlow's default ("auto_select") stateless random
ops lower to a Philox kernel that costs ~100–500 ns per number here, while alg="threefry" (or
"philox" via the V2 ops) costs a few ns; p draws ~8.5 M dropout numbers per paper-config step.
"""

import json
import os
import sys
import time

from absl import app
from absl import flags
import numpy as np
import tensorflow as tf

import train_steps  # benchmarks/ is sys.path[0] when this file is run as a script.

_ROUNDS = flags.DEFINE_integer("rounds", 10, "Timed rounds (median reported).")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _pieces(config, images):
  """name → (compiled function, args)."""
  import keras
  from inv_tf import transforms
  from inv_tf.models import layers
  from inv_tf.training import losses, train as train_lib
  state = train_lib.create_state(config, images.shape[1:])
  q, p = state.model.inference, state.model.generative
  batch, n = int(images.shape[0]), config.generative_n_samples
  seed = tf.constant([1, 2], tf.int32)
  index = tf.repeat(tf.range(batch), n)
  eta = losses._uniform_eta([batch * n, config.event_dim], seed, config,
                            config.generative_augment_range)
  copies_r = transforms.Transform.from_eta(eta, config.family)
  x_r = copies_r.apply(images, config.interpolation_order, image_index=index)
  jit = lambda f: tf.function(f, jit_compile=True)

  def warp(x, e):
    t = transforms.Transform.from_eta(e, config.family)
    return t.apply(x, config.interpolation_order, image_index=index, differentiable=False)

  def p_fwd_bwd(training):
    def fn(x_hat, targets):
      with tf.GradientTape() as tape:
        loss = -tf.reduce_mean(p(x_hat, training=training).log_prob(targets))
      return tape.gradient(loss, p.trainable_variables)
    return jit(fn)

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

  def optimizer(*grads):
    state.generative_optimizer.apply_gradients(zip(grads, p.trainable_variables))
    return tf.constant(0.0)

  targets = tf.reshape(tf.transpose(q(images).sample(n, seed=seed), [1, 0, 2]), [batch * n, -1])
  step = train_lib.make_generative_step(state, config)
  return {
      "full_step": (step, (images, tf.constant(7, tf.int64))),
      "q_targets": (jit(lambda x: q(x, training=False).sample(n, seed=seed)), (images,)),
      "warp_1": (jit(warp), (images, eta)),
      "q_copies": (jit(lambda x: q(x, training=False).sample(seed=seed)), (x_r,)),
      "warp_2": (jit(warp), (images, -eta)),
      "prototypes": (jit(lambda x: losses.prototypes_from_augmented(
          q, x, seed, config, config.generative_augment_range, copies=n)), (images,)),
      "p_fwd": (jit(lambda x, t: p(x, training=True).log_prob(t)), (x_r, targets)),
      "p_fwd_bwd": (p_fwd_bwd(True), (x_r, targets)),
      "p_fwd_bwd_eval": (p_fwd_bwd(False), (x_r, targets)),
      "dropout_keras": (jit(dropout_keras), masks),
      "dropout_threefry": (jit(dropout_threefry), masks),
      "optimizer": (jit(optimizer), [tf.zeros_like(v) for v in p.trainable_variables]),
  }


def _call(fn, args):
  tf.nest.map_structure(lambda t: t.numpy(), fn(*args))


def main(argv):
  del argv
  from inv_tf import data as data_lib
  setting = "paper" if train_steps._CONFIG.value == "both" else train_steps._CONFIG.value
  config = train_steps._config(setting, "generative").replace(model="sgm", stage="all")
  batch = config.batch_size
  images = next(iter(data_lib.load("mnist", "train", seed=0, rotation_deg=180).batch(
      min(batch, 4000))))["image"]
  images = tf.tile(images, [-(-batch // int(images.shape[0])), 1, 1, 1])[:batch]
  pieces = _pieces(config, images)
  for fn, args in pieces.values():
    _call(fn, args)
    _call(fn, args)
  load_start = os.getloadavg()
  times = {name: [] for name in pieces}
  for r in range(_ROUNDS.value):
    names = list(pieces) if r % 2 == 0 else list(pieces)[::-1]
    for name in names:
      fn, args = pieces[name]
      start = time.perf_counter()
      _call(fn, args)
      times[name].append(1e3 * (time.perf_counter() - start))
  load_end = os.getloadavg()
  for name, ts in times.items():
    print(json.dumps({"piece": name, "config": setting, "ms_median": round(
        float(np.median(ts)), 1), "ms_min": round(min(ts), 1), "rounds": len(ts)}), flush=True)
  print(json.dumps({"loadavg_1min_start": load_start[0], "loadavg_1min_end": load_end[0],
                    "cores": os.cpu_count()}), flush=True)


if __name__ == "__main__":
  sys.path.insert(0, ROOT)
  app.run(main)
