"""Watching one value of the epoch logs: :func:`monitor_mode`, the base class
:class:`MonitorCallback`, and :class:`EarlyStopping`.
"""

from __future__ import annotations

import math
import re
import warnings

from flexnet.callbacks.base import CALLBACKS, Callback, _check_int, _check_real, check_verbose

__all__ = ["EarlyStopping", "MonitorCallback", "monitor_mode"]


#: Metrics that are better when higher (Keras's ``_direction = "up"``): accuracies, AUC,
#: precision and recall (and their ``_at_`` kin), F-scores, R², IoU, similarities.
_MAXIMIZED = ("acc", "accuracy", "auc", "precision", "recall", "sensitivity", "specificity",
              "f1_score", "fbeta_score", "r2_score", "iou", "cosine_similarity", "correlation",
              "true_positives", "true_negatives")


def monitor_mode(monitor: str, mode: str = "auto", metrics=()) -> str:
    """Whether a monitored value improves by going down (``"min"``) or up (``"max"``).

    The ``"auto"`` rule, shared by :class:`EarlyStopping`, :class:`ModelCheckpoint` and
    :class:`ReduceLROnPlateau`, follows Keras 3's ``MonitorCallback``: with the ``val_``
    prefix removed, ``loss`` (and each output's ``<output>_loss``) is minimised; a metric
    of the model with that name decides when it has a ``direction`` (``"up"`` or
    ``"down"``, Keras's ``_direction``); other names are maximised when they name a
    metric that is better when higher (Keras's ``"up"`` metrics: ``acc`` and every
    ``*accuracy`` (``categorical_accuracy``, ``top_k_categorical_accuracy``, ...),
    ``auc``, ``precision``, ``recall``, ``f1_score``, ``fbeta_score``, ``r2_score``,
    ``iou``, ``cosine_similarity``, ...), also after an output's name
    (``dense_1_accuracy``) or with a number after them (``auc_1``), and minimised
    otherwise (Keras raises for a name it cannot place).

    Args:
        monitor: a key of the epoch logs, e.g. ``"val_loss"``.
        mode: ``"auto"``, ``"min"`` or ``"max"``.
        metrics: the model's metric objects (``model.metrics``), consulted by name.

    Returns:
        ``"min"`` or ``"max"``.

    Example:
        >>> monitor_mode("val_accuracy"), monitor_mode("val_loss"), monitor_mode("mae", "max")
        ('max', 'min', 'max')
        >>> monitor_mode("val_top_k_categorical_accuracy"), monitor_mode("r2_score")
        ('max', 'max')
    """
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode != "auto":
        return mode
    name = monitor.removeprefix("val_")
    if name == "loss" or name.endswith("_loss"):
        return "min"
    for metric in metrics:
        direction = getattr(metric, "direction", None)
        if direction in ("up", "down") and (name == metric.name or name.endswith("_" + metric.name)):
            return "max" if direction == "up" else "min"
    base = re.sub(r"_\d+$", "", name)  # auc_1, a second AUC
    return "max" if any(base == word or base.endswith("_" + word) for word in _MAXIMIZED) else "min"


class MonitorCallback(Callback):
    """Base of callbacks that watch one value of the epoch logs.

    A value ``current`` improves on a reference ``best`` when
    ``current < best - min_delta`` (mode ``"min"``) or ``current > best + min_delta``
    (mode ``"max"``); any value improves on ``best=None``, and NaN never improves.

    If ``monitor`` is not in an epoch's logs, :meth:`get_monitor_value` warns (a
    ``UserWarning`` naming the key and the keys that are there, e.g. for
    ``EarlyStopping(monitor="val_loss")`` without validation data) and returns None,
    and the callback skips that epoch, as in Keras.

    Args:
        monitor: the key to watch, e.g. ``"val_loss"`` or ``"accuracy"``.
        mode: ``"auto"``, ``"min"`` or ``"max"`` (see :func:`monitor_mode`).
        min_delta: the smallest change that counts as an improvement (>= 0).
    """

    def __init__(self, monitor: str = "val_loss", mode: str = "auto", min_delta: float = 0.0):
        super().__init__()
        if not isinstance(monitor, str) or not monitor:
            raise TypeError(f"monitor must be a non-empty str (a key of the epoch logs), got {monitor!r}")
        self.monitor = monitor
        self.mode = mode
        self.min_delta = _check_real(min_delta, "min_delta", low=0.0)
        monitor_mode(monitor, mode)  # check the mode now
        self._direction: str | None = None

    def set_model(self, model) -> None:
        super().set_model(model)
        self._direction = None  # decided again from this model's metrics

    @property
    def direction(self) -> str:
        """``"min"`` or ``"max"``: :func:`monitor_mode` of ``monitor`` and ``mode`` among the
        model's metrics."""
        if self._direction is None:
            metrics = getattr(self.model, "metrics", None) or ()
            self._direction = monitor_mode(self.monitor, self.mode, metrics)
        return self._direction

    def _is_improvement(self, current: float, reference: float | None) -> bool:
        if reference is None:
            return not math.isnan(current)
        if self.direction == "min":
            return current + self.min_delta < reference
        return current - self.min_delta > reference

    def get_monitor_value(self, logs, skipped: str = "it does nothing at this epoch") -> float | None:
        """``logs[monitor]`` as a float; None, with a ``UserWarning`` naming the monitored key,
        the keys that are there and what the callback does instead (``skipped``), if absent."""
        logs = logs or {}
        if self.monitor not in logs:
            hint = ""
            if self.monitor.startswith("val_"):
                hint = " (val_ keys need validation_data or validation_split in fit)"
            warnings.warn(
                f"{type(self).__name__} monitors {self.monitor!r}, which is not in the epoch logs"
                f"{hint}; available keys: {sorted(logs)}; {skipped}",
                UserWarning, stacklevel=3,
            )
            return None
        return float(logs[self.monitor])


