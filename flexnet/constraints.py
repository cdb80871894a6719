"""Weight constraints: a projection applied to a weight after every optimizer step.

``Dense(64, kernel_constraint=fx.constraints.MaxNorm(3))`` rescales each unit's
incoming weight vector to norm at most 3 after each update. A constraint is a
callable ``(xp, W) -> W'``; the model writes ``W'`` back into ``W`` in place.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

from flexnet.ops import clip
from flexnet.registry import Kind

__all__ = ["Constraint", "MaxNorm", "MinMaxNorm", "NonNeg", "UnitNorm", "get", "serialize"]

_TINY = 1e-7  # Keras's epsilon: keeps a zero column at zero instead of dividing by zero


class Constraint(ABC):
    """Base class: ``project(xp, W)`` returns the constrained weight (a new array)."""

    @abstractmethod
    def project(self, xp, W):
        """The weight after the constraint, same shape as ``W``."""

    def get_config(self) -> dict:
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


#: Name -> constraint class.
CONSTRAINTS = Kind("constraint", Constraint)


def _check_axis(axis) -> int:
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise TypeError(f"axis must be an int, got {axis!r}")
    return axis


def _norms(xp, W, axis: int):
    return xp.sqrt(xp.sum(W * W, axis=axis, keepdims=True))


@CONSTRAINTS.register("max_norm", "maxnorm")
class MaxNorm(Constraint):
    """Rescale slices whose L2 norm exceeds ``max_value``: ``w ← w · min(1, c / (‖w‖ + ε))``.

    Args:
        max_value: the largest allowed norm ``c``.
        axis: the axis the norm runs over; ``0`` for a Dense kernel ``(inputs, units)``
            constrains each unit's incoming weights.
    """

    def __init__(self, max_value: float = 2.0, axis: int = 0):
        if isinstance(max_value, bool) or not isinstance(max_value, (int, float)) or not (
            math.isfinite(max_value) and max_value > 0
        ):
            raise ValueError(f"max_value must be a positive number, got {max_value!r}")
        self.max_value = float(max_value)
        self.axis = _check_axis(axis)

    def project(self, xp, W):
        norms = _norms(xp, W, self.axis)
        return W * (clip(xp, norms, 0.0, self.max_value) / (norms + _TINY))

    def get_config(self) -> dict:
        return {"max_value": self.max_value, "axis": self.axis}


@CONSTRAINTS.register("min_max_norm")
class MinMaxNorm(Constraint):
    """Keep slice norms in ``[min_value, max_value]``, moving them there at ``rate``.

    ``w ← w · (rate · clip(‖w‖, min, max) + (1 - rate) ‖w‖) / (‖w‖ + ε)``.
    """

    def __init__(self, min_value: float = 0.0, max_value: float = 1.0, rate: float = 1.0,
                 axis: int = 0):
        values = (min_value, max_value, rate)
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)
               for v in values) or not 0 <= min_value <= max_value or not 0 < rate <= 1:
            raise ValueError(
                "need 0 <= min_value <= max_value and 0 < rate <= 1, got "
                f"min_value={min_value!r}, max_value={max_value!r}, rate={rate!r}"
            )
        self.min_value, self.max_value, self.rate = float(min_value), float(max_value), float(rate)
        self.axis = _check_axis(axis)

    def project(self, xp, W):
        norms = _norms(xp, W, self.axis)
        target = self.rate * clip(xp, norms, self.min_value, self.max_value) + (1 - self.rate) * norms
        return W * (target / (norms + _TINY))

    def get_config(self) -> dict:
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate,
                "axis": self.axis}


@CONSTRAINTS.register("non_neg", "nonneg")
class NonNeg(Constraint):
    """``w ← max(w, 0)``: weights stay non-negative."""

    def project(self, xp, W):
        return clip(xp, W, 0.0, None)


@CONSTRAINTS.register("unit_norm", "unitnorm")
class UnitNorm(Constraint):
    """``w ← w / (‖w‖ + ε)``: every slice along ``axis`` gets unit L2 norm."""

    def __init__(self, axis: int = 0):
        self.axis = _check_axis(axis)

    def project(self, xp, W):
        return W / (_norms(xp, W, self.axis) + _TINY)

    def get_config(self) -> dict:
        return {"axis": self.axis}


def get(identifier) -> Constraint | None:
    """A constraint from a name (``"max_norm"``, ``"non_neg"``, ``"unit_norm"``, ...), an
    instance, a config ``{"class_name": ..., "config": ...}``, or ``None``."""
    return None if identifier is None else CONSTRAINTS.resolve(identifier)


def serialize(constraint: Constraint | None):
    """``{"class_name": ..., "config": ...}`` for a constraint, ``None`` for none."""
    return None if constraint is None else CONSTRAINTS.serialize(constraint)
