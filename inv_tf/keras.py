r"""Keras 3 preprocessing layer: data augmentation with a trained SGM's learned symmetries.

    aug = SymmetryAugmentation("runs/mnist_rot/export", probability=0.5, seed=0)
    ds = ds.map(lambda x, y: (aug(x, training=True), y))          # in a tf.data pipeline, or
    model = keras.Sequential([keras.Input((28, 28, 1)), aug, ...])  # inside a model (fit only)

In training mode each image is replaced, with probability `probability`, by one new member of its
orbit drawn from the SGM's learned p(η|x̂) (the export's `resample(x, 1, seed)`); otherwise, and
always at inference, the input passes through unchanged.

Pixel range. The SGM works on images in [-1, 1] with background -1 (what the warp fills in).
`value_range=(lo, hi)` (as Keras' own augmentation layers) says what the inputs use, e.g. (0, 1)
or (0, 255): the layer maps lo → -1 and hi → 1 before resampling, x' = 2 (x − lo) / (hi − lo) − 1,
and maps the result back, so a dark background (lo) stays the background. Images whose background
is bright (hi) would get dark borders where the warp brings in new content: invert them first. The layer needs only the SavedModel
written by `inv_tf.export.export_sgm` (see `inv_tf/export/saved_model.py`): it never imports the
inv_tf model code, so it works in any process with TensorFlow and Keras 3 (TensorFlow backend).

Randomness is stateless and reproducible: the layer owns a `keras.random.SeedGenerator` whose
state `[seed, counter]` (int64 `[2]`, in `layer.variables` but not `layer.weights`) advances by
one per training-mode call; each call derives the export's int32 `[2]` seed from it. Two layers
built with the same `seed` therefore produce identical outputs for the same sequence of inputs,
and successive calls of one layer differ. With `seed=None` the initial state is drawn at random.
As for Keras' own random layers, the counter is not written by `model.save`: a reloaded model
restarts the sequence from `[seed, 0]`. In `tf.data`, use the default sequential `map` (no
`num_parallel_calls`) when the order of the draws must be reproducible.

Serialisation: `get_config()` holds `export_path` (as given), `probability` and `seed`; the SGM
weights are not layer weights (nothing is trained or saved): `from_config` / `load_model` load
the export again from `export_path`, which must still exist.

XLA (`jit_compile=True`), as measured with TF 2.21 / Keras 3.15 on CPU
---------------------------------------------------------------------
The loaded `resample` function compiles and runs under `tf.function(jit_compile=True)` and under
`model.compile(jit_compile=True)`: outputs are valid augmentations (per-dimension mean and standard
deviation of 500 sampled η agreed with the non-compiled function), deterministic for a given seed
and different for different seeds. But the random stream is NOT
the one of the non-compiled function: for the same seed, a jit-compiled call returns different
images than a plain `tf.function`/eager call, because XLA implements the stateless random ops
with another default bit generator (on CPU even `tf.random.stateless_normal` differs between the
two modes). Reproducibility therefore holds within one compilation mode, not across modes. The
export's `n >= 1` assertion is ignored by XLA (harmless: the layer always passes n = 1). Keras'
default `jit_compile="auto"` disables XLA on CPU-only machines and enables it on GPU, so the same
seed can give different augmentations on a CPU and a GPU machine. Nothing in the layer is
CPU-specific, but it has only been run on CPU (no GPU was available).
"""

from __future__ import annotations

import math
import os

import keras
import tensorflow as tf

_SIGNATURE = "resample"
_INT32_MOD = 2**31 - 1  # seeds are folded into [0, 2**31 - 2] for the int32 stateless RNG


class _Export:
  """Plain holder for the loaded SavedModel, so Keras/TF tracking neither saves nor trains it."""

  def __init__(self, module, image_shape):
    self.module = module
    self.image_shape = image_shape


