"""Normalization layers: BatchNormalization (statistics over the batch, moving averages for
inference) and LayerNormalization (statistics over each sample's features).

Both compute ``X̂ = (X - μ) / sqrt(σ² + ε)`` and ``Y = γ ⊙ X̂ + β``; they differ in the
axes ``μ`` and ``σ²`` are taken over.
"""

from __future__ import annotations

import math

from flexnet import initializers
from flexnet.layers.base import LAYERS, Layer

__all__ = ["BatchNormalization", "LayerNormalization"]


# -- argument checks and helpers shared by both layers ---------------------------------------


def _check_bool(value, what: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{what} must be True or False, got {value!r}")
    return value


def _check_epsilon(epsilon) -> float:
    if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)):
        raise TypeError(f"epsilon must be a positive number, got {epsilon!r}")
    if not (epsilon > 0 and math.isfinite(epsilon)):
        raise ValueError(f"epsilon must be a positive number, got {epsilon!r}")
    return float(epsilon)


def _check_axis(axis, what: str = "axis") -> int:
    """An int axis of the full input (batch axis included); 0 is the batch axis."""
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise TypeError(f"{what} must be an int, got {axis!r}")
    if axis == 0:
        raise ValueError(f"{what}=0 is the batch axis; give a feature axis (e.g. -1)")
    return axis


def _resolve_axes(axes: tuple[int, ...], input_shape: tuple, layer: str) -> tuple[int, ...]:
    """Non-negative, sorted axes for inputs of ``input_shape`` (batch axis included)."""
    rank = len(input_shape)
    resolved = []
    for axis in axes:
        if not -rank <= axis < rank:
            raise ValueError(
                f"layer {layer!r}: axis {axis} is out of range for inputs of rank {rank} "
                f"(shape {input_shape}); valid feature axes are 1..{rank - 1} or "
                f"-{rank - 1}..-1"
            )
        if axis % rank == 0:
            raise ValueError(
                f"layer {layer!r}: axis {axis} is the batch axis of inputs of shape {input_shape}"
            )
        resolved.append(axis % rank)
    if len(set(resolved)) != len(resolved):
        raise ValueError(f"layer {layer!r}: axis {axes} names the same axis twice")
    return tuple(sorted(resolved))


class _Normalization(Layer):
    """What both layers share: ``center``/``scale``, γ/β and the affine map ``γ ⊙ X̂ + β``."""

    def __init__(self, epsilon, center, scale, beta_initializer, gamma_initializer, *,
                 name, input_shape, trainable):
        super().__init__(name=name, input_shape=input_shape, trainable=trainable)
        self.epsilon = _check_epsilon(epsilon)
        self.center = _check_bool(center, "center")
        self.scale = _check_bool(scale, "scale")
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self._param_shape: tuple[int, ...] = ()
        self._broadcast_shape: tuple[int, ...] = ()

    def _build_affine(self, input_shape, axes: tuple[int, ...]) -> None:
        """γ and β of the shape of ``input_shape`` over ``axes``."""
        self._param_shape = tuple(input_shape[a] for a in axes)
        self._broadcast_shape = tuple(input_shape[i] if i in axes else 1
                                      for i in range(len(input_shape)))
        if self.scale:
            self.add_weight("gamma", self._param_shape, self.gamma_initializer)
        if self.center:
            self.add_weight("beta", self._param_shape, self.beta_initializer)

    def _broadcast(self, v):
        """A parameter-shaped array reshaped to broadcast against the input."""
        return self.xp.reshape(v, self._broadcast_shape)

    def _affine(self, Xhat):
        Y = Xhat
        if self.scale:
            Y = Y * self._broadcast(self.params["gamma"])
        if self.center:
            Y = Y + self._broadcast(self.params["beta"])
        return Y

    def _affine_grads(self, dY, Xhat, other_axes: tuple[int, ...]) -> None:
        """``dγ = Σ dY ⊙ X̂`` and ``dβ = Σ dY`` over ``other_axes`` (those γ/β are shared along)."""
        if self.scale:
            self.grads["gamma"] = self.xp.sum(dY * Xhat, axis=other_axes)
        if self.center:
            self.grads["beta"] = self.xp.sum(dY, axis=other_axes)

    def _require_forward(self) -> None:
        if getattr(self.cache, "Xhat", None) is None:
            raise RuntimeError(f"layer {self.name!r}: call forward() before backward()")

    def get_config(self):
        return {
            **super().get_config(),
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
        }


