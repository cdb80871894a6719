"""Lion (evolved sign momentum), as in Chen et al., "Symbolic Discovery of Optimization
Algorithms", 2023.
"""

from __future__ import annotations

import array_api_compat

from flexnet.ops import sign
from flexnet.optimizers.base import OPTIMIZERS, Optimizer, _check_unit

__all__ = ["Lion"]


@OPTIMIZERS.register("lion")
class Lion(Optimizer):
    """Lion (EvoLved Sign Momentum)::

        c = β1 m + (1-β1) g
        θ ← θ - α (sign(c) + λ θ)
        m ← β2 m + (1-β2) g

    λ is ``weight_decay`` (decoupled, see :class:`Optimizer`). The steps are
    ±α per entry, so the rate is usually 3-10x smaller than Adam's.

    Chen et al., "Symbolic Discovery of Optimization Algorithms", NeurIPS 2023,
    arXiv:2302.06675.

    Args:
        learning_rate: α.
        beta_1: β1, the interpolation that gives the update's sign.
        beta_2: β2, the decay of the momentum.
        **kwargs: see :class:`Optimizer`.
    """

    name = "Lion"

    def __init__(self, learning_rate=0.001, beta_1: float = 0.9, beta_2: float = 0.99, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = _check_unit("beta_1", beta_1)
        self.beta_2 = _check_unit("beta_2", beta_2)

    def init(self, param):
        return {"m": param * 0.0}

    def update(self, grad, state, param):
        xp = array_api_compat.array_namespace(grad)
        b1, b2 = self.beta_1, self.beta_2
        m = state["m"]  # in place where arrays can change
        c = m * b1
        c += (1.0 - b1) * grad  # c = β1 m + (1-β1) g
        delta = sign(xp, c)
        delta *= -self.learning_rate
        m *= b2
        m += (1.0 - b2) * grad  # m ← β2 m + (1-β2) g
        return delta, {"m": m}

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2}
