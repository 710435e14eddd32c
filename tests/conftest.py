"""Suite-wide settings, applied before any test module imports TensorFlow.

Most of the suite's time is XLA compiling tiny models, once per test process and stage. The
tests (and the `python -m trainers…` subprocesses they start, which inherit the environment)
compile with XLA's backend optimisation level 0: the same computation with less optimisation of
the generated CPU code (results agree with the default level to float32 round-off), which
shortens the suite by about a sixth. Training, benchmarks and every measured result use XLA's
defaults, and so does the learning check (`tests/test_learning.py`): on its 1,800 steps the
level-0 code costs more than the compile saves (flags/glyphs.cfg, one process: 366 against 217
CPU-s). A user's own `XLA_FLAGS` are kept as they are.

Test tiers: `-m "not slow"` is the fast tier (see docs/testing.md); run that way, hypothesis
tests draw a fifth of their examples (`support.examples`), and `support.tiered` parametrizations
run only their fast cases.

Every test starts from the same random state (`_seeded`): Keras' initialisers, TF's global seed,
NumPy's and Python's global generators are seeded before it runs, so a test that builds a model
without seeding gets the same weights whichever tests ran before it, on whichever worker.

Shared fixtures live here: `shared_run`, the one tiny SGM run (`support.tiny_config()`) that many
modules read, trained once per test process when a test first asks for it, and `trained_model`,
the SGM object that run trained, and `shared_vae_run`, the one tiny --model=vae run
(`support.vae_config()`) that tests/test_runs.py evaluates and tests/test_vae_train.py checks and
resumes. Plain shared helpers are in `support.py`; test modules do not
import each other.
"""

import os
import sys

import pytest

if "XLA_FLAGS" not in os.environ:
  # Named again in INV_TF_SUITE_XLA_FLAGS so that `support.run_module(..., xla_defaults=True)` can
  # remove exactly this setting (and keep a user's own) for a run that must compile as users do.
  os.environ["XLA_FLAGS"] = os.environ["INV_TF_SUITE_XLA_FLAGS"] = (
      "--xla_backend_optimization_level=0")


def pytest_configure(config):
  """`-m "not slow"` (the fast tier) draws fewer hypothesis examples: `support.examples`.

  Under `--dist loadgroup` the work goes out in collection order (as sorted below, the shared
  trained runs first) instead of pytest-xdist's default of the largest groups first.
  """
  expression = " ".join((config.option.markexpr or "").split())
  if expression == "not slow":
    os.environ["INV_TF_FAST_TIER"] = "1"  # read in this process and in xdist's workers
  if getattr(config.option, "dist", None) == "loadgroup":
    config.option.loadscopereorder = False


_TRAINED_SESSION_FIXTURES = frozenset({"shared_run", "trained_model", "shared_vae_run"})


def _shared_fixture_group(item):
  """The xdist group of a test that uses a module- or class-scoped fixture, else None.

  Such a fixture is built once per worker process that runs a test asking for it; grouped, the
  tests that share it run on one worker and it is built once. The group is the test's module
  (each module's fixtures are its own).
  """
  info = getattr(item, "_fixtureinfo", None)
  if info is None:
    return None
  for name in item.fixturenames:
    definitions = info.name2fixturedefs.get(name, ())
    if definitions and definitions[-1].scope in ("module", "class"):
      return item.nodeid.split("::")[0]
  return None


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's worker reads the xdist_group marks
def pytest_collection_modifyitems(items):
  """Tests that ask for a shared trained run go first (otherwise in collection order), and the
  tests of a module that share a module fixture are one `xdist_group`.

  Training a shared run is the longest setup of the suite. pytest-xdist hands each worker a run
  of consecutive tests; started last, that setup would leave the other worker idle at the end.
  The groups take effect with `--dist loadgroup` (the fast tier's command, docs/testing.md); other
  `--dist` modes ignore them.
  """
  items.sort(key=lambda item: _TRAINED_SESSION_FIXTURES.isdisjoint(
      getattr(item, "fixturenames", ())))
  for item in items:
    group = _shared_fixture_group(item)
    if group is not None:
      item.add_marker(pytest.mark.xdist_group(group))
    else:  # each shared run is trained once, on one worker
      for fixture in ("_shared_sgm", "shared_vae_run"):
        if fixture in getattr(item, "fixturenames", ()):
          item.add_marker(pytest.mark.xdist_group(fixture.strip("_")))
          break


