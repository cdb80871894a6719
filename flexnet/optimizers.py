"""Optimizers: ``init`` a state per parameter, then ``update`` it from a gradient.

The base class owns the loop over parameters, the step counter, the learning
rate (a number or a schedule ``f(step) -> rate``), gradient clipping and
decoupled weight decay; a subclass writes two small methods. Update rules follow
``torch.optim`` so trajectories match PyTorch step for step. Sorted by
increasing complexity: SGD, Adagrad, RMSprop, Adadelta, Adam, AdamW, Nadam, Lion.
"""

from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod
from collections.abc import Callable

import array_api_compat
import numpy as np

from flexnet import schedules
from flexnet.backend import Backend, dtype_name
from flexnet.registry import Kind, get_registered_name

__all__ = [
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "Lion",
    "Nadam",
    "Optimizer",
    "RMSprop",
    "get",
]


# ---------------------------------------------------------------------------
# Argument checks (host-side, on Python numbers).


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_rate(value, what: str) -> float:
    if not _is_real(value) or not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{what} must be a non-negative number, got {value!r}")
    return float(value)


def _check_unit(name: str, value) -> float:
    if not _is_real(value) or not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return float(value)


def _check_epsilon(value) -> float:
    if not _is_real(value) or not (math.isfinite(value) and value >= 0):
        raise ValueError(f"epsilon must be a non-negative number, got {value!r}")
    return float(value)


def _check_optional_positive(name: str, value) -> float | None:
    if value is None:
        return None
    if not _is_real(value) or not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be None or a positive number, got {value!r}")
    return float(value)


# ---------------------------------------------------------------------------
# Optimizer state: nested dicts/lists/tuples of arrays.


