"""Tests of the known-truth data: `known_truth.ClassTruth`, `mnist_per_class`, `glyphs`, `eta_true`.

Offline, seeded and fast (the embedded MNIST digits; glyphs are rendered in memory).
"""

import dataclasses
import math

import numpy as np
import pytest
import tensorflow as tf

from inv_tf import data, transforms
from inv_tf.data import DataError, common, known_truth, mnist
from inv_tf.data.known_truth import GLYPH_GROUPS, MNIST_PER_CLASS, ClassTruth
from support import collect

DEG = math.pi / 180.0
# Analytic R̄ of MNIST_PER_CLASS's rotations, label by label (module docstring's table).
EXPECTED_RESULTANT = {0: 2 * math.sqrt(2) / math.pi, 1: 1.0, 2: 0.0, 3: 2 / math.pi, 4: 1.0,
                      5: 0.5, 6: 2 * math.sqrt(2) / math.pi, 7: 0.0, 8: 1.0, 9: 1.0}


def _resultant(theta):
  return float(np.abs(np.mean(np.exp(1j * np.asarray(theta, np.float64)))))


@pytest.fixture(scope="module")
def per_class_train():
  return collect(data.load("mnist_per_class", "train", seed=0, source="embedded"))


@pytest.fixture(scope="module")
def glyph_splits():
  return {s: collect(data.load("glyphs", s, seed=0)) for s in data.SPLITS}


# ------------------------------------------------------------------------------------------------
# ClassTruth and the tables.


def test_tables_are_the_specified_ones():
  kinds = {c: (t.rotation_kind, t.rotation_params, t.translation, t.log_scale)
           for c, t in MNIST_PER_CLASS.items()}
  assert kinds == {
      0: ("uniform", (-45 * DEG, 45 * DEG), 0.0, 0.0),
      1: ("fixed", (0.0,), 0.2, 0.0),
      2: ("uniform", (-180 * DEG, 180 * DEG), 0.0, 0.0),
      3: ("uniform", (-90 * DEG, 90 * DEG), 0.0, 0.0),
      4: ("fixed", (0.0,), 0.0, 0.0),
      5: ("two_point", (-60 * DEG, 60 * DEG), 0.0, 0.0),
      6: ("uniform", (0.0, 90 * DEG), 0.0, 0.0),
      7: ("uniform", (-180 * DEG, 180 * DEG), 0.0, 0.0),
      8: ("fixed", (0.0,), 0.0, 0.25),
      9: ("fixed", (0.0,), 0.0, 0.0),
  }
  assert {c: (t.rotation_kind, t.rotation_params) for c, t in GLYPH_GROUPS.items()} == {
      0: ("fixed", (0.0,)), 1: ("uniform", (-90 * DEG, 90 * DEG))}
  for t in list(MNIST_PER_CLASS.values()) + list(GLYPH_GROUPS.values()):
    assert t.description and "\n" not in t.description
  with pytest.raises(dataclasses.FrozenInstanceError):
    MNIST_PER_CLASS[0].translation = 1.0


@pytest.mark.parametrize("label", range(10))
def test_sample_statistics_match_the_spec(label):
  truth = MNIST_PER_CLASS[label]
  eta = truth.sample(np.random.default_rng(label), 20000)
  assert eta.shape == (20000, 5) and eta.dtype == np.float64
  tx, ty, theta, sx, sy = eta.T
  np.testing.assert_array_equal(sx, sy)  # isotropic scale
  kind, params = truth.rotation_kind, truth.rotation_params
  if kind == "fixed":
    np.testing.assert_array_equal(theta, params[0])
  elif kind == "uniform":
    lo, hi = params
    assert theta.min() >= lo and theta.max() <= hi
    assert theta.min() < lo + 0.01 * (hi - lo) and theta.max() > hi - 0.01 * (hi - lo)
    assert abs(theta.mean() - (lo + hi) / 2) < 0.02 * (hi - lo)
    assert abs(theta.std() - (hi - lo) / math.sqrt(12)) < 0.02 * (hi - lo)
  else:
    a, b = params
    assert set(np.unique(theta).tolist()) == {a, b}
    assert abs(np.mean(theta == b) - 0.5) < 0.02
  for values, half in ((tx, truth.translation), (ty, truth.translation), (sx, truth.log_scale)):
    if half == 0:
      np.testing.assert_array_equal(values, 0.0)
    else:
      assert values.min() >= -half and values.max() <= half
      assert abs(values.mean()) < 0.02 * half
      assert abs(values.std() - half / math.sqrt(3)) < 0.02 * half
  if truth.translation:
    assert abs(np.corrcoef(tx, ty)[0, 1]) < 0.03  # independent


