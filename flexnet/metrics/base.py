"""The base class of metrics (sums kept on the device, Keras's ``update_state``/``result``/
``reset_state`` on top), the table of their names, :class:`MeanMetricWrapper` (a loss as a
metric), and the target and weight checks metrics share.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import array_api_compat

from flexnet import losses
from flexnet.backend import default_index_dtype
from flexnet.losses.base import call_arrays, check_sample_weight
from flexnet.registry import Kind
from flexnet.transfer import to_numpy

__all__ = ["METRICS", "MeanMetricWrapper", "Metric"]


# -- shared helpers -----------------------------------------------------------------------------


def _ratio(xp, a, b, empty: float = 0.0):
    """``a / b`` elementwise, and ``empty`` where ``b == 0`` (no warning, no NaN)."""
    zero = b == 0.0
    quotient = a / (b + xp.astype(zero, b.dtype))
    return xp.where(zero, xp.full_like(quotient, empty), quotient)


def _host(value):
    """A result on the host: a 0-d array as a Python float, a vector as a float64 NumPy array
    (one device read either way)."""
    if value.ndim == 0:
        return float(value)
    return to_numpy(value).astype("float64")


def align(xp, y, P, *, one_column: bool = True):
    """Targets and predictions of matching rank, as Keras's ``squeeze_or_expand_to_same_rank``:
    a trailing axis of 1 is dropped from the targets, or added to them, when their ranks
    differ by one. With ``one_column``, 1-D predictions ``(n,)`` are ``n`` samples of one
    output, ``(n, 1)``. Shapes only: no device read."""
    if one_column and P.ndim == 1:
        P = xp.reshape(P, (P.shape[0], 1))
    if y.ndim == P.ndim + 1 and y.shape[-1] == 1:
        y = xp.reshape(y, tuple(y.shape[:-1]))
    elif P.ndim == y.ndim + 1 and P.shape[-1] == 1:
        y = xp.reshape(y, (*y.shape, 1))
    return y, P


def dense_targets(metric, xp, y, P):
    """Targets shaped like the predictions (after :func:`align`), in their dtype.

    Raises:
        ValueError: other shapes (never a silent broadcast), naming the metric.
    """
    y, P = align(xp, y, P)
    if tuple(y.shape) != tuple(P.shape):
        raise ValueError(
            f"{metric.name}: targets of shape {tuple(y.shape)} do not match predictions of shape "
            f"{tuple(P.shape)}; {type(metric).__name__} needs targets shaped like the outputs"
        )
    return (y if y.dtype == P.dtype else xp.astype(y, P.dtype)), P


def sparse_targets(metric, xp, y, P):
    """Integer class labels ``(n,)`` (``(n, 1)`` is squeezed) for predictions ``(n, C)``.

    Raises:
        ValueError: predictions that are not ``(n, C)``, or labels of another shape.
    """
    if P.ndim != 2:
        raise ValueError(f"{metric.name}: needs predictions of shape (n, classes), got {tuple(P.shape)}")
    if y.ndim == 2 and y.shape[1] == 1:
        y = xp.reshape(y, (y.shape[0],))
    if y.ndim != 1 or y.shape[0] != P.shape[0]:
        raise ValueError(
            f"{metric.name}: needs integer class labels of shape ({P.shape[0]},) for predictions "
            f"of shape {tuple(P.shape)}, got targets of shape {tuple(y.shape)}"
        )
    if not xp.isdtype(y.dtype, "integral"):
        y = xp.astype(y, default_index_dtype(xp, array_api_compat.device(y)))
    return y, P


def entry_weights(xp, sample_weight, P):
    """Weights shaped like ``P``: one per sample (``()``, ``(n,)``, ``(n, 1)``: every output of
    a sample takes its weight) or one per entry (``P``'s shape), in ``P``'s dtype.

    Raises:
        ValueError: another shape.
    """
    if tuple(sample_weight.shape) == tuple(P.shape):
        w = sample_weight
        return w if w.dtype == P.dtype else xp.astype(w, P.dtype)
    w = check_sample_weight(xp, sample_weight, P)
    return xp.broadcast_to(xp.reshape(w, (P.shape[0],) + (1,) * (P.ndim - 1)), tuple(P.shape))


# -- the base class -------------------------------------------------------------------------------


class Metric(ABC):
    """Base class: the mean over all samples seen since :meth:`reset` of ``values(xp, y, P)``.

    Subclasses set ``name`` and implement :meth:`values` (per-sample scores, shape
    ``(n,)``, in ``P``'s dtype). Metrics that are not means (precision, AUC, F1, R²)
    override :meth:`reset`, :meth:`update` and :meth:`result` instead.

    With sample weights ``w`` the result is the weighted mean ``Σ w_i v_i / Σ w_i``
    (0 when the weights sum to 0), as in Keras; without them, ``Σ v_i / n``.

    Two ways to feed a metric:

    - Keras's: ``update_state(y_true, y_pred, sample_weight=None)``, ``result()``,
      ``reset_state()``, and ``metric(y_true, y_pred)``, which is ``update_state``
      then ``result()`` (so it accumulates, as in Keras). Arrays of any backend, NumPy
      or lists; targets are brought to the predictions' device.
    - The trainer's: ``update(xp, y, P, sample_weight)`` with arrays already on the
      device, which never reads the device; ``result()`` reads it once.

    Targets and predictions whose ranks differ by a trailing axis of 1 (``(n, 1)``
    labels against ``(n,)`` outputs, or the reverse) are aligned as Keras does
    (:meth:`targets`); a 1-D ``y_pred`` is ``n`` samples of one output. Built-in
    metrics refuse any other mismatch with an error rather than broadcasting.

    Example:
        >>> from flexnet.metrics import BinaryAccuracy
        >>> m = BinaryAccuracy()
        >>> m.update_state([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]])
        >>> m.result()
        0.75
        >>> m.reset_state()
        >>> m([1, 1, 0, 0], [0.98, 1, 0, 0.6], sample_weight=[1, 0, 0, 1])
        0.5
    """

    name = "metric"

    def __init__(self, name: str | None = None):
        if name is not None:
            if not isinstance(name, str):
                raise TypeError(f"name must be a string, got {name!r}")
            self.name = name
        self.reset()

    @abstractmethod
    def values(self, xp, y, P):
        """Per-sample scores, shape ``(n,)``."""

    def targets(self, xp, y, P):
        """``(y, P)`` ready for :meth:`values`: aligned as Keras does (see the class doc).
        Built-in metrics also check the shapes; shapes only, no device read."""
        return align(xp, y, P)

    # -- the trainer's API: on the device --------------------------------------------------
    def reset(self) -> None:
        self._total = None  # Σ (w) v, a 0-d device array
        self._count = 0  # samples of unweighted batches (a Python int)
        self._weight = None  # Σ w of weighted batches, a 0-d device array

    def update(self, xp, y, P, sample_weight=None) -> None:
        """Add a batch (no device synchronisation).

        Args:
            xp: the namespace of ``y`` and ``P``.
            y: targets: shaped like ``P``, or ``(n,)`` integer labels.
            P: the model's outputs, shape ``(n, k)`` (or ``(n,)``).
            sample_weight: optional weights ``()``, ``(n,)`` or ``(n, 1)`` on ``P``'s device.
        """
        y, P = self.targets(xp, y, P)
        self._accumulate(xp, self.values(xp, y, P), P, sample_weight)

    def _accumulate(self, xp, v, P, sample_weight) -> None:
        """Add per-sample values ``v`` (weighted) to the device sums."""
        if sample_weight is None:
            batch = xp.sum(v)
            self._count += P.shape[0]
        else:
            w = check_sample_weight(xp, sample_weight, P)
            batch = xp.sum(w * v)
            weight = xp.sum(w)
            self._weight = weight if self._weight is None else self._weight + weight
        self._total = batch if self._total is None else self._total + batch

    def result(self):
        """The (weighted) mean so far, as a Python float (one device read); NaN before any update."""
        if self._total is None:
            return float("nan")
        if self._weight is None:
            return float(self._total) / self._count
        xp = array_api_compat.array_namespace(self._total)
        return float(_ratio(xp, self._total, self._weight + float(self._count)))

    # -- sums over several processes (a data-parallel fit) ----------------------------------
    def _sum_shapes(self) -> dict:
        """The attributes holding the running sums (device arrays; None before an update) and
        their shapes, None where only an update tells it. A metric that overrides
        :meth:`reset` with sums of its own overrides this too."""
        return {"_total": (), "_weight": ()}

    def sum_shapes(self) -> list:
        """The shapes of the running sums: known after an update, else as :meth:`_sum_shapes`."""
        return [shape if getattr(self, key) is None else tuple(getattr(self, key).shape)
                for key, shape in self._sum_shapes().items()]

    def sums(self, like, shapes: list | None = None) -> tuple[list, list[int]]:
        """``(arrays, ints)``: the running sums behind :meth:`result`, arrays on ``like``'s
        device and dtype (zeros of ``shapes`` where no update came yet; empty where the shape
        is unknown too). Added up over metrics
        that saw different samples and given to :meth:`set_sums`, they make the metric of all
        those samples (``fit`` on several ranks)."""
        xp, device = array_api_compat.array_namespace(like), array_api_compat.device(like)
        keys = self._sum_shapes()
        shapes = list(keys.values()) if shapes is None else shapes
        arrays = [xp.zeros((0,) if shape is None else shape, dtype=like.dtype, device=device)
                  if getattr(self, key) is None
                  else getattr(self, key) for key, shape in zip(keys, shapes)]
        return arrays, self.sum_counts()

    def sum_counts(self) -> list[int]:
        """The integer part of :meth:`sums`: the unweighted sample count, then 1 for each sum
        that has seen an update (0 where it is still None)."""
        return [getattr(self, "_count", 0), *(int(getattr(self, k) is not None) for k in self._sum_shapes())]

    def set_sums(self, arrays: list, ints: list[int]) -> None:
        """Take sums in the layout of :meth:`sums` (``ints`` added up: a sum is kept where
        any part had one)."""
        if hasattr(self, "_count"):
            self._count = ints[0]
        for key, array, seen in zip(self._sum_shapes(), arrays, ints[1:]):
            setattr(self, key, array if seen else None)

    # -- Keras's API --------------------------------------------------------------------------
    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        """Add a batch, as Keras's ``Metric.update_state``.

        Args:
            y_true: the targets (any backend, NumPy or a list).
            y_pred: the predictions; their namespace and device are used.
            sample_weight: optional: one number, ``(n,)`` or ``(n, 1)`` (and for
                precision, recall, AUC, F-scores and R², weights shaped like ``y_pred``).
        """
        xp, y, P, w = call_arrays(y_true, y_pred, sample_weight)
        self.update(xp, y, P, w)

    def reset_state(self) -> None:
        """Forget every batch, as Keras's ``Metric.reset_state``."""
        self.reset()

    def __call__(self, y_true, y_pred, sample_weight=None):
        """``update_state`` then ``result()``, as Keras's ``Metric.__call__``."""
        self.update_state(y_true, y_pred, sample_weight)
        return self.result()

    # -- configuration ----------------------------------------------------------------------
    def get_config(self) -> dict:
        return {"name": self.name}

    @classmethod
    def from_config(cls, config: dict) -> Metric:
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class _Totals(Metric):
    """A metric kept as totals on the device (counts, sums) rather than a mean of per-sample
    values: subclasses override :meth:`reset`, :meth:`update` and :meth:`result`."""

    def values(self, xp, y, P):
        raise NotImplementedError(
            f"{type(self).__name__} is not a mean of per-sample values; use update() and result()"
        )


#: Name -> metric class. "accuracy"/"acc" are resolved from the loss by :func:`get`; the name of
#: a loss gives the mean of that loss (:class:`MeanMetricWrapper`).
METRICS = Kind("metric", Metric, special_names=("accuracy", "acc"))


@METRICS.register()
class MeanMetricWrapper(Metric):
    """The mean of a loss's per-sample values, as Keras's ``MeanMetricWrapper``: what
    ``metrics=["binary_crossentropy"]`` (any loss name) or ``metrics=[fx.losses.Huber()]`` gives.

    The loss's own weighting does not apply: this is ``Σ w_i ℓ_i / Σ w_i`` over the samples
    seen (``ignore_class`` samples left out), whatever the loss's reduction.

    Args:
        fn: the loss: a name, a :class:`~flexnet.losses.Loss` (class or instance) or a config.
        name: the name shown in logs (default: the loss's name).

    Example:
        >>> m = MeanMetricWrapper("mse")
        >>> m([[0.0], [1.0]], [[1.0], [1.0]])
        0.5
    """

    def __init__(self, fn=None, name: str | None = None):
        if fn is None:
            raise TypeError("MeanMetricWrapper needs fn, the loss to average (a name or a Loss)")
        self.loss = losses.get(fn)
        super().__init__(self.loss.name if name is None else name)

    def targets(self, xp, y, P):
        if self.loss.sparse_targets:
            return sparse_targets(self, xp, y, P)
        y, P = dense_targets(self, xp, y, P)
        return self.loss.convert_targets(xp, y), P

    def values(self, xp, y, P):
        return self.loss.values(xp, y, P)

    def update(self, xp, y, P, sample_weight=None) -> None:
        y, P = self.targets(xp, y, P)
        mask = self.loss.mask(xp, y, P)
        if mask is not None:  # the samples left out weigh 0, as in Keras
            sample_weight = mask if sample_weight is None else check_sample_weight(
                xp, sample_weight, P) * mask
        self._accumulate(xp, self.values(xp, y, P), P, sample_weight)

    def get_config(self) -> dict:
        return {"name": self.name, "fn": losses.serialize(self.loss)}
