"""The learning check: a short training run must recover known, different per-group widths.

`flags/glyphs.cfg` trains the SGM on synthetic glyphs whose truth is known
(`inv_tf.data.known_truth.GLYPH_GROUPS`): an "F" always upright, a "4" rotated by U(−90°, 90°).
A change that stops q or p from learning — or makes p ignore the prototype and learn one width
for both groups — fails here. Measures: `inv_tf.evaluation.truth` on the 250 test glyphs, 100
resamples each.
"""

import math
import os

import pytest

from inv_tf import config as config_lib
from inv_tf.evaluation import report
from inv_tf.training import checkpoints
from inv_tf.training import train as train_lib

FLAGFILE = os.path.join(os.path.dirname(__file__), os.pardir, "flags", "glyphs.cfg")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def recovered(tmp_path_factory):
  with open(FLAGFILE, encoding="utf-8") as f:
    config = config_lib.from_flagfile(f.read()).replace(export=False).validate()
  workdir = str(tmp_path_factory.mktemp("glyphs"))
  train_lib.train_and_evaluate(config, workdir)
  model = checkpoints.restore_model(workdir)
  metrics, _ = report.truth_recovery(model, config, num_images=250)
  return metrics


def test_upright_group_stays_upright(recovered):
  upright = recovered["classes"][0]
  assert upright["resultant_truth"] == 1.0
  assert upright["resultant"] >= 0.95, upright
  assert upright["rotation"]["w1"] < 0.1, upright["rotation"]


def test_rotated_group_gets_its_true_width(recovered):
  rotated = recovered["classes"][1]
  assert rotated["resultant_truth"] == pytest.approx(2 / math.pi)
  assert rotated["width_rel_error"] <= 0.25, rotated
  assert abs(rotated["resultant"] - rotated["resultant_truth"]) <= 0.15, rotated
  # The whole orbit of each image, not only the pooled marginal: far better than returning
  # the input (recovery 0), close to sampling the truth (recovery 1).
  assert rotated["rotation"]["recovery"] >= 0.7, rotated["rotation"]


def test_the_two_groups_get_clearly_different_widths(recovered):
  classes = recovered["classes"]
  assert classes[0]["resultant"] - classes[1]["resultant"] >= 0.2
