"""Row-wise activations: softmax and log-softmax along an axis (the class axis) or several,
whose backward passes sum over those axes.
"""

from __future__ import annotations

from flexnet.activations.base import ACTIVATIONS, ActivationFunction, _axis

__all__ = ["LogSoftmax", "Softmax"]


# -- softmax ------------------------------------------------------------------------------------


@ACTIVATIONS.register("softmax")
class Softmax(ActivationFunction):
    """Softmax along ``axis``: ``y_i = e^{z_i - max z} / Σ_j e^{z_j - max z}``.

    Backward: ``dZ = Y ⊙ (dY - Σ_j dY_j Y_j)`` along ``axis``. With several axes (a tuple,
    as ``keras.activations.softmax``) the sums and the max run over all of them together,
    so the entries of each slice across those axes sum to one.

    Bridle, "Probabilistic Interpretation of Feedforward Classification Network Outputs",
    1990.

    Args:
        axis: the axis that sums to one (the class axis, last by default), or a tuple of axes.

    Example:
        >>> import numpy as np
        >>> Y = Softmax(axis=(0, 1))(np.arange(6.0).reshape(2, 3))
        >>> round(float(np.sum(Y)), 12), Y.shape
        (1.0, (2, 3))
    """

    name = "softmax"

    def __init__(self, axis: int | tuple[int, ...] = -1):
        self.axis = _axis(axis, several=True)

    def forward(self, xp, Z):
        E = xp.exp(Z - xp.max(Z, axis=self.axis, keepdims=True))
        return E / xp.sum(E, axis=self.axis, keepdims=True)

    def backward(self, xp, Z, Y, dY):
        return Y * (dY - xp.sum(dY * Y, axis=self.axis, keepdims=True))

    def get_config(self) -> dict:
        return {"axis": list(self.axis) if isinstance(self.axis, tuple) else self.axis}


@ACTIVATIONS.register("log_softmax")
class LogSoftmax(ActivationFunction):
    """Log-softmax along ``axis``: ``y_i = z_i - m - log Σ_j e^{z_j - m}`` with ``m = max z``.

    Backward: ``dZ = dY - softmax(Z) Σ_j dY_j`` along ``axis``, with ``softmax(Z) = e^Y``.

    Args:
        axis: the normalized axis (the class axis, last by default), or a tuple of axes.
    """

    name = "log_softmax"

    def __init__(self, axis: int | tuple[int, ...] = -1):
        self.axis = _axis(axis, several=True)

    def forward(self, xp, Z):
        S = Z - xp.max(Z, axis=self.axis, keepdims=True)
        return S - xp.log(xp.sum(xp.exp(S), axis=self.axis, keepdims=True))

    def backward(self, xp, Z, Y, dY):
        return dY - xp.exp(Y) * xp.sum(dY, axis=self.axis, keepdims=True)

    def get_config(self) -> dict:
        return {"axis": list(self.axis) if isinstance(self.axis, tuple) else self.axis}

# -- instances with the default arguments ------------------------------------------------------

softmax = Softmax()
log_softmax = LogSoftmax()
