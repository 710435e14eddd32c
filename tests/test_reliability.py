"""Reliability: a thread-safe export, TensorBoard.

(Runs independent of the process history: the same config trained twice in one process, the
second time after other trainings and an unrelated `tf.random.set_seed`, is bitwise the same —
`tests/test_train.py`'s same-seed test. Two *processes* with the same seed are compared by
`tests/test_faults.py`: its uninterrupted run and its five-times-killed run log bitwise the same
training scalars and end with the same metrics and checkpoint.)
* The SavedModel of the shared tiny run (conftest.py's `shared_run`) is called from 8 threads at once
  (prototype and resample, fixed seeds, different inputs per thread): the results must equal the
  serial calls exactly.
* `python -m tensorboard.main` is started on that run and queried over HTTP on 127.0.0.1: the
  scalars it serves equal the event files', and the image grids it serves are the logged PNGs.
"""

import concurrent.futures
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import numpy as np
import pytest
import tensorflow as tf

from support import REPO, read_events, sample_images



def _env(**extra):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **extra)
  env.pop("PYTHONPATH", None)
  return env


# ---------------------------------------------------------------------------------------------
# 1. The export under concurrent calls.

THREADS = 8
PER_THREAD = 4
ROUNDS = 3
N_RESAMPLES = 3


@pytest.fixture(scope="module")
def export(shared_run):
  workdir, _ = shared_run
  return tf.saved_model.load(os.path.join(workdir, "export"))


def _call(model, x, seed):
  proto = model.prototype(tf.constant(x))
  resampled = model.signatures["resample"](x=tf.constant(x), n=tf.constant(N_RESAMPLES),
                                           seed=tf.constant(seed, tf.int32))
  return {"x_hat": proto["x_hat"].numpy(), "eta": proto["eta"].numpy(),
          "images": resampled["images"].numpy(), "eta_p": resampled["eta"].numpy()}


@pytest.mark.slow
def test_concurrent_calls_equal_serial_calls(export):
  images = sample_images(THREADS * PER_THREAD, seed=5)
  inputs = [images[i * PER_THREAD:(i + 1) * PER_THREAD] for i in range(THREADS)]
  seeds = [(11, i) for i in range(THREADS)]
  serial = [_call(export, x, s) for x, s in zip(inputs, seeds)]
  again = [_call(export, x, s) for x, s in zip(inputs, seeds)]
  for want, got in zip(serial, again):  # serial calls are repeatable to begin with
    for key in want:
      np.testing.assert_array_equal(got[key], want[key], err_msg=key)
  # Different inputs and seeds give different outputs (so a mix-up between threads would show).
  assert not np.array_equal(serial[0]["eta"], serial[1]["eta"])
  assert not np.array_equal(serial[0]["eta_p"], serial[1]["eta_p"])

  barrier = threading.Barrier(THREADS)

  def worker(i):
    barrier.wait(timeout=60)  # all threads call at once
    return [_call(export, inputs[i], seeds[i]) for _ in range(ROUNDS)]

  with concurrent.futures.ThreadPoolExecutor(max_workers=THREADS) as pool:
    results = list(pool.map(worker, range(THREADS)))
  for i, rounds in enumerate(results):
    for r, got in enumerate(rounds):
      for key, want in serial[i].items():
        np.testing.assert_array_equal(got[key], want, err_msg=f"thread {i} round {r} {key}")


# ---------------------------------------------------------------------------------------------
# 3. TensorBoard over HTTP.


def _free_port():
  with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _get(url, timeout=10):
  with urllib.request.urlopen(url, timeout=timeout) as response:
    return response.status, response.headers.get("Content-Type", ""), response.read()


def _get_json(base, path, **query):
  status, _, body = _get(f"{base}{path}?{urllib.parse.urlencode(query)}" if query else
                         f"{base}{path}")
  assert status == 200, (path, status)
  return json.loads(body)


@pytest.fixture(scope="module")
def tensorboard(tmp_path_factory, shared_run):
  """(base URL, model dir) of a TensorBoard serving the shared tiny run; stopped afterwards."""
  workdir, _ = shared_run
  port = _free_port()
  log = tmp_path_factory.mktemp("tensorboard") / "tensorboard.log"
  with open(log, "wb") as out:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tensorboard.main", "--logdir", workdir, "--host", "127.0.0.1",
         "--port", str(port)], cwd=str(REPO), env=_env(), stdout=out, stderr=out)
  base = f"http://127.0.0.1:{port}"
  try:
    deadline = time.monotonic() + 60
    ready = False
    while time.monotonic() < deadline and proc.poll() is None:
      try:
        # Up, and done loading both runs (the first load happens in the background).
        _get_json(base, "/data/plugins_listing")
        tags = _get_json(base, "/data/plugin/scalars/tags")
        if "inference/loss" in tags.get("train", {}) and "generative/loss" in tags.get(
            "validation", {}):
          ready = True
          break
      except (urllib.error.URLError, ConnectionError, OSError):
        pass
      time.sleep(0.5)
    assert ready, f"TensorBoard did not serve the run in 60 s: {log.read_text()[-3000:]}"
    yield base, workdir
  finally:
    proc.terminate()
    try:
      proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
      proc.kill()
      proc.wait()


@pytest.mark.slow
def test_tensorboard_serves_the_logged_scalars(tensorboard):
  base, workdir = tensorboard
  listing = _get_json(base, "/data/plugins_listing")
  for plugin in ("scalars", "images", "histograms"):
    assert listing[plugin]["enabled"], (plugin, listing[plugin])
  tags = _get_json(base, "/data/plugin/scalars/tags")
  for run in ("train", "validation"):
    logged = {t: events for t, (plugin, events) in read_events(os.path.join(workdir, run)).items()
              if plugin == "scalars"}
    assert logged and set(logged) <= set(tags[run]), (run, sorted(logged), sorted(tags[run]))
    for tag, events in logged.items():
      served = _get_json(base, "/data/plugin/scalars/scalars", run=run, tag=tag)
      assert [step for _, step, _ in served] == [step for step, _ in events], (run, tag)
      for (_, step, value), (_, want) in zip(served, events):
        assert np.float32(value) == np.float32(want), (run, tag, step, value, want)
  # A tag the run does not have is an error, not an empty answer.
  with pytest.raises(urllib.error.HTTPError):
    _get_json(base, "/data/plugin/scalars/scalars", run="train", tag="no/such/tag")


@pytest.mark.slow
def test_tensorboard_serves_the_logged_images(tensorboard):
  base, workdir = tensorboard
  tags = _get_json(base, "/data/plugin/images/tags")
  logged = {t: events for t, (plugin, events) in
            read_events(os.path.join(workdir, "validation")).items() if plugin == "images"}
  assert set(tags["validation"]) == set(logged), (sorted(tags["validation"]), sorted(logged))
  tag = "inference/x | prototype | resamples"
  assert tags["validation"][tag]["samples"] == 1
  entries = _get_json(base, "/data/plugin/images/images", run="validation", tag=tag, sample=0)
  assert [e["step"] for e in entries] == [step for step, _ in logged[tag]]
  for entry, (_, value) in zip(entries, logged[tag]):
    status, content_type, body = _get(f"{base}/data/plugin/images/individualImage?"
                                      f"{entry['query']}")
    assert status == 200 and content_type.startswith("image/png"), (status, content_type)
    assert body[:8] == b"\x89PNG\r\n\x1a\n"
    assert body == value[2]  # the very PNG the run logged
    png = tf.io.decode_png(body)
    assert (png.shape[1], png.shape[0]) == (int(value[0]), int(value[1]))
