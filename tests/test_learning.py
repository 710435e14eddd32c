"""The learning check: a short training run must recover known, different per-group widths.

`flags/glyphs.cfg` trains the SGM on synthetic glyphs whose truth is known
(`inv_tf.data.known_truth.GLYPH_GROUPS`): an "F" always upright (label 0), a "4" rotated by
U(−90°, 90°) (label 1). A change that stops q or p from learning — or makes p ignore the
prototype and learn one width for both groups — fails here. Measures: `inv_tf.evaluation.truth`
on the 250 test glyphs, 100 resamples each. The run is `python -m trainers.train
--flagfile=flags/glyphs.cfg` with XLA's default optimisation (`support.run_module`'s
`xla_defaults`), as users train it.
"""

import math
import os

import pytest

from inv_tf import config as config_lib
from inv_tf import config_flags
from inv_tf.evaluation import report
from inv_tf.models.sgm import SGM
from inv_tf.training import checkpoints

from support import run_module

FLAGFILE = os.path.join(os.path.dirname(__file__), os.pardir, "flags", "glyphs.cfg")

# What "learned" means, each a predicate on `truth.orbit_recovery`'s classes {0: upright, 1: ±90°}.
CHECKS = {
    # The upright group stays upright.
    "upright R̄ ≥ 0.95": lambda c: c[0]["resultant"] >= 0.95,
    "upright rotation W1 < 0.1 rad": lambda c: c[0]["rotation"]["w1"] < 0.1,
    # The rotated group gets its true width, as a whole orbit per image: far better than
    # returning the input (recovery 0), close to sampling the truth (recovery 1).
    "rotated deviation within 25 % of the truth": lambda c: c[1]["width_rel_error"] <= 0.25,
    "rotated R̄ within 0.15 of the truth": lambda c: abs(c[1]["resultant"]
                                                         - c[1]["resultant_truth"]) <= 0.15,
    "rotated recovery ≥ 0.7": lambda c: c[1]["rotation"]["recovery"] >= 0.7,
    # The same, as the resamples show it in their pixels (`truth.visible_rotation`).
    "upright R̄ seen in the pixels ≥ 0.95": lambda c: c[0]["visible_resultant"] >= 0.95,
    "rotated deviation seen in the pixels within 25 % of the truth":
        lambda c: c[1]["visible_width_rel_error"] <= 0.25,
    # Different groups, different widths.
    "groups' R̄ differ by ≥ 0.2": lambda c: c[0]["resultant"] - c[1]["resultant"] >= 0.2,
}


def _config():
  with open(FLAGFILE, encoding="utf-8") as f:
    return config_flags.from_flagfile(f.read()).replace(export=False).validate()


def _failed(result) -> list:
  return [name for name, check in CHECKS.items() if not check(result["classes"])]


def test_an_untrained_model_fails_the_check():
  """The check catches the failure it is for: a model that has learned nothing."""
  config = _config()
  result, _ = report.truth_recovery(SGM(config, (24, 24, 1)), config, num_images=40)
  assert len(_failed(result)) >= 3, result


@pytest.fixture(scope="module")
def recovered(tmp_path_factory):
  """Trains the flagfile as a user does (the trainer, XLA's default optimisation), then measures."""
  config = _config()
  workdir = str(tmp_path_factory.mktemp("glyphs") / "run")
  proc = run_module("trainers.train", f"--flagfile={FLAGFILE}", f"--model_dir={workdir}",
                    "--export=false", xla_defaults=True)
  assert proc.returncode == 0, proc.stderr[-3000:]
  model = checkpoints.restore_model(workdir)
  metrics, _ = report.truth_recovery(model, config, num_images=250)
  return metrics


@pytest.mark.slow
def test_truth_table_is_the_glyphs(recovered):
  assert recovered["classes"][0]["resultant_truth"] == 1.0
  assert recovered["classes"][1]["resultant_truth"] == pytest.approx(2 / math.pi)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CHECKS))
def test_a_short_run_learns_the_per_group_widths(recovered, name):
  assert CHECKS[name](recovered["classes"]), recovered["classes"]
