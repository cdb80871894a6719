"""The base classes of initializers (Keras's call form ``init(shape, dtype)`` included), the
table of their names, Keras's fan computation and the argument checks initializers share.
"""

from __future__ import annotations

import functools
import math
import numbers
from abc import ABC, abstractmethod

from flexnet import utils
from flexnet.backend import check_float_dtype, floatx, get_backend
from flexnet.random import generator
from flexnet.registry import Kind

__all__ = ["INITIALIZERS", "Initializer", "RandomInitializer", "compute_fans"]


def compute_fans(shape) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight shape, as Keras computes them."""
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


# ---------------------------------------------------------------------------
# Argument checks.


def _number(value, name: str, *, minimum: float | None = None, strict: bool = False) -> float:
    """``value`` as a finite float, at least (or, with ``strict``, above) ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if minimum is not None and (value <= minimum if strict else value < minimum):
        bound = "greater than" if strict else "at least"
        raise ValueError(f"{name} must be {bound} {minimum}, got {value!r}")
    return float(value)


def _seed(seed) -> int | None:
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")
    return int(seed)


# ---------------------------------------------------------------------------
# Base classes.


def _keras_call(draw):
    """``draw(self, shape, dtype, rng)`` callable as Keras's ``init(shape, dtype=None)``: without
    ``rng``, on the default backend with a generator seeded from :func:`flexnet.utils.set_random_seed`'s
    sequence; without ``dtype``, in :func:`flexnet.floatx`."""

    @functools.wraps(draw)
    def call(self, shape, dtype=None, rng=None):
        dtype = floatx() if dtype is None else check_float_dtype(dtype)
        if rng is None:
            rng = generator(get_backend(), utils.next_seed())
        return draw(self, tuple(shape), dtype, rng)

    call.keras_form = True
    return call


class Initializer(ABC):
    """Base class. Subclasses implement ``__call__(shape, dtype, rng)`` and, when their
    constructor takes arguments, ``get_config()`` returning them.

    Every initializer (a subclass's too) can also be called as Keras's, ``init(shape)`` or
    ``init(shape, dtype)``: the array is then made on the default backend
    (:func:`flexnet.get_backend`), in :func:`flexnet.floatx` unless ``dtype`` is given.

    Example:
        >>> import flexnet as fx
        >>> fx.initializers.Constant(10.0)(shape=(2, 2))
        array([[10., 10.],
               [10., 10.]], dtype=float32)
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        draw = cls.__dict__.get("__call__")
        if draw is not None and not getattr(draw, "keras_form", False):
            cls.__call__ = _keras_call(draw)

    @abstractmethod
    def __call__(self, shape, dtype, rng):
        """An array of ``shape`` and ``dtype`` on ``rng.backend``'s device."""

    def get_config(self) -> dict:
        """The constructor arguments, JSON-serializable: ``cls(**config)`` rebuilds it."""
        return {}

    @classmethod
    def from_config(cls, config: dict) -> Initializer:
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


#: Name -> initializer class (Keras's names and aliases; Keras 3 also saves the class
#: names ``IdentityInitializer`` and ``OrthogonalInitializer``).
INITIALIZERS = Kind("initializer", Initializer, aliases={"IdentityInitializer": "identity",
                                                          "OrthogonalInitializer": "orthogonal"})


class RandomInitializer(Initializer):
    """An initializer that draws random numbers.

    By default it draws from the model's generator, so ``fx.utils.set_random_seed``
    makes the weights repeatable and each layer gets different ones. With
    ``seed=n`` it draws from its own generator seeded with ``n`` on the model's
    backend, so every call gives the same values (as a seeded Keras initializer).
    """

    def __init__(self, seed: int | None = None):
        self.seed = _seed(seed)

    def _generator(self, rng):
        return rng if self.seed is None else generator(rng.backend, self.seed)

    def get_config(self):
        return {"seed": self.seed}


