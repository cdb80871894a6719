"""Showing progress: a tqdm bar per epoch or one line per epoch (:class:`ProgressBar`), and
the helpers ``fit``, ``evaluate`` and ``predict`` use for their output.
"""

from __future__ import annotations

import sys

from flexnet.callbacks.base import CALLBACKS, Callback

__all__ = ["ProgressBar", "format_logs", "progress"]


def format_logs(logs: dict) -> str:
    return " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())


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


@CALLBACKS.register()
class ProgressBar(Callback):
    """Shows training progress: ``verbose=1`` a per-epoch bar (tqdm), ``verbose=2`` one
    line per epoch. Without tqdm installed, ``verbose=1`` prints the lines too.

    Args:
        verbose: 1 or 2.
        file: where to write (standard output by default).
    """

    batch_hooks_can_lag = True  # the bar may advance by a chunk of steps at a time

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
