"""Tests for examples/classifier.py: the oracle, label subsets, early stopping, resume, statistics.

Everything but the last test is fast and needs no SGM: the oracle is checked on real embedded
`mnist_per_class` digits, early stopping on a tiny dense model, and resuming with a stand-in for
the training function. The last (slow) test trains every arm for two epochs with a tiny untrained
SGM export.
"""

import fcntl
import importlib.util
import math
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from inv_tf.config import Config
from inv_tf.config_flags import from_flagfile
from inv_tf.data import known_truth
from inv_tf.export.saved_model import export_sgm
from inv_tf import transforms

EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples",
                       "classifier.py")


def _load_example():
  spec = importlib.util.spec_from_file_location("classifier_example", EXAMPLE)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


C = _load_example()


@pytest.fixture(scope="module")
def per_class_train():
  """The first 200 `mnist_per_class` training digits: images, labels, eta_true (numpy)."""
  images, labels, eta = C.load_split("mnist_per_class", "train")
  return images[:200], labels[:200], eta[:200]


def test_a_split_is_built_once_and_cannot_be_changed(per_class_train):
  first = C.load_split("mnist_per_class", "train")
  assert all(a is b for a, b in zip(first, C.load_split("mnist_per_class", "train")))
  for a in first:
    with pytest.raises(ValueError, match="read-only"):
      a[0] = 0


def test_oracle_with_the_true_pose_is_exactly_the_identity(per_class_train):
  images, _, eta = per_class_train
  out = C.oracle_augment(images, eta, eta).numpy()
  np.testing.assert_array_equal(out, images)  # even for digits with ink on the border


def test_oracle_undoes_the_true_pose_and_applies_the_new_one(per_class_train):
  images, labels, eta = per_class_train
  moved = labels != 4  # class 4 is upright (η* = 0): nothing to undo
  images, eta = images[moved], eta[moved]
  upright = C.oracle_augment(images, eta, np.zeros_like(eta))
  # Re-posing the upright digit by η* gives x back (two bilinear interpolations: small blur) ...
  back = transforms.transform_images(upright, eta, "affine_no_shear", order=1).numpy()
  err = np.abs(back - images).mean()
  assert err < 0.06, err
  # ... far closer than a wrong pose (η* with the rotation negated) or another digit.
  wrong = eta * np.array([1, 1, -1, 1, 1], np.float32)
  wrong_err = np.abs(
      transforms.transform_images(upright, wrong, "affine_no_shear", order=1).numpy()
      - images)[np.abs(eta[:, 2]) > 0.5].mean()
  assert wrong_err > 4 * err, (wrong_err, err)
  # One warp of x by M(η*)⁻¹ M(η') equals the upright digit posed by η' (up to interpolation).
  new = np.tile(np.array([[0.1, -0.1, 1.0, 0.1, 0.1]], np.float32), (len(eta), 1))
  direct = C.oracle_augment(images, eta, new).numpy()
  two_step = transforms.transform_images(upright, new, "affine_no_shear", order=1).numpy()
  assert np.abs(direct - two_step).mean() < 0.06


def test_class_eta_sampler_is_the_batched_twin_of_known_truth():
  table = C.truth_table("mnist_per_class")
  rng = np.random.default_rng(0)
  labels = rng.integers(0, 10, 64)
  u = rng.random((64, 4)).astype(np.float32)
  batched = C.sample_class_eta(table, labels, u).numpy()
  single = np.stack([known_truth.eta_from_uniform_tf(table, tf.constant(l), tf.constant(v))
                     for l, v in zip(labels, u)])
  np.testing.assert_allclose(batched, single, atol=1e-6)
  mnist = C.truth_table("mnist")  # ±180° for every class: rotation only, spanning ±π
  eta = C.sample_class_eta(mnist, labels, u).numpy()
  assert np.all(eta[:, [0, 1, 3, 4]] == 0) and np.abs(eta[:, 2]).max() <= math.pi