@LAYERS.register()
class BatchNormalization(_Normalization):
    """Batch normalization (Ioffe & Szegedy, "Batch Normalization: Accelerating Deep Network
    Training by Reducing Internal Covariate Shift", ICML 2015), as Keras computes it.

    For every feature ``j`` of ``axis``, with the statistics taken over all other axes
    (the batch, and any other axes of an N-D input; ``N`` values per feature)::

        training:   μ = mean(X),  σ² = mean((X - μ)²)     (biased batch variance)
                    X̂ = (X - μ) / sqrt(σ² + ε),   Y = γ ⊙ X̂ + β
                    moving_mean     ← momentum · moving_mean     + (1 - momentum) · μ
                    moving_variance ← momentum · moving_variance + (1 - momentum) · σ²
        inference:  Y = γ ⊙ (X - moving_mean) / sqrt(moving_variance + ε) + β

    Backward in training (the batch statistics depend on ``X``), sums over the ``N``
    values of each feature::

        dβ = Σ dY,   dγ = Σ dY ⊙ X̂,   dX = γ / (N · sqrt(σ² + ε)) ⊙ (N · dY - dβ - X̂ ⊙ dγ)

    Backward after an inference-mode forward is that of a fixed affine map:
    ``dX = dY ⊙ γ / sqrt(moving_variance + ε)`` (``dγ``, ``dβ`` as above).

    Shapes: ``X`` and ``Y`` are ``(batch, ..., features, ...)``; ``gamma``, ``beta``,
    ``moving_mean`` and ``moving_variance`` are ``(features,)``, the size of ``axis``.
    ``params`` holds γ and β (trainable); ``buffers`` holds the moving statistics
    (non-trainable, counted as such by ``summary()``); ``get_weights()`` returns
    ``[gamma, beta, moving_mean, moving_variance]`` as Keras does (without those
    turned off by ``scale``/``center``). The moving statistics are replaced by new arrays
    at each training step, never updated in place, so a model can keep and restore them.

    Differences from PyTorch's ``BatchNorm1d``: its ``momentum`` is ``1 - momentum`` here
    (Keras's 0.99 is torch's 0.01), its ``eps`` defaults to 1e-5 (1e-3 here), and its
    ``running_var`` is updated with the unbiased batch variance ``N/(N-1) · σ²`` while
    Keras and flexnet use the biased ``σ²`` (both normalize with the biased one).

    A training batch with one value per feature (``N = 1``: a batch of one sample of a
    2-D input) is allowed, as in Keras (PyTorch raises): ``σ² = 0``, so ``Y = β``,
    ``dX = 0``, and the moving variance moves towards 0. Avoid such batches (e.g. choose a
    ``batch_size`` that does not leave one sample at the end of an epoch).

    A layer with ``trainable=False`` runs in inference mode even in training and does not
    update its moving statistics (Keras's rule for fine-tuning).

    Args:
        axis: the feature axis (an int, counting the batch axis as 0; -1 is the last).
        momentum: weight of the old moving statistics, in ``[0, 1)``.
        epsilon: added to the variance before the square root, > 0.
        center: learn the offset β.
        scale: learn the scale γ.
        beta_initializer, gamma_initializer: initializers of β (zeros) and γ (ones).
        moving_mean_initializer, moving_variance_initializer: initial moving statistics.
        name, input_shape, trainable: see :class:`~flexnet.layers.base.Layer`.

    Example:
        >>> import flexnet as fx
        >>> from flexnet.layers.normalization import BatchNormalization
        >>> model = fx.Sequential([fx.layers.Dense(8, input_dim=4), BatchNormalization(),
        ...                        fx.layers.Activation("relu"), fx.layers.Dense(1)])
        >>> model.count_params(), sum(w.size for w in model.non_trainable_weights)
        (81, 16)
        >>> [w.shape for w in model.layers[1].get_weights()]
        [(8,), (8,), (8,), (8,)]
    """

    def __init__(
        self,
        axis: int = -1,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        moving_mean_initializer="zeros",
        moving_variance_initializer="ones",
        name: str | None = None,
        input_shape=None,
        trainable: bool = True,
    ):
        super().__init__(epsilon, center, scale, beta_initializer, gamma_initializer,
                         name=name, input_shape=input_shape, trainable=trainable)
        self.axis = _check_axis(axis)
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float)):
            raise TypeError(f"momentum must be a number in [0, 1), got {momentum!r}")
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
        self.momentum = float(momentum)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self._reduce_axes: tuple[int, ...] = ()

    def build(self, input_shape):
        (axis,) = _resolve_axes((self.axis,), tuple(input_shape), self.name)
        self._reduce_axes = tuple(i for i in range(len(input_shape)) if i != axis)
        self._build_affine(input_shape, (axis,))
        self.add_weight("moving_mean", self._param_shape, self.moving_mean_initializer,
                        trainable=False)
        self.add_weight("moving_variance", self._param_shape, self.moving_variance_initializer,
                        trainable=False)

    def forward(self, X, training=False):
        xp, cache = self.xp, self.cache
        cache.batch_stats = bool(training) and self.trainable  # backward depends on it
        if cache.batch_stats:
            mu = xp.mean(X, axis=self._reduce_axes, keepdims=True)
            Xc = X - mu
            var = xp.mean(Xc * Xc, axis=self._reduce_axes, keepdims=True)
            cache.inv_std = 1.0 / xp.sqrt(var + self.epsilon)
            cache.Xhat = Xc * cache.inv_std
            m = self.momentum
            shape = self._param_shape
            # New arrays, never in place: models may hold the old ones to restore them.
            self.buffers["moving_mean"] = (self.buffers["moving_mean"] * m
                                           + xp.reshape(mu, shape) * (1.0 - m))
            self.buffers["moving_variance"] = (self.buffers["moving_variance"] * m
                                               + xp.reshape(var, shape) * (1.0 - m))
        else:
            mu = self._broadcast(self.buffers["moving_mean"])
            var = self._broadcast(self.buffers["moving_variance"])
            cache.inv_std = 1.0 / xp.sqrt(var + self.epsilon)
            cache.Xhat = (X - mu) * cache.inv_std
        return self._affine(cache.Xhat)

    def backward(self, dY):
        self._require_forward()
        xp, cache, axes = self.xp, self.cache, self._reduce_axes
        Xhat = cache.Xhat
        self._affine_grads(dY, Xhat, axes)
        if not self.input_grad_needed:
            return None
        g = cache.inv_std
        if self.scale:
            g = g * self._broadcast(self.params["gamma"])
        if not cache.batch_stats:
            return dY * g
        n = math.prod(dY.shape[a] for a in axes)
        dbeta = xp.sum(dY, axis=axes, keepdims=True)
        dgamma = xp.sum(dY * Xhat, axis=axes, keepdims=True)
        return (g * (1.0 / n)) * (dY * float(n) - dbeta - Xhat * dgamma)

    def get_config(self):
        return {
            **super().get_config(),
            "axis": self.axis,
            "momentum": self.momentum,
            "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
            "moving_variance_initializer": initializers.serialize(self.moving_variance_initializer),
        }


