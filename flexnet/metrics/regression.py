"""Regression metrics: mean squared, root mean squared and mean absolute error, cosine
similarity, and R² (the coefficient of determination, adjusted or not).
"""

from __future__ import annotations

import math
import numbers
import warnings

import array_api_compat

from flexnet.losses.base import EPSILON
from flexnet.metrics.base import METRICS, Metric, _host, _ratio, _Totals, dense_targets, entry_weights

__all__ = ["CosineSimilarity", "MeanAbsoluteError", "MeanSquaredError", "R2Score",
           "RootMeanSquaredError"]


class _Elementwise(Metric):
    """A mean of per-sample values of targets shaped like the predictions."""

    def targets(self, xp, y, P):
        return dense_targets(self, xp, y, P)


@METRICS.register("mse", "mean_squared_error")
class MeanSquaredError(_Elementwise):
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
class MeanAbsoluteError(_Elementwise):
    """Mean over samples and outputs of ``|P - y|``."""

    name = "mae"

    def values(self, xp, y, P):
        return xp.mean(xp.abs(P - y), axis=-1)


@METRICS.register("cosine_similarity")
class CosineSimilarity(_Elementwise):
    """Mean over samples of the cosine of the angle between target and output,
    ``ŷ·P̂`` with ``x̂ = x / max(‖x‖, ε)`` (``keras.metrics.CosineSimilarity``: 1 is best;
    the loss of that name is its negative)."""

    name = "cosine_similarity"

    def values(self, xp, y, P):
        def unit(A):
            return A / xp.maximum(xp.sqrt(xp.sum(A * A, axis=-1, keepdims=True)), EPSILON)

        return xp.sum(unit(y) * unit(P), axis=-1)


AGGREGATIONS = (None, "uniform_average", "variance_weighted_average")


@METRICS.register("r2_score")
class R2Score(_Totals):
    """Coefficient of determination ``R² = 1 - SS_res / SS_tot`` per output, aggregated
    (``keras.metrics.R2Score``; ``sklearn.metrics.r2_score`` with ``multioutput`` =
    ``class_aggregation``).

    Per output ``j``, with weights ``w`` (1 without): ``SS_res = Σ_i w_i (y_ij - P_ij)²`` and
    ``SS_tot = Σ_i w_i (y_ij - ȳ_j)²`` around the weighted mean ``ȳ_j``; both are built from
    running sums on the device, so batches add up to the score of the whole data. An
    output whose targets do not vary (``SS_tot = 0``) scores 1 if predicted exactly, else 0
    (scikit-learn's rule). With ``num_regressors = p > 0``, the adjusted score
    ``1 - (1 - R²)(n - 1)/(n - p - 1)`` over the ``n`` samples of nonzero weight (with a
    warning and the plain score when ``p ≥ n - 1``, as Keras).

    Args:
        class_aggregation: ``"uniform_average"`` (the mean over outputs),
            ``"variance_weighted_average"`` (weighted by ``SS_tot``) or ``None`` (one score
            per output: ``result()`` is an array).
        num_regressors: ``p``, the number of independent variables, for the adjusted score.
        name: the name shown in logs.

    Example:
        >>> m = R2Score()
        >>> round(m([[1.0], [4.0], [3.0]], [[2.0], [4.0], [4.0]]), 6)   # Keras's docstring
        0.571429
    """

    name = "r2_score"

    def __init__(self, class_aggregation: str | None = "uniform_average", num_regressors: int = 0,
                 name: str | None = None):
        if class_aggregation not in AGGREGATIONS:
            raise ValueError(f"class_aggregation must be one of {AGGREGATIONS}, got {class_aggregation!r}")
        if isinstance(num_regressors, bool) or not isinstance(num_regressors, numbers.Integral) \
                or num_regressors < 0:
            raise ValueError(f"num_regressors must be an int >= 0, got {num_regressors!r}")
        self.class_aggregation = class_aggregation
        self.num_regressors = int(num_regressors)
        super().__init__(name)

    def reset(self) -> None:
        self._sums = None  # (5, k): Σw y, Σw y², Σw (y - P)², Σw, and samples with weight (row 4)

    def _sum_shapes(self) -> dict:
        return {"_sums": None}  # k: known after an update

    def update(self, xp, y, P, sample_weight=None) -> None:
        y, P = dense_targets(self, xp, y, P)
        if P.ndim != 2:
            raise ValueError(f"{self.name}: needs predictions of shape (n, outputs), got {tuple(P.shape)}")
        w = xp.ones_like(P) if sample_weight is None else entry_weights(xp, sample_weight, P)
        wy, D = w * y, y - P
        counted = xp.astype(xp.any(w != 0.0, axis=-1), P.dtype)  # samples that weigh anything
        samples = xp.broadcast_to(xp.sum(counted), (P.shape[1],))
        sums = xp.stack([xp.sum(wy, axis=0), xp.sum(wy * y, axis=0), xp.sum(w * D * D, axis=0),
                         xp.sum(w, axis=0), samples])
        self._sums = sums if self._sums is None else self._sums + sums

    def _scores(self, xp):
        s, s2, residual, count = (self._sums[i, :] for i in range(4))
        total = s2 - s * _ratio(xp, s, count)
        raw = 1.0 - _ratio(xp, residual, total)
        exact = xp.astype(residual == 0.0, raw.dtype)
        raw = xp.where(total == 0.0, exact, raw)  # scikit-learn's force_finite
        if self.class_aggregation == "uniform_average":
            return xp.mean(raw)
        if self.class_aggregation == "variance_weighted_average":
            return _ratio(xp, xp.sum(total * raw), xp.sum(total))
        return raw

    def result(self):
        """R² so far: a float, or a float64 array per output for ``class_aggregation=None``;
        NaN before any update."""
        if self._sums is None:
            return float("nan")
        xp = array_api_compat.array_namespace(self._sums)
        score = self._scores(xp)
        p = self.num_regressors
        if p:
            n = float(self._sums[4, 0])
            if p >= n - 1:
                warnings.warn(f"{self.name}: {p} regressors for {n:g} samples: the adjusted R² needs "
                              "num_regressors < n - 1; returning the plain R²", stacklevel=2)
            else:
                score = 1.0 - (1.0 - score) * ((n - 1.0) / (n - p - 1.0))
        return _host(score)

    def get_config(self) -> dict:
        return {**super().get_config(), "class_aggregation": self.class_aggregation,
                "num_regressors": self.num_regressors}
