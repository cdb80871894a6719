"""The base class of activations, a (function, derivative) pair, the table of their names,
and the argument checks the activations share.
"""

from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod

import array_api_compat

from flexnet.registry import Kind

__all__ = ["ACTIVATIONS", "ActivationFunction"]


class ActivationFunction(ABC):
    """Base class: an elementwise (or row-wise) function and its backward pass.

    Subclasses set ``name`` and implement :meth:`forward` and :meth:`backward`;
    those with constructor arguments also implement :meth:`get_config` so that
    ``cls(**obj.get_config())`` rebuilds ``obj``.

    Example:
        >>> import numpy as np
        >>> from flexnet.activations import ActivationFunction
        >>> class Square(ActivationFunction):
        ...     name = "square"
        ...     def forward(self, xp, Z):
        ...         return Z * Z
        ...     def backward(self, xp, Z, Y, dY):
        ...         return 2.0 * Z * dY
        >>> Square()(np.asarray([1.0, -2.0]))
        array([1., 4.])
    """

    name = "activation"

    @abstractmethod
    def forward(self, xp, Z):
        """``Y = f(Z)``, same shape as ``Z``."""

    @abstractmethod
    def backward(self, xp, Z, Y, dY):
        """``dZ = dY · ∂Y/∂Z`` given the input ``Z``, output ``Y`` and upstream ``dY``."""

    def __call__(self, Z):
        return self.forward(array_api_compat.array_namespace(Z), Z)

    def get_config(self) -> dict:
        """The constructor arguments, JSON-serializable (empty for activations without any)."""
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


#: Name -> activation class. Add your own with :func:`register`.
ACTIVATIONS = Kind("activation", ActivationFunction)


# -- argument checks --------------------------------------------------------------------------


def _number(value, what: str, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} must be a number, got {value!r}")
    if not math.isfinite(value) or (positive and value <= 0):
        kind = "a positive finite number" if positive else "a finite number"
        raise ValueError(f"{what} must be {kind}, got {value!r}")
    return float(value)


def _axis(axis, *, several: bool = False) -> int | tuple[int, ...]:
    """An int axis, or with ``several`` a tuple (or list) of distinct ints; one-element tuples
    become an int."""
    if several and isinstance(axis, (tuple, list)):
        axes = tuple(_axis(a) for a in axis)
        if not axes or len(set(axes)) != len(axes):
            raise ValueError(f"axis must be an int or a non-empty tuple of distinct ints, got {axis!r}")
        return axes[0] if len(axes) == 1 else axes
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        kind = "an int or a tuple of ints" if several else "an int"
        raise TypeError(f"axis must be {kind}, got {axis!r}")
    return int(axis)
