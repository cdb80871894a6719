"""Metrics from confusion counts at thresholds: precision and recall (at one threshold or
several, optionally among the top-k outputs) and the area under the ROC or PR curve.
"""

from __future__ import annotations

import math
import numbers
from abc import abstractmethod

import array_api_compat

from flexnet.metrics.base import METRICS, _host, _ratio, _Totals, align, entry_weights

__all__ = ["AUC", "ConfusionMetric", "Precision", "Recall"]

EPSILON = 1e-7  # AUC's outer thresholds are -ε and 1 + ε, as in Keras


def _top_k_mask(xp, S, k: int):
    """True for the ``k`` largest entries along the last axis (the lower index first among
    equal ones), as Keras's ``_filter_top_k`` keeps them."""
    order = xp.argsort(S, axis=-1, descending=True, stable=True)[..., :k]
    columns = xp.arange(S.shape[-1], device=array_api_compat.device(S))
    return xp.any(order[..., :, None] == columns, axis=-2)


class ConfusionMetric(_Totals):
    """Base class: (weighted) true and false positive counts at fixed thresholds.

    Every output is a separate binary decision (binary and multi-label
    classification; for softmax outputs each class column counts on its own, Keras's
    micro-average): the target is positive when ``y > 0.5`` and the prediction when
    ``P > t`` (strictly, as Keras: a score equal to a threshold is negative). Integer
    labels ``(n,)`` are one-hot encoded against the ``k`` output columns first. Per
    threshold ``t`` the update adds on the device

        ``TP_t = Σ w [y pos] [P > t]``, ``FP_t = Σ w [y neg] [P > t]``,

    and the totals of positive and negative weight (``FN = pos - TP``,
    ``TN = neg - FP``), with ``w = 1`` without sample weights. A sample weight applies to
    every output of its sample; weights shaped like the predictions weigh each entry.

    Args:
        thresholds: the thresholds ``t``, floats.
        top_k: count only the ``k`` largest outputs of each sample as predicted positive.
        class_id: count only output column ``class_id`` (``None``: all columns).
        name: the name shown in logs.
    """

    def __init__(self, thresholds, top_k: int | None = None, class_id: int | None = None,
                 name: str | None = None):
        for what, value in (("class_id", class_id), ("top_k", top_k)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < (0 if what == "class_id" else 1)):
                bound = "non-negative" if what == "class_id" else "positive"
                raise ValueError(f"{what} must be a {bound} int or None, got {value!r}")
        self.class_id = class_id
        self.top_k = top_k
        self._thresholds = tuple(float(t) for t in thresholds)
        self._device_thresholds = None  # (key, array) cache of the thresholds on the device
        super().__init__(name)

    def reset(self) -> None:
        self._counts = None  # (2, T): TP_t and FP_t
        self._totals = None  # (2,): total positive and negative weight

    def _sum_shapes(self) -> dict:
        return {"_counts": (2, len(self._thresholds)), "_totals": (2,)}

    def _thresholds_on(self, xp, P):
        device = array_api_compat.device(P)
        key = (xp, P.dtype, str(device))
        if self._device_thresholds is None or self._device_thresholds[0] != key:
            t = xp.asarray(self._thresholds, dtype=P.dtype, device=device)
            self._device_thresholds = (key, t)
        return self._device_thresholds[1]

    def _scores(self, xp, P):
        """The scores compared with the thresholds (AUC applies a sigmoid to logits)."""
        return P

    def _positives(self, xp, y, P):
        """Boolean targets shaped like ``P`` (after Keras's alignment of the ranks)."""
        y, P = align(xp, y, P, one_column=False)
        if y.ndim == P.ndim - 1 and xp.isdtype(y.dtype, "integral"):
            classes = xp.arange(P.shape[-1], dtype=y.dtype, device=array_api_compat.device(y))
            return y[..., None] == classes
        if tuple(y.shape) != tuple(P.shape):
            raise ValueError(
                f"{self.name}: targets of shape {tuple(y.shape)} do not match predictions of "
                f"shape {tuple(P.shape)}"
            )
        return (y if xp.isdtype(y.dtype, "real floating") else xp.astype(y, P.dtype)) > 0.5

    def update(self, xp, y, P, sample_weight=None) -> None:
        """Add a batch's counts (no device synchronisation); arguments as :meth:`Metric.update`,
        and weights may also be shaped like ``P`` (one per entry)."""
        pos = self._positives(xp, y, P)
        S = self._scores(xp, P)
        w = None if sample_weight is None else entry_weights(xp, sample_weight, P)
        chosen = None if self.top_k is None else _top_k_mask(xp, S, self.top_k)
        if self.class_id is not None:
            if P.ndim != 2 or self.class_id >= P.shape[1]:
                raise ValueError(
                    f"{self.name}: class_id={self.class_id} needs predictions of shape (n, k) with "
                    f"k > {self.class_id}, got {tuple(P.shape)}"
                )
            pos, S = pos[:, self.class_id], S[:, self.class_id]
            w = None if w is None else w[:, self.class_id]
            chosen = None if chosen is None else chosen[:, self.class_id]
        pos = xp.reshape(xp.astype(pos, P.dtype), (-1,))
        weights = xp.stack([pos, 1.0 - pos])  # (2, m): is positive, is negative
        if w is not None:
            weights = weights * xp.reshape(w, (1, -1))
        above = xp.reshape(S, (-1, 1)) > self._thresholds_on(xp, P)  # (m, T)
        if chosen is not None:
            above = above & xp.reshape(chosen, (-1, 1))
        counts = weights @ xp.astype(above, P.dtype)
        totals = xp.sum(weights, axis=1)
        if self._counts is None:
            self._counts, self._totals = counts, totals
        else:
            self._counts, self._totals = self._counts + counts, self._totals + totals

    def confusion(self, xp):
        """``(TP, FP, FN, TN)``, each of shape ``(T,)``, on the device."""
        tp, fp = self._counts[0, :], self._counts[1, :]
        return tp, fp, self._totals[0] - tp, self._totals[1] - fp

    @abstractmethod
    def _value(self, xp, tp, fp, fn, tn):
        """The metric as a device array (0-d, or one value per threshold) from the counts."""

    def result(self):
        """The metric so far: a Python float, or a float64 array with one value per
        threshold when there are several (one device read); NaN before any update."""
        if self._counts is None:
            return float("nan")
        xp = array_api_compat.array_namespace(self._counts)
        return _host(self._value(xp, *self.confusion(xp)))

    def get_config(self) -> dict:
        return {**super().get_config(), "class_id": self.class_id}


