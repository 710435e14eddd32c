r"""The data-efficiency experiment (docs/design.md §12): test IWLB against training-set size.

For each seed s:

1. Train one SGM on the SMALLEST training subset (sizes are nested subsets of one shuffled
   training split, so every larger subset contains it): no model at any size sees images outside
   its own training set, and the SGM is shared by the AugVAE and InvVAE of every size.
2. For each size n and each model m in (vae, augvae, invvae, invvae_ref, vae_standard_aug), train
   m on the first n training images and score it on the test split: IWLB with K importance
   samples, ELBO and reconstruction MSE, in nats per image on [-1, 1] pixels. `invvae_ref` is the
   InvVAE trained with the reference's objective (`invvae_objective=reference`), scored like
   `invvae`; the others are the `--model` of that name (`MODEL_FIELDS`). With
   `vae_keep_best` (the default) every model is scored at its best-by-validation-ELBO step.

Every run is a `train_and_evaluate` call with its own model directory under `workdir`, so an
interrupted experiment resumes: finished runs (a `metrics.json`, and `export/` when the run
exports: `train_lib.train_unless_done`) are read, not retrained. Rows of
an existing `workdir/results.csv` whose `config_hash` (a hash of the run's full flagfile) matches
are reused as they are, so a results.csv copied into a fresh workdir skips the runs it holds (and
the SGM of a seed whose AugVAE / InvVAE rows are all there).

Outputs in `workdir`: `results.csv` (one row per model, size and seed; `model_dir` is the run's
directory name inside `workdir`) and `iwlb_vs_size.png`
(mean test IWLB per model against size, error bars = 95 % Student-t confidence intervals over
seeds, `inv_tf.evaluation.stats`).

The paper's claim (its Fig. 5) that this tests: the AugVAE trained on a quarter of the data reaches
or beats the VAE trained on all of it at ±180° rotation. `summarise` reports the paired
difference AugVAE@quarter − VAE@largest over the seeds that have both, with its 95 % interval:
the claim holds if the interval lies above 0, fails if it lies below, and is inconclusive if it
straddles 0 (or fewer than two seeds have both rows).
"""

import csv
import dataclasses
import hashlib
import os
from typing import Sequence

from inv_tf import config as config_lib
from inv_tf.config import Config
from inv_tf.evaluation import stats
from inv_tf.experiments import plan as plan_lib
from inv_tf.experiments.plan import MODEL_FIELDS, MODELS, SGM_MODELS, Plan
from inv_tf.training import train as train_lib

COLUMNS = ("model", "num_train", "seed", "test_iwlb", "test_elbo", "test_recon_mse",
           "test_ref_iwlb", "steps", "best_step", "model_dir", "config_hash")


def run(base: Config, plan: Plan, workdir: str, log=print) -> list:
  """Runs the experiment; returns the rows of results.csv (dicts keyed by COLUMNS).

  results.csv holds the plan's rows, then the rows of an earlier results.csv that the plan does
  not make but `base` would (same model, size, seed and config hash): a run of part of the
  experiment (e.g. `--models=vae`) keeps the other models' rows, and the summary covers all.

  Args:
    base: every training setting (SGM and VAE fields); `model`, `stage`, `seed`, `num_train`
      and `sgm_dir` are set per run.
    plan: sizes, seeds and models.
    workdir: where runs, results.csv and the plot go.
    log: called with one line per finished run.
  """
  plan.validate()
  sizes = tuple(sorted(plan.sizes))
  os.makedirs(workdir, exist_ok=True)
  csv_path = os.path.join(workdir, "results.csv")
  done = {(r["model"], int(r["num_train"]), int(r["seed"]), r.get("config_hash")): r
          for r in read_csv(csv_path)} if os.path.exists(csv_path) else {}
  planned = {(m, n, seed) for m in plan.models for n in sizes for seed in plan.seeds}
  kept = [r for r in done.values()
          if r["model"] in MODELS and (r["model"], r["num_train"], r["seed"]) not in planned
          and r.get("config_hash") == config_hash(
              _run_config(base, r["model"], r["num_train"], r["seed"], workdir))]
  rows = []
  for seed in plan.seeds:
    sgm_dir = _sgm_dir(workdir, seed)
    sgm_config = base.replace(model="sgm", stage="all", seed=seed, num_train=sizes[0], sgm_dir="").validate()
    configs = {(m, n): _run_config(base, m, n, seed, workdir) for n in sizes for m in plan.models}
    keys = {k: k + (seed, config_hash(c)) for k, c in configs.items()}
    if any(m in SGM_MODELS and keys[(m, n)] not in done for (m, n) in configs):
      train_lib.train_unless_done(sgm_config, sgm_dir)
      log(f"sgm seed={seed} num_train={sizes[0]}: {sgm_dir}")
    for n in sizes:
      for model in plan.models:
        run_dir = os.path.join(workdir, f"{model}_n{n}_seed{seed}")
        if keys[(model, n)] in done:
          row = done[keys[(model, n)]]
        else:
          metrics = train_lib.train_unless_done(configs[(model, n)], run_dir)
          stage = configs[(model, n)].model  # the VAE family's one stage is named after it
          row = {"model": model, "num_train": n, "seed": seed,
                 "test_iwlb": metrics["test/iwlb"], "test_elbo": metrics["test/elbo"],
                 "test_recon_mse": metrics["test/recon_mse"],
                 "test_ref_iwlb": metrics.get("test/ref_iwlb", ""),
                 "steps": metrics.get(f"{stage}/steps", ""),
                 "best_step": metrics.get(f"{stage}/best_step", ""),
                 "model_dir": os.path.basename(run_dir),
                 "config_hash": config_hash(configs[(model, n)])}
        rows.append(row)
        write_csv(rows + kept, csv_path)
        log(f"{model} n={n} seed={seed}: test IWLB {float(row['test_iwlb']):.1f} nats")
  rows += kept
  plot(rows, os.path.join(workdir, "iwlb_vs_size.png"))
  return rows


