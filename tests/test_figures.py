"""`inv_tf.evaluation.figures` / `grids.labelled_grid`: every figure has a title, labelled rows /
columns or axes and a legend where it draws more than one mark, at a size TensorBoard shows.

An untrained tiny SGM is enough: the tests read the figures' texts, not what the model learned.
"""

import numpy as np
import pytest
import tensorflow as tf
from matplotlib import lines as mpl_lines

from inv_tf.evaluation import figures, grids
from inv_tf.models.sgm import SGM
from support import tiny_config

NAMES = ("tx", "ty", "rotation", "log_scale_x", "log_scale_y")  # affine_no_shear


@pytest.fixture(scope="module")
def sgm():
  tf.keras.utils.set_random_seed(0)
  return SGM(tiny_config(), (28, 28, 1))


def _images(n, seed=0):
  rng = np.random.default_rng(seed)
  images = np.full((n, 28, 28, 1), -1.0, np.float32)
  for i in range(n):
    top, left = rng.integers(4, 12, size=2)
    images[i, top:top + 12, left:left + 5] = 1.0
  return images


def _group_lines(fig):
  """Positions of the group separators (axvline / axhline) of a labelled grid: (x's, y's)."""
  (ax,) = fig.axes
  xs, ys = [], []
  for line in ax.get_lines():
    x, y = line.get_xdata(), line.get_ydata()
    if x[0] == x[1]:
      xs.append(float(x[0]))
    elif y[0] == y[1]:
      ys.append(float(y[0]))
  return sorted(xs), sorted(ys)


def _assert_readable(fig, min_cell_pixels=None, cells=None):
  """Fonts ≥ 6 pt; rendered width ≤ 1600 px; grid cells at least `min_cell_pixels` wide."""
  for text in fig.findobj(lambda a: hasattr(a, "get_fontsize") and hasattr(a, "get_text")):
    if text.get_text():
      assert text.get_fontsize() >= 6, text.get_text()
  png = tf.io.decode_png(figures.png_bytes(fig))
  assert 300 <= png.shape[1] <= 1600, png.shape
  if min_cell_pixels:
    (ax,) = fig.axes
    width = ax.get_position().width * fig.get_figwidth() * fig.dpi
    assert width / cells >= min_cell_pixels


def test_labelled_grid_has_title_rows_columns_and_group_lines():
  rows = np.zeros((3, 4, 8, 8, 1), np.float32)
  fig = grids.labelled_grid(rows, "A title", ["a", "b", "c"], ["w", "x", "y", "z"],
                            col_groups=(1, 2), row_groups=(2,), cell_notes={(0, 0): "note"})
  texts = grids.figure_texts(fig)
  assert texts["title"] == "A title"
  assert texts["rows"] == ["a", "b", "c"] and texts["columns"] == ["w", "x", "y", "z"]
  assert _group_lines(fig) == ([1.0, 2.0], [2.0])
  assert "note" in [t.get_text() for t in fig.axes[0].texts]


def test_eta_sweep_labels_every_component_its_range_and_the_columns(sgm):
  fig = figures.eta_sweep(sgm, _images(1)[0], num_steps=5, label=7)
  texts = grids.figure_texts(fig)
  assert "η sweep" in texts["title"] and "class 7" in texts["title"]
  assert len(texts["rows"]) == 2 * len(NAMES)
  for i, name in enumerate(NAMES):
    assert texts["rows"][2 * i].startswith(name) and texts["rows"][2 * i].endswith("views")
    assert texts["rows"][2 * i + 1] == f"{name}: prototypes"
  assert "rotation -180°…+180°: views" in texts["rows"]  # default bound π, in degrees
  assert texts["columns"] == ["t=-1", "t=-0.5", "t=0", "t=+0.5", "t=+1"]
  # A line between consecutive components; each view cell notes its value.
  assert _group_lines(fig) == ([], [2.0, 4.0, 6.0, 8.0])
  notes = [t.get_text() for t in fig.axes[0].texts]
  assert {"-180°", "+0°", "+180°"} <= set(notes) and len(notes) == 5 * len(NAMES)
  _assert_readable(fig, min_cell_pixels=56, cells=5)


