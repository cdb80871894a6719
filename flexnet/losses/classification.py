"""Losses for classes and probabilities: the hinges, the Kullback-Leibler divergence and
the cross-entropies (from probabilities or logits).
"""

from __future__ import annotations

from abc import abstractmethod

import array_api_compat

from flexnet import activations
from flexnet.backend import default_index_dtype
from flexnet.losses.base import EPSILON, LOSSES, Loss, _mean_last

__all__ = ["BinaryCrossentropy", "CategoricalCrossentropy", "CategoricalHinge", "Hinge", "KLDivergence",
           "SparseCategoricalCrossentropy", "SquaredHinge"]


# -- margins ------------------------------------------------------------------------


class _BinaryMargin(Loss):
    """Targets in {-1, 1}; targets that are all 0/1 are turned into -1/1 (as Keras does)."""

    def prepare_targets(self, xp, y, output_shape, dtype):
        y = super().prepare_targets(xp, y, output_shape, dtype)
        if bool(xp.all((y == 0.0) | (y == 1.0))):
            y = y * 2.0 - 1.0
        return y

    def _class_ids(self, xp, y):
        return super()._class_ids(xp, (y + 1.0) * 0.5)  # -1 -> class 0, 1 -> class 1

    def _margins(self, xp, y, P):
        """``max(1 - y P, 0)``."""
        M = 1.0 - y * P
        return xp.where(M > 0.0, M, xp.zeros_like(M))


@LOSSES.register("hinge")
class Hinge(_BinaryMargin):
    """``ℓ_i = (1/k) Σ_j max(1 - y_ij P_ij, 0)`` with ``y ∈ {-1, 1}`` (0/1 targets are converted).

    Gradient ``∂ℓ_i/∂P_ij = -y_ij [y_ij P_ij < 1] / k`` (0 at the kink ``y P = 1``).
    """

    name = "hinge"

    def values(self, xp, y, P):
        return _mean_last(xp, self._margins(xp, y, P))

    def gradients(self, xp, y, P):
        active = xp.astype(y * P < 1.0, P.dtype)
        return y * active * (-1.0 / P.shape[-1])


@LOSSES.register("squared_hinge")
class SquaredHinge(_BinaryMargin):
    """``ℓ_i = (1/k) Σ_j max(1 - y_ij P_ij, 0)²`` with ``y ∈ {-1, 1}`` (0/1 targets are converted).

    Gradient ``∂ℓ_i/∂P_ij = -2 y_ij max(1 - y_ij P_ij, 0) / k``.
    """

    name = "squared_hinge"

    def values(self, xp, y, P):
        M = self._margins(xp, y, P)
        return _mean_last(xp, M * M)

    def gradients(self, xp, y, P):
        return y * self._margins(xp, y, P) * (-2.0 / P.shape[-1])


@LOSSES.register("categorical_hinge")
class CategoricalHinge(Loss):
    """Multi-class hinge with one-hot targets ``y``, shape ``(n, C)`` (Keras's form).

    ``pos_i = Σ_c y_ic P_ic``, ``neg_i = max_c (1 - y_ic) P_ic``,
    ``ℓ_i = max(neg_i - pos_i + 1, 0)``. Where ``ℓ_i > 0`` the gradient is
    ``(1 - y_ic) [c = argmax_c (1 - y_ic) P_ic] - y_ic``, else 0.
    """

    name = "categorical_hinge"

    def _parts(self, xp, y, P):
        Q = (1.0 - y) * P
        M = xp.max(Q, axis=-1) - xp.sum(y * P, axis=-1) + 1.0
        return Q, M

    def values(self, xp, y, P):
        _, M = self._parts(xp, y, P)
        return xp.where(M > 0.0, M, xp.zeros_like(M))

    def gradients(self, xp, y, P):
        Q, M = self._parts(xp, y, P)
        C = P.shape[-1]
        top = xp.argmax(Q, axis=-1)
        onehot = xp.astype(top[:, None] == xp.arange(C, device=array_api_compat.device(P)), P.dtype)
        active = xp.astype(M > 0.0, P.dtype)[:, None]
        return ((1.0 - y) * onehot - y) * active


