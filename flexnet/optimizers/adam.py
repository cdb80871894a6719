"""Adam and its variants: Adam (with AMSGrad), AdamW (decoupled weight decay) and Nadam
(Nesterov momentum), as in ``torch.optim``.
"""

from __future__ import annotations

import math

import array_api_compat

from flexnet.optimizers.base import OPTIMIZERS, Optimizer, _check_epsilon, _check_rate, _check_unit

__all__ = ["Adam", "AdamW", "Nadam"]


@OPTIMIZERS.register("adam")
class Adam(Optimizer):
    """Adam with bias correction, as ``torch.optim.Adam``::

        m ← β1 m + (1-β1) g          v ← β2 v + (1-β2) g²
        m̂ = m / (1-β1ᵗ)              v̂ = v / (1-β2ᵗ)
        θ ← θ - α m̂ / (√v̂ + ε)

    With ``amsgrad``, ``v̂`` uses the running maximum of ``v`` instead of ``v``.
    ``weight_decay`` (see :class:`Optimizer`) is decoupled, as Keras: Adam with
    a weight decay is :class:`AdamW`.

    Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015;
    AMSGrad: Reddi, Kale & Kumar, "On the Convergence of Adam and Beyond", ICLR 2018.

    Args:
        learning_rate: α.
        beta_1, beta_2: decay rates β1, β2 of the moment estimates.
        epsilon: ε, added outside the square root.
        amsgrad: use the maximum of past second moments.
        **kwargs: see :class:`Optimizer`.
    """

    name = "Adam"

    def __init__(
        self, learning_rate=0.001, beta_1: float = 0.9, beta_2: float = 0.999,
        epsilon: float = 1e-8, amsgrad: bool = False, **kwargs,
    ):
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = _check_unit("beta_1", beta_1)
        self.beta_2 = _check_unit("beta_2", beta_2)
        self.epsilon = _check_epsilon(epsilon)
        self.amsgrad = bool(amsgrad)

    def init(self, param):
        state = {"m": param * 0.0, "v": param * 0.0}
        if self.amsgrad:
            state["v_max"] = param * 0.0
        return state

    def step_constants(self, t):
        # α m̂ / (√v̂ + ε) = (α √(1-β2ᵗ) / (1-β1ᵗ)) m / (√v + ε √(1-β2ᵗ)): two scalars per step
        c2 = math.sqrt(1.0 - self.beta_2**t)
        return {"step": c2 / (1.0 - self.beta_1**t), "eps": self.epsilon * c2}

    def update(self, grad, state, param):
        b1, b2, k = self.beta_1, self.beta_2, self.constants
        m, v = state["m"], state["v"]  # in place where arrays can change: no new state arrays
        m *= b1
        m += (1.0 - b1) * grad  # m ← β1 m + (1-β1) g
        v *= b2
        v += (1.0 - b2) * (grad * grad)  # v ← β2 v + (1-β2) g²
        new = {"m": m, "v": v}
        xp = array_api_compat.array_namespace(v)
        if self.amsgrad:
            v = new["v_max"] = xp.maximum(state["v_max"], v)
        denom = xp.sqrt(v)
        denom += k["eps"]
        delta = m * (-self.learning_rate * k["step"])
        delta /= denom
        return delta, new

    def get_config(self):
        return {
            **super().get_config(),
            "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
            "amsgrad": self.amsgrad,
        }


@OPTIMIZERS.register("adamw")
class AdamW(Adam):
    """Adam with decoupled weight decay, as ``torch.optim.AdamW``::

        θ ← θ - α λ θ,  then the Adam step

    The defaults are torch's (λ = 0.01; Keras uses 0.004).

    Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019.

    Args:
        learning_rate: α.
        weight_decay: λ.
        beta_1, beta_2, epsilon, amsgrad: as :class:`Adam`.
        **kwargs: see :class:`Optimizer`.
    """

    name = "AdamW"

    def __init__(self, learning_rate=0.001, weight_decay: float = 0.01, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-8, amsgrad: bool = False, **kwargs):
        if weight_decay is None:
            raise ValueError("AdamW needs a weight_decay (a non-negative number), got None")
        super().__init__(learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon,
                         amsgrad=amsgrad, weight_decay=weight_decay, **kwargs)


