# %% [markdown]
# # A tour of inv_tf
#
# Train a small SGM on `glyphs` (an upright "F" and a "4" rotated ±90°), load it back with
# `inv_tf.load`, look at prototypes and orbits, and use the export as a Keras augmentation layer.
# A percent-script: run it whole (`python examples/tour.py`) or cell by cell in an editor.
# `TOUR_STEPS` (default 300) sets the training steps of each stage; `TOUR_DIR` the run directory
# (default /tmp/inv_tf_tour); the figure goes there as orbits.png. CI runs it with TOUR_STEPS=2.

# %%
import dataclasses
import os

import numpy as np
import tensorflow as tf

import inv_tf
from inv_tf import config as config_lib
from inv_tf import config_flags
from inv_tf import data as data_lib
from inv_tf.evaluation import figures
from inv_tf.keras import SymmetryAugmentation
from inv_tf.training import train as train_lib

STEPS = int(os.environ.get("TOUR_STEPS", "300"))
MODEL_DIR = os.environ.get("TOUR_DIR", "/tmp/inv_tf_tour")

# %% [markdown]
# ## Train: the shipped glyphs recipe, shortened (re-running resumes from the checkpoint)

# %%
with open(inv_tf.flagfile_path("glyphs"), encoding="utf-8") as f:
  config = config_flags.from_flagfile(f.read())
config = dataclasses.replace(config, inference_steps=STEPS, generative_steps=STEPS,
                             checkpoint_every=max(STEPS, 1))
results = train_lib.train_and_evaluate(config, MODEL_DIR)
print({k: round(v, 3) for k, v in results.items() if isinstance(v, float)})

# %% [markdown]
# ## Load the trained SGM and compute prototypes: x̂ = T(x, η)⁻¹ with η the mode of q(η|x)

# %%
sgm = inv_tf.load(MODEL_DIR)
batch = next(iter(data_lib.load("glyphs", "test", seed=0).batch(8)))
x = batch["image"]                                   # float32 [8, H, W, 1] in [-1, 1]
proto = sgm.prototype(x)                             # {"x_hat": [8, H, W, 1], "eta": [8, 5]}
print("η of the first image:", np.round(proto["eta"][0].numpy(), 3))
images, eta = sgm.resample(x, 4, tf.constant([0, 1]))  # [4, 8, H, W, 1], η' ~ p(η|x̂) [4, 8, 5]

# %% [markdown]
# ## Orbits: original | prototype | resamples, one row per image

# %%
fig = figures.orbit_grid(sgm, x.numpy()[:4], num_resamples=4)
fig.savefig(os.path.join(MODEL_DIR, "orbits.png"))
print("wrote", os.path.join(MODEL_DIR, "orbits.png"))

# %% [markdown]
# ## The export as a Keras layer: learned data augmentation (identity at inference)

# %%
augment = SymmetryAugmentation(os.path.join(MODEL_DIR, "export"), seed=0)
augmented = augment(x, training=True)
assert augmented.shape == x.shape
print("augmented batch:", augmented.shape, "changed pixels:",
      float(tf.reduce_mean(tf.cast(tf.abs(augmented - x) > 1e-3, tf.float32))))
