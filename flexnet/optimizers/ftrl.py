"""FTRL-Proximal ("Follow The Regularized Leader"), with Keras's online L1/L2 and L2 shrinkage."""

from __future__ import annotations

import math

import array_api_compat

from flexnet.optimizers.base import OPTIMIZERS, Optimizer, _check_rate, _is_real

__all__ = ["Ftrl"]


@OPTIMIZERS.register("ftrl")
class Ftrl(Optimizer):
    """FTRL-Proximal, as ``keras.optimizers.Ftrl``: a per-coordinate adaptive rate with L1 and
    L2 regularization solved in closed form, so L1 sets weights to exactly 0.

    With ``n`` the accumulated squared gradients (from ``initial_accumulator_value``), ``z``
    the "linear" state (from 0), ``p = learning_rate_power ≤ 0``, ``λ1``, ``λ2`` and the
    shrinkage ``λ2s``::

        g̃ = g + 2 λ2s θ                            n' = n + g²
        σ = (n'^(-p) - n^(-p)) / α                  z ← z + g̃ - σ θ
        θ ← (clip(z, -λ1, λ1) - z) / (n'^(-p) / α + 2 λ2 + β / α)
        n ← n'

    that is ``θ = 0`` where ``|z| ≤ λ1`` and ``θ = -(z - sign(z) λ1) / (...)`` elsewhere. With
    ``p = -1/2`` and no regularization the rate of each coordinate falls as ``α / √n``.

    McMahan et al., "Ad Click Prediction: a View from the Trenches", KDD 2013.

    Args:
        learning_rate: α.
        learning_rate_power: ``p ≤ 0``, how the rate falls with ``n`` (0: a fixed rate).
        initial_accumulator_value: the starting ``n`` (≥ 0).
        l1_regularization_strength: ``λ1 ≥ 0``.
        l2_regularization_strength: ``λ2 ≥ 0`` (the online, stabilizing L2 of the paper).
        l2_shrinkage_regularization_strength: ``λ2s ≥ 0``, an L2 penalty added to the gradient.
        beta: ``β ≥ 0`` of the paper, adding ``β / (2α)`` to ``λ2``.
        **kwargs: see :class:`Optimizer`.
    """

    name = "Ftrl"

    def __init__(self, learning_rate=0.001, learning_rate_power: float = -0.5,
                 initial_accumulator_value: float = 0.1, l1_regularization_strength: float = 0.0,
                 l2_regularization_strength: float = 0.0,
                 l2_shrinkage_regularization_strength: float = 0.0, beta: float = 0.0, **kwargs):
        super().__init__(learning_rate, **kwargs)
        if not _is_real(learning_rate_power) or not (math.isfinite(learning_rate_power)
                                                     and learning_rate_power <= 0.0):
            raise ValueError(f"learning_rate_power must be a number <= 0, got {learning_rate_power!r}")
        self.learning_rate_power = float(learning_rate_power)
        self.initial_accumulator_value = _check_rate(initial_accumulator_value, "initial_accumulator_value")
        self.l1_regularization_strength = _check_rate(l1_regularization_strength,
                                                      "l1_regularization_strength")
        self.l2_regularization_strength = _check_rate(l2_regularization_strength,
                                                      "l2_regularization_strength")
        self.l2_shrinkage_regularization_strength = _check_rate(
            l2_shrinkage_regularization_strength, "l2_shrinkage_regularization_strength")
        self.beta = _check_rate(beta, "beta")

    def init(self, param):
        return {"accumulator": param * 0.0 + self.initial_accumulator_value, "linear": param * 0.0}

    def update(self, grad, state, param):
        alpha = self.learning_rate
        power = -self.learning_rate_power
        n, z = state["accumulator"], state["linear"]
        shrink = self.l2_shrinkage_regularization_strength
        g = grad + param * (2.0 * shrink) if shrink else grad
        n_new = n + grad * grad
        n_new_power = n_new**power
        z = z + g - (n_new_power - n**power) * (1.0 / alpha) * param
        l1 = self.l1_regularization_strength
        l2 = self.l2_regularization_strength + self.beta / (2.0 * alpha)
        quadratic = n_new_power * (1.0 / alpha) + 2.0 * l2
        xp = array_api_compat.array_namespace(z)
        new_param = (xp.clip(z, -l1, l1) - z) / quadratic
        return new_param - param, {"accumulator": n_new, "linear": z}

    def get_config(self):
        return {
            **super().get_config(),
            "learning_rate_power": self.learning_rate_power,
            "initial_accumulator_value": self.initial_accumulator_value,
            "l1_regularization_strength": self.l1_regularization_strength,
            "l2_regularization_strength": self.l2_regularization_strength,
            "l2_shrinkage_regularization_strength": self.l2_shrinkage_regularization_strength,
            "beta": self.beta,
        }
