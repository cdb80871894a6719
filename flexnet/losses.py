"""Losses: a value and its gradient with respect to the network's output.

A loss defines per-sample values ``ℓ_i`` and their gradients ``∂ℓ_i/∂P``; the
reduction turns them into the reported scalar (``sum_over_batch_size``:
``L = (1/n) Σ_i w_i ℓ_i``, the Keras default; ``sum``: ``L = Σ_i w_i ℓ_i``, with
``w_i = 1`` unless per-sample weights are given) and the matching gradient.
Cross-entropies take ``from_logits``; models fuse a final sigmoid/softmax with its
cross-entropy so backpropagation starts at the logits with ``∂L/∂Z = w (P - y) / n``,
which stays exact where the probabilities saturate.
"""

from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod

import array_api_compat

from flexnet import activations
from flexnet.backend import default_index_dtype, dtype_name
from flexnet.registry import Kind

__all__ = [
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "CategoricalHinge",
    "Hinge",
    "Huber",
    "KLDivergence",
    "LogCosh",
    "Loss",
    "MeanAbsoluteError",
    "MeanSquaredError",
    "SparseCategoricalCrossentropy",
    "SquaredHinge",
    "SumSquaredError",
    "deserialize",
    "get",
    "serialize",
]

EPSILON = 1e-7  # probabilities are clipped to [ε, 1 - ε] before a log, as in Keras

REDUCTIONS = ("sum_over_batch_size", "sum")


