"""``GaussianNoise``: additive zero-mean noise in training, a regularizer (Keras's layer)."""

from __future__ import annotations

import math
import numbers

from flexnet import random as fxrandom
from flexnet.layers.base import LAYERS, Layer

__all__ = ["GaussianNoise"]


@LAYERS.register()
class GaussianNoise(Layer):
    """Adds zero-mean Gaussian noise in training (``keras.layers.GaussianNoise``); the
    identity at inference.

    ``Y = X + N`` with ``N_ij ~ Normal(0, stddev²)`` drawn at every training step;
    ``dX = dY``. The noise comes from the model's generator on its device (seeded by
    :func:`flexnet.utils.set_random_seed`), or from the layer's own when ``seed`` is given.

    Args:
        stddev: the standard deviation of the noise, >= 0.
        seed: a seed for the layer's own generator (default: the model's).
        name, input_shape, trainable, activity_regularizer: see :class:`Layer`.

    Example:
        >>> import flexnet as fx
        >>> model = fx.Sequential([fx.layers.GaussianNoise(0.1, input_shape=(4,)), fx.layers.Dense(1)])
    """

    def __init__(self, stddev: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(stddev, bool) or not isinstance(stddev, numbers.Real) or not 0 <= stddev < math.inf:
            raise ValueError(f"stddev of a GaussianNoise layer must be a finite number >= 0, got {stddev!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)
                                 or seed < 0):
            raise ValueError(f"seed must be a non-negative int or None, got {seed!r}")
        self.stddev = float(stddev)
        self.seed = None if seed is None else int(seed)
        self._generator = None

    def _noise_source(self):
        if self.seed is None:
            return self.rng
        if self._generator is None or self._generator.backend != self.backend:
            self._generator = fxrandom.generator(self.backend, self.seed)
        return self._generator

    def forward(self, X, training=False):
        if not training or self.stddev == 0.0:
            return X
        return X + self._noise_source().normal(X.shape, 0.0, self.stddev, self.dtype)

    def backward(self, dY):
        return dY

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}
