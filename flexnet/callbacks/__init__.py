"""Callbacks: code that runs at the start and end of training, epochs and batches.

Epoch logs hold Python floats (read from the device once per epoch). Batch
hooks get no values, so that training never waits for the device; read
metrics in ``on_epoch_end``.

Besides the progress display and :class:`History`, this package has Keras's
callbacks: :class:`EarlyStopping`, :class:`ModelCheckpoint`,
:class:`LearningRateScheduler`, :class:`ReduceLROnPlateau`,
:class:`TerminateOnNaN`, :class:`CSVLogger` and :class:`LambdaCallback`.
As in Keras, a monitored key missing from the epoch logs gives a ``UserWarning``
that names the keys there, and the callback skips that epoch. One difference, on
purpose: :class:`TerminateOnNaN` acts at the end of an epoch (flexnet reads the loss
once per epoch).

``base.py`` holds the base class, the list that calls the hooks and
:class:`LambdaCallback`; ``history.py``, ``progress.py``, ``monitor.py`` (watching
one logged value, early stopping), ``checkpoint.py``, ``learning_rate.py`` and
``logs.py`` (NaN, CSV) one family each.
"""

from flexnet.callbacks.base import CALLBACKS, Callback, CallbackList, LambdaCallback
from flexnet.callbacks.base import as_callback_list as as_callback_list  # for Model's fit (not public)
from flexnet.callbacks.base import check_verbose as check_verbose  # for Model's fit (not public)
from flexnet.callbacks.checkpoint import ModelCheckpoint
from flexnet.callbacks.history import History
from flexnet.callbacks.learning_rate import LearningRateScheduler, ReduceLROnPlateau
from flexnet.callbacks.logs import CSVLogger, TerminateOnNaN
from flexnet.callbacks.monitor import EarlyStopping, MonitorCallback, monitor_mode
from flexnet.callbacks.progress import ProgressBar
from flexnet.callbacks.progress import format_logs as format_logs  # for Model's fit (not public)
from flexnet.callbacks.progress import progress as progress  # for Model's evaluate, predict (not public)

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
