"""Showing progress: a tqdm bar per epoch or one line per epoch (:class:`ProgressBar`), and
the helpers ``fit``, ``evaluate`` and ``predict`` use for their output.
"""

from __future__ import annotations

import os
import shutil
import sys

from flexnet.callbacks.base import CALLBACKS, Callback

__all__ = ["ProgressBar", "format_logs", "progress", "wrap_logs"]


def format_logs(logs: dict) -> str:
    return " - ".join(_items(logs))


def _items(logs: dict) -> list[str]:
    return [f"{k}: {v:.4f}" for k, v in logs.items()]


def wrap_logs(logs: dict, width: int | None, indent: str = "  ") -> str:
    """``logs`` as ``key: value`` items joined by `` - ``, broken between items into lines of
    at most ``width`` characters (each starting with ``indent``); one line if ``width`` is
    None. An item longer than a line gets a line of its own, which the terminal wraps.

    Example:
        >>> print(wrap_logs({"loss": 0.25, "accuracy": 0.9, "val_loss": 0.5}, width=40))
          loss: 0.2500 - accuracy: 0.9000
          val_loss: 0.5000
    """
    lines: list[str] = []
    for item in _items(logs):
        if lines and (width is None or len(lines[-1]) + 3 + len(item) <= width):
            lines[-1] += " - " + item
        else:
            lines.append(indent + item)
    return "\n".join(lines)


def terminal_columns(stream) -> int | None:
    """The width of the terminal ``stream`` writes to, or None when it is not a terminal
    (a file, a pipe, a notebook): then nothing needs wrapping."""
    isatty = getattr(stream, "isatty", None)
    if not callable(isatty) or not isatty():
        return None
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):  # a terminal-like object without a descriptor
        return shutil.get_terminal_size().columns  # $COLUMNS, or the process's terminal


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
    """Shows training progress: ``verbose=1`` a per-epoch bar (tqdm) followed, when the
    epoch ends, by its loss and metrics; ``verbose=2`` one line per epoch. Without tqdm
    installed, ``verbose=1`` prints the lines too.

    Every value is shown whatever the width of the terminal: the values follow the bar
    and break between items into lines that fit the terminal, where a bar's postfix
    would be cut at its edge.

    Args:
        verbose: 1 or 2.
        file: where to write (standard output by default).
    """

    batch_hooks_can_lag = True  # the bar may advance by a chunk of steps at a time
    primary_only = True  # several ranks: rank 0 prints

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
        out = self._out()
        if self._bar is not None:
            self._bar.close()
            self._bar = None
            if logs:
                print(wrap_logs(logs, terminal_columns(out)), file=out, flush=True)
        else:
            print(f"{self._desc} - {format_logs(logs or {})}", file=out, flush=True)

    def on_train_end(self, logs=None):
        if self._bar is not None:
            self._bar.close()
            self._bar = None
