"""results/symmetry/stage2_new_p.py: SRC's stage 1 with a new p, in a new run directory.

SRC is made without training: a tiny SGM's state with `inference_step` set to the end of stage 1,
saved as that run's checkpoint, is what a finished stage 1 leaves.
"""

import importlib.util
import os

import numpy as np
import pytest

from inv_tf.training import checkpoints
from inv_tf.training import rundir
from inv_tf.training import train as train_lib

from support import IMAGE_SHAPE, REPO, checkpoint_tensors, tiny_config

SCRIPT = os.path.join(REPO, "results", "symmetry", "stage2_new_p.py")


def _script():
  spec = importlib.util.spec_from_file_location("stage2_new_p", SCRIPT)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


@pytest.fixture(scope="module")
def src(tmp_path_factory):
  """A run directory holding a (not trained) end-of-stage-1 checkpoint of the tiny SGM."""
  config = tiny_config(stage="inference")
  workdir = str(tmp_path_factory.mktemp("stage2_new_p") / "src")
  state = train_lib.create_state(config, IMAGE_SHAPE)
  state.inference_step.assign(config.inference_steps)
  for v in state.model.inference.variables:  # weights no fresh q would have
    v.assign(v + 0.5)
  rundir.prepare_workdir(config, workdir, IMAGE_SHAPE)
  rundir.write_flags(config, workdir)
  with checkpoints.open_checkpoints(state.trackables(), workdir, max_to_keep=1) as manager:
    checkpoints.save_checkpoint(manager, config.inference_steps)
  return workdir


def test_new_p_on_the_same_q(src, tmp_path):
  dst = str(tmp_path / "dst")
  assert _script().main(["stage2_new_p.py", src, dst, "--num_bins=4",
                         "--generative_hidden_dims=24"]) == 0
  config, image_shape = rundir.read_sgm_run(dst)
  assert (config.num_bins, config.generative_hidden_dims, config.stage) == (4, (24,),
                                                                            "generative")
  assert image_shape == IMAGE_SHAPE
  steps = tiny_config().inference_steps
  assert os.path.basename(checkpoints.latest(dst)) == f"ckpt-{steps}"
  q_src, q_dst = (checkpoint_tensors(d, "inference_variables/") for d in (src, dst))
  assert q_src.keys() == q_dst.keys() and q_src
  for name, value in q_src.items():
    np.testing.assert_array_equal(q_dst[name], value, err_msg=name)
  counters = checkpoint_tensors(dst, "")
  assert int(counters["inference_step/.ATTRIBUTES/VARIABLE_VALUE"]) == steps
  assert int(counters["generative_step/.ATTRIBUTES/VARIABLE_VALUE"]) == 0
  # The trainer's check accepts DST with the new p, and a run restores it.
  rundir.check_run(config, dst, IMAGE_SHAPE)
  model = checkpoints.restore_model(dst)
  assert model.config.num_bins == 4


@pytest.mark.parametrize("args, message", [
    (["--inference_hidden_dims=8"], "--inference_hidden_dims: q comes from SRC"),
    (["--rotation_head=flip_equivariant"], "--rotation_head: q comes from SRC"),
    (["--num_bins=0"], "--num_bins"),
])
def test_a_change_to_q_or_a_bad_flag_is_one_error_line(src, tmp_path, capsys, args, message):
  dst = str(tmp_path / "dst")
  assert _script().main(["stage2_new_p.py", src, dst, *args]) == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err
  assert not os.path.exists(dst)


def test_an_existing_dst_or_a_src_without_a_run_is_refused(src, tmp_path, capsys):
  assert _script().main(["stage2_new_p.py", src, src, "--num_bins=4"]) == 2
  assert "DST" in capsys.readouterr().err
  assert _script().main(["stage2_new_p.py", str(tmp_path), str(tmp_path / "d")]) == 2
  assert "SRC" in capsys.readouterr().err
