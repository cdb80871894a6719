"""Callbacks that read the epoch logs: :class:`TerminateOnNaN` stops on a diverged loss,
:class:`CSVLogger` writes one row per epoch.
"""

from __future__ import annotations

import csv
import math
import os

from flexnet.callbacks.base import CALLBACKS, Callback, _check_path

__all__ = ["CSVLogger", "TerminateOnNaN"]


@CALLBACKS.register()
class TerminateOnNaN(Callback):
    """Stop training when the loss becomes NaN or infinite.

    flexnet reads the loss from the device once per epoch, so this acts at the
    end of the epoch in which the loss diverged (Keras checks after every batch).
    It prints a line when it stops training.
    """

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            print(f"Epoch {epoch + 1}: invalid loss {loss}, terminating training")
            self.model.stop_training = True

    def get_config(self) -> dict:
        return {}


@CALLBACKS.register()
class CSVLogger(Callback):
    """Write each epoch's logs as one row of a CSV file.

    The columns are ``epoch`` (from 0) then the first epoch's log keys, sorted; a
    key missing in a later epoch is written as ``NA``. The file is opened at the
    start of training, flushed after each row and closed at the end. Put this
    callback after those that add keys (:class:`LearningRateScheduler`,
    :class:`ReduceLROnPlateau`) to log them.

    Args:
        filename: the CSV file (str or path-like).
        separator: the one-character field separator.
        append: append to an existing file (the header is written only if the
            file is empty or new) instead of overwriting it.

    Example::

        model.fit(x, y, epochs=20, callbacks=[fx.callbacks.CSVLogger("training.csv")])
    """

    primary_only = True  # several ranks: rank 0 writes the file

    def __init__(self, filename, separator: str = ",", append: bool = False):
        super().__init__()
        self.filename = _check_path(filename, "filename")
        if not isinstance(separator, str) or len(separator) != 1:
            raise ValueError(f"separator must be a one-character str, got {separator!r}")
        self.sep = separator
        self.append = bool(append)
        self.keys: list[str] | None = None
        self._file = None
        self._writer = None

    def on_train_begin(self, logs=None):
        self._close()
        write_header = True
        if self.append and os.path.exists(self.filename):
            write_header = os.path.getsize(self.filename) == 0
        self._file = open(self.filename, "a" if self.append else "w", newline="", encoding="utf-8")
        self._write_header = write_header
        self.keys = None
        self._writer = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self._writer is None:
            self.keys = sorted(logs)
            self._writer = csv.writer(self._file, delimiter=self.sep, lineterminator="\n")
            if self._write_header:
                self._writer.writerow(["epoch", *self.keys])
        self._writer.writerow([epoch, *(logs.get(key, "NA") for key in self.keys)])
        self._file.flush()

    def on_train_end(self, logs=None):
        self._close()

    def _close(self) -> None:
        if self._file is not None:
            self._file.close()
        self._file = None
        self._writer = None

    def get_config(self) -> dict:
        return {"filename": self.filename, "separator": self.sep, "append": self.append}
