"""Optimizers that scale each entry by its own history of squared gradients: Adagrad, RMSprop
and Adadelta, as in ``torch.optim``.
"""

from __future__ import annotations

from flexnet.optimizers.base import OPTIMIZERS, Optimizer, _check_epsilon, _check_rate, _check_unit

__all__ = ["Adadelta", "Adagrad", "RMSprop"]


@OPTIMIZERS.register("adagrad")
class Adagrad(Optimizer):
    """Adagrad, as ``torch.optim.Adagrad``::

        s ← s + g²          θ ← θ - α g / (√s + ε)

    with ``s`` starting at ``initial_accumulator_value``. Keras puts ε inside
    the square root (``√(s + ε)``); the defaults are Keras's.

    Duchi, Hazan & Singer, "Adaptive Subgradient Methods for Online Learning and
    Stochastic Optimization", JMLR 2011.

    Args:
        learning_rate: α.
        initial_accumulator_value: the starting value of ``s`` (≥ 0).
        epsilon: ε, added outside the square root.
        **kwargs: see :class:`Optimizer`.
    """

    name = "Adagrad"

    def __init__(self, learning_rate=0.001, initial_accumulator_value: float = 0.1,
                 epsilon: float = 1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.initial_accumulator_value = _check_rate(initial_accumulator_value,
                                                     "initial_accumulator_value")
        self.epsilon = _check_epsilon(epsilon)

    def init(self, param):
        return {"accumulator": param * 0.0 + self.initial_accumulator_value}

    def update(self, grad, state, param):
        s = state["accumulator"]  # in place where arrays can change
        s += grad * grad  # s ← s + g²
        denom = s**0.5
        denom += self.epsilon  # √s + ε
        delta = grad * -self.learning_rate
        delta /= denom
        return delta, {"accumulator": s}

    def get_config(self):
        return {
            **super().get_config(),
            "initial_accumulator_value": self.initial_accumulator_value,
            "epsilon": self.epsilon,
        }


@OPTIMIZERS.register("rmsprop")
class RMSprop(Optimizer):
    """RMSprop, as ``torch.optim.RMSprop``::

        s ← ρ s + (1-ρ) g²                  (centered: a ← ρ a + (1-ρ) g,  s̃ = s - a²)
        θ ← θ - α g / (√s + ε)              (momentum μ: b ← μ b + g / (√s + ε),  θ ← θ - α b)

    For a constant α the momentum form equals Keras's (which keeps α inside ``b``).

    Hinton, Lecture 6e of "Neural Networks for Machine Learning", 2012; the
    centered form from Graves, "Generating Sequences With Recurrent Neural
    Networks", 2013.

    Args:
        learning_rate: α.
        rho: decay ρ of the squared-gradient average.
        momentum: μ in ``[0, 1)``.
        epsilon: ε, added outside the square root.
        centered: normalise by the estimated variance ``s - a²`` instead of ``s``.
        **kwargs: see :class:`Optimizer`.
    """

    name = "RMSprop"

    def __init__(self, learning_rate=0.001, rho: float = 0.9, momentum: float = 0.0,
                 epsilon: float = 1e-7, centered: bool = False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.rho = _check_unit("rho", rho)
        self.momentum = _check_unit("momentum", momentum)
        self.epsilon = _check_epsilon(epsilon)
        self.centered = bool(centered)

    def init(self, param):
        state = {"s": param * 0.0}
        if self.centered:
            state["average_gradient"] = param * 0.0
        if self.momentum > 0.0:
            state["momentum"] = param * 0.0
        return state

    def update(self, grad, state, param):
        rho = self.rho
        s = state["s"]  # in place where arrays can change
        s *= rho
        s += (1.0 - rho) * (grad * grad)  # s ← ρ s + (1-ρ) g²
        new = {"s": s}
        if self.centered:
            a = state["average_gradient"]
            a *= rho
            a += (1.0 - rho) * grad  # a ← ρ a + (1-ρ) g
            new["average_gradient"] = a
            denom = (s - a * a) ** 0.5
        else:
            denom = s**0.5
        denom += self.epsilon  # √s + ε
        if self.momentum > 0.0:
            b = state["momentum"]
            b *= self.momentum
            b += grad / denom  # b ← μ b + g / (√s + ε)
            new["momentum"] = b
            return b * -self.learning_rate, new
        delta = grad * -self.learning_rate
        delta /= denom
        return delta, new

    def get_config(self):
        return {
            **super().get_config(),
            "rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
            "centered": self.centered,
        }


@OPTIMIZERS.register("adadelta")
class Adadelta(Optimizer):
    """Adadelta, as ``torch.optim.Adadelta`` (ε inside the square roots, as the paper)::

        s ← ρ s + (1-ρ) g²
        Δ = √(u + ε) / √(s + ε) · g
        u ← ρ u + (1-ρ) Δ²
        θ ← θ - α Δ

    The defaults are the paper's: α = 1 (torch's; Keras uses 0.001), ρ = 0.95
    (Keras's; torch uses 0.9), ε = 1e-6 (torch's; Keras uses 1e-7).

    Zeiler, "ADADELTA: An Adaptive Learning Rate Method", arXiv:1212.5701, 2012.

    Args:
        learning_rate: α.
        rho: decay ρ of both running averages.
        epsilon: ε.
        **kwargs: see :class:`Optimizer`.
    """

    name = "Adadelta"

    def __init__(self, learning_rate=1.0, rho: float = 0.95, epsilon: float = 1e-6, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.rho = _check_unit("rho", rho)
        self.epsilon = _check_epsilon(epsilon)

    def init(self, param):
        return {"s": param * 0.0, "u": param * 0.0}

    def update(self, grad, state, param):
        rho, eps = self.rho, self.epsilon
        s, u = state["s"], state["u"]  # in place where arrays can change
        s *= rho
        s += (1.0 - rho) * (grad * grad)  # s ← ρ s + (1-ρ) g²
        delta = (u + eps) ** 0.5
        delta /= (s + eps) ** 0.5
        delta *= grad  # Δ = √(u + ε) / √(s + ε) · g
        u *= rho
        u += (1.0 - rho) * (delta * delta)  # u ← ρ u + (1-ρ) Δ²
        delta *= -self.learning_rate
        return delta, {"s": s, "u": u}

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}