def _thresholds_arg(thresholds, top_k):
    """The ``thresholds`` argument as configs keep it: a float, a list of floats (several),
    or ``None`` with ``top_k`` alone (the top ``k`` outputs are positive, as Keras)."""
    if thresholds is None:
        return None if top_k is not None else 0.5
    values = list(thresholds) if isinstance(thresholds, (list, tuple)) else [thresholds]
    if not values:
        raise ValueError("thresholds must be a float in [0, 1] or a non-empty list of them, got []")
    for t in values:
        if isinstance(t, bool) or not isinstance(t, numbers.Real):
            raise ValueError(f"thresholds must be floats in [0, 1], got {thresholds!r}")
        if not 0.0 <= t <= 1.0:
            raise ValueError(f"thresholds must be in [0, 1], got {thresholds!r}")
    return float(values[0]) if len(values) == 1 else [float(t) for t in values]


class _AtThresholds(ConfusionMetric):
    """Precision and recall: one value per threshold (a float for one threshold)."""

    def __init__(self, thresholds=None, top_k: int | None = None, class_id: int | None = None,
                 name: str | None = None):
        self._init_thresholds = _thresholds_arg(thresholds, top_k)
        given = self._init_thresholds
        self.thresholds = [-math.inf] if given is None else given if isinstance(given, list) else [given]
        super().__init__(self.thresholds, top_k, class_id, name)

    def _value(self, xp, tp, fp, fn, tn):
        values = self._ratio_of(xp, tp, fp, fn)
        return values[0] if len(self.thresholds) == 1 else values

    @abstractmethod
    def _ratio_of(self, xp, tp, fp, fn):
        """One value per threshold."""

    def get_config(self) -> dict:
        return {**super().get_config(), "thresholds": self._init_thresholds, "top_k": self.top_k}


