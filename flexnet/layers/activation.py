"""Activation layers under Keras's names: ReLU, LeakyReLU, Softmax and PReLU (learned slopes).

(Activations are also functions, :mod:`flexnet.activations`, applied by
``Dense(..., activation=...)`` or the :class:`~flexnet.layers.Activation` layer.)
Ties follow Keras and PyTorch: at a kink the branch taken is that of ``x > threshold``,
so ReLU'(0) = 0 and LeakyReLU'(0) = its slope.
"""

from __future__ import annotations

import numbers

from flexnet import activations, constraints, initializers, regularizers
from flexnet.layers.base import LAYERS, Layer, normalize_axes
from flexnet.layers.core import Activation

__all__ = ["LeakyReLU", "PReLU", "ReLU", "Softmax"]


def _non_negative(value, what: str, layer: str, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= value < float("inf"):
        raise ValueError(f"{what} of a {layer} layer must be a finite number >= 0, got {value!r}")
    return float(value)


@LAYERS.register()
class ReLU(Layer):
    """Rectified linear unit with Keras's options (``keras.layers.ReLU``)::

        f(x) = min(x, max_value)                  for x > threshold
        f(x) = negative_slope · (x - threshold)   otherwise

    With the defaults, ``max(x, 0)``; ``max_value=6`` is ReLU6, ``negative_slope`` a leaky
    ReLU, and ``threshold`` a thresholded ReLU (0, or the slope's line, up to it).

    Backward: ``dX = dY`` where ``threshold < x < max_value``, ``0`` where ``x >= max_value``
    (above the threshold), ``negative_slope · dY`` where ``x <= threshold``: at
    ``x = threshold`` the lower branch, so ReLU'(0) = 0 as in Keras and PyTorch, and
    ReLU6'(6) = 0 as ``torch.nn.ReLU6``.

    Args:
        max_value: the largest output (``None``: no cap), >= 0.
        negative_slope: the slope below the threshold, >= 0.
        threshold: where the rectifier bends, >= 0.
        name, input_shape, trainable, activity_regularizer: see :class:`Layer`.

    Example:
        >>> import numpy as np
        >>> import flexnet as fx
        >>> fx.layers.ReLU(max_value=5.0)(np.array([[-10.0, -5.0, 0.0, 5.0, 10.0]]))
        array([[0., 0., 0., 5., 5.]], dtype=float32)
    """

    def __init__(self, max_value: float | None = None, negative_slope: float = 0.0, threshold: float = 0.0,
                 **kwargs):
        super().__init__(**kwargs)
        self.max_value = _non_negative(max_value, "max_value", "ReLU", allow_none=True)
        self.negative_slope = _non_negative(negative_slope, "negative_slope", "ReLU")
        self.threshold = _non_negative(threshold, "threshold", "ReLU")

    def forward(self, X, training=False):
        xp, a, t = self.xp, self.negative_slope, self.threshold
        self.cache.X = X
        if t == 0.0 and self.max_value is None:  # ReLU, leaky ReLU: no mask needed
            Y = xp.maximum(X, 0.0)
            return Y + a * xp.minimum(X, 0.0) if a else Y
        top = X if self.max_value is None else xp.minimum(X, self.max_value)
        return xp.where(X > t, top, a * (X - t) if a else xp.zeros_like(X))

    def backward(self, dY):
        X = self.cache.X
        above = X > self.threshold
        if self.max_value is not None:
            above = above & (X < self.max_value)
        slope = self.xp.astype(above, dY.dtype)
        if self.negative_slope:
            slope = slope + self.xp.astype(X <= self.threshold, dY.dtype) * self.negative_slope
        return dY * slope

    def get_config(self):
        return {**super().get_config(), "max_value": self.max_value,
                "negative_slope": self.negative_slope, "threshold": self.threshold}


class _ActivationWithArguments(Activation):
    """An :class:`Activation` layer fixed to one activation, whose arguments are the layer's
    own (Keras's ``LeakyReLU(negative_slope)`` and ``Softmax(axis)`` layers)."""

    def get_config(self):
        config = super().get_config()
        del config["activation"]
        return {**config, **self.activation.get_config()}


@LAYERS.register()
class LeakyReLU(_ActivationWithArguments):
    """Leaky ReLU (``keras.layers.LeakyReLU``): ``f(x) = x`` for ``x > 0``, else
    ``negative_slope · x``; ``f'(x) = 1`` or ``negative_slope`` (at 0, the slope, as PyTorch).

    The layer's default slope is Keras's 0.3; the function ``"leaky_relu"`` defaults to 0.2
    (``keras.activations.leaky_relu``) and PyTorch to 0.01.

    Args:
        negative_slope: the slope for ``x <= 0``, >= 0 (Keras 2 called it ``alpha``).
        name, input_shape, trainable, activity_regularizer: see :class:`Layer`.
    """

    def __init__(self, negative_slope: float = 0.3, *, alpha: float | None = None, **kwargs):
        if alpha is not None:
            if negative_slope != 0.3:
                raise ValueError("give negative_slope or alpha (its Keras 2 name), not both")
            negative_slope = alpha
        slope = _non_negative(negative_slope, "negative_slope", "LeakyReLU")
        super().__init__(activations.LeakyReLU(slope), **kwargs)
        self.negative_slope = slope


@LAYERS.register()
class Softmax(_ActivationWithArguments):
    """Softmax along ``axis`` (``keras.layers.Softmax``): ``y_i = e^{x_i} / Σ_j e^{x_j}``, computed
    with the maximum subtracted; backward ``dX = Y ⊙ (dY − Σ_j dY_j Y_j)`` along ``axis``.
    With a tuple of axes (as Keras's layer takes a list) the sums run over all of them, so
    each slice across those axes sums to one.

    As the model's last layer it is fused with a categorical cross-entropy like
    ``activation="softmax"`` (for ``axis=-1``).

    Args:
        axis: the axis that sums to one (default the last), or a tuple of axes.
        name, input_shape, trainable, activity_regularizer: see :class:`Layer`.
    """

    def __init__(self, axis: int | tuple[int, ...] = -1, **kwargs):
        super().__init__(activations.Softmax(axis), **kwargs)
        self.axis = self.activation.axis

    def build(self, input_shape):
        self.check_input_shape(input_shape)

    def check_input_shape(self, input_shape) -> None:
        rank = len(input_shape)
        axes = self.axis if isinstance(self.axis, tuple) else (self.axis,)
        if not all(-rank <= axis < rank for axis in axes):
            raise ValueError(f"Softmax {self.name or self.default_name!r}: axis {self.axis} is out of "
                             f"range for inputs of shape {tuple(input_shape)}")


@LAYERS.register()
class PReLU(Layer):
    """Parametric ReLU (He et al., "Delving Deep into Rectifiers", ICCV 2015), as Keras's
    ``PReLU``: ``Y = max(0, X) + α ⊙ min(0, X)`` with a learned slope ``α``.

    Shapes: ``X`` and ``Y`` are ``(batch, d1, ..., dk)``; ``α`` (``alpha``) is
    ``(d1, ..., dk)`` with size 1 along the ``shared_axes`` (one slope shared along
    them), broadcast against ``X``.

    Backward, with ``N = min(0, X)`` and the sums over the batch axis and ``shared_axes``::

        dα = Σ dY ⊙ N,    dX = dY ⊙ (1 if X > 0 else α)

    Args:
        alpha_initializer: initializer of ``α`` (Keras's default ``"zeros"`` starts as ReLU).
        alpha_regularizer: a penalty on ``α`` added to the loss (see :mod:`flexnet.regularizers`).
        alpha_constraint: a projection of ``α`` after each step (see :mod:`flexnet.constraints`).
        shared_axes: axes of the input (batch axis 0 not allowed) along which ``α`` is
            shared, e.g. ``[1, 2]`` for inputs ``(batch, height, width, channels)`` gives
            one slope per channel; negative axes count from the end.
        name, input_shape, trainable, activity_regularizer: as for every :class:`Layer`.

    Example:
        >>> import flexnet as fx
        >>> from flexnet.layers.activation import PReLU
        >>> model = fx.Sequential([fx.layers.Dense(16, input_dim=4), PReLU(), fx.layers.Dense(1)])
    """

    def __init__(
        self,
        alpha_initializer="zeros",
        alpha_regularizer=None,
        alpha_constraint=None,
        shared_axes=None,
        *,
        name: str | None = None,
        input_shape=None,
        trainable: bool = True,
        activity_regularizer=None,
    ):
        super().__init__(name=name, input_shape=input_shape, trainable=trainable,
                         activity_regularizer=activity_regularizer)
        self.alpha_initializer = initializers.get(alpha_initializer)
        self.alpha_regularizer = regularizers.get(alpha_regularizer)
        self.alpha_constraint = constraints.get(alpha_constraint)
        self.shared_axes = normalize_axes(shared_axes, "shared_axes")
        self._sum_axes: tuple[int, ...] = (0,)

    def _resolve_axes(self, input_shape) -> tuple[int, ...]:
        """``shared_axes`` as non-negative axes of inputs of ``input_shape`` (batch axis included)."""
        rank = len(input_shape)
        resolved = []
        for axis in self.shared_axes:
            if not -rank < axis < rank or axis % rank == 0:
                raise ValueError(
                    f"PReLU {self.name or self.default_name!r}: shared_axes {list(self.shared_axes)} "
                    f"must name axes 1..{rank - 1} (or -{rank - 1}..-1) of inputs of shape "
                    f"{tuple(input_shape)}; axis 0 is the batch"
                )
            resolved.append(axis % rank)
        return tuple(sorted(set(resolved)))

    def check_input_shape(self, input_shape) -> None:
        self._resolve_axes(input_shape)

    def build(self, input_shape):
        axes = self._resolve_axes(input_shape)
        shape = tuple(1 if i in axes else input_shape[i] for i in range(1, len(input_shape)))
        self._sum_axes = (0, *axes)
        self.add_weight("alpha", shape, self.alpha_initializer,
                        regularizer=self.alpha_regularizer, constraint=self.alpha_constraint)

    def forward(self, X, training=False):
        self.cache.X = X
        N = self.xp.minimum(X, self.xp.zeros_like(X))
        return (X - N) + self.params["alpha"] * N

    def backward(self, dY):
        xp, X, alpha = self.xp, self.cache.X, self.params["alpha"]
        N = xp.minimum(X, xp.zeros_like(X))
        dalpha = xp.sum(dY * N, axis=self._sum_axes, keepdims=True)
        self.grads["alpha"] = xp.reshape(dalpha, tuple(alpha.shape))
        if not self.input_grad_needed:
            return None
        positive = xp.astype(X > 0, dY.dtype)
        return dY * (positive + (1.0 - positive) * alpha)

    def get_config(self):
        return {
            **super().get_config(),
            "alpha_initializer": initializers.serialize(self.alpha_initializer),
            "alpha_regularizer": regularizers.serialize(self.alpha_regularizer),
            "alpha_constraint": constraints.serialize(self.alpha_constraint),
            "shared_axes": list(self.shared_axes) or None,
        }
