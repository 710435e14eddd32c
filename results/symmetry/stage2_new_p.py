"""Stage 2 with another p(η|x̂) on an existing stage 1: a paired comparison of p's architecture.

`stage2_from.sh` re-runs stage 2 from a run's end-of-stage-1 checkpoint with other stage-2 flags,
but p's architecture (`--num_bins`, `--num_flows`, `--generative_hidden_dims`,
`--conditioner_hidden_dims`, ...) is fixed by the checkpoint and run.json refuses a change. This
script makes a new run directory DST whose checkpoint holds SRC's stage 1 (q's variables, its two
optimisers and `inference_step`) and a freshly initialised p of the architecture the flags give,
with `generative_step` 0, so that the trainer's `--stage=generative` trains that p on SRC's q:

    python results/symmetry/stage2_new_p.py SRC DST --num_bins=12 [more flags ...]
    python -m trainers.train --flagfile=DST/flags.cfg --stage=generative --model_dir=DST
    python -m trainers.evaluate --model_dir=DST

The flags are applied on top of SRC's own (flags.cfg / config.json); a flag that changes q's
architecture (`--inference_hidden_dims`, the heads, `--family`, `--bounds`, ...) is refused,
since q comes from SRC. p's initial weights are drawn from the run's seed like any new model's,
so they need not equal those of an end-to-end run with the same flags; what is kept equal is
stage 1, which makes rows made this way pairs. SRC is only read.

Exit status 2 with one `error:` line for a bad SRC, DST or flag.
"""

import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, REPO)

# q's side of `Config.architecture()`: these must stay as SRC has them.
Q_FIELDS = ("family", "inference_hidden_dims", "rotation_head", "translation_head",
            "inference_zoom", "bounds", "offset", "squash_to_bounds")


def main(argv):
  from inv_tf import config_flags  # pylint: disable=g-import-not-at-top
  from inv_tf.config import ConfigError  # pylint: disable=g-import-not-at-top
  from inv_tf.training import rundir  # pylint: disable=g-import-not-at-top
  if len(argv) < 3 or any(not a.startswith("--") for a in argv[3:]):
    print("usage: stage2_new_p.py SRC DST [--flag=value ...]", file=sys.stderr)
    return 2
  src, dst, overrides = argv[1], argv[2], argv[3:]
  try:
    old, image_shape = rundir.read_sgm_run(src, "SRC")
    if os.path.exists(dst):
      raise ConfigError(f"DST: {dst!r} exists; give a new directory")
    rundir.check_writable(dst)
    new = config_flags.from_flagfile("\n".join([old.to_flagfile(), *overrides]))
    new = new.replace(stage="generative")
    new.validate()
    old_arch, new_arch = old.architecture(), new.architecture()
    for key in Q_FIELDS:
      if old_arch.get(key) != new_arch.get(key):
        raise ConfigError(f"--{key}: q comes from SRC, whose {key} is {old_arch.get(key)!r}")
  except ConfigError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  import keras  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from inv_tf.training import checkpoints  # pylint: disable=g-import-not-at-top
  from inv_tf.training import train as train_lib  # pylint: disable=g-import-not-at-top
  steps = old.inference_steps
  src_ckpt = os.path.join(rundir.checkpoint_dir(src), f"ckpt-{steps}")
  if not tf.io.gfile.exists(src_ckpt + ".index"):
    print(f"error: SRC: {src!r} has no end-of-stage-1 checkpoint ckpt-{steps}", file=sys.stderr)
    return 2
  keras.utils.set_random_seed(new.seed)
  state = train_lib.create_state(new, image_shape)
  stage1 = {k: v for k, v in state.trackables().items()
            if k in ("inference_variables", "inference_optimizer", "sigma_optimizer",
                     "inference_step")}
  try:
    checkpoints.restore_variables(stage1, src, src_ckpt, flag="SRC")
  except ConfigError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  if int(state.inference_step.numpy()) != steps or int(state.generative_step.numpy()) != 0:
    print(f"error: SRC: ckpt-{steps} is not the end of stage 1", file=sys.stderr)
    return 2
  rundir.prepare_workdir(new, dst, image_shape)
  rundir.write_flags(new, dst)
  with checkpoints.open_checkpoints(state.trackables(), dst, max_to_keep=1) as manager:
    checkpoints.save_checkpoint(manager, steps)
  print(f"{dst}: SRC's stage 1 (ckpt-{steps}) with a new p; train it with\n"
        f"  python -m trainers.train --flagfile={os.path.join(dst, 'flags.cfg')} "
        f"--stage=generative --model_dir={dst}")
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv))