def _load_export(export_path) -> _Export:
  """Loads an SGM export; returns it with its image shape (H, W, C).

  Raises:
    FileNotFoundError: no SavedModel (`saved_model.pb`) at `export_path`.
    ValueError: the SavedModel cannot be loaded or is not an SGM export (no `resample`).
  """
  path = os.fspath(export_path)
  if not tf.io.gfile.exists(os.path.join(path, "saved_model.pb")):
    raise FileNotFoundError(f"SymmetryAugmentation: no SavedModel at {path!r} (expected the "
                            "directory written by inv_tf.export.export_sgm)")
  try:
    module = tf.saved_model.load(path)
  except Exception as e:  # pylint: disable=broad-except
    first_line = (str(e).strip().splitlines() or [""])[0]
    raise ValueError(f"SymmetryAugmentation: cannot load the SavedModel at {path!r}: "
                     f"{type(e).__name__}: {first_line}") from None
  if not hasattr(module, _SIGNATURE) or _SIGNATURE not in module.signatures:
    raise ValueError(f"SymmetryAugmentation: the SavedModel at {path!r} is not an SGM export "
                     f"(no {_SIGNATURE!r} signature; signatures: {sorted(module.signatures)})")
  # The image shape is read from the signature's input spec x: [None, H, W, C]. (The export's
  # `image_shape` constant is not a trackable object and is not saved.)
  spec = module.signatures[_SIGNATURE].structured_input_signature[1]["x"]
  image_shape = tuple(int(d) for d in spec.shape[1:])
  return _Export(module, image_shape)


def _check_value_range(value_range) -> tuple:
  """(lo, hi) as Python floats; ValueError unless two finite numbers with lo < hi."""
  try:
    lo, hi = (float(v) for v in value_range)
  except (TypeError, ValueError):
    raise ValueError(f"value_range must be a pair (lo, hi) of numbers, got {value_range!r}") from None
  if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
    raise ValueError(f"value_range must be finite with lo < hi, got {value_range!r}")
  return lo, hi