def test_oracle_pipeline_leaves_upright_classes_and_moves_rotated_ones(per_class_train):
  images, labels, eta = per_class_train
  ds = C.training_dataset(images, labels, eta, seed=3, oracle_table=C.truth_table(
      "mnist_per_class"))
  by_label = {}
  for (x, y), (x2, y2) in zip(ds.take(8), C.training_dataset(images, labels, eta, seed=3)
                              .take(8)):
    np.testing.assert_array_equal(y.numpy(), y2.numpy())  # same shuffle as the other arms
    for xi, x2i, yi in zip(x.numpy(), x2.numpy(), y.numpy()):
      by_label.setdefault(int(yi), []).append(np.abs(xi - x2i).max())
  # Classes 4 and 9 are upright with no spread (P_c = δ(0)): the oracle cannot move them.
  assert max(by_label[4] + by_label[9]) == 0.0
  # Classes 2 and 7 are fully rotated: nearly every one changes a lot (a new angle close to the
  # old one moves a digit only a little, so not literally every one).
  moved = np.asarray(by_label[2] + by_label[7])
  assert np.mean(moved > 0.5) >= 0.9 and np.median(moved) > 1.0
  first, again = (next(iter(C.training_dataset(images, labels, eta, seed=3,
                                               oracle_table=C.truth_table("mnist_per_class"))))
                   for _ in range(2))
  np.testing.assert_array_equal(again[0].numpy(), first[0].numpy())  # seeded: reproducible


def test_label_subset_is_stratified_seeded_and_nested_in_the_train_split():
  labels = np.repeat(np.arange(10), 40)[np.random.default_rng(1).permutation(400)]
  a = C.label_subset(labels, 50, seed=0)
  assert len(a) == 50 and len(set(a.tolist())) == 50
  np.testing.assert_array_equal(np.bincount(labels[a], minlength=10), np.full(10, 5))
  np.testing.assert_array_equal(a, C.label_subset(labels, 50, seed=0))
  assert set(a.tolist()) != set(C.label_subset(labels, 50, seed=1).tolist())
  counts = np.bincount(labels[C.label_subset(labels, 23, seed=0)], minlength=10)
  assert counts.sum() == 23 and set(counts.tolist()) == {2, 3}
  with pytest.raises(ValueError, match="num_labels"):
    C.label_subset(labels, 401, seed=0)


def test_classifier_initial_weights_depend_on_the_seed_not_the_arm():
  plain = C.build_classifier([], seed=5).get_layer("body").get_weights()
  augmented = C.build_classifier(C.augmentation_layers("rotation180", None, 5), seed=5)
  for w, v in zip(plain, augmented.get_layer("body").get_weights()):
    np.testing.assert_array_equal(w, v)
  other = C.build_classifier([], seed=6).get_layer("body").get_weights()
  assert not np.array_equal(plain[0], other[0])


@pytest.mark.slow  # Keras fit of up to 100 epochs
def test_early_stopping_restores_the_best_epoch():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(64, 8)).astype(np.float32)
  y = rng.integers(0, 2, 64)  # noise labels: validation accuracy peaks early, then drifts
  xv = rng.normal(size=(200, 8)).astype(np.float32)
  yv = (xv[:, 0] > 0).astype(np.int64)
  keras.utils.set_random_seed(0)
  model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(64, activation="relu"),
                            keras.layers.Dense(2)])
  model.compile(optimizer=keras.optimizers.Adam(0.05),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=["accuracy"])
  callback = C.BestWeights(patience=3, lr_patience=2)
  model.fit(x, y, epochs=100, batch_size=16, validation_data=(xv, yv), callbacks=[callback],
            verbose=0)
  accuracies = [h["val_accuracy"] for h in callback.history]
  assert callback.stopped_epoch == len(accuracies) < 100  # stopped early, not by the cap
  assert callback.stopped_epoch - callback.best_epoch == 3  # after `patience` epochs
  assert accuracies[-1] < max(accuracies)  # the last epoch is worse than the best ...
  loss, accuracy = model.evaluate(xv, yv, verbose=0)
  assert accuracy == pytest.approx(max(accuracies), abs=1e-6)  # ... yet the model is the best
  assert (accuracy, -loss) == pytest.approx(callback.best, abs=1e-5)
  assert callback.best_epoch == 1 + int(np.argmax(accuracies))
  lrs = [h["lr"] for h in callback.history]
  assert lrs[0] == pytest.approx(0.05) and lrs[-1] < lrs[0]  # halved on the plateau


