"""Changing the optimizer's learning rate during training: per epoch from a schedule
(:class:`LearningRateScheduler`) or on a plateau (:class:`ReduceLROnPlateau`).
"""

from __future__ import annotations

import inspect
import math
import numbers

from flexnet.callbacks.base import CALLBACKS, Callback, _check_int, _check_real, check_verbose
from flexnet.callbacks.monitor import MonitorCallback

__all__ = ["LearningRateScheduler", "ReduceLROnPlateau"]


def _optimizer_with_numeric_rate(model, who: str):
    """The model's optimizer, checked to hold a number (not a schedule) as its learning rate."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        raise ValueError(f"{who} needs a compiled model; model.optimizer is None")
    if not hasattr(optimizer, "learning_rate"):
        raise ValueError(f"{who} needs an optimizer with a learning_rate, got {type(optimizer).__name__}")
    # flexnet's Optimizer keeps what it was given in ``_learning_rate``; its
    # ``learning_rate`` property evaluates a schedule at the current step.
    rate = getattr(optimizer, "_learning_rate", optimizer.learning_rate)
    if callable(rate):
        raise ValueError(
            f"{who} sets the optimizer's learning rate, but this {type(optimizer).__name__} was "
            f"compiled with a schedule ({rate!r}) as its learning_rate; give the optimizer a number "
            f"(e.g. learning_rate=0.01) to use {who}, or keep the schedule without {who}"
        )
    return optimizer

def _takes_rate(schedule) -> bool:
    """Whether ``schedule`` accepts ``(epoch, lr)`` (Keras) rather than ``(epoch)``."""
    try:
        parameters = inspect.signature(schedule).parameters.values()
    except (TypeError, ValueError):  # no signature to read: assume Keras's two arguments
        return True
    positional = 0
    for p in parameters:
        if p.kind is inspect.Parameter.VAR_POSITIONAL:
            return True
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
            positional += 1
    if positional == 0:
        raise TypeError("schedule must take the epoch (and optionally the current learning rate)")
    return positional >= 2


@CALLBACKS.register()
class LearningRateScheduler(Callback):
    """Set the optimizer's learning rate at the start of every epoch.

    At each epoch begin, ``model.optimizer.learning_rate`` becomes
    ``schedule(epoch, lr)`` (``epoch`` from 0, ``lr`` the current rate), or
    ``schedule(epoch)`` for a one-argument function. At each epoch end the rate
    used is put in the logs as ``learning_rate`` (seen by later callbacks and
    :class:`History`). The optimizer must have been given a number as its
    learning rate, not a schedule (``ValueError`` otherwise).

    Args:
        schedule: ``f(epoch, lr) -> float`` or ``f(epoch) -> float``.
        verbose: 1 prints the rate set at each epoch.

    Example:
        >>> import numpy as np
        >>> import flexnet as fx
        >>> model = fx.Sequential([fx.layers.Dense(1, input_dim=1)])
        >>> model.compile(optimizer=fx.optimizers.SGD(0.1), loss="mse")
        >>> halve = fx.callbacks.LearningRateScheduler(lambda epoch, lr: lr if epoch == 0 else lr / 2)
        >>> history = model.fit(np.ones((4, 1)), np.ones((4, 1)), epochs=3, verbose=0,
        ...                     callbacks=[halve])
        >>> history.history["learning_rate"]
        [0.1, 0.05, 0.025]
    """

    def __init__(self, schedule, verbose: int = 0):
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"schedule must be callable (epoch, lr) -> lr, got {type(schedule).__name__}")
        self.schedule = schedule
        self.verbose = check_verbose(verbose)
        self._with_rate = _takes_rate(schedule)

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = _optimizer_with_numeric_rate(self.model, "LearningRateScheduler")
        if self._with_rate:
            rate = self.schedule(epoch, float(optimizer.learning_rate))
        else:
            rate = self.schedule(epoch)
        if isinstance(rate, bool) or not isinstance(rate, numbers.Real):
            raise TypeError(f"schedule must return a number, got {type(rate).__name__} at epoch {epoch}")
        if not (math.isfinite(rate) and rate >= 0):
            raise ValueError(
                f"schedule returned {rate!r} at epoch {epoch}; a learning rate is a finite number >= 0"
            )
        optimizer.learning_rate = float(rate)
        if self.verbose:
            print(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to {float(rate)}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


@CALLBACKS.register()
class ReduceLROnPlateau(MonitorCallback):
    """Reduce the learning rate when a monitored value has stopped improving.

    After ``patience`` epochs without an improvement larger than ``min_delta``,
    the rate becomes ``max(lr * factor, min_lr)``. For ``cooldown`` epochs after a
    reduction, the epoch of the reduction included (as in Keras), epochs without
    improvement are not counted. Each epoch's logs get
    ``learning_rate``, the rate used during that epoch. The optimizer must have
    been given a number as its learning rate, not a schedule (``ValueError`` at
    the start of training otherwise).

    Args:
        monitor: the key to watch (default ``"val_loss"``); an epoch whose logs lack it
            keeps the rate, with a ``UserWarning`` (Keras's behaviour).
        factor: the rate is multiplied by this (0 < factor < 1).
        patience: epochs without improvement before a reduction.
        verbose: 1 prints each reduction.
        mode: ``"auto"``, ``"min"`` or ``"max"`` (see :func:`monitor_mode`).
        min_delta: the smallest change that counts as an improvement.
        cooldown: epochs, counting the one of the reduction, before epochs without
            improvement count again.
        min_lr: the rate never goes below this.

    Example:
        >>> import numpy as np
        >>> import flexnet as fx
        >>> model = fx.Sequential([fx.layers.Dense(1, input_dim=1)])
        >>> model.compile(optimizer=fx.optimizers.SGD(0.1), loss="mse")
        >>> reduce = fx.callbacks.ReduceLROnPlateau("loss", factor=0.5, patience=0, min_delta=1e9)
        >>> history = model.fit(np.ones((4, 1)), np.ones((4, 1)), epochs=3, verbose=0,
        ...                     callbacks=[reduce])
        >>> history.history["learning_rate"], model.optimizer.learning_rate
        ([0.1, 0.1, 0.05], 0.025)
    """

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10,
                 verbose: int = 0, mode: str = "auto", min_delta: float = 1e-4, cooldown: int = 0,
                 min_lr: float = 0.0):
        super().__init__(monitor, mode, min_delta)
        self.factor = _check_real(factor, "factor")
        if not 0.0 < self.factor < 1.0:
            raise ValueError(f"factor must be between 0 and 1 (exclusive), got {factor!r}")
        self.patience = _check_int(patience, "patience")
        self.verbose = check_verbose(verbose)
        self.cooldown = _check_int(cooldown, "cooldown")
        self.min_lr = _check_real(min_lr, "min_lr", low=0.0)
        self._reset()

    def _reset(self) -> None:
        self.best: float | None = None
        self.wait = 0
        self.cooldown_counter = 0

    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def on_train_begin(self, logs=None):
        _optimizer_with_numeric_rate(self.model, "ReduceLROnPlateau")
        self._reset()

    def on_epoch_end(self, epoch, logs=None):
        optimizer = _optimizer_with_numeric_rate(self.model, "ReduceLROnPlateau")
        rate = float(optimizer.learning_rate)
        logs["learning_rate"] = rate
        current = self.get_monitor_value(logs, "the learning rate is kept at this epoch")
        if current is None:
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
            self.best, self.wait = current, 0
            return
        if self.in_cooldown():
            return
        self.wait += 1
        if self.wait >= self.patience and rate > self.min_lr:
            new_rate = max(rate * self.factor, self.min_lr)
            optimizer.learning_rate = new_rate
            if self.verbose:
                print(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_rate}.")
            self.cooldown_counter = self.cooldown
            self.wait = 0

    def get_config(self) -> dict:
        return {
            "monitor": self.monitor, "factor": self.factor, "patience": self.patience,
            "verbose": self.verbose, "mode": self.mode, "min_delta": self.min_delta,
            "cooldown": self.cooldown, "min_lr": self.min_lr,
        }
