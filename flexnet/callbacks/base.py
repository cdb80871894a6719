"""The base class of callbacks and the list that calls their hooks, the argument checks the
callbacks share, and :class:`LambdaCallback` (hooks written as functions).
"""

from __future__ import annotations

import math
import numbers
import os

from flexnet.registry import Kind

__all__ = ["CALLBACKS", "Callback", "CallbackList", "LambdaCallback", "check_verbose"]


class Callback:
    """Base class for callbacks; override the hooks you need.

    Hooks and when ``fit`` calls them:

    * ``on_train_begin(logs)`` / ``on_train_end(logs)``: once per ``fit`` (``logs`` is ``None``);
    * ``on_epoch_begin(epoch, logs)``: before each epoch (``epoch`` counts from 0;
      ``logs`` is ``None``);
    * ``on_epoch_end(epoch, logs)``: after each epoch, with ``logs`` a dict of floats
      (``loss``, each metric, and their ``val_`` twins when there is validation data).
      Callbacks run in list order and share this dict, so a callback may add keys
      (e.g. ``learning_rate``) that later callbacks and :class:`History` see;
    * ``on_train_batch_begin(batch, logs)`` / ``on_train_batch_end(batch, logs)``: around
      each step (``logs`` is ``None``: batch values stay on the device). They are only
      called on callbacks that define them, so an unused batch hook costs nothing.

    ``self.model`` is the model being trained and ``self.params`` holds
    ``epochs``, ``steps`` (batches per epoch), ``samples`` and ``verbose``.
    Set ``self.model.stop_training = True`` to stop after the current epoch.

    Example:
        >>> import numpy as np
        >>> import flexnet as fx
        >>> class StopBelow(fx.callbacks.Callback):
        ...     \"\"\"Stop once the loss is below ``threshold``.\"\"\"
        ...
        ...     def __init__(self, threshold):
        ...         super().__init__()
        ...         self.threshold = threshold
        ...
        ...     def on_epoch_end(self, epoch, logs=None):
        ...         if logs["loss"] < self.threshold:
        ...             print(f"epoch {epoch + 1}: loss below {self.threshold}, stopping")
        ...             self.model.stop_training = True
        >>> model = fx.Sequential([fx.layers.Dense(1, input_dim=1)])
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> history = model.fit(np.ones((4, 1)), np.ones((4, 1)), epochs=100, verbose=0,
        ...                     callbacks=[StopBelow(1e6)])
        epoch 1: loss below 1000000.0, stopping
        >>> len(history.epoch)
        1
    """

    def __init__(self):
        self.model = None
        self.params: dict = {}

    #: Whether this callback's batch hooks may run after the batches they name: a compiled
    #: training loop (jax) then runs many steps per call and calls them once per call (the
    #: progress bar). False (the default): every batch hook runs as its batch happens.
    batch_hooks_can_lag = False

    #: Whether this callback acts outside the model (it prints, writes files): in a
    #: data-parallel ``fit`` on several processes it then runs on rank 0 only
    #: (ProgressBar, ModelCheckpoint, CSVLogger); others run on every rank, which all
    #: see the same logs.
    primary_only = False

    def set_model(self, model) -> None:
        self.model = model

    def set_params(self, params: dict) -> None:
        self.params = params

    def on_train_begin(self, logs=None): ...
    def on_train_end(self, logs=None): ...
    def on_epoch_begin(self, epoch: int, logs=None): ...
    def on_epoch_end(self, epoch: int, logs=None): ...
    def on_train_batch_begin(self, batch: int, logs=None): ...
    def on_train_batch_end(self, batch: int, logs=None): ...


#: Class name -> flexnet's callback classes.
CALLBACKS = Kind("callback", Callback)


def _overrides(callback: Callback, hook: str) -> bool:
    """Whether ``callback`` has its own ``hook`` (a method of its class or, as in
    :class:`LambdaCallback`, a function set on the instance)."""
    method = getattr(callback, hook)
    return getattr(method, "__func__", method) is not getattr(Callback, hook)


