"""Transformation families: which parameters η has, in which order.

A family is an ordered tuple of parameter names. Affine parameters come first and colour
parameters after them, so η = (η_affine, η_colour) for every family:

| name                   | parameters                                                       | D |
|------------------------|------------------------------------------------------------------|---|
| `affine`               | tx, ty, rotation, log_scale_x, log_scale_y, shear                | 6 |
| `affine_no_shear`      | tx, ty, rotation, log_scale_x, log_scale_y                       | 5 |
| `rotation`             | rotation                                                         | 1 |
| `hsv`                  | hue, log_saturation, log_value                                   | 3 |
| `affine_no_shear_hsv`  | tx, ty, rotation, log_scale_x, log_scale_y, hue, log_sat., log_value | 8 |

Units: translations in normalised image units (the image spans [-1, 1], so 0.25 is 1/8 of the
width), rotation in radians, scales and saturation/value as natural logarithms of the factor, hue
in turns (1 = a full turn of the colour wheel).
"""

import dataclasses
from typing import Mapping, Sequence

AFFINE_PARAMETERS = ("tx", "ty", "rotation", "log_scale_x", "log_scale_y", "shear")
COLOUR_PARAMETERS = ("hue", "log_saturation", "log_value")

FAMILIES: Mapping[str, tuple[str, ...]] = {
    "affine": AFFINE_PARAMETERS,
    "affine_no_shear": AFFINE_PARAMETERS[:5],
    "rotation": ("rotation",),
    "hsv": COLOUR_PARAMETERS,
    "affine_no_shear_hsv": AFFINE_PARAMETERS[:5] + COLOUR_PARAMETERS,
}


@dataclasses.dataclass(frozen=True)
class Family:
  """The structure of one family.

  Attributes:
    name: the key in `FAMILIES`.
    parameters: ordered parameter names; `len(parameters)` is D.
    affine_indices: for each affine parameter of the family (in order), its index in
      `AFFINE_PARAMETERS` (i.e. which generator it multiplies).
    colour_indices: for each colour parameter (in order), its index in `COLOUR_PARAMETERS`.
  """
  name: str
  parameters: tuple[str, ...]
  affine_indices: tuple[int, ...]
  colour_indices: tuple[int, ...]

  @property
  def dim(self) -> int:
    return len(self.parameters)

  @property
  def num_affine(self) -> int:
    return len(self.affine_indices)

  @property
  def num_colour(self) -> int:
    return len(self.colour_indices)

  @property
  def has_affine(self) -> bool:
    return bool(self.affine_indices)

  @property
  def has_colour(self) -> bool:
    return bool(self.colour_indices)


def get_family(family) -> Family:
  """Returns the `Family` for a family name (or passes a `Family` through).

  Raises:
    ValueError: if `family` is not one of `FAMILIES` (the message lists the valid names).
  """
  if isinstance(family, Family):
    return family
  if not isinstance(family, str) or family not in FAMILIES:
    raise ValueError(
        f"family: unknown transformation family {family!r}; valid: {', '.join(FAMILIES)}")
  names = FAMILIES[family]
  affine = tuple(AFFINE_PARAMETERS.index(n) for n in names if n in AFFINE_PARAMETERS)
  colour = tuple(COLOUR_PARAMETERS.index(n) for n in names if n in COLOUR_PARAMETERS)
  return Family(family, names, affine, colour)


def parse_per_parameter(values: Sequence[float] | float, family, what: str) -> tuple[float, ...]:
  """Broadcasts a scalar or checks a length-D sequence of per-parameter values.

  Args:
    values: a float (used for every parameter) or a sequence of D floats.
    family: a family name or `Family`.
    what: the argument's name, used in error messages.

  Returns:
    A tuple of D Python floats.

  Raises:
    ValueError: if a sequence of the wrong length is given.
  """
  fam = get_family(family)
  if isinstance(values, (int, float)):
    return (float(values),) * fam.dim
  values = tuple(float(v) for v in values)
  if len(values) != fam.dim:
    raise ValueError(
        f"{what}: expected {fam.dim} values for family {fam.name!r} "
        f"({', '.join(fam.parameters)}), got {len(values)}")
  return values