def _without_grappler():
  """Turns off Grappler, TensorFlow's graph optimiser, in this process once TF is imported.

  Grappler rewrites each plain (not XLA-compiled) `tf.function` graph the first time it runs.
  The tests' plain graphs run a few steps each, so the rewrite costs more than it saves: the
  shared SGM run as plain graphs took 33–36 CPU-s with it and 27–29 without (idle, alternating
  runs); XLA-compiled runs are unchanged (70–72 either way). Grappler only rewrites a graph for
  speed (results may differ in float32 round-off), and the trainers the tests start as processes
  keep it, as users do.
  """
  tf = sys.modules.get("tensorflow")
  if tf is not None and not _without_grappler.done:
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    _without_grappler.done = True


_without_grappler.done = False


@pytest.fixture(scope="session", autouse=True)
def _session_without_grappler():
  """Before the session fixtures (the shared runs) are built: see `_without_grappler`."""
  _without_grappler()


@pytest.fixture(autouse=True)
def _seeded():
  """Seeds Keras, TF, NumPy and `random` before each test that runs with Keras imported (the
  modules that import it do so at collection); a TF-free test does not import it for this.
  Also turns Grappler off once TF is imported (`_without_grappler`)."""
  _without_grappler()
  keras = sys.modules.get("keras")
  if keras is not None:
    keras.utils.set_random_seed(0)


@pytest.fixture(scope="session")
def _shared_sgm(tmp_path_factory):
  """(workdir, results, the trained SGM object) of the shared tiny run."""
  # Imported here: a test session that never asks for the run does not import TensorFlow for it.
  import support
  from inv_tf.training import train as train_lib

  workdir = str(tmp_path_factory.mktemp("shared_run") / "model")
  models = []
  create_state = train_lib.create_state

  def capturing_create_state(*args, **kwargs):
    state = create_state(*args, **kwargs)
    models.append(state.model)
    return state

  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(train_lib, "create_state", capturing_create_state)
    results = train_lib.train_and_evaluate(
        support.tiny_config(jit_compile=support.smoke_jit_compile()), workdir)
  return workdir, results, models[-1]


@pytest.fixture(scope="session")
def shared_run(_shared_sgm):
  """(workdir, results) of ONE finished tiny sgm run per session. Do not modify the directory."""
  return _shared_sgm[:2]


@pytest.fixture(scope="session")
def trained_model(_shared_sgm):
  """The in-memory SGM that `shared_run` trained."""
  return _shared_sgm[2]


@pytest.fixture(scope="session")
def shared_vae_run(tmp_path_factory):
  """(workdir, results, the trained VAE object) of ONE finished tiny --model=vae run per session
  (`support.vae_config(jit_compile=False)`, exported). Read it; copy the directory to train it on.

  Plain graphs in both tiers: the VAE's XLA-compiled train step is trained in the full suite by
  tests/test_vae.py and, inside the augvae and vae_standard_aug steps, by
  tests/test_vae_train.py; this run checks what a run writes (8 against 20 CPU-s, idle)."""
  import support
  workdir = str(tmp_path_factory.mktemp("shared_vae_run") / "vae")
  results, vae = support.train_capturing(support.vae_config(jit_compile=False), workdir)
  return workdir, results, vae


def pytest_collection_finish(session):
  """Under `--dist loadgroup`, fails the run if pytest-xdist did not apply the groups.

  pytest-xdist marks a grouped test by appending `@group` to its node id; with pytest 9.2 that
  no longer takes effect (pytest-dev/pytest-xdist#1386) and the module fixtures are silently built
  on both workers.
  """
  if not getattr(session.config.option, "loadgroup", False):  # set in workers by pytest-xdist
    return
  for item in session.items:
    if item.get_closest_marker("xdist_group") and "@" not in item.nodeid:
      raise pytest.UsageError(
          f"--dist loadgroup: pytest-xdist did not group {item.nodeid} (pytest "
          f"{pytest.__version__}; see constraints.txt for the versions that work)")
