"""Weight initializers, drawn on the model's device by its own generator.

An initializer is called as ``init(shape, dtype, rng)`` where ``rng`` is a
:class:`flexnet.random.Generator` (which knows the backend and device) and
``dtype`` a name such as ``"float32"``. Fans follow Keras: for a kernel of
shape ``(fan_in, fan_out)``; for a vector, both are its length.

Names are Keras's (``"glorot_uniform"``, ``"orthogonal"``, ...; class names such
as ``"GlorotUniform"`` work too), and every initializer round-trips through
``serialize`` / ``get``:

    >>> import flexnet as fx
    >>> init = fx.initializers.RandomNormal(stddev=0.01)    # the course's randn(...) * 0.01
    >>> config = fx.initializers.serialize(init)
    >>> config
    {'class_name': 'RandomNormal', 'config': {'mean': 0.0, 'stddev': 0.01, 'seed': None}}
    >>> fx.initializers.get(config)
    RandomNormal(mean=0.0, stddev=0.01, seed=None)
"""

from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod

from flexnet.random import generator
from flexnet.registry import Kind

__all__ = [
    "Constant",
    "GlorotNormal",
    "GlorotUniform",
    "HeNormal",
    "HeUniform",
    "Identity",
    "Initializer",
    "LecunNormal",
    "LecunUniform",
    "Ones",
    "Orthogonal",
    "RandomInitializer",
    "RandomNormal",
    "RandomUniform",
    "TruncatedNormal",
    "VarianceScaling",
    "Zeros",
    "deserialize",
    "get",
    "serialize",
]


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


class Initializer(ABC):
    """Base class. Subclasses implement ``__call__(shape, dtype, rng)`` and, when their
    constructor takes arguments, ``get_config()`` returning them."""

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


# ---------------------------------------------------------------------------
# Constants.


@INITIALIZERS.register("constant")
class Constant(Initializer):
    """Every entry equal to ``value``."""

    def __init__(self, value: float = 0.0):
        self.value = _number(value, "value")

    def __call__(self, shape, dtype, rng):
        b = rng.backend
        return b.xp.full(tuple(shape), self.value, dtype=b.dtype(dtype), device=b.device)

    def get_config(self):
        return {"value": self.value}


@INITIALIZERS.register("zeros", "zero")
class Zeros(Constant):
    """All zeros (the default bias initializer)."""

    def __init__(self):
        super().__init__(0.0)

    def get_config(self):
        return {}


@INITIALIZERS.register("ones", "one")
class Ones(Constant):
    """All ones."""

    def __init__(self):
        super().__init__(1.0)

    def get_config(self):
        return {}


@INITIALIZERS.register("identity")
class Identity(Initializer):
    """``gain · I``: ones on the main diagonal of a 2-D kernel, zeros elsewhere.

    A non-square ``(m, n)`` kernel gets the first ``min(m, n)`` diagonal entries.

    Args:
        gain: the diagonal value.

    Raises:
        ValueError: when called for a shape that is not 2-D.
    """

    def __init__(self, gain: float = 1.0):
        self.gain = _number(gain, "gain")

    def __call__(self, shape, dtype, rng):
        shape = tuple(shape)
        if len(shape) != 2:
            raise ValueError(f"the identity initializer needs a 2-D shape, got {shape}")
        b = rng.backend
        eye = b.xp.eye(shape[0], shape[1], dtype=b.dtype(dtype), device=b.device)
        return eye if self.gain == 1.0 else eye * self.gain

    def get_config(self):
        return {"gain": self.gain}


# ---------------------------------------------------------------------------
# Random distributions with fixed parameters.


@INITIALIZERS.register("random_uniform", "uniform")
class RandomUniform(RandomInitializer):
    """``U[minval, maxval)``.

    Args:
        minval, maxval: the bounds, ``minval <= maxval``.
        seed: see :class:`RandomInitializer`.
    """

    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: int | None = None):
        super().__init__(seed)
        self.minval, self.maxval = _number(minval, "minval"), _number(maxval, "maxval")
        if self.minval > self.maxval:
            raise ValueError(f"minval must be <= maxval, got minval={minval!r} > maxval={maxval!r}")

    def __call__(self, shape, dtype, rng):
        return self._generator(rng).uniform(shape, self.minval, self.maxval, dtype)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, **super().get_config()}


@INITIALIZERS.register("random_normal", "normal")
class RandomNormal(RandomInitializer):
    """``N(mean, stddev²)``; ``RandomNormal(stddev=0.01)`` is the course's ``randn(...) × 0.01``.

    Args:
        mean: μ.
        stddev: σ ≥ 0.
        seed: see :class:`RandomInitializer`.
    """

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None):
        super().__init__(seed)
        self.mean = _number(mean, "mean")
        self.stddev = _number(stddev, "stddev", minimum=0.0)

    def __call__(self, shape, dtype, rng):
        return self._generator(rng).normal(shape, self.mean, self.stddev, dtype)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, **super().get_config()}