def _sgm_dir(workdir: str, seed: int) -> str:
  """Where the experiment trains the SGM of `seed`."""
  return os.path.join(workdir, f"sgm_seed{seed}")


def _run_config(base: Config, model: str, num_train: int, seed: int, workdir: str) -> Config:
  """The validated Config of one run of the experiment (its SGM in `_sgm_dir(workdir, seed)`)."""
  sgm_dir = _sgm_dir(workdir, seed) if model in SGM_MODELS else ""
  return base.replace(seed=seed, num_train=num_train, sgm_dir=sgm_dir,
                      **MODEL_FIELDS[model]).validate()


def config_hash(config: Config) -> str:
  """A short hash of a run's configuration: the flagfile lines that differ from the defaults.

  The SGM's path is left out (the same SGM may live in another workdir), and so are fields at
  their default values, so adding a new field with a default keeps earlier hashes valid. The
  lines are spelled as before the renames of `config_lib.RENAMED_FIELDS` / `LEGACY_STAGES`
  (`_spelled_as_before_renames`), so rows of results.csv written before them stay valid.
  """
  lines = set(_spelled_as_before_renames(config.replace(sgm_dir="")))
  changed = sorted(lines - set(_spelled_as_before_renames(Config())))
  return hashlib.sha1("\n".join(changed).encode("utf-8")).hexdigest()[:12]


def _spelled_as_before_renames(config: Config) -> list:
  """`config`'s flagfile lines with the old flag names and one --stage naming the model."""
  old_names = {new: old for old, new in config_lib.RENAMED_FIELDS.items()}
  old_stages = {model: old for old, (model, _) in config_lib.LEGACY_STAGES.items()}
  lines = []
  for line in config.to_flagfile().splitlines():
    name, value = line[2:].split("=", 1)
    if name == "model":
      continue  # --stage named the model
    if name == "stage" and value == "all":
      value = old_stages[config.model]
    lines.append(f"--{old_names.get(name, name)}={value}")
  return lines


def read_csv(path: str) -> list:
  """The rows of a results.csv (numbers as floats / ints where the column is numeric)."""
  with open(path, newline="", encoding="utf-8") as f:
    rows = list(csv.DictReader(f))
  for r in rows:
    r["model"] = plan_lib.RENAMED_MODELS.get(r["model"], r["model"])
    r["num_train"], r["seed"] = int(r["num_train"]), int(r["seed"])
    for key in ("test_iwlb", "test_elbo", "test_recon_mse"):
      r[key] = float(r[key])
  return rows