def test_summary_intervals_are_the_library_student_t_intervals():
  rows = [{"dataset": "mnist", "arm": arm, "seed": str(s), "num_labels": "500",
           "test_accuracy": str(v), "best_epoch": "1", "stopped_epoch": "2"}
          for arm, values in (("none", [0.1, 0.2, 0.3, 0.4, 0.5]),
                              ("sgm", [0.2, 0.3, 0.4, 0.5, 0.6]), ("oracle", [0.9]))
          for s, v in enumerate(values)]
  summary = {(s["comparison"], s["name"]): s for s in C.summarize(rows)}
  none = summary[("arm", "none")]
  # sd = sqrt(0.025), sem = sqrt(0.005), t_{0.975, 4} = 2.776445
  assert (none["mean"], none["n"]) == (pytest.approx(0.3), 5)
  assert none["ci95"] == pytest.approx(2.776445 * math.sqrt(0.005), rel=1e-5)
  diff = summary[("sgm - none", "none")]  # the same +0.1 at every seed: a zero-width interval
  assert diff["mean"] == pytest.approx(0.1) and diff["ci95"] == pytest.approx(0.0, abs=1e-12)
  assert diff["n"] == 5
  oracle = summary[("arm", "oracle")]  # one seed: no interval, printed blank
  assert oracle["n"] == 1 and math.isnan(oracle["ci95"])
  assert summary[("sgm - oracle", "oracle")]["n"] == 1
  line = [l for l in C.format_summary(C.summarize(rows)).splitlines() if " oracle " in l][0]
  assert "nan" not in line and line.split()[2:4] == ["90.0", "1"]
  # No seed in common: the paired difference is left out, not reported as an empty row.
  lone = rows[:5] + [dict(rows[5], seed="9")]
  assert [s["comparison"] for s in C.summarize(lone)] == ["arm", "arm"]


def test_diagnostics_use_the_library_circular_std():
  assert C.circular.circular_std(np.full(7, 2.0)) == pytest.approx(0.0, abs=1e-6)
  two_point = np.radians([-60.0, 60.0] * 8)  # R̄ = cos 60° = ½
  assert C.circular.circular_std(two_point) == pytest.approx(math.sqrt(-2 * math.log(0.5)))
  per_column = C.circular.circular_std(np.stack([np.zeros(4), two_point[:4]], 1), axis=0)
  np.testing.assert_allclose(per_column, [0.0, math.sqrt(-2 * math.log(0.5))], atol=1e-6)
  assert not hasattr(C, "circular_std") and not hasattr(C, "mean_ci")  # one copy: the library's


def _fake_rows():
  acc = {"none": [0.50, 0.52, 0.54], "standard": [0.55, 0.55, 0.58],
         "rotation180": [0.60, 0.61, 0.62], "sgm": [0.63, 0.66, 0.63],
         "oracle": [0.65, 0.66, 0.67]}
  return [{"dataset": "mnist_per_class", "arm": arm, "seed": str(s), "num_labels": "500",
           "test_accuracy": str(v), "best_epoch": "10", "stopped_epoch": str(25 + s)}
          for arm, values in acc.items() for s, v in enumerate(values)]


def test_summary_pairs_by_seed_and_picks_the_best_global_arm():
  rows = _fake_rows() + [{"dataset": "mnist_per_class", "arm": "sgm", "seed": "7",
                          "num_labels": "500", "test_accuracy": "0.9", "best_epoch": "1",
                          "stopped_epoch": "16"}]  # no partner: not in the paired differences
  summary = {(s["dataset"], s["comparison"], s["name"]): s for s in C.summarize(rows)}
  sgm = summary[("mnist_per_class", "arm", "sgm")]
  assert sgm["n"] == 4 and sgm["mean"] == pytest.approx((0.63 + 0.66 + 0.63 + 0.9) / 4)
  best = summary[("mnist_per_class", "sgm - best global", "rotation180")]
  assert best["n"] == 3 and best["mean"] == pytest.approx(0.03)
  expected = 4.302653 * 0.02 / math.sqrt(3)  # differences 0.03, 0.05, 0.01: sd 0.02, t_{.975,2}
  assert best["ci95"] == pytest.approx(expected, rel=1e-5)
  none = summary[("mnist_per_class", "sgm - none", "none")]
  assert none["mean"] == pytest.approx(np.mean([0.13, 0.14, 0.09]))
  assert summary[("mnist_per_class", "arm", "none")]["stopped_epoch"] == pytest.approx(26.0)
  assert "sgm - best global (rotation180)" in C.format_summary(C.summarize(rows))


