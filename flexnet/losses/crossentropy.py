"""The cross-entropies: binary, categorical (one-hot or soft targets) and sparse categorical
(integer labels), from probabilities or logits, with Keras's label smoothing, probability
rescaling and ``ignore_class``; each fuses with a final sigmoid or softmax.
"""

from __future__ import annotations

import math
import numbers
from abc import abstractmethod

import array_api_compat

from flexnet import activations
from flexnet.backend import default_index_dtype
from flexnet.losses.base import EPSILON, LOSSES, Loss, _mean_last

__all__ = ["BinaryCrossentropy", "CategoricalCrossentropy", "SparseCategoricalCrossentropy"]


# -- shared pieces ------------------------------------------------------------------------------


def _unit(value, what: str) -> float:
    """``value`` as a float in ``[0, 1]`` (label smoothing, a focal ``alpha``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} must be a number in [0, 1], got {value!r}")
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"{what} must be in [0, 1], got {value!r}")
    return float(value)


def _smooth_binary(y, s: float):
    """Targets squeezed towards 1/2 (Keras): ``ỹ = (1 - s) y + s/2``."""
    return y if s == 0.0 else y * (1.0 - s) + 0.5 * s


def _smooth_categorical(y, s: float):
    """Targets spread over the ``C`` classes (Keras): ``ỹ = (1 - s) y + s/C``."""
    return y if s == 0.0 else y * (1.0 - s) + s / y.shape[-1]


def _clip(xp, P):
    return xp.clip(P, EPSILON, 1.0 - EPSILON)


def _inside(xp, P):
    """1 where ``P`` is not clipped, else 0 (the clipped loss is flat there)."""
    return xp.astype((P > EPSILON) & (P < 1.0 - EPSILON), P.dtype)


def _log_softmax(xp, Z):
    S = Z - xp.max(Z, axis=-1, keepdims=True)
    return S - xp.log(xp.sum(xp.exp(S), axis=-1, keepdims=True))


def _softmax(xp, Z):
    return activations.softmax.forward(xp, Z)


def _rescaled(xp, P):
    """``(Q, S)``: each row divided by its sum ``S`` (Keras's rescaling of probabilities that
    do not sum to 1), and ``S`` (shape ``(n, 1)``)."""
    S = xp.sum(P, axis=-1, keepdims=True)
    return P / S, S


def _through_rescaling(xp, G, Q, S):
    """``∂ℓ/∂P`` from ``G = ∂ℓ/∂Q`` with ``Q = P / S``: ``(G - Σ_c G_c Q_c) / S``."""
    return (G - xp.sum(G * Q, axis=-1, keepdims=True)) / S


def _check_targets_in_unit_interval(xp, y, name: str) -> None:
    """Cross-entropy targets are probabilities: finite, in ``[0, 1]`` (one read of each bound)."""
    if not array_api_compat.size(y):
        return
    lo, hi = float(xp.min(y)), float(xp.max(y))
    if lo != lo or hi != hi:
        raise ValueError(f"{name} needs targets in [0, 1], got NaN")
    if not (0.0 <= lo and hi <= 1.0):
        raise ValueError(f"{name} needs targets in [0, 1], got values in [{lo}, {hi}]")


def _refuse_integer_labels(y, output_shape, name: str) -> None:
    if y.ndim == 1 and output_shape[-1] != 1:
        raise ValueError(
            f"{name} needs one-hot targets of shape (n, {output_shape[-1]}), got shape "
            f"{tuple(y.shape)}; for integer class labels use sparse_categorical_crossentropy"
        )


# -- the base class -------------------------------------------------------------------------------


class _CrossEntropy(Loss):
    """Shared ``from_logits`` and ``label_smoothing`` handling and fusion with the output
    activation: ``dlogits`` is the per-sample gradient at the logits written with the
    probabilities the forward pass computed."""

    fuses_with: type[activations.ActivationFunction] = activations.Softmax

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0,
                 reduction="sum_over_batch_size", name=None):
        super().__init__(reduction=reduction, name=name)
        self.from_logits = bool(from_logits)
        self.label_smoothing = _unit(label_smoothing, "label_smoothing")

    @abstractmethod
    def dlogits(self, xp, y, P):
        """Per-sample ``∂ℓ_i/∂z_i`` written with the probabilities ``P = activation(z)``."""

    def logits_gradient(self, xp, y, P, sample_weight=None):
        """``∂L/∂Z`` from the probabilities ``P = activation(Z)`` the forward pass already
        computed: the fused path needs no second sigmoid/softmax. ``sample_weight`` as in
        :meth:`Loss.value`; the matching loss is ``value`` of the ``from_logits`` twin."""
        return self._reduced(xp, self.dlogits(xp, y, P), self.factors(xp, y, P, sample_weight))

    def logits_loss(self, activation):
        if self.from_logits or type(activation) is not self.fuses_with:
            return None
        if getattr(activation, "axis", -1) != -1:
            return None
        return type(self)(**{**self.get_config(), "from_logits": True})

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing}


# -- binary -------------------------------------------------------------------------------------


@LOSSES.register("binary_crossentropy")
class BinaryCrossentropy(_CrossEntropy):
    """Binary cross-entropy, averaged over the ``k`` outputs of each sample.

    With targets ``ỹ = (1 - s) y + s/2`` (label smoothing ``s``, Keras's): from
    probabilities, ``ℓ = -(1/k) Σ_j [ỹ log p + (1-ỹ) log(1-p)]`` with ``p`` clipped to
    ``[ε, 1-ε]``; from logits ``z``, ``ℓ = (1/k) Σ_j [max(z,0) - z ỹ + log(1 + e^{-|z|})]``,
    whose gradient is ``(σ(z) - ỹ) / k``. Targets are in ``[0, 1]``.

    Args:
        from_logits: the outputs are logits ``z`` (no sigmoid applied).
        label_smoothing: ``s`` in ``[0, 1]``: 0 keeps the targets, 1 makes them all 1/2.
        reduction, name: as in :class:`Loss`.

    Example:
        >>> import numpy as np
        >>> y, z = np.array([[0.0, 1.0], [0.0, 0.0]]), np.array([[-18.6, 0.51], [2.94, -12.8]])
        >>> round(float(BinaryCrossentropy(from_logits=True)(y, z)), 3)   # Keras's docstring: 0.8654
        0.865
    """

    name = "binary_crossentropy"
    fuses_with = activations.Sigmoid

    def values(self, xp, y, P):
        y = _smooth_binary(y, self.label_smoothing)
        if self.from_logits:
            Z = P
            return _mean_last(xp, xp.maximum(Z, 0.0) - Z * y + xp.log1p(xp.exp(-xp.abs(Z))))
        Pc = _clip(xp, P)
        return -_mean_last(xp, y * xp.log(Pc) + (1.0 - y) * xp.log(1.0 - Pc))

    def dlogits(self, xp, y, P):
        return (P - _smooth_binary(y, self.label_smoothing)) * (1.0 / P.shape[-1])

    def gradients(self, xp, y, P):
        if self.from_logits:
            return self.dlogits(xp, y, activations.sigmoid.forward(xp, P))
        y = _smooth_binary(y, self.label_smoothing)
        Pc = _clip(xp, P)
        return (Pc - y) / (Pc * (1.0 - Pc)) * _inside(xp, P) * (1.0 / P.shape[-1])

    def prepare_targets(self, xp, y, output_shape, dtype):
        y = super().prepare_targets(xp, y, output_shape, dtype)
        _check_targets_in_unit_interval(xp, y, self.name)
        return y


# -- categorical ----------------------------------------------------------------------------------


@LOSSES.register("categorical_crossentropy")
class CategoricalCrossentropy(_CrossEntropy):
    """Categorical cross-entropy with one-hot (or soft) targets of shape ``(n, C)``.

    With targets ``ỹ = (1 - s) y + s/C`` (label smoothing ``s``, Keras's): from
    probabilities, each row is first divided by its sum, ``q = p / Σ_c p_c`` (as Keras
    does, so outputs that do not sum to 1 still give a cross-entropy), then
    ``ℓ = -Σ_c ỹ_c log q̄_c`` with ``q̄`` clipped to ``[ε, 1-ε]``; the gradient goes back
    through the rescaling, ``∂ℓ/∂p_j = (g_j - Σ_c g_c q_c) / Σ_c p_c`` with
    ``g_c = -ỹ_c / q̄_c`` where unclipped. From logits, ``ℓ = -Σ_c ỹ_c log_softmax(z)_c``
    and ``∂ℓ/∂z = softmax(z) Σ_c ỹ_c - ỹ``.

    Args:
        from_logits: the outputs are logits ``z`` (no softmax applied).
        label_smoothing: ``s`` in ``[0, 1]``: 0 keeps the targets, 1 makes them uniform.
        reduction, name: as in :class:`Loss`.

    Example:
        >>> import numpy as np
        >>> y = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        >>> p = np.array([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]])
        >>> round(float(CategoricalCrossentropy()(y, p)), 3)   # Keras's docstring
        1.177
    """

    name = "categorical_crossentropy"

    def values(self, xp, y, P):
        y = _smooth_categorical(y, self.label_smoothing)
        logQ = _log_softmax(xp, P) if self.from_logits else xp.log(_clip(xp, _rescaled(xp, P)[0]))
        return -xp.sum(y * logQ, axis=-1)

    def dlogits(self, xp, y, P):
        y = _smooth_categorical(y, self.label_smoothing)
        return P * xp.sum(y, axis=-1, keepdims=True) - y

    def gradients(self, xp, y, P):
        if self.from_logits:
            return self.dlogits(xp, y, _softmax(xp, P))
        Q, S = _rescaled(xp, P)
        G = -_smooth_categorical(y, self.label_smoothing) / _clip(xp, Q) * _inside(xp, Q)
        return _through_rescaling(xp, G, Q, S)

    def prepare_targets(self, xp, y, output_shape, dtype):
        _refuse_integer_labels(y, output_shape, self.name)
        y = super().prepare_targets(xp, y, output_shape, dtype)
        _check_targets_in_unit_interval(xp, y, self.name)
        return y


@LOSSES.register("sparse_categorical_crossentropy")
class SparseCategoricalCrossentropy(_CrossEntropy):
    """Categorical cross-entropy with integer class labels ``y_i ∈ {0..C-1}``, shape ``(n,)``.

    From probabilities (rescaled to sum to 1 per row, as :class:`CategoricalCrossentropy`),
    ``ℓ_i = -log q̄_{i, y_i}``; from logits ``ℓ_i = logsumexp(z_i) - z_{i, y_i}``, gradient
    ``softmax(z_i) - onehot(y_i)``.

    With ``ignore_class``, the samples of that label count for nothing, as in Keras:
    their loss and gradient are 0 and the mean divides by the number of the other
    samples (see :class:`Loss`). The label may lie outside ``[0, C)`` (``-1``, ``255``).
    Keras 3 has no label smoothing for this loss, and neither has flexnet.

    Args:
        from_logits: the outputs are logits ``z`` (no softmax applied).
        ignore_class: a label whose samples are left out, or ``None``.
        reduction, name: as in :class:`Loss`.

    Example:
        >>> import numpy as np
        >>> p = np.array([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]])
        >>> loss = SparseCategoricalCrossentropy(ignore_class=-1)
        >>> round(float(loss(np.array([1, 2, -1]), p)), 3)   # the mean of two samples
        1.177
    """

    name = "sparse_categorical_crossentropy"
    sparse_targets = True

    def __init__(self, from_logits: bool = False, ignore_class: int | None = None,
                 reduction="sum_over_batch_size", name=None):
        super().__init__(from_logits=from_logits, reduction=reduction, name=name)
        if ignore_class is not None and (isinstance(ignore_class, bool)
                                         or not isinstance(ignore_class, numbers.Integral)):
            raise TypeError(f"ignore_class must be an int or None, got {ignore_class!r}")
        self.ignore_class = None if ignore_class is None else int(ignore_class)

    def _labels(self, xp, y):
        """The labels with ``ignore_class`` replaced by 0 (masked out by :meth:`mask`)."""
        if self.ignore_class is None:
            return y
        return xp.where(y == self.ignore_class, xp.zeros_like(y), y)

    def _onehot(self, xp, y, P):
        C = P.shape[-1]
        return xp.astype(self._labels(xp, y)[:, None] == xp.arange(C, device=array_api_compat.device(P)),
                         P.dtype)

    def mask(self, xp, y, P):
        if self.ignore_class is None:
            return None
        return xp.astype(y != self.ignore_class, P.dtype)

    def values(self, xp, y, P):
        rows = xp.arange(P.shape[0], device=array_api_compat.device(P))
        labels = self._labels(xp, y)
        if self.from_logits:
            return -_log_softmax(xp, P)[rows, labels]
        return -xp.log(_clip(xp, P[rows, labels] / xp.sum(P, axis=-1)))

    def dlogits(self, xp, y, P):
        return P - self._onehot(xp, y, P)

    def gradients(self, xp, y, P):
        if self.from_logits:
            return self.dlogits(xp, y, _softmax(xp, P))
        Q, S = _rescaled(xp, P)
        G = -self._onehot(xp, y, P) / _clip(xp, Q) * _inside(xp, Q)
        return _through_rescaling(xp, G, Q, S)

    def prepare_targets(self, xp, y, output_shape, dtype):
        if y.ndim == 2 and y.shape[1] == 1:
            y = xp.reshape(y, (y.shape[0],))
        if y.ndim != 1:
            raise ValueError(
                "sparse_categorical_crossentropy needs integer class labels of shape (n,), got "
                f"shape {tuple(y.shape)}; for one-hot targets use categorical_crossentropy"
            )
        if output_shape[0] not in (None, y.shape[0]):
            raise ValueError(f"{y.shape[0]} labels for an output of {output_shape[0]} samples")
        if xp.isdtype(y.dtype, "real floating"):
            fractional = y != xp.round(y)
            if y.shape[0] and bool(xp.any(fractional)):
                i = int(xp.argmax(xp.astype(fractional, xp.int32)))
                raise ValueError(
                    "sparse_categorical_crossentropy needs integer class labels, got "
                    f"non-integer values such as {float(y[i])!r}"
                )
        elif not xp.isdtype(y.dtype, "integral"):
            raise ValueError(f"class labels must be integers, got dtype {y.dtype}")
        C = output_shape[-1]
        if self.ignore_class is not None:  # ignored labels read as 0 here: always in range
            y_checked = xp.where(y == self.ignore_class, xp.zeros_like(y), y)
        else:
            y_checked = y
        if y.shape[0]:  # before the cast to the index dtype, which would wrap labels like 1e20
            show = float if xp.isdtype(y.dtype, "real floating") else int
            lo, hi = show(xp.min(y_checked)), show(xp.max(y_checked))
            if lo < 0 or hi >= C:
                ignored = "" if self.ignore_class is None else f" (besides ignore_class={self.ignore_class})"
                raise ValueError(
                    f"class labels must be in [0, {C - 1}] for an output of {C} units{ignored}, "
                    f"got labels in [{lo}, {hi}]"
                )
        return xp.astype(y, default_index_dtype(xp, array_api_compat.device(y)))

    def get_config(self):
        config = {**super().get_config(), "ignore_class": self.ignore_class}
        del config["label_smoothing"]
        return config
