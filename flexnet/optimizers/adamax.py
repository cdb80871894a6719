"""Adamax: Adam with the infinity norm in place of the second moment, as ``torch.optim.Adamax``."""

from __future__ import annotations

import array_api_compat

from flexnet.optimizers.base import OPTIMIZERS, Optimizer, _check_epsilon, _check_unit

__all__ = ["Adamax"]


@OPTIMIZERS.register("adamax")
class Adamax(Optimizer):
    """Adamax, the infinity-norm variant of Adam, as ``torch.optim.Adamax``::

        m ← β1 m + (1-β1) g                  u ← max(β2 u, |g| + ε)
        θ ← θ - (α / (1-β1ᵗ)) m / u

    ``u`` needs no bias correction. Keras adds ε outside the maximum,
    ``θ ← θ - α m / ((1-β1ᵗ)(u + ε))`` with ``u ← max(β2 u, |g|)``: the two differ by about
    ``ε / u`` (relative). The defaults are Keras's (torch uses α = 0.002, ε = 1e-8).

    Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015, section 7.1.

    Args:
        learning_rate: α.
        beta_1: β1, the decay of the first moment.
        beta_2: β2, the decay of the infinity norm.
        epsilon: ε, added to ``|g|`` before the maximum (so ``u > 0``).
        **kwargs: see :class:`Optimizer`.
    """

    name = "Adamax"

    def __init__(self, learning_rate=0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = _check_unit("beta_1", beta_1)
        self.beta_2 = _check_unit("beta_2", beta_2)
        self.epsilon = _check_epsilon(epsilon)

    def init(self, param):
        return {"m": param * 0.0, "u": param * 0.0}

    def step_constants(self, t):
        return {"step": 1.0 / (1.0 - self.beta_1**t)}  # the bias correction of m

    def update(self, grad, state, param):
        xp = array_api_compat.array_namespace(grad)
        m = state["m"] + (grad - state["m"]) * (1.0 - self.beta_1)  # β1 m + (1-β1) g, as torch's lerp
        u = xp.maximum(state["u"] * self.beta_2, xp.abs(grad) + self.epsilon)
        delta = m / u
        delta *= -self.learning_rate * self.constants["step"]
        return delta, {"m": m, "u": u}

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}