def test_run_skips_finished_rows_and_continues(tmp_path, monkeypatch):
  calls = []

  def fake_load(dataset, split):
    n = {"train": 40, "validation": 10, "test": 10}[split]
    return (np.zeros((n, 28, 28, 1), np.float32), np.arange(n) % 10,
            np.zeros((n, 5), np.float32))

  def fake_train(dataset, arm, seed, train, validation, test, sgm_export=None, **kwargs):
    calls.append((dataset, arm, seed))
    row = {"dataset": dataset, "arm": arm, "seed": seed, "num_labels": len(train[1]),
           "test_accuracy": 0.5, "val_accuracy": 0.5, "best_epoch": 1, "stopped_epoch": 2,
           "max_epochs": kwargs["max_epochs"], "steps_per_epoch": 1, "patience": 1,
           "train_seconds": 0.0, "sgm_export": "", "sgm_probability": ""}
    curve = [{"dataset": dataset, "arm": arm, "seed": seed, "num_labels": len(train[1]),
              "epoch": 1, "loss": 1.0, "accuracy": 0.5, "val_loss": 1.0, "val_accuracy": 0.5,
              "lr": 1e-3}]
    if (arm, seed) == ("oracle", 1) and kwargs.get("fail"):
      raise KeyboardInterrupt  # killed mid-run: the rows so far are kept
    return row, curve

  monkeypatch.setattr(C, "load_split", fake_load)
  monkeypatch.setattr(C, "train_and_evaluate", fake_train)
  out = str(tmp_path / "sub" / "r.csv")
  with pytest.raises(KeyboardInterrupt):
    C.run(("mnist",), ("none", "oracle"), (0, 1), 20, out=out, log=lambda s: None,
          max_epochs=3, fail=True)
  assert calls == [("mnist", "none", 0), ("mnist", "oracle", 0), ("mnist", "none", 1),
                   ("mnist", "oracle", 1)]
  assert [C.row_key(r) for r in C.read_csv(out)] == [("mnist", "none", 0, 20),
                                                     ("mnist", "oracle", 0, 20),
                                                     ("mnist", "none", 1, 20)]
  assert not [f for f in os.listdir(tmp_path / "sub") if f.startswith(".tmp_")]
  calls.clear()
  rows = C.run(("mnist",), ("none", "oracle"), (0, 1, 2), 20, out=out, log=lambda s: None,
               max_epochs=3)
  assert calls == [("mnist", "oracle", 1), ("mnist", "none", 2), ("mnist", "oracle", 2)]
  assert len(rows) == 6 and len(C.read_csv(out)) == 6
  assert len(C.read_csv(C.side_path(out, "_curves.csv"))) == 6
  calls.clear()
  C.run(("mnist",), ("none", "oracle"), (0, 1, 2), 20, out=out, log=lambda s: None, max_epochs=3)
  assert not calls  # everything done: nothing retrained
  assert not os.path.exists(C.side_path(out, ".lock"))  # released and removed
  C.run(("mnist",), ("none",), (0,), 30, out=out, log=lambda s: None, max_epochs=3)
  assert calls == [("mnist", "none", 0)]  # another label budget is another row


