"""Small math that every backend runs the same way, with no read of the device.

array-api-compat's ``clip`` and ``sign`` on CuPy assign through boolean masks,
which read the device on every call (and break CUDA-graph capture); these forms
use ``minimum``/``maximum``/``where`` only. Compute code uses them instead of
``xp.clip`` and ``xp.sign`` (``tests/test_ops.py`` checks that it does).
"""

from __future__ import annotations

__all__ = ["clip", "sign"]


def clip(xp, x, low=None, high=None):
    """``min(max(x, low), high)`` elementwise; ``low``/``high`` are Python numbers or None."""
    if low is not None:
        x = xp.maximum(x, low)
    if high is not None:
        x = xp.minimum(x, high)
    return x


def sign(xp, x):
    """``-1``, ``0`` or ``1`` by the sign of each entry (``sign(0) = 0``), in ``x``'s dtype."""
    return xp.astype(x > 0, x.dtype) - xp.astype(x < 0, x.dtype)
