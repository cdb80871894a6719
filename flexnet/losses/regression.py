"""Losses for real-valued targets: mean squared, summed squared, mean absolute, mean absolute
percentage and mean squared logarithmic error, Huber, log-cosh, Poisson and cosine similarity.
"""

from __future__ import annotations

import math
import numbers

from flexnet.losses.base import EPSILON, LOSSES, Loss, _mean_last

__all__ = ["CosineSimilarity", "Huber", "LogCosh", "MeanAbsoluteError", "MeanAbsolutePercentageError",
           "MeanSquaredError", "MeanSquaredLogarithmicError", "Poisson", "SumSquaredError"]


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


@LOSSES.register("mean_absolute_percentage_error", "mape")
class MeanAbsolutePercentageError(Loss):
    """``ℓ_i = (100/k) Σ_j |P_ij - y_ij| / max(|y_ij|, ε)`` (Keras's form, ``ε = 1e-7``);
    ``∂ℓ_i/∂P_ij = 100 sign(P_ij - y_ij) / (k max(|y_ij|, ε))`` (0 at ``P_ij = y_ij``).

    Example:
        >>> import numpy as np
        >>> loss = MeanAbsolutePercentageError()
        >>> round(float(loss(np.array([100.0, 200.0, 300.0]), np.array([90.0, 210.0, 310.0]))), 4)
        6.1111
    """

    name = "mean_absolute_percentage_error"

    def _scale(self, xp, y, P):
        return (100.0 / P.shape[-1]) / xp.maximum(xp.abs(y), EPSILON)

    def values(self, xp, y, P):
        return xp.sum(xp.abs(P - y) * self._scale(xp, y, P), axis=-1)

    def gradients(self, xp, y, P):
        return xp.sign(P - y) * self._scale(xp, y, P)


@LOSSES.register("mean_squared_logarithmic_error", "msle")
class MeanSquaredLogarithmicError(Loss):
    """``ℓ_i = (1/k) Σ_j (log(1 + P̄_ij) - log(1 + ȳ_ij))²`` with ``P̄ = max(P, ε)`` and
    ``ȳ = max(y, ε)`` (Keras's form: values below ``ε = 1e-7`` count as ``ε``);
    ``∂ℓ_i/∂P_ij = 2 (log(1 + P̄_ij) - log(1 + ȳ_ij)) / (k (1 + P̄_ij))`` where ``P_ij > ε``, else 0.
    """

    name = "mean_squared_logarithmic_error"

    def _difference(self, xp, y, P):
        return xp.log1p(xp.maximum(P, EPSILON)) - xp.log1p(xp.maximum(y, EPSILON))

    def values(self, xp, y, P):
        D = self._difference(xp, y, P)
        return _mean_last(xp, D * D)

    def gradients(self, xp, y, P):
        D = self._difference(xp, y, P)
        above = xp.astype(P > EPSILON, P.dtype)
        return D * above / (xp.maximum(P, EPSILON) + 1.0) * (2.0 / P.shape[-1])


@LOSSES.register("poisson")
class Poisson(Loss):
    """Poisson negative log-likelihood up to a constant, for counts ``y`` and rates ``P > 0``:
    ``ℓ_i = (1/k) Σ_j (P_ij - y_ij log(P_ij + ε))`` (Keras's form, ``ε = 1e-7``; PyTorch's
    ``poisson_nll_loss(log_input=False, eps=1e-7)``); ``∂ℓ_i/∂P_ij = (1 - y_ij / (P_ij + ε)) / k``.
    """

    name = "poisson"

    def values(self, xp, y, P):
        return _mean_last(xp, P - y * xp.log(P + EPSILON))

    def gradients(self, xp, y, P):
        return (1.0 - y / (P + EPSILON)) * (1.0 / P.shape[-1])


@LOSSES.register("cosine_similarity")
class CosineSimilarity(Loss):
    """Minus the cosine of the angle between target and output, over the last axis (Keras's
    sign: -1 is the best value, so minimizing it aligns the output with the target).

    ``ℓ_i = -Σ_j ŷ_ij P̂_ij`` with ``x̂ = x / max(‖x‖, ε)`` (``ε = 1e-7``), so a zero vector
    gives 0. With ``ν = ‖P_i‖``: ``∂ℓ_i/∂P_i = -(ŷ_i - (ŷ_i·P̂_i) P̂_i) / ν`` for ``ν > ε``, and
    ``-ŷ_i / ε`` otherwise.

    Example:
        >>> import numpy as np
        >>> y = np.array([[0.0, 1.0], [1.0, 1.0], [1.0, 1.0]])
        >>> p = np.array([[1.0, 0.0], [1.0, 1.0], [-1.0, -1.0]])
        >>> np.round(CosineSimilarity(reduction=None)(y, p), 6) + 0.0   # Keras's docstring
        array([ 0., -1.,  1.])
    """

    name = "cosine_similarity"

    @staticmethod
    def _norm(xp, A):
        return xp.maximum(xp.sqrt(xp.sum(A * A, axis=-1, keepdims=True)), EPSILON)

    def values(self, xp, y, P):
        return -xp.sum((y / self._norm(xp, y)) * (P / self._norm(xp, P)), axis=-1)

    def gradients(self, xp, y, P):
        Y = y / self._norm(xp, y)
        nu = self._norm(xp, P)
        Phat = P / nu
        above = xp.astype(nu > EPSILON, P.dtype)  # the norm is not clipped: P̂ has length 1
        return -(Y - above * xp.sum(Y * Phat, axis=-1, keepdims=True) * Phat) / nu
