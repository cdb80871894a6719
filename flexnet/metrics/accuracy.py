"""Accuracies: binary (at a threshold), categorical and sparse categorical (the largest output),
and top-k (the true class among the ``k`` largest outputs), as Keras 3 defines them.
"""

from __future__ import annotations

import numbers

import array_api_compat

from flexnet.metrics.base import METRICS, Metric, dense_targets, sparse_targets

__all__ = ["BinaryAccuracy", "CategoricalAccuracy", "SparseCategoricalAccuracy",
           "SparseTopKCategoricalAccuracy", "TopKCategoricalAccuracy"]


def _check_k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"k must be an int >= 1, got {k!r}")
    return int(k)


def _in_top_k(xp, P, labels, k: int):
    """1 where ``labels`` is among the ``k`` largest entries of its row, as Keras's
    ``in_top_k``: fewer than ``k`` entries are strictly larger, so ties at the ``k``-th
    value all count. In ``P``'s dtype, shape ``(n,)``."""
    rows = xp.arange(P.shape[0], device=array_api_compat.device(P))
    true_score = P[rows, labels]
    larger = xp.sum(xp.astype(P > true_score[:, None], P.dtype), axis=-1)
    return xp.astype(larger < k, P.dtype)


@METRICS.register("binary_accuracy")
class BinaryAccuracy(Metric):
    """Fraction of outputs on the right side of ``threshold``, averaged over the outputs of
    each sample: a prediction is positive when ``P > threshold`` (strictly, as Keras and
    ``torchmetrics``: ``P = threshold`` is negative), a target when ``y > threshold``.

    Args:
        threshold: the decision threshold.
        name: the name shown in logs.
    """

    name = "accuracy"

    def __init__(self, threshold: float = 0.5, name=None):
        self.threshold = float(threshold)
        super().__init__(name)

    def targets(self, xp, y, P):
        return dense_targets(self, xp, y, P)

    def values(self, xp, y, P):
        hit = (P > self.threshold) == (y > self.threshold)
        return xp.mean(xp.astype(hit, P.dtype), axis=-1)

    def get_config(self) -> dict:
        return {**super().get_config(), "threshold": self.threshold}


@METRICS.register("categorical_accuracy")
class CategoricalAccuracy(Metric):
    """Fraction of samples whose largest output is the one-hot target's class (the first
    largest on ties, as ``argmax``)."""

    name = "accuracy"

    def targets(self, xp, y, P):
        return dense_targets(self, xp, y, P)

    def values(self, xp, y, P):
        return xp.astype(xp.argmax(P, axis=-1) == xp.argmax(y, axis=-1), P.dtype)


@METRICS.register("sparse_categorical_accuracy")
class SparseCategoricalAccuracy(Metric):
    """Fraction of samples whose largest output is the integer label (labels ``(n,)`` or
    ``(n, 1)``)."""

    name = "accuracy"

    def targets(self, xp, y, P):
        return sparse_targets(self, xp, y, P)

    def values(self, xp, y, P):
        return xp.astype(xp.argmax(P, axis=-1) == y, P.dtype)


@METRICS.register("top_k_categorical_accuracy")
class TopKCategoricalAccuracy(Metric):
    """Fraction of samples whose one-hot target's class is among the ``k`` largest outputs
    (``keras.metrics.TopKCategoricalAccuracy``; outputs tied with the ``k``-th largest count
    as inside).

    Args:
        k: how many of the largest outputs count.
        name: the name shown in logs.

    Example:
        >>> m = TopKCategoricalAccuracy(k=1)
        >>> m([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0.0]])
        0.5
    """

    name = "top_k_categorical_accuracy"

    def __init__(self, k: int = 5, name: str | None = None):
        self.k = _check_k(k)
        super().__init__(name)

    def targets(self, xp, y, P):
        y, P = dense_targets(self, xp, y, P)
        if P.ndim != 2:
            raise ValueError(f"{self.name}: needs predictions of shape (n, classes), got {tuple(P.shape)}")
        return y, P

    def values(self, xp, y, P):
        return _in_top_k(xp, P, xp.argmax(y, axis=-1), self.k)

    def get_config(self) -> dict:
        return {**super().get_config(), "k": self.k}


@METRICS.register("sparse_top_k_categorical_accuracy")
class SparseTopKCategoricalAccuracy(Metric):
    """Fraction of samples whose integer label is among the ``k`` largest outputs
    (``keras.metrics.SparseTopKCategoricalAccuracy``).

    With ``from_sorted_ids=True`` the predictions are class ids, best first, shape
    ``(n, N)`` with ``N ≥ k``: a sample counts when its label is among the first ``k``.

    Args:
        k: how many of the largest outputs count.
        name: the name shown in logs.
        from_sorted_ids: the predictions are sorted class ids rather than scores.

    Example:
        >>> m = SparseTopKCategoricalAccuracy(k=1)
        >>> m([2, 1], [[0.1, 0.9, 0.8], [0.05, 0.95, 0.0]])
        0.5
    """

    name = "sparse_top_k_categorical_accuracy"

    def __init__(self, k: int = 5, name: str | None = None, from_sorted_ids: bool = False):
        self.k = _check_k(k)
        if not isinstance(from_sorted_ids, bool):
            raise TypeError(f"from_sorted_ids must be True or False, got {from_sorted_ids!r}")
        self.from_sorted_ids = from_sorted_ids
        super().__init__(name)

    def targets(self, xp, y, P):
        return sparse_targets(self, xp, y, P)

    def values(self, xp, y, P):
        if not self.from_sorted_ids:
            return _in_top_k(xp, P, y, self.k)
        ids = P[:, :self.k]
        return xp.astype(xp.any(ids == xp.astype(y, P.dtype)[:, None], axis=-1), P.dtype)

    def get_config(self) -> dict:
        return {**super().get_config(), "k": self.k, "from_sorted_ids": self.from_sorted_ids}
