"""`aug_dsprites`: augmented dSprites, rendered in code and built OFFLINE as a TFDS dataset.

Examples are drawn i.i.d. with replacement from the "augmented dSprites" distribution
(docs/design.md §9; see `inv_tf.data.sprites` for the latent table and the rendering geometry)
and rendered exactly in NumPy; nothing is downloaded.

Splits (defaults; option `split_sizes`):

| split      | size   | draws seeded by      |
|------------|--------|----------------------|
| train      | 50,000 | (seed, 0)            |
| validation | 10,240 | (seed, 1)            |
| test       | 10,240 | (seed, 2)            |

Why these sizes: the paper trains on an endless stream of draws and validates on the first 10,240
draws of a second stream; a fixed 50,000-draw training set covers the distribution's support
(the square alone has 39,200 grid images with non-zero probability, the ellipse 9,600, the heart
288) and is small enough to build once into the data directory (20 MB on disk).
The test split (none in the paper) is an independent third draw. `num_train` (option of
`inv_tf.data.load`) takes the first n training examples (nested prefixes).

The builder is a `tfds.core.GeneratorBasedBuilder` with one `BuilderConfig` per (seed,
split_sizes): config name `seed{seed}` (plus `_{train}_{validation}_{test}` for non-default
sizes). It is prepared on first use into `data_dir` (default `$TFDS_DATA_DIR` or
`~/tensorflow_datasets`) under `aug_dsprites/<config>/1.0.0` and read from there afterwards.

Features per example: `image` uint8 `[64, 64, 1]` in {0, 255}, `label` (= shape: 0 square,
1 ellipse, 2 heart), `scale` in [0.5, 1], `orientation` in [0, 2π], `x`, `y` in [0, 1] (float32,
grid values), `index` (int64, the dSprites flat index of the drawn grid image).
"""

from __future__ import annotations

import numpy as np
import tensorflow_datasets as tfds

from inv_tf import catalog
from inv_tf.data import sprites
from inv_tf.data.common import SPLIT_IDS

DEFAULT_SPLIT_SIZES = catalog.DATASETS["aug_dsprites"].split_sizes
_RENDER_CHUNK = 4096


class AugDspritesConfig(tfds.core.BuilderConfig):
  """One augmented-dSprites dataset: the draw seed and the (train, validation, test) sizes."""

  def __init__(self, *, seed: int = 0, split_sizes=DEFAULT_SPLIT_SIZES):
    split_sizes = tuple(int(n) for n in split_sizes)
    if len(split_sizes) != 3 or min(split_sizes) < 0:
      raise ValueError(f"split_sizes: expected three non-negative sizes, got {split_sizes}")
    name = f"seed{int(seed)}"
    if split_sizes != DEFAULT_SPLIT_SIZES:
      name += "_" + "_".join(str(n) for n in split_sizes)
    super().__init__(name=name, version=tfds.core.Version("1.0.0"),
                     description=f"augmented dSprites, seed {seed}, sizes {split_sizes}")
    self.seed = int(seed)
    self.split_sizes = split_sizes


class AugDsprites(tfds.core.GeneratorBasedBuilder):
  """Augmented dSprites (docs/design.md §9), rendered in code; builds offline."""

  VERSION = tfds.core.Version("1.0.0")
  BUILDER_CONFIGS = [AugDspritesConfig(seed=s) for s in (0, 1, 2)]  # the paper's seeds

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description=__doc__,
        features=tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=catalog.DATASETS["aug_dsprites"].image_shape),
            "label": tfds.features.ClassLabel(names=list(sprites.SHAPE_NAMES)),
            "scale": tfds.features.Scalar(dtype=np.float32),
            "orientation": tfds.features.Scalar(dtype=np.float32),
            "x": tfds.features.Scalar(dtype=np.float32),
            "y": tfds.features.Scalar(dtype=np.float32),
            "index": tfds.features.Scalar(dtype=np.int64),
        }),
        homepage="https://github.com/google-deepmind/dsprites-dataset",
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # nothing to download
    sizes = dict(zip(("train", "validation", "test"), self.builder_config.split_sizes))
    return {split: self._generate_examples(split=split, num=n) for split, n in sizes.items()}

  def _generate_examples(self, split: str, num: int):
    indices = sprites.sample_indices(num, [self.builder_config.seed, SPLIT_IDS[split]])
    for start in range(0, num, _RENDER_CHUNK):
      chunk = indices[start:start + _RENDER_CHUNK]
      lat = sprites.latents_from_index(chunk)
      images = sprites.render(lat["shape"], lat["scale"], lat["orientation"], lat["x"], lat["y"])
      images = (images * np.uint8(255))[..., None]
      for k in range(chunk.size):
        yield start + k, {
            "image": images[k],
            "label": int(lat["shape"][k]),
            "scale": lat["scale"][k],
            "orientation": lat["orientation"][k],
            "x": lat["x"][k],
            "y": lat["y"][k],
            "index": int(chunk[k]),
        }


def builder(seed: int = 0, split_sizes=DEFAULT_SPLIT_SIZES, data_dir=None) -> AugDsprites:
  """The (possibly not yet prepared) builder for one seed and set of split sizes."""
  config = AugDspritesConfig(seed=seed, split_sizes=split_sizes)
  if config.name in AugDsprites.builder_configs:  # TFDS wants registered configs by name
    config = config.name
  return AugDsprites(config=config, data_dir=data_dir)
