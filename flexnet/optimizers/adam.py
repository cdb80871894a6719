"""Adam and its variants: Adam (with AMSGrad and a fused NumPy path), AdamW (decoupled weight
decay) and Nadam (Nesterov momentum), as in ``torch.optim``.
"""

from __future__ import annotations

import math

import array_api_compat
import numpy as np

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

    def update(self, grad, state, param):
        t = self.iterations + 1
        b1, b2 = self.beta_1, self.beta_2
        m, v = state["m"], state["v"]  # updated in place: 6x faster than new arrays on NumPy
        m *= b1
        m += (1.0 - b1) * grad  # m ← β1 m + (1-β1) g
        v *= b2
        v += (1.0 - b2) * (grad * grad)  # v ← β2 v + (1-β2) g²
        if self.amsgrad:
            xp = array_api_compat.array_namespace(v)
            v = state["v_max"] = xp.maximum(state["v_max"], v)
        # α m̂ / (√v̂ + ε), written as torch does: (α / (1-β1ᵗ)) m / (√v / √(1-β2ᵗ) + ε)
        denom = v**0.5
        denom *= 1.0 / math.sqrt(1.0 - b2**t)
        denom += self.epsilon
        delta = m * (-self.learning_rate / (1.0 - b1**t))
        delta /= denom
        return delta, state

    # -- NumPy: the same update as ``update``, fused -----------------------------------------
    #: parameters up to this many entries are updated together, as one flat array
    GROUP_SIZE = 16384

    def _update_all(self, params, grads):
        if self.amsgrad or not params or type(params[0]) is not np.ndarray:
            return super()._update_all(params, grads)
        small = self._small_group(params)
        for i, (param, grad) in enumerate(zip(params, grads)):
            if param.size > self.GROUP_SIZE:
                self._numpy_step(grad, self.state[i]["m"], self.state[i]["v"],
                                 self._scratch(i, param))
                param += self._scratch(i, param)
        if small is not None:
            index, m, v, s, deltas = small
            g = np.concatenate([grads[i].reshape(-1) for i in index])
            self._numpy_step(g, m, v, s)
            for i, delta in zip(index, deltas):
                params[i] += delta
        return None

    def _numpy_step(self, g, m, v, s) -> None:
        """``s ← -α m̂ / (√v̂ + ε)`` with ``m``, ``v`` updated in place: 10 passes into one
        scratch array and no temporaries (each large temporary is a fresh allocation,
        often with page faults)."""
        t = self.iterations + 1
        b1, b2 = self.beta_1, self.beta_2
        c2 = math.sqrt(1.0 - b2**t)
        # α m̂ / (√v̂ + ε) = (α √(1-β2ᵗ) / (1-β1ᵗ)) m / (√v + ε √(1-β2ᵗ))
        step = -self.learning_rate * c2 / (1.0 - b1**t)
        m *= b1
        np.multiply(g, 1.0 - b1, out=s)
        m += s
        v *= b2
        np.multiply(g, g, out=s)
        s *= 1.0 - b2
        v += s
        np.sqrt(v, out=s)
        s += self.epsilon * c2
        np.divide(m, s, out=s)
        s *= step

    def _small_group(self, params):
        """Flat ``m``, ``v`` and scratch arrays for the small parameters, whose per-parameter
        states become views into them (so ``get_state`` and ``update`` see the same numbers).

        One pass over a few thousand numbers costs about as much as over ten; batching
        the biases and small kernels saves most of Adam's per-call overhead. Rebuilt when
        the state arrays were replaced (``set_state``, ``model.to``).
        """
        index = [i for i, p in enumerate(params) if p.size <= self.GROUP_SIZE]
        if not index:
            return None
        cached = self.__dict__.get("_group")
        if cached is not None and cached[0] == index and all(
            self.state[i]["m"] is mv and self.state[i]["v"] is vv
            for i, mv, vv in zip(index, cached[5], cached[6])
        ) and cached[1].dtype == params[index[0]].dtype:
            return cached[:5]
        dtype = params[index[0]].dtype
        sizes = [params[i].size for i in index]
        m, v, s = (np.empty(sum(sizes), dtype=dtype) for _ in range(3))
        m_views, v_views, deltas = [], [], []
        start = 0
        for i, size in zip(index, sizes):
            shape = params[i].shape
            mv, vv = m[start:start + size].reshape(shape), v[start:start + size].reshape(shape)
            mv[...] = self.state[i]["m"]
            vv[...] = self.state[i]["v"]
            self.state[i]["m"], self.state[i]["v"] = mv, vv
            m_views.append(mv)
            v_views.append(vv)
            deltas.append(s[start:start + size].reshape(shape))
            start += size
        self._group = (index, m, v, s, deltas, m_views, v_views)
        return self._group[:5]

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

    def update(self, grad, state, param):
        t = self.iterations + 1
        b1, b2, lr = self.beta_1, self.beta_2, self.learning_rate
        mu, mu_next = self._mu(t), self._mu(t + 1)
        product = self._mu_product(t)
        m, v = state["m"], state["v"]  # updated in place
        m *= b1
        m += (1.0 - b1) * grad  # m ← β1 m + (1-β1) g
        v *= b2
        v += (1.0 - b2) * (grad * grad)  # v ← β2 v + (1-β2) g²
        denom = (v / (1.0 - b2**t)) ** 0.5
        denom += self.epsilon
        delta = grad * (-lr * (1.0 - mu) / (1.0 - product))
        delta += m * (-lr * mu_next / (1.0 - product * mu_next))
        delta /= denom
        return delta, state

    def get_config(self):
        return {
            **super().get_config(),
            "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
            "momentum_decay": self.momentum_decay,
        }