@CALLBACKS.register()
class EarlyStopping(MonitorCallback):
    """Stop training when a monitored value has stopped improving.

    At each epoch end (from ``start_from_epoch`` on) the value is compared with
    the best so far: an improvement larger than ``min_delta`` resets the wait;
    otherwise, after ``patience`` epochs without one, training stops (never after
    the very first epoch). With a ``baseline``, the wait is reset only by values
    that also beat the baseline, so training stops if the baseline is not beaten
    within ``patience`` epochs of non-improvement.

    Args:
        monitor: the key to watch (default ``"val_loss"``). An epoch whose logs lack it
            is skipped with a ``UserWarning`` (Keras's behaviour).
        min_delta: the smallest change that counts as an improvement.
        patience: epochs without improvement before stopping.
        verbose: 1 prints when training stops and when weights are restored.
        mode: ``"auto"``, ``"min"`` or ``"max"`` (see :func:`monitor_mode`).
        baseline: a value the monitored quantity must beat.
        restore_best_weights: at the end of training, set the weights back to those
            of the best epoch (with ``model.get_weights()`` / ``set_weights()``), whether
            training stopped early or not.
        start_from_epoch: epochs to let pass before watching (warm-up).

    Attributes:
        stopped_epoch: the epoch (from 0) at which training stopped, 0 if it did not.
        best: the best value seen; ``best_epoch`` the epoch it was seen.

    Example:
        >>> import numpy as np
        >>> import flexnet as fx
        >>> model = fx.Sequential([fx.layers.Dense(1, input_dim=1)])
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> stop = fx.callbacks.EarlyStopping(monitor="loss", min_delta=1e9, patience=2)
        >>> history = model.fit(np.ones((4, 1)), np.ones((4, 1)), epochs=10, verbose=0,
        ...                     callbacks=[stop])
        >>> len(history.epoch), stop.stopped_epoch
        (3, 2)
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0, patience: int = 0,
                 verbose: int = 0, mode: str = "auto", baseline: float | None = None,
                 restore_best_weights: bool = False, start_from_epoch: int = 0):
        super().__init__(monitor, mode, min_delta)
        self.patience = _check_int(patience, "patience")
        self.verbose = check_verbose(verbose)
        self.baseline = None if baseline is None else _check_real(baseline, "baseline")
        self.restore_best_weights = bool(restore_best_weights)
        self.start_from_epoch = _check_int(start_from_epoch, "start_from_epoch")
        self._reset()

    def _reset(self) -> None:
        self.wait = 0
        self.stopped_epoch = 0
        self.best: float | None = None
        self.best_epoch = 0
        self.best_weights = None

    def on_train_begin(self, logs=None):
        self._reset()  # an instance can be reused across fits

    def on_epoch_end(self, epoch, logs=None):
        current = self.get_monitor_value(logs, "early stopping skips this epoch")
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights, self.best_epoch = self.model.get_weights(), epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)

    def get_config(self) -> dict:
        return {
            "monitor": self.monitor, "min_delta": self.min_delta, "patience": self.patience,
            "verbose": self.verbose, "mode": self.mode, "baseline": self.baseline,
            "restore_best_weights": self.restore_best_weights,
            "start_from_epoch": self.start_from_epoch,
        }
