"""Host/device transfer: the one place where arrays cross between NumPy and a device.

:func:`to_numpy` brings an array of any library (NumPy, CuPy, PyTorch, anything
with DLPack) to the host; :func:`to_device` copies host data onto a namespace's
device; :func:`as_host_array` turns what a user passes (a list, a NumPy scalar,
another library's array) into a NumPy array with a clear error otherwise.
"""

from __future__ import annotations

import array_api_compat
import numpy as np

__all__ = ["as_array", "as_host_array", "is_array", "is_device_array", "namespace_of", "to_device",
           "to_device_like", "to_numpy", "writable"]


def _cupy_to_numpy(x) -> np.ndarray:
    return x.get()


def _torch_to_numpy(x) -> np.ndarray:
    return x.detach().cpu().numpy()


def _library(x) -> str:
    if array_api_compat.is_cupy_array(x):
        return "cupy"
    if array_api_compat.is_torch_array(x):
        return "torch"
    if array_api_compat.is_jax_array(x):
        return "jax"
    return "dlpack"


_TO_NUMPY = {"cupy": _cupy_to_numpy, "torch": _torch_to_numpy, "jax": np.asarray, "dlpack": np.from_dlpack}


def is_array(a) -> bool:
    """A NumPy array or an array of any Array API library."""
    return isinstance(a, np.ndarray) or array_api_compat.is_array_api_obj(a)


def is_device_array(a) -> bool:
    """An Array API array other than a NumPy array (NumPy data is handled on the host)."""
    return not isinstance(a, (np.ndarray, np.generic)) and array_api_compat.is_array_api_obj(a)


def writable(a) -> bool:
    """Whether arrays like ``a`` can be written in place (JAX arrays never change)."""
    return not array_api_compat.is_jax_array(a)


def to_numpy(x, copy: bool = True) -> np.ndarray:
    """A NumPy array with the values of ``x``, an array of any library, on the host.

    Args:
        x: a NumPy array or scalar, or an array of CuPy, PyTorch or any library
            with DLPack, on any device.
        copy: always return a fresh array (the default); ``False`` lets a NumPy
            input, or a CPU tensor that DLPack can share, come back without a copy.
    """
    if isinstance(x, (np.ndarray, np.generic)):  # NumPy reductions return scalars
        return np.array(x, copy=True) if copy else np.asarray(x)
    host = _TO_NUMPY[_library(x)](x)
    return np.array(host, copy=True) if copy else np.asarray(host)


def to_device(xp, device, host, dtype: str | None = None):
    """Host data as an array of namespace ``xp`` on ``device``, cast on the host first (so a
    device without float64 never receives it). On NumPy the result may share memory
    with ``host``: callers must never write into it."""
    host = np.asarray(host, dtype=None if dtype is None else np.dtype(dtype))
    if xp is None or array_api_compat.is_numpy_namespace(xp):
        return host
    if not host.flags.c_contiguous or any(step < 0 for step in host.strides):
        host = np.array(host, order="C")  # torch refuses negative strides (even on an axis of 1)
    return xp.asarray(host, device=device)


def to_device_like(host, like):
    """A fresh copy of host data on ``like``'s namespace and device; floating data takes
    ``like``'s dtype (cast on the host, so a device without float64 never receives it)."""
    host = np.asarray(host)
    dtype = like.dtype if isinstance(like, np.ndarray) else getattr(np, str(like.dtype).rsplit(".", 1)[-1])
    host = np.array(host, dtype=dtype if np.issubdtype(host.dtype, np.floating) else host.dtype, copy=True)
    if isinstance(like, np.ndarray):
        return host
    return to_device(array_api_compat.array_namespace(like), array_api_compat.device(like), host)


def as_host_array(value, what: str) -> np.ndarray:
    """What a user passed as data, as a NumPy array (no copy when it already is one).

    Lists, tuples and NumPy scalars become arrays; arrays of other libraries are
    brought to the host (through DLPack where the library supports it).

    Raises:
        TypeError: ``value`` cannot be read as an array of numbers, naming ``what``.
    """
    if isinstance(value, np.ndarray):
        return value
    if is_device_array(value):
        return to_numpy(value, copy=False)
    try:
        return np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} must be an array, got {type(value).__name__}: {exc}") from None


def as_array(value, what: str):
    """Arrays of any library (and dicts of them) pass through untouched; lists, tuples and
    NumPy scalars become NumPy arrays.

    Raises:
        TypeError: ``value`` cannot be read as an array, naming ``what``.
    """
    if value is None or isinstance(value, dict) or is_array(value):
        return value
    try:
        return np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} must be an array, got {type(value).__name__}: {exc}") from None


def namespace_of(value, what: str = "the data"):
    """``(xp, array)``: the namespace that flows with ``value``, an array of any library;
    lists and scalars are read as NumPy arrays.

    Raises:
        TypeError: ``value`` cannot be read as an array (None, a dict, a ragged list), naming
            ``what``.
    """
    if not array_api_compat.is_array_api_obj(value):
        value = as_array(value, what)
        if not is_array(value):
            raise TypeError(f"{what} must be an array, got {type(value).__name__}")
    return array_api_compat.array_namespace(value), value
