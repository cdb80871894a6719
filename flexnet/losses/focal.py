"""Focal cross-entropies (Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017):
the binary and categorical cross-entropies with each term scaled down where the prediction is
already confident, as Keras 3 writes them.
"""

from __future__ import annotations

import math
import numbers

import array_api_compat

from flexnet import activations
from flexnet.losses.base import LOSSES, Loss, _mean_last
from flexnet.losses.crossentropy import (
    _check_targets_in_unit_interval,
    _clip,
    _inside,
    _refuse_integer_labels,
    _rescaled,
    _smooth_binary,
    _smooth_categorical,
    _through_rescaling,
    _unit,
)

__all__ = ["BinaryFocalCrossentropy", "CategoricalFocalCrossentropy"]


def _non_negative(value, what: str) -> float:
    """``value`` as a finite float ``>= 0`` (``gamma``, each class's ``alpha``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} must be a number >= 0, got {value!r}")
    if not (math.isfinite(value) and value >= 0.0):
        raise ValueError(f"{what} must be a finite number >= 0, got {value!r}")
    return float(value)


def _power_and_slope(xp, U, gamma: float):
    """``(U^γ, γ U^(γ-1))`` for ``U ≥ 0``: the focal factor and its derivative. Where ``U = 0``
    the slope is 0 for ``γ = 0`` and for ``0 < γ < 1`` (where it is infinite), ``U^(γ-1)``
    otherwise."""
    if gamma == 0.0:
        return xp.ones_like(U), xp.zeros_like(U)
    if gamma >= 1.0:
        return U**gamma, (U ** (gamma - 1.0)) * gamma
    positive = U > 0.0
    safe = xp.where(positive, U, xp.ones_like(U))
    return U**gamma, (safe ** (gamma - 1.0)) * gamma * xp.astype(positive, U.dtype)


class _Focal(Loss):
    """Shared arguments of the focal losses. They do not fuse with the output activation:
    with ``from_logits`` the sigmoid/softmax is applied to the logits and the result clipped,
    as Keras does, so the value is Keras's to the last digit."""

    def __init__(self, alpha, gamma: float, from_logits: bool, label_smoothing: float,
                 reduction, name):
        super().__init__(reduction=reduction, name=name)
        self.alpha = alpha
        self.gamma = _non_negative(gamma, "gamma")
        self.from_logits = bool(from_logits)
        self.label_smoothing = _unit(label_smoothing, "label_smoothing")

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha, "gamma": self.gamma,
                "from_logits": self.from_logits, "label_smoothing": self.label_smoothing}


@LOSSES.register("binary_focal_crossentropy")
class BinaryFocalCrossentropy(_Focal):
    """Binary cross-entropy with a focal factor, averaged over the ``k`` outputs of a sample.

    With ``p`` the probability (``σ(z)`` with ``from_logits``), ``p̄`` it clipped to
    ``[ε, 1-ε]`` and ``ỹ = (1 - s) y + s/2`` (label smoothing ``s``), per output::

        bce = -[ỹ log p̄ + (1-ỹ) log(1-p̄)]        u = 1 - p_t = ỹ (1-p) + (1-ỹ) p
        ℓ = (1/k) Σ_j β u^γ bce                     β = α ỹ + (1-α)(1-ỹ)  (1 unless balancing)

    ``γ = 0`` (and no balancing) is :class:`BinaryCrossentropy`; a larger ``γ`` makes
    confident right answers count less. The gradient is
    ``∂ℓ/∂p = β [γ u^(γ-1) (1-2ỹ) bce + u^γ ∂bce/∂p] / k`` (times ``p(1-p)`` from logits).
    These are Keras 3's formulas, clipping included.

    Args:
        apply_class_balancing: weigh positives by ``α`` and negatives by ``1-α``.
        alpha: ``α`` in ``[0, 1]``, used with ``apply_class_balancing``.
        gamma: ``γ ≥ 0``, the focusing exponent.
        from_logits: the outputs are logits (a sigmoid is applied first).
        label_smoothing: ``s`` in ``[0, 1]``.
        reduction, name: as in :class:`Loss`.

    Example:
        >>> import numpy as np
        >>> y, p = np.array([[0.0, 1.0], [0.0, 0.0]]), np.array([[0.6, 0.4], [0.4, 0.6]])
        >>> np.round(BinaryFocalCrossentropy(gamma=2.0, reduction=None)(y, p), 3)  # Keras's doc
        array([0.33 , 0.206])
    """

    name = "binary_focal_crossentropy"

    def __init__(self, apply_class_balancing: bool = False, alpha: float = 0.25, gamma: float = 2.0,
                 from_logits: bool = False, label_smoothing: float = 0.0,
                 reduction="sum_over_batch_size", name=None):
        super().__init__(_unit(alpha, "alpha"), gamma, from_logits, label_smoothing, reduction, name)
        if not isinstance(apply_class_balancing, bool):
            raise TypeError(f"apply_class_balancing must be True or False, got {apply_class_balancing!r}")
        self.apply_class_balancing = apply_class_balancing

    def _parts(self, xp, y, P):
        """``(p, ỹ, β, u^γ, γ u^(γ-1), bce)``, every one shaped like ``P``."""
        p = activations.sigmoid.forward(xp, P) if self.from_logits else P
        y = _smooth_binary(y, self.label_smoothing)
        pc = _clip(xp, p)
        bce = -(y * xp.log(pc) + (1.0 - y) * xp.log(1.0 - pc))
        F, dF = _power_and_slope(xp, y * (1.0 - p) + (1.0 - y) * p, self.gamma)
        beta = y * (2.0 * self.alpha - 1.0) + (1.0 - self.alpha) if self.apply_class_balancing else 1.0
        return p, y, beta, F, dF, bce

    def values(self, xp, y, P):
        _, _, beta, F, _, bce = self._parts(xp, y, P)
        return _mean_last(xp, beta * F * bce)

    def gradients(self, xp, y, P):
        p, y, beta, F, dF, bce = self._parts(xp, y, P)
        pc = _clip(xp, p)
        dbce = (pc - y) / (pc * (1.0 - pc)) * _inside(xp, p)
        G = beta * (dF * (1.0 - 2.0 * y) * bce + F * dbce) * (1.0 / P.shape[-1])
        return G * (p * (1.0 - p)) if self.from_logits else G

    def prepare_targets(self, xp, y, output_shape, dtype):
        y = super().prepare_targets(xp, y, output_shape, dtype)
        _check_targets_in_unit_interval(xp, y, self.name)
        return y

    def get_config(self):
        return {**super().get_config(), "apply_class_balancing": self.apply_class_balancing}