def test_sample_is_reproducible_from_the_generator():
  a = MNIST_PER_CLASS[0].sample(np.random.default_rng(5), 10)
  b = MNIST_PER_CLASS[0].sample(np.random.default_rng(5), 10)
  np.testing.assert_array_equal(a, b)
  assert MNIST_PER_CLASS[0].sample(np.random.default_rng(5), 0).shape == (0, 5)


def test_resultant_analytic_values_and_monte_carlo():
  for label, truth in MNIST_PER_CLASS.items():
    assert truth.rotation_resultant() == pytest.approx(EXPECTED_RESULTANT[label], abs=1e-12)
  extra = [ClassTruth.fixed(1.3), ClassTruth.uniform(-0.3, 0.7), ClassTruth.uniform(2.0, 5.5),
           ClassTruth.uniform(0.4, 0.4), ClassTruth.two_point(0.2, 2.9),
           ClassTruth.two_point(-math.pi / 2, math.pi / 2)]
  rng = np.random.default_rng(0)
  for truth in list(MNIST_PER_CLASS.values()) + extra:
    theta = truth.sample(rng, 100_000)[:, 2]
    assert _resultant(theta) == pytest.approx(truth.rotation_resultant(), abs=0.01), truth


def test_circular_std():
  assert MNIST_PER_CLASS[4].rotation_circular_std() == 0.0
  assert MNIST_PER_CLASS[2].rotation_circular_std() == math.inf
  assert ClassTruth.two_point(-math.pi / 2, math.pi / 2).rotation_resultant() == 0.0
  assert ClassTruth.two_point(-math.pi / 2, math.pi / 2).rotation_circular_std() == math.inf
  for label in (0, 3, 5, 6):
    r = EXPECTED_RESULTANT[label]
    assert MNIST_PER_CLASS[label].rotation_circular_std() == pytest.approx(
        math.sqrt(-2 * math.log(r)), rel=1e-12)
  assert MNIST_PER_CLASS[5].rotation_circular_std() == pytest.approx(1.1774100225, abs=1e-9)


@pytest.mark.parametrize("kwargs, message", [
    (dict(rotation_kind="gaussian"), "rotation_kind"),
    (dict(rotation_kind="uniform", rotation_params=(0.0,)), "2 finite"),
    (dict(rotation_kind="two_point", rotation_params=(0.0, math.nan)), "2 finite"),
    (dict(rotation_kind="uniform", rotation_params=(1.0, 0.0)), "low <= high"),
    (dict(rotation_kind="fixed", rotation_params=0.5), "1 finite"),
    (dict(translation=-0.1), "translation"),
    (dict(log_scale=math.inf), "log_scale"),
])
def test_class_truth_validation(kwargs, message):
  with pytest.raises(DataError, match=message) as e:
    ClassTruth(**kwargs)
  assert "\n" not in str(e.value)


def test_tf_mapping_matches_numpy():
  table = known_truth.truth_table(MNIST_PER_CLASS, 10)
  assert table.shape == (10, 5)
  u = np.random.default_rng(3).random((40, 4)).astype(np.float32)
  for label, truth in MNIST_PER_CLASS.items():
    expected = truth.eta_from_uniform(u)
    got = np.stack([known_truth.eta_from_uniform_tf(table, tf.constant(label, tf.int64),
                                                    tf.constant(row)).numpy() for row in u])
    np.testing.assert_allclose(got, expected, atol=2e-6)
  with pytest.raises(DataError, match="no ClassTruth for label"):
    known_truth.truth_table(GLYPH_GROUPS, 3)