@OPTIMIZERS.register("nadam")
class Nadam(Optimizer):
    """Adam with Nesterov momentum, as ``torch.optim.NAdam``::

        μ_t = β1 (1 - ½ · 0.96^(t ψ))         (the momentum schedule; ψ = momentum_decay)
        m ← β1 m + (1-β1) g                   v ← β2 v + (1-β2) g²
        θ ← θ - α [ (1-μ_t) g / (1 - Π_{s≤t} μ_s) + μ_{t+1} m / (1 - Π_{s≤t+1} μ_s) ]
                  / (√(v / (1-β2ᵗ)) + ε)

    The default ψ = 0.004 is ``torch.optim.NAdam``'s (its ``momentum_decay``): the same
    steps as torch. Keras 3's ``Nadam`` is this rule with ψ = 1, ``μ_t = β1 (1 - ½ · 0.96^t)``
    (Dozat's schedule): write ``Nadam(momentum_decay=1.0)`` for Keras's steps (equal in
    float64 to Keras's on its torch backend). The other defaults are Keras's (torch uses
    α = 0.002, ε = 1e-8).

    Dozat, "Incorporating Nesterov Momentum into Adam", ICLR 2016 workshop.

    Args:
        learning_rate: α.
        beta_1, beta_2: decay rates β1, β2 of the moment estimates.
        epsilon: ε, added outside the square root.
        momentum_decay: ψ ≥ 0.
        **kwargs: see :class:`Optimizer`.
    """

    name = "Nadam"

    def __init__(self, learning_rate=0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, momentum_decay: float = 0.004, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = _check_unit("beta_1", beta_1)
        self.beta_2 = _check_unit("beta_2", beta_2)
        self.epsilon = _check_epsilon(epsilon)
        self.momentum_decay = _check_rate(momentum_decay, "momentum_decay")
        self._mu_cache = (0, 1.0)  # (t, Π_{s≤t} μ_s): a function of iterations, not state

    def _mu(self, t: int) -> float:
        return self.beta_1 * (1.0 - 0.5 * 0.96 ** (t * self.momentum_decay))

    def _mu_product(self, t: int) -> float:
        """``Π_{s≤t} μ_s``, multiplied in the same order as torch (from 1 again if t went back)."""
        step, product = self._mu_cache
        if step > t:
            step, product = 0, 1.0
        while step < t:
            step += 1
            product *= self._mu(step)
        self._mu_cache = (step, product)
        return product

    def init(self, param):
        return {"m": param * 0.0, "v": param * 0.0}

    def step_constants(self, t):
        mu, mu_next, product = self._mu(t), self._mu(t + 1), self._mu_product(t)
        return {"g": (1.0 - mu) / (1.0 - product), "m": mu_next / (1.0 - product * mu_next),
                "v": 1.0 / (1.0 - self.beta_2**t)}

    def update(self, grad, state, param):
        b1, b2, lr, k = self.beta_1, self.beta_2, self.learning_rate, self.constants
        m, v = state["m"], state["v"]  # in place where arrays can change
        m *= b1
        m += (1.0 - b1) * grad  # m ← β1 m + (1-β1) g
        v *= b2
        v += (1.0 - b2) * (grad * grad)  # v ← β2 v + (1-β2) g²
        denom = (v * k["v"]) ** 0.5
        denom += self.epsilon
        delta = grad * (-lr * k["g"])
        delta += m * (-lr * k["m"])
        delta /= denom
        return delta, {"m": m, "v": v}

    def get_config(self):
        return {
            **super().get_config(),
            "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
            "momentum_decay": self.momentum_decay,
        }
