"""``DistributedOptimizer``: any optimizer, its gradient averaged over every rank at each step.

As Horovod's ``hvd.DistributedOptimizer``: the optimizer keeps its class, rule, state and
configuration; only its step over the flat parameter vector changes. Each step first
sums ``share · G`` over the ranks with one allreduce of the flat gradient vector (one
message per step, whatever the number of layers), then runs the optimizer's own step
on the result, so clipping and weight decay see the combined gradient.
"""

from __future__ import annotations

import inspect

from flexnet import optimizers
from flexnet.distributed.communicator import Communicator, initialize
from flexnet.optimizers import Optimizer

__all__ = ["DistributedOptimizer"]

_CLASSES: dict[type, type] = {}


def _distributed_class(base: type) -> type:
    """``base`` with the distributed step: a subclass that carries ``base``'s name, module and
    constructor, so that its configuration, and a model file written with it, name ``base``."""
    cls = _CLASSES.get(base)
    if cls is None:

        def __init__(self, *args, **kwargs):
            if "_communicator" in vars(self):  # made by DistributedOptimizer(optimizer): set up already
                return
            base.__init__(self, *args, **kwargs)  # rebuilt from base's configuration

        __init__.__signature__ = inspect.signature(base.__init__)
        names = {"__module__": base.__module__, "__qualname__": base.__qualname__, "__doc__": base.__doc__,
                 "__init__": __init__, "_rule_class": base}  # base's update rule, and its fused kernel
        cls = _CLASSES[base] = type(base.__name__, (DistributedOptimizer, base), names)
    return cls


def _base_of(cls: type) -> type:
    """The optimizer class a distributed class was made from (``cls`` itself for a plain one)."""
    return cls.__mro__[2] if issubclass(cls, DistributedOptimizer) else cls


def _rebuild(base: type, state: dict):
    """Unpickle: the optimizer of class ``base`` with ``state``, distributed over the job's ranks."""
    optimizer = object.__new__(base)
    vars(optimizer).update(state)
    return DistributedOptimizer(optimizer)


class DistributedOptimizer(Optimizer):
    """Wraps an optimizer for data-parallel training: every rank runs the same script on its
    own part of the data, and each step uses the gradient of all the ranks' samples.

    ``DistributedOptimizer(optimizer)`` returns a new optimizer of ``optimizer``'s class
    (``isinstance(opt, fx.optimizers.Adam)`` still holds) that takes over its settings and
    state: use the returned one from then on. At each step it computes

        ``G ← Σ_r share_r · G_r``   (one allreduce of the flat gradient vector),

    then the wrapped rule's step on ``G``. ``share_r`` is this rank's :attr:`share` of the
    step: in ``fit`` the fraction of the step's samples that this rank holds (``1/size``
    when every rank has a full batch), so that ``size`` ranks at batch size ``b`` take the
    step one process takes at batch size ``size · b``; ``1/size`` (the mean) in steps you
    run yourself (``model.apply_gradients``, ``train_on_batch``).

    Learning rate: the combined batch is ``size`` times larger than each rank's, so keep
    the learning rate of a single process at that global batch size. Starting from a rate
    ``α`` tuned for batch ``b`` on one process, the *linear scaling rule* (Goyal et al.,
    2017, "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour",
    arXiv:1706.02677) takes ``size · α`` for SGD, with a few epochs of warm-up (e.g. a
    :class:`~flexnet.schedules.LearningRateSchedule`) when ``size`` is large; Adam-type
    rules usually need less than linear growth (try ``sqrt(size) · α``).

    ``get_config()`` is the wrapped optimizer's, so a model file written during a
    data-parallel run holds the plain optimizer: wrap it again after loading
    (``model.compile(optimizer=DistributedOptimizer(model.optimizer), ...)``).

    Args:
        optimizer: an :class:`~flexnet.optimizers.Optimizer`, or its name.
        communicator: the ranks to average over; default :func:`~flexnet.distributed.initialize`'s.

    Example:
        >>> import flexnet as fx
        >>> opt = fx.distributed.DistributedOptimizer(fx.optimizers.Adam(1e-3))
        >>> isinstance(opt, fx.optimizers.Adam), opt.get_config()["learning_rate"]
        (True, 0.001)
    """

    def __new__(cls, *args, **kwargs):
        if cls is not DistributedOptimizer:  # a distributed class rebuilt from its configuration
            return super().__new__(cls)
        optimizer, communicator = _wrap_arguments(*args, **kwargs)
        self = super().__new__(_distributed_class(_base_of(type(optimizer))))
        vars(self).update(vars(optimizer))
        self._communicator = communicator
        self.share = None
        return self

    def __init__(self, optimizer, communicator: Communicator | None = None):
        """Never runs: ``__new__`` makes the optimizer, of a class with its own ``__init__``."""

    @property
    def communicator(self) -> Communicator:
        """The ranks the gradient is combined over."""
        if self.__dict__.get("_communicator") is None:
            self._communicator = initialize()
        return self._communicator

    #: This rank's share of the current step's gradient (None: ``1/size``); set by ``fit``.
    share: float | None = None

    def step(self, P, G, kernel=None):
        """Combine the flat gradient ``G`` over the ranks (a new vector: ``G`` is not written),
        then take the wrapped optimizer's step (with ``kernel``, its fused form, where the
        fused NumPy step passes one); see :meth:`Optimizer.step`."""
        comm = self.communicator
        if comm.size > 1:
            share = 1.0 / comm.size if self.share is None else self.share
            G = comm.allreduce(G * share)
        return super().step(P, G, kernel)

    def __reduce__(self):
        state = {k: v for k, v in vars(self).items() if k not in ("_communicator", "share")}
        return _rebuild, (_base_of(type(self)), state)

    def __repr__(self) -> str:
        return f"DistributedOptimizer({super().__repr__()}, ranks={self.communicator.size})"


def _wrap_arguments(optimizer=None, communicator: Communicator | None = None):
    if optimizer is None:
        raise TypeError("DistributedOptimizer needs the optimizer to wrap, e.g. "
                        "DistributedOptimizer(fx.optimizers.Adam(1e-3))")
    optimizer = optimizers.get(optimizer)
    if communicator is not None and not isinstance(communicator, Communicator):
        raise TypeError(f"communicator must be a flexnet.distributed.Communicator, got "
                        f"{type(communicator).__name__}")
    return optimizer, communicator
