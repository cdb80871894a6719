"""Optimizers: ``init`` a state per parameter, then ``update`` it from a gradient.

The base class owns the loop over parameters, the step counter and the
learning rate (a number or a schedule ``f(step) -> rate``); a subclass writes
two small methods. Update rules follow ``torch.optim`` (ε outside the square
root) so trajectories match PyTorch step for step.
"""

from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod
from collections.abc import Callable

from flexnet.registry import resolve

__all__ = ["SGD", "Adam", "Optimizer", "RMSprop", "get"]


def _check_rate(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (
        math.isfinite(value) and value >= 0
    ):
        raise ValueError(f"{what} must be a non-negative number, got {value!r}")
    return float(value)


def _tree_map(fn, tree):
    """Apply ``fn`` to every array in a state made of dicts, lists and tuples."""
    if isinstance(tree, dict):
        return {k: _tree_map(fn, v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(_tree_map(fn, v) for v in tree)
    if tree is None or isinstance(tree, (int, float, str)):
        return tree
    return fn(tree)


class Optimizer(ABC):
    """Base class of optimizers: a state per parameter, one update per step.

    Subclasses implement two methods:

    * ``init(param) -> state``: the state for one parameter (arrays, e.g. a zero
      velocity, or ``None``);
    * ``update(grad, state, param) -> (delta, state)``: the change to add to
      ``param`` and the new state. ``self.learning_rate`` is the current rate and
      ``self.iterations`` the number of steps already taken (so this step is
      ``self.iterations + 1``). ``update`` may modify the state's arrays in place.

    A complete custom optimizer, SGD with momentum written from scratch::

        import flexnet as fx

        class Momentum(fx.optimizers.Optimizer):
            \"\"\"v ← β v + g;  θ ← θ - α v.\"\"\"

            def __init__(self, learning_rate=0.01, beta=0.9):
                super().__init__(learning_rate)
                self.beta = beta

            def init(self, param):
                return {"v": param * 0.0}

            def update(self, grad, state, param):
                v = self.beta * state["v"] + grad
                return -self.learning_rate * v, {"v": v}

        model.compile(optimizer=Momentum(0.05), loss="mse")

    Args:
        learning_rate: a positive number, or a callable ``f(iterations) -> rate``.
        name: shown in logs and configs.
    """

    name = "optimizer"

    def __init__(self, learning_rate: float | Callable[[int], float] = 0.01, name: str | None = None):
        self.learning_rate = learning_rate
        if name is not None:
            self.name = name
        self.iterations = 0
        self.state: list | None = None

    # -- the two methods a subclass writes -------------------------------------
    @abstractmethod
    def init(self, param):
        """The state for one parameter."""

    @abstractmethod
    def update(self, grad, state, param):
        """``(delta, new_state)``: ``param += delta`` is this step's change."""

    # -- learning rate --------------------------------------------------------
    @property
    def learning_rate(self) -> float:
        """The rate for the current step (a schedule is evaluated at ``iterations``)."""
        rate = self._learning_rate
        if callable(rate):
            return _check_rate(rate(self.iterations), f"the schedule at step {self.iterations}")
        return rate

    @learning_rate.setter
    def learning_rate(self, value) -> None:
        self._learning_rate = value if callable(value) else _check_rate(value, "learning_rate")

    # -- the loop -------------------------------------------------------------
    def apply(self, params: list, grads: list) -> None:
        """One step: update every parameter in place from its gradient.

        ``params`` and ``grads`` are lists in the same order at every call; the
        state is created on the first call.
        """
        if len(params) != len(grads):
            raise ValueError(f"got {len(params)} parameters but {len(grads)} gradients")
        if self.state is None:
            self.state = [self.init(p) for p in params]
            self._shapes = [tuple(p.shape) for p in params]
        elif len(self.state) != len(params):
            raise ValueError(
                f"this {type(self).__name__} holds state for {len(self.state)} parameters but was "
                f"given {len(params)}; use one optimizer per model"
            )
        for i, (param, grad) in enumerate(zip(params, grads)):
            if tuple(param.shape) != self._shapes[i]:
                raise ValueError(
                    f"this {type(self).__name__} holds state for a parameter of shape "
                    f"{self._shapes[i]} at position {i} but was given one of shape "
                    f"{tuple(param.shape)}; use one optimizer per model"
                )
            if tuple(grad.shape) != tuple(param.shape):
                raise ValueError(
                    f"gradient {i} has shape {tuple(grad.shape)} but its parameter has shape "
                    f"{tuple(param.shape)}"
                )
            delta, self.state[i] = self.update(grad, self.state[i], param)
            param += delta
        self.iterations += 1

    def apply_gradients(self, grads_and_vars) -> None:
        """Keras spelling of :meth:`apply`: ``apply_gradients(zip(grads, weights))``."""
        pairs = list(grads_and_vars)
        self.apply([v for _, v in pairs], [g for g, _ in pairs])

    def map_state(self, fn) -> None:
        """Apply ``fn`` to every array of the state (``model.to`` moves it this way)."""
        if self.state is not None:
            self.state = [_tree_map(fn, s) for s in self.state]

    def get_config(self) -> dict:
        rate = self._learning_rate
        return {"name": self.name, "learning_rate": rate if not callable(rate) else repr(rate)}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({args})"


def _check_unit(name: str, value: float) -> float:
    if isinstance(value, bool) or not (isinstance(value, (int, float)) and 0.0 <= value < 1.0):
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return float(value)


def _check_epsilon(value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
        math.isfinite(value) and value >= 0
    ):
        raise ValueError(f"epsilon must be a non-negative number, got {value!r}")
    return float(value)


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
    """

    name = "SGD"

    def __init__(self, learning_rate=0.01, momentum: float = 0.0, nesterov: bool = False, name=None):
        super().__init__(learning_rate, name)
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
        v = state["velocity"]  # updated in place: fewer passes over memory
        v *= self.momentum
        v += grad  # v ← μ v + g (v = g at the first step, since v starts at 0)
        step = grad + self.momentum * v if self.nesterov else v
        return -lr * step, state

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class RMSprop(Optimizer):
    """RMSprop: ``s ← ρ s + (1-ρ) g²``, ``θ ← θ - α g / (√s + ε)``, as ``torch.optim.RMSprop``.

    Hinton, Lecture 6e of "Neural Networks for Machine Learning", 2012.

    Args:
        learning_rate: α.
        rho: decay ρ of the squared-gradient average.
        epsilon: ε, added outside the square root.
    """

    name = "RMSprop"

    def __init__(self, learning_rate=0.001, rho: float = 0.9, epsilon: float = 1e-7, name=None):
        super().__init__(learning_rate, name)
        self.rho = _check_unit("rho", rho)
        self.epsilon = _check_epsilon(epsilon)

    def init(self, param):
        return {"s": param * 0.0}

    def update(self, grad, state, param):
        s = state["s"]  # updated in place
        s *= self.rho
        s += (1.0 - self.rho) * (grad * grad)  # s ← ρ s + (1-ρ) g²
        denom = s**0.5
        denom += self.epsilon  # √s + ε
        delta = grad * -self.learning_rate
        delta /= denom
        return delta, state

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


class Adam(Optimizer):
    """Adam with bias correction, as ``torch.optim.Adam``::

        m ← β1 m + (1-β1) g          v ← β2 v + (1-β2) g²
        m̂ = m / (1-β1ᵗ)              v̂ = v / (1-β2ᵗ)
        θ ← θ - α m̂ / (√v̂ + ε)

    Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015.

    Args:
        learning_rate: α.
        beta_1, beta_2: decay rates β1, β2 of the moment estimates.
        epsilon: ε, added outside the square root.
    """

    name = "Adam"

    def __init__(
        self, learning_rate=0.001, beta_1: float = 0.9, beta_2: float = 0.999,
        epsilon: float = 1e-8, name=None,
    ):
        super().__init__(learning_rate, name)
        self.beta_1 = _check_unit("beta_1", beta_1)
        self.beta_2 = _check_unit("beta_2", beta_2)
        self.epsilon = _check_epsilon(epsilon)

    def init(self, param):
        return {"m": param * 0.0, "v": param * 0.0}

    def update(self, grad, state, param):
        t = self.iterations + 1
        b1, b2 = self.beta_1, self.beta_2
        m, v = state["m"], state["v"]  # updated in place: 6x faster than new arrays on NumPy
        m *= b1
        m += (1.0 - b1) * grad  # m ← β1 m + (1-β1) g
        v *= b2
        v += (1.0 - b2) * (grad * grad)  # v ← β2 v + (1-β2) g²
        # α m̂ / (√v̂ + ε), written as torch does: (α / (1-β1ᵗ)) m / (√v / √(1-β2ᵗ) + ε)
        denom = v**0.5
        denom *= 1.0 / math.sqrt(1.0 - b2**t)
        denom += self.epsilon
        delta = m * (-self.learning_rate / (1.0 - b1**t))
        delta /= denom
        return delta, state

    def get_config(self):
        return {
            **super().get_config(),
            "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
        }


#: Name -> optimizer class (Keras's names).
OPTIMIZERS: dict[str, type[Optimizer]] = {
    "sgd": SGD,
    "rmsprop": RMSprop,
    "adam": Adam,
}


def get(identifier) -> Optimizer:
    """An optimizer from a name (default hyperparameters), a class or an instance.

    Raises:
        ValueError: unknown name, listing the valid ones.
    """
    return resolve(identifier, OPTIMIZERS, Optimizer, "optimizer")
