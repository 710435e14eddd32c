"""Tests for the data-efficiency experiment: `inv_tf.experiments.data_efficiency` and its trainer.

The smoke settings, summary, CSV and plot are tested on hand-made rows; one slow test runs
`python -m trainers.experiment --smoke` (three of the models) twice in a subprocess (the second call reads the finished
runs back instead of training them).
"""

import csv
import hashlib
import math
import os
import struct
import subprocess
import sys
import time

import pytest

from inv_tf.config import Config
from inv_tf.experiments import data_efficiency
from inv_tf.experiments.data_efficiency import COLUMNS
from inv_tf.experiments.plan import MODELS
from inv_tf.experiments.plan import Plan

from support import REPO, user_lines

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _row(model, n, seed, iwlb, ref=""):
  return {"model": model, "num_train": n, "seed": seed, "test_iwlb": iwlb,
          "test_elbo": iwlb - 10.0, "test_recon_mse": 0.1, "test_ref_iwlb": ref,
          "steps": 1000, "best_step": 800, "model_dir": f"/runs/{model}_n{n}_seed{seed}", "config_hash": "0123abcd"}


def _rows(augvae_100=(-400.0, -420.0), vae_400=(-410.0, -414.0)):
  """Two seeds of vae at 100/200/400 and augvae at 100/400, plus one invvae row."""
  rows = []
  for seed in (0, 1):
    rows += [_row("vae", 100, seed, -500.0 - 10 * seed), _row("vae", 200, seed, -450.0),
             _row("vae", 400, seed, vae_400[seed]), _row("augvae", 100, seed, augvae_100[seed]),
             _row("augvae", 400, seed, -380.0 + seed)]
  rows.append(_row("invvae", 100, 0, -390.0, ref=-900.0))
  return rows


def test_smoke_shrinks_the_plan_and_the_models():
  from inv_tf.config import Config
  base = Config(dataset="mnist", rotation_deg=180.0, vae_steps=1500, latent_dim=16)
  config, plan = data_efficiency.smoke(base, Plan(sizes=(1000, 2000, 4000), seeds=(3, 4)))
  assert plan.sizes == (64,) and plan.seeds == (3,) and plan.models == MODELS
  assert (config.inference_steps, config.generative_steps, config.vae_steps) == (20, 20, 20)
  assert config.iwlb_num_samples == 8 and config.num_test == 32
  # What the experiment is about is kept.
  assert config.dataset == "mnist" and config.rotation_deg == 180.0


# ---------------------------------------------------------------------------------------------
# summarise.


def test_summarise_gives_mean_and_95_percent_interval_per_model_and_size():
  summary = data_efficiency.summarise(_rows())
  table = summary["table"]
  assert set(table) == {("vae", 100), ("vae", 200), ("vae", 400), ("augvae", 100),
                        ("augvae", 400), ("invvae", 100)}
  # Two seeds: half-width = t_{0.975, 1} · s / √2 = 12.706 · s / √2.
  assert table[("vae", 100)]["mean"] == -505.0 and table[("vae", 100)]["n"] == 2
  assert table[("vae", 100)]["half_width"] == pytest.approx(12.7062 * math.sqrt(50) / math.sqrt(2),
                                                             rel=1e-4)
  assert table[("vae", 200)]["half_width"] == 0.0
  assert table[("augvae", 400)]["mean"] == -379.5
  assert table[("invvae", 100)]["n"] == 1 and math.isnan(table[("invvae", 100)]["half_width"])


def _claim_rows(diffs):
  """AugVAE@100 − VAE@400 = diffs[s] for seed s, with a large shared seed effect."""
  rows = []
  for seed, d in enumerate(diffs):
    rows += [_row("vae", 400, seed, -400.0 - 50 * seed), _row("augvae", 100, seed,
                                                               -400.0 - 50 * seed + d)]
  return rows


