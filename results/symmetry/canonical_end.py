"""Would a pixel rule pick one end of a near-symmetric prototype consistently? (a negative result)

    python results/symmetry/canonical_end.py MODEL_DIR

For the run's first 500 test images (known-truth data): q's frame θ_q(x) − θ_true(x) per image
(its mode), and per class the frames' R̄ (1: every instance's prototype in one frame) before and
after turning by π every prototype that is near its own half turn (half-turn asymmetry ≤ τ) and
whose ink is skewed the "wrong" way — along the ink's principal axis (sign fixed to point down,
"su") or along the frame's y axis ("sy"); τ = 0.15 and 0.3. Prints one line per rule and τ:
class:R̄ before->after(share turned).
"""
import sys

import numpy as np

from inv_tf import data as data_lib
from inv_tf import runs, transforms
from inv_tf.evaluation import circular, truth


def main(model_dir):
  model, config = runs.load_model(model_dir)
  batch = next(iter(data_lib.load_split(config, "test").batch(500)))
  x, labels, eta_true = batch["image"], batch["label"].numpy(), batch["eta_true"].numpy()
  fam = transforms.get_family(config.family)
  eta = model.inference.mode(x).numpy()
  prototypes = transforms.Transform.from_eta(eta, fam).inverse().apply(x, order=1).numpy()
  asymmetry = transforms.half_turn_asymmetry(prototypes).numpy()
  mass = np.maximum((prototypes[..., 0] + 1) / 2, 0)
  size = mass.shape[1]
  ys, xs = np.meshgrid(np.linspace(-1, 1, size), np.linspace(-1, 1, size), indexing="ij")
  total = mass.sum((1, 2))
  dx = xs[None] - ((mass * xs).sum((1, 2)) / total)[:, None, None]
  dy = ys[None] - ((mass * ys).sum((1, 2)) / total)[:, None, None]
  moment = lambda f: (mass * f).sum((1, 2)) / total
  axis = 0.5 * np.arctan2(2 * moment(dx * dy), moment(dx * dx) - moment(dy * dy))
  ux, uy = np.cos(axis), np.sin(axis)
  sign = np.where(uy < 0, -1.0, 1.0)
  along = dx * (sign * ux)[:, None, None] + dy * (sign * uy)[:, None, None]
  skews = {"su": moment(along ** 3), "sy": moment(dy ** 3)}
  frame = eta[:, fam.parameters.index("rotation")] - truth.pose_of_eta(eta_true)[:, 2]
  for name, skew in skews.items():
    for tau in (0.15, 0.3):
      turned = (asymmetry <= tau) & (skew < 0)
      after = np.where(turned, frame + np.pi, frame)
      cells = []
      for c in range(10):
        k = labels == c
        cells.append(f"{c}:{circular.mean_resultant_length(frame[k], -1):.2f}->"
                     f"{circular.mean_resultant_length(after[k], -1):.2f}({turned[k].mean():.2f})")
      print(name, tau, " ".join(cells))


if __name__ == "__main__":
  main(sys.argv[1])
