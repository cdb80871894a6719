"""Merge layers: combine several tensors of the functional API into one.

Each takes a list of arrays in ``forward`` and returns a list of input gradients
from ``backward``. The functional forms (``concatenate([a, b])``, ``add``, ...)
build the layer and call it.
"""

from __future__ import annotations

from abc import abstractmethod

from flexnet.layers.base import LAYERS, Layer

__all__ = [
    "Add", "Average", "Concatenate", "Maximum", "Merge", "Minimum", "Multiply", "Subtract",
    "add", "average", "concatenate", "maximum", "minimum", "multiply", "subtract",
]


class Merge(Layer):
    """Base class of layers that take a list of inputs of the same shape."""

    accepts_list = True
    #: exact number of inputs, or None for "two or more"
    arity: int | None = None

    def __init__(self, name: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)

    def check_input_shape(self, input_shape) -> None:
        shapes = [tuple(s) for s in input_shape]
        label = f"{type(self).__name__} layer {self.name or self.default_name!r}"
        if self.arity is not None and len(shapes) != self.arity:
            raise ValueError(f"{label} takes exactly {self.arity} inputs, got {len(shapes)}")
        if len(shapes) < 2:
            raise ValueError(f"{label} takes at least 2 inputs, got {len(shapes)}")
        self._check_shapes(shapes, label)

    def _check_shapes(self, shapes, label) -> None:
        if any(s != shapes[0] for s in shapes):
            raise ValueError(f"{label} needs inputs of the same shape, got {shapes}")

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def forward(self, Xs, training=False):
        self.cache.Xs = list(Xs)
        return self.merge(self.xp, self.cache.Xs)

    @abstractmethod
    def merge(self, xp, Xs):
        """The merged array (may keep what backward needs in ``self.cache``)."""


@LAYERS.register()
class Add(Merge):
    """``Y = X₁ + X₂ + ...``;  ``dXᵢ = dY``."""

    def merge(self, xp, Xs):
        Y = Xs[0] + Xs[1]
        for X in Xs[2:]:
            Y = Y + X
        return Y

    def backward(self, dY):
        return [dY] * len(self.cache.Xs)


@LAYERS.register()
class Subtract(Merge):
    """``Y = X₁ - X₂``;  ``dX₁ = dY``, ``dX₂ = -dY``."""

    arity = 2

    def merge(self, xp, Xs):
        return Xs[0] - Xs[1]

    def backward(self, dY):
        return [dY, -dY]


@LAYERS.register()
class Multiply(Merge):
    """``Y = X₁ ⊙ X₂ ⊙ ...``;  ``dXᵢ = dY ⊙ Π_{j≠i} Xⱼ``."""

    def merge(self, xp, Xs):
        Y = Xs[0] * Xs[1]
        for X in Xs[2:]:
            Y = Y * X
        return Y

    def backward(self, dY):
        out = []
        Xs = self.cache.Xs
        for i in range(len(Xs)):
            g = dY
            for j, X in enumerate(Xs):
                if j != i:
                    g = g * X
            out.append(g)
        return out


@LAYERS.register()
class Average(Merge):
    """``Y = (X₁ + ... + X_k) / k``;  ``dXᵢ = dY / k``."""

    def merge(self, xp, Xs):
        return Add.merge(self, xp, Xs) * (1.0 / len(Xs))

    def backward(self, dY):
        k = len(self.cache.Xs)
        return [dY * (1.0 / k)] * k


class _Extremum(Merge):
    """Elementwise max/min; the gradient goes to the input that won (the first on ties)."""

    @staticmethod
    @abstractmethod
    def pick(xp, A, B):
        """Elementwise max or min of two arrays."""

    def merge(self, xp, Xs):
        Y = Xs[0]
        for X in Xs[1:]:
            Y = self.pick(xp, Y, X)
        self.cache.Y = Y
        return Y

    def backward(self, dY):
        xp = self.xp
        out, taken = [], None
        for X in self.cache.Xs:
            wins = X == self.cache.Y
            if taken is not None:
                wins = xp.logical_and(wins, xp.logical_not(taken))
            taken = wins if taken is None else xp.logical_or(taken, wins)
            out.append(dY * xp.astype(wins, dY.dtype))
        return out


@LAYERS.register()
class Maximum(_Extremum):
    """``Y = max(X₁, X₂, ...)`` elementwise."""

    @staticmethod
    def pick(xp, A, B):
        return xp.maximum(A, B)


@LAYERS.register()
class Minimum(_Extremum):
    """``Y = min(X₁, X₂, ...)`` elementwise."""

    @staticmethod
    def pick(xp, A, B):
        return xp.minimum(A, B)


@LAYERS.register()
class Concatenate(Merge):
    """Join inputs along ``axis`` (default the last, the features).

    ``Y = [X₁, X₂, ...]`` along ``axis``; ``dXᵢ`` is ``dY``'s slice for ``Xᵢ``.
    Inputs must agree on every other axis.
    """

    def __init__(self, axis: int = -1, name: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        if isinstance(axis, bool) or not isinstance(axis, int) or axis == 0:
            raise ValueError(f"axis must be a non-zero int (axis 0 is the batch), got {axis!r}")
        self.axis = axis

    def _check_shapes(self, shapes, label) -> None:
        ndim = len(shapes[0])
        if any(len(s) != ndim for s in shapes) or not -ndim <= self.axis < ndim:
            raise ValueError(f"{label} cannot join shapes {shapes} on axis {self.axis}")
        axis = self.axis % ndim
        rest = [tuple(d for i, d in enumerate(s) if i != axis) for s in shapes]
        if any(r != rest[0] for r in rest):
            raise ValueError(
                f"{label} needs inputs that match on every axis but {self.axis}; got shapes "
                f"{[tuple(s) for s in shapes]}"
            )

    def compute_output_shape(self, input_shape):
        shapes = [tuple(s) for s in input_shape]
        axis = self.axis % len(shapes[0])
        out = list(shapes[0])
        out[axis] = sum(s[axis] for s in shapes)
        return tuple(out)

    def merge(self, xp, Xs):
        self.cache.sizes = [X.shape[self.axis] for X in Xs]
        return xp.concat(Xs, axis=self.axis)

    def backward(self, dY):
        axis = self.axis % dY.ndim
        out, start = [], 0
        for size in self.cache.sizes:
            index = tuple(slice(start, start + size) if i == axis else slice(None)
                          for i in range(dY.ndim))
            out.append(dY[index])
            start += size
        return out

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


def concatenate(inputs, axis: int = -1, name: str | None = None):
    """Functional form of :class:`Concatenate`: ``concatenate([a, b])``."""
    return Concatenate(axis=axis, name=name)(inputs)


def add(inputs, name: str | None = None):
    """Functional form of :class:`Add`."""
    return Add(name=name)(inputs)


def subtract(inputs, name: str | None = None):
    """Functional form of :class:`Subtract`."""
    return Subtract(name=name)(inputs)


def multiply(inputs, name: str | None = None):
    """Functional form of :class:`Multiply`."""
    return Multiply(name=name)(inputs)


def average(inputs, name: str | None = None):
    """Functional form of :class:`Average`."""
    return Average(name=name)(inputs)


def maximum(inputs, name: str | None = None):
    """Functional form of :class:`Maximum`."""
    return Maximum(name=name)(inputs)


def minimum(inputs, name: str | None = None):
    """Functional form of :class:`Minimum`."""
    return Minimum(name=name)(inputs)
