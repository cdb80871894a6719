"""Weight initializers, drawn on the model's device by its own generator.

An initializer is called as ``init(shape, dtype, rng)`` where ``rng`` is a
:class:`flexnet.random.Generator` (which knows the backend and device) and
``dtype`` a name such as ``"float32"``. Fans follow Keras: for a kernel of
shape ``(fan_in, fan_out)``; for a vector, both are its length.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

from flexnet.registry import resolve

__all__ = [
    "Constant",
    "GlorotNormal",
    "GlorotUniform",
    "HeNormal",
    "HeUniform",
    "Initializer",
    "LecunNormal",
    "LecunUniform",
    "Ones",
    "RandomNormal",
    "RandomUniform",
    "Zeros",
    "get",
]


def compute_fans(shape) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight shape, as Keras computes them."""
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


class Initializer(ABC):
    """Base class. Subclasses implement ``__call__(shape, dtype, rng)``."""

    @abstractmethod
    def __call__(self, shape, dtype, rng):
        """An array of ``shape`` and ``dtype`` on ``rng.backend``'s device."""

    def get_config(self) -> dict:
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Constant(Initializer):
    """Every entry equal to ``value``."""

    def __init__(self, value: float = 0.0):
        self.value = float(value)

    def __call__(self, shape, dtype, rng):
        b = rng.backend
        return b.xp.full(tuple(shape), self.value, dtype=b.dtype(dtype), device=b.device)

    def get_config(self):
        return {"value": self.value}


class Zeros(Constant):
    """All zeros (the default bias initializer)."""

    def __init__(self):
        super().__init__(0.0)

    def get_config(self):
        return {}


class Ones(Constant):
    """All ones."""

    def __init__(self):
        super().__init__(1.0)

    def get_config(self):
        return {}


class RandomUniform(Initializer):
    """``U[minval, maxval)``."""

    def __init__(self, minval: float = -0.05, maxval: float = 0.05):
        self.minval, self.maxval = float(minval), float(maxval)

    def __call__(self, shape, dtype, rng):
        return rng.uniform(shape, self.minval, self.maxval, dtype)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval}


class RandomNormal(Initializer):
    """``N(mean, stddev²)``; ``RandomNormal(stddev=0.01)`` is the course's ``randn × 0.01``."""

    def __init__(self, mean: float = 0.0, stddev: float = 0.05):
        self.mean, self.stddev = float(mean), float(stddev)

    def __call__(self, shape, dtype, rng):
        return rng.normal(shape, self.mean, self.stddev, dtype)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev}


class _VarianceScaling(Initializer):
    """Uniform or normal with variance ``scale / fan`` (the shared rule of Glorot, He, LeCun).

    Uniform: ``U[-limit, limit]`` with ``limit = sqrt(3 · scale / fan)``.
    Normal: ``N(0, scale / fan)`` (not truncated).
    """

    scale = 1.0
    distribution = "uniform"

    def _fan(self, fan_in: int, fan_out: int) -> float:
        return fan_in

    def __call__(self, shape, dtype, rng):
        var = self.scale / max(1.0, self._fan(*compute_fans(shape)))
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * var)
            return rng.uniform(shape, -limit, limit, dtype)
        return rng.normal(shape, 0.0, math.sqrt(var), dtype)


class GlorotUniform(_VarianceScaling):
    """Glorot/Xavier uniform: ``U[-l, l]``, ``l = sqrt(6 / (fan_in + fan_out))``.

    Glorot & Bengio, "Understanding the difficulty of training deep feedforward
    neural networks", AISTATS 2010.
    """

    def _fan(self, fan_in, fan_out):
        return (fan_in + fan_out) / 2.0


class GlorotNormal(GlorotUniform):
    """Glorot/Xavier normal: ``N(0, 2 / (fan_in + fan_out))``."""

    distribution = "normal"


class HeUniform(_VarianceScaling):
    """He uniform: ``U[-l, l]``, ``l = sqrt(6 / fan_in)``, for ReLU networks.

    He et al., "Delving Deep into Rectifiers", ICCV 2015.
    """

    scale = 2.0


class HeNormal(HeUniform):
    """He normal: ``N(0, 2 / fan_in)``."""

    distribution = "normal"


class LecunUniform(_VarianceScaling):
    """LeCun uniform: ``U[-l, l]``, ``l = sqrt(3 / fan_in)``."""


class LecunNormal(LecunUniform):
    """LeCun normal: ``N(0, 1 / fan_in)``."""

    distribution = "normal"


#: Name -> initializer class (Keras's names).
INITIALIZERS: dict[str, type[Initializer]] = {
    "zeros": Zeros,
    "ones": Ones,
    "constant": Constant,
    "random_uniform": RandomUniform,
    "random_normal": RandomNormal,
    "glorot_uniform": GlorotUniform,
    "glorot_normal": GlorotNormal,
    "xavier_uniform": GlorotUniform,
    "xavier_normal": GlorotNormal,
    "he_uniform": HeUniform,
    "he_normal": HeNormal,
    "lecun_uniform": LecunUniform,
    "lecun_normal": LecunNormal,
}


def get(identifier) -> Initializer:
    """An initializer from a name, a class or an instance.

    Raises:
        ValueError: unknown name, listing the valid ones.
    """
    return resolve(identifier, INITIALIZERS, Initializer, "initializer")
