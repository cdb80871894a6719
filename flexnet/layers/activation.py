"""Activation layers with learned parameters: PReLU.

(Activations without parameters are functions, :mod:`flexnet.activations`, applied by
``Dense(..., activation=...)`` or the :class:`~flexnet.layers.Activation` layer.)
"""

from __future__ import annotations

import numbers

from flexnet import constraints, initializers, regularizers
from flexnet.layers.base import LAYERS, Layer

__all__ = ["PReLU"]


def _shared_axes(shared_axes) -> tuple[int, ...]:
    if shared_axes is None:
        return ()
    axes = [shared_axes] if isinstance(shared_axes, numbers.Integral) else shared_axes
    try:
        axes = list(axes)
    except TypeError:
        raise TypeError(f"shared_axes must be None, an int or a list of ints, got {shared_axes!r}") from None
    if any(isinstance(a, bool) or not isinstance(a, numbers.Integral) for a in axes):
        raise TypeError(f"shared_axes must be None, an int or a list of ints, got {shared_axes!r}")
    return tuple(int(a) for a in axes)


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
        self.shared_axes = _shared_axes(shared_axes)
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
