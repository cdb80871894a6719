"""Random numbers drawn by each backend's own generator, seeded explicitly.

The Array API standard has no random module, so :func:`generator` picks the
library's native generator (NumPy, CuPy, PyTorch) and falls back to drawing on
the host with NumPy and copying (array-api-strict, unknown namespaces).
Every model owns one generator, seeded from :func:`flexnet.utils.set_random_seed`.
"""

from __future__ import annotations

import numpy as np

from flexnet.backend import Backend

__all__ = ["Generator", "generator"]


class Generator:
    """Host fallback: draws with ``numpy.random.Generator`` and copies to the device.

    Subclasses draw natively on their device. All methods take the dtype as a name
    (``"float32"``) and return arrays on ``backend``'s device.

    Args:
        backend: where the drawn arrays go.
        seed: a non-negative integer.
    """

    def __init__(self, backend: Backend, seed: int):
        self.backend = backend
        self.seed = int(seed)
        self._host = np.random.default_rng(self.seed)

    def uniform(self, shape, low: float = 0.0, high: float = 1.0, dtype: str = "float32"):
        """Samples from U[low, high), shape ``shape``."""
        u = self._host.random(tuple(shape), dtype=np.dtype(dtype))
        return self.backend.from_numpy(low + (high - low) * u, dtype)

    def normal(self, shape, mean: float = 0.0, stddev: float = 1.0, dtype: str = "float32"):
        """Samples from N(mean, stddev²), shape ``shape``."""
        z = self._host.standard_normal(tuple(shape), dtype=np.dtype(dtype))
        return self.backend.from_numpy(mean + stddev * z, dtype)

    def permutation(self, n: int):
        """A random permutation of ``0..n-1`` as an integer index array on the device."""
        return self.backend.from_numpy(self._host.permutation(n), self.backend.index_dtype)


class NumpyGenerator(Generator):
    """``numpy.random.Generator``: the host generator needs no copy on NumPy."""


class CupyGenerator(Generator):
    """``cupy.random.Generator`` drawing on the GPU."""

    def __init__(self, backend: Backend, seed: int):
        super().__init__(backend, seed)
        import cupy

        with backend.device:
            self._rng = cupy.random.default_rng(self.seed)

    def uniform(self, shape, low=0.0, high=1.0, dtype="float32"):
        with self.backend.device:
            u = self._rng.random(tuple(shape), dtype=dtype)
            return low + (high - low) * u if (low, high) != (0.0, 1.0) else u

    def normal(self, shape, mean=0.0, stddev=1.0, dtype="float32"):
        with self.backend.device:
            return mean + stddev * self._rng.standard_normal(tuple(shape), dtype=dtype)

    def permutation(self, n):
        # cupy's Generator has no permutation: argsort of uniforms is one.
        with self.backend.device:
            return self.backend.xp.argsort(self._rng.random((n,)))


class TorchGenerator(Generator):
    """``torch.Generator`` on the model's device."""

    def __init__(self, backend: Backend, seed: int):
        super().__init__(backend, seed)
        import torch

        self._torch = torch
        self._rng = torch.Generator(device=backend.device)
        self._rng.manual_seed(self.seed)

    def _dtype(self, dtype):
        return getattr(self._torch, dtype)

    def uniform(self, shape, low=0.0, high=1.0, dtype="float32"):
        u = self._torch.rand(
            tuple(shape), generator=self._rng, dtype=self._dtype(dtype), device=self.backend.device
        )
        return low + (high - low) * u if (low, high) != (0.0, 1.0) else u

    def normal(self, shape, mean=0.0, stddev=1.0, dtype="float32"):
        z = self._torch.randn(
            tuple(shape), generator=self._rng, dtype=self._dtype(dtype), device=self.backend.device
        )
        return mean + stddev * z

    def permutation(self, n):
        return self._torch.randperm(n, generator=self._rng, device=self.backend.device)


class JaxGenerator(Generator):
    """``jax.random`` with an explicit key, split at every draw.

    The key is the generator's whole state (:attr:`key`); a compiled training step
    takes it as an input and returns the key it reached, so dropout masks inside
    ``jax.jit`` come from the model's seed like everywhere else.
    """

    def __init__(self, backend: Backend, seed: int):
        super().__init__(backend, seed)
        import jax

        self._jax = jax
        # committed to the device, as the keys a compiled step returns are (JAX caches
        # compiled code by where the inputs are committed)
        self.key = jax.device_put(jax.random.key(self.seed), backend.device)

    def _next(self):
        self.key, sub = self._jax.random.split(self.key)
        return sub

    def uniform(self, shape, low=0.0, high=1.0, dtype="float32"):
        return self._jax.random.uniform(self._next(), tuple(shape), dtype=dtype, minval=low, maxval=high)

    def normal(self, shape, mean=0.0, stddev=1.0, dtype="float32"):
        return mean + stddev * self._jax.random.normal(self._next(), tuple(shape), dtype=dtype)

    def permutation(self, n):
        index = self._jax.numpy.arange(n, dtype=self.backend.index_dtype)
        return self._jax.random.permutation(self._next(), index)


_GENERATORS = {
    "numpy": NumpyGenerator,
    "cupy": CupyGenerator,
    "torch": TorchGenerator,
    "jax": JaxGenerator,
}


def generator(backend: Backend, seed: int) -> Generator:
    """The native generator for ``backend`` (host NumPy + copy where there is none)."""
    return _GENERATORS.get(backend.name, Generator)(backend, seed)