# ------------------------------------------------------------------------------------------------
# mnist_per_class.


def test_per_class_format(per_class_train):
  ex = per_class_train
  assert ex["image"].shape == (4000, 28, 28, 1) and ex["image"].dtype == np.float32
  assert ex["eta_true"].shape == (4000, 5) and ex["eta_true"].dtype == np.float32
  assert ex["rotation"].dtype == np.float32
  np.testing.assert_array_equal(ex["rotation"], ex["eta_true"][:, 2])
  assert ex["image"].min() >= -1.0 and ex["image"].max() <= 1.0
  np.testing.assert_array_equal(np.bincount(ex["label"], minlength=10), np.full(10, 400))
  # Same digits, order and ids as `mnist`.
  np.testing.assert_array_equal(ex["index"], mnist.embedded_split_indices()["train"])
  spec = data.load("mnist_per_class", "test", source="embedded").element_spec
  assert spec["eta_true"].shape == (5,) and spec["eta_true"].dtype == tf.float32
  assert data.image_shape("mnist_per_class") == (28, 28, 1)
  assert data.num_classes("mnist_per_class") == 10


@pytest.mark.parametrize("label", range(10))
def test_per_class_eta_matches_the_class_truth(per_class_train, label):
  truth = MNIST_PER_CLASS[label]
  eta = per_class_train["eta_true"][per_class_train["label"] == label].astype(np.float64)
  assert eta.shape[0] == 400
  tx, ty, theta, sx, sy = eta.T
  np.testing.assert_array_equal(sx, sy)
  kind, params = truth.rotation_kind, truth.rotation_params
  if kind == "fixed":
    np.testing.assert_array_equal(theta, 0.0)
  elif kind == "uniform":
    lo, hi = params
    assert theta.min() >= lo - 1e-6 and theta.max() <= hi + 1e-6
    assert theta.min() < lo + 0.03 * (hi - lo) and theta.max() > hi - 0.03 * (hi - lo)
    assert abs(theta.mean() - (lo + hi) / 2) < 0.05 * (hi - lo)
    assert abs(theta.std() - (hi - lo) / math.sqrt(12)) < 0.05 * (hi - lo)
  else:
    a, b = params
    is_b = np.abs(theta - b) < 1e-6
    assert np.all(is_b | (np.abs(theta - a) < 1e-6))
    assert 0.4 < is_b.mean() < 0.6
  # R̂ of n = 400 angles: standard error < 1/√(2n) ≈ 0.035; when R̄ = 0, P(R̂ > r) ≈ exp(−n r²).
  assert _resultant(theta) == pytest.approx(truth.rotation_resultant(), abs=3 / math.sqrt(400))
  for values, half in ((tx, truth.translation), (ty, truth.translation), (sx, truth.log_scale)):
    if half == 0:
      np.testing.assert_array_equal(values, 0.0)
    else:
      assert values.min() >= -half - 1e-6 and values.max() <= half + 1e-6
      assert abs(values.mean()) < 0.1 * half
      assert abs(values.std() - half / math.sqrt(3)) < 0.1 * half


def test_per_class_deterministic_nested_and_seeded(per_class_train):
  small = collect(data.load("mnist_per_class", "train", seed=0, num_train=300,
                             source="embedded"))
  for k in ("image", "label", "index", "eta_true", "rotation"):
    np.testing.assert_array_equal(small[k], per_class_train[k][:300])
  other = collect(data.load("mnist_per_class", "train", seed=1, num_train=300,
                             source="embedded"))
  np.testing.assert_array_equal(other["index"], small["index"])
  varying = np.isin(small["label"], [0, 1, 2, 3, 5, 6, 7, 8])
  assert np.mean(np.any(other["eta_true"][varying] != small["eta_true"][varying], axis=1)) > 0.4
  assert not np.array_equal(other["image"], small["image"])
  with pytest.raises(DataError, match="num_train=4001"):
    data.load("mnist_per_class", "train", num_train=4001, source="embedded")