#: Standard deviation of N(0, 1) truncated to [-2, 2] (Keras divides by it to keep the variance).
_TRUNCATED_STD = 0.87962566103423978


def _truncated_normal(rng, shape, mean: float, stddev: float, dtype: str):
    """``N(mean, stddev²)`` with every draw farther than ``2·stddev`` from ``mean`` redrawn.

    Redraws the whole array where any entry is outside (4.6% per round), so a
    million entries take about six rounds; it runs once per weight.
    """
    xp = rng.backend.xp
    z = rng.normal(shape, 0.0, 1.0, dtype)
    outside = xp.abs(z) > 2.0
    while bool(xp.any(outside)):
        z = xp.where(outside, rng.normal(shape, 0.0, 1.0, dtype), z)
        outside = xp.abs(z) > 2.0
    return z * stddev + mean


@INITIALIZERS.register("truncated_normal")
class TruncatedNormal(RandomNormal):
    """``N(mean, stddev²)`` truncated to ``[mean - 2·stddev, mean + 2·stddev]``, as Keras.

    Draws outside the interval are redrawn, so the standard deviation of the
    result is ``0.88 · stddev``.

    Args:
        mean: μ.
        stddev: σ of the normal before truncation.
        seed: see :class:`RandomInitializer`.
    """

    def __call__(self, shape, dtype, rng):
        return _truncated_normal(self._generator(rng), shape, self.mean, self.stddev, dtype)


# ---------------------------------------------------------------------------
# Variance scaling: Glorot, He, LeCun.

_MODES = ("fan_in", "fan_out", "fan_avg")
_DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")


@INITIALIZERS.register("variance_scaling")
class VarianceScaling(RandomInitializer):
    """Variance ``scale / n``, ``n`` the fan chosen by ``mode``: the rule behind Glorot, He, LeCun.

    With ``n = fan_in``, ``fan_out`` or ``(fan_in + fan_out) / 2`` (at least 1):

    * ``"uniform"``: ``U[-l, l]`` with ``l = sqrt(3 · scale / n)``;
    * ``"untruncated_normal"``: ``N(0, scale / n)``;
    * ``"truncated_normal"``: a normal truncated at two standard deviations with
      ``σ = sqrt(scale / n) / 0.8796``, so the variance after truncation is ``scale / n``.

    ``"normal"`` means ``"truncated_normal"``, as in Keras. The named initializers
    :class:`GlorotNormal`, :class:`HeNormal` and :class:`LecunNormal` draw
    *untruncated*, as ``torch.nn.init`` does (Keras truncates).

    Args:
        scale: positive factor.
        mode: ``"fan_in"``, ``"fan_out"`` or ``"fan_avg"``.
        distribution: ``"truncated_normal"``, ``"untruncated_normal"`` or ``"uniform"``.
        seed: see :class:`RandomInitializer`.

    Example:
        >>> import flexnet as fx
        >>> he = fx.initializers.VarianceScaling(2.0, "fan_in", "untruncated_normal")   # HeNormal
    """

    def __init__(self, scale: float = 1.0, mode: str = "fan_in",
                 distribution: str = "truncated_normal", seed: int | None = None):
        super().__init__(seed)
        self.scale = _number(scale, "scale", minimum=0.0, strict=True)
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
        if isinstance(distribution, str) and distribution.lower() == "normal":
            distribution = "truncated_normal"
        if not isinstance(distribution, str) or distribution.lower() not in _DISTRIBUTIONS:
            raise ValueError(f"distribution must be one of {_DISTRIBUTIONS}, got {distribution!r}")
        self.mode = mode
        self.distribution = distribution.lower()

    def __call__(self, shape, dtype, rng):
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        var = self.scale / max(1.0, n)
        rng = self._generator(rng)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * var)
            return rng.uniform(shape, -limit, limit, dtype)
        if self.distribution == "untruncated_normal":
            return rng.normal(shape, 0.0, math.sqrt(var), dtype)
        return _truncated_normal(rng, shape, 0.0, math.sqrt(var) / _TRUNCATED_STD, dtype)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution,
                **super().get_config()}


class _NamedVarianceScaling(VarianceScaling):
    """A variance scaling with fixed ``scale``, ``mode``, ``distribution``: only ``seed`` is free."""

    _args: tuple[float, str, str] = (1.0, "fan_in", "uniform")

    def __init__(self, seed: int | None = None):
        super().__init__(*self._args, seed=seed)

    def get_config(self):
        return {"seed": self.seed}


@INITIALIZERS.register("glorot_uniform", "xavier_uniform")
class GlorotUniform(_NamedVarianceScaling):
    """Glorot/Xavier uniform: ``U[-l, l]``, ``l = sqrt(6 / (fan_in + fan_out))``.

    Glorot & Bengio, "Understanding the difficulty of training deep feedforward
    neural networks", AISTATS 2010.
    """

    _args = (1.0, "fan_avg", "uniform")


