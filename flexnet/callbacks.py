"""Callbacks: code that runs at the start and end of training, epochs and batches.

Epoch logs hold Python floats (read from the device once per epoch). Batch
hooks get no values, so that training never waits for the device; read
metrics in ``on_epoch_end``.
"""

from __future__ import annotations

import sys

__all__ = ["Callback", "CallbackList", "History", "ProgressBar"]


class Callback:
    """Base class for callbacks; override the hooks you need.

    ``self.model`` is the model being trained and ``self.params`` holds
    ``epochs``, ``steps`` (batches per epoch), ``samples`` and ``verbose``.
    Set ``self.model.stop_training = True`` to stop after the current epoch.

    Example:
        >>> import flexnet as fx
        >>> class PrintLoss(fx.callbacks.Callback):
        ...     def on_epoch_end(self, epoch, logs=None):
        ...         print(f"epoch {epoch}: loss {logs['loss']:.4f}")
    """

    def __init__(self):
        self.model = None
        self.params: dict = {}

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


def _overrides(callback: Callback, hook: str) -> bool:
    return getattr(type(callback), hook) is not getattr(Callback, hook)


class CallbackList:
    """Calls each hook on every callback in order; batch hooks only on those that define them."""

    def __init__(self, callbacks, model, params: dict):
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be Callback instances, got {type(cb).__name__}")
            cb.set_model(model)
            cb.set_params(params)
        self._batch_begin = [cb for cb in self.callbacks if _overrides(cb, "on_train_batch_begin")]
        self._batch_end = [cb for cb in self.callbacks if _overrides(cb, "on_train_batch_end")]

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


class History(Callback):
    """Records every epoch's logs; ``fit`` returns it.

    Attributes:
        history: ``{"loss": [...], "accuracy": [...], "val_loss": [...], ...}``,
            one float per epoch.
        epoch: the epoch indices recorded.
    """

    def __init__(self):
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


def format_logs(logs: dict) -> str:
    return " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())


def check_verbose(verbose) -> int:
    if verbose not in (0, 1, 2) or isinstance(verbose, bool):
        raise ValueError(f"verbose must be 0, 1 or 2, got {verbose!r}")
    return verbose


def progress(batches, total: int, desc: str, verbose: int, file=None):
    """Wrap an iterator of batches in a tqdm bar when ``verbose == 1`` and tqdm is
    installed (``evaluate`` and ``predict`` use it); otherwise return it unchanged."""
    if verbose != 1:
        return batches
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return batches
    return tqdm(batches, total=total, desc=desc, unit="batch", file=file or sys.stdout,
                dynamic_ncols=True)


class ProgressBar(Callback):
    """Shows training progress: ``verbose=1`` a per-epoch bar (tqdm), ``verbose=2`` one
    line per epoch. Without tqdm installed, ``verbose=1`` prints the lines too.

    Args:
        verbose: 1 or 2.
        file: where to write (standard output by default).
    """

    def __init__(self, verbose: int = 1, file=None):
        super().__init__()
        self.verbose = verbose
        self.file = file
        self._bar = None
        try:
            from tqdm.auto import tqdm
        except ImportError:  # optional dependency: fall back to one line per epoch
            tqdm = None
        self._tqdm = tqdm if verbose == 1 else None

    def _out(self):
        return self.file if self.file is not None else sys.stdout

    def on_epoch_begin(self, epoch, logs=None):
        desc = f"Epoch {epoch + 1}/{self.params.get('epochs', '?')}"
        if self._tqdm is not None:
            self._bar = self._tqdm(
                total=self.params.get("steps"), desc=desc, unit="batch", file=self._out(),
                leave=True, dynamic_ncols=True,
            )
        self._desc = desc

    def on_train_batch_end(self, batch, logs=None):
        if self._bar is not None:
            self._bar.update(1)

    def on_epoch_end(self, epoch, logs=None):
        if self._bar is not None:
            self._bar.set_postfix_str(format_logs(logs or {}), refresh=False)
            self._bar.close()
            self._bar = None
        else:
            print(f"{self._desc} - {format_logs(logs or {})}", file=self._out(), flush=True)

    def on_train_end(self, logs=None):
        if self._bar is not None:
            self._bar.close()
            self._bar = None
