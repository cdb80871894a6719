"""Callbacks: code that runs at the start and end of training, epochs and batches.

Epoch logs hold Python floats (read from the device once per epoch). Batch
hooks get no values, so that training never waits for the device; read
metrics in ``on_epoch_end``.

Besides the progress display and :class:`History`, this module has Keras's
callbacks: :class:`EarlyStopping`, :class:`ModelCheckpoint`,
:class:`LearningRateScheduler`, :class:`ReduceLROnPlateau`,
:class:`TerminateOnNaN`, :class:`CSVLogger` and :class:`LambdaCallback`.
Two differences from Keras, both on purpose: a monitored key missing from the
epoch logs raises ``ValueError`` (Keras warns and does nothing), and
:class:`TerminateOnNaN` acts at the end of an epoch (flexnet reads the loss
once per epoch).
"""

from __future__ import annotations

import csv
import inspect
import math
import numbers
import os
import sys

from flexnet.registry import Kind

__all__ = [
    "CALLBACKS",
    "CSVLogger",
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "History",
    "LambdaCallback",
    "LearningRateScheduler",
    "ModelCheckpoint",
    "MonitorCallback",
    "ProgressBar",
    "ReduceLROnPlateau",
    "TerminateOnNaN",
    "monitor_mode",
]


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


