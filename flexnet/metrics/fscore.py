"""F-scores: the weighted harmonic mean of precision and recall per class, averaged or not,
as Keras 3's ``FBetaScore`` and ``F1Score``.
"""

from __future__ import annotations

import math
import numbers

import array_api_compat

from flexnet.metrics.base import METRICS, _host, _ratio, _Totals, dense_targets, entry_weights

__all__ = ["F1Score", "FBetaScore"]

AVERAGES = (None, "micro", "macro", "weighted")


@METRICS.register("fbeta_score")
class FBetaScore(_Totals):
    """F-beta score per class, ``F_β = (1 + β²) P R / (β² P + R)`` with precision ``P`` and
    recall ``R`` from (weighted) counts summed on the device over every batch.

    Targets are one-hot (or multi-label) ``(n, C)``, or integer labels ``(n,)`` that are
    one-hot encoded. A prediction is positive where ``P > threshold``; with
    ``threshold=None`` the largest output of each sample is (Keras's rule: every output
    equal to the row's maximum, if it is not 0). Per class ``c``, with weights ``w``:
    ``TP_c = Σ w ŷ y``, ``FP_c = Σ w ŷ (1-y)``, ``FN_c = Σ w (1-ŷ) y``. A ratio with a zero
    denominator is 0 (scikit-learn's ``zero_division=0``; Keras adds ``ε = 1e-7`` to the
    denominators instead, which moves the value by about ``1e-7``).

    Args:
        average: ``None`` (one score per class: ``result()`` is an array), ``"micro"``
            (counts pooled over the classes), ``"macro"`` (the mean of the class scores) or
            ``"weighted"`` (their mean weighted by each class's (weighted) number of
            positive targets). ``sklearn.metrics.fbeta_score`` has the same choices.
        beta: ``β > 0``; recall counts ``β`` times as much as precision.
        threshold: in ``(0, 1]``, or ``None`` for the largest output.
        name: the name shown in logs.

    Example:
        >>> import numpy as np
        >>> m = FBetaScore(beta=2.0, threshold=0.5)   # Keras's docstring
        >>> y = np.array([[1, 1, 1], [1, 0, 0], [1, 1, 0]])
        >>> p = np.array([[0.2, 0.6, 0.7], [0.2, 0.6, 0.6], [0.6, 0.8, 0.0]])
        >>> np.round(m(y, p), 6)
        array([0.384615, 0.909091, 0.833333])
    """

    name = "fbeta_score"

    def __init__(self, average: str | None = None, beta: float = 1.0, threshold: float | None = None,
                 name: str | None = None):
        if average not in AVERAGES:
            raise ValueError(f"average must be one of {AVERAGES}, got {average!r}")
        if isinstance(beta, bool) or not isinstance(beta, numbers.Real) or not (
                math.isfinite(beta) and beta > 0.0):
            raise ValueError(f"beta must be a finite number > 0, got {beta!r}")
        if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, numbers.Real)
                                      or not 0.0 < threshold <= 1.0):
            raise ValueError(f"threshold must be a number in (0, 1] or None, got {threshold!r}")
        self.average = average
        self.beta = float(beta)
        self.threshold = None if threshold is None else float(threshold)
        super().__init__(name)

    def reset(self) -> None:
        self._counts = None  # (4, C): TP, FP, FN and the weight of the positive targets

    def _sum_shapes(self) -> dict:
        return {"_counts": None}  # C: known after an update

    def _targets(self, xp, y, P):
        if P.ndim == 2 and y.ndim == 1 and xp.isdtype(y.dtype, "integral") and P.shape[1] > 1:
            classes = xp.arange(P.shape[1], dtype=y.dtype, device=array_api_compat.device(y))
            y = xp.astype(y[:, None] == classes, P.dtype)
        y, P = dense_targets(self, xp, y, P)
        if P.ndim != 2:
            raise ValueError(f"{self.name}: needs predictions of shape (n, classes), got {tuple(P.shape)}")
        return y, P

    def update(self, xp, y, P, sample_weight=None) -> None:
        """Add a batch's counts (no device read); weights one per sample or one per entry."""
        y, P = self._targets(xp, y, P)
        if self.threshold is None:
            top = P >= xp.max(P, axis=-1, keepdims=True)
            predicted = xp.astype(top & (xp.abs(P) > 1e-9), P.dtype)
        else:
            predicted = xp.astype(P > self.threshold, P.dtype)
        if sample_weight is not None:
            w = entry_weights(xp, sample_weight, P)
            y_w, predicted_w = y * w, predicted * w
        else:
            y_w, predicted_w = y, predicted
        tp = xp.sum(predicted_w * y, axis=0)
        counts = xp.stack([tp, xp.sum(predicted_w, axis=0) - tp, xp.sum(y_w, axis=0) - tp,
                           xp.sum(y_w, axis=0)])
        self._counts = counts if self._counts is None else self._counts + counts

    def _scores(self, xp):
        tp, fp, fn, support = (self._counts[i, ...] for i in range(4))
        if self.average == "micro":
            tp, fp, fn = xp.sum(tp), xp.sum(fp), xp.sum(fn)
        precision, recall = _ratio(xp, tp, tp + fp), _ratio(xp, tp, tp + fn)
        b2 = self.beta * self.beta
        f = _ratio(xp, (1.0 + b2) * precision * recall, b2 * precision + recall)
        if self.average == "weighted":
            return _ratio(xp, xp.sum(f * support), xp.sum(support))
        if self.average == "macro":
            return xp.mean(f)
        return f

    def result(self):
        """The score so far: a float, or a float64 array per class for ``average=None`` (one
        device read); NaN before any update."""
        if self._counts is None:
            return float("nan")
        return _host(self._scores(array_api_compat.array_namespace(self._counts)))

    def get_config(self) -> dict:
        return {**super().get_config(), "average": self.average, "beta": self.beta,
                "threshold": self.threshold}


@METRICS.register("f1_score")
class F1Score(FBetaScore):
    """F1 score, the harmonic mean of precision and recall per class: :class:`FBetaScore` with
    ``β = 1`` (``keras.metrics.F1Score``, ``sklearn.metrics.f1_score``).

    Args:
        average: ``None``, ``"micro"``, ``"macro"`` or ``"weighted"`` (see :class:`FBetaScore`).
        threshold: in ``(0, 1]``, or ``None`` for the largest output.
        name: the name shown in logs.

    Example:
        >>> import numpy as np
        >>> m = F1Score(threshold=0.5)   # Keras's docstring
        >>> y = np.array([[1, 1, 1], [1, 0, 0], [1, 1, 0]])
        >>> p = np.array([[0.2, 0.6, 0.7], [0.2, 0.6, 0.6], [0.6, 0.8, 0.0]])
        >>> np.round(m(y, p), 6)
        array([0.5     , 0.8     , 0.666667])
    """

    name = "f1_score"

    def __init__(self, average: str | None = None, threshold: float | None = None,
                 name: str | None = None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["beta"]
        return config
