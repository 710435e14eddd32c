"""`inv_tf.evaluation.report` and `figures`: the summary table, figures, KS."""

import math
import os

import numpy as np
import tensorflow as tf

from inv_tf.data import sprites
from inv_tf.evaluation import figures, report

PNG = b"\x89PNG\r\n\x1a\n"


def test_json_safe_turns_undefined_values_into_null():
  value = {"a": float("nan"), "b": [1.0, float("inf")], "c": {"d": 2, "e": "x"}}
  assert report.json_safe(value) == {"a": None, "b": [1.0, None], "c": {"d": 2, "e": "x"}}


def _class(resultant, resultant_truth, deviation_truth):
  return {"resultant": resultant, "resultant_truth": resultant_truth,
          "deviation_truth": deviation_truth}


MNIST_METRICS = {
    "full_ratio": 0.16, "axis_ratio": 0.12, "rotation_resultant": 0.15,
    "iterated_eta_norms": [0.9, 0.5, 0.4, 0.38, 0.38], "iterated_eta_norm_last": 0.38,
    "rotation_spread_by_label": {str(k): {"n": 50} for k in range(10)},
    "truth": {"classes": {str(k): _class(0.12 + 0.01 * k, 0.0, 1.8) for k in range(10)},
              "rotation_w1": 0.2, "recovery_min": 0.9, "width_rel_error_max": 0.1,
              "upright_resultant_min": None},
}


def test_summary_table_gives_each_headline_measure_with_its_bar():
  table = report.summary_table(MNIST_METRICS, "mnist", ["/o/eta_sweep.png", "/o/metrics.json"])
  lines = table.splitlines()
  assert len(lines) < 20  # a table, not a dump
  assert "{" not in table and "iterated_eta_norms" not in table
  digits = next(l for l in lines if "classes 2/3/4/5/7" in l)
  assert "0.140–0.190" in digits and "≤ 0.2" in digits and digits.endswith("met")
  others = next(l for l in lines if "classes 0/1/6/8/9" in l)
  assert "≤" not in others and not others.endswith("met")  # the README sets no bar for them
  full = next(l for l in lines if l.startswith("full invariance ratio"))
  assert "0.160" in full and "≤ 0.25" in full and full.endswith(" met")
  iterated = next(l for l in lines if l.startswith("iterated ‖η‖"))
  assert "0.380" in iterated and "≤ 0.1" in iterated and iterated.endswith("NOT met")
  assert lines[-3:] == ["Written:", "  /o/eta_sweep.png", "  /o/metrics.json"]
  # Columns line up (R̄'s combining macron takes no column).
  starts = {l.index(" ≤ ") for l in lines if " ≤ " in l and "R̄" not in l}
  assert len(starts) == 1
  assert {report._width(l[:l.index(" ≤ ")]) for l in lines if " ≤ " in l} == starts


def test_summary_table_bars_for_upright_classes_and_aug_dsprites():
  metrics = {"truth": {"classes": {"0": _class(0.95, 1.0, 0.0), "1": _class(0.43, 1.0, 0.0)},
                       "stray_fraction": 0.004},
             "ks_xy_max": 0.108, "mobility_xy_min": 0.85, "iterated_eta_norm_last": 0.05}
  lines = report.summary_table(metrics, "aug_dsprites").splitlines()
  upright = next(l for l in lines if "upright classes 0/1" in l)
  assert "0.430–0.950" in upright and "≥ 0.9" in upright and upright.endswith("NOT met")
  ks = next(l for l in lines if "position KS" in l)
  assert "0.108" in ks and "≤ 0.10" in ks and ks.endswith("NOT met")
  mobility = next(l for l in lines if "mobility" in l)
  assert "≥ 0.8" in mobility and mobility.endswith(" met")
  assert next(l for l in lines if "iterated" in l).endswith(" met")
  stray = next(l for l in lines if l.startswith("stray resamples"))
  assert "0.004" in stray and "≤ 0.001" in stray and stray.endswith("NOT met")
  assert "Written:" not in lines
  assert not any("pixels" in l for l in lines)  # no visible spread measured, no row


def test_summary_table_gives_the_visible_spread_of_upright_classes():
  classes = {"0": {**_class(0.95, 1.0, 0.0), "visible_resultant": 0.96},
             "1": {**_class(0.43, 1.0, 0.0), "visible_resultant": 0.91}}
  lines = report.summary_table({"truth": {"classes": classes}}, "mnist_per_class").splitlines()
  visible = next(l for l in lines if "pixels, upright classes 0/1" in l)
  assert "0.910–0.960" in visible and "≥ 0.9" in visible and visible.endswith(" met")


