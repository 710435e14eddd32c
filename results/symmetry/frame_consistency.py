"""Does q put the prototypes of one class in one frame? Per class, R̄ of q's rotation (its mode).

    python results/symmetry/frame_consistency.py NAME=MODEL_DIR [NAME=MODEL_DIR ...]

On the first 1,000 test images of the run's data (as the run loaded them), q's rotation mode
θ_q(x) is the rotation that takes the prototype to x. For an upright class whose prototypes all sit
in one frame θ_q is the same for every instance (R̄ across instances near 1); the true rotation
is subtracted first, θ_q(x) − θ_true(x), so rotated classes are measured the same way. A low R̄
means each instance's prototype has its own orientation, and p(η|x̂) must read that orientation
off x̂ to be narrow on an upright class. The second figure per class is the axial R̄ (of 2θ):
near 1 when every prototype sits in one frame or its half turn, which p tells apart easily.
"""
import sys

import numpy as np

from inv_tf import data as data_lib
from inv_tf import transforms
from inv_tf.evaluation import circular
from inv_tf.training import checkpoints


def frame_resultants(model_dir, num_images=1000):
  model = checkpoints.restore_model(model_dir)
  config = model.config
  batch = next(iter(data_lib.load_split(config, "test").batch(num_images)))
  images, labels = batch["image"], batch["label"].numpy()
  r = transforms.get_family(config.family).parameters.index("rotation")
  theta = np.concatenate([model.inference.mode(images[i:i + 250]).numpy()[:, r]
                          for i in range(0, num_images, 250)])
  theta_true = batch["eta_true"].numpy()[:, 2] if "eta_true" in batch else 0.0
  offset = circular.wrap(theta - theta_true)
  return {int(c): (float(circular.mean_resultant_length(offset[labels == c])),
                   float(circular.mean_resultant_length(2.0 * offset[labels == c])))
          for c in np.unique(labels)}


if __name__ == "__main__":
  for spec in sys.argv[1:]:
    name, model_dir = spec.split("=", 1)
    res = frame_resultants(model_dir)
    print(name, " ".join(f"{c}:{v:.2f}/{a:.2f}" for c, (v, a) in res.items()))
