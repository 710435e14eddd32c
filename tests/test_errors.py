"""Tests of inv_tf.data.errors: DataError, the one-line error every dataset raises."""

from inv_tf.data import DataError


def test_data_error_is_one_line():
  assert str(DataError("a\n  b\tc")) == "a b c"