def _tree_map(fn, tree):
    """Apply ``fn`` to every array in a state made of dicts, lists and tuples."""
    if isinstance(tree, dict):
        return {k: _tree_map(fn, v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(_tree_map(fn, v) for v in tree)
    if tree is None or isinstance(tree, (int, float, str)):
        return tree
    return fn(tree)


def _tree_layout(tree) -> list:
    """``(path, shape)`` of every array of a state, to compare two states' structure."""
    layout = []

    def visit(path, leaf):
        layout.append((path, tuple(leaf.shape)))

    def walk(path, node):
        if isinstance(node, dict):
            for k in sorted(node):
                walk(f"{path}[{k!r}]", node[k])
        elif isinstance(node, (list, tuple)):
            for j, v in enumerate(node):
                walk(f"{path}[{j}]", v)
        elif node is not None and not isinstance(node, (int, float, str)):
            visit(path, node)

    walk("", tree)
    return layout


def _to_host(a) -> np.ndarray:
    """A NumPy copy of an array of any backend."""
    if isinstance(a, np.ndarray):
        return np.array(a, copy=True)
    xp = array_api_compat.array_namespace(a)
    return Backend.resolve(xp, array_api_compat.device(a)).to_numpy(a)


def _to_backend_of(host, param):
    """A fresh copy of a host array on ``param``'s backend and device; floats take ``param``'s
    dtype, cast on the host so that a device without float64 never receives it."""
    host = np.asarray(host)
    dtype = dtype_name(param.dtype) if np.issubdtype(host.dtype, np.floating) else host.dtype
    host = np.array(host, dtype=dtype, copy=True)
    xp = array_api_compat.array_namespace(param)
    return Backend.resolve(xp, array_api_compat.device(param)).from_numpy(host)


# ---------------------------------------------------------------------------
# Learning rates in configs: a number, or a schedule object written as a dict.


def _serialize_rate(rate):
    """A float stays a float; a schedule becomes ``{"class_name": ..., "config": ...}`` (so
    does another callable with ``get_config``); a plain function is kept as it is (it
    rebuilds in memory but cannot be written to a file)."""
    if isinstance(rate, schedules.LearningRateSchedule):
        return schedules.serialize(rate)
    if callable(rate) and hasattr(rate, "get_config"):
        return {"class_name": get_registered_name(type(rate)), "config": rate.get_config()}
    return rate


def _deserialize_rate(rate):
    return schedules.deserialize(rate) if isinstance(rate, dict) else rate


class Optimizer(ABC):
    """Base class of optimizers: a state per parameter, one update per step.

    Subclasses implement two methods:

    * ``init(param) -> state``: the state for one parameter (arrays, e.g. a zero
      velocity, or ``None``);
    * ``update(grad, state, param) -> (delta, state)``: the change to add to
      ``param`` and the new state. ``self.learning_rate`` is the current rate and
      ``self.iterations`` the number of steps already taken (so this step is
      ``self.iterations + 1``). ``update`` may modify the state's arrays in place,
      never ``grad``.

    A complete custom optimizer, SGD with momentum written from scratch::

        import flexnet as fx

        class Momentum(fx.optimizers.Optimizer):
            \"\"\"v ← β v + g;  θ ← θ - α v.\"\"\"

            def __init__(self, learning_rate=0.01, beta=0.9, **kwargs):
                super().__init__(learning_rate, **kwargs)
                self.beta = beta

            def init(self, param):
                return {"v": param * 0.0}

            def update(self, grad, state, param):
                v = self.beta * state["v"] + grad
                return -self.learning_rate * v, {"v": v}

        model.compile(optimizer=Momentum(0.05), loss="mse")

    Each :meth:`apply` first clips the gradients (at most one of ``clipvalue``,
    ``clipnorm``, ``global_clipnorm``, as Keras), then for each parameter applies
    the decoupled weight decay ``θ ← θ - α λ θ`` (Keras's ``weight_decay``, the
    decay of ``torch.optim.AdamW``; not torch's L2 term added to the gradient),
    then the update. Clipping and decay cost nothing when they are off.

    Args:
        learning_rate: a non-negative number, or a schedule: a callable
            ``f(iterations) -> rate`` (e.g. from :mod:`flexnet.schedules`).
        name: shown in logs and configs.
        weight_decay: λ of the decoupled weight decay, or ``None`` (off).
        clipvalue: clip every gradient entry to ``[-clipvalue, clipvalue]``.
        clipnorm: rescale each gradient ``g`` whose L2 norm exceeds ``c`` by
            ``c / (‖g‖ + 1e-6)``, as ``torch.nn.utils.clip_grad_norm_`` on that
            gradient alone. (Keras divides by ``max(‖g‖, c)``: the two differ
            by a relative ``1e-6 / ‖g‖``.)
        global_clipnorm: the same with the norm of all gradients together,
            ``‖(g_1, ..., g_n)‖``, as ``torch.nn.utils.clip_grad_norm_``.

    Raises:
        ValueError: a bad value, or more than one clipping argument.
    """

    name = "optimizer"

    def __init__(
        self,
        learning_rate: float | Callable[[int], float] = 0.01,
        name: str | None = None,
        *,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
    ):
        self.learning_rate = learning_rate
        if name is not None:
            if not isinstance(name, str):
                raise TypeError(f"name must be a string, got {type(name).__name__}")
            self.name = name
        if weight_decay is not None:
            weight_decay = _check_rate(weight_decay, "weight_decay")
        self.weight_decay = weight_decay
        self.clipnorm = _check_optional_positive("clipnorm", clipnorm)
        self.clipvalue = _check_optional_positive("clipvalue", clipvalue)
        self.global_clipnorm = _check_optional_positive("global_clipnorm", global_clipnorm)
        clips = {"clipnorm": clipnorm, "clipvalue": clipvalue, "global_clipnorm": global_clipnorm}
        if sum(v is not None for v in clips.values()) > 1:
            given = ", ".join(f"{k}={v!r}" for k, v in clips.items() if v is not None)
            raise ValueError(f"only one of clipnorm, clipvalue and global_clipnorm can be set, got {given}")
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
        state is created on the first call. The gradients are never written to.
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
        if self.clipvalue is not None or self.clipnorm is not None or self.global_clipnorm is not None:
            grads = self.clip_gradients(grads)
        decay = 1.0 - self.learning_rate * self.weight_decay if self.weight_decay else None
        if decay is not None:
            for param in params:
                param *= decay  # θ ← (1 - α λ) θ, as torch.optim.AdamW
        self._update_all(params, grads)
        self.iterations += 1

    def _update_all(self, params: list, grads: list) -> None:
        """Update every parameter in place; built-in optimizers may batch small ones."""
        for i, (param, grad) in enumerate(zip(params, grads)):
            self._step(i, param, grad)

    def _scratch(self, i: int, like):
        """A reusable scratch array shaped like parameter ``i`` (for fused NumPy kernels)."""
        buffers = self.__dict__.setdefault("_scratch_buffers", {})
        buf = buffers.get(i)
        if buf is None or buf.shape != like.shape or buf.dtype != like.dtype:
            buf = buffers[i] = np.empty_like(like)
        return buf

    def _step(self, i: int, param, grad) -> None:
        """Update parameter ``i`` in place: ``param += update(...)``. Built-in optimizers may
        override it with a fused kernel for one backend; the result must be the same."""
        delta, self.state[i] = self.update(grad, self.state[i], param)
        param += delta

    def apply_gradients(self, grads_and_vars) -> None:
        """Keras spelling of :meth:`apply`: ``apply_gradients(zip(grads, weights))``."""
        pairs = list(grads_and_vars)
        self.apply([v for _, v in pairs], [g for g, _ in pairs])

    def clip_gradients(self, grads: list) -> list:
        """The gradients clipped as this optimizer's clipping arguments say (new arrays).

        The norms and scale factors stay arrays on the gradients' device: no
        device-to-host transfer.
        """
        if not grads:
            return list(grads)
        xp = array_api_compat.array_namespace(*grads)
        if self.clipvalue is not None:
            v = self.clipvalue
            return [xp.clip(g, -v, v) for g in grads]
        if self.clipnorm is not None:
            return [g * self._clip_scale(xp, xp.sum(g * g), self.clipnorm) for g in grads]
        if self.global_clipnorm is not None:
            total = xp.sum(grads[0] * grads[0])
            for g in grads[1:]:
                total = total + xp.sum(g * g)
            scale = self._clip_scale(xp, total, self.global_clipnorm)
            return [g * scale for g in grads]
        return list(grads)

    @staticmethod
    def _clip_scale(xp, squared_norm, c: float):
        """``min(1, c / (‖g‖ + 1e-6))`` as a 0-D array, as ``torch.nn.utils.clip_grad_norm_``."""
        scale = c / (xp.sqrt(squared_norm) + 1e-6)
        return xp.minimum(scale, xp.ones_like(scale))

    # -- state ----------------------------------------------------------------
    def map_state(self, fn) -> None:
        """Apply ``fn`` to every array of the state (``model.to`` moves it this way)."""
        if self.state is not None:
            self.state = [_tree_map(fn, s) for s in self.state]

    def get_state(self) -> dict:
        """Everything :meth:`set_state` needs to continue training exactly, on the host.

        Returns:
            ``{"iterations": int, "state": None or [per-parameter state]}``, each
            per-parameter state as :meth:`init` builds it (dicts of arrays, or
            ``None``) with NumPy copies in place of the backend's arrays.
        """
        state = None if self.state is None else [_tree_map(_to_host, s) for s in self.state]
        return {"iterations": int(self.iterations), "state": state}

    def set_state(self, state: dict, params: list) -> None:
        """Restore a :meth:`get_state` snapshot onto ``params``' backend, device and dtype.

        The arrays are copied, so training never writes into ``state``.

        Args:
            state: the dict returned by :meth:`get_state` (possibly of another
                optimizer of the same class and hyperparameters).
            params: the parameters this optimizer will update, in :meth:`apply`'s order.

        Raises:
            ValueError: the snapshot does not fit these parameters.
        """
        if not isinstance(state, dict) or set(state) != {"iterations", "state"}:
            raise ValueError(
                "state must be the dict returned by get_state(), with keys 'iterations' and "
                f"'state', got {state!r:.200}"
            )
        iterations, saved = state["iterations"], state["state"]
        if isinstance(iterations, bool) or not isinstance(iterations, numbers.Integral) or iterations < 0:
            raise ValueError(f"state['iterations'] must be a non-negative integer, got {iterations!r}")
        if saved is not None:
            if len(saved) != len(params):
                raise ValueError(
                    f"the saved state is for {len(saved)} parameters but {len(params)} were given"
                )
            for i, (param, entry) in enumerate(zip(params, saved)):
                expected, got = _tree_layout(self.init(param)), _tree_layout(entry)
                if expected != got:
                    raise ValueError(
                        f"the saved state of parameter {i} has arrays {got} but this "
                        f"{type(self).__name__} needs {expected} for a parameter of shape "
                        f"{tuple(param.shape)}"
                    )
            saved = [
                _tree_map(lambda a, p=param: _to_backend_of(a, p), entry)
                for param, entry in zip(params, saved)
            ]
            self._shapes = [tuple(p.shape) for p in params]
        self.state = saved
        self.iterations = int(iterations)

    # -- config ---------------------------------------------------------------
    def get_config(self) -> dict:
        """The constructor arguments: ``type(self).from_config(config)`` rebuilds the optimizer.

        ``learning_rate`` is a float, a schedule written as ``{"class_name": ...,
        "config": ...}``, or a plain function as given (not JSON-serializable).
        """
        return {
            "name": self.name,
            "learning_rate": _serialize_rate(self._learning_rate),
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "clipvalue": self.clipvalue,
            "global_clipnorm": self.global_clipnorm,
        }

    @classmethod
    def from_config(cls, config: dict) -> Optimizer:
        """An optimizer from :meth:`get_config`'s dict (schedules are rebuilt through
        :func:`flexnet.schedules.deserialize`)."""
        config = dict(config)
        if "learning_rate" in config:
            config["learning_rate"] = _deserialize_rate(config["learning_rate"])
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(
            f"{k}={v!r}" for k, v in self.get_config().items() if k != "name" and v is not None
        )
        return f"{type(self).__name__}({args})"


#: Name -> optimizer class (Keras's names).
OPTIMIZERS = Kind("optimizer", Optimizer)


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
        v = state["velocity"]  # updated in place: fewer passes over memory
        v *= self.momentum
        v += grad  # v ← μ v + g (v = g at the first step, since v starts at 0)
        step = grad + self.momentum * v if self.nesterov else v
        return -lr * step, state

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


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
        s = state["accumulator"]  # updated in place
        s += grad * grad  # s ← s + g²
        denom = s**0.5
        denom += self.epsilon  # √s + ε
        delta = grad * -self.learning_rate
        delta /= denom
        return delta, state

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
        s = state["s"]  # updated in place
        s *= rho
        s += (1.0 - rho) * (grad * grad)  # s ← ρ s + (1-ρ) g²
        if self.centered:
            a = state["average_gradient"]
            a *= rho
            a += (1.0 - rho) * grad  # a ← ρ a + (1-ρ) g
            denom = (s - a * a) ** 0.5
        else:
            denom = s**0.5
        denom += self.epsilon  # √s + ε
        if self.momentum > 0.0:
            b = state["momentum"]
            b *= self.momentum
            b += grad / denom  # b ← μ b + g / (√s + ε)
            return b * -self.learning_rate, state
        delta = grad * -self.learning_rate
        delta /= denom
        return delta, state

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
        s, u = state["s"], state["u"]  # updated in place
        s *= rho
        s += (1.0 - rho) * (grad * grad)  # s ← ρ s + (1-ρ) g²
        delta = (u + eps) ** 0.5
        delta /= (s + eps) ** 0.5
        delta *= grad  # Δ = √(u + ε) / √(s + ε) · g
        u *= rho
        u += (1.0 - rho) * (delta * delta)  # u ← ρ u + (1-ρ) Δ²
        delta *= -self.learning_rate
        return delta, state

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


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

    Keras's Nadam is the same rule with ψ fixed at 0.004 (the default here); the
    other defaults are Keras's too (torch uses α = 0.002, ε = 1e-8).

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
        m = state["m"]  # updated in place
        c = m * b1
        c += (1.0 - b1) * grad  # c = β1 m + (1-β1) g
        delta = xp.sign(c)
        delta *= -self.learning_rate
        m *= b2
        m += (1.0 - b2) * grad  # m ← β2 m + (1-β2) g
        return delta, state

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2}


def get(identifier) -> Optimizer:
    """An optimizer from a name (default hyperparameters), a class, an instance or a config dict.

    Raises:
        ValueError: unknown name, listing the valid ones.
    """
    return OPTIMIZERS.resolve(identifier)