class Loss(ABC):
    """Base class: per-sample values and gradients, reduced over the batch.

    Subclasses implement :meth:`values` and :meth:`gradients`; both receive
    targets ``y`` already checked by :meth:`prepare_targets`. The reduction, with
    optional per-sample weights ``w`` (shape ``(n,)``), is done here: ``value``
    gives ``L = s Σ_i w_i ℓ_i`` and ``gradient`` gives ``∂L/∂P_i = s w_i ∂ℓ_i/∂P_i``
    with ``s = 1/n`` (``"sum_over_batch_size"``: divided by the batch size, not by
    ``Σ w``, as in Keras) or ``s = 1`` (``"sum"``).

    Args:
        reduction: ``"sum_over_batch_size"`` (mean over samples) or ``"sum"``.
        name: the name shown in logs.

    Example:
        >>> import numpy as np
        >>> import array_api_compat.numpy as xp
        >>> loss = MeanSquaredError()
        >>> y, P = np.array([[0.0], [1.0]]), np.array([[1.0], [1.0]])
        >>> float(loss.value(xp, y, P)), float(loss.value(xp, y, P, np.array([3.0, 1.0])))
        (0.5, 1.5)
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

    def value(self, xp, y, P, sample_weight=None):
        """The reduced loss ``L`` as a 0-d array on ``P``'s device.

        Args:
            xp: the array namespace of ``P``.
            y: targets prepared by :meth:`prepare_targets`.
            P: the network's output, shape ``(n, ...)``.
            sample_weight: optional per-sample weights ``w``, shape ``(n,)``, on ``P``'s
                device (cast to ``P``'s dtype if needed).

        Raises:
            ValueError: ``sample_weight`` is not of shape ``(n,)``.
        """
        if sample_weight is None:
            return xp.sum(self.values(xp, y, P)) * self.scale(P.shape[0])
        w = _check_sample_weight(xp, sample_weight, P)
        return xp.sum(self.values(xp, y, P) * w) * self.scale(P.shape[0])

    def gradient(self, xp, y, P, sample_weight=None):
        """``∂L/∂P``, same shape as ``P``; ``sample_weight`` as in :meth:`value`."""
        if sample_weight is None:
            return self.gradients(xp, y, P) * self.scale(P.shape[0])
        return self._weighted(xp, self.gradients(xp, y, P), P, sample_weight)

    def _weighted(self, xp, G, P, sample_weight):
        """``s w_i G_i`` row by row: per-sample gradients ``G`` weighted and reduced."""
        w = _check_sample_weight(xp, sample_weight, P) * self.scale(P.shape[0])
        return G * xp.reshape(w, (P.shape[0],) + (1,) * (P.ndim - 1))

    def __call__(self, y_true, y_pred, sample_weight=None):
        """The reduced loss of a batch, e.g. ``fx.losses.get("mse")(y, p)``."""
        xp = array_api_compat.array_namespace(y_true, y_pred)
        y = self.prepare_targets(xp, y_true, y_pred.shape, dtype_name(y_pred.dtype))
        return self.value(xp, y, y_pred, sample_weight)

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

    def class_sample_weights(self, xp, y, class_weight: dict, dtype: str | None = None):
        """Per-sample weights ``w_i = class_weight[class of y_i]`` for ``fit(class_weight=...)``.

        The class of a sample is read from the prepared targets as Keras does: the
        label itself for ``(n,)`` integer labels, ``round(y)`` for ``(n, 1)`` targets
        (binary 0/1), ``argmax(y)`` for one-hot ``(n, C)`` targets; hinge losses read
        target -1 as class 0. Classes missing from ``class_weight`` get weight 1 (as in
        Keras).

        Args:
            xp: the namespace of ``y``.
            y: targets prepared by :meth:`prepare_targets`.
            class_weight: ``{class_index: weight}`` with integer keys and finite,
                non-negative weights.
            dtype: dtype name of the weights (the model's, e.g. ``"float32"``);
                defaults to ``y``'s dtype when it is floating, else ``"float32"``.

        Returns:
            ``w``, shape ``(n,)``, on ``y``'s device.

        Raises:
            TypeError: ``class_weight`` is not a dict of integer keys and numbers.
            ValueError: a weight is negative or not finite.
        """
        table = _check_class_weight(class_weight)
        if dtype is None:
            floating = xp.isdtype(y.dtype, "real floating")
            dtype = dtype_name(y.dtype) if floating else "float32"
        ids = self._class_ids(xp, y)
        w = xp.ones(ids.shape, dtype=getattr(xp, dtype), device=array_api_compat.device(y))
        for k, weight in table.items():
            key = float(k) if xp.isdtype(ids.dtype, "real floating") else k
            w = xp.where(ids == key, xp.full_like(w, weight), w)
        return w

    def _class_ids(self, xp, y):
        """The class of each sample, shape ``(n,)`` (integer, or integer-valued floats)."""
        if y.ndim > 1:
            if y.shape[-1] != 1:
                return xp.argmax(xp.reshape(y, (y.shape[0], -1)), axis=-1)
            y = xp.reshape(y, (y.shape[0],))
        if xp.isdtype(y.dtype, "real floating"):
            return xp.round(y)
        return y

    # -- configuration --------------------------------------------------------
    def get_config(self) -> dict:
        """The constructor arguments: ``type(self)(**loss.get_config())`` rebuilds the loss."""
        return {"reduction": self.reduction, "name": self.name}

    @classmethod
    def from_config(cls, config: dict) -> Loss:
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({args})"


#: Name -> loss class, with Keras's names and short aliases.
LOSSES = Kind("loss", Loss)


def _shape_str(shape) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def _check_sample_weight(xp, sample_weight, P):
    """``sample_weight`` in ``P``'s dtype after checking that its shape is ``(n,)``."""
    n = P.shape[0]
    if tuple(sample_weight.shape) != (n,):
        raise ValueError(
            f"sample_weight must have shape ({n},), one weight per sample of the output of shape "
            f"{tuple(P.shape)}, got shape {tuple(sample_weight.shape)}"
        )
    if sample_weight.dtype != P.dtype:
        sample_weight = xp.astype(sample_weight, P.dtype)
    return sample_weight


def _check_class_weight(class_weight) -> dict[int, float]:
    """``{int: float}`` from a user's class_weight dict, or a clear error."""
    if not isinstance(class_weight, dict):
        raise TypeError(
            f"class_weight must be a dict {{class_index: weight}}, got {type(class_weight).__name__}"
        )
    table = {}
    for k, v in class_weight.items():
        if isinstance(k, bool) or not isinstance(k, numbers.Integral):
            raise TypeError(f"class_weight keys must be integer class indices, got {k!r}")
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise TypeError(f"class_weight[{k!r}] must be a number, got {v!r}")
        if not math.isfinite(float(v)) or float(v) < 0.0:
            raise ValueError(f"class_weight[{k!r}] must be a finite number >= 0, got {v!r}")
        table[int(k)] = float(v)
    return table


def _mean_last(xp, A):
    """Mean over the last axis: ``(n, k) -> (n,)``."""
    return xp.mean(A, axis=-1)


# -- regression ---------------------------------------------------------------------


@LOSSES.register("mean_squared_error", "mse")
class MeanSquaredError(Loss):
    """``ℓ_i = (1/k) Σ_j (P_ij - y_ij)²`` over the ``k`` outputs; ``∂ℓ_i/∂P_ij = 2 (P_ij - y_ij) / k``."""

    name = "mean_squared_error"

    def values(self, xp, y, P):
        D = P - y
        return _mean_last(xp, D * D)

    def gradients(self, xp, y, P):
        return (P - y) * (2.0 / P.shape[-1])


@LOSSES.register("sum_squared_error", "sum_of_squares", "sse")
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


@LOSSES.register("mean_absolute_error", "mae")
class MeanAbsoluteError(Loss):
    """``ℓ_i = (1/k) Σ_j |P_ij - y_ij|``; ``∂ℓ_i/∂P_ij = sign(P_ij - y_ij) / k``.

    At ``P_ij = y_ij`` the loss has a kink; the subgradient used there is 0.
    """

    name = "mean_absolute_error"

    def values(self, xp, y, P):
        return _mean_last(xp, xp.abs(P - y))

    def gradients(self, xp, y, P):
        return xp.sign(P - y) * (1.0 / P.shape[-1])


@LOSSES.register("huber", "huber_loss")
class Huber(Loss):
    """Quadratic near the target, linear beyond ``delta`` (Keras's and PyTorch's form).

    With ``d = P - y``: ``ℓ_i = (1/k) Σ_j h(d_ij)``, ``h(d) = d²/2`` for ``|d| ≤ δ`` and
    ``δ (|d| - δ/2)`` otherwise; ``∂ℓ_i/∂P_ij = clip(d_ij, -δ, δ) / k``.

    Args:
        delta: ``δ > 0``, where the loss turns from quadratic to linear.
        reduction, name: as in :class:`Loss`.
    """

    name = "huber_loss"

    def __init__(self, delta: float = 1.0, reduction: str = "sum_over_batch_size",
                 name: str | None = None):
        super().__init__(reduction=reduction, name=name)
        if isinstance(delta, bool) or not isinstance(delta, numbers.Real):
            raise TypeError(f"delta must be a number, got {type(delta).__name__}")
        if not (math.isfinite(float(delta)) and float(delta) > 0.0):
            raise ValueError(f"delta must be a finite number > 0, got {delta!r}")
        self.delta = float(delta)

    def values(self, xp, y, P):
        d = self.delta
        A = xp.abs(P - y)
        H = xp.where(A <= d, 0.5 * A * A, d * A - 0.5 * d * d)
        return _mean_last(xp, H)

    def gradients(self, xp, y, P):
        return xp.clip(P - y, -self.delta, self.delta) * (1.0 / P.shape[-1])

    def get_config(self):
        return {**super().get_config(), "delta": self.delta}


@LOSSES.register("log_cosh", "logcosh")
class LogCosh(Loss):
    """``ℓ_i = (1/k) Σ_j log cosh(P_ij - y_ij)``; ``∂ℓ_i/∂P_ij = tanh(P_ij - y_ij) / k``.

    Computed as ``|d| + log(1 + e^{-2|d|}) - log 2``, which does not overflow for large ``d``.
    """

    name = "log_cosh"

    def values(self, xp, y, P):
        A = xp.abs(P - y)
        return _mean_last(xp, A + xp.log1p(xp.exp(-2.0 * A)) - math.log(2.0))

    def gradients(self, xp, y, P):
        return xp.tanh(P - y) * (1.0 / P.shape[-1])


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
        if y.shape[0] and (float(xp.min(y)) < 0.0 or float(xp.max(y)) > 1.0):
            raise ValueError(
                f"binary_crossentropy needs targets in [0, 1], got values in "
                f"[{float(xp.min(y))}, {float(xp.max(y))}]"
            )
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
        return super().prepare_targets(xp, y, output_shape, dtype)


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


def serialize(loss: Loss) -> dict:
    """``{"class_name": ..., "config": ...}`` (JSON-serializable), read back by :func:`get`.

    Example:
        >>> serialize(Huber(delta=2.0))["config"]["delta"]
        2.0
    """
    return LOSSES.serialize(loss)


def deserialize(config: dict) -> Loss:
    """The loss described by ``{"class_name": ..., "config": {...}}`` (see :func:`serialize`).

    ``class_name`` is a class name (``"Huber"``) or a registered name (``"huber"``).

    Raises:
        ValueError: unknown class name, or a malformed dict.
        TypeError: a config that the class does not accept.
    """
    return LOSSES.deserialize(config)


def get(identifier) -> Loss:
    """A loss from a name, a class, an instance or a :func:`serialize` dict.

    Raises:
        ValueError: unknown name, listing the valid ones.
        TypeError: anything else.
    """
    return LOSSES.resolve(identifier)