@METRICS.register("precision")
class Precision(_AtThresholds):
    """Precision ``TP / (TP + FP)``: the (weighted) fraction of predicted positives that are positive.

    A prediction is positive when ``P > threshold`` (0.5 by default) and, with ``top_k``,
    among the ``k`` largest outputs of its sample; see :class:`ConfusionMetric` for how
    targets, multi-label outputs and sample weights count. With no predicted positives
    the precision is 0 (as in Keras), without a warning.

    Args:
        thresholds: a float in ``[0, 1]``, or a list of them: then ``result()`` is an array
            with one precision per threshold, as Keras's. ``None``: 0.5, or with ``top_k``
            no threshold (the top ``k`` outputs are the predicted positives).
        top_k: count only the ``k`` largest outputs of each sample (ties: the first ones).
        class_id: score only this output column.
        name: the name shown in logs (default ``"precision"``).

    Example:
        >>> m = Precision()
        >>> m([[1.0], [0.0], [1.0]], [[0.9], [0.8], [0.2]])
        0.5
        >>> Precision(thresholds=[0.5, 0.7])([0, 1, 1, 0], [1.0, 0.0, 0.6, 0.0])  # Keras's test
        array([0.5, 0. ])
        >>> round(Precision(top_k=3)([[0, 1, 1, 0, 0]], [[0.2, 0.1, 0.5, 0.0, 0.2]]), 6)
        0.333333
    """

    name = "precision"

    def _ratio_of(self, xp, tp, fp, fn):
        return _ratio(xp, tp, tp + fp)


@METRICS.register("recall")
class Recall(_AtThresholds):
    """Recall ``TP / (TP + FN)``: the (weighted) fraction of positives predicted positive.

    A prediction is positive when ``P > threshold`` (0.5 by default) and, with ``top_k``,
    among the ``k`` largest outputs of its sample; see :class:`ConfusionMetric`. With no
    positive targets the recall is 0 (as in Keras), without a warning.

    Args:
        thresholds: a float in ``[0, 1]``, or a list of them (one recall per threshold).
            ``None``: 0.5, or with ``top_k`` no threshold.
        top_k: count only the ``k`` largest outputs of each sample.
        class_id: score only this output column.
        name: the name shown in logs (default ``"recall"``).
    """

    name = "recall"

    def _ratio_of(self, xp, tp, fp, fn):
        return _ratio(xp, tp, tp + fn)


CURVES = ("ROC", "PR")
SUMMATION_METHODS = ("interpolation", "minoring", "majoring")


