"""Data helpers: mini-batches, train/test and validation splits, standardization, one-hot labels,
and :class:`Dataset`.

They work on NumPy arrays on the host and on any Array API array (the namespace
comes from the data), so a hand-written training loop can use the same
mini-batch iterator as ``fit``. Standardization lives in ``scaling.py``; :class:`Dataset`,
the base class for data computed a batch at a time, which ``fit`` reads while it trains,
in ``dataset.py``.
"""

from __future__ import annotations

import math
import numbers

import array_api_compat
import numpy as np

from flexnet import utils
from flexnet.backend import default_index_dtype, dtype_name
from flexnet.data.dataset import Dataset, PyDataset
from flexnet.data.scaling import Standardizer, StandardScaler
from flexnet.transfer import as_array, is_array, is_device_array, namespace_of

__all__ = [
    "Dataset",
    "PyDataset",
    "StandardScaler",
    "Standardizer",
    "batches",
    "check_batch_size",
    "check_count",
    "validation_cut",
    "num_batches",
    "one_hot",
    "split_validation",
    "to_categorical",
    "train_test_split",
]


# ---------------------------------------------------------------------------
# Mini-batches.


def num_batches(n: int, batch_size: int) -> int:
    """Number of mini-batches of ``batch_size`` covering ``n`` samples (the last may be short)."""
    return math.ceil(n / batch_size)


def check_count(value, what: str, positive: bool = False) -> int:
    """``value`` as a Python int (NumPy integers accepted), ``>= 0`` or, when ``positive``,
    ``> 0``; else a ValueError saying what came."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < int(positive):
        raise ValueError(f"{what} must be {'a positive int' if positive else 'an int >= 0'}, got {value!r}")
    return int(value)


def check_batch_size(batch_size) -> int:
    """``batch_size`` as a positive int (see :func:`check_count`)."""
    return check_count(batch_size, "batch_size", positive=True)


def _rng(seed) -> np.random.Generator:
    """A host generator: from ``seed`` (an int or a Generator, which is used as is), or from
    flexnet's seed sequence (:func:`flexnet.utils.set_random_seed`) when ``seed`` is None."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        return np.random.default_rng(utils.next_seed())
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, a numpy Generator or None, got {seed!r}")
    return np.random.default_rng(int(seed))


def batches(*arrays, batch_size: int = 32, order=None, shuffle: bool = False, seed=None):
    """Yield mini-batches ``(a[i:i+batch_size], ...)`` of equally long arrays.

    This is the iterator ``fit``, ``evaluate`` and ``predict`` use; it works on NumPy
    arrays and on arrays of any backend (batches stay where the data is).

    Args:
        *arrays: arrays with the same first dimension (``None`` passes through as ``None``).
        batch_size: samples per batch; the last batch holds the remainder.
        order: optional permutation of the sample indices (an integer array on the
            arrays' device); each batch then gathers ``order[i:i+batch_size]``. Gathering
            per batch is several times faster than shuffling the whole data set up front
            and needs no second copy of it.
        shuffle: visit the samples in a random order: a permutation drawn on the host
            from ``seed`` and copied to the arrays' device once (the same seed gives the
            same order on every backend). Not together with ``order``.
        seed: an int, a ``numpy.random.Generator`` (its stream continues, so one
            generator gives a new order at every call), or ``None`` (drawn from
            :func:`flexnet.utils.set_random_seed`'s sequence).

    Yields:
        tuples with one batch of each array, shapes ``(b, ...)`` with ``b <= batch_size``.

    Raises:
        ValueError: a bad ``batch_size``, arrays of different lengths, or an ``order``
            of the wrong length.

    Example:
        >>> import numpy as np
        >>> [xb.shape for (xb,) in batches(np.zeros((5, 2)), batch_size=2)]
        [(2, 2), (2, 2), (1, 2)]

        A hand-written training loop, one optimizer step per mini-batch:

        >>> import flexnet as fx
        >>> rng = np.random.default_rng(0)
        >>> X = rng.normal(size=(256, 3))
        >>> y = X @ np.array([[1.0], [-2.0], [0.5]]) + 0.3
        >>> model = fx.Sequential([fx.layers.Dense(1, input_dim=3)])
        >>> model.compile(optimizer=fx.optimizers.SGD(0.1), loss="mse")
        >>> for epoch in range(20):
        ...     for xb, yb in batches(X, y, batch_size=32, shuffle=True, seed=epoch):
        ...         loss, grads = model.compute_gradients(xb, yb)
        ...         model.apply_gradients(grads)
        >>> float(loss) < 1e-3
        True
    """
    check_batch_size(batch_size)
    present = [a for a in arrays if a is not None]
    if not present:
        raise ValueError("batches() needs at least one array")
    n = present[0].shape[0]
    if any(a.shape[0] != n for a in present):
        raise ValueError(f"arrays must have the same length, got {[a.shape[0] for a in present]}")
    if shuffle:
        if order is not None:
            raise ValueError("pass either order or shuffle=True, not both")
        order = _permutation_like(present[0], _rng(seed).permutation(n))
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


