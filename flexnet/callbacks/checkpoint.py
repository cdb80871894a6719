"""Saving the model during training: :class:`ModelCheckpoint`, every epoch or when a
monitored value improves.
"""

from __future__ import annotations

import numbers
import os

from flexnet.callbacks.base import CALLBACKS, _check_path, _check_real, check_verbose
from flexnet.callbacks.monitor import MonitorCallback

__all__ = ["ModelCheckpoint"]


@CALLBACKS.register()
class ModelCheckpoint(MonitorCallback):
    """Save the model or its weights during training.

    ``filepath`` may name the epoch (from 1) and any epoch log key with
    :meth:`str.format` fields, e.g. ``"ckpt/{epoch:02d}-{val_loss:.2f}.weights"``;
    with an integer ``save_freq`` it may also name ``{batch}`` (from 1). Missing
    folders are created. The file is written by ``model.save_weights(path)`` when
    ``save_weights_only``, else by ``model.save(path)``.

    Args:
        filepath: where to save (str or path-like), possibly with format fields.
        monitor: the key compared when ``save_best_only`` (default ``"val_loss"``); at an
            epoch whose logs lack it the model is saved, with a ``UserWarning`` (as Keras).
        verbose: 1 prints a line at each save (or skipped save).
        save_best_only: save only when the monitored value improves on the best so
            far, so a fixed ``filepath`` always holds the best model.
        save_weights_only: save the weights only (``model.save_weights``).
        mode: ``"auto"``, ``"min"`` or ``"max"`` (see :func:`monitor_mode`).
        save_freq: ``"epoch"`` to save at each epoch end, or an int ``n`` to save every
            ``n`` batches. Batch hooks carry no logs, so an integer ``save_freq``
            cannot be combined with ``save_best_only`` or log keys in ``filepath``.
        initial_value_threshold: a value the first saved one must beat (with
            ``save_best_only``).

    Example::

        checkpoint = fx.callbacks.ModelCheckpoint(
            "best.weights", monitor="val_accuracy", save_best_only=True, save_weights_only=True)
        model.fit(x, y, validation_split=0.2, epochs=50, callbacks=[checkpoint])
        model.load_weights("best.weights")
    """

    primary_only = True  # several ranks: rank 0 writes the file

    def __init__(self, filepath, monitor: str = "val_loss", verbose: int = 0,
                 save_best_only: bool = False, save_weights_only: bool = False,
                 mode: str = "auto", save_freq="epoch", initial_value_threshold: float | None = None):
        super().__init__(monitor, mode, 0.0)
        self.filepath = _check_path(filepath, "filepath")
        self.verbose = check_verbose(verbose)
        self.save_best_only = bool(save_best_only)
        self.save_weights_only = bool(save_weights_only)
        if save_freq != "epoch":
            if isinstance(save_freq, bool) or not isinstance(save_freq, numbers.Integral) or save_freq < 1:
                raise ValueError(f"save_freq must be 'epoch' or an int >= 1, got {save_freq!r}")
            if self.save_best_only:
                raise ValueError(
                    "save_best_only needs save_freq='epoch': flexnet's batch hooks carry no logs, "
                    f"so {monitor!r} is only known at epoch end"
                )
            save_freq = int(save_freq)
        self.save_freq = save_freq
        self.initial_value_threshold = (
            None if initial_value_threshold is None
            else _check_real(initial_value_threshold, "initial_value_threshold")
        )
        self.best = self.initial_value_threshold
        self._epoch = 0
        self._batches_since_save = 0

    def on_train_begin(self, logs=None):
        method = "save_weights" if self.save_weights_only else "save"
        if not callable(getattr(self.model, method, None)):
            raise ValueError(
                f"ModelCheckpoint(save_weights_only={self.save_weights_only}) calls model.{method}(), "
                f"which {type(self.model).__name__} does not have"
            )

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        self._batches_since_save += 1
        if self._batches_since_save >= self.save_freq:
            self._batches_since_save = 0
            self._save(self._epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, None, logs)

    def _file_path(self, epoch: int, batch: int | None, logs: dict) -> str:
        fields = {**logs, "epoch": epoch + 1}
        if batch is not None:
            fields["batch"] = batch + 1
        try:
            return self.filepath.format_map(fields)
        except KeyError as exc:
            raise ValueError(
                f"ModelCheckpoint filepath {self.filepath!r} names {{{exc.args[0]}}}, which is not "
                f"available here; it can use {sorted(fields)}"
            ) from None
        except (IndexError, ValueError) as exc:
            raise ValueError(f"cannot format ModelCheckpoint filepath {self.filepath!r}: {exc}") from None

    def _save(self, epoch: int, batch: int | None, logs) -> None:
        logs = logs or {}
        path = self._file_path(epoch, batch, logs)
        current = None
        if self.save_best_only:
            current = self.get_monitor_value(logs, "the model is saved anyway, as Keras does")
        if current is not None:
            best = "None" if self.best is None else f"{self.best:.5f}"
            if not self._is_improvement(current, self.best):
                if self.verbose:
                    print(f"Epoch {epoch + 1}: {self.monitor} did not improve from {best}")
                return
            if self.verbose:
                print(f"Epoch {epoch + 1}: {self.monitor} improved from {best} to {current:.5f}, "
                      f"saving model to {path}")
            self.best = current
        elif self.verbose:
            print(f"Epoch {epoch + 1}: saving model to {path}")
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)

    def get_config(self) -> dict:
        return {
            "filepath": self.filepath, "monitor": self.monitor, "verbose": self.verbose,
            "save_best_only": self.save_best_only, "save_weights_only": self.save_weights_only,
            "mode": self.mode, "save_freq": self.save_freq,
            "initial_value_threshold": self.initial_value_threshold,
        }
