"""The base class of losses (per-sample values and gradients, reduced over the batch, with
sample and class weights), the table of their names, and the checks losses share.
"""

from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod

import array_api_compat

from flexnet.backend import dtype_name, floatx
from flexnet.registry import Kind
from flexnet.transfer import as_host_array, is_array, namespace_of, to_device_like

__all__ = ["EPSILON", "LOSSES", "REDUCTIONS", "Loss", "call_arrays", "check_sample_weight"]


EPSILON = 1e-7  # probabilities are clipped to [ε, 1 - ε] before a log, as in Keras

#: Keras 3's reductions. ``None`` (or ``"none"``) keeps the per-sample values; ``"mean"`` is
#: ``"sum_over_batch_size"``.
REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", None, "none")
#: The reductions that average: the epoch's loss is their batch values weighted by batch size.
MEAN_REDUCTIONS = ("sum_over_batch_size", "mean", "mean_with_sample_weight")


class Loss(ABC):
    """Base class: per-sample values and gradients, reduced over the batch.

    Subclasses implement :meth:`values` and :meth:`gradients`; both receive
    targets ``y`` already checked by :meth:`prepare_targets`. The reduction, with
    optional per-sample weights ``w`` (shape ``(n,)``) and a mask ``m`` of the samples
    that count (:meth:`mask`, all ones but for ``ignore_class``), is done here: the loss
    is ``L = Σ_i c_i ℓ_i`` and its gradient ``∂L/∂P_i = c_i ∂ℓ_i/∂P_i`` with

    - ``"sum_over_batch_size"`` (or ``"mean"``, the default): ``c_i = w_i m_i / Σ_j m_j``,
      divided by the batch size (the samples that count), not by ``Σ w``, as in Keras;
    - ``"sum"``: ``c_i = w_i m_i``;
    - ``"mean_with_sample_weight"``: ``c_i = w_i m_i / Σ_j w_j m_j`` (the weighted mean;
      ``1/n`` without weights);
    - ``None`` (or ``"none"``): no reduction. Called on a batch, the loss returns the
      weighted per-sample values ``w_i m_i ℓ_i``, shape ``(n,)``; ``compile`` refuses it, as
      training needs one number.

    A sum over nothing (all weights or all of the mask zero) divides by 1, so the loss is
    0, not NaN. Keras's losses on a batch: ``loss(y_true, y_pred, sample_weight=None)``.

    Args:
        reduction: one of :data:`REDUCTIONS`.
        name: the name shown in logs.

    Example:
        >>> import numpy as np
        >>> from flexnet.losses import MeanSquaredError
        >>> y, p = np.array([[0.0], [1.0]]), np.array([[1.0], [1.0]])
        >>> float(MeanSquaredError()(y, p)), float(MeanSquaredError()(y, p, sample_weight=[3.0, 1.0]))
        (0.5, 1.5)
        >>> MeanSquaredError(reduction=None)(y, p, sample_weight=2.0)
        array([2., 0.])
    """

    name = "loss"
    #: True when targets are class indices (shape ``(n,)``) rather than arrays like the output.
    sparse_targets = False

    def __init__(self, reduction: str | None = "sum_over_batch_size", name: str | None = None):
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
        self.reduction = None if reduction == "none" else reduction
        if name is not None:
            self.name = name

    @abstractmethod
    def values(self, xp, y, P):
        """Per-sample losses ``ℓ_i``, shape ``(n,)``."""

    @abstractmethod
    def gradients(self, xp, y, P):
        """``∂ℓ_i/∂P_i`` for every sample, same shape as ``P`` (not divided by ``n``)."""

    def mask(self, xp, y, P):
        """The samples that count, as 0/1 in ``P``'s dtype, shape ``(n,)``; None when all do."""
        return None

    @property
    def reduces(self) -> bool:
        """False for ``reduction=None``: the loss of a batch is its per-sample values."""
        return self.reduction is not None

    def scale(self, n: int) -> float:
        """What a batch's loss is per sample for the epoch's totals: ``1/n`` for the averaging
        reductions (the epoch's loss is the batch losses weighted by batch size, as Keras),
        1 for ``"sum"``."""
        return 1.0 / n if self.reduction in MEAN_REDUCTIONS else 1.0

    def factors(self, xp, y, P, sample_weight=None):
        """The ``c_i`` of the reduction (see the class docstring): a Python float when they
        are all equal, else an ``(n,)`` array on ``P``'s device. No device read.

        Raises:
            ValueError: ``sample_weight`` of another shape than ``()``, ``(n,)`` or ``(n, 1)``.
        """
        n = P.shape[0]
        w = None if sample_weight is None else check_sample_weight(xp, sample_weight, P)
        m = self.mask(xp, y, P)
        c = w if m is None else (m if w is None else w * m)
        if self.reduction in ("sum", None):
            return 1.0 if c is None else c
        if self.reduction == "mean_with_sample_weight" and w is not None:
            return c / _nonzero(xp, xp.sum(c))
        if m is None:
            return 1.0 / max(n, 1) if c is None else c * (1.0 / max(n, 1))
        return c / _nonzero(xp, xp.sum(m))

    def value(self, xp, y, P, sample_weight=None):
        """The reduced loss ``L`` as a 0-d array on ``P``'s device (the weighted per-sample
        values, shape ``(n,)``, for ``reduction=None``).

        Args:
            xp: the array namespace of ``P``.
            y: targets prepared by :meth:`prepare_targets`.
            P: the network's output, shape ``(n, ...)``.
            sample_weight: optional per-sample weights ``w``: shape ``(n,)`` or ``(n, 1)``, or
                one weight for all (a number or a 0-d array), on ``P``'s device.

        Raises:
            ValueError: ``sample_weight`` has another shape.
        """
        c = self.factors(xp, y, P, sample_weight)
        if isinstance(c, float) and self.reduces:
            return xp.sum(self.values(xp, y, P)) * c
        weighted = self.values(xp, y, P) * c
        return xp.sum(weighted) if self.reduces else weighted

    def gradient(self, xp, y, P, sample_weight=None):
        """``∂L/∂P``, same shape as ``P``; ``sample_weight`` as in :meth:`value`. For
        ``reduction=None`` it is the gradient of the sum of the weighted per-sample values."""
        return self._reduced(xp, self.gradients(xp, y, P), self.factors(xp, y, P, sample_weight))

    @staticmethod
    def _reduced(xp, G, c):
        """``c_i G_i`` row by row: per-sample gradients ``G`` times the reduction's factors."""
        if isinstance(c, float):
            return G * c
        return G * xp.reshape(c, (G.shape[0],) + (1,) * (G.ndim - 1))

    def __call__(self, y_true, y_pred, sample_weight=None):
        """The loss of a batch, as Keras's ``loss(y_true, y_pred, sample_weight)``.

        ``y_pred`` is an array of any backend (or a list, read as NumPy); ``y_true`` and
        ``sample_weight`` are brought to its device. A 1-D ``y_pred`` holds ``n`` samples of
        one output. Returns a 0-d array (the per-sample values for ``reduction=None``).

        Raises:
            ValueError: targets that do not fit ``y_pred``, or a ``sample_weight`` of
                another shape than ``()``, ``(n,)`` or ``(n, 1)``.
        """
        xp, y, P, w = call_arrays(y_true, y_pred, sample_weight)
        if P.ndim == 1:
            P = xp.reshape(P, (P.shape[0], 1))
        if not xp.isdtype(y.dtype, ("bool", "integral", "real floating")):
            raise TypeError(f"y_true must hold real numbers, got dtype {y.dtype}")
        y = self.prepare_targets(xp, y, tuple(P.shape), dtype_name(P.dtype))
        if y.ndim == 0 or y.shape[0] != P.shape[0]:
            raise ValueError(f"y_true has shape {tuple(y.shape)} but y_pred has {P.shape[0]} "
                             "samples; they must match")
        return self.value(xp, y, P, w)

    def logits_loss(self, activation) -> Loss | None:
        """The same loss taking logits, when it can be fused with ``activation``; else None."""
        return None

    # -- targets --------------------------------------------------------------
    def convert_targets(self, xp, y):
        """Targets already checked, in the form :meth:`values` takes (the hinges turn 0/1
        into -1/1); on the device, no read. :meth:`prepare_targets` ends with it."""
        return y

    def prepare_targets(self, xp, y, output_shape, dtype: str):
        """Check targets against the output shape and cast them; returns the targets.

        Dense targets must have the output's shape; ``(n,)`` is accepted for a
        single-unit output. Raises ValueError naming what was expected.
        """
        y = xp.astype(y, getattr(xp, dtype))
        if y.ndim == 1 and len(output_shape) == 2 and output_shape[1] == 1:
            y = xp.reshape(y, (y.shape[0], 1))
        if tuple(y.shape[1:]) != tuple(output_shape[1:]) or output_shape[0] not in (None, y.shape[0]):
            raise ValueError(
                f"targets of shape {tuple(y.shape)} do not fit the model output "
                f"{_shape_str(output_shape)} for loss {self.name!r}"
            )
        return y

    def class_sample_weights(self, xp, y, class_weight: dict, dtype: str | None = None,
                             num_classes: int | None = None):
        """Per-sample weights ``w_i = class_weight[class of y_i]`` for ``fit(class_weight=...)``.

        The class of a sample is read from the prepared targets as Keras does: the
        label itself for ``(n,)`` integer labels, ``round(y)`` for ``(n, 1)`` targets
        (binary 0/1), ``argmax(y)`` for one-hot ``(n, C)`` targets; hinge losses read
        target -1 as class 0. Classes missing from ``class_weight`` get weight 1 (as in
        Keras).

        Args:
            xp: the namespace of ``y``.
            y: targets prepared by :meth:`prepare_targets`.
            class_weight: ``{class_index: weight}`` with integer keys and finite,
                non-negative weights.
            dtype: dtype name of the weights (the model's, e.g. ``"float32"``);
                defaults to ``y``'s dtype when it is floating, else ``"float32"``.
            num_classes: the output's classes ``C`` (2 for a single unit), when known:
                every key must then be one of ``0..C-1``.

        Returns:
            ``w``, shape ``(n,)``, on ``y``'s device.

        Raises:
            TypeError: ``class_weight`` is not a dict of integer keys and numbers.
            ValueError: a weight is negative or not finite, or a key is not a class.
        """
        table = _check_class_weight(class_weight)
        unknown = sorted(k for k in table if num_classes is not None and not 0 <= k < num_classes)
        if unknown:
            raise ValueError(f"class_weight has keys {unknown} that are not classes of the output; its "
                             f"classes are 0..{num_classes - 1}")
        if dtype is None:
            floating = xp.isdtype(y.dtype, "real floating")
            dtype = dtype_name(y.dtype) if floating else "float32"
        ids = self._class_ids(xp, y)
        w = xp.ones(ids.shape, dtype=getattr(xp, dtype), device=array_api_compat.device(y))
        for k, weight in table.items():
            key = float(k) if xp.isdtype(ids.dtype, "real floating") else k
            w = xp.where(ids == key, xp.full_like(w, weight), w)
        return w

    def _class_ids(self, xp, y):
        """The class of each sample, shape ``(n,)`` (integer, or integer-valued floats)."""
        if y.ndim > 1:
            if y.shape[-1] != 1:
                return xp.argmax(xp.reshape(y, (y.shape[0], -1)), axis=-1)
            y = xp.reshape(y, (y.shape[0],))
        if xp.isdtype(y.dtype, "real floating"):
            return xp.round(y)
        return y

    # -- configuration --------------------------------------------------------
    def get_config(self) -> dict:
        """The constructor arguments: ``type(self)(**loss.get_config())`` rebuilds the loss."""
        return {"reduction": self.reduction, "name": self.name}

    @classmethod
    def from_config(cls, config: dict) -> Loss:
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({args})"