def _permutation_like(a, perm: np.ndarray):
    """The host permutation ``perm`` as an index array on ``a``'s device (NumPy stays NumPy)."""
    if not is_device_array(a):
        return perm
    xp, device = array_api_compat.array_namespace(a), array_api_compat.device(a)
    return xp.asarray(perm, dtype=default_index_dtype(xp, device), device=device)


# ---------------------------------------------------------------------------
# Splits.


def validation_cut(n: int, validation_split: float) -> int:
    """Where Keras's ``validation_split`` cuts ``n`` samples: training gets ``[0, cut)``,
    validation ``[cut, n)`` (the last fraction, taken before any shuffling).

    ``cut = floor(n · (1 - validation_split))``, Keras 3's formula
    (``keras/src/trainers/data_adapters/array_slicing.py``, ``train_validation_split``):
    10 samples with ``validation_split=0.25`` give 7 for training and 3 for validation.

    Example:
        >>> validation_cut(10, 0.25), validation_cut(100, 0.1)
        (7, 90)
    """
    if isinstance(validation_split, (bool, np.bool_)) or not isinstance(validation_split, numbers.Real):
        raise TypeError(f"validation_split must be a number in [0, 1), got {validation_split!r} "
                        f"({type(validation_split).__name__})")
    if not 0.0 <= validation_split < 1.0:
        raise ValueError(f"validation_split must be in [0, 1), got {validation_split!r}")
    cut = int(math.floor(n * (1.0 - validation_split)))
    if cut == 0 or cut == n:
        raise ValueError(
            f"validation_split={validation_split} of {n} samples leaves "
            f"{cut} for training and {n - cut} for validation; both must be non-empty"
        )
    return cut


def split_validation(x, y, validation_split: float, sample_weight=None):
    """Split off the last ``validation_split`` fraction of the samples, as Keras does
    (before any shuffling).

    Args:
        x, y: arrays, or lists or dicts of arrays (several inputs or outputs), with the
            samples on the first axis; lists of numbers are read as arrays.
        validation_split: the fraction in ``[0, 1)`` held out.
        sample_weight: optional per-sample weights, split the same way.

    Returns:
        ``(x_train, y_train), (x_val, y_val)``; with ``sample_weight``, 3-tuples that end
        with the weights.
    """
    parts = (x, y) if sample_weight is None else (x, y, sample_weight)
    lengths = [(label, length) for part, name in zip(parts, ("x", "y", "sample_weight"))
               for label, length in _lengths(part, name)]
    n = lengths[0][1]
    for label, length in lengths:
        if length != n:
            raise ValueError(f"validation_split needs every array to hold the same samples: "
                             f"{lengths[0][0]} has {n} but {label} has {length}")
    cut = validation_cut(n, validation_split)
    train, val = slice(0, cut), slice(cut, n)
    return tuple(_take(v, train) for v in parts), tuple(_take(v, val) for v in parts)


def _lengths(v, label: str) -> list[tuple[str, int]]:
    """``(label, number of samples)`` of an array, or of each array of a list or dict."""
    if isinstance(v, dict) or (isinstance(v, (list, tuple)) and v and all(is_array(a) for a in v)):
        items = v.items() if isinstance(v, dict) else enumerate(v)
        return [item for k, a in items for item in _lengths(a, f"{label}[{k!r}]")]
    a = as_array(v, label)
    if a is None:
        raise ValueError(f"{label} is required, got None")
    if a.ndim == 0:
        raise ValueError(f"{label} must have a sample axis, got a scalar")
    return [(label, a.shape[0])]


def _take(v, rows: slice):
    """``v[rows]`` for an array, or for each array of a list or dict of arrays."""
    if v is None:
        return None
    if isinstance(v, dict):
        return {k: _take(a, rows) for k, a in v.items()}
    if isinstance(v, (list, tuple)) and v and all(is_array(a) for a in v):
        return [_take(a, rows) for a in v]
    return as_array(v, "x")[rows, ...]


def _test_count(test_size, n: int) -> int:
    if isinstance(test_size, bool) or not isinstance(test_size, (int, float, np.integer, np.floating)):
        raise TypeError(f"test_size must be a float in (0, 1) or an int, got {test_size!r}")
    if isinstance(test_size, (float, np.floating)):
        if not 0.0 < test_size < 1.0:
            raise ValueError(f"test_size as a fraction must be in (0, 1), got {test_size!r}")
        n_test = math.ceil(test_size * n)
    else:
        n_test = int(test_size)
    if not 0 < n_test < n:
        raise ValueError(
            f"test_size={test_size!r} of {n} samples leaves {n - n_test} for training and "
            f"{n_test} for testing; both must be non-empty"
        )
    return n_test


