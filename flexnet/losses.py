"""Losses: a value and its gradient with respect to the network's output.

A loss defines per-sample values ``ℓ_i`` and their gradients ``∂ℓ_i/∂P``; the
reduction turns them into the reported scalar (``sum_over_batch_size``:
``L = (1/n) Σ_i ℓ_i``, the Keras default; ``sum``: ``L = Σ_i ℓ_i``) and the
matching gradient. Cross-entropies take ``from_logits``; models fuse a final
sigmoid/softmax with its cross-entropy so backpropagation starts at the logits
with ``∂L/∂Z = (P - y) / n``, which stays exact where the probabilities saturate.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import array_api_compat

from flexnet import activations
from flexnet.backend import default_index_dtype, dtype_name
from flexnet.registry import resolve

__all__ = [
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "Loss",
    "MeanSquaredError",
    "SparseCategoricalCrossentropy",
    "SumSquaredError",
    "get",
]

EPSILON = 1e-7  # probabilities are clipped to [ε, 1 - ε] before a log, as in Keras

REDUCTIONS = ("sum_over_batch_size", "sum")


class Loss(ABC):
    """Base class: per-sample values and gradients, reduced over the batch.

    Subclasses implement :meth:`values` and :meth:`gradients`; both receive
    targets ``y`` already checked by :meth:`prepare_targets`.

    Args:
        reduction: ``"sum_over_batch_size"`` (mean over samples) or ``"sum"``.
        name: the name shown in logs.
    """

    name = "loss"
    #: True when targets are class indices (shape ``(n,)``) rather than arrays like the output.
    sparse_targets = False

    def __init__(self, reduction: str = "sum_over_batch_size", name: str | None = None):
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
        self.reduction = reduction
        if name is not None:
            self.name = name

    @abstractmethod
    def values(self, xp, y, P):
        """Per-sample losses ``ℓ_i``, shape ``(n,)``."""

    @abstractmethod
    def gradients(self, xp, y, P):
        """``∂ℓ_i/∂P_i`` for every sample, same shape as ``P`` (not divided by ``n``)."""

    def scale(self, n: int) -> float:
        """The factor that reduces a sum of ``n`` per-sample losses: ``1/n`` or 1."""
        return 1.0 / n if self.reduction == "sum_over_batch_size" else 1.0

    def value(self, xp, y, P):
        """The reduced loss ``L`` as a 0-d array on ``P``'s device."""
        return xp.sum(self.values(xp, y, P)) * self.scale(P.shape[0])

    def gradient(self, xp, y, P):
        """``∂L/∂P``, same shape as ``P``."""
        return self.gradients(xp, y, P) * self.scale(P.shape[0])

    def __call__(self, y_true, y_pred):
        """The reduced loss of a batch, e.g. ``fx.losses.get("mse")(y, p)``."""
        xp = array_api_compat.array_namespace(y_true, y_pred)
        y = self.prepare_targets(xp, y_true, y_pred.shape, dtype_name(y_pred.dtype))
        return self.value(xp, y, y_pred)

    def logits_loss(self, activation) -> Loss | None:
        """The same loss taking logits, when it can be fused with ``activation``; else None."""
        return None

    # -- targets --------------------------------------------------------------
    def prepare_targets(self, xp, y, output_shape, dtype: str):
        """Check targets against the output shape and cast them; returns the targets.

        Dense targets must have the output's shape; ``(n,)`` is accepted for a
        single-unit output. Raises ValueError naming what was expected.
        """
        y = xp.astype(y, getattr(xp, dtype))
        if y.ndim == 1 and len(output_shape) == 2 and output_shape[1] == 1:
            y = xp.reshape(y, (y.shape[0], 1))
        if tuple(y.shape[1:]) != tuple(output_shape[1:]):
            raise ValueError(
                f"targets of shape {tuple(y.shape)} do not fit the model output "
                f"{_shape_str(output_shape)} for loss {self.name!r}"
            )
        return y

    def get_config(self) -> dict:
        return {"reduction": self.reduction, "name": self.name}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(reduction={self.reduction!r})"


def _shape_str(shape) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def _mean_last(xp, A):
    """Mean over the last axis: ``(n, k) -> (n,)``."""
    return xp.mean(A, axis=-1)