def test_per_class_image_is_the_transformed_digit(per_class_train):
  images, _ = mnist.embedded_arrays()
  ex = {k: v[:96] for k, v in per_class_train.items()}
  upright = common.uint8_to_signed(images[ex["index"]])
  expected = transforms.transform_images(upright, ex["eta_true"], "affine_no_shear", order=1,
                                         fill_value=-1.0)
  diff = np.abs(ex["image"] - np.clip(expected.numpy(), -1.0, 1.0))
  assert diff.max() < 1e-5
  # A real transformation happened where η* is far from 0.
  moved = np.abs(ex["eta_true"]).max(axis=1) > 0.3
  assert np.mean(np.abs(ex["image"][moved] - upright.numpy()[moved])) > 0.05


# ------------------------------------------------------------------------------------------------
# eta_true on the existing MNIST datasets.


def test_mnist_rotation_carries_eta_true():
  ex = collect(data.load("mnist", "test", rotation_deg=90))
  assert ex["eta_true"].shape == (ex["rotation"].shape[0], 5)
  assert ex["eta_true"].dtype == np.float32
  np.testing.assert_array_equal(ex["eta_true"][:, 2], ex["rotation"])
  np.testing.assert_array_equal(ex["eta_true"][:, [0, 1, 3, 4]], 0.0)
  assert np.abs(ex["rotation"]).max() > 1.0
  plain = data.load("mnist", "test", source="embedded").take(3)
  np.testing.assert_array_equal(collect(plain)["eta_true"], 0.0)


def test_mnist_hsv_eta_true_is_the_affine_part():
  ex = collect(data.load("mnist_hsv", "test", seed=2, rotation_deg=30, source="embedded")
                .take(64))
  np.testing.assert_array_equal(ex["eta_true"][:, 2], ex["rotation"])
  np.testing.assert_array_equal(ex["eta_true"][:, [0, 1, 3, 4]], 0.0)
  assert np.abs(ex["rotation"]).max() > 0.3


# ------------------------------------------------------------------------------------------------
# glyphs.


def test_glyphs_format_and_labels(glyph_splits):
  sizes = {s: glyph_splits[s]["label"].size for s in data.SPLITS}
  assert sizes == {"train": 2000, "validation": 250, "test": 250}
  for s, ex in glyph_splits.items():
    assert ex["image"].shape[1:] == (24, 24, 1) and ex["image"].dtype == np.float32
    assert ex["image"].min() >= -1.0 and ex["image"].max() <= 1.0
    assert ex["image"].max() == 1.0 and np.all(ex["image"][:, 0, 0, 0] == -1.0)
    assert ex["label"].dtype == np.int64 and ex["index"].dtype == np.int64
    assert ex["eta_true"].shape[1:] == (5,) and ex["eta_true"].dtype == np.float32
    np.testing.assert_array_equal(ex["label"], np.arange(sizes[s]) % 2)  # alternating
    np.testing.assert_array_equal(ex["rotation"], ex["eta_true"][:, 2])
  np.testing.assert_array_equal(np.bincount(glyph_splits["train"]["label"]), [1000, 1000])
  ids = np.concatenate([glyph_splits[s]["index"] for s in data.SPLITS])
  assert np.unique(ids).size == 2500
  assert data.image_shape("glyphs") == (24, 24, 1) and data.num_classes("glyphs") == 2


