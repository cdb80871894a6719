"""The base class of optimizers (the loop over parameters, the step counter, the learning rate,
clipping and weight decay), the table of their names, and the helpers subclasses share.
"""

from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod
from collections.abc import Callable

import array_api_compat
import numpy as np

from flexnet import schedules
from flexnet.registry import Kind, get_registered_name
from flexnet.transfer import to_device_like, to_numpy

__all__ = ["OPTIMIZERS", "Optimizer"]


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
        state = None if self.state is None else [_tree_map(to_numpy, s) for s in self.state]
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
                _tree_map(lambda a, p=param: to_device_like(a, p), entry)
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