@pytest.mark.parametrize("diffs, verdict", [
    ((5.0, 6.0, 4.0, 5.5, 4.5), "holds"),     # the paired interval lies above 0
    ((-5.0, -6.0, -4.0, -5.5, -4.5), "fails"),
    ((5.0, -6.0, 4.0, -5.5, 1.0), "inconclusive"),
    ((5.0,), "inconclusive"),                 # one seed: no interval
])
def test_claim_is_the_paired_difference_with_its_interval(diffs, verdict):
  claim = data_efficiency.summarise(_claim_rows(diffs))["claim"]
  assert claim["verdict"] == verdict
  assert claim["mean"] == pytest.approx(sum(diffs) / len(diffs))
  assert claim["n"] == len(diffs) and claim["seeds"] == list(range(len(diffs)))
  assert (claim["augvae_size"], claim["vae_size"]) == (100, 400)
  if len(diffs) > 1:  # Pairing removes the shared seed effect (50 nats per seed).
    assert claim["half_width"] < 10


def test_claim_uses_the_size_closest_to_a_quarter_of_the_largest():
  # Sizes 64, 128: a quarter of 128 is 32, closest 64. AugVAE at 128 must not be used.
  rows = [_row("vae", 128, 0, -100.0), _row("augvae", 64, 0, -150.0),
          _row("augvae", 128, 0, -50.0)]
  assert data_efficiency.summarise(rows)["claim"]["mean"] == -50.0
  # Sizes 1000, 3000, 4000: a quarter of 4000 is 1000 exactly.
  rows = [_row("vae", 4000, 0, -100.0), _row("augvae", 1000, 0, -90.0),
          _row("augvae", 3000, 0, -200.0)]
  claim = data_efficiency.summarise(rows)["claim"]
  assert claim["mean"] == 10.0 and claim["augvae_size"] == 1000


@pytest.mark.parametrize("rows", [
    [],
    [_row("vae", 400, 0, -1.0), _row("augvae", 400, 0, -1.0), _row("vae", 100, 0, -2.0)],
    [_row("augvae", 100, 0, -1.0), _row("vae", 100, 0, -1.0), _row("invvae", 400, 0, -2.0)],
    [_row("vae", 100, 0, -1.0), _row("vae", 400, 0, -1.0)],
    [_row("vae", 400, 0, -1.0), _row("augvae", 100, 1, -1.0)],
], ids=["no_rows", "no_augvae_at_the_quarter", "no_vae_at_the_largest", "no_augvae",
        "no_common_seed"])
def test_claim_is_none_when_a_side_is_missing(rows):
  summary = data_efficiency.summarise(rows)
  assert summary["claim"] is None
  assert sum(c["n"] for c in summary["table"].values()) == len(rows)


# ---------------------------------------------------------------------------------------------
# write_csv and plot.


def test_write_csv_round_trips_and_replaces_atomically(tmp_path):
  path = str(tmp_path / "results.csv")
  rows = _rows()
  data_efficiency.write_csv(rows, path)
  with open(path, newline="", encoding="utf-8") as f:
    reader = csv.DictReader(f)
    assert tuple(reader.fieldnames) == COLUMNS
    back = list(reader)
  assert len(back) == len(rows)
  for got, want in zip(back, rows):
    assert got == {k: str(v) for k, v in want.items()}
  assert back[-1]["test_ref_iwlb"] == "-900.0" and back[0]["test_ref_iwlb"] == ""
  # Rows read back (strings) summarise to the same table.
  got, want = data_efficiency.summarise(back), data_efficiency.summarise(rows)
  assert got["table"].keys() == want["table"].keys()
  for key, ci in want["table"].items():
    assert got["table"][key] == pytest.approx(ci, nan_ok=True), key
  assert got["claim"] == want["claim"]
  # Rewriting with fewer rows replaces the file; nothing temporary is left.
  data_efficiency.write_csv(rows[:2], path)
  with open(path, newline="", encoding="utf-8") as f:
    assert len(list(csv.DictReader(f))) == 2
  assert os.listdir(tmp_path) == ["results.csv"]


def _png_size(path):
  with open(path, "rb") as f:
    head = f.read(24)
  assert head[:8] == PNG_SIGNATURE and head[12:16] == b"IHDR"
  return struct.unpack(">II", head[16:24])