class CallbackList:
    """Calls each hook on every callback in order; batch hooks only on those that define them.

    ``primary=False`` (a data-parallel ``fit`` on a rank other than 0) leaves out the
    callbacks marked :attr:`Callback.primary_only`.
    """

    def __init__(self, callbacks, model, params: dict, primary: bool = True):
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be Callback instances, got {type(cb).__name__}")
        if not primary:
            self.callbacks = [cb for cb in self.callbacks if not cb.primary_only]
        for cb in self.callbacks:
            cb.set_model(model)
            cb.set_params(params)
        self._batch_begin = [cb for cb in self.callbacks if _overrides(cb, "on_train_batch_begin")]
        self._batch_end = [cb for cb in self.callbacks if _overrides(cb, "on_train_batch_end")]
        #: a callback needs each batch as it happens (see Callback.batch_hooks_can_lag)
        self.needs_each_batch = any(not cb.batch_hooks_can_lag for cb in self._batch_begin + self._batch_end)

    def on_train_begin(self, logs=None):
        for cb in self.callbacks:
            cb.on_train_begin(logs)

    def on_train_end(self, logs=None):
        for cb in self.callbacks:
            cb.on_train_end(logs)

    def on_epoch_begin(self, epoch, logs=None):
        for cb in self.callbacks:
            cb.on_epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        for cb in self.callbacks:
            cb.on_epoch_end(epoch, logs)

    def on_train_batch_begin(self, batch, logs=None):
        for cb in self._batch_begin:
            cb.on_train_batch_begin(batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        for cb in self._batch_end:
            cb.on_train_batch_end(batch, logs)


# ----------------------------------------------------------------------
# Argument checks shared by the callbacks.
def as_callback_list(callbacks) -> list:
    """``fit``'s ``callbacks``: None, one :class:`Callback` (as Keras accepts) or a list of them.

    Raises:
        TypeError: anything else, or a list holding something that is not a Callback.
    """
    if callbacks is None:
        return []
    if isinstance(callbacks, Callback):
        return [callbacks]
    if not isinstance(callbacks, (list, tuple)):
        raise TypeError(f"callbacks must be a Callback or a list of them, got {type(callbacks).__name__}")
    return list(callbacks)


def check_verbose(verbose) -> int:
    """0, 1 or 2; ``"auto"`` is 1, as in Keras 3 (its ``ProgbarLogger``)."""
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2) or isinstance(verbose, bool):
        raise ValueError(f"verbose must be 'auto', 0, 1 or 2, got {verbose!r}")
    return verbose


def _check_int(value, name: str, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return int(value)


def _check_real(value, name: str, low: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}, got {value!r}")
    return float(value)


def _check_path(value, name: str) -> str:
    try:
        return os.fspath(value)
    except TypeError:
        raise TypeError(f"{name} must be a str or os.PathLike, got {type(value).__name__}") from None

_LAMBDA_HOOKS = ("on_epoch_begin", "on_epoch_end", "on_train_begin", "on_train_end",
                 "on_train_batch_begin", "on_train_batch_end")


@CALLBACKS.register()
class LambdaCallback(Callback):
    """A callback made of functions, for quick hooks without a class.

    Each function takes the hook's arguments: ``on_epoch_begin(epoch, logs)``,
    ``on_epoch_end(epoch, logs)``, ``on_train_begin(logs)``, ``on_train_end(logs)``,
    ``on_train_batch_begin(batch, logs)``, ``on_train_batch_end(batch, logs)``.
    Hooks left as ``None`` do nothing (and unused batch hooks cost nothing).

    Example:
        >>> import numpy as np
        >>> import flexnet as fx
        >>> model = fx.Sequential([fx.layers.Dense(1, input_dim=1)])
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> show = fx.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: print("epoch", epoch))
        >>> history = model.fit(np.ones((4, 1)), np.ones((4, 1)), epochs=2, verbose=0,
        ...                     callbacks=[show])
        epoch 0
        epoch 1
    """

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None,
                 on_train_end=None, on_train_batch_begin=None, on_train_batch_end=None):
        super().__init__()
        given = dict(zip(_LAMBDA_HOOKS, (on_epoch_begin, on_epoch_end, on_train_begin,
                                         on_train_end, on_train_batch_begin, on_train_batch_end)))
        for hook, fn in given.items():
            if fn is None:
                continue
            if not callable(fn):
                raise TypeError(f"{hook} must be callable or None, got {type(fn).__name__}")
            setattr(self, hook, fn)
