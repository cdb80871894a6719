"""Losses for classes and probabilities other than the cross-entropies: the hinges and the
Kullback-Leibler divergence.
"""

from __future__ import annotations

import array_api_compat

from flexnet.losses.base import EPSILON, LOSSES, Loss, _mean_last

__all__ = ["CategoricalHinge", "Hinge", "KLDivergence", "SquaredHinge"]


# -- margins ------------------------------------------------------------------------


class _BinaryMargin(Loss):
    """Targets in {-1, 1}; targets that are all 0/1 are turned into -1/1 (as Keras does)."""

    def prepare_targets(self, xp, y, output_shape, dtype):
        return self.convert_targets(xp, super().prepare_targets(xp, y, output_shape, dtype))

    def convert_targets(self, xp, y):
        """0/1 targets become -1/1; others stay (Keras's rule), decided on the device."""
        binary = xp.all((y == 0.0) | (y == 1.0))
        return xp.where(binary, y * 2.0 - 1.0, y)

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