def test_plot_writes_a_png(tmp_path):
  path = str(tmp_path / "iwlb_vs_size.png")
  data_efficiency.plot(_rows(), path)
  assert _png_size(path) == (660, 456)  # 5.5 × 3.8 inches at 120 dpi
  assert os.path.getsize(path) > 5000  # axes, lines and a legend, not a blank canvas
  assert os.listdir(tmp_path) == ["iwlb_vs_size.png"]
  # One seed per point (no error bars) and a single model work too.
  data_efficiency.plot([_row("vae", 64, 0, -1.0), _row("vae", 128, 0, -0.5)], path)
  assert _png_size(path) == (660, 456)


# ---------------------------------------------------------------------------------------------
# The trainer, end to end.


# The smoke's models: one without an SGM, one trained on SGM resamples, one with the reference
# bound columns. Every model's configuration is checked without training
# (`test_every_model_has_a_valid_run_configuration`), and tests/test_vae_train.py trains each.
SMOKE_MODELS = ("vae", "augvae", "invvae_ref")


def _experiment(model_dir):
  env = dict(os.environ)
  env.pop("PYTHONPATH", None)
  start = time.monotonic()
  # Plain graphs: what is tested is the experiment's bookkeeping (rows, resume, read-back), and
  # XLA-compiling the tiny models was two thirds of the smoke's time (175 → 82 CPU-s measured).
  # tests/test_vae_train.py trains each model family under XLA, as users do.
  proc = subprocess.run([sys.executable, "-m", "trainers.experiment", "--smoke",
                         "--jit_compile=false", f"--models={','.join(SMOKE_MODELS)}",
                         f"--model_dir={model_dir}"], cwd=str(REPO),
                        env=env, capture_output=True, text=True, timeout=900)
  return proc, time.monotonic() - start


def _mtimes(root):
  return {os.path.join(r, f): os.stat(os.path.join(r, f)).st_mtime_ns
          for r, _, files in os.walk(root) for f in files
          if f != "results.csv" and not f.endswith(".png")}


@pytest.mark.slow
def test_smoke_experiment_runs_its_models_and_resumes_by_reading_back(tmp_path):
  model_dir = tmp_path / "experiment"
  first, first_seconds = _experiment(model_dir)
  assert first.returncode == 0, first.stderr[-3000:]
  assert "Traceback" not in first.stderr
  assert not [line for line in user_lines(first.stderr) if line.startswith("error")]
  with open(model_dir / "results.csv", newline="", encoding="utf-8") as f:
    reader = csv.DictReader(f)
    assert tuple(reader.fieldnames) == COLUMNS
    rows = list(reader)
  assert len(rows) == len(SMOKE_MODELS)  # × 1 size × 1 seed
  assert sorted((r["model"], int(r["num_train"]), int(r["seed"])) for r in rows) == sorted(
      (m, 64, 0) for m in SMOKE_MODELS)
  for row in rows:
    for key in ("test_iwlb", "test_elbo", "test_recon_mse"):
      assert math.isfinite(float(row[key])), row
    assert float(row["test_iwlb"]) >= float(row["test_elbo"]) - 1.0, row
    assert (row["test_ref_iwlb"] != "") == (row["model"] in ("invvae", "invvae_ref")), row
    assert int(row["steps"]) == 20 and 0 < int(row["best_step"]) <= 20, row
    assert os.path.isfile(model_dir / row["model_dir"] / "metrics.json"), row
  assert (model_dir / "sgm_seed0" / "metrics.json").is_file()
  assert _png_size(model_dir / "iwlb_vs_size.png") == (660, 456)
  assert "AugVAE@64 − VAE@64 (paired by seed): " in first.stdout
  assert "(1) nats — inconclusive" in first.stdout
  assert "| model | n = 64 |" in first.stdout  # the Markdown table
  for model in SMOKE_MODELS:
    assert any(line.startswith(f"| {model} | ") and line.count("(1)") == 1
               for line in first.stdout.splitlines()), model

  with open(model_dir / "results.csv", "rb") as f:
    csv_bytes = f.read()
  before = _mtimes(model_dir)
  second, second_seconds = _experiment(model_dir)
  assert second.returncode == 0, second.stderr[-3000:]
  # Finished runs are read back: nothing is trained or rewritten (checkpoints, logs, exports,
  # metrics.json untouched), so the call takes little more than starting Python and TensorFlow.
  assert _mtimes(model_dir) == before
  assert second_seconds < first_seconds / 3, (first_seconds, second_seconds)
  with open(model_dir / "results.csv", "rb") as f:
    assert f.read() == csv_bytes
  # Every row comes from results.csv, so the SGM is not even read back (no "sgm seed=" line).
  assert second.stdout == "".join(line for line in first.stdout.splitlines(keepends=True)
                                  if not line.startswith("sgm seed="))


