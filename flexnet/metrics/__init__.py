"""Metrics: per-sample scores and confusion counts accumulated on the device, read back once per epoch.

A metric sums into device arrays during an epoch (``update``), and ``result()``
turns the sums into a Python float once, so training never waits for the device
between batches. Each also has Keras's API (``update_state``, ``result``,
``reset_state``, ``metric(y_true, y_pred)``) for use on its own. ``"accuracy"`` picks the
binary, categorical or sparse variant from the loss, as in Keras; the name of a loss gives
the mean of that loss (:class:`MeanMetricWrapper`). Every update takes optional per-sample
weights.

The base class is in ``base.py``; the metrics in ``accuracy.py``, ``regression.py``,
``confusion.py`` (precision, recall, AUC) and ``fscore.py``.
"""

from __future__ import annotations

from flexnet import losses as losses_module
from flexnet.metrics.accuracy import (
    BinaryAccuracy,
    CategoricalAccuracy,
    SparseCategoricalAccuracy,
    SparseTopKCategoricalAccuracy,
    TopKCategoricalAccuracy,
)
from flexnet.metrics.base import METRICS, MeanMetricWrapper, Metric
from flexnet.metrics.confusion import AUC, ConfusionMetric, Precision, Recall
from flexnet.metrics.fscore import F1Score, FBetaScore
from flexnet.metrics.regression import (
    CosineSimilarity,
    MeanAbsoluteError,
    MeanSquaredError,
    R2Score,
    RootMeanSquaredError,
)

__all__ = [
    "AUC",
    "METRICS",
    "BinaryAccuracy",
    "CategoricalAccuracy",
    "ConfusionMetric",
    "CosineSimilarity",
    "F1Score",
    "FBetaScore",
    "MeanAbsoluteError",
    "MeanMetricWrapper",
    "MeanSquaredError",
    "Metric",
    "Precision",
    "R2Score",
    "Recall",
    "RootMeanSquaredError",
    "SparseCategoricalAccuracy",
    "SparseTopKCategoricalAccuracy",
    "TopKCategoricalAccuracy",
    "get",
]

_ACCURACY_BY_LOSS = {
    losses_module.BinaryCrossentropy: BinaryAccuracy,
    losses_module.BinaryFocalCrossentropy: BinaryAccuracy,
    losses_module.CategoricalCrossentropy: CategoricalAccuracy,
    losses_module.CategoricalFocalCrossentropy: CategoricalAccuracy,
    losses_module.SparseCategoricalCrossentropy: SparseCategoricalAccuracy,
}


def get(identifier, loss=None, output_units: int | None = None) -> Metric:
    """A metric from a name, an instance, a class, a config, or a loss.

    ``"accuracy"`` (or ``"acc"``) becomes binary, categorical or sparse
    categorical accuracy according to ``loss``; for other losses, binary when the
    output has one unit, else categorical. Other names (case-insensitive) are the
    keys of :data:`METRICS`: ``"precision"``, ``"recall"``, ``"auc"``, ``"mse"``...
    A loss (its name, ``"binary_crossentropy"``, or a :class:`~flexnet.losses.Loss`)
    gives the mean of that loss, named as given, as Keras's ``MeanMetricWrapper``.

    Raises:
        ValueError: a name that is neither a metric's nor a loss's, listing the valid ones.
        TypeError: anything else.
    """
    if isinstance(identifier, str) and identifier.lower() in ("accuracy", "acc"):
        cls = _ACCURACY_BY_LOSS.get(type(loss))
        if cls is None:
            cls = BinaryAccuracy if output_units == 1 else CategoricalAccuracy
        return cls(name=identifier)
    if isinstance(identifier, losses_module.Loss) or (
            isinstance(identifier, type) and issubclass(identifier, losses_module.Loss)):
        return MeanMetricWrapper(identifier)
    if isinstance(identifier, str) and METRICS.find(identifier) is None \
            and losses_module.LOSSES.find(identifier) is not None:
        return MeanMetricWrapper(identifier, name=identifier)
    try:
        metric = METRICS.resolve(identifier)
    except ValueError as exc:
        if not isinstance(identifier, str):
            raise
        raise ValueError(f"{exc}; the name of a loss works too (the mean of that loss), e.g. "
                         "'binary_crossentropy'") from None
    if isinstance(identifier, str):
        metric.name = identifier
    return metric