def test_bad_input_exits_2_with_one_line(capsys, tmp_path):
  out, sgm_dir = tmp_path / "results" / "c.csv", tmp_path / "sgm"
  where = [f"--out={out}", f"--sgm_dir={sgm_dir}"]
  assert C.main(["--arms=none,foo", *where]) == 2
  err = capsys.readouterr().err.strip()
  assert err.startswith("error: --arms") and "\n" not in err
  # sgm with neither an export nor a flagfile to train one
  assert C.main(["--arms=sgm", "--datasets=mnist", "--sgm_flagfile=", *where]) == 2
  assert "needs an SGM export" in capsys.readouterr().err
  assert C.main(["--sgm_export=mnist:path", *where]) == 2
  assert C.main(["--summarize", "--out=/nonexistent/x.csv"]) == 2
  capsys.readouterr()
  rot90 = tmp_path / "rot90.cfg"  # rotated MNIST, but not the classifier's ±180°
  rot90.write_text("--dataset=mnist\n--rotation_deg=90\n")
  for flagfile, message in (
      ("cifar=quickstart", "--sgm_flagfile: unknown dataset 'cifar'"),
      ("mnist", "--sgm_flagfile: expected DATASET=FLAGFILE"),
      ("mnist=", "--sgm_flagfile: expected DATASET=FLAGFILE"),
      ("mnist=no_such_flagfile", "no shipped flagfile 'no_such_flagfile'"),
      (f"mnist={tmp_path / 'missing.cfg'}", "no shipped flagfile"),
      ("mnist=mnist_per_class", "has --dataset=mnist_per_class, but the classifier's mnist"),
      (f"mnist={rot90}", "has --rotation_deg=90.0, but the classifier's mnist needs"),
      ("mnist=vae_mnist", "--model=vae --stage=all, need --model=sgm --stage=all")):
    assert C.main(["--arms=none,sgm", "--datasets=mnist", f"--sgm_flagfile={flagfile}",
                   *where]) == 2, flagfile
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err, (flagfile, err)
  assert not os.path.exists(tmp_path / "results") and not os.path.exists(sgm_dir)


def test_sgm_flagfile_option_parses_to_one_validated_sgm_config_per_dataset(tmp_path):
  assert C._parse_flagfiles(C._parse_args([]).sgm_flagfile) == {
      "mnist": "quickstart", "mnist_per_class": "mnist_per_class"} == C.SGM_FLAGFILES
  assert C._parse_args([]).sgm_dir == "runs/classifier_sgm"
  assert C._parse_flagfiles("") == {}
  assert C._parse_flagfiles(" mnist_per_class = a/b.cfg ,") == {"mnist_per_class": "a/b.cfg"}
  quickstart = C.sgm_config("mnist", "quickstart")  # a packaged name
  assert (quickstart.dataset, quickstart.rotation_deg, quickstart.model, quickstart.stage) == (
      "mnist", 180.0, "sgm", "all")
  assert quickstart.inference_steps == 3500 and quickstart.export
  path = tmp_path / "mine.cfg"  # a path; '#' lines are comments; export forced on
  path.write_text("# my SGM\n--dataset=mnist_per_class\n--inference_steps=7\n--export=false\n")
  mine = C.sgm_config("mnist_per_class", str(path))
  assert mine.inference_steps == 7 and mine.export and mine.dataset == "mnist_per_class"