def test_every_model_has_a_valid_run_configuration(tmp_path):
  base, _ = data_efficiency.smoke(Config(), Plan(sizes=(64,), seeds=(0,), models=MODELS))
  workdir = str(tmp_path)
  for model in MODELS:
    config = data_efficiency._run_config(base, model, 64, 3, workdir)  # pylint: disable=protected-access
    assert config.num_train == 64 and config.seed == 3, model
    for field, value in data_efficiency.MODEL_FIELDS[model].items():
      assert getattr(config, field) == value, (model, field)
    uses_sgm = model in data_efficiency.SGM_MODELS
    assert config.sgm_dir == (os.path.join(workdir, "sgm_seed3") if uses_sgm else ""), model


def test_markdown_table_has_a_row_per_model_and_a_column_per_size():
  rows = [{"model": "vae", "num_train": 100, "seed": 0, "test_iwlb": 1.0},
          {"model": "vae", "num_train": 100, "seed": 1, "test_iwlb": 3.0},
          {"model": "augvae", "num_train": 400, "seed": 0, "test_iwlb": 5.0}]
  table = data_efficiency.markdown_table(rows).splitlines()
  assert table[0] == "| model | n = 100 | n = 400 |"
  assert table[2] == "| vae | 2.0 ± 12.7 (2) | – |"  # t_{0.975, 1} · s / √2 = 12.706
  assert table[3] == "| augvae | – | 5.0 (1) |"
  assert len(table) == 4


def test_rows_of_an_existing_results_csv_with_the_same_config_are_reused(tmp_path, monkeypatch):
  base = Config(vae_steps=5)
  plan = data_efficiency.Plan(sizes=(64, 128), seeds=(0,), models=("vae", "augvae"))
  calls = []

  def fake_run(config, workdir):
    calls.append((config.model, config.num_train))
    return {"test/iwlb": 1.0, "test/elbo": 0.5, "test/recon_mse": 0.1}

  monkeypatch.setattr(data_efficiency.train_lib, "train_unless_done", fake_run)
  monkeypatch.setattr(data_efficiency, "plot", lambda rows, path: None)
  first = data_efficiency.run(base, plan, str(tmp_path / "a"), log=lambda _: None)
  assert calls == [("sgm", 64), ("vae", 64), ("augvae", 64), ("vae", 128), ("augvae", 128)]
  # A fresh workdir holding only that results.csv: nothing is trained again, not even the SGM.
  (tmp_path / "b").mkdir()
  (tmp_path / "b" / "results.csv").write_bytes((tmp_path / "a" / "results.csv").read_bytes())
  calls.clear()
  again = data_efficiency.run(base, plan, str(tmp_path / "b"), log=lambda _: None)
  assert calls == [] and [r["test_iwlb"] for r in again] == [r["test_iwlb"] for r in first]
  # Another configuration (a different hash) is trained, not read back.
  data_efficiency.run(base.replace(vae_steps=6), plan, str(tmp_path / "b"), log=lambda _: None)
  assert ("vae", 64) in calls and ("sgm", 64) in calls


