"""Metrics: per-sample scores and confusion counts accumulated on the device, read back once per epoch.

A metric sums into device arrays during an epoch (``update``), and ``result()``
turns the sums into a Python float once, so training never waits for the device
between batches. ``"accuracy"`` picks the binary, categorical or sparse variant
from the loss, as in Keras. Every ``update`` takes optional per-sample weights.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import array_api_compat

from flexnet import losses as losses_module
from flexnet.registry import Kind

__all__ = [
    "AUC",
    "BinaryAccuracy",
    "CategoricalAccuracy",
    "ConfusionMetric",
    "MeanAbsoluteError",
    "MeanSquaredError",
    "Metric",
    "Precision",
    "Recall",
    "RootMeanSquaredError",
    "SparseCategoricalAccuracy",
    "get",
]

EPSILON = 1e-7  # AUC's outer thresholds are -ε and 1 + ε, as in Keras


def _check_sample_weight(xp, sample_weight, P):
    """``sample_weight`` as a ``(n,)`` array in ``P``'s dtype (shape checks only: no device read)."""
    n = P.shape[0]
    w = sample_weight
    if w.ndim == 2 and w.shape[1] == 1:
        w = xp.reshape(w, (w.shape[0],))
    if w.ndim != 1 or w.shape[0] != n:
        raise ValueError(
            f"sample_weight must have shape ({n},) for a batch of {n} samples, got {tuple(w.shape)}"
        )
    if w.dtype != P.dtype:
        w = xp.astype(w, P.dtype)
    return w


def _ratio(xp, a, b, empty: float = 0.0):
    """``a / b`` elementwise, and ``empty`` where ``b == 0`` (no warning, no NaN)."""
    zero = b == 0.0
    quotient = a / (b + xp.astype(zero, b.dtype))
    return xp.where(zero, xp.full_like(quotient, empty), quotient)


class Metric(ABC):
    """Base class: the mean over all samples seen since :meth:`reset` of ``values(xp, y, P)``.

    Subclasses set ``name`` and implement :meth:`values` (per-sample scores, shape
    ``(n,)``, in ``P``'s dtype). ``y`` has been prepared by the model's loss.
    Metrics that are not means (precision, AUC) override :meth:`reset`,
    :meth:`update` and :meth:`result` instead.

    With sample weights ``w`` the result is the weighted mean ``Σ w_i v_i / Σ w_i``
    (0 when the weights sum to 0), as in Keras; without them, ``Σ v_i / n``.
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
        self._total = None  # Σ (w) v, a 0-d device array
        self._count = 0  # samples of unweighted batches (a Python int)
        self._weight = None  # Σ w of weighted batches, a 0-d device array

    def update(self, xp, y, P, sample_weight=None) -> None:
        """Add a batch (no device synchronisation).

        Args:
            xp: the namespace of ``y`` and ``P``.
            y: targets prepared by the loss: shaped like ``P``, or ``(n,)`` integer labels.
            P: the model's outputs, shape ``(n, k)``.
            sample_weight: optional ``(n,)`` weights on ``P``'s device.
        """
        v = self.values(xp, y, P)
        if sample_weight is None:
            batch = xp.sum(v)
            self._count += P.shape[0]
        else:
            w = _check_sample_weight(xp, sample_weight, P)
            batch = xp.sum(w * v)
            weight = xp.sum(w)
            self._weight = weight if self._weight is None else self._weight + weight
        self._total = batch if self._total is None else self._total + batch

    def result(self) -> float:
        """The (weighted) mean so far, as a Python float (one device read); NaN before any update."""
        if self._total is None:
            return float("nan")
        if self._weight is None:
            return float(self._total) / self._count
        xp = array_api_compat.array_namespace(self._total)
        return float(_ratio(xp, self._total, self._weight + float(self._count)))

    def _sum_shapes(self) -> dict:
        """The attributes holding the running sums (arrays; None before an update) and their shapes."""
        return {"_total": (), "_weight": ()}

    def sums(self, like) -> tuple[list, list[int]]:
        """``(arrays, ints)``: the running sums behind :meth:`result`, arrays on ``like``'s device and
        dtype (zeros before any update). Added up over metrics that saw different samples and given
        to :meth:`set_sums`, they make the metric of all those samples (``fit`` on several ranks)."""
        xp, device, keys = array_api_compat.array_namespace(like), array_api_compat.device(like), \
            self._sum_shapes()
        arrays = [xp.zeros(shape, dtype=like.dtype, device=device) if getattr(self, key) is None
                  else getattr(self, key) for key, shape in keys.items()]
        return arrays, [getattr(self, "_count", 0), *(int(getattr(self, k) is not None) for k in keys)]

    def set_sums(self, arrays: list, ints: list[int]) -> None:
        """Take sums in the layout of :meth:`sums`."""
        self._count = ints[0]
        for key, array, seen in zip(self._sum_shapes(), arrays, ints[1:]):
            setattr(self, key, array if seen else None)

    def get_config(self) -> dict:
        return {"name": self.name}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


#: Name -> metric class. "accuracy"/"acc" are resolved from the loss by :func:`get`.
METRICS = Kind("metric", Metric, special_names=("accuracy", "acc"))


@METRICS.register("binary_accuracy")
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

    def get_config(self) -> dict:
        return {**super().get_config(), "threshold": self.threshold}


@METRICS.register("categorical_accuracy")
class CategoricalAccuracy(Metric):
    """Fraction of samples whose largest output is the one-hot target's class."""

    name = "accuracy"

    def values(self, xp, y, P):
        return xp.astype(xp.argmax(P, axis=-1) == xp.argmax(y, axis=-1), P.dtype)


