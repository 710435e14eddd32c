"""Per class: R̄ of the turns seen in the resamples' pixels and of their doubles (axial spread).

    python results/symmetry/visible_axial.py MODEL_DIR [CLASS ...]

For the first 40 test images of each class (default 1 4 8 0) of the run's known-truth dataset,
100 resamples each: R̄ and R̄₂ (of 2α: 1 when the turns split between α₀ and α₀ + π) of the turn
α seen in the pixels (`truth.visible_rotation`), the same of p's η' rotations, and a histogram of
α in 30° bins from −180°. Prints; writes nothing.
"""
import sys

import numpy as np

from inv_tf import data as data_lib
from inv_tf import runs
from inv_tf.evaluation import circular, truth


def main(model_dir, classes):
  model, config = runs.load_model(model_dir)
  batch = next(iter(data_lib.load_split(config, "test").batch(500)))
  x, labels, eta_true = batch["image"].numpy(), batch["label"].numpy(), batch["eta_true"].numpy()
  for c in classes:
    members = labels == c
    alpha = truth.resample_visible_rotations(model, x[members][:40], 100, 0)
    eta = truth.resample_poses(model, x[members][:40], eta_true[members][:40], 100,
                               0)["rotation_samples"]
    r = lambda a: circular.mean_resultant_length(a, -1).mean()
    hist, _ = np.histogram(np.degrees(alpha), bins=12, range=(-180, 180))
    print(f"class {c}: seen R̄ {r(alpha):.3f} R̄₂ {r(2 * alpha):.3f}; η' R̄ {r(eta):.3f} "
          f"R̄₂ {r(2 * eta):.3f}; turns seen per 30° from −180°: {hist.tolist()}")


if __name__ == "__main__":
  main(sys.argv[1], [int(c) for c in sys.argv[2:]] or [1, 4, 8, 0])