# -- probabilities ------------------------------------------------------------------


@LOSSES.register("kl_divergence", "kld", "kullback_leibler_divergence")
class KLDivergence(Loss):
    """Kullback-Leibler divergence of the predicted distribution from the targets (Keras's form).

    ``ℓ_i = Σ_c ȳ_ic log(ȳ_ic / P̄_ic)`` with ``ȳ, P̄`` clipped to ``[ε, 1]``;
    ``∂ℓ_i/∂P_ic = -ȳ_ic / P_ic`` where ``ε ≤ P_ic ≤ 1`` and 0 where the clip is flat.
    """

    name = "kl_divergence"

    def values(self, xp, y, P):
        Y = xp.clip(y, EPSILON, 1.0)
        return xp.sum(Y * (xp.log(Y) - xp.log(xp.clip(P, EPSILON, 1.0))), axis=-1)

    def gradients(self, xp, y, P):
        inside = xp.astype((P >= EPSILON) & (P <= 1.0), P.dtype)
        return -xp.clip(y, EPSILON, 1.0) / xp.clip(P, EPSILON, 1.0) * inside


# -- cross-entropies ----------------------------------------------------------------


class _CrossEntropy(Loss):
    """Shared ``from_logits`` handling and fusion with the output activation."""

    fuses_with: type[activations.ActivationFunction] = activations.Softmax

    def __init__(self, from_logits: bool = False, reduction="sum_over_batch_size", name=None):
        super().__init__(reduction=reduction, name=name)
        self.from_logits = bool(from_logits)

    @abstractmethod
    def dlogits(self, xp, y, P):
        """Per-sample ``∂ℓ_i/∂z_i`` written with the probabilities ``P = activation(z)``."""

    def logits_gradient(self, xp, y, P, sample_weight=None):
        """``∂L/∂Z`` from the probabilities ``P = activation(Z)`` the forward pass already
        computed: the fused path needs no second sigmoid/softmax. ``sample_weight`` as in
        :meth:`Loss.value`; the matching loss is ``value`` of the ``from_logits`` twin."""
        if sample_weight is None:
            return self.dlogits(xp, y, P) * self.scale(P.shape[0])
        return self._weighted(xp, self.dlogits(xp, y, P), P, sample_weight)

    def logits_loss(self, activation):
        if self.from_logits or type(activation) is not self.fuses_with:
            return None
        if getattr(activation, "axis", -1) != -1:
            return None
        return type(self)(from_logits=True, reduction=self.reduction, name=self.name)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits}


def _check_probabilities(xp, y, name: str) -> None:
    """Cross-entropy targets are probabilities: finite, in ``[0, 1]`` (one read of each bound)."""
    if not array_api_compat.size(y):
        return
    lo, hi = float(xp.min(y)), float(xp.max(y))
    if lo != lo or hi != hi:
        raise ValueError(f"{name} needs targets in [0, 1], got NaN")
    if not (0.0 <= lo and hi <= 1.0):
        raise ValueError(f"{name} needs targets in [0, 1], got values in [{lo}, {hi}]")


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


@LOSSES.register("binary_crossentropy")
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
        _check_probabilities(xp, y, "binary_crossentropy")
        return y


@LOSSES.register("categorical_crossentropy")
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
        y = super().prepare_targets(xp, y, output_shape, dtype)
        _check_probabilities(xp, y, "categorical_crossentropy")
        return y


@LOSSES.register("sparse_categorical_crossentropy")
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
        C = output_shape[-1]
        if y.shape[0]:  # before the cast to the index dtype, which would wrap labels like 1e20
            show = float if xp.isdtype(y.dtype, "real floating") else int
            lo, hi = show(xp.min(y)), show(xp.max(y))
            if lo < 0 or hi >= C:
                raise ValueError(
                    f"class labels must be in [0, {C - 1}] for an output of {C} units, "
                    f"got labels in [{lo}, {hi}]"
                )
        return xp.astype(y, default_index_dtype(xp, array_api_compat.device(y)))