@METRICS.register("sparse_categorical_accuracy")
class SparseCategoricalAccuracy(Metric):
    """Fraction of samples whose largest output is the integer label."""

    name = "accuracy"

    def values(self, xp, y, P):
        return xp.astype(xp.argmax(P, axis=-1) == y, P.dtype)


@METRICS.register("mse", "mean_squared_error")
class MeanSquaredError(Metric):
    """Mean over samples and outputs of ``(P - y)²``."""

    name = "mse"

    def values(self, xp, y, P):
        D = P - y
        return xp.mean(D * D, axis=-1)


@METRICS.register("rmse", "root_mean_squared_error")
class RootMeanSquaredError(MeanSquaredError):
    """``sqrt`` of the (weighted) mean over samples and outputs of ``(P - y)²``."""

    name = "root_mean_squared_error"

    def result(self) -> float:
        return math.sqrt(super().result())


@METRICS.register("mae", "mean_absolute_error")
class MeanAbsoluteError(Metric):
    """Mean over samples and outputs of ``|P - y|``."""

    name = "mae"

    def values(self, xp, y, P):
        return xp.mean(xp.abs(P - y), axis=-1)


# ---------------------------------------------------------------------------
# Confusion counts: precision, recall, AUC.


class ConfusionMetric(Metric):
    """Base class: (weighted) true and false positive counts at fixed thresholds.

    Every output is a separate binary decision (binary and multi-label
    classification; for softmax outputs each class column counts on its own, Keras's
    micro-average): the target is positive when ``y > 0.5`` and the prediction when
    ``P > t``. Integer labels ``(n,)`` (sparse losses) are one-hot encoded against
    the ``k`` output columns first. Per threshold ``t`` the update adds on the device

        ``TP_t = Σ w [y pos] [P > t]``, ``FP_t = Σ w [y neg] [P > t]``,

    and the totals of positive and negative weight (``FN = pos - TP``,
    ``TN = neg - FP``), with ``w = 1`` without sample weights. A sample weight
    applies to every output of its sample.

    Args:
        thresholds: the thresholds ``t``, floats.
        class_id: count only output column ``class_id`` (``None``: all columns).
        name: the name shown in logs.
    """

    def __init__(self, thresholds, class_id: int | None = None, name: str | None = None):
        if class_id is not None and (
            isinstance(class_id, bool) or not isinstance(class_id, int) or class_id < 0
        ):
            raise ValueError(f"class_id must be a non-negative int or None, got {class_id!r}")
        self.class_id = class_id
        self._thresholds = tuple(float(t) for t in thresholds)
        self._device_thresholds = None  # (key, array) cache of the thresholds on the device
        super().__init__(name)

    def values(self, xp, y, P):
        raise NotImplementedError(
            f"{type(self).__name__} is not a mean of per-sample values; use update() and result()"
        )

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
        """Boolean targets shaped like ``P``."""
        if y.ndim == P.ndim - 1 and xp.isdtype(y.dtype, "integral"):
            k = P.shape[-1]
            if k == 1:
                return xp.reshape(y, P.shape) > 0
            classes = xp.arange(k, dtype=y.dtype, device=array_api_compat.device(y))
            return y[..., None] == classes
        if tuple(y.shape) != tuple(P.shape):
            raise ValueError(
                f"{self.name}: targets of shape {tuple(y.shape)} do not match predictions of "
                f"shape {tuple(P.shape)}"
            )
        return y > 0.5

    def update(self, xp, y, P, sample_weight=None) -> None:
        """Add a batch's counts (no device synchronisation); arguments as :meth:`Metric.update`."""
        n = P.shape[0]
        pos = self._positives(xp, y, P)
        S = self._scores(xp, P)
        if self.class_id is not None:
            if P.ndim != 2 or self.class_id >= P.shape[1]:
                raise ValueError(
                    f"{self.name}: class_id={self.class_id} needs predictions of shape (n, k) with "
                    f"k > {self.class_id}, got {tuple(P.shape)}"
                )
            pos, S = pos[:, self.class_id], S[:, self.class_id]
        pos = xp.reshape(xp.astype(pos, P.dtype), (-1,))
        weights = xp.stack([pos, 1.0 - pos])  # (2, m): is positive, is negative
        if sample_weight is not None:
            w = _check_sample_weight(xp, sample_weight, P)
            w = xp.broadcast_to(xp.reshape(w, (n,) + (1,) * (S.ndim - 1)), S.shape)
            weights = weights * xp.reshape(w, (1, -1))
        above = xp.astype(xp.reshape(S, (-1, 1)) > self._thresholds_on(xp, P), P.dtype)  # (m, T)
        counts = weights @ above
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
        """The metric as a 0-d device array from the counts."""

    def result(self) -> float:
        """The metric so far, as a Python float (one device read); NaN before any update."""
        if self._counts is None:
            return float("nan")
        xp = array_api_compat.array_namespace(self._counts)
        return float(self._value(xp, *self.confusion(xp)))

    def get_config(self) -> dict:
        return {**super().get_config(), "class_id": self.class_id}