def test_summary_table_of_a_vae_and_undefined_measures():
  lines = report.summary_table({"iwlb": -101.25, "elbo": -105.5, "recon_mse": 0.031,
                                "full_ratio": None}).splitlines()
  assert any("test IWLB" in l and "-101.2" in l for l in lines)
  assert not any("invariance" in l for l in lines)


class _Shifter:
  """A fake SGM whose resample shifts every image right by `shift` pixels."""

  def __init__(self, shift):
    self.shift = shift

  def resample(self, x, n, seed):
    del n, seed
    return tf.roll(tf.convert_to_tensor(x), self.shift, axis=2)[None], None


def _squares_and_ellipses(n, seed, low=0.0, high=1.0):
  """n rendered sprites (half squares, half ellipses) at uniform positions: (images, shapes)."""
  rng = np.random.default_rng(seed)
  shapes = np.repeat([0, 1], n // 2)
  images = sprites.render(shapes, np.full(n, 0.7), np.zeros(n), rng.uniform(low, high, n),
                          rng.uniform(low, high, n))[..., None] * 2.0 - 1.0
  return images, shapes


def test_resample_ks_is_zero_for_identity_and_large_for_a_shift():
  images, shapes = _squares_and_ellipses(120, seed=0)
  same, png = report.resample_ks(_Shifter(0), images, shapes, sprites.SHAPE_NAMES)
  assert same["ks_xy_max"] == 0.0 and set(same["ks"]) == {"square", "ellipse"}
  assert same["mobility_xy_min"] == 0.0  # KS 0 from not moving at all: the mobility shows it.
  assert png[:8] == PNG
  moved, _ = report.resample_ks(_Shifter(12), images, shapes, sprites.SHAPE_NAMES)
  assert moved["ks"]["square"]["x"] > 0.3 and moved["ks"]["square"]["y"] == 0.0
  assert moved["ks_xy_max"] == max(moved["ks"]["square"]["x"], moved["ks"]["ellipse"]["x"])
  assert not math.isnan(moved["ks"]["ellipse"]["scale"])
  assert moved["mobility"]["square"]["y"] == 0.0 and moved["mobility"]["square"]["x"] > 0.3


class _Redrawer:
  """A fake SGM whose resample of image i is another image of the same shape (a fresh draw)."""

  def __init__(self, images, shapes):
    rng = np.random.default_rng(1)
    self.partner = np.arange(len(shapes))
    for g in np.unique(shapes):
      members = np.flatnonzero(shapes == g)
      self.partner[members] = rng.permutation(members)
    self.images = images

  def resample(self, x, n, seed):
    del x, n, seed  # One call with every image (batch_size ≥ N).
    return tf.constant(self.images[self.partner], tf.float32)[None], None


def test_mobility_is_about_one_for_independent_redraws():
  n = 1000
  images, shapes = _squares_and_ellipses(n, seed=2, low=0.1, high=0.9)
  out, _ = report.resample_ks(_Redrawer(images, shapes), images, shapes, sprites.SHAPE_NAMES,
                              batch_size=n)
  assert out["ks_xy_max"] == 0.0  # The same multiset of images.
  for shape in ("square", "ellipse"):
    for latent in ("x", "y"):
      assert 0.85 < out["mobility"][shape][latent] < 1.15, out["mobility"]  # 500 pairs each


def test_log_png_round_trips_through_a_summary(tmp_path):
  grid = np.linspace(0, 1, 4 * 6 * 3, dtype=np.float32).reshape(4, 6, 3)
  png = figures.png_bytes(grid)
  writer = tf.summary.create_file_writer(str(tmp_path))
  with writer.as_default():
    figures.log_png("evaluate/test", png, 3)
  writer.flush()
  (event,) = os.listdir(tmp_path)
  found = [v for r in tf.compat.v1.train.summary_iterator(str(tmp_path / event))
           for v in r.summary.value if v.tag == "evaluate/test"]
  assert len(found) == 1 and found[0].tensor.string_val[2][:8] == PNG


# ---------------------------------------------------------------------------------------------
# Runs that did not finish, and bad --out paths.