@CALLBACKS.register()
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

    def plot(self, keys=None, *, axes=None, figsize=None, title: str | None = None):
        """Plot the curves of training: one axis per quantity, with its ``val_`` twin.

        Each quantity (``loss``, each metric, any other logged value such as
        ``learning_rate``) gets one axis, in the order it was first logged; the
        training value is a solid line and its ``val_`` twin, when there is one, a
        dashed line on the same axis. The x axis counts epochs from 1. Needs
        matplotlib (``pip install matplotlib``, or flexnet's ``examples`` extra),
        which is imported only here.

        Args:
            keys: the quantities to plot, named without ``val_``, e.g.
                ``["loss", "accuracy"]``; default all of them.
            axes: matplotlib axes to draw on, one per quantity (a single ``Axes``
                for one quantity); default a new figure with up to three axes a row.
            figsize: ``(width, height)`` in inches of the new figure; default 4.5 by
                3.5 per axis.
            title: the figure's title.

        Returns:
            ``(fig, axes)``: the matplotlib figure and the list of axes, one per quantity.

        Raises:
            ImportError: matplotlib is not installed.
            ValueError: nothing was recorded, an unknown key, or too few ``axes``.

        Example::

            history = model.fit(x, y, validation_split=0.2, epochs=30, verbose=0)
            fig, axes = history.plot()            # loss and val_loss, accuracy and val_accuracy
            fig.savefig("curves.png")
        """
        try:
            import matplotlib.pyplot as plt
            from matplotlib.ticker import MaxNLocator
        except ImportError as exc:
            raise ImportError(
                "History.plot() needs matplotlib, which is not installed: pip install matplotlib "
                f"(or pip install flexnet[examples]); {exc}"
            ) from None
        if not self.history:
            raise ValueError("nothing to plot: the history is empty (fit has not run an epoch)")
        quantities = []
        for key in self.history:
            base = key[4:] if key.startswith("val_") else key
            if key.startswith("val_") and base not in self.history:
                base = key  # a val_ value without a training twin is its own quantity
            if base not in quantities:
                quantities.append(base)
        if keys is not None:
            keys = [keys] if isinstance(keys, str) else list(keys)
            unknown = [k for k in keys if k not in quantities]
            if unknown:
                raise ValueError(f"no {unknown} in the history; it holds {quantities}")
            quantities = keys
        if axes is None:
            ncols = min(len(quantities), 3)
            nrows = -(-len(quantities) // ncols)
            fig, grid = plt.subplots(nrows, ncols, squeeze=False, layout="constrained",
                                     figsize=figsize or (4.5 * ncols, 3.5 * nrows))
            grid = list(grid.flat)
            for extra in grid[len(quantities):]:
                extra.remove()
            axes = grid[: len(quantities)]
        else:
            axes = [axes] if hasattr(axes, "plot") else list(axes)
            if len(axes) < len(quantities):
                raise ValueError(f"got {len(axes)} axes for {len(quantities)} quantities {quantities}")
            axes = axes[: len(quantities)]
            fig = axes[0].figure
        for ax, quantity in zip(axes, quantities):
            twin = "val_" + quantity
            for key, style in ((quantity, "-"), (twin, "--")):
                values = self.history.get(key)
                if values is None:
                    continue
                epochs = ([e + 1 for e in self.epoch] if len(values) == len(self.epoch)
                          else list(range(1, len(values) + 1)))
                ax.plot(epochs, values, style, marker="o" if len(values) <= 30 else None,
                        markersize=3, label=key)
            ax.set_title(quantity)
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(True, alpha=0.3)
            ax.legend()
        if title is not None:
            fig.suptitle(title)
        return fig, axes


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


@CALLBACKS.register()
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


# ----------------------------------------------------------------------
# Argument checks shared by the callbacks below.
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


# ----------------------------------------------------------------------
# Watching one value of the epoch logs.
_MAXIMIZED = ("acc", "auc", "precision", "recall")


def monitor_mode(monitor: str, mode: str = "auto") -> str:
    """Whether a monitored value improves by going down (``"min"``) or up (``"max"``).

    The ``"auto"`` rule, shared by :class:`EarlyStopping`, :class:`ModelCheckpoint`
    and :class:`ReduceLROnPlateau`: ``"max"`` when the name contains ``acc``,
    ``auc``, ``precision`` or ``recall`` (``accuracy``, ``val_auc``, ...), else
    ``"min"`` (``loss``, ``val_loss``, ``mae``, ...).

    Args:
        monitor: a key of the epoch logs, e.g. ``"val_loss"``.
        mode: ``"auto"``, ``"min"`` or ``"max"``.

    Returns:
        ``"min"`` or ``"max"``.

    Example:
        >>> monitor_mode("val_accuracy"), monitor_mode("val_loss"), monitor_mode("mae", "max")
        ('max', 'min', 'max')
    """
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode != "auto":
        return mode
    name = monitor.lower()
    return "max" if any(word in name for word in _MAXIMIZED) else "min"


class MonitorCallback(Callback):
    """Base of callbacks that watch one value of the epoch logs.

    A value ``current`` improves on a reference ``best`` when
    ``current < best - min_delta`` (mode ``"min"``) or ``current > best + min_delta``
    (mode ``"max"``); any value improves on ``best=None``, and NaN never improves.

    If ``monitor`` is not in the epoch logs, :meth:`get_monitor_value` raises
    ``ValueError`` listing the keys that are there (Keras warns and skips, which
    hides a misspelt name or a missing ``validation_data``).

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
        self.direction = monitor_mode(monitor, mode)

    def _is_improvement(self, current: float, reference: float | None) -> bool:
        if reference is None:
            return not math.isnan(current)
        if self.direction == "min":
            return current + self.min_delta < reference
        return current - self.min_delta > reference

    def get_monitor_value(self, logs) -> float:
        """``logs[monitor]`` as a float; ``ValueError`` naming the available keys if absent."""
        logs = logs or {}
        if self.monitor not in logs:
            hint = ""
            if self.monitor.startswith("val_"):
                hint = " (val_ keys need validation_data or validation_split in fit)"
            raise ValueError(
                f"{type(self).__name__} monitors {self.monitor!r}, which is not in the epoch logs"
                f"{hint}; available keys: {sorted(logs)}"
            )
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
        monitor: the key to watch (default ``"val_loss"``). A missing key raises
            ``ValueError`` at the first epoch end.
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
        current = self.get_monitor_value(logs)
        if epoch < self.start_from_epoch:
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
        monitor: the key compared when ``save_best_only`` (default ``"val_loss"``);
            a missing key raises ``ValueError`` at the first epoch end.
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
        if self.save_best_only:
            current = self.get_monitor_value(logs)
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


# ----------------------------------------------------------------------
# Learning rate.
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
        monitor: the key to watch (default ``"val_loss"``); a missing key raises
            ``ValueError`` at the first epoch end.
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
        current = self.get_monitor_value(logs)
        logs["learning_rate"] = rate
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


# ----------------------------------------------------------------------
# Logging and hooks.
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
