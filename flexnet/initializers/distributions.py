"""Random initializers: uniform, normal and truncated normal with fixed parameters, variance
scaling (Glorot, He, LeCun) and orthogonal, drawn on the model's device by its generator.
"""

from __future__ import annotations

import math

from flexnet.initializers.base import INITIALIZERS, RandomInitializer, _number, compute_fans

__all__ = ["GlorotNormal", "GlorotUniform", "HeNormal", "HeUniform", "LecunNormal", "LecunUniform",
           "Orthogonal", "RandomNormal", "RandomUniform", "TruncatedNormal", "VarianceScaling"]


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