def test_sgm_is_trained_once_per_dataset_only_when_an_sgm_row_is_missing(tmp_path, monkeypatch):
  sgm_runs, classifier_runs = [], []

  def fake_sgm_training(config, workdir):  # what a finished run leaves: metrics.json, export/
    sgm_runs.append((config.dataset, workdir))
    os.makedirs(os.path.join(workdir, "export"), exist_ok=True)
    with open(os.path.join(workdir, "export", "saved_model.pb"), "w") as f:
      f.write(config.dataset)
    with open(os.path.join(workdir, "metrics.json"), "w") as f:
      f.write('{"generative/loss": 1.0}')
    return {"generative/loss": 1.0}

  def fake_load(dataset, split):
    n = {"train": 40, "validation": 10, "test": 10}[split]
    return (np.zeros((n, 28, 28, 1), np.float32), np.arange(n) % 10,
            np.zeros((n, 5), np.float32))

  def fake_train(dataset, arm, seed, train, validation, test, sgm_export=None, **kwargs):
    if arm == "sgm":  # the export exists when the classifier is built
      assert os.path.exists(os.path.join(sgm_export, "saved_model.pb"))
    classifier_runs.append((dataset, arm, seed, sgm_export if arm == "sgm" else None))
    row = {"dataset": dataset, "arm": arm, "seed": seed, "num_labels": len(train[1]),
           "test_accuracy": 0.5, "val_accuracy": 0.5, "best_epoch": 1, "stopped_epoch": 1,
           "train_seconds": 0.0, "sgm_export": sgm_export if arm == "sgm" else ""}
    return row, []

  monkeypatch.setattr(C.train_lib, "train_and_evaluate", fake_sgm_training)
  monkeypatch.setattr(C, "load_split", fake_load)
  monkeypatch.setattr(C, "train_and_evaluate", fake_train)
  out, sgm_dir = str(tmp_path / "r.csv"), str(tmp_path / "sgm")
  kwargs = {"out": out, "sgm_dir": sgm_dir, "log": lambda s: None,
            "sgm_flagfiles": dict(C.SGM_FLAGFILES)}
  both = ("mnist", "mnist_per_class")
  C.run(both, ("none",), (0,), 20, **kwargs)
  assert not sgm_runs and not os.path.exists(sgm_dir)  # no sgm row wanted: no SGM
  C.run(both, ("none", "sgm"), (0, 1), 20, **kwargs)
  exports = {d: os.path.join(sgm_dir, d, "export") for d in both}
  # One SGM per dataset, trained with the dataset's flagfile when its first sgm row came up,
  # and shared by the seeds.
  assert sgm_runs == [("mnist", os.path.join(sgm_dir, "mnist")),
                      ("mnist_per_class", os.path.join(sgm_dir, "mnist_per_class"))]
  assert classifier_runs[2:] == [
      ("mnist", "sgm", 0, exports["mnist"]), ("mnist_per_class", "sgm", 0,
                                              exports["mnist_per_class"]),
      ("mnist", "none", 1, None), ("mnist", "sgm", 1, exports["mnist"]),
      ("mnist_per_class", "none", 1, None),
      ("mnist_per_class", "sgm", 1, exports["mnist_per_class"])]
  rows = C.read_csv(out)
  assert {(r["dataset"], r["sgm_export"]) for r in rows if r["arm"] == "sgm"} == set(
      exports.items())
  sgm_runs.clear()
  C.run(both, ("none", "sgm"), (0, 1, 2), 20, **kwargs)  # finished SGMs: used, not retrained
  assert not sgm_runs and classifier_runs[-1] == ("mnist_per_class", "sgm", 2,
                                                  exports["mnist_per_class"])
  # An SGM run without its metrics.json (killed before the end) is resumed; one missing its
  # export is completed too (train_and_evaluate exports a finished run again).
  os.remove(os.path.join(sgm_dir, "mnist", "metrics.json"))
  os.remove(os.path.join(exports["mnist_per_class"], "saved_model.pb"))
  C.run(both, ("none", "sgm"), (3,), 20, **kwargs)
  assert [d for d, _ in sgm_runs] == ["mnist", "mnist_per_class"]
  sgm_runs.clear()
  C.run(both, ("none", "sgm"), (3,), 20, **kwargs)  # every row there: nothing at all
  assert not sgm_runs and len(C.read_csv(out)) == 4 * 2 * 2  # seeds × datasets × arms


