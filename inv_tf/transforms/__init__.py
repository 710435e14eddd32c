"""inv_tf.transforms: the transformation families T(x, η) of the SGM (pure TF, no Keras).

Public API (shapes and units in each docstring):
  FAMILIES                         family name → ordered parameter names
  get_family(name)                 → Family (dimension, affine/colour layout)
  affine_matrix(eta, family)       [..., D] → [..., 3, 3], expm(Σ η_i G_i)
  affine_log(matrix, family)       [..., 3, 3] → [..., D], its inverse (the principal logarithm)
  centring_eta(eta, centre, family)
                                   η with the translation that moves a point to the centre
  to_centre_coordinates(eta, family), from_centre_coordinates(u, family)
                                   η ↔ (the centre c that η stands for, η's other parameters)
  ink_centroid(images)             [B, H, W, C] → [B, 2], the ink's centre of mass
  ink_radius(images)               [B, H, W, C] → [B], the ink's RMS distance from that centre
  ink_moments(images)              both of them from one pass over the ink
  ink_axis(images)                 [B, H, W, C] → ([B], [B]), the ink's principal axis angle
                                   (modulo π) and how elongated the ink is, in [0, 1]
  half_turn_asymmetry(images)      [B, H, W, C] → [B] in [0, 1], 0 for ink that is its own half turn
  recentre(images, centre, shrink) output p reads input centre + shrink · p (one warp)
  warp(images, matrices, order, fill_value)
                                   differentiable bilinear / cubic B-spline warp
  transform_images(images, eta, family, order, fill_value)
                                   T(x, η): HSV colour, then ONE affine warp
  Transform, compose               batched transforms; compose and invert with one warp
  rgb_to_hsv, hsv_to_rgb, adjust_hsv
                                   colour maths with finite gradients
  gaussian_blur(images, sigma, size)
                                   background-padded Gaussian blur (stage-1 curriculum)
"""

from inv_tf.transforms.blur import gaussian_blur, gaussian_kernel
from inv_tf.transforms.affine import (affine_log, affine_matrix, centring_eta, expm3,
                                     from_centre_coordinates, generators, to_centre_coordinates)
from inv_tf.transforms.colour import adjust_hsv, hsv_to_rgb, rgb_to_hsv, straight_through_clip
from inv_tf.families import (AFFINE_PARAMETERS, COLOUR_PARAMETERS, FAMILIES, Family,
                             get_family, parse_per_parameter)
from inv_tf.transforms.transform import Transform, compose, invert_affine, transform_images
from inv_tf.transforms.warp import (half_turn_asymmetry, ink_axis, ink_centroid, ink_moments,
                                   ink_radius, recentre, warp)

__all__ = [
    "AFFINE_PARAMETERS", "COLOUR_PARAMETERS", "FAMILIES", "Family", "Transform", "adjust_hsv",
    "gaussian_blur", "gaussian_kernel",
    "affine_log", "affine_matrix", "centring_eta", "compose", "expm3", "from_centre_coordinates",
    "generators", "get_family",
    "half_turn_asymmetry", "hsv_to_rgb",
    "ink_axis", "ink_centroid", "ink_moments", "ink_radius", "invert_affine", "parse_per_parameter", "recentre",
    "rgb_to_hsv",
    "straight_through_clip", "to_centre_coordinates",
    "transform_images", "warp",
]
