"""The one error type of `inv_tf.data`."""


class DataError(ValueError):
  """A dataset cannot be loaded as asked; the message is one line naming the problem.

  Raised for: an unknown dataset name or split, an unknown option, TFDS data that has not been
  prepared (the message says how to prepare it), `num_train` larger than available, a folder with
  non-image files or images of mixed sizes, an npz without `images`, NaN or out-of-range pixels,
  and an empty dataset or split.
  """

  def __init__(self, message: str):
    super().__init__(" ".join(str(message).split()))  # always one line
