r"""The conditional rational-quadratic spline coupling flow of p(η|x̂): Keras layers.

The flow of the generative network (docs/design.md §5):

* :class:`MaskedSplineCoupling`, one masked coupling layer whose element-wise transformer is the
  spline of `inv_tf.models.rq_spline` and whose conditioner is a small Keras MLP
  (:class:`SplineConditioner`);
* :class:`ConditionalSplineFlow`, a stack of such couplings conditioned on a context vector h.

Masked coupling. A coupling layer with boolean mask t ∈ {0,1}^D ("transformed") maps

    u_i = g(y_i; θ_i)  if t_i,    u_i = y_i  otherwise,
    θ = Conditioner(concat(y ⊙ (1 − t), h)) ∈ R^{D × (3K+1)},

so log|det ∂u/∂y| = Σ_{i: t_i} log g'(y_i; θ_i) (the Jacobian is triangular after permutation,
because θ only depends on the kept coordinates). The inverse uses the same θ (the kept coordinates
are equal in u and y) and the spline inverse. Layer j of the stack transforms the EVEN indices when
j is even and the ODD indices when j is odd (D = 5, layer 0: transformed {0, 2, 4}, kept {1, 3}).
The conditioner is Dense → GELU (tanh approximation) → LayerNorm(ε = 1e-6) → Dropout per hidden
layer and a final Dense with zero kernel and zero bias, so every coupling — and the whole flow — is
the identity at initialisation.

Flow direction (docs/design.md §5). The couplings c_0, …, c_{L−1} are composed with chain
semantics (the last one is applied first, like ``tfb.Chain``/``distrax.Chain``) in the DENSITY
direction:

    u = F(y) = c_0(c_1(… c_{L−1}(y))),    log p(y) = log N(u; μ, σ) + log|det ∂u/∂y|,

and sampling runs y = F⁻¹(u) = c_{L−1}⁻¹(… c_0⁻¹(u)).

Dropout. With ``training=True`` every call of a conditioner draws a new dropout mask; the paired
``forward_and_log_det`` / ``inverse_and_log_det`` methods compute the value and the
log-determinant from ONE conditioner evaluation, so the two always belong together.
"""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

from inv_tf.models import rq_spline
from inv_tf.models.layers import MLP

__all__ = [
    "coupling_mask",
    "SplineConditioner",
    "MaskedSplineCoupling",
    "ConditionalSplineFlow",
]


def coupling_mask(event_dim: int, layer_index: int) -> np.ndarray:
  """Boolean ``[event_dim]`` mask of the TRANSFORMED coordinates of coupling ``layer_index``.

  Layer 0 transforms the even indices (keeps the odd ones as conditioning), layer 1 the odd
  indices, and so on alternately. Example: D = 5, layer 0 → [T, F, T, F, T].
  """
  return (np.arange(event_dim) % 2) == (layer_index % 2)


class SplineConditioner(keras.layers.Layer):
  """Conditioner MLP of one coupling: ``[..., D + F] → [..., D, 3K + 1]``.

  Per hidden width: Dense (LeCun-normal kernel, zero bias, as Flax's default) → GELU (tanh
  approximation) → LayerNorm(ε = 1e-6) → Dropout(``dropout_rate``); then a Dense with ZERO
  kernel and ZERO bias producing ``D·(3K + 1)`` values, reshaped to ``[..., D, 3K + 1]``.

  Args:
    event_dim: D.
    num_bins: K.
    hidden_dims: hidden widths (default (256,)).
    dropout_rate: in [0, 1).
  """

  def __init__(self,
               event_dim: int,
               num_bins: int,
               hidden_dims: Sequence[int] = (256,),
               dropout_rate: float = 0.1,
               **kwargs):
    super().__init__(**kwargs)
    self.event_dim = int(event_dim)
    self.num_bins = int(num_bins)
    self.hidden_dims = tuple(int(h) for h in hidden_dims)
    self.dropout_rate = float(dropout_rate)
    self.param_size = rq_spline.spline_param_size(num_bins)
    pol = self.dtype_policy
    self.hidden = MLP(self.hidden_dims, self.dropout_rate, dtype=pol, name="hidden")
    self.out_layer = keras.layers.Dense(self.event_dim * self.param_size,
                                        kernel_initializer="zeros",
                                        bias_initializer="zeros",
                                        dtype=pol,
                                        name="out")

  def build(self, input_shape):
    self.hidden.build(input_shape)
    self.out_layer.build(self.hidden.compute_output_shape(input_shape))

  def call(self, inputs, training=False):
    out = self.out_layer(self.hidden(inputs, training=training))
    new_shape = tf.concat([tf.shape(out)[:-1], [self.event_dim, self.param_size]], axis=0)
    return tf.reshape(out, new_shape)


