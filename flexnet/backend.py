"""Backends: which Array API namespace and device a model's arrays live on.

A :class:`Backend` pairs a namespace (``array_api_compat.numpy``, ``.cupy``,
``.torch``, ``array_api_strict`` or any compliant module) with a device. Models
resolve one when they are built; compute code receives ``xp`` from it and never
imports an array library itself.
"""

from __future__ import annotations

import importlib
import os
import types
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import array_api_compat
import numpy as np

from flexnet import transfer

__all__ = [
    "Backend",
    "floatx",
    "get_backend",
    "set_backend",
    "set_floatx",
]

#: Backend names and the namespace module each one resolves to.
NAMESPACES = {
    "numpy": "array_api_compat.numpy",
    "cupy": "array_api_compat.cupy",
    "torch": "array_api_compat.torch",
    "jax": "jax.numpy",
    "array_api_strict": "array_api_strict",
}

FLOAT_DTYPES = ("float32", "float64")

_explicit_backend: tuple[Any, Any] | None = None  # set by set_backend(); None -> env / numpy
_floatx = "float32"


def set_backend(backend: str | types.ModuleType | None = "numpy", device: Any = None) -> None:
    """Choose the backend that models built from now on live on.

    Args:
        backend: ``"numpy"``, ``"cupy"``, ``"torch"``, ``"array_api_strict"`` (in any
            case: ``"NumPy"``), or a namespace module. ``None`` forgets the choice, so the
            ``FLEXNET_BACKEND`` environment variable (or NumPy) applies again.
        device: a device of that backend (``"cuda:1"``, ``1``, ``"device1"``...);
            ``None`` is the backend's default device.

    Raises:
        ValueError: unknown backend name or device, naming the valid ones.
        ImportError: the backend's library is not installed.
        RuntimeError: ``"cupy"`` on a machine without a CUDA GPU or driver.

    Existing models stay where they are; move one with ``model.to(...)``.
    """
    global _explicit_backend
    if backend is None:
        _explicit_backend = None
        return
    Backend.resolve(backend, device)  # fail now, not at the next model build
    _explicit_backend = (backend, device)


def get_backend() -> Backend:
    """The backend a model built now would live on.

    Order: :func:`set_backend`, then the ``FLEXNET_BACKEND`` environment variable
    (``name`` or ``name:device``, e.g. ``torch:cuda:0``), then NumPy on the CPU.
    The environment is read at each call, not at import.
    """
    if _explicit_backend is not None:
        return Backend.resolve(*_explicit_backend)
    spec = os.environ.get("FLEXNET_BACKEND", "").strip()
    if spec:
        name, _, device = spec.partition(":")
        try:
            return Backend.resolve(name, device or None)
        except ValueError as exc:
            raise ValueError(f"FLEXNET_BACKEND={spec!r}: {exc}") from None
    return Backend.resolve("numpy")


def set_floatx(dtype: str) -> None:
    """Set the default float dtype of models built from now on (``"float32"`` or ``"float64"``)."""
    global _floatx
    _floatx = check_float_dtype(dtype)


def floatx() -> str:
    """The default float dtype name, ``"float32"`` unless :func:`set_floatx` changed it."""
    return _floatx


def check_float_dtype(dtype: Any) -> str:
    """Normalise a float dtype given as a name or dtype object to its name."""
    name = dtype_name(dtype)
    if name not in FLOAT_DTYPES:
        raise ValueError(f"dtype must be one of {FLOAT_DTYPES}, got {dtype!r}")
    return name


# ---------------------------------------------------------------------------
# Devices: each library spells them differently.


def _numpy_device(xp, device):
    if device not in (None, "cpu"):
        raise ValueError(f"the numpy backend has only the 'cpu' device, got {device!r}")
    return "cpu"


def _cupy_device(xp, device):
    import cupy

    if isinstance(device, cupy.cuda.Device):
        return device
    if isinstance(device, str):
        kind, _, index = device.partition(":")
        if device.isdigit():  # FLEXNET_BACKEND=cupy:1
            kind, index = "cuda", device
        if kind not in ("cuda", "gpu") or not (index or "0").isdigit():
            raise ValueError(f"cupy devices are written 'cuda:N' or N, got {device!r}")
        device = int(index or 0)
    try:  # cupy.cuda.Device(n) checks nothing: ask the driver now, not at the first array
        count = cupy.cuda.runtime.getDeviceCount()
    except cupy.cuda.runtime.CUDARuntimeError as exc:
        raise RuntimeError(
            f"the cupy backend needs a CUDA GPU and its driver, and CUDA reports none here ({exc}); "
            "use the numpy or torch backend on this machine") from None
    index = cupy.cuda.runtime.getDevice() if device is None else int(device)
    if not 0 <= index < count:
        raise ValueError(f"cupy has no device cuda:{index} here; this machine has {count} GPU(s): "
                         f"{[f'cuda:{i}' for i in range(count)]}")
    return cupy.cuda.Device(index)