def test_glyphs_rotations_follow_the_groups(glyph_splits):
  ex = glyph_splits["train"]
  zero = ex["label"] == 0
  np.testing.assert_array_equal(ex["eta_true"][zero], 0.0)  # label 0: exactly upright
  theta = ex["eta_true"][~zero, 2].astype(np.float64)
  np.testing.assert_array_equal(ex["eta_true"][~zero][:, [0, 1, 3, 4]], 0.0)
  half = math.pi / 2
  assert theta.min() >= -half - 1e-6 and theta.max() <= half + 1e-6
  assert theta.min() < -0.97 * half and theta.max() > 0.97 * half
  assert abs(theta.mean()) < 0.1
  assert theta.std() == pytest.approx(math.pi / math.sqrt(12), rel=0.06)
  counts = np.histogram(theta, bins=6, range=(-half, half))[0]  # flat: 1000 / 6 ≈ 167 each
  assert counts.min() > 120 and counts.max() < 215


def test_glyphs_are_asymmetric_and_differ():
  arrays = known_truth.glyph_arrays("train", seed=0)
  upright = arrays["upright"][:400, ..., 0]
  label = arrays["label"][:400]
  ops = {"rot90": lambda x: np.rot90(x, 1, axes=(1, 2)),
         "rot180": lambda x: np.rot90(x, 2, axes=(1, 2)),
         "rot270": lambda x: np.rot90(x, 3, axes=(1, 2)),
         "mirror": lambda x: x[:, :, ::-1], "flip": lambda x: x[:, ::-1, :],
         "transpose": lambda x: np.swapaxes(x, 1, 2),
         "anti-transpose": lambda x: np.swapaxes(np.rot90(x, 2, axes=(1, 2)), 1, 2)}
  for name, op in ops.items():
    diff = np.abs(upright - op(upright)).mean(axis=(1, 2))
    assert diff.min() > 0.1, (name, diff.min())
  # The two groups' glyphs differ: the mean "F" and the mean "4" are far apart, and every "4" is
  # far from every "F".
  f, four = upright[label == 0], upright[label == 1]
  assert np.abs(f.mean(0) - four.mean(0)).mean() > 0.15
  pairwise = np.abs(f[:50, None] - four[None, :50]).mean(axis=(2, 3))
  assert pairwise.min() > 0.15
  # The dataset image is the upright glyph under eta_true.
  expected = transforms.transform_images(arrays["upright"][:64], arrays["eta_true"][:64],
                                         "affine_no_shear", order=1, fill_value=-1.0)
  np.testing.assert_allclose(arrays["image"][:64], np.clip(expected.numpy(), -1, 1), atol=1e-6)


def test_glyphs_deterministic_nested_and_seeded(glyph_splits):
  a = known_truth.glyph_arrays("validation", seed=0)
  b = known_truth.glyph_arrays("validation", seed=0)
  c = known_truth.glyph_arrays("validation", seed=1)
  for k in a:
    np.testing.assert_array_equal(a[k], b[k])
  np.testing.assert_array_equal(a["image"], glyph_splits["validation"]["image"])
  assert not np.array_equal(a["upright"], c["upright"])
  assert not np.array_equal(a["eta_true"], c["eta_true"])
  small = collect(data.load("glyphs", "train", seed=0, num_train=100))
  for k in small:
    np.testing.assert_array_equal(small[k], glyph_splits["train"][k][:100])
  # Example i does not depend on the split sizes.
  resized = collect(data.load("glyphs", "train", seed=0, split_sizes=(30, 5, 5)))
  np.testing.assert_array_equal(resized["image"], glyph_splits["train"]["image"][:30])


def test_glyphs_size_option():
  ex = collect(data.load("glyphs", "test", size=16, split_sizes=(2, 2, 6)))
  assert ex["image"].shape == (6, 16, 16, 1)
  assert data.image_shape("glyphs", size=40) == (40, 40, 1)
  big = known_truth.glyph_arrays("test", size=64, split_sizes=(0, 0, 4))
  assert big["image"].shape == (4, 64, 64, 1)