@LAYERS.register()
class LayerNormalization(_Normalization):
    """Layer normalization (Ba, Kiros & Hinton, "Layer Normalization", 2016), as Keras
    computes it: each sample is normalized over ``axis``, independently of the batch, the
    same way in training and inference (no moving statistics).

    With ``μ`` and ``σ²`` the mean and biased variance of one sample over ``axis``
    (``N`` values)::

        X̂ = (X - μ) / sqrt(σ² + ε),   Y = γ ⊙ X̂ + β

    Backward, with ``G = dY ⊙ γ`` and means over ``axis`` within each sample::

        dX = (G - mean(G) - X̂ ⊙ mean(G ⊙ X̂)) / sqrt(σ² + ε)
        dγ = Σ dY ⊙ X̂,   dβ = Σ dY   (sums over the batch and the other axes)

    Shapes: ``X`` and ``Y`` are ``(batch, ...)``; ``gamma`` and ``beta`` have the shape
    of the input over ``axis`` (``(features,)`` for ``axis=-1``).

    Args:
        axis: the axis or axes (an int or a list of ints, counting the batch axis as 0)
            to normalize over; -1 is the last.
        epsilon: added to the variance before the square root, > 0.
        center: learn the offset β.
        scale: learn the scale γ.
        beta_initializer, gamma_initializer: initializers of β (zeros) and γ (ones).
        name, input_shape, trainable: see :class:`~flexnet.layers.base.Layer`.

    Example:
        >>> from flexnet.layers.normalization import LayerNormalization
        >>> LayerNormalization(epsilon=1e-5).get_config()["epsilon"]
        1e-05
    """

    def __init__(
        self,
        axis=-1,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        name: str | None = None,
        input_shape=None,
        trainable: bool = True,
    ):
        super().__init__(epsilon, center, scale, beta_initializer, gamma_initializer,
                         name=name, input_shape=input_shape, trainable=trainable)
        if isinstance(axis, (list, tuple)):
            if not axis:
                raise ValueError("axis must name at least one axis, got an empty list")
            self.axis = [_check_axis(a, "each axis") for a in axis]
        else:
            self.axis = _check_axis(axis)
        self._axes: tuple[int, ...] = ()
        self._other_axes: tuple[int, ...] = ()

    def build(self, input_shape):
        axes = tuple(self.axis) if isinstance(self.axis, list) else (self.axis,)
        self._axes = _resolve_axes(axes, tuple(input_shape), self.name)
        self._other_axes = tuple(i for i in range(len(input_shape)) if i not in self._axes)
        self._build_affine(input_shape, self._axes)

    def forward(self, X, training=False):
        xp, axes = self.xp, self._axes
        mu = xp.mean(X, axis=axes, keepdims=True)
        Xc = X - mu
        var = xp.mean(Xc * Xc, axis=axes, keepdims=True)
        cache = self.cache
        cache.inv_std = 1.0 / xp.sqrt(var + self.epsilon)
        cache.Xhat = Xc * cache.inv_std
        return self._affine(cache.Xhat)

    def backward(self, dY):
        self._require_forward()
        xp, Xhat, axes = self.xp, self.cache.Xhat, self._axes
        self._affine_grads(dY, Xhat, self._other_axes)
        if not self.input_grad_needed:
            return None
        G = dY * self._broadcast(self.params["gamma"]) if self.scale else dY
        mean_G = xp.mean(G, axis=axes, keepdims=True)
        mean_GX = xp.mean(G * Xhat, axis=axes, keepdims=True)
        return (G - mean_G - Xhat * mean_GX) * self.cache.inv_std

    def get_config(self):
        return {**super().get_config(), "axis": list(self.axis) if isinstance(self.axis, list)
                else self.axis}