def write_csv(rows: Sequence[dict], path: str):
  tmp = f"{path}.tmp"
  with open(tmp, "w", newline="", encoding="utf-8") as f:
    writer = csv.DictWriter(f, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
  os.replace(tmp, path)


def summarise(rows: Sequence[dict], level: float = 0.95) -> dict:
  """Per (model, size) the mean test IWLB with its confidence interval, and the paper's claim.

  Returns:
    {"table": {(model, n): `stats.mean_ci` dict}, "claim": dict or None}. "claim" compares the
    AugVAE at the size closest to a quarter of the largest with the VAE at the largest, paired by
    seed: `stats.paired_difference` (AugVAE − VAE) plus "verdict" ("holds" if the interval lies
    above 0, "fails" if below, "inconclusive" otherwise or with one seed), "augvae_size" and
    "vae_size"; None if no seed has both rows.
  """
  groups = {}
  for r in rows:
    groups.setdefault((r["model"], int(r["num_train"])), {})[int(r["seed"])] = float(r["test_iwlb"])
  table = {k: stats.mean_ci(list(v.values()), level) for k, v in groups.items()}
  sizes = sorted({n for _, n in table})
  claim = None
  if sizes:
    quarter = min(sizes, key=lambda n: abs(n - sizes[-1] / 4))
    aug, vae = groups.get(("augvae", quarter), {}), groups.get(("vae", sizes[-1]), {})
    if set(aug) & set(vae):
      claim = stats.paired_difference(aug, vae, level)
      if claim["n"] > 1 and claim["low"] > 0:
        claim["verdict"] = "holds"
      elif claim["n"] > 1 and claim["high"] < 0:
        claim["verdict"] = "fails"
      else:
        claim["verdict"] = "inconclusive"
      claim.update(augvae_size=quarter, vae_size=sizes[-1])
  return {"table": table, "claim": claim}


def plot(rows: Sequence[dict], path: str):
  """Mean test IWLB per model against training-set size, error bars over seeds (PNG)."""
  import matplotlib
  matplotlib.use("Agg")
  from matplotlib import pyplot as plt
  import numpy as np
  table = summarise(rows)["table"]
  fig, ax = plt.subplots(figsize=(5.5, 3.8), dpi=120)
  for model in MODELS:
    points = sorted((n, c["mean"], c["half_width"]) for (name, n), c in table.items()
                    if name == model)
    if points:
      n, m, h = zip(*points)
      ax.errorbar(n, m, yerr=np.nan_to_num(h), marker="o", capsize=3, label=model)
  ax.set_xscale("log")
  ax.set_xlabel("training images")
  ax.set_ylabel("test IWLB (nats / image)")
  ax.set_title("Test IWLB vs training-set size (mean, 95 % CI over seeds)", fontsize=9)
  ax.legend()
  ax.grid(alpha=0.3)
  fig.tight_layout()
  tmp = f"{path}.tmp.png"
  fig.savefig(tmp)
  plt.close(fig)
  os.replace(tmp, path)


def smoke(base: Config, plan: Plan) -> tuple:
  """A minutes-long version of (base, plan) that exercises every step (for CI and checks).

  Tiny networks, 20 steps per stage, one size (64), one seed, K = 8 on 32 test images, no
  SavedModel exports (the experiment reads only checkpoints and metrics).
  """
  config = base.replace(
      batch_size=32, eval_batch_size=32, num_eval_batches=1, interpolation_order=1,
      inference_steps=20, generative_steps=20, vae_steps=20, inference_hidden_dims=(32,),
      generative_hidden_dims=(32,), conditioner_hidden_dims=(16,), num_flows=2, num_bins=4,
      n_samples=1, generative_n_samples=2, latent_dim=4, vae_conv_dims=(8,), vae_dense_dims=(16,),
      iwlb_num_samples=8, test_batch_size=16, num_test=32, log_every=10, checkpoint_every=20,
      export=False)
  return config, dataclasses.replace(plan, sizes=(64,), seeds=plan.seeds[:1])


def markdown_table(rows: Sequence[dict]) -> str:
  """Test IWLB as a Markdown table: one row per model, one column per size, mean ± 95 % CI
  half-width (number of seeds)."""
  table = summarise(rows)["table"]
  sizes = sorted({n for _, n in table})
  lines = ["| model | " + " | ".join(f"n = {n:,}" for n in sizes) + " |",
           "|---|" + "---|" * len(sizes)]
  for model in MODELS:
    cells = []
    for n in sizes:
      if (model, n) in table:
        cells.append(stats.format_ci(table[(model, n)]))
      else:
        cells.append("–")
    if any(c != "–" for c in cells):
      lines.append(f"| {model} | " + " | ".join(cells) + " |")
  return "\n".join(lines)
