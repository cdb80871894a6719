"""Host/device transfer: the one place where arrays cross between NumPy and a device.

:func:`to_numpy` brings an array of any library (NumPy, CuPy, PyTorch, anything
with DLPack) to the host; :func:`to_device` copies host data onto a namespace's
device; :func:`as_host_array` turns what a user passes (a list, a NumPy scalar,
another library's array) into a NumPy array with a clear error otherwise.
:func:`import_dlpack` takes any DLPack producer into a namespace on the same
device without a copy, and :func:`like` gives results back in the caller's kind.
"""

from __future__ import annotations

import contextlib
import re

import array_api_compat
import numpy as np

__all__ = ["as_array", "as_host_array", "describe", "device_context", "device_name", "host_view",
           "import_dlpack", "is_array", "is_device_array", "like", "namespace_of", "on_host", "to_device",
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
    """A NumPy array, an array of any Array API library, or any DLPack producer."""
    return isinstance(a, np.ndarray) or is_device_array(a)


def is_device_array(a) -> bool:
    """An Array API array or DLPack producer other than NumPy's (NumPy data is handled on
    the host)."""
    if isinstance(a, (np.ndarray, np.generic)):
        return False
    return array_api_compat.is_array_api_obj(a) or hasattr(type(a), "__dlpack__")


# ---------------------------------------------------------------------------
# DLPack: arrays of another library on the same device, shared rather than copied.

#: DLPack's device types (``__dlpack_device__()[0]``), for messages.
_DLPACK_DEVICES = {1: "cpu", 2: "cuda", 3: "cuda_host", 4: "opencl", 7: "vulkan", 8: "metal", 9: "vpi",
                   10: "rocm", 11: "rocm_host", 13: "cuda_managed", 14: "oneapi"}


def _dlpack_device(a) -> tuple[int, int]:
    kind, index = a.__dlpack_device__()
    return int(kind), int(index)


def _namespace_dlpack_device(xp, device) -> tuple[int, int]:
    """The DLPack device of namespace ``xp``'s ``device`` (where its arrays' memory is)."""
    key = (xp.__name__, str(device))
    if key not in _NAMESPACE_DEVICES:
        _NAMESPACE_DEVICES[key] = _dlpack_device(xp.empty((0,), device=device))
    return _NAMESPACE_DEVICES[key]


_NAMESPACE_DEVICES: dict[tuple[str, str], tuple[int, int]] = {}


def device_name(device) -> str:
    """A device as users write it: ``cpu``, ``cuda:0``, ``device1`` (not ``Device('device1')``)."""
    text = str(device)
    match = re.fullmatch(r"[\w.]*Device\('(.*)'\)", text)
    return match.group(1) if match else text


def describe(a) -> str:
    """Name an array's library and device for messages: ``a torch array on device 'cpu'``."""
    if isinstance(a, np.ndarray):
        return "a numpy array"
    try:
        name = array_api_compat.array_namespace(a).__name__.replace("array_api_compat.", "")
        return f"a {name.split('.')[0]} array on device {device_name(array_api_compat.device(a))!r}"
    except (TypeError, AttributeError):
        kind, index = _dlpack_device(a)
        return f"a {type(a).__name__} on DLPack device {_DLPACK_DEVICES.get(kind, kind)}:{index}"


def _from_dlpack(xp, device, a):
    """``xp.from_dlpack(a)`` placed on ``device`` (array-api-strict puts imports on its default
    device; asking for another is a copy there, and only there)."""
    out = xp.from_dlpack(a)
    if device is not None and str(array_api_compat.device(out)) != str(device):
        out = xp.from_dlpack(a, device=device)
    return out


def import_dlpack(xp, device, a, what: str):
    """Any DLPack producer (a PyTorch tensor, a JAX or CuPy array, ...) as an array of namespace
    ``xp`` on ``device``, sharing ``a``'s memory where both live on the same device.

    The caller must never write into the result: it may be ``a``'s own memory.

    Args:
        xp, device: the namespace and device wanted.
        a: the array, of any library that implements ``__dlpack__``.
        what: its name in messages (``"x"``).

    Raises:
        ValueError: ``a`` is on another device than ``device`` (DLPack moves no data
            between devices), naming both.
        TypeError: ``a``'s library cannot export it (e.g. an unsupported dtype).
    """
    if array_api_compat.is_torch_array(a) and a.requires_grad:
        a = a.detach()  # a view: DLPack refuses tensors that carry autograd history
    try:
        source, target = _dlpack_device(a), _namespace_dlpack_device(xp, device)
    except (AttributeError, TypeError, ValueError, BufferError, RuntimeError) as exc:
        raise TypeError(f"{what} is {describe(a)}, which DLPack cannot share: {exc}") from None
    if source != target:
        kind, index = target
        raise ValueError(
            f"{what} is {describe(a)} but the model's arrays live on device {device_name(device)!r} "
            f"(DLPack device {_DLPACK_DEVICES.get(kind, kind)}:{index}); DLPack shares memory only "
            "within one device: move the data there, or move the model with model.to(...)"
        )
    try:
        return _from_dlpack(xp, device, a)
    except (TypeError, ValueError, BufferError, RuntimeError) as exc:
        raise TypeError(f"{what} is {describe(a)}, which cannot be read through DLPack: {exc}") from None


def on_host(a) -> bool:
    """Whether ``a``'s memory is the host's: a NumPy array, or another library's array on the CPU
    (which NumPy reads through DLPack without a copy)."""
    if isinstance(a, (np.ndarray, np.generic)):
        return True
    try:
        return _dlpack_device(a)[0] == 1  # kDLCPU
    except (AttributeError, TypeError, ValueError, BufferError, RuntimeError):
        return False


def like(P, template):
    """``P`` (an array of the model) as an array of ``template``'s library and device, through
    DLPack without a copy where the devices agree; NumPy for a NumPy ``template``. ``P``
    itself when ``template``'s library cannot import it."""
    if isinstance(template, np.ndarray):
        return to_numpy(P, copy=not writable(P))  # JAX's host view is read-only: copy it
    try:
        xp = array_api_compat.array_namespace(template)
        return _from_dlpack(xp, array_api_compat.device(template), P)
    except (TypeError, ValueError, AttributeError, BufferError, RuntimeError):
        return P


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


def host_view(x) -> np.ndarray | None:
    """A NumPy array that *is* ``x``'s memory, so that writing into it writes into ``x``: ``x``
    itself for NumPy, the tensor's memory for a PyTorch tensor on the CPU; None for arrays
    elsewhere (a GPU), immutable (JAX) or not contiguous, and for other libraries."""
    if isinstance(x, np.ndarray):
        host = x
    elif array_api_compat.is_torch_array(x) and x.device.type == "cpu" and not x.requires_grad:
        host = x.numpy()
    else:
        return None
    return host if host.flags.c_contiguous and host.flags.writeable else None


def device_context(device):
    """A context in which new arrays land on ``device``. CuPy allocates on the *current* GPU
    (and array-api-compat's CuPy creation functions ignore ``device=``), so work for a model
    on GPU ``n`` runs inside ``cupy.cuda.Device(n)``; for every other library, nothing."""
    if type(device).__module__.startswith("cupy"):
        return device  # cupy.cuda.Device is a context manager
    return contextlib.nullcontext()


def to_device(xp, device, host, dtype: str | None = None):
    """Host data as an array of namespace ``xp`` on ``device``, cast on the host first (so a
    device without float64 never receives it). On NumPy the result may share memory
    with ``host``: callers must never write into it."""
    host = np.asarray(host, dtype=None if dtype is None else np.dtype(dtype))
    if xp is None or array_api_compat.is_numpy_namespace(xp):
        return host
    if not host.flags.c_contiguous or any(step < 0 for step in host.strides):
        host = np.array(host, order="C")  # torch refuses negative strides (even on an axis of 1)
    # read-only memory (a memory-mapped file) is copied: a library that shared it would
    # assume it may write there (PyTorch warns)
    with device_context(device):
        return xp.asarray(host, device=device, copy=True if not host.flags.writeable else None)


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