def _torch_device(xp, device):
    import torch

    try:
        device = torch.device("cpu" if device is None else device)
        # Canonical form: torch.device("cuda") != torch.device("cuda:0"), but tensors report the latter.
        return torch.empty(0, device=device).device
    except (AssertionError, RuntimeError, ValueError) as exc:  # CPU-only builds raise AssertionError
        available = ["cpu", *(f"cuda:{i}" for i in range(torch.cuda.device_count()))]
        raise ValueError(f"torch has no device {str(device)!r} here ({exc}); its devices are "
                         f"{available}") from None


def _jax_device(xp, device):
    import jax

    if device is None:
        return jax.devices()[0]
    if isinstance(device, jax.Device):
        return device
    if isinstance(device, int) or (isinstance(device, str) and device.isdigit()):
        return jax.devices()[int(device)]
    kind, _, index = str(device).partition(":")
    try:
        return jax.devices(kind)[int(index or 0)]
    except (RuntimeError, IndexError, ValueError):
        raise ValueError(f"jax has no device {device!r}; its devices are {jax.devices()}") from None


def _strict_device(xp, device):
    if device is None:
        return xp.__array_namespace_info__().default_device()
    if isinstance(device, xp.Device):
        return device
    try:
        return xp.Device(device)
    except ValueError:
        devices = [str(d) for d in xp.__array_namespace_info__().devices()]
        raise ValueError(f"array_api_strict has no device {device!r}; its devices are {devices}") from None


def _any_device(xp, device):
    info = xp.__array_namespace_info__()
    if device is None:
        return info.default_device()
    devices = info.devices()
    for d in devices:
        if d == device or str(d) == str(device):
            return d
    raise ValueError(f"unknown device {device!r}; this namespace has {list(devices)}")


_DEVICE_PARSERS = {
    "numpy": _numpy_device,
    "cupy": _cupy_device,
    "torch": _torch_device,
    "jax": _jax_device,
    "array_api_strict": _strict_device,
}


def default_index_dtype(xp, device):
    """The namespace's default indexing dtype on ``device`` (int64, or int32 on a device
    without 64-bit integers)."""
    try:
        return xp.__array_namespace_info__().default_dtypes(device=device)["indexing"]
    except (AttributeError, TypeError, KeyError):
        return xp.int64


def dtype_name(dtype) -> str:
    """``"float32"`` for ``numpy.float32``, ``torch.float32``, ``array_api_strict.float32``..."""
    return getattr(dtype, "name", None) or str(dtype).rsplit(".", 1)[-1]


def _backend_name(xp) -> str:
    """The short name of a namespace, e.g. ``"torch"`` for ``array_api_compat.torch``."""
    module = xp.__name__
    for name, path in NAMESPACES.items():
        if module == path:
            return name
    return module.rsplit(".", 1)[-1]