def _single_threshold(thresholds) -> float:
    if thresholds is None:
        return 0.5
    if isinstance(thresholds, (list, tuple)) and len(thresholds) == 1:
        thresholds = thresholds[0]
    if isinstance(thresholds, bool) or not isinstance(thresholds, (int, float)):
        raise ValueError(f"thresholds must be one float in [0, 1] (or None for 0.5), got {thresholds!r}")
    if not 0.0 <= thresholds <= 1.0:
        raise ValueError(f"thresholds must be in [0, 1], got {thresholds!r}")
    return float(thresholds)


@METRICS.register("precision")
class Precision(ConfusionMetric):
    """Precision ``TP / (TP + FP)``: the (weighted) fraction of predicted positives that are positive.

    A prediction is positive when ``P > thresholds`` (0.5 by default); see
    :class:`ConfusionMetric` for how targets, multi-label outputs and sample weights
    count. With no predicted positives the precision is 0 (as in Keras), without a
    warning.

    Args:
        thresholds: one float in ``[0, 1]``, or ``None`` for 0.5. Unlike Keras, a
            list of several thresholds is not accepted (``result()`` is one float).
        class_id: score only this output column.
        name: the name shown in logs (default ``"precision"``).

    Example:
        >>> import numpy as np, array_api_compat.numpy as xp
        >>> m = Precision()
        >>> m.update(xp, np.array([[1.0], [0.0], [1.0]]), np.array([[0.9], [0.8], [0.2]]))
        >>> m.result()
        0.5
    """

    name = "precision"

    def __init__(self, thresholds=None, class_id: int | None = None, name: str | None = None):
        self.threshold = _single_threshold(thresholds)
        super().__init__([self.threshold], class_id, name)

    def _value(self, xp, tp, fp, fn, tn):
        return _ratio(xp, tp[0], tp[0] + fp[0])

    def get_config(self) -> dict:
        return {**super().get_config(), "thresholds": self.threshold}


@METRICS.register("recall")
class Recall(ConfusionMetric):
    """Recall ``TP / (TP + FN)``: the (weighted) fraction of positives predicted positive.

    A prediction is positive when ``P > thresholds`` (0.5 by default); see
    :class:`ConfusionMetric`. With no positive targets the recall is 0 (as in Keras),
    without a warning.

    Args:
        thresholds: one float in ``[0, 1]``, or ``None`` for 0.5.
        class_id: score only this output column.
        name: the name shown in logs (default ``"recall"``).
    """

    name = "recall"

    def __init__(self, thresholds=None, class_id: int | None = None, name: str | None = None):
        self.threshold = _single_threshold(thresholds)
        super().__init__([self.threshold], class_id, name)

    def _value(self, xp, tp, fp, fn, tn):
        return _ratio(xp, tp[0], tp[0] + fn[0])

    def get_config(self) -> dict:
        return {**super().get_config(), "thresholds": self.threshold}