def test_glyphs_splits_have_their_sizes():
  """Speed is a benchmark's business; here only that every split is built whole."""
  total = sum(known_truth.glyph_arrays(s, seed=3)["label"].size for s in data.SPLITS)
  assert total == 2500


# ------------------------------------------------------------------------------------------------
# truth_for, registry and errors.


def test_truth_for_each_name():
  assert data.truth_for("mnist_per_class") == MNIST_PER_CLASS
  assert data.truth_for("glyphs", size=32) == GLYPH_GROUPS  # other options are ignored
  truth = data.truth_for("mnist_per_class")
  truth[0] = None  # a copy: the module's table is unchanged
  assert MNIST_PER_CLASS[0] is not None
  rotated = data.truth_for("mnist", rotation_deg=30, num_train=100)
  assert sorted(rotated) == list(range(10))
  for t in rotated.values():
    assert t.rotation_kind == "uniform"
    assert t.rotation_params == pytest.approx((-30 * DEG, 30 * DEG))
    assert t.translation == 0 and t.log_scale == 0
  for options in ({}, {"rotation_deg": 0}):
    upright = data.truth_for("mnist", **options)
    assert sorted(upright) == list(range(10))
    assert all(t.rotation_kind == "fixed" and t.rotation_params == (0.0,)
               for t in upright.values())
  for name in ("mnist_hsv", "aug_dsprites", "dsprites", "patch_camelyon", "galaxy_mnist",
               "npz:/tmp/x.npz", "nonsense"):
    assert data.truth_for(name) is None
  assert data.truth_for("mnist_hsv", rotation_deg=30) is None
  with pytest.raises(DataError, match="rotation_deg"):
    data.truth_for("mnist", rotation_deg="a lot")
  with pytest.raises(DataError, match=r"rotation_deg must be in \[0, 180\]"):
    data.truth_for("mnist", rotation_deg=-5)


def test_registry_and_exports():
  assert {"mnist_per_class", "glyphs"} <= set(data.DATASETS)
  assert "truth_for" in data.__all__ and data.truth_for is known_truth.truth_for


@pytest.mark.parametrize("name, split, options, message", [
    ("glyphs", "train", dict(size=12), "size must be an integer in 16..64"),
    ("glyphs", "train", dict(size=65), "size must be an integer in 16..64"),
    ("glyphs", "train", dict(size=24.0), "size must be an integer"),
    ("glyphs", "train", dict(size=True), "size must be an integer"),
    ("glyphs", "train", dict(split_sizes=(10, 5)), "split_sizes must be three integers"),
    ("glyphs", "train", dict(split_sizes=(10, -1, 5)), "split_sizes must be three integers"),
    ("glyphs", "train", dict(split_sizes=5), "split_sizes must be three integers"),
    ("glyphs", "train", dict(num_train=2001), "num_train=2001 is larger than the 2000"),
    ("glyphs", "train", dict(num_train=0), "positive"),
    ("glyphs", "validation", dict(split_sizes=(10, 0, 5)), "validation split is empty"),
    ("glyphs", "train", dict(rotation_deg=5), "unknown option.*rotation_deg"),
    ("glyphs", "valid", {}, "unknown split"),
    ("mnist_per_class", "train", dict(rotation_deg=30), "unknown option.*rotation_deg"),
    ("mnist_per_class", "train", dict(max_hue_shift=0.1), "unknown option.*max_hue_shift"),
    ("mnist_per_class", "train", dict(source="web"), "source must be"),
])
def test_bad_options(name, split, options, message):
  with pytest.raises(DataError, match=message) as e:
    data.load(name, split, **options)
  assert "\n" not in str(e.value)


def test_bad_image_shape_options():
  with pytest.raises(DataError, match="size must be"):
    data.image_shape("glyphs", size=100)
  with pytest.raises(DataError, match="unknown option"):
    data.image_shape("mnist_per_class", size=28)
  with pytest.raises(DataError, match="per-class truth excludes"):
    mnist.load("train", per_class=MNIST_PER_CLASS, rotation_deg=10, source="embedded")
