"""The base class of optimizers (the step over all parameters as one flat vector, the step
counter, the learning rate, clipping and weight decay), the table of their names, and the
helpers subclasses share.
"""

from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod
from collections.abc import Callable

import array_api_compat

from flexnet import schedules
from flexnet.optimizers.flat import (
    FlatLayout,
    check_saved_state,
    clip_flat,
    join_states,
    tree_leaves,
    tree_map,
)
from flexnet.registry import Kind, get_registered_name
from flexnet.transfer import to_device_like, to_numpy, writable

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
    """Base class of optimizers: a state, one update per step.

    Subclasses implement two methods:

    * ``init(param) -> state``: the state for ``param`` (arrays shaped like it, e.g. a
      zero velocity, or ``None``);
    * ``update(grad, state, param) -> (delta, state)``: the change to add to ``param``
      and the new state. ``self.learning_rate`` is the current rate and
      ``self.iterations`` the number of steps already taken (so this step is
      ``self.iterations + 1``). Return the new state's arrays: ``update`` may change
      them in place (``m *= β``) for speed, but on JAX, whose arrays never change in
      place, only what it returns counts. Never write into ``grad``.

    Every entry of a parameter is updated on its own by such a rule, so the base class
    calls ``init`` and ``update`` once per step for *all* parameters together, flattened
    into one vector (``elementwise = True``): a few array operations per step whatever
    the number of layers. A rule that looks at a parameter as a whole (its shape, its
    norm) sets ``elementwise = False`` and is called once per parameter.

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

    Each step first clips the gradients (at most one of ``clipvalue``, ``clipnorm``,
    ``global_clipnorm``, as Keras), then applies the decoupled weight decay
    ``θ ← θ - α λ θ`` (Keras's ``weight_decay``, the decay of ``torch.optim.AdamW``;
    not torch's L2 term added to the gradient), then the update. Clipping and decay
    cost nothing when they are off, and nothing in a step reads the device.

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
    #: The rule treats each entry on its own: the base class runs it over all parameters
    #: as one flat vector. False: once per parameter (e.g. a layer-wise trust ratio).
    elementwise = True

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
        self.constants: dict = {}
        self._layout: FlatLayout | None = None
        self._state = None  # the flat state (elementwise), or one state per parameter
        self._flat_mode = self.elementwise
        self._rate_now = None  # the rate of the step being traced by a compiled step

    # -- the two methods a subclass writes -------------------------------------
    @abstractmethod
    def init(self, param):
        """The state for ``param`` (all parameters as one vector, or one parameter)."""

    @abstractmethod
    def update(self, grad, state, param):
        """``(delta, new_state)``: ``param + delta`` is the parameter after this step."""

    def step_constants(self, t: int) -> dict:
        """Scalars of the rule that depend on the step number ``t = iterations + 1`` only
        (Adam's bias corrections, Nadam's momentum products), as Python floats computed
        on the host; ``update`` reads them from ``self.constants``. A compiled step passes
        them in as arrays, so the rule never needs the step number as a Python int."""
        return {}

    # -- learning rate --------------------------------------------------------
    @property
    def learning_rate(self):
        """The rate for the current step (a schedule is evaluated at ``iterations``)."""
        if self._rate_now is not None:
            return self._rate_now
        rate = self._learning_rate
        if callable(rate):
            return _check_rate(rate(self.iterations), f"the schedule at step {self.iterations}")
        return rate

    @learning_rate.setter
    def learning_rate(self, value) -> None:
        self._learning_rate = value if callable(value) else _check_rate(value, "learning_rate")

    # -- one step -------------------------------------------------------------
    def apply(self, params: list, grads: list) -> list:
        """One step: update every parameter from its gradient.

        ``params`` and ``grads`` are lists in the same order at every call; the
        state is created on the first call. The gradients are never written to.

        Returns:
            the parameters after the step: the same arrays, updated in place, on
            backends whose arrays can change; new arrays on JAX, whose arrays never
            change (there, keep the returned list, or let the model keep its weights
            with ``model.apply_gradients(grads)``).

        Raises:
            ValueError: the lists differ from the ones the state was made for.
        """
        self._check(params, grads)
        layout = self._layout
        P = self.step(layout.flatten(params), layout.flatten(grads))
        if not writable(params[0]):
            return layout.split(P)
        for param, new in zip(params, layout.split(P)):
            param[...] = new
        return list(params)

    def apply_gradients(self, grads_and_vars) -> list:
        """Keras spelling of :meth:`apply`: ``apply_gradients(zip(grads, weights))``."""
        pairs = list(grads_and_vars)
        return self.apply([v for _, v in pairs], [g for g, _ in pairs])

    def build(self, params: list) -> None:
        """Make the state for ``params`` (called by the first step; again only after
        :meth:`reset`). Decides between one flat state and one state per parameter."""
        self._layout = FlatLayout(params)
        self._flat_mode = self.elementwise
        if self._flat_mode:
            state = self.init(self._layout.flatten(params))
            if all(tuple(a.shape) == (self._layout.total,) for a in tree_leaves(state)):
                self._state = state
                return
            self._flat_mode = False  # a state that is not one entry per parameter entry
        self._state = [self.init(p) for p in params]

    def reset(self) -> None:
        """Forget the state and the step count (the optimizer starts afresh)."""
        self._layout, self._state, self.iterations = None, None, 0

    def step(self, P, G, kernel=None):
        """One step on all parameters as one vector ``P`` with gradient vector ``G`` (in the
        layout of :meth:`build`); returns the new ``P`` — the same array, updated in place,
        on namespaces whose arrays can change. Advances :attr:`iterations`.

        ``kernel(optimizer, P, G, state)`` updates ``P`` and the flat state in place instead
        of :meth:`update` (a backend's fused form of the rule: :mod:`flexnet.optimizers.kernels`).
        """
        if self._rate_now is None:
            self.constants = self.step_constants(self.iterations + 1)
        lr = self.learning_rate
        G = clip_flat(G, self._layout, self)
        if self.weight_decay:
            P *= 1.0 - lr * self.weight_decay  # θ ← (1 - α λ) θ, as torch.optim.AdamW
        if self._flat_mode and kernel is not None:
            kernel(self, P, G, self._state)
        elif self._flat_mode:
            delta, self._state = self.update(G, self._state, P)
            P += delta
        else:
            P = _step_each(self, P, G)
        self.iterations += 1
        return P

    def _check(self, params: list, grads: list) -> None:
        """Build the state on first use; raise ValueError if ``params``/``grads`` do not fit it."""
        _check_params(self, params, grads)

    # -- clipping ---------------------------------------------------------------
    def clip_gradients(self, grads: list) -> list:
        """The gradients clipped as this optimizer's clipping arguments say (new arrays).

        The norms and scale factors stay arrays on the gradients' device: no
        device-to-host transfer.
        """
        if not grads or (self.clipvalue is None and self.clipnorm is None
                         and self.global_clipnorm is None):
            return list(grads)
        layout = FlatLayout(grads)
        return layout.split(clip_flat(layout.flatten(grads), layout, self))

    # -- state ----------------------------------------------------------------
    @property
    def state(self) -> list | None:
        """One state per parameter, as :meth:`init` builds it for that parameter (views of
        the flat state where the namespace has views); None before the first step."""
        if self._state is None:
            return None
        return self._layout.split_state(self._state) if self._flat_mode else self._state

    def map_state(self, fn) -> None:
        """Apply ``fn`` to every array of the state (``model.to`` moves it this way)."""
        if self._state is not None:
            self._state = tree_map(fn, self._state)
            leaves = tree_leaves(self._state)
            if leaves:
                self._layout.xp = array_api_compat.array_namespace(*leaves)
                self._layout.device = array_api_compat.device(leaves[0])

    def get_state(self) -> dict:
        """Everything :meth:`set_state` needs to continue training exactly, on the host.

        Returns:
            ``{"iterations": int, "state": None or [per-parameter state]}``, each
            per-parameter state as :meth:`init` builds it (dicts of arrays, or
            ``None``) with NumPy copies in place of the backend's arrays.
        """
        state = None if self._state is None else [tree_map(to_numpy, s) for s in self.state]
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
        if saved is None:
            self._layout, self._state = None, None
        else:
            check_saved_state(self, saved, params)
            self.build(params)
            self._state = None  # the state build made is replaced: free it before the copy is made
            self._state = (join_states(saved, params[0]) if self._flat_mode else
                           [tree_map(lambda a, p=param: to_device_like(a, p), entry)
                            for param, entry in zip(params, saved)])
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


def _step_each(opt: Optimizer, P, G):
    """``update`` once per parameter (a rule that is not elementwise), on views of ``P``."""
    pieces, states, changed = opt._layout.split(P), [], False
    for k, (param, grad, state) in enumerate(zip(pieces, opt._layout.split(G), opt._state)):
        delta, state = opt.update(grad, state, param)
        new = param
        new += delta
        changed = changed or new is not param
        states.append(state)
        pieces[k] = new
    opt._state = states
    return opt._layout.flatten(pieces) if changed else P


def _check_params(opt: Optimizer, params: list, grads: list) -> None:
    if len(params) != len(grads):
        raise ValueError(f"got {len(params)} parameters but {len(grads)} gradients")
    for i, (param, grad) in enumerate(zip(params, grads)):
        if tuple(grad.shape) != tuple(param.shape):
            raise ValueError(f"gradient {i} has shape {tuple(grad.shape)} but its parameter has "
                             f"shape {tuple(param.shape)}")
    layout = opt._layout
    if layout is None:
        opt.build(params)
    elif len(layout.shapes) != len(params):
        raise ValueError(
            f"this {type(opt).__name__} holds state for {len(layout.shapes)} parameters but was "
            f"given {len(params)}; use one optimizer per model"
        )
    elif not layout.same_as(params):
        i = next(k for k, p in enumerate(params) if tuple(p.shape) != layout.shapes[k])
        raise ValueError(
            f"this {type(opt).__name__} holds state for a parameter of shape "
            f"{layout.shapes[i]} at position {i} but was given one of shape "
            f"{tuple(params[i].shape)}; use one optimizer per model"
        )


#: Name -> optimizer class (Keras's names).
OPTIMIZERS = Kind("optimizer", Optimizer)