def test_orbit_grid_labels_classes_and_separates_x_prototype_resamples(sgm):
  fig = figures.orbit_grid(sgm, _images(3), num_resamples=4, labels=[3, 3, 8])
  texts = grids.figure_texts(fig)
  assert texts["title"].startswith("Orbits")
  assert texts["rows"] == ["class 3", "class 3", "class 8"]
  assert texts["columns"] == ["x", "prototype\nx̂"] + [f"resample\n{k}" for k in range(1, 5)]
  assert _group_lines(fig) == ([1.0, 2.0], [])
  _assert_readable(fig, min_cell_pixels=56, cells=6)


def test_rotation_strips_label_angles_and_view_prototype_rows(sgm):
  fig = figures.rotation_strips(sgm, _images(2), num_angles=4, labels=[1, 5])
  texts = grids.figure_texts(fig)
  assert texts["title"].startswith("Rotation invariance")
  assert texts["rows"] == ["class 1: views", "prototypes", "class 5: views", "prototypes"]
  assert texts["columns"] == ["-180°", "-90°", "+0°", "+90°"]
  assert _group_lines(fig) == ([], [2.0])
  _assert_readable(fig)


def test_eta_marginals_has_legend_units_and_title(sgm):
  fig = figures.eta_marginals(sgm, _images(2), num_samples=200, labels=[4, 9])
  texts = grids.figure_texts(fig)
  assert texts["title"].startswith("Learned distribution p(η|x̂)")
  assert texts["legends"] == ["histogram of η ~ p(η|x̂)", "KDE", "η inferred by q(η|x)"]
  assert "rotation (degrees)" in texts["xlabels"]
  assert "tx (normalised units: the image spans [−1, 1])" in texts["xlabels"]
  assert "log_scale_x (ln of the scale factor)" in texts["xlabels"]
  assert {"class 4", "class 9"} <= set(texts["xlabels"])
  titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
  assert titles == ["x", *NAMES]
  _assert_readable(fig)


def test_iterated_norms_has_title_and_axis_labels():
  fig = figures.iterated_norms([0.5, 0.2, 0.1])
  (ax,) = fig.axes
  assert ax.get_title() and ax.get_xlabel() and "‖η‖" in ax.get_ylabel()
  assert len([l for l in ax.get_lines() if isinstance(l, mpl_lines.Line2D)]) == 1  # no legend
  _assert_readable(fig)


def test_format_eta_uses_degrees_and_scale_factors():
  assert figures.format_eta("rotation", np.pi / 2) == "+90°"
  assert figures.format_eta("log_scale_x", 0.0) == "×1.00"
  assert figures.format_eta("tx", -0.25) == "-0.25"


def test_kde_integrates_to_one_and_ignores_far_outliers():
  rng = np.random.default_rng(0)
  samples = np.concatenate([rng.normal(0.0, 0.05, 995), np.full(5, 30.0)])
  grid = np.linspace(-1, 1, 2001)
  density = figures._kde(samples, grid)
  assert np.trapezoid(density, grid) == pytest.approx(0.995, abs=0.01)
  assert density.max() > 5.0  # a peak of the N(0, 0.05) bulk (≈ 8), not flattened by outliers
  angles = rng.vonmises(np.pi, 2.0, 2000)  # mass across the ±π cut
  grid = np.linspace(-np.pi, np.pi, 2001)
  density = figures._kde(angles, grid, 2 * np.pi)
  assert np.trapezoid(density, grid) == pytest.approx(1.0, abs=0.01)
  assert density[0] == pytest.approx(density[-1], rel=1e-6)