@METRICS.register("auc")
class AUC(ConfusionMetric):
    """Area under the ROC or precision-recall curve, from counts at fixed thresholds, as Keras 3.

    The thresholds are ``t_0 = -ε``, ``t_i = i / (T - 1)`` for ``0 < i < T - 1`` and
    ``t_{T-1} = 1 + ε`` (``T = num_thresholds``, ``ε = 1e-7``), so the curve runs from
    "everything positive" to "nothing positive" for scores in ``[0, 1]``. Per threshold,
    from the (weighted) counts of :class:`ConfusionMetric`: ROC plots ``y = TPR =
    TP / (TP + FN)`` against ``x = FPR = FP / (FP + TN)``; PR plots ``y = precision =
    TP / (TP + FP)`` against ``x = recall`` (a ratio with a zero denominator is 0, as
    Keras). The area is a Riemann sum ``Σ_i (x_i - x_{i+1}) h_i`` whose heights follow
    ``summation_method``:

    - ``"interpolation"``: ROC: the trapezoid, ``h_i = (y_i + y_{i+1}) / 2`` (Keras's
      value and, as ``T`` grows, scikit-learn's ``roc_auc_score``); PR: Keras's
      interpolation of Davis & Goadrich (2006), which lets TP and FP (not the precision)
      vary linearly between thresholds;
    - ``"minoring"``: ``h_i = min(y_i, y_{i+1})`` (a lower bound);
    - ``"majoring"``: ``h_i = max(y_i, y_{i+1})`` (an upper bound).

    Multi-label outputs are pooled (micro-average). Counts stay on the device; ``update``
    never reads it.

    Args:
        num_thresholds: ``T``, an int > 1 (ignored when ``thresholds`` is given).
        curve: ``"ROC"`` or ``"PR"``.
        summation_method: ``"interpolation"``, ``"minoring"`` or ``"majoring"``.
        name: the name shown in logs (default ``"auc"``).
        thresholds: optional inner thresholds in ``[0, 1]``; ``-ε`` and ``1 + ε``
            are added at the ends.
        from_logits: the predictions are logits: compare ``sigmoid(P)`` with the thresholds.
        class_id: score only this output column.

    Example:
        >>> m = AUC(num_thresholds=3)   # Keras's test: thresholds -ε, 0.5, 1 + ε
        >>> m([0, 0, 1, 1], [0.0, 0.5, 0.3, 0.9])
        0.75
    """

    name = "auc"

    def __init__(self, num_thresholds: int | None = 200, curve: str = "ROC",
                 summation_method: str = "interpolation", name: str | None = None, thresholds=None,
                 from_logits: bool = False, class_id: int | None = None):
        if isinstance(curve, str) and curve.upper() in CURVES:
            curve = curve.upper()
        else:
            raise ValueError(f"curve must be one of {CURVES}, got {curve!r}")
        if isinstance(summation_method, str) and summation_method.lower() in SUMMATION_METHODS:
            summation_method = summation_method.lower()
        else:
            raise ValueError(f"summation_method must be one of {SUMMATION_METHODS}, got {summation_method!r}")
        if thresholds is None:
            if isinstance(num_thresholds, bool) or not isinstance(num_thresholds, int) or num_thresholds < 2:
                raise ValueError(f"num_thresholds must be an int > 1, got {num_thresholds!r}")
            inner = [i / (num_thresholds - 1) for i in range(1, num_thresholds - 1)]
            self._inner = None
        else:
            inner = sorted(float(t) for t in thresholds)
            if any(not 0.0 <= t <= 1.0 for t in inner):
                raise ValueError(f"thresholds must lie in [0, 1], got {list(thresholds)!r}")
            self._inner = inner
        self.num_thresholds = len(inner) + 2
        self.curve = curve
        self.summation_method = summation_method
        self.from_logits = bool(from_logits)
        super().__init__([-EPSILON, *inner, 1.0 + EPSILON], None, class_id, name)

    @property
    def thresholds(self) -> list[float]:
        """The ``T`` thresholds, ``-ε`` and ``1 + ε`` included."""
        return list(self._thresholds)

    def _scores(self, xp, P):
        return 1.0 / (1.0 + xp.exp(-P)) if self.from_logits else P

    def _value(self, xp, tp, fp, fn, tn):
        if self.curve == "PR" and self.summation_method == "interpolation":
            return _interpolated_pr_auc(xp, tp, fp, fn)
        recall = _ratio(xp, tp, tp + fn)
        if self.curve == "ROC":
            x, y = _ratio(xp, fp, fp + tn), recall
        else:
            x, y = recall, _ratio(xp, tp, tp + fp)
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) * 0.5
        elif self.summation_method == "minoring":
            heights = xp.minimum(y[:-1], y[1:])
        else:
            heights = xp.maximum(y[:-1], y[1:])
        return xp.sum((x[:-1] - x[1:]) * heights)

    def get_config(self) -> dict:
        return {
            **super().get_config(), "num_thresholds": self.num_thresholds, "curve": self.curve,
            "summation_method": self.summation_method, "thresholds": self._inner,
            "from_logits": self.from_logits,
        }


def _interpolated_pr_auc(xp, tp, fp, fn):
    """Keras's area under the PR curve with TP and the predicted positives ``P = TP + FP``
    linear between thresholds (Davis & Goadrich, "The Relationship Between Precision-Recall
    and ROC Curves", ICML 2006): on each interval, ``precision = (TP_A + s (P - P_A)) / P``
    with slope ``s = ΔTP / ΔP``, whose integral over recall is
    ``s (ΔTP + b log(P_A / P_B)) / (TP_B + FN_B)`` with intercept ``b = TP_B - s P_B``
    (``s ΔTP / (TP_B + FN_B)`` when ``P_B = 0``: constant precision on that interval)."""
    dtp = tp[:-1] - tp[1:]
    p = tp + fp
    slope = _ratio(xp, dtp, xp.maximum(p[:-1] - p[1:], 0.0))
    intercept = tp[1:] - slope * p[1:]
    both = (p[:-1] > 0.0) & (p[1:] > 0.0)
    p_ratio = xp.where(both, _ratio(xp, p[:-1], xp.maximum(p[1:], 0.0)), xp.ones_like(p[1:]))
    area = _ratio(xp, slope * (dtp + intercept * xp.log(p_ratio)), xp.maximum(tp[1:] + fn[1:], 0.0))
    return xp.sum(area)
