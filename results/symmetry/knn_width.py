"""Is p as narrow as the targets q gives it allow? p's R̄ beside a nearest-neighbour reference.

    python results/symmetry/knn_width.py OUT.csv NAME=MODEL_DIR [NAME=MODEL_DIR ...]

Stage 2 fits p(η|x̂) to the pairs (x̂ᵢ, θ_q(xᵢ)) of the training images. How narrow p can be on a
test image depends on how much θ_q varies among training images whose prototypes look like its
prototype. A nonparametric reference for that: for each test prototype x̂, its k nearest training
prototypes (Euclidean distance of the pixels) and the mean resultant length of their θ_q,

    R̄_kNN(x̂) = | (1/k) Σ_{j ∈ kNN(x̂)} exp(i θ_q(x_j)) |                                  (1)

— what p would give if it answered each test prototype with its neighbours' rotations. Per class,
beside it: p's own R̄ per image (100 rotation samples of p(η|x̂), as `trainers.evaluate` draws
them), and the frame R̄ (R̄ of θ_q over the class's training images: what a p that ignores x̂
within the class would give). Reading: p's R̄ well below R̄_kNN means stage 2 under-fits what its
data allows; p's R̄ near R̄_kNN and both low means the targets q gives are themselves spread among
look-alike prototypes (q's frames), which a stage-2 change cannot be expected to fix. (1) is a
reference, not a bound: a learned p may separate prototypes that the pixel distance does not.

Columns per run and class: `p_resultant`, `knn_resultant` (k = K_NEIGHBOURS among all training
images), `knn_resultant_N` (the same among the first N training images only, N in SUBSETS: with
fewer images the neighbours look less alike, so the trend over N says whether the reference
narrows with more data; NaN for a run trained on N images or fewer), `frame_resultant`,
`n_test`. θ is the rotation component of q's mode; the classes come from the data's labels.
Its floor for uniformly spread neighbours is √π / (2√k) ≈ 0.18 at k = 25 (measured on ±180°
runs: 0.17–0.20, the same at every N).
"""
import csv
import sys

import numpy as np
import tensorflow as tf

from inv_tf import data as data_lib
from inv_tf import transforms
from inv_tf.evaluation import circular
from inv_tf.training import checkpoints

K_NEIGHBOURS = 25
NUM_TEST = 500
NUM_P_SAMPLES = 100
SUBSETS = (1000, 2000)
COLUMNS = (("run", "digit", "n_test", "p_resultant", "knn_resultant")
           + tuple(f"knn_resultant_{n}" for n in SUBSETS) + ("frame_resultant",))


def squared_distances(test_x, train_x):
  """‖a − b‖² between rows: test_x `[T, P]`, train_x `[N, P]` → float64 `[T, N]`."""
  a, b = np.asarray(test_x, np.float64), np.asarray(train_x, np.float64)
  return (a * a).sum(1)[:, None] - 2.0 * a @ b.T + (b * b).sum(1)[None, :]


def knn_resultant(dist, theta, k=K_NEIGHBOURS):
  """(1): R̄ of the rotations of each test row's k nearest training rows.

  Args:
    dist: `[T, N]` squared distances (`squared_distances`), N > k.
    theta: `[N]` training rotations, radians.
    k: neighbours per test row.

  Returns:
    float64 `[T]` in [0, 1].
  """
  neighbours = np.argpartition(dist, k, axis=1)[:, :k]
  return np.abs(np.exp(1j * np.asarray(theta, np.float64)[neighbours]).mean(1))


def _prototypes(model, images, rot, batch=250):
  protos, thetas = [], []
  for i in range(0, int(images.shape[0]), batch):
    out = model.prototype(images[i:i + batch])
    protos.append(out["x_hat"].numpy().reshape(out["x_hat"].shape[0], -1))
    thetas.append(out["eta"].numpy()[:, rot])
  return np.concatenate(protos), np.concatenate(thetas)


def rows(name, model_dir):
  model = checkpoints.restore_model(model_dir)
  config = model.config
  rot = transforms.get_family(config.family).parameters.index("rotation")
  train = next(iter(data_lib.load_split(config, "train").batch(100_000)))
  test = next(iter(data_lib.load_split(config, "test").batch(NUM_TEST)))
  train_x, train_theta = _prototypes(model, train["image"], rot)
  test_x, _ = _prototypes(model, test["image"], rot)
  train_labels, test_labels = train["label"].numpy(), test["label"].numpy()
  dist = squared_distances(test_x, train_x)
  knn = {None: knn_resultant(dist, train_theta)}
  for n in SUBSETS:   # NaN where the run has no more than n training images
    knn[n] = (knn_resultant(dist[:, :n], train_theta[:n]) if n < len(train_theta)
              else np.full(len(test_x), np.nan))
  p_rbar = []
  for i in range(0, NUM_TEST, 250):
    x_hat = tf.constant(test_x[i:i + 250].reshape((-1,) + model.image_shape), tf.float32)
    samples = model.sample_eta(x_hat, NUM_P_SAMPLES, tf.constant([0, i], tf.int32)).numpy()
    p_rbar.append(np.abs(np.exp(1j * samples[..., rot].astype(np.float64)).mean(0)))
  p_rbar = np.concatenate(p_rbar)
  for c in np.unique(test_labels):
    sel = test_labels == c
    row = {"run": name, "digit": int(c), "n_test": int(sel.sum()),
           "p_resultant": round(float(p_rbar[sel].mean()), 4),
           "knn_resultant": round(float(knn[None][sel].mean()), 4),
           "frame_resultant": round(float(circular.mean_resultant_length(
               train_theta[train_labels == c])), 4)}
    row.update({f"knn_resultant_{n}": round(float(knn[n][sel].mean()), 4) for n in SUBSETS})
    yield row


if __name__ == "__main__":
  with open(sys.argv[1], "w", newline="") as f:
    writer = csv.DictWriter(f, COLUMNS)
    writer.writeheader()
    for spec in sys.argv[2:]:
      name, model_dir = spec.split("=", 1)
      for row in rows(name, model_dir):
        writer.writerow(row)
        print(row, flush=True)
