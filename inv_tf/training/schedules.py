r"""Schedules: warm-up + cosine learning rates, the blur curriculum, the augmentation warm-up.

Warm-up cosine (optax's `warmup_cosine_decay_schedule`, docs/design.md §4.5), built as Keras'
`CosineDecay` by `warmup_cosine_decay`: with peak lr, warm-up length w = round(warmup_pct · steps)
and horizon `steps` (the horizon INCLUDES the warm-up):

    lr(t) = lr·init_mult + (lr - lr·init_mult) · t / w                              t < w
    lr(t) = lr·final_mult + (lr - lr·final_mult) · ½ (1 + cos(π (t - w) / (steps - w)))   w ≤ t ≤ steps
    lr(t) = lr·final_mult                                                           t > steps

Blur (docs/design.md §2.4): σ(t) = σ₀ · max(0, 1 - t / (end_pct · steps)).
Augmentation-range warm-up (docs/design.md §4.4, optional): m(t) = min(1, t / (pct · steps))
(1 if pct = 0); the stage-1 augmentations are drawn from U(o - m b, o + m b).
"""

import keras
import tensorflow as tf


def warmup_cosine_decay(peak: float, steps: int, warmup_pct: float, init_mult: float,
                        final_mult: float) -> keras.optimizers.schedules.CosineDecay:
  """The warm-up cosine schedule (module docstring) as Keras' own `CosineDecay`.

  Keras warms up linearly from `initial_learning_rate` to `warmup_target` over `warmup_steps`,
  then decays over `decay_steps` to `alpha · warmup_target` and stays there, which is the formula
  above with initial_learning_rate = peak·init_mult, warmup_target = peak, warmup_steps = w,
  decay_steps = max(steps − w, 1) (Keras needs > 0; the formula divides by the same maximum) and
  alpha = final_mult.

  Args:
    peak: the peak learning rate (> 0).
    steps: the horizon, warm-up included (≥ 0).
    warmup_pct: the warm-up's share of `steps`, in [0, 1].
    init_mult, final_mult: the start and end rates as multiples of `peak`.

  Returns:
    A schedule: step (int or scalar tensor ≥ 0) → float32 scalar learning rate.
  """
  warmup = max(int(round(warmup_pct * steps)), 0)
  return keras.optimizers.schedules.CosineDecay(
      initial_learning_rate=float(peak) * float(init_mult), decay_steps=max(int(steps) - warmup, 1),
      alpha=float(final_mult), warmup_target=float(peak), warmup_steps=warmup)


def blur_sigma(step, sigma_init: float, steps: int, end_pct: float) -> tf.Tensor:
  """Blur σ (pixels) at `step`: linear from `sigma_init` to 0 over end_pct·steps; float32 ≥ 0."""
  step = tf.cast(step, tf.float32)
  end = max(end_pct * steps, 1e-9)
  return sigma_init * tf.maximum(0.0, 1.0 - step / end)


def ramp(step, steps: int, pct: float) -> tf.Tensor:
  """min(1, step / (pct · steps)), or 1 when pct ≤ 0; float32 in [0, 1]."""
  if pct <= 0:
    return tf.constant(1.0)
  step = tf.cast(step, tf.float32)
  return tf.minimum(1.0, step / max(pct * steps, 1.0))