@dataclass(frozen=True, eq=False)
class Backend:
    """An Array API namespace and a device: where one model's arrays live.

    Attributes:
        name: short name, e.g. ``"numpy"``, ``"torch"``.
        xp: the Array API namespace (array-api-compat wrapped where needed).
        device: the device object, as ``array_api_compat.device`` reports it.
    """

    name: str
    xp: Any
    device: Any

    @classmethod
    def resolve(cls, backend: str | types.ModuleType | Backend | None = None, device: Any = None):
        """Build a Backend from a name or namespace module and an optional device.

        ``None`` gives the default (see :func:`get_backend`).
        """
        if backend is None:
            if device is not None:
                return cls.resolve(get_backend().name, device)
            return get_backend()
        if isinstance(backend, Backend):
            return backend if device is None else cls.resolve(backend.xp, device)
        if isinstance(backend, str):
            path = NAMESPACES.get(backend.lower())  # "NumPy", "Torch": names ignore case
            if path is None:
                raise ValueError(
                    f"unknown backend {backend!r}; valid backends are {sorted(NAMESPACES)} "
                    "or an Array API namespace module"
                )
            try:
                xp = importlib.import_module(path)
            except ImportError as exc:
                raise ImportError(
                    f"backend {backend!r} needs its library: {exc}. "
                    "For CuPy install flexnet[cuda12] or flexnet[cuda13]."
                ) from exc
        elif isinstance(backend, types.ModuleType):
            # The namespace of the module's own arrays: a raw library such as numpy or
            # torch gives its array-api-compat wrapper; a compliant namespace, itself.
            try:
                xp = array_api_compat.array_namespace(backend.asarray(0))
            except (AttributeError, TypeError) as exc:
                raise TypeError(
                    f"module {backend.__name__!r} is not an Array API namespace: {exc}"
                ) from None
        else:
            raise TypeError(
                f"backend must be a name {sorted(NAMESPACES)} or a namespace module, "
                f"got {type(backend).__name__}"
            )
        name = _backend_name(xp)
        dev = _DEVICE_PARSERS.get(name, _any_device)(xp, device)
        return cls(name=name, xp=xp, device=dev)

    def __repr__(self) -> str:
        return f"Backend({self.name!r}, device={self.device!r})"

    def __eq__(self, other) -> bool:
        return (
            isinstance(other, Backend)
            and self.xp is other.xp
            and str(self.device) == str(other.device)
        )

    def __hash__(self) -> int:
        return hash((self.name, str(self.device)))

    # -- dtypes -------------------------------------------------------------
    def dtype(self, name: str):
        """The namespace's dtype object for a dtype name such as ``"float32"``."""
        return getattr(self.xp, name)

    def supports(self, dtype: str) -> bool:
        """Whether the device can hold arrays of this dtype (array-api-strict's
        ``no_float64`` device and some GPUs cannot hold float64; JAX holds float64 only
        with ``jax.config.update("jax_enable_x64", True)``)."""
        if self.name == "jax" and dtype == "float64":
            import jax

            return bool(jax.config.jax_enable_x64)
        try:
            info = self.xp.__array_namespace_info__()
            dtypes = info.dtypes(device=self.device)
        except (AttributeError, TypeError):
            return True
        return dtype in dtypes

    @cached_property
    def index_dtype(self) -> str:
        """Name of the device's default indexing dtype (``"int64"``; ``"int32"`` where
        64-bit integers are missing), for class labels and permutations."""
        return dtype_name(default_index_dtype(self.xp, self.device))

    # -- moving data ----------------------------------------------------------
    def owns(self, x) -> bool:
        """Whether ``x`` is an array of this backend's namespace (any device)."""
        if self.name == "numpy":
            return isinstance(x, np.ndarray)
        if isinstance(x, np.ndarray) or not array_api_compat.is_array_api_obj(x):
            return False
        return array_api_compat.array_namespace(x) is self.xp

    def activate(self):
        """A context in which new arrays land on this backend's device: work for a model on
        CuPy's GPU ``n`` runs in it (CuPy allocates on the current GPU); nothing elsewhere."""
        return transfer.device_context(self.device)

    def from_numpy(self, x: np.ndarray, dtype: str | None = None):
        """Copy host data onto this backend's device (see :func:`flexnet.transfer.to_device`).
        May share memory with ``x`` on NumPy: callers must never write into the result."""
        return transfer.to_device(None if self.name == "numpy" else self.xp, self.device, x, dtype)

    def to_numpy(self, x, copy: bool = True) -> np.ndarray:
        """Bring an array of this backend back to the host as a NumPy array."""
        return transfer.to_numpy(x, copy)

    def adopt(self, a, what: str, dtype: str | None, owner: str = "the model"):
        """``(a as an array of this backend, template)``; never modifies ``a``.

        Host data (NumPy, lists) is copied to the device in ``dtype`` (``template`` is the
        host array: results go back as NumPy). An array of this backend on its device is
        used as it is (``template`` None). Another library's array (a PyTorch tensor, a JAX
        array, any DLPack producer) is shared through DLPack when it is on this device
        (``template`` is that array: results go back in its kind).

        Raises:
            TypeError: ``a`` does not hold numbers, or DLPack cannot share it.
            ValueError: ``a`` is None, or on another device, naming both.
        """
        if a is None:
            raise ValueError(f"{what} is required, got None")
        if transfer.is_device_array(a):
            template = None
            if self.owns(a):
                if str(array_api_compat.device(a)) != str(self.device):
                    raise ValueError(f"{what} is {transfer.describe(a)} but {owner} is on device "
                                     f"{transfer.device_name(self.device)!r}; move one of them")
            else:
                template, a = a, transfer.import_dlpack(self.xp, self.device, a, what)
            if dtype is not None and a.dtype != self.dtype(dtype):
                a = self.xp.astype(a, self.dtype(dtype))
            return a, template
        host = np.asarray(a)
        if host.dtype.kind not in "biuf":
            raise TypeError(f"{what} must hold numbers, got dtype {host.dtype}")
        return self.from_numpy(host, dtype), host

    def describe(self, x) -> str:
        """Name an array's kind and device for error messages."""
        if isinstance(x, np.ndarray):
            return "a numpy array"
        if array_api_compat.is_array_api_obj(x):
            xp = array_api_compat.array_namespace(x)
            return f"a {_backend_name(xp)} array on device {array_api_compat.device(x)!r}"
        return f"a {type(x).__name__}"