@keras.saving.register_keras_serializable(package="inv_tf")
class SymmetryAugmentation(keras.layers.Layer):
  """Replaces images by SGM resamples in training; the identity at inference.

  Input and output: float32 `[B, H, W, C]` images in `value_range` (default [-1, 1]; background
  at its low end), where (H, W, C) is the export's image shape (`image_shape`) and B is any batch
  size (static or dynamic). Outputs have the input's shape and dtype; resampled images are the
  SGM's transforms of the input (with interpolation, so values stay close to `value_range`),
  unchanged images are the input values exactly.

  Attributes:
    export_path: the SGM SavedModel directory (str, as given).
    probability: float in [0, 1], chance that each image is replaced in training mode.
    seed: int in [0, 2**31 - 2] or None, the initial seed of the layer's seed generator.
    value_range: (lo, hi) floats, lo < hi, the inputs' pixel range (lo = background).
    image_shape: (H, W, C) ints, read from the export's `resample` signature.

  Input checks: a known wrong rank or H, W, C raises ValueError (naming the expected shape) when
  the layer is called or traced; dimensions unknown at trace time (e.g. a `tf.function` with a
  `[None, None, None, C]` signature) are checked at run time and raise
  `tf.errors.InvalidArgumentError`. Both modes are checked, so a wrongly shaped input also fails at
  inference. Requires the TensorFlow Keras backend. Other dtypes (uint8, float16, float64) are
  rejected with TypeError, not converted: scale images to float32 in [-1, 1] first. See the module
  docstring for the random state and the behaviour under XLA.
  """

  def __init__(self, export_path, probability: float = 1.0, seed: int | None = None,
               value_range=(-1.0, 1.0), **kwargs):
    """Loads the export at `export_path`.

    Args:
      export_path: str or path-like, a directory written by `inv_tf.export.export_sgm`.
      probability: float in [0, 1], per-image replacement probability in training mode.
      seed: None or int in [0, 2**31 - 2]; fixes the sequence of augmentations.
      value_range: (lo, hi), finite numbers with lo < hi: the inputs' pixel range, e.g. (0, 1) or
        (0, 255); lo is the background.
      **kwargs: `keras.layers.Layer` arguments (name, ...). The dtype must be float32.

    Raises:
      FileNotFoundError: no SavedModel at `export_path`.
      ValueError: not an SGM export, probability outside [0, 1], bad seed, value_range or dtype.
      TypeError: probability not a number.
      RuntimeError: the Keras backend is not TensorFlow.
    """
    kwargs.setdefault("dtype", "float32")
    kwargs.setdefault("autocast", False)  # reject non-float32 inputs instead of casting them
    super().__init__(**kwargs)
    if keras.backend.backend() != "tensorflow":
      raise RuntimeError("SymmetryAugmentation needs the TensorFlow Keras backend, got "
                         f"{keras.backend.backend()!r}")
    if self.compute_dtype != "float32":
      raise ValueError(f"SymmetryAugmentation computes in float32, got dtype {self.compute_dtype}")
    if isinstance(probability, bool) or not isinstance(probability, (int, float)):
      raise TypeError(f"probability must be a number in [0, 1], got {probability!r}")
    if not 0.0 <= float(probability) <= 1.0:
      raise ValueError(f"probability must be in [0, 1], got {probability}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)
                             or not 0 <= seed < _INT32_MOD):
      raise ValueError(f"seed must be None or an int in [0, {_INT32_MOD - 1}], got {seed!r}")
    self.value_range = _check_value_range(value_range)
    self.export_path = os.fspath(export_path)
    self.probability = float(probability)
    self.seed = seed
    self._export = _load_export(self.export_path)
    self.image_shape = self._export.image_shape
    self.seed_generator = keras.random.SeedGenerator(seed)

  def _check_images(self, images):
    """Validated float32 `[B, H, W, C]` tensor; TypeError / ValueError otherwise."""
    if not tf.is_tensor(images):
      images = tf.convert_to_tensor(images)
    if images.dtype != tf.float32:
      lo, hi = self.value_range
      raise TypeError(f"SymmetryAugmentation expects float32 images in [{lo:g}, {hi:g}], got "
                      f"{images.dtype.name}")
    self._check_shape(images.shape)
    return tf.ensure_shape(images, (None,) + self.image_shape)  # checks unknown dims at run time

  def _check_shape(self, shape):
    expected = (None,) + self.image_shape
    shape = tf.TensorShape(shape)
    if shape.rank is not None and (
        shape.rank != 4 or not shape.is_compatible_with(tf.TensorShape(expected))):
      dims = ", ".join(str(d) for d in self.image_shape)
      raise ValueError(f"SymmetryAugmentation expects images of shape [B, {dims}] (the SGM "
                       f"export's [B, H, W, C]), got {shape.as_list()}")

  def _augment(self, images):
    state = self.seed_generator.next()  # int64 [2]: [seed, counter]; advances the counter
    seed = tf.cast(tf.math.floormod(state, _INT32_MOD), tf.int32)
    resample_seed, coin_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    lo, hi = self.value_range
    scaled = images if (lo, hi) == (-1.0, 1.0) else (images - lo) * (2.0 / (hi - lo)) - 1.0
    new = self._export.module.resample(scaled, tf.constant(1, tf.int32), resample_seed)
    new = tf.reshape(new["images"][0], tf.shape(images))
    if (lo, hi) != (-1.0, 1.0):
      new = (new + 1.0) * ((hi - lo) / 2.0) + lo
    if self.probability >= 1.0:
      return new
    replace = tf.random.stateless_uniform(tf.shape(images)[:1], coin_seed) < self.probability
    return tf.where(replace[:, None, None, None], new, images)

  def call(self, inputs, training=None):
    """Augments `inputs` (float32 `[B, H, W, C]` in `value_range`) when `training` is true.

    Args:
      inputs: float32 `[B, H, W, C]` images in `value_range`.
      training: Python bool or None (None = inference), or a scalar bool tensor.

    Returns:
      float32 `[B, H, W, C]`: resampled/original images in training, `inputs` otherwise.
    """
    images = self._check_images(inputs)
    if training is None or self.probability == 0.0:
      return images
    if isinstance(training, bool):
      return self._augment(images) if training else images
    return tf.cond(tf.convert_to_tensor(training, tf.bool), lambda: self._augment(images),
                   lambda: tf.identity(images))

  def compute_output_shape(self, input_shape):
    """The input shape (validated against `[B, H, W, C]`)."""
    self._check_shape(input_shape)
    return tuple(input_shape)

  def get_config(self):
    """Serialisable config: the base Layer config plus export_path, probability, seed and
    value_range."""
    config = super().get_config()
    config.update({"export_path": self.export_path, "probability": self.probability,
                   "seed": self.seed, "value_range": list(self.value_range)})
    return config