def _broadcast_context(x, context):
  """Broadcast context ``[B, F]`` (or ``[..., B, F]``) to ``x.shape[:-1] + [F]``."""
  context = tf.cast(context, x.dtype)
  shape = tf.concat([tf.shape(x)[:-1], tf.shape(context)[-1:]], axis=0)
  return tf.broadcast_to(context, shape)


class MaskedSplineCoupling(keras.layers.Layer):
  """One masked coupling layer with an RQ-spline transformer (event ndims 1, ``[..., D]``).

  Density ("forward") direction: ``u = c(y)``; coordinates with ``mask`` True are transformed by
  the spline whose parameters come from ``SplineConditioner(concat(y·(1−mask), h))``, the others
  are copied (log-det 0).

  Args:
    event_dim: D ≥ 1.
    num_bins: K ≥ 1.
    layer_index: position in the stack, selects the mask (:func:`coupling_mask`).
    range_bound: spline range B (default 3.0).
    hidden_dims, dropout_rate: conditioner MLP settings.
    tails: "identity" (default) or "learned" boundary slopes (see `inv_tf.models.rq_spline`).
  """

  def __init__(self,
               event_dim: int,
               num_bins: int,
               layer_index: int = 0,
               range_bound: float = 3.0,
               hidden_dims: Sequence[int] = (256,),
               dropout_rate: float = 0.1,
               tails: str = "identity",
               **kwargs):
    super().__init__(**kwargs)
    rq_spline.check_spline_args(num_bins, range_bound, rq_spline.DEFAULT_MIN_BIN_SIZE,
                                rq_spline.DEFAULT_MIN_KNOT_SLOPE, tails)
    self.tails = tails
    self.event_dim = int(event_dim)
    self.num_bins = int(num_bins)
    self.layer_index = int(layer_index)
    self.range_bound = float(range_bound)
    self.mask = coupling_mask(self.event_dim, self.layer_index)
    self.conditioner = SplineConditioner(event_dim,
                                         num_bins,
                                         hidden_dims,
                                         dropout_rate,
                                         dtype=self.dtype_policy,
                                         name="conditioner")

  def build(self, inputs_shape, context_shape=None):
    feat = 0 if context_shape is None else int(context_shape[-1])
    self.conditioner.build((None, self.event_dim + feat))

  def _spline_params(self, x, context, training):
    keep = tf.constant(~self.mask, x.dtype)
    cond_in = x * keep
    if context is not None:
      cond_in = tf.concat([cond_in, _broadcast_context(x, context)], axis=-1)
    return tf.cast(self.conditioner(cond_in, training=training), x.dtype)

  def _apply(self, x, context, training, inverse):
    x = tf.convert_to_tensor(x)
    params = self._spline_params(x, context, training)
    fn = rq_spline.rq_spline_inverse if inverse else rq_spline.rq_spline_forward
    z, ld = fn(x, params, range_bound=self.range_bound, tails=self.tails)
    transformed = tf.constant(self.mask)
    out = tf.where(transformed, z, x)
    log_det = tf.reduce_sum(tf.where(transformed, ld, tf.zeros_like(ld)), axis=-1)
    return out, log_det

  def forward_and_log_det(self, y, context=None, training=False):
    """Density direction: ``y [..., D] → (u [..., D], log|det ∂u/∂y| [...])``.

      ``context`` is ``[B, F]`` (broadcast against the leading dims of ``y``) or None.
      """
    return self._apply(y, context, training, inverse=False)

  def inverse_and_log_det(self, u, context=None, training=False):
    """Sampling direction: ``u [..., D] → (y [..., D], log|det ∂y/∂u| [...])``."""
    return self._apply(u, context, training, inverse=True)

  def call(self, inputs, context=None, training=False):
    """Same as :meth:`forward_and_log_det`."""
    return self.forward_and_log_det(inputs, context, training)



