"""The base class of losses (per-sample values and gradients, reduced over the batch, with
sample and class weights), the table of their names, and the checks losses share.
"""

from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod

import array_api_compat

from flexnet.backend import dtype_name
from flexnet.registry import Kind
from flexnet.transfer import namespace_of

__all__ = ["EPSILON", "LOSSES", "REDUCTIONS", "Loss"]


EPSILON = 1e-7  # probabilities are clipped to [ε, 1 - ε] before a log, as in Keras

REDUCTIONS = ("sum_over_batch_size", "sum")


class Loss(ABC):
    """Base class: per-sample values and gradients, reduced over the batch.

    Subclasses implement :meth:`values` and :meth:`gradients`; both receive
    targets ``y`` already checked by :meth:`prepare_targets`. The reduction, with
    optional per-sample weights ``w`` (shape ``(n,)``), is done here: ``value``
    gives ``L = s Σ_i w_i ℓ_i`` and ``gradient`` gives ``∂L/∂P_i = s w_i ∂ℓ_i/∂P_i``
    with ``s = 1/n`` (``"sum_over_batch_size"``: divided by the batch size, not by
    ``Σ w``, as in Keras) or ``s = 1`` (``"sum"``).

    Args:
        reduction: ``"sum_over_batch_size"`` (mean over samples) or ``"sum"``.
        name: the name shown in logs.

    Example:
        >>> import numpy as np
        >>> import array_api_compat.numpy as xp
        >>> from flexnet.losses import MeanSquaredError
        >>> loss = MeanSquaredError()
        >>> y, P = np.array([[0.0], [1.0]]), np.array([[1.0], [1.0]])
        >>> float(loss.value(xp, y, P)), float(loss.value(xp, y, P, np.array([3.0, 1.0])))
        (0.5, 1.5)
    """

    name = "loss"
    #: True when targets are class indices (shape ``(n,)``) rather than arrays like the output.
    sparse_targets = False

    def __init__(self, reduction: str = "sum_over_batch_size", name: str | None = None):
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
        self.reduction = reduction
        if name is not None:
            self.name = name

    @abstractmethod
    def values(self, xp, y, P):
        """Per-sample losses ``ℓ_i``, shape ``(n,)``."""

    @abstractmethod
    def gradients(self, xp, y, P):
        """``∂ℓ_i/∂P_i`` for every sample, same shape as ``P`` (not divided by ``n``)."""

    def scale(self, n: int) -> float:
        """The factor that reduces a sum of ``n`` per-sample losses: ``1/n`` or 1."""
        return 1.0 / n if self.reduction == "sum_over_batch_size" else 1.0

    def value(self, xp, y, P, sample_weight=None):
        """The reduced loss ``L`` as a 0-d array on ``P``'s device.

        Args:
            xp: the array namespace of ``P``.
            y: targets prepared by :meth:`prepare_targets`.
            P: the network's output, shape ``(n, ...)``.
            sample_weight: optional per-sample weights ``w``, shape ``(n,)``, on ``P``'s
                device (cast to ``P``'s dtype if needed).

        Raises:
            ValueError: ``sample_weight`` is not of shape ``(n,)``.
        """
        if sample_weight is None:
            return xp.sum(self.values(xp, y, P)) * self.scale(P.shape[0])
        w = _check_sample_weight(xp, sample_weight, P)
        return xp.sum(self.values(xp, y, P) * w) * self.scale(P.shape[0])

    def gradient(self, xp, y, P, sample_weight=None):
        """``∂L/∂P``, same shape as ``P``; ``sample_weight`` as in :meth:`value`."""
        if sample_weight is None:
            return self.gradients(xp, y, P) * self.scale(P.shape[0])
        return self._weighted(xp, self.gradients(xp, y, P), P, sample_weight)

    def _weighted(self, xp, G, P, sample_weight):
        """``s w_i G_i`` row by row: per-sample gradients ``G`` weighted and reduced."""
        w = _check_sample_weight(xp, sample_weight, P) * self.scale(P.shape[0])
        return G * xp.reshape(w, (P.shape[0],) + (1,) * (P.ndim - 1))

    def __call__(self, y_true, y_pred, sample_weight=None):
        """The reduced loss of a batch, e.g. ``fx.losses.get("mse")(y, p)``.

        ``y_pred`` is a float array with a batch axis, shape ``(n, ...)`` (``(n,)`` is read
        as ``(n, 1)``, one output per sample); ``y_true`` and
        ``sample_weight`` are arrays of the same library (lists and NumPy scalars are read
        as NumPy arrays).
        """
        xp, y_pred = namespace_of(y_pred, "y_pred")
        y_true = namespace_of(y_true, "y_true")[1]
        if sample_weight is not None:
            sample_weight = namespace_of(sample_weight, "sample_weight")[1]
        if y_pred.ndim == 0 or not y_pred.shape[0] or not xp.isdtype(y_pred.dtype, "real floating"):
            raise ValueError(f"y_pred must be a float array of n >= 1 samples, shape (n, ...), got "
                             f"shape {tuple(y_pred.shape)} of dtype {y_pred.dtype}")
        xp = array_api_compat.array_namespace(y_true, y_pred, *(() if sample_weight is None
                                                                else (sample_weight,)))
        for name, a in (("y_true", y_true), ("sample_weight", sample_weight)):
            if a is not None and not xp.isdtype(a.dtype, ("bool", "integral", "real floating")):
                raise TypeError(f"{name} must hold real numbers, got dtype {a.dtype}")
        if y_pred.ndim == 1:  # one output per sample
            y_pred = xp.reshape(y_pred, (y_pred.shape[0], 1))
        y = self.prepare_targets(xp, y_true, y_pred.shape, dtype_name(y_pred.dtype))
        if y.ndim == 0 or y.shape[0] != y_pred.shape[0]:
            raise ValueError(f"y_true has shape {tuple(y_true.shape)} but y_pred has {y_pred.shape[0]} "
                             "samples; they must match")
        return self.value(xp, y, y_pred, sample_weight)

    def logits_loss(self, activation) -> Loss | None:
        """The same loss taking logits, when it can be fused with ``activation``; else None."""
        return None

    # -- targets --------------------------------------------------------------
    def prepare_targets(self, xp, y, output_shape, dtype: str):
        """Check targets against the output shape and cast them; returns the targets.

        Dense targets must have the output's shape; ``(n,)`` is accepted for a
        single-unit output. Raises ValueError naming what was expected.
        """
        y = xp.astype(y, getattr(xp, dtype))
        if y.ndim == 1 and len(output_shape) == 2 and output_shape[1] == 1:
            y = xp.reshape(y, (y.shape[0], 1))
        if tuple(y.shape[1:]) != tuple(output_shape[1:]):
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


def _check_sample_weight(xp, sample_weight, P):
    """``sample_weight`` in ``P``'s dtype after checking that its shape is ``(n,)``."""
    n = P.shape[0]
    if tuple(sample_weight.shape) != (n,):
        raise ValueError(
            f"sample_weight must have shape ({n},), one weight per sample of the output of shape "
            f"{tuple(P.shape)}, got shape {tuple(sample_weight.shape)}"
        )
    if sample_weight.dtype != P.dtype:
        sample_weight = xp.astype(sample_weight, P.dtype)
    return sample_weight


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