CURVES = ("ROC", "PR")


@METRICS.register("auc")
class AUC(ConfusionMetric):
    """Area under the ROC or precision-recall curve, from counts at fixed thresholds.

    The thresholds are ``t_0 = -ε``, ``t_i = i / (T - 1)`` for ``0 < i < T - 1`` and
    ``t_{T-1} = 1 + ε`` (``T = num_thresholds``, ``ε = 1e-7``), as in Keras, so the
    curve runs from "everything positive" to "nothing positive" for scores in
    ``[0, 1]``. Per threshold, from the (weighted) counts of :class:`ConfusionMetric`:

    - ROC: ``x = FPR = FP / (FP + TN)``, ``y = TPR = TP / (TP + FN)``;
    - PR: ``x = recall = TP / (TP + FN)``, ``y = precision = TP / (TP + FP)``, with
      precision 1 where nothing is predicted positive (the ``(0, 1)`` end of
      scikit-learn's ``precision_recall_curve``);

    a ratio with a zero denominator other than that precision is 0. The area is the
    trapezoid rule over the ``T`` points:
    ``AUC = Σ_{i<T-1} (x_i - x_{i+1}) (y_i + y_{i+1}) / 2``.
    For ROC this is Keras's value and, as ``T`` grows, scikit-learn's
    ``roc_auc_score`` (ties between scores in the same threshold bin count half);
    for PR it tends to ``sklearn.metrics.auc(recall, precision)`` (Keras's default
    for PR interpolates differently). When the targets hold no positives (or, for
    ROC, no negatives), the AUC is 0, without a warning. Multi-label outputs are
    pooled (micro-average). Counts stay on the device; ``update`` never reads it.

    Args:
        num_thresholds: ``T``, an int > 1 (ignored when ``thresholds`` is given).
        curve: ``"ROC"`` or ``"PR"``.
        name: the name shown in logs (default ``"auc"``).
        thresholds: optional inner thresholds in ``[0, 1]``; ``-ε`` and ``1 + ε``
            are added at the ends.
        from_logits: the predictions are logits: compare ``sigmoid(P)`` with the thresholds.
        class_id: score only this output column.

    Example:
        >>> import numpy as np, array_api_compat.numpy as xp
        >>> m = AUC()
        >>> m.update(xp, np.array([[0.0], [0.0], [1.0], [1.0]]), np.array([[0.1], [0.4], [0.35], [0.8]]))
        >>> round(m.result(), 3)
        0.75
    """

    name = "auc"

    def __init__(self, num_thresholds: int = 200, curve: str = "ROC", name: str | None = None,
                 thresholds=None, from_logits: bool = False, class_id: int | None = None):
        if isinstance(curve, str) and curve.upper() in CURVES:
            curve = curve.upper()
        else:
            raise ValueError(f"curve must be one of {CURVES}, got {curve!r}")
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
        self.from_logits = bool(from_logits)
        super().__init__([-EPSILON, *inner, 1.0 + EPSILON], class_id, name)

    def _scores(self, xp, P):
        return 1.0 / (1.0 + xp.exp(-P)) if self.from_logits else P

    def _value(self, xp, tp, fp, fn, tn):
        if self.curve == "ROC":
            x, y = _ratio(xp, fp, fp + tn), _ratio(xp, tp, tp + fn)
        else:
            x, y = _ratio(xp, tp, tp + fn), _ratio(xp, tp, tp + fp, empty=1.0)
        return xp.sum((x[:-1] - x[1:]) * (y[:-1] + y[1:])) * 0.5

    def get_config(self) -> dict:
        return {
            **super().get_config(), "num_thresholds": self.num_thresholds, "curve": self.curve,
            "thresholds": self._inner, "from_logits": self.from_logits,
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
    output has one unit, else categorical. Other names (case-insensitive) are the
    keys of :data:`METRICS`: ``"precision"``, ``"recall"``, ``"auc"``, ``"mse"``...
    """
    if isinstance(identifier, str) and identifier.lower() in ("accuracy", "acc"):
        cls = _ACCURACY_BY_LOSS.get(type(loss))
        if cls is None:
            cls = BinaryAccuracy if output_units == 1 else CategoricalAccuracy
        return cls(name=identifier)
    metric = METRICS.resolve(identifier)
    if isinstance(identifier, str):
        metric.name = identifier
    return metric
