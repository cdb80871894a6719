"""The base class of learning-rate schedules, the table of their names, their configs
(:func:`serialize`, :func:`deserialize`, :func:`get`) and the argument checks they share.
"""

from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod
from collections.abc import Callable

from flexnet.registry import Kind

__all__ = ["SCHEDULES", "LearningRateSchedule", "deserialize", "get", "serialize"]


# ---------------------------------------------------------------------------
# Argument checks.


def _real(value, name: str, *, minimum: float = 0.0, strict: bool = False) -> float:
    """``value`` as a finite float ``>= minimum`` (``> minimum`` with ``strict``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if value < minimum or (strict and value == minimum):
        bound = "greater than" if strict else "at least"
        raise ValueError(f"{name} must be {bound} {minimum}, got {value!r}")
    return float(value)


def _count(value, name: str, *, positive: bool) -> int | float:
    """A number of steps: an int stays an int (for the config), a float a float."""
    _real(value, name, strict=positive)
    return int(value) if isinstance(value, numbers.Integral) else float(value)


def _flag(value, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return value


def _name(value) -> str:
    if not isinstance(value, str):
        raise TypeError(f"name must be a string, got {value!r}")
    return value


def _step(step) -> float:
    if isinstance(step, bool) or not isinstance(step, numbers.Real):
        raise TypeError(f"a schedule is called with the step count (an int), got {step!r}")
    if not (math.isfinite(step) and step >= 0):
        raise ValueError(f"the step count must be a non-negative number, got {step!r}")
    return step


# ---------------------------------------------------------------------------
# Base class.


class LearningRateSchedule(ABC):
    """Base class: ``schedule(step) -> float``, ``step`` the updates already taken.

    Subclasses implement ``__call__`` and ``get_config`` (the constructor
    arguments, so that ``cls(**config)`` rebuilds it and models that use it can
    be saved). A complete custom schedule, ``α_t = α0 / (t + 1)``:

        >>> import flexnet as fx
        >>> class OneOverT(fx.schedules.LearningRateSchedule):
        ...     def __init__(self, initial_learning_rate):
        ...         self.initial_learning_rate = initial_learning_rate
        ...
        ...     def __call__(self, step):
        ...         return self.initial_learning_rate / (step + 1)
        ...
        ...     def get_config(self):
        ...         return {"initial_learning_rate": self.initial_learning_rate}
        >>> optimizer = fx.optimizers.SGD(learning_rate=OneOverT(0.1))
        >>> optimizer.learning_rate   # at step 0
        0.1

    To load it from a saved config, pass ``custom_objects={"OneOverT": OneOverT}``
    to :func:`deserialize` (or register it with :func:`flexnet.saving.register_serializable`).
    """

    @abstractmethod
    def __call__(self, step) -> float:
        """The learning rate after ``step`` updates."""

    def get_config(self) -> dict:
        """The constructor arguments, JSON-serializable."""
        raise NotImplementedError(
            f"schedule {type(self).__name__} must override get_config() to be saved"
        )

    @classmethod
    def from_config(cls, config: dict) -> LearningRateSchedule:
        return cls(**config)

    def __repr__(self) -> str:
        try:
            config = self.get_config()
        except NotImplementedError:
            return f"{type(self).__name__}()"
        args = ", ".join(f"{k}={v!r}" for k, v in config.items())
        return f"{type(self).__name__}({args})"


#: Name -> schedule class. Configs store the class name (``"ExponentialDecay"``);
#: lookups also accept the snake-case name (``"exponential_decay"``).
SCHEDULES = Kind("schedule", LearningRateSchedule)

# ---------------------------------------------------------------------------
# Configs.


def serialize(schedule) -> dict | float:
    """``{"class_name": ..., "config": ...}`` for a schedule; a constant rate stays a float.

    Raises:
        TypeError: a plain function (write it as a :class:`LearningRateSchedule`
            with ``get_config`` to save it) or anything else.
    """
    if isinstance(schedule, numbers.Real) and not isinstance(schedule, bool):
        return float(schedule)
    if callable(schedule) and not isinstance(schedule, LearningRateSchedule):
        raise TypeError(
            f"cannot serialize the function {schedule!r}: write it as a "
            "fx.schedules.LearningRateSchedule subclass with get_config() to save it"
        )
    return SCHEDULES.serialize(schedule)


def deserialize(config, custom_objects: dict | None = None):
    """A schedule from :func:`serialize`'s dict (a number is returned as a float).

    Args:
        config: ``{"class_name": name, "config": {...}}``.
        custom_objects: class name -> class, for schedules written outside flexnet.

    Raises:
        ValueError: a malformed dict or an unknown class name.
    """
    if isinstance(config, numbers.Real) and not isinstance(config, bool):
        return float(config)
    return SCHEDULES.deserialize(config, custom_objects)


def get(identifier) -> LearningRateSchedule | Callable[[int], float] | float:
    """A schedule from an instance, a config dict or a function (returned as is).

    A number is returned as a float (a constant rate). Names alone are refused:
    every schedule needs arguments.

    Raises:
        ValueError: a name, or a malformed or unknown config.
        TypeError: anything else.
    """
    if isinstance(identifier, LearningRateSchedule):
        return identifier
    if isinstance(identifier, (dict, numbers.Real)) and not isinstance(identifier, bool):
        return deserialize(identifier)
    if isinstance(identifier, str):
        known = sorted(cls.__name__ for cls in set(SCHEDULES.values()))
        raise ValueError(
            f"a schedule needs its arguments: pass an instance such as "
            f"ExponentialDecay(0.1, 1000, 0.9) or a dict {{'class_name': {identifier!r}, "
            f"'config': {{...}}}}, not the name alone; known schedules are {known}"
        )
    if callable(identifier) and not isinstance(identifier, type):
        return identifier
    raise TypeError(
        f"a schedule must be a LearningRateSchedule, a config dict or a function f(step), "
        f"got {identifier!r}"
    )