def test_a_partial_plan_keeps_the_other_rows_this_configuration_would_make(tmp_path,
                                                                          monkeypatch):
  base = Config(vae_steps=5)
  calls = []

  def fake_run(config, workdir):
    calls.append((config.model, config.num_train, config.seed))
    return {"test/iwlb": float(len(calls)), "test/elbo": 0.5, "test/recon_mse": 0.1}

  monkeypatch.setattr(data_efficiency.train_lib, "train_unless_done", fake_run)
  monkeypatch.setattr(data_efficiency, "plot", lambda rows, path: None)
  workdir = str(tmp_path / "w")
  full = data_efficiency.Plan(sizes=(64, 128), seeds=(0,), models=("vae", "augvae"))
  data_efficiency.run(base, full, workdir, log=lambda _: None)
  augvae_rows = [r for r in data_efficiency.read_csv(os.path.join(workdir, "results.csv"))
                 if r["model"] == "augvae"]
  # A row of another configuration (a stale hash) is not kept by a later partial plan.
  stale = dict(augvae_rows[0], seed=7, config_hash="0123456789ab")
  data_efficiency.write_csv(
      data_efficiency.read_csv(os.path.join(workdir, "results.csv")) + [stale],
      os.path.join(workdir, "results.csv"))
  calls.clear()
  rows = data_efficiency.run(base, data_efficiency.Plan(sizes=(64, 128), seeds=(0, 1),
                                                        models=("vae",)), workdir,
                             log=lambda _: None)
  assert calls == [("vae", 64, 1), ("vae", 128, 1)]  # seed 0's rows are read back; no SGM
  on_disk = data_efficiency.read_csv(os.path.join(workdir, "results.csv"))
  key = lambda r: (r["model"], r["num_train"], r["seed"])
  assert sorted(map(key, on_disk)) == sorted(map(key, rows)) == sorted(
      [("vae", n, s) for n in (64, 128) for s in (0, 1)] + [("augvae", 64, 0), ("augvae", 128, 0)])
  assert [r["test_iwlb"] for r in on_disk if r["model"] == "augvae"] == [
      r["test_iwlb"] for r in augvae_rows]
  # With another configuration the augvae rows are not this experiment's: they are dropped.
  rows = data_efficiency.run(base.replace(vae_steps=6), data_efficiency.Plan(
      sizes=(64,), seeds=(0,), models=("vae",)), workdir, log=lambda _: None)
  assert [key(r) for r in rows] == [("vae", 64, 0)]


def test_experiment_models_keep_their_names_and_config_hashes_across_the_renames():
  # results.csv rows written before --model / --generative_augment_range existed stay valid: a
  # run's hash is that of its changed flag lines spelled as inv_tf wrote them then.
  base = Config(generative_augment_range=0.5, vae_steps=7)
  assert data_efficiency.MODEL_FIELDS["vae_standard_aug"] == {"model": "vae_standard_aug"}
  hashes = {m: data_efficiency.config_hash(base.replace(**data_efficiency.MODEL_FIELDS[m]))
            for m in data_efficiency.MODELS}
  assert len(set(hashes.values())) == len(hashes)
  old = ["--bounds_mult=0.5", "--stage=vae_aug", "--vae_steps=7"]
  assert hashes["vae_standard_aug"] == hashlib.sha1(
      "\n".join(sorted(old)).encode()).hexdigest()[:12]


def test_results_rows_under_an_old_model_name_are_read_under_the_new_one(tmp_path):
  path = str(tmp_path / "results.csv")
  row = {c: "" for c in data_efficiency.COLUMNS}
  row.update(model="vae_aug", num_train=64, seed=0, test_iwlb=1.5, test_elbo=1.0,
             test_recon_mse=0.1, config_hash="abc")
  data_efficiency.write_csv([row], path)
  (read,) = data_efficiency.read_csv(path)
  assert read["model"] == "vae_standard_aug" and read["test_iwlb"] == 1.5


def test_the_models_flag_takes_an_old_name_with_one_warning(capsys):
  from absl import flags
  from trainers import cli
  from trainers import experiment
  flags.FLAGS.unparse_flags()
  try:
    cli.parse_flags(["prog", "--models=vae,vae_aug", "--sizes=64", "--seeds=0"])
    plan = experiment.plan_from_flags()
  finally:
    flags.FLAGS.unparse_flags()
  assert plan.models == ("vae", "vae_standard_aug")
  assert capsys.readouterr().err.strip() == (
      "warning: --models=vae_aug is deprecated; use vae_standard_aug")