@pytest.mark.slow
def test_every_arm_trains_and_tests_on_a_tiny_budget(tmp_path):
  from inv_tf.models.sgm import SGM  # pylint: disable=g-import-not-at-top
  sgm = SGM(Config(inference_hidden_dims=(16,), generative_hidden_dims=(16,),
                   conditioner_hidden_dims=(8,), num_flows=1, num_bins=3,
                   interpolation_order=1), (28, 28, 1))
  export = export_sgm(sgm, str(tmp_path / "sgm"))
  out = str(tmp_path / "results" / "c.csv")
  code = C.main([f"--sgm_export={export}", "--datasets=mnist_per_class", "--seeds=0",
                 "--num_labels=20", "--max_epochs=2", "--steps_per_epoch=2", "--patience=5",
                 f"--out={out}"])
  assert code == 0
  rows = C.read_csv(out)
  assert [r["arm"] for r in rows] == list(C.ARMS)
  for r in rows:
    assert 0.0 <= float(r["test_accuracy"]) <= 1.0 and r["stopped_epoch"] == "2"
    assert r["num_labels"] == "20" and 1 <= int(r["best_epoch"]) <= 2
  assert rows[3]["sgm_export"] == export
  assert os.path.exists(C.side_path(out, ".png"))
  summary = C.read_csv(C.side_path(out, "_summary.csv"))
  assert {s["comparison"] for s in summary} >= {"arm", "sgm - oracle", "sgm - best global"}
  assert C.main([f"--sgm_export={export}", "--datasets=mnist_per_class", "--diagnose",
                 f"--out={out}"]) == 0
  diag = C.read_csv(C.side_path(out, "_mnist_per_class_diagnostics.csv"))
  assert [int(r["label"]) for r in diag] == list(range(10))
  truth = {int(r["label"]): r for r in diag}
  # The truth column: classes 4 and 9 are upright and unmoved, 2 and 7 fully rotated.
  assert float(truth[4]["true_rot_sd"]) == 0.0 and float(truth[9]["true_tx_sd"]) == 0.0
  assert float(truth[2]["true_rot_sd"]) > 1.5 and float(truth[8]["true_logscale_sd"]) > 0.1
  assert os.path.exists(C.side_path(out, "_mnist_per_class_samples.png"))


@pytest.mark.slow
def test_the_sgm_arm_trains_its_sgm_from_a_flagfile_and_reuses_it(tmp_path):
  import support  # pylint: disable=g-import-not-at-top
  flagfile = tmp_path / "tiny_sgm.cfg"
  # Plain graphs: this checks which SGM the arm trains and reuses, not its compiled steps.
  flagfile.write_text("# a tiny SGM\n" + support.tiny_config(dataset="mnist_per_class",
                                                             jit_compile=False).to_flagfile())
  out, sgm_dir = str(tmp_path / "results" / "c.csv"), str(tmp_path / "sgm")
  common = ["--datasets=mnist_per_class", "--arms=none,sgm", "--num_labels=20",
            "--max_epochs=1", "--steps_per_epoch=1", "--patience=1", "--no_plot",
            f"--sgm_flagfile=mnist_per_class={flagfile}", f"--sgm_dir={sgm_dir}", f"--out={out}"]
  assert C.main(["--seeds=0", *common]) == 0
  workdir = os.path.join(sgm_dir, "mnist_per_class")
  export = os.path.join(workdir, "export")
  with open(os.path.join(workdir, "flags.cfg"), encoding="utf-8") as f:
    trained = from_flagfile(f.read())
  assert trained.dataset == "mnist_per_class" and trained.inference_steps == 6
  assert C.read_csv(out)[1]["sgm_export"] == export
  stamps = {p: os.stat(os.path.join(workdir, p)).st_mtime_ns
            for p in ("metrics.json", "export/saved_model.pb")}
  assert C.main(["--seeds=0,1", *common]) == 0  # the finished SGM is neither retrained nor
  assert stamps == {p: os.stat(os.path.join(workdir, p)).st_mtime_ns for p in stamps}  # exported
  rows = C.read_csv(out)
  assert [(r["arm"], r["seed"], r["sgm_export"]) for r in rows] == [
      ("none", "0", ""), ("sgm", "0", export), ("none", "1", ""), ("sgm", "1", export)]
  # --diagnose finds the trained SGM in --sgm_dir.
  assert C.main(["--diagnose", "--datasets=mnist_per_class", f"--sgm_dir={sgm_dir}",
                 f"--out={out}"]) == 0
  assert os.path.exists(C.side_path(out, "_mnist_per_class_diagnostics.csv"))


def test_a_second_run_on_the_same_results_file_fails_at_once(tmp_path):
  out = str(tmp_path / "r.csv")
  with open(C.side_path(out, ".lock"), "a", encoding="utf-8") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)  # a run in progress
    with pytest.raises(ValueError, match="another run is writing"):
      C.run(("mnist",), ("none",), (0,), 20, out=out, log=lambda s: None)
  assert not os.path.exists(out)
