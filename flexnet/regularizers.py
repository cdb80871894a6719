"""Weight and activity regularizers: a penalty added to the loss, and its gradient.

A regularizer maps a weight (or a layer's output) ``W`` to a scalar penalty
``R(W)``; the model adds ``R`` to the reported loss and ``∂R/∂W`` to the weight's
gradient (for an activity regularizer, to the gradient flowing into the layer's
output). Attach them to a layer: ``Dense(64, kernel_regularizer="l2")`` or
``Dense(64, kernel_regularizer=fx.regularizers.L2(1e-4))``.

Writing one takes two methods::

    class Elastic(fx.regularizers.Regularizer):
        def __init__(self, c=0.01):
            self.c = c

        def penalty(self, xp, W):
            return self.c * xp.sum(xp.sqrt(W * W + 1.0))

        def gradient(self, xp, W):
            return self.c * W / xp.sqrt(W * W + 1.0)

        def get_config(self):
            return {"c": self.c}
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import array_api_compat

from flexnet.ops import sign
from flexnet.registry import Kind

__all__ = ["L1", "L1L2", "L2", "Regularizer", "get", "l1", "l1_l2", "l2", "serialize"]


def _check_factor(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
        math.isfinite(value) and value >= 0
    ):
        raise ValueError(f"{what} must be a non-negative number, got {value!r}")
    return float(value)


class Regularizer(ABC):
    """Base class: ``penalty(xp, W)`` (a 0-d array) and ``gradient(xp, W)`` (shape of ``W``)."""

    @abstractmethod
    def penalty(self, xp, W):
        """``R(W)``, a 0-d array on ``W``'s device."""

    @abstractmethod
    def gradient(self, xp, W):
        """``∂R/∂W``, same shape as ``W``."""

    def __call__(self, W):
        """``R(W)`` for any Array API array (the namespace comes from ``W``)."""
        return self.penalty(array_api_compat.array_namespace(W), W)

    def get_config(self) -> dict:
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


#: Name -> regularizer class.
REGULARIZERS = Kind("regularizer", Regularizer)


@REGULARIZERS.register("l1_l2", "l1l2")
class L1L2(Regularizer):
    """``R(W) = l1 Σ|W| + l2 Σ W²``;  ``∂R/∂W = l1 sign(W) + 2 l2 W``.

    The L1 term uses the subgradient ``sign(0) = 0`` at zero.

    Args:
        l1: the L1 factor.
        l2: the L2 factor (Keras's convention: no 1/2, so the gradient is ``2 l2 W``;
            plain SGD's ``weight_decay=λ`` equals ``l2 = λ/2``).
    """

    def __init__(self, l1: float = 0.0, l2: float = 0.0):
        self.l1 = _check_factor(l1, "l1")
        self.l2 = _check_factor(l2, "l2")

    def penalty(self, xp, W):
        total = None
        if self.l1:
            total = self.l1 * xp.sum(xp.abs(W))
        if self.l2:
            term = self.l2 * xp.sum(W * W)
            total = term if total is None else total + term
        return xp.sum(W * 0.0) if total is None else total

    def gradient(self, xp, W):
        if self.l1 and self.l2:
            return self.l1 * sign(xp, W) + (2.0 * self.l2) * W
        if self.l1:
            return self.l1 * sign(xp, W)
        return (2.0 * self.l2) * W

    def get_config(self) -> dict:
        return {"l1": self.l1, "l2": self.l2}


@REGULARIZERS.register("l1")
class L1(L1L2):
    """``R(W) = l1 Σ|W|``;  ``∂R/∂W = l1 sign(W)``. Keras's default ``l1=0.01``."""

    def __init__(self, l1: float = 0.01):
        super().__init__(l1=l1)

    def get_config(self) -> dict:
        return {"l1": self.l1}


@REGULARIZERS.register("l2")
class L2(L1L2):
    """``R(W) = l2 Σ W²``;  ``∂R/∂W = 2 l2 W``. Keras's default ``l2=0.01``."""

    def __init__(self, l2: float = 0.01):
        super().__init__(l2=l2)

    def get_config(self) -> dict:
        return {"l2": self.l2}


#: Keras's lower-case spellings: ``l1(0.01)`` is ``L1(0.01)``, ``l2(1e-4)`` is ``L2(1e-4)``.
l1 = L1
l2 = L2


def l1_l2(l1: float = 0.01, l2: float = 0.01) -> L1L2:
    """``R(W) = l1 Σ|W| + l2 Σ W²``, Keras's ``l1_l2(l1=..., l2=...)``.

    Both factors default to 0.01, as the name ``"l1_l2"`` and tf.keras's function do
    (in Keras 3 ``l1_l2`` is the class :class:`L1L2`, whose factors default to 0).

    Example:
        >>> import flexnet as fx
        >>> fx.regularizers.l1_l2(l1=1e-5, l2=1e-4)
        L1L2(l1=1e-05, l2=0.0001)
    """
    return L1L2(l1=l1, l2=l2)


def get(identifier) -> Regularizer | None:
    """A regularizer from a name, an instance, a config ``{"class_name": ..., "config": ...}``
    (see :func:`serialize`), or ``None``.

    Names give Keras's defaults: ``"l1"`` is ``L1(0.01)``, ``"l2"`` is ``L2(0.01)`` and
    ``"l1_l2"`` is ``L1L2(l1=0.01, l2=0.01)`` (tf.keras's ``l1_l2()``; the class itself
    defaults to zeros).
    """
    if identifier is None:
        return None
    if isinstance(identifier, str) and REGULARIZERS.lookup(identifier) is L1L2:
        return L1L2(l1=0.01, l2=0.01)
    return REGULARIZERS.resolve(identifier)


def serialize(regularizer: Regularizer | None):
    """``{"class_name": ..., "config": ...}`` for a regularizer, ``None`` for none."""
    return None if regularizer is None else REGULARIZERS.serialize(regularizer)