class ConditionalSplineFlow(keras.layers.Layer):
  """Stack of ``num_flows`` masked RQ-spline couplings conditioned on a context h.

  Args:
    event_dim: D ≥ 1.
    num_flows: number of couplings L ≥ 0 (0 → identity).
    num_bins: spline bins K ≥ 1.
    range_bound: spline range B > 0 (default 3.0).
    hidden_dims: conditioner hidden widths (default (256,)).
    dropout_rate: conditioner dropout in [0, 1) (default 0.1).
    tails: the splines' boundary slopes, "identity" (default) or "learned".
    **kwargs: Keras layer kwargs (``name``, ``dtype``, …).

  Call: ``flow(y, context, training=False)`` → ``(u, log_det)`` in the DENSITY direction
  (u = F(y), log_det = log|det ∂u/∂y|), with ``y [..., D]``, ``context [B, F]`` broadcast to
  ``y``'s leading dims (so ``y`` may be ``[B, D]`` or ``[n, B, D]``), ``log_det [...]``.
  :meth:`inverse` gives the sampling direction.
  """

  def __init__(self,
               event_dim: int,
               num_flows: int,
               num_bins: int,
               range_bound: float = 3.0,
               hidden_dims: Sequence[int] = (256,),
               dropout_rate: float = 0.1,
               tails: str = "identity",
               **kwargs):
    super().__init__(**kwargs)
    if tails not in rq_spline.TAILS:
      raise ValueError(f"tails must be one of {rq_spline.TAILS}, got {tails!r}.")
    if int(event_dim) != event_dim or event_dim < 1:
      raise ValueError(f"event_dim must be an integer >= 1, got {event_dim!r}.")
    if int(num_flows) != num_flows or num_flows < 0:
      raise ValueError(f"num_flows must be an integer >= 0, got {num_flows!r}.")
    if int(num_bins) != num_bins or num_bins < 1:
      raise ValueError(f"num_bins must be an integer >= 1, got {num_bins!r}.")
    if not range_bound > 0:
      raise ValueError(f"range_bound must be > 0, got {range_bound!r}.")
    if not 0.0 <= dropout_rate < 1.0:
      raise ValueError(f"dropout_rate must be in [0, 1), got {dropout_rate!r}.")
    if any(int(h) < 1 for h in hidden_dims):
      raise ValueError(f"hidden_dims must be positive integers, got {hidden_dims!r}.")
    self.event_dim = int(event_dim)
    self.num_flows = int(num_flows)
    self.num_bins = int(num_bins)
    self.range_bound = float(range_bound)
    self.hidden_dims = tuple(int(h) for h in hidden_dims)
    self.dropout_rate = float(dropout_rate)
    self.tails = tails
    self.couplings = [
        MaskedSplineCoupling(event_dim,
                             num_bins,
                             layer_index=i,
                             range_bound=range_bound,
                             hidden_dims=hidden_dims,
                             dropout_rate=dropout_rate,
                             tails=tails,
                             dtype=self.dtype_policy,
                             name=f"coupling_{i}") for i in range(self.num_flows)
    ]

  def build(self, y_shape, context_shape=None):
    for c in self.couplings:
      c.build(y_shape, context_shape)

  def call(self, y, context=None, training=False):
    """Density direction ``u = F(y)``; returns ``(u [..., D], log|det ∂u/∂y| [...])``."""
    return self.forward_and_log_det(y, context, training)

  def forward_and_log_det(self, y, context=None, training=False):
    """Density direction (see :meth:`call`). Couplings applied last-to-first (chain order)."""
    y = tf.convert_to_tensor(y)
    log_det = tf.zeros(tf.shape(y)[:-1], y.dtype)
    for c in reversed(self.couplings):
      y, ld = c.forward_and_log_det(y, context, training)
      log_det += ld
    return y, log_det

  def inverse_and_log_det(self, u, context=None, training=False):
    """Sampling direction ``y = F⁻¹(u)``: ``(y [..., D], log|det ∂y/∂u| [...])``."""
    u = tf.convert_to_tensor(u)
    log_det = tf.zeros(tf.shape(u)[:-1], u.dtype)
    for c in self.couplings:
      u, ld = c.inverse_and_log_det(u, context, training)
      log_det += ld
    return u, log_det

  def inverse(self, u, context=None, training=False):
    """Alias of :meth:`inverse_and_log_det`."""
    return self.inverse_and_log_det(u, context, training)
