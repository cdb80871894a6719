"""Core layers: Dense, Activation, Dropout."""

from __future__ import annotations

import numpy as np

from flexnet import activations, constraints, initializers, regularizers
from flexnet.layers.base import LAYERS, Layer

__all__ = ["Activation", "Dense", "Dropout"]


@LAYERS.register()
class Dense(Layer):
    """Fully connected layer: ``Y = f(X W + b)``, applied on the last axis of ``X``.

    Shapes: ``X`` is ``(batch, inputs)``, ``W`` (``kernel``) is ``(inputs, units)``,
    ``b`` (``bias``) is ``(units,)``, ``Y`` is ``(batch, units)``. Inputs of higher rank
    ``(batch, d1, ..., inputs)`` give ``(batch, d1, ..., units)``, the same ``W`` applied
    at every position, as in Keras (no ``Flatten`` needed).

    Backward, with ``dZ = dY ⊙ f'(Z)`` and ``Z = X W + b``, the sums over every axis but
    the last (for rank 2, the batch)::

        db = Σ dZ,   dW = Xᵀ dZ (X, dZ as (positions, ·) matrices),   dX = dZ Wᵀ

    Args:
        units: number of outputs.
        activation: name or :class:`~flexnet.activations.ActivationFunction`; ``None`` is linear.
        use_bias: whether to add ``b``.
        kernel_initializer, bias_initializer: names or initializers.
        kernel_regularizer, bias_regularizer: names (``"l1"``, ``"l2"``, ``"l1_l2"``) or
            :mod:`~flexnet.regularizers` objects; their penalties join the loss.
        activity_regularizer: a penalty on the output ``Y`` (see :class:`Layer`).
        kernel_constraint, bias_constraint: :mod:`~flexnet.constraints` applied after
            each optimizer step.
        input_dim: number of inputs, for a first layer (same as ``input_shape=(input_dim,)``).
        input_shape: input shape without the batch axis, for a first layer.
        name: layer name.

    Example:
        >>> import flexnet as fx
        >>> layer = fx.layers.Dense(16, activation="relu", input_dim=30)
    """

    def __init__(
        self,
        units: int,
        activation=None,
        use_bias: bool = True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        input_dim: int | None = None,
        input_shape=None,
        name: str | None = None,
        trainable: bool = True,
    ):
        if input_dim is not None:
            if input_shape is not None:
                raise ValueError("give input_dim or input_shape, not both")
            input_shape = (input_dim,)
        super().__init__(name=name, input_shape=input_shape, trainable=trainable,
                         activity_regularizer=activity_regularizer)
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
            raise ValueError(f"units must be a positive int, got {units!r}")
        self.units = int(units)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)

    def check_input_shape(self, input_shape):
        if isinstance(input_shape, list) or len(input_shape) < 2:
            raise ValueError(
                f"Dense layer {self.name or self.default_name!r} takes inputs (batch, ..., features), "
                f"got shape {input_shape}"
            )

    def build(self, input_shape):
        self.check_input_shape(input_shape)
        self.add_weight("kernel", (input_shape[-1], self.units), self.kernel_initializer,
                        regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        if self.use_bias:
            self.add_weight("bias", (self.units,), self.bias_initializer,
                            regularizer=self.bias_regularizer, constraint=self.bias_constraint)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def forward(self, X, training=False):
        cache = self.cache
        cache.X = X
        Z = X @ self.params["kernel"]
        if self.use_bias:
            Z += self.params["bias"]  # in place: Z is ours, fresh from the product
        cache.Z = Z
        cache.Y = self.activation.forward(self.xp, Z)
        return cache.Y

    def backward(self, dY):
        cache = self.cache
        return self.backward_logits(self.activation.backward(self.xp, cache.Z, cache.Y, dY))

    def logits(self):
        """The pre-activation ``Z = XW + b`` of the last forward call (for fused losses)."""
        return self.cache.Z

    def backward_logits(self, dZ):
        """Backward from ``dZ = ∂L/∂Z``, the gradient at the pre-activation ``Z = XW + b``.

        Models call this directly when the loss is fused with the activation
        (sigmoid or softmax with cross-entropy).
        """
        X, W = self.cache.X, self.params["kernel"]
        dZ2 = dZ
        if dZ.ndim > 2:  # positions of every leading axis are rows of one product
            X = self.xp.reshape(X, (-1, X.shape[-1]))
            dZ2 = self.xp.reshape(dZ, (-1, dZ.shape[-1]))
        if self.use_bias:
            self.grads["bias"] = self.xp.sum(dZ2, axis=0)
        self.grads["kernel"] = X.T @ dZ2
        if not self.input_grad_needed:
            return None  # the first layer: nobody reads dX, skip its product
        return dZ @ W.T

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
        }


@LAYERS.register()
class Activation(Layer):
    """Applies an activation function: ``Y = f(X)``.

    Args:
        activation: name or :class:`~flexnet.activations.ActivationFunction`.
        name, input_shape, trainable, activity_regularizer: see :class:`Layer`.
    """

    def __init__(self, activation, name=None, input_shape=None, **kwargs):
        super().__init__(name=name, input_shape=input_shape, **kwargs)
        self.activation = activations.get(activation)

    def forward(self, X, training=False):
        self.cache.Z = X
        self.cache.Y = self.activation.forward(self.xp, X)
        return self.cache.Y

    def backward(self, dY):
        return self.activation.backward(self.xp, self.cache.Z, self.cache.Y, dY)

    def logits(self):
        """The activation's input in the last forward call (for fused losses)."""
        return self.cache.Z

    def backward_logits(self, dZ):
        """Backward from the gradient at the activation's input (fused losses)."""
        return dZ

    def get_config(self):
        return {**super().get_config(), "activation": activations.serialize(self.activation)}


@LAYERS.register()
class Dropout(Layer):
    """Inverted dropout: in training, zero each input with probability ``rate``
    and scale the rest by ``1 / (1 - rate)``; at inference, the identity.

    ``Y = X ⊙ M / (1 - rate)`` with ``M_ij ~ Bernoulli(1 - rate)``; ``dX = dY ⊙ M / (1 - rate)``.
    Masks come from the model's generator, on its device.

    Args:
        rate: fraction of inputs to drop, in ``[0, 1)``.
        name, input_shape, trainable, activity_regularizer: see :class:`Layer`.
    """

    def __init__(self, rate: float, name=None, input_shape=None, **kwargs):
        super().__init__(name=name, input_shape=input_shape, **kwargs)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
            raise ValueError(f"Dropout rate must be a number in [0, 1), got {rate!r}")
        self.rate = float(rate)

    def forward(self, X, training=False):
        if not training or self.rate == 0.0:
            self.cache.mask = None
            return X
        keep = self.rng.uniform(X.shape, 0.0, 1.0, self.dtype) >= self.rate
        mask = self.cache.mask = self.xp.astype(keep, X.dtype) * (1.0 / (1.0 - self.rate))
        return X * mask

    def backward(self, dY):
        mask = self.cache.mask
        return dY if mask is None else dY * mask

    def get_config(self):
        return {**super().get_config(), "rate": self.rate}
