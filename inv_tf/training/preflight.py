r"""The checks of a run that need neither TensorFlow nor the data: `check(config, workdir)`.

`python -m trainers.train` calls `check` before it imports TensorFlow (which takes seconds), so
a run that cannot start is refused in well under a second; `inv_tf.training.runner.run` calls it
first too, so a library caller gets the same one-line errors in the same order. These are the
runner's own checks, in the runner's order, made with what is known before TensorFlow:

    --distribution_strategy   multi_worker_mirrored needs TF_CONFIG, JSON with a cluster
                              (`check_tf_config`; `distribute.create_strategy` calls it too)
    the training data         `inv_tf.catalog.check_train_split`: the name, its options, where its
                              data must be, --num_train against the sizes fixed by construction
    the images                `check_images`, with the dataset's image shape from the catalog
    --sgm_dir                 `check_sgm_dir`: an SGM run for images of that shape
    --stage=generative        `check_stage`: the model dir has checkpoint files
    --batch_size              one whole batch of the training split (`catalog.check_batch`)
    --model_dir               `rundir.check_writable`: it can be created and written (not
                              checked under multi_worker_mirrored, where only the chief
                              writes it); `rundir.check_run`: no run of another architecture
                              or image shape

Checked later, where they were, because only TensorFlow or the data can tell: how many replicas
the strategy has (`distribute.check_batch_size`: the batch must split evenly over them; GPUs are
found by TensorFlow); the images of `npz:` / `folder:` data and the sizes of prepared TFDS data
(read from their files; the runner calls `check_images`, `catalog.check_batch` and
`rundir.check_run` again with what it loaded); whether a checkpoint state file names a checkpoint
that exists and reads back (TensorFlow's format); and the checkpoint of `--sgm_dir`'s SGM.

This module imports neither TensorFlow nor NumPy (tests/test_layering.py checks it).
"""

import json
import os

from inv_tf import catalog
from inv_tf import config as config_lib
from inv_tf import families
from inv_tf.config import Config, ConfigError
from inv_tf.training import rundir


def check(config: Config, workdir: str) -> None:
  """Refuses a run that cannot start, before TensorFlow (see the module docstring).

  Writes nothing: `workdir` and the data dir are only read.

  Args:
    config: the run's configuration (validated here if it is not yet).
    workdir: the model directory (it need not exist).

  Raises:
    ConfigError: a flag the run cannot use here (one line naming it).
    inv_tf.catalog.DataError: the training data cannot be loaded as asked.
  """
  config.validate()
  check_tf_config(config)
  num_train = catalog.check_train_split(config)
  image_shape = catalog.image_shape(config.dataset)  # None: user data, known once read
  if image_shape is not None:
    check_images(config, image_shape)
  check_sgm_dir(config, image_shape)
  check_stage(config, workdir)
  if num_train is not None:
    catalog.check_batch(num_train, config.batch_size)
  if config.distribution_strategy != "multi_worker_mirrored":  # there only the chief writes it
    rundir.check_writable(workdir)
  rundir.check_run(config, workdir, image_shape)


def check_tf_config(config: Config) -> None:
  """Refuses --distribution_strategy=multi_worker_mirrored without a cluster in TF_CONFIG.

  Raises:
    ConfigError: TF_CONFIG is unset, or not JSON with a 'cluster' entry.
  """
  if config.distribution_strategy != "multi_worker_mirrored":
    return
  if not os.environ.get("TF_CONFIG"):
    raise ConfigError("--distribution_strategy=multi_worker_mirrored: TF_CONFIG is not set "
                      "(it names the cluster and this task; see docs/scaling.md, 'Multi-host "
                      "training')")
  try:
    json.loads(os.environ["TF_CONFIG"])["cluster"]
  except (ValueError, KeyError, TypeError):
    raise ConfigError("--distribution_strategy=multi_worker_mirrored: TF_CONFIG is not JSON "
                      "with a 'cluster' entry") from None


def check_images(config: Config, image_shape) -> None:
  """Refuses images the model cannot train on.

  The SGM: a colour family needs RGB images, the quarter-turn head square ones, and a warp at
  least 2 pixels a side; a VAE: at least 2 pixels a side.

  Args:
    config: the run's configuration (read: `model`, `family`, `rotation_head`, `dataset`).
    image_shape: the images' `(H, W, C)`, ints.

  Raises:
    ConfigError: one line naming the flags and the images' shape.
  """
  if config.model != "sgm":
    if min(image_shape[:2]) < 2:
      raise ConfigError(f"--dataset={config.dataset}: images of shape {list(image_shape)} are "
                        "too small for the VAE")
    return
  if families.get_family(config.family).has_colour and image_shape[-1] != 3:
    raise ConfigError(f"--family={config.family} transforms colour and needs RGB images, but "
                      f"--dataset={config.dataset} has {image_shape[-1]} channel(s)")
  if config.rotation_head == "quarter_turn_equivariant" and image_shape[0] != image_shape[1]:
    raise ConfigError(f"--rotation_head=quarter_turn_equivariant needs square images, but "
                      f"--dataset={config.dataset} has {image_shape[0]}×{image_shape[1]}")
  if min(image_shape[:2]) < 2:
    raise ConfigError(f"--dataset={config.dataset}: images of shape {list(image_shape)} are too "
                      "small to warp")


def check_sgm_dir(config: Config, image_shape=None) -> None:
  """Refuses an --sgm_dir (augvae, invvae) that holds no SGM run for these images.

  Whether its checkpoint restores takes TensorFlow (`vae_train.load_sgm`).

  Args:
    config: the run's configuration (read: `model`, `sgm_dir`, `dataset`).
    image_shape: the run's images' `(H, W, C)`, or None when not known yet (nothing compared).

  Raises:
    ConfigError: no run there, a VAE-family run, or an SGM of images of another shape.
  """
  if config.model not in config_lib.SGM_USING_MODELS:
    return
  _, sgm_shape = rundir.read_sgm_run(config.sgm_dir, flag="sgm_dir")
  if image_shape is not None and tuple(sgm_shape) != tuple(image_shape):
    raise ConfigError(f"--sgm_dir: the SGM there models images of shape {list(sgm_shape)}, "
                      f"but --dataset={config.dataset} has {list(image_shape)}")


def no_inference_network(workdir: str) -> ConfigError:
  """The error of --stage=generative on a model dir without a trained stage 1."""
  return ConfigError(f"--stage=generative: {workdir!r} has no trained inference network; "
                     "run --stage=inference (or --stage=all) first")


def check_stage(config: Config, workdir: str) -> None:
  """Refuses --stage=generative on a model dir without any checkpoint file.

  A model dir with checkpoint files may still hold no trained stage 1 (a state file naming no
  existing checkpoint, a restored stage 1 at step 0): the SGM task checks that with TensorFlow.

  Raises:
    ConfigError: `no_inference_network`.
  """
  if config.stage == "generative" and not rundir.has_checkpoint_files(workdir):
    raise no_inference_network(workdir)