class MeanSquaredError(Loss):
    """``ℓ_i = (1/k) Σ_j (P_ij - y_ij)²`` over the ``k`` outputs; ``∂ℓ_i/∂P_ij = 2 (P_ij - y_ij) / k``."""

    name = "mean_squared_error"

    def values(self, xp, y, P):
        D = P - y
        return _mean_last(xp, D * D)

    def gradients(self, xp, y, P):
        return (P - y) * (2.0 / P.shape[-1])


class SumSquaredError(Loss):
    """Sum of squares over outputs and samples: ``L = Σ_i Σ_j (P_ij - y_ij)²``.

    The course's from-scratch loss; its gradient is ``2 (P - y)``. Reduction is
    ``"sum"`` by default, so the loss grows with the batch size.
    """

    name = "sum_squared_error"

    def __init__(self, reduction: str = "sum", name: str | None = None):
        super().__init__(reduction=reduction, name=name)

    def values(self, xp, y, P):
        D = P - y
        return xp.sum(D * D, axis=-1)

    def gradients(self, xp, y, P):
        return 2.0 * (P - y)


class _CrossEntropy(Loss):
    """Shared ``from_logits`` handling and fusion with the output activation."""

    fuses_with: type[activations.ActivationFunction] = activations.Softmax

    def __init__(self, from_logits: bool = False, reduction="sum_over_batch_size", name=None):
        super().__init__(reduction=reduction, name=name)
        self.from_logits = bool(from_logits)

    @abstractmethod
    def dlogits(self, xp, y, P):
        """Per-sample ``∂ℓ_i/∂z_i`` written with the probabilities ``P = activation(z)``."""

    def logits_gradient(self, xp, y, P):
        """``∂L/∂Z`` from the probabilities ``P = activation(Z)`` the forward pass already
        computed: the fused path needs no second sigmoid/softmax."""
        return self.dlogits(xp, y, P) * self.scale(P.shape[0])

    def logits_loss(self, activation):
        if self.from_logits or type(activation) is not self.fuses_with:
            return None
        if getattr(activation, "axis", -1) != -1:
            return None
        return type(self)(from_logits=True, reduction=self.reduction, name=self.name)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(from_logits={self.from_logits})"


def _clip(xp, P):
    return xp.clip(P, EPSILON, 1.0 - EPSILON)


def _inside(xp, P):
    """1 where ``P`` is not clipped, else 0 (the clipped loss is flat there)."""
    return xp.astype((P > EPSILON) & (P < 1.0 - EPSILON), P.dtype)


def _log_softmax(xp, Z):
    S = Z - xp.max(Z, axis=-1, keepdims=True)
    return S - xp.log(xp.sum(xp.exp(S), axis=-1, keepdims=True))


def _softmax(xp, Z):
    return activations.Softmax().forward(xp, Z)


class BinaryCrossentropy(_CrossEntropy):
    """Binary cross-entropy, averaged over the ``k`` outputs of each sample.

    Probabilities: ``ℓ = -(1/k) Σ_j [y log p + (1-y) log(1-p)]`` with ``p`` clipped to
    ``[ε, 1-ε]``. Logits ``z``: ``ℓ = (1/k) Σ_j [max(z,0) - z y + log(1 + e^{-|z|})]``,
    whose gradient is ``(σ(z) - y) / k``. Targets are in ``[0, 1]``.
    """

    name = "binary_crossentropy"
    fuses_with = activations.Sigmoid

    def values(self, xp, y, P):
        if self.from_logits:
            Z = P
            E = xp.maximum(Z, xp.zeros_like(Z)) - Z * y + xp.log1p(xp.exp(-xp.abs(Z)))
            return _mean_last(xp, E)
        Pc = _clip(xp, P)
        return -_mean_last(xp, y * xp.log(Pc) + (1.0 - y) * xp.log(1.0 - Pc))

    def dlogits(self, xp, y, P):
        return (P - y) * (1.0 / P.shape[-1])

    def gradients(self, xp, y, P):
        if self.from_logits:
            return self.dlogits(xp, y, activations.Sigmoid().forward(xp, P))
        Pc = _clip(xp, P)
        return (Pc - y) / (Pc * (1.0 - Pc)) * _inside(xp, P) * (1.0 / P.shape[-1])

    def prepare_targets(self, xp, y, output_shape, dtype):
        y = super().prepare_targets(xp, y, output_shape, dtype)
        if y.shape[0] and (float(xp.min(y)) < 0.0 or float(xp.max(y)) > 1.0):
            raise ValueError(
                f"binary_crossentropy needs targets in [0, 1], got values in "
                f"[{float(xp.min(y))}, {float(xp.max(y))}]"
            )
        return y


