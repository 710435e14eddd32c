"""Image grids for TensorBoard and PNG files: bare tiles and labelled figures.

Images in [-1, 1] are mapped to [0, 1] (background black) and tiled row by row with a 1-pixel
white separator (`tile`). `labelled_grid` puts such a tile in a matplotlib figure with a title,
a label per row, a header per column and coloured lines between groups of columns / rows (e.g.
x | prototype | resamples), so the grid can be read without the code that made it.
"""

import matplotlib

matplotlib.use("Agg")
from matplotlib import figure as mpl_figure  # noqa: E402  (after choosing the backend)
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

GROUP_LINE = dict(color="#e8a000", linewidth=2.5)  # lines between column / row groups


def to_unit(images: tf.Tensor) -> tf.Tensor:
  """[-1, 1] → [0, 1], clipped; any float shape."""
  return tf.clip_by_value((tf.cast(images, tf.float32) + 1.0) / 2.0, 0.0, 1.0)


def tile(rows: tf.Tensor, pad: int = 1) -> tf.Tensor:
  """Tiles images `[R, K, H, W, C]` (R rows of K images) into one image.

  Args:
    rows: float `[R, K, H, W, C]` in [-1, 1].
    pad: separator width in pixels.

  Returns:
    float32 `[R·(H+pad)+pad, K·(W+pad)+pad, C]` in [0, 1].
  """
  images = to_unit(rows)
  images = tf.pad(images, [[0, 0], [0, 0], [pad, 0], [pad, 0], [0, 0]], constant_values=1.0)
  r, k, h, w, c = (tf.shape(images)[i] for i in range(5))
  grid = tf.reshape(tf.transpose(images, [0, 2, 1, 3, 4]), [r * h, k * w, c])
  return tf.pad(grid, [[0, pad], [0, pad], [0, 0]], constant_values=1.0)


def labelled_grid(rows, title: str, row_labels, col_labels, col_groups=(), row_groups=(),
                  cell_inches: float = 0.62, cell_notes=None) -> mpl_figure.Figure:
  """A tiled image grid in a figure with a title, row labels, column headers and group lines.

  Args:
    rows: float `[R, K, H, W, C]` in [-1, 1] (C = 1 or 3).
    title: the figure's title (may hold a second line after "\\n").
    row_labels: R strings, written left of each row.
    col_labels: K strings, written above each column.
    col_groups: column indices k (0 < k < K) before which a group line is drawn, e.g. (1, 2)
      for x | prototype | resamples.
    row_groups: row indices r (0 < r < R) before which a group line is drawn.
    cell_inches: the size of one image in the figure, inches (at 100 dpi: pixels / 100).
    cell_notes: optional {(r, k): text} written small in the top-left corner of a cell.

  Returns:
    A `matplotlib.figure.Figure` (one axes; texts: suptitle, y tick labels = rows, top x tick
    labels = columns).
  """
  rows = tf.convert_to_tensor(rows, tf.float32)
  r, k, h, w = (int(s) for s in rows.shape[:4])
  grid = tile(rows).numpy()
  label_width = 0.09 * max(len(s) for s in row_labels) if row_labels else 0.0
  head = 0.35 + 0.18 * title.count("\n") + 0.1 * max(s.count("\n") + 1 for s in col_labels)
  fig_w = max(k * cell_inches + label_width + 0.3, 3.0)
  fig_h = r * cell_inches + head + 0.35
  fig = mpl_figure.Figure(figsize=(fig_w, fig_h), dpi=100)
  ax = fig.add_axes([(label_width + 0.15) / fig_w, 0.1 / fig_h,
                     k * cell_inches / fig_w, r * cell_inches / fig_h])
  ax.imshow(grid.squeeze(-1) if grid.shape[-1] == 1 else grid, cmap="gray", vmin=0, vmax=1,
            interpolation="nearest", extent=(0, k, r, 0), aspect="auto")
  ax.set_yticks(np.arange(r) + 0.5, list(row_labels), fontsize=8)
  ax.set_xticks(np.arange(k) + 0.5, list(col_labels), fontsize=8)
  ax.xaxis.tick_top()
  ax.tick_params(length=0, pad=2)
  for spine in ax.spines.values():
    spine.set_visible(False)
  for c in col_groups:
    ax.axvline(c, **GROUP_LINE)
  for g in row_groups:
    ax.axhline(g, **GROUP_LINE)
  for (i, j), note in (cell_notes or {}).items():
    ax.text(j + 0.04, i + 0.04, note, color="#ffd966", fontsize=6, va="top", ha="left")
  fig.suptitle(title, fontsize=9, y=1 - 0.06 / fig_h, va="top")
  return fig


def figure_texts(fig: mpl_figure.Figure) -> dict:
  """What a reader sees of a figure: {"title", "rows", "columns", "legends", "xlabels"} (lists of
  strings; used by the tests and handy to check a figure without looking at it)."""
  title = fig._suptitle.get_text() if fig._suptitle is not None else ""
  rows, columns, legends, xlabels = [], [], [], []
  for ax in fig.axes:
    title = title or ax.get_title()
    rows += [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    columns += [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    if ax.get_legend() is not None:
      legends += [t.get_text() for t in ax.get_legend().get_texts()]
    if ax.get_xlabel():
      xlabels.append(ax.get_xlabel())
  for legend in fig.legends:
    legends += [t.get_text() for t in legend.get_texts()]
  return {"title": title, "rows": rows, "columns": columns, "legends": legends,
          "xlabels": xlabels}