def train_test_split(*arrays, test_size=0.25, shuffle: bool = True, seed=None, random_state=None):
    """Split arrays into random train and test subsets, like scikit-learn's function.

    The permutation is drawn on the host; NumPy arrays (and lists) are indexed there,
    arrays of other backends are gathered on their device with ``xp.take``.

    Args:
        *arrays: arrays (or lists) with the same first dimension ``n``.
        test_size: a float in ``(0, 1)``, the fraction of samples in the test set
            (``ceil(test_size * n)`` of them, as in scikit-learn), or an int count.
        shuffle: shuffle before splitting; ``False`` takes the last samples for testing.
        seed: an int or a ``numpy.random.Generator`` for a reproducible split; ``None``
            draws from :func:`flexnet.utils.set_random_seed`'s sequence.
        random_state: scikit-learn's name for ``seed`` (give one of the two).

    Returns:
        a list ``[a_train, a_test, b_train, b_test, ...]``, two entries per array.

    Example:
        >>> import numpy as np
        >>> X, y = np.arange(20).reshape(10, 2), np.arange(10)
        >>> X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, seed=0)
        >>> X_train.shape, X_test.shape, sorted(np.concatenate([y_train, y_test]).tolist()) == list(range(10))
        ((7, 2), (3, 2), True)
    """
    if not arrays:
        raise ValueError("train_test_split() needs at least one array")
    if random_state is not None:
        if seed is not None:
            raise ValueError("give seed or random_state (scikit-learn's name for it), not both")
        seed = random_state
    arrays = [a if array_api_compat.is_array_api_obj(a) else np.asarray(a) for a in arrays]
    n = arrays[0].shape[0]
    if any(a.ndim == 0 or a.shape[0] != n for a in arrays):
        raise ValueError(f"arrays must have the same length, got shapes {[tuple(a.shape) for a in arrays]}")
    n_test = _test_count(test_size, n)
    perm = _rng(seed).permutation(n) if shuffle else np.arange(n)
    train, test = perm[: n - n_test], perm[n - n_test :]
    out = []
    for a in arrays:
        if is_device_array(a):
            xp = array_api_compat.array_namespace(a)
            out += [xp.take(a, _permutation_like(a, part), axis=0) for part in (train, test)]
        else:
            out += [a[train], a[test]]
    return out


# ---------------------------------------------------------------------------
# Labels.


def to_categorical(y, num_classes: int | None = None, dtype="float32"):
    """Integer class labels to one-hot rows (Keras's ``to_categorical``).

    ``out[..., c] = 1`` where ``y == c``, else 0. Works on NumPy (and lists) on the
    host and on any backend's arrays, on their device. Reads the labels once to
    check them.

    Args:
        y: class labels in ``0..num_classes-1``, shape ``(n,)`` (a trailing axis of
            length 1, ``(n, 1)``, is dropped, as in Keras) or any shape ``s``; integer
            dtype, or floats holding whole numbers.
        num_classes: ``C``; default ``max(y) + 1``.
        dtype: the float dtype of the result (a name such as ``"float32"`` or a dtype).

    Returns:
        an array of shape ``s + (C,)`` in the namespace and on the device of ``y``.

    Raises:
        TypeError: labels that are not numbers.
        ValueError: negative or non-integer labels, labels ``>= num_classes``, or a bad
            ``num_classes``.

    Example:
        >>> to_categorical([0, 2, 1])
        array([[1., 0., 0.],
               [0., 0., 1.],
               [0., 1., 0.]], dtype=float32)
    """
    xp, y = namespace_of(y, "class labels")
    device = array_api_compat.device(y)
    if y.ndim >= 2 and y.shape[-1] == 1:
        y = xp.reshape(y, tuple(y.shape[:-1]))
    if xp.isdtype(y.dtype, "bool"):
        y = xp.astype(y, xp.int32)
    if not xp.isdtype(y.dtype, ("integral", "real floating")):
        raise TypeError(f"class labels must be integers, got dtype {y.dtype}")
    if num_classes is not None and (
        isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1
    ):
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    if xp.isdtype(y.dtype, "real floating"):
        if bool(xp.any(y != xp.round(y))) or not bool(xp.all(xp.isfinite(y))):
            raise ValueError("class labels must be integers, got non-integer values")
    if array_api_compat.size(y) == 0:
        low = high = 0
    else:
        low, high = int(xp.min(y)), int(xp.max(y))
    if low < 0:
        raise ValueError(f"class labels must be non-negative, got {low}")
    if num_classes is None:
        num_classes = high + 1
        if array_api_compat.size(y) * num_classes > 2**31:  # a typo, not a class: say so, allocate nothing
            raise ValueError(f"class label {high} would make {num_classes} classes; pass num_classes")
    elif high >= num_classes:
        raise ValueError(f"class label {high} is out of range for num_classes={num_classes}")
    name = dtype_name(dtype)
    if not hasattr(xp, name):
        raise ValueError(f"dtype must name a dtype of the labels' namespace such as 'float32', got {dtype!r}")
    index = default_index_dtype(xp, device)
    classes = xp.arange(int(num_classes), dtype=index, device=device)
    return xp.astype(xp.astype(y, index)[..., None] == classes, getattr(xp, name))


#: Alias of :func:`to_categorical`.
one_hot = to_categorical