#: Name -> loss class, with Keras's names and short aliases.
LOSSES = Kind("loss", Loss)


def _shape_str(shape) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def check_sample_weight(xp, sample_weight, P):
    """``sample_weight`` as an ``(n,)`` array in ``P``'s dtype: ``(n, 1)`` is reshaped and one
    weight (a 0-d array) repeated. Shape checks only: no device read."""
    n = P.shape[0]
    w = sample_weight
    if w.ndim == 0:
        w = xp.broadcast_to(w, (n,))
    elif w.ndim == 2 and w.shape[1] == 1:
        w = xp.reshape(w, (w.shape[0],))
    if tuple(w.shape) != (n,):
        raise ValueError(
            f"sample_weight must have shape ({n},) or ({n}, 1), one weight per sample of the output "
            f"of shape {tuple(P.shape)}, or be one number, got shape {tuple(sample_weight.shape)}"
        )
    if w.dtype != P.dtype:
        w = xp.astype(w, P.dtype)
    return w


def _nonzero(xp, total):
    """``total``, or 1 where it is 0: a sum over nothing divides by 1 (no NaN, no warning)."""
    return total + xp.astype(total == 0.0, total.dtype)


def call_arrays(y_true, y_pred, sample_weight=None):
    """``(xp, y, P, w)`` for a direct call ``loss(y_true, y_pred, sample_weight)`` (and a metric's
    ``update_state``): ``y_pred`` as an array (a list becomes NumPy, in :func:`~flexnet.floatx`
    unless it is floating already), ``y_true`` and ``sample_weight`` on its namespace and device
    (floating data in its dtype, integers kept), and a number as weight becomes a 0-d array.
    A number as target or prediction is one sample, shape ``(1,)``.

    Raises:
        TypeError: something that cannot be read as an array.
    """
    xp, P = namespace_of(y_pred, "y_pred")
    if not xp.isdtype(P.dtype, ("bool", "integral", "real floating")):
        raise TypeError(f"y_pred must hold real numbers, got dtype {P.dtype}")
    if not xp.isdtype(P.dtype, "real floating"):
        P = xp.astype(P, getattr(xp, floatx()))
    y = _like(y_true, P, "y_true")
    if P.ndim == 0:  # one number: one sample of one output
        P = xp.reshape(P, (1,))
    if y.ndim == 0:
        y = xp.reshape(y, (1,))
    return xp, y, P, None if sample_weight is None else _like(
        sample_weight, P, "sample_weight", floating=True)


