"""Losses for real-valued targets: mean squared, summed squared and mean absolute error,
Huber and log-cosh.
"""

from __future__ import annotations

import math
import numbers

from flexnet.losses.base import LOSSES, Loss, _mean_last

__all__ = ["Huber", "LogCosh", "MeanAbsoluteError", "MeanSquaredError", "SumSquaredError"]



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