@INITIALIZERS.register("glorot_normal", "xavier_normal")
class GlorotNormal(_NamedVarianceScaling):
    """Glorot/Xavier normal: ``N(0, 2 / (fan_in + fan_out))`` (untruncated, as torch)."""

    _args = (1.0, "fan_avg", "untruncated_normal")


@INITIALIZERS.register("he_uniform")
class HeUniform(_NamedVarianceScaling):
    """He uniform: ``U[-l, l]``, ``l = sqrt(6 / fan_in)``, for ReLU networks.

    He et al., "Delving Deep into Rectifiers", ICCV 2015.
    """

    _args = (2.0, "fan_in", "uniform")


@INITIALIZERS.register("he_normal")
class HeNormal(_NamedVarianceScaling):
    """He normal: ``N(0, 2 / fan_in)`` (untruncated, as torch)."""

    _args = (2.0, "fan_in", "untruncated_normal")


@INITIALIZERS.register("lecun_uniform")
class LecunUniform(_NamedVarianceScaling):
    """LeCun uniform: ``U[-l, l]``, ``l = sqrt(3 / fan_in)``."""

    _args = (1.0, "fan_in", "uniform")


@INITIALIZERS.register("lecun_normal")
class LecunNormal(_NamedVarianceScaling):
    """LeCun normal: ``N(0, 1 / fan_in)`` (untruncated, as torch)."""

    _args = (1.0, "fan_in", "untruncated_normal")


# ---------------------------------------------------------------------------
# Orthogonal.


@INITIALIZERS.register("orthogonal")
class Orthogonal(RandomInitializer):
    """A random orthogonal matrix times ``gain`` (Saxe et al., ICLR 2014), as Keras and torch.

    For a shape ``(..., n)`` it works on the matrix ``(m, n)`` with ``m`` the
    product of the leading dimensions: draws ``A ~ N(0, 1)`` of shape ``(m, n)``,
    transposed if ``m < n``, factors ``A = Q R``, and multiplies each column
    of ``Q`` by the sign of ``R``'s diagonal entry, which makes ``Q`` uniformly
    (Haar) distributed. If ``m < n`` it uses ``Qᵀ``. So ``WᵀW = gain² I`` when
    ``m ≥ n`` (orthonormal columns) and ``W Wᵀ = gain² I`` otherwise (rows).
    On the torch backend a 2-D kernel equals ``torch.nn.init.orthogonal_`` given a
    ``torch.Generator`` in the same state.

    Args:
        gain: factor applied to the orthogonal matrix.
        seed: see :class:`RandomInitializer`.

    Raises:
        ValueError: when called for a shape with fewer than two dimensions.
    """

    def __init__(self, gain: float = 1.0, seed: int | None = None):
        super().__init__(seed)
        self.gain = _number(gain, "gain")

    def __call__(self, shape, dtype, rng):
        shape = tuple(shape)
        if len(shape) < 2:
            raise ValueError(f"the orthogonal initializer needs a shape of 2 or more dimensions, "
                             f"got {shape}")
        b = rng.backend
        xp = b.xp
        m, n = math.prod(shape[:-1]), shape[-1]
        if m * n == 0:
            return xp.zeros(shape, dtype=b.dtype(dtype), device=b.device)
        A = self._generator(rng).normal((m, n), 0.0, 1.0, dtype)
        if m < n:
            A = xp.matrix_transpose(A)  # drawn as torch draws it, so 2-D kernels match torch
        Q, R = xp.linalg.qr(A)
        Q = Q * xp.sign(xp.linalg.diagonal(R))
        if m < n:
            Q = xp.matrix_transpose(Q)
        return xp.reshape(Q * self.gain, shape)

    def get_config(self):
        return {"gain": self.gain, **super().get_config()}


# ---------------------------------------------------------------------------
# Names and configs.


def serialize(initializer: Initializer) -> dict:
    """``{"class_name": ..., "config": ...}``, which :func:`deserialize` and :func:`get` rebuild."""
    return INITIALIZERS.serialize(initializer)


def deserialize(config: dict, custom_objects: dict | None = None) -> Initializer:
    """An initializer from :func:`serialize`'s dict.

    Args:
        config: ``{"class_name": name, "config": {...}}``; the class name may be a
            registered name (``"glorot_uniform"``) or a class name (``"GlorotUniform"``).
        custom_objects: name -> class, for initializers written outside flexnet.

    Raises:
        ValueError: a malformed dict or an unknown class name.
    """
    return INITIALIZERS.deserialize(config, custom_objects)


def get(identifier) -> Initializer:
    """An initializer from a name, a config dict, a class or an instance.

    Raises:
        ValueError: unknown name, listing the valid ones.
        TypeError: anything else.
    """
    return INITIALIZERS.resolve(identifier)
