"""Reshaping layers: Flatten and Reshape (no weights; backward reshapes the gradient back)."""

from __future__ import annotations

import math
import numbers

from flexnet.layers.base import LAYERS, Layer

__all__ = ["Flatten", "Reshape"]


@LAYERS.register()
class Flatten(Layer):
    """Flattens all axes but the batch axis: ``(batch, d1, d2, ...) -> (batch, d1·d2·...)``.

    Args:
        name, input_shape, trainable, activity_regularizer: see :class:`Layer`.
    """

    def __init__(self, name=None, input_shape=None, **kwargs):
        super().__init__(name=name, input_shape=input_shape, **kwargs)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], math.prod(input_shape[1:]))

    def forward(self, X, training=False):
        self.cache.X_shape = X.shape
        return self.xp.reshape(X, (X.shape[0], math.prod(X.shape[1:])))

    def backward(self, dY):
        return self.xp.reshape(dY, self.cache.X_shape)


@LAYERS.register()
class Reshape(Layer):
    """Reshapes each sample to ``target_shape`` (``keras.layers.Reshape``): ``(batch, *s) ->
    (batch, *target_shape)`` with ``prod(s) = prod(target_shape)``, in C order.

    One entry of ``target_shape`` may be ``-1``: it takes the size that keeps the number
    of values. Backward reshapes ``dY`` to the input's shape.

    Args:
        target_shape: the shape of one output sample, without the batch axis.
        name, input_shape, trainable, activity_regularizer: see :class:`Layer`.

    Example:
        >>> import numpy as np
        >>> import flexnet as fx
        >>> fx.layers.Reshape((-1, 2))(np.arange(12.0).reshape(2, 6)).shape
        (2, 3, 2)
    """

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        shape = (target_shape,) if isinstance(target_shape, numbers.Integral) else target_shape
        try:
            shape = tuple(shape)
        except TypeError:
            raise TypeError(f"target_shape must be a tuple of ints, got {target_shape!r}") from None
        if (not shape or any(isinstance(d, bool) or not isinstance(d, numbers.Integral) for d in shape)
                or any(d <= 0 and d != -1 for d in shape) or list(shape).count(-1) > 1):
            raise ValueError(f"target_shape must be a non-empty tuple of positive ints, with at most one "
                             f"-1, got {target_shape!r}")
        self.target_shape = tuple(int(d) for d in shape)

    def _resolved(self, input_shape) -> tuple[int, ...]:
        size = math.prod(input_shape[1:])
        known = math.prod(d for d in self.target_shape if d != -1)
        if -1 in self.target_shape:
            if size % known:
                raise ValueError(self._mismatch(input_shape))
            return tuple(size // known if d == -1 else d for d in self.target_shape)
        if size != known:
            raise ValueError(self._mismatch(input_shape))
        return self.target_shape

    def _mismatch(self, input_shape) -> str:
        return (f"Reshape {self.name or self.default_name!r}: inputs of shape {tuple(input_shape)} "
                f"({math.prod(input_shape[1:])} values per sample) cannot take the shape "
                f"{self.target_shape}")

    def check_input_shape(self, input_shape) -> None:
        self._resolved(input_shape)

    def build(self, input_shape):
        self._shape = self._resolved(input_shape)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self._resolved(input_shape))

    def forward(self, X, training=False):
        self.cache.X_shape = X.shape
        return self.xp.reshape(X, (X.shape[0], *self._shape))

    def backward(self, dY):
        return self.xp.reshape(dY, self.cache.X_shape)

    def get_config(self):
        return {**super().get_config(), "target_shape": list(self.target_shape)}
