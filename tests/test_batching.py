"""Tests of inv_tf.data.batching: shuffled, repeating training batches; padded evaluation batches.

Offline and seeded (the embedded MNIST digits).
"""

import numpy as np
import pytest

from inv_tf import data
from inv_tf.data import DataError
from support import collect


def test_batch_for_evaluation_pads_with_mask():
  ds = data.load("mnist", "test", source="embedded")  # 500 examples
  batches = list(data.batch_for_evaluation(ds, 128).as_numpy_iterator())
  assert len(batches) == 4
  for b in batches:
    assert b["image"].shape == (128, 28, 28, 1) and b["mask"].dtype == np.float32
  masks = np.concatenate([b["mask"] for b in batches])
  np.testing.assert_array_equal(masks, np.r_[np.ones(500), np.zeros(12)])
  last = batches[-1]
  assert np.all(last["image"][116:] == -1.0) and np.all(last["label"][116:] == -1)
  # The real examples come in order, unchanged.
  ref = collect(ds)
  np.testing.assert_array_equal(np.concatenate([b["index"] for b in batches])[:500], ref["index"])
  # Exact multiple: no padding batch.
  assert len(list(data.batch_for_evaluation(ds.take(256), 128))) == 2


def test_batch_for_training_deterministic_shuffled_repeating():
  ds = data.load("mnist", "train", source="embedded", num_train=300)
  take = lambda seed: np.stack([b["index"] for b in  # noqa: E731
                                data.batch_for_training(ds, 64, seed).take(10).as_numpy_iterator()])
  a, b, c = take(0), take(0), take(1)
  assert a.shape == (10, 64)
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, c)
  # Within an epoch (4 full batches of 300, remainder 44 dropped): no repeats; shuffled order.
  epoch = a[:4].reshape(-1)
  assert len(set(epoch.tolist())) == 256
  assert not np.array_equal(epoch, collect(ds)["index"][:256])
  # Epochs are reshuffled.
  assert not np.array_equal(a[:4], a[4:8])


def test_batching_errors():
  ds = data.load("mnist", "train", source="embedded", num_train=10)
  with pytest.raises(DataError, match="fewer than batch_size"):
    data.batch_for_training(ds, 64, 0)
  with pytest.raises(DataError, match="empty"):
    data.batch_for_evaluation(ds.take(0), 8)
