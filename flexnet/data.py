"""Data helpers: mini-batches and the train/validation split that ``fit`` uses.

They work on any Array API array (and NumPy on the host), so a hand-written
training loop can use the same iterator as ``fit``.
"""

from __future__ import annotations

import math

import array_api_compat

__all__ = ["batches", "num_batches", "split_validation"]


def num_batches(n: int, batch_size: int) -> int:
    """Number of mini-batches of ``batch_size`` covering ``n`` samples (the last may be short)."""
    return math.ceil(n / batch_size)


def batches(*arrays, batch_size: int = 32, order=None):
    """Yield mini-batches ``(a[i:i+batch_size], ...)`` of equally long arrays.

    Args:
        *arrays: arrays with the same first dimension (``None`` passes through as ``None``).
        batch_size: samples per batch; the last batch holds the remainder.
        order: optional permutation of the sample indices (an integer array on the
            arrays' device); each batch then gathers ``order[i:i+batch_size]``. Gathering
            per batch is several times faster than shuffling the whole data set up front
            and needs no second copy of it.

    Example:
        >>> import numpy as np
        >>> [xb.shape for (xb,) in batches(np.zeros((5, 2)), batch_size=2)]
        [(2, 2), (2, 2), (1, 2)]
    """
    check_batch_size(batch_size)
    present = [a for a in arrays if a is not None]
    n = present[0].shape[0]
    if any(a.shape[0] != n for a in present):
        raise ValueError(f"arrays must have the same length, got {[a.shape[0] for a in present]}")
    if order is not None and order.shape[0] != n:
        raise ValueError(f"order has {order.shape[0]} indices for {n} samples")
    xp = None if order is None else array_api_compat.array_namespace(*present, order)
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)  # out-of-bounds stops are not in the standard
        if order is None:
            yield tuple(None if a is None else a[start:stop, ...] for a in arrays)
        else:
            index = order[start:stop]
            yield tuple(None if a is None else xp.take(a, index, axis=0) for a in arrays)


def check_batch_size(batch_size) -> int:
    """``batch_size`` as a positive int, or a ValueError saying what came."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    return batch_size


def split_validation(x, y, validation_split: float):
    """Split off the last ``validation_split`` fraction of the samples, as Keras does
    (before any shuffling). Returns ``(x_train, y_train), (x_val, y_val)``."""
    if isinstance(validation_split, bool) or not 0.0 <= validation_split < 1.0:
        raise ValueError(f"validation_split must be in [0, 1), got {validation_split!r}")
    n = x.shape[0]
    n_val = int(math.floor(n * validation_split))
    if n_val == 0 or n_val == n:
        raise ValueError(
            f"validation_split={validation_split} of {n} samples leaves "
            f"{n - n_val} for training and {n_val} for validation; both must be non-empty"
        )
    cut = n - n_val
    return (x[:cut, ...], y[:cut, ...]), (x[cut:, ...], y[cut:, ...])