@LOSSES.register("categorical_focal_crossentropy")
class CategoricalFocalCrossentropy(_Focal):
    """Categorical cross-entropy with a focal factor, for one-hot (or soft) targets ``(n, C)``.

    With ``p`` the probabilities (``softmax(z)`` with ``from_logits``), ``q = p / Σ_c p_c``,
    ``q̄`` it clipped to ``[ε, 1-ε]`` and ``ỹ = (1 - s) y + s/C``::

        ℓ = Σ_c α_c (1 - q̄_c)^γ (-ỹ_c log q̄_c)

    with ``α`` one number or one per class. ``γ = 0, α = 1`` is
    :class:`CategoricalCrossentropy`. The gradient with respect to ``q`` is
    ``g_c = α_c [γ (1-q̄_c)^(γ-1) ỹ_c log q̄_c - (1-q̄_c)^γ ỹ_c / q̄_c]`` where unclipped,
    taken back through the rescaling (and the softmax). Keras 3's formulas, clipping included.

    Args:
        alpha: ``α``: a number, or a list of ``C`` numbers (one per class).
        gamma: ``γ ≥ 0``, the focusing exponent.
        from_logits: the outputs are logits (a softmax is applied first).
        label_smoothing: ``s`` in ``[0, 1]``.
        reduction, name: as in :class:`Loss`.

    Example:
        >>> import numpy as np
        >>> y = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        >>> p = np.array([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]])
        >>> round(float(CategoricalFocalCrossentropy()(y, p)), 5)   # Keras's docstring
        0.23315
    """

    name = "categorical_focal_crossentropy"

    def __init__(self, alpha=0.25, gamma: float = 2.0, from_logits: bool = False,
                 label_smoothing: float = 0.0, reduction="sum_over_batch_size", name=None):
        if isinstance(alpha, (list, tuple)):
            alpha = [_non_negative(a, "alpha") for a in alpha]
            if not alpha:
                raise ValueError("alpha must be a number or a non-empty list of numbers, got []")
        else:
            alpha = _non_negative(alpha, "alpha")
        super().__init__(alpha, gamma, from_logits, label_smoothing, reduction, name)
        self._alpha_cache = None  # (key, array): the per-class alpha on the device

    def _alpha(self, xp, P):
        if not isinstance(self.alpha, list):
            return self.alpha
        if len(self.alpha) != P.shape[-1]:
            raise ValueError(f"{self.name}: alpha has {len(self.alpha)} entries for an output of "
                             f"{P.shape[-1]} classes; give one per class or one number")
        device = array_api_compat.device(P)
        key = (xp, P.dtype, str(device))
        if self._alpha_cache is None or self._alpha_cache[0] != key:
            self._alpha_cache = (key, xp.asarray(self.alpha, dtype=P.dtype, device=device))
        return self._alpha_cache[1]

    def _parts(self, xp, y, P):
        p = activations.softmax.forward(xp, P) if self.from_logits else P
        Q, S = _rescaled(xp, p)
        Qc = _clip(xp, Q)
        F, dF = _power_and_slope(xp, 1.0 - Qc, self.gamma)
        return p, Q, S, Qc, F, dF, _smooth_categorical(y, self.label_smoothing) * self._alpha(xp, P)

    def values(self, xp, y, P):
        _, _, _, Qc, F, _, ay = self._parts(xp, y, P)
        return -xp.sum(ay * F * xp.log(Qc), axis=-1)

    def gradients(self, xp, y, P):
        p, Q, S, Qc, F, dF, ay = self._parts(xp, y, P)
        G = ay * (dF * xp.log(Qc) - F / Qc) * _inside(xp, Q)
        dP = _through_rescaling(xp, G, Q, S)
        return activations.softmax.backward(xp, P, p, dP) if self.from_logits else dP

    def prepare_targets(self, xp, y, output_shape, dtype):
        _refuse_integer_labels(y, output_shape, self.name)
        return super().prepare_targets(xp, y, output_shape, dtype)

