"""Metrics: per-sample scores accumulated on the device, read back once per epoch.

A metric sums per-sample values into a 0-d device array during an epoch
(``update``), and ``result()`` turns the sum into a Python float once, so
training never waits for the device between batches. ``"accuracy"`` picks the
binary, categorical or sparse variant from the loss, as in Keras.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from flexnet import losses as losses_module
from flexnet.registry import resolve

__all__ = [
    "BinaryAccuracy",
    "CategoricalAccuracy",
    "MeanAbsoluteError",
    "MeanSquaredError",
    "Metric",
    "SparseCategoricalAccuracy",
    "get",
]


class Metric(ABC):
    """Base class: the mean over all samples seen since :meth:`reset` of ``values(xp, y, P)``.

    Subclasses set ``name`` and implement :meth:`values` (per-sample scores, shape
    ``(n,)``, in ``P``'s dtype). ``y`` has been prepared by the model's loss.
    """

    name = "metric"

    def __init__(self, name: str | None = None):
        if name is not None:
            self.name = name
        self.reset()

    @abstractmethod
    def values(self, xp, y, P):
        """Per-sample scores, shape ``(n,)``."""

    def reset(self) -> None:
        self._total = None
        self._count = 0

    def update(self, xp, y, P) -> None:
        """Add a batch (no device synchronisation)."""
        batch = xp.sum(self.values(xp, y, P))
        self._total = batch if self._total is None else self._total + batch
        self._count += P.shape[0]

    def result(self) -> float:
        """The mean so far, as a Python float (one device read)."""
        if self._count == 0:
            return float("nan")
        return float(self._total) / self._count

    def get_config(self) -> dict:
        return {"name": self.name}


class BinaryAccuracy(Metric):
    """Fraction of outputs on the right side of ``threshold`` (``P > t`` vs ``y > t``),
    averaged over outputs."""

    name = "accuracy"

    def __init__(self, threshold: float = 0.5, name=None):
        self.threshold = float(threshold)
        super().__init__(name)

    def values(self, xp, y, P):
        hit = (P > self.threshold) == (y > self.threshold)
        return xp.mean(xp.astype(hit, P.dtype), axis=-1)


class CategoricalAccuracy(Metric):
    """Fraction of samples whose largest output is the one-hot target's class."""

    name = "accuracy"

    def values(self, xp, y, P):
        return xp.astype(xp.argmax(P, axis=-1) == xp.argmax(y, axis=-1), P.dtype)


class SparseCategoricalAccuracy(Metric):
    """Fraction of samples whose largest output is the integer label."""

    name = "accuracy"

    def values(self, xp, y, P):
        return xp.astype(xp.argmax(P, axis=-1) == y, P.dtype)


class MeanSquaredError(Metric):
    """Mean over samples and outputs of ``(P - y)²``."""

    name = "mse"

    def values(self, xp, y, P):
        D = P - y
        return xp.mean(D * D, axis=-1)


class MeanAbsoluteError(Metric):
    """Mean over samples and outputs of ``|P - y|``."""

    name = "mae"

    def values(self, xp, y, P):
        return xp.mean(xp.abs(P - y), axis=-1)


#: Name -> metric class. "accuracy"/"acc" are resolved from the loss by :func:`get`.
METRICS: dict[str, type[Metric]] = {
    "binary_accuracy": BinaryAccuracy,
    "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "mse": MeanSquaredError,
    "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError,
    "mean_absolute_error": MeanAbsoluteError,
}

_ACCURACY_BY_LOSS = {
    losses_module.BinaryCrossentropy: BinaryAccuracy,
    losses_module.CategoricalCrossentropy: CategoricalAccuracy,
    losses_module.SparseCategoricalCrossentropy: SparseCategoricalAccuracy,
}


def get(identifier, loss=None, output_units: int | None = None) -> Metric:
    """A metric from a name or an instance.

    ``"accuracy"`` (or ``"acc"``) becomes binary, categorical or sparse
    categorical accuracy according to ``loss``; for other losses, binary when the
    output has one unit, else categorical.
    """
    if isinstance(identifier, str) and identifier.lower() in ("accuracy", "acc"):
        cls = _ACCURACY_BY_LOSS.get(type(loss))
        if cls is None:
            cls = BinaryAccuracy if output_units == 1 else CategoricalAccuracy
        return cls(name=identifier)
    if isinstance(identifier, str) and identifier.lower() not in METRICS:
        valid = sorted([*METRICS, "accuracy", "acc"])
        raise ValueError(f"unknown metric {identifier!r}; valid names are {valid}")
    metric = resolve(identifier, METRICS, Metric, "metric")
    if isinstance(identifier, str):
        metric.name = identifier
    return metric
