"""Tests for inv_tf.families: the families and their parameter names."""

from inv_tf import transforms as T


def test_families_are_the_documented_tuples():
  assert T.FAMILIES["affine"] == ("tx", "ty", "rotation", "log_scale_x", "log_scale_y", "shear")
  assert T.FAMILIES["affine_no_shear"] == T.FAMILIES["affine"][:5]
  assert T.FAMILIES["rotation"] == ("rotation",)
  assert T.FAMILIES["hsv"] == ("hue", "log_saturation", "log_value")
  assert T.FAMILIES["affine_no_shear_hsv"] == T.FAMILIES["affine"][:5] + T.FAMILIES["hsv"]
  assert T.get_family("affine_no_shear_hsv").num_affine == 5
  assert T.get_family("hsv").num_affine == 0