def _like(value, P, what: str, floating: bool = False):
    """``value`` on ``P``'s namespace and device: an array of that namespace as it is, anything
    else copied there (floating data, and with ``floating`` all data, in ``P``'s dtype)."""
    xp = array_api_compat.array_namespace(P)
    if is_array(value) and array_api_compat.array_namespace(value) is xp:
        return xp.astype(value, P.dtype) if floating and value.dtype != P.dtype else value
    host = as_host_array(value, what)
    return to_device_like(host.astype(float) if floating else host, P)


def _check_class_weight(class_weight) -> dict[int, float]:
    """``{int: float}`` from a user's class_weight dict, or a clear error."""
    if not isinstance(class_weight, dict):
        raise TypeError(
            f"class_weight must be a dict {{class_index: weight}}, got {type(class_weight).__name__}"
        )
    table = {}
    for k, v in class_weight.items():
        if isinstance(k, bool) or not isinstance(k, numbers.Integral):
            raise TypeError(f"class_weight keys must be integer class indices, got {k!r}")
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise TypeError(f"class_weight[{k!r}] must be a number, got {v!r}")
        if not math.isfinite(float(v)) or float(v) < 0.0:
            raise ValueError(f"class_weight[{k!r}] must be a finite number >= 0, got {v!r}")
        table[int(k)] = float(v)
    return table


def _mean_last(xp, A):
    """Mean over the last axis: ``(n, k) -> (n,)``."""
    return xp.mean(A, axis=-1)
