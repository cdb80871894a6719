"""Stochastic gradient descent, with optional (Nesterov) momentum, as ``torch.optim.SGD``:
the simplest optimizer, whose state is at most one velocity per parameter.
"""

from __future__ import annotations

from flexnet.optimizers.base import OPTIMIZERS, Optimizer, _check_unit

__all__ = ["SGD"]


@OPTIMIZERS.register("sgd")
class SGD(Optimizer):
    """Stochastic gradient descent, with optional (Nesterov) momentum, as ``torch.optim.SGD``.

    Plain: ``θ ← θ - α g``. Momentum ``μ``: ``v ← μ v + g``, ``θ ← θ - α v``
    (the first step sets ``v = g``). Nesterov: ``θ ← θ - α (g + μ v)``.
    For a constant α this equals Keras's ``v ← μ v - α g; θ ← θ + v``.

    Sutskever et al., "On the importance of initialization and momentum in deep
    learning", ICML 2013.

    Args:
        learning_rate: α.
        momentum: μ in ``[0, 1)``.
        nesterov: use Nesterov momentum (needs ``momentum > 0``).
        **kwargs: ``name``, ``weight_decay``, ``clipnorm``, ``clipvalue``,
            ``global_clipnorm`` (see :class:`Optimizer`).
    """

    name = "SGD"

    def __init__(self, learning_rate=0.01, momentum: float = 0.0, nesterov: bool = False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.momentum = _check_unit("momentum", momentum)
        if nesterov and self.momentum == 0.0:
            raise ValueError("nesterov=True needs momentum > 0")
        self.nesterov = bool(nesterov)

    def init(self, param):
        return None if self.momentum == 0.0 else {"velocity": param * 0.0}

    def update(self, grad, state, param):
        lr = self.learning_rate
        if state is None:
            return -lr * grad, None
        v = state["velocity"]  # in place where arrays can change: fewer passes over memory
        v *= self.momentum
        v += grad  # v ← μ v + g (v = g at the first step, since v starts at 0)
        step = grad + self.momentum * v if self.nesterov else v
        return -lr * step, {"velocity": v}

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}