class CategoricalCrossentropy(_CrossEntropy):
    """Categorical cross-entropy with one-hot (or soft) targets of shape ``(n, C)``.

    Probabilities: ``ℓ = -Σ_c y_c log p_c`` (``p`` clipped). Logits:
    ``ℓ = -Σ_c y_c log_softmax(z)_c``, gradient ``softmax(z) Σ_c y_c - y``.
    """

    name = "categorical_crossentropy"

    def values(self, xp, y, P):
        logP = _log_softmax(xp, P) if self.from_logits else xp.log(_clip(xp, P))
        return -xp.sum(y * logP, axis=-1)

    def dlogits(self, xp, y, P):
        return P * xp.sum(y, axis=-1, keepdims=True) - y

    def gradients(self, xp, y, P):
        if self.from_logits:
            return self.dlogits(xp, y, _softmax(xp, P))
        return -y / _clip(xp, P) * _inside(xp, P)

    def prepare_targets(self, xp, y, output_shape, dtype):
        if y.ndim == 1 and output_shape[-1] != 1:
            raise ValueError(
                f"categorical_crossentropy needs one-hot targets of shape (n, {output_shape[-1]}), "
                f"got shape {tuple(y.shape)}; for integer class labels use "
                "sparse_categorical_crossentropy"
            )
        return super().prepare_targets(xp, y, output_shape, dtype)


class SparseCategoricalCrossentropy(_CrossEntropy):
    """Categorical cross-entropy with integer class labels ``y_i ∈ {0..C-1}``, shape ``(n,)``.

    ``ℓ_i = -log p_{i, y_i}``; from logits ``ℓ_i = logsumexp(z_i) - z_{i, y_i}``,
    gradient ``softmax(z_i) - onehot(y_i)``.
    """

    name = "sparse_categorical_crossentropy"
    sparse_targets = True

    def _onehot(self, xp, y, P):
        C = P.shape[-1]
        return xp.astype(y[:, None] == xp.arange(C, device=array_api_compat.device(P)), P.dtype)

    def values(self, xp, y, P):
        rows = xp.arange(P.shape[0], device=array_api_compat.device(P))
        if self.from_logits:
            return -_log_softmax(xp, P)[rows, y]
        return -xp.log(_clip(xp, P[rows, y]))

    def dlogits(self, xp, y, P):
        return P - self._onehot(xp, y, P)

    def gradients(self, xp, y, P):
        if self.from_logits:
            return self.dlogits(xp, y, _softmax(xp, P))
        return -self._onehot(xp, y, P) / _clip(xp, P) * _inside(xp, P)

    def prepare_targets(self, xp, y, output_shape, dtype):
        if y.ndim == 2 and y.shape[1] == 1:
            y = xp.reshape(y, (y.shape[0],))
        if y.ndim != 1:
            raise ValueError(
                "sparse_categorical_crossentropy needs integer class labels of shape (n,), got "
                f"shape {tuple(y.shape)}; for one-hot targets use categorical_crossentropy"
            )
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
        y = xp.astype(y, default_index_dtype(xp, array_api_compat.device(y)))
        C = output_shape[-1]
        if y.shape[0]:
            lo, hi = int(xp.min(y)), int(xp.max(y))
            if lo < 0 or hi >= C:
                raise ValueError(
                    f"class labels must be in [0, {C - 1}] for an output of {C} units, "
                    f"got labels in [{lo}, {hi}]"
                )
        return y


#: Name -> loss class, with Keras's names and short aliases.
LOSSES: dict[str, type[Loss]] = {
    "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError,
    "sum_squared_error": SumSquaredError,
    "sum_of_squares": SumSquaredError,
    "sse": SumSquaredError,
    "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
}


def get(identifier) -> Loss:
    """A loss from a name, a class or an instance.

    Raises:
        ValueError: unknown name, listing the valid ones.
    """
    return resolve(identifier, LOSSES, Loss, "loss")
