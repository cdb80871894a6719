"""Backends: resolving names, modules and devices; the global choice; host round trips."""

from __future__ import annotations

import array_api_compat
import numpy as np
import pytest

import flexnet as fx
from flexnet.backend import Backend


def test_resolve_names_and_default():
    b = Backend.resolve("numpy")
    assert b.name == "numpy" and b.device == "cpu"
    assert b.xp is array_api_compat.array_namespace(np.zeros(1))
    assert Backend.resolve(None) == b


def test_resolve_a_raw_module_uses_its_compat_namespace():
    assert Backend.resolve(np).xp is array_api_compat.array_namespace(np.zeros(1))


def test_unknown_backend_lists_valid_ones():
    with pytest.raises(ValueError, match=r"unknown backend 'mxnet'; valid backends are .*'jax'.*'numpy'"):
        Backend.resolve("mxnet")
    with pytest.raises(ValueError, match="only the 'cpu' device"):
        Backend.resolve("numpy", "cuda:0")
    with pytest.raises(TypeError, match="backend must be a name"):
        Backend.resolve(3)


def test_strict_devices():
    pytest.importorskip("array_api_strict")
    b = Backend.resolve("array_api_strict", "device1")
    assert "device1" in str(b.device)
    assert b.supports("float32")
    assert not Backend.resolve("array_api_strict", "no_float64").supports("float64")
    with pytest.raises(ValueError, match=r"array_api_strict has no device 'device9'; its devices are "
                                         r"\[.*'CPU_DEVICE'.*'device1'.*\]"):
        Backend.resolve("array_api_strict", "device9")


def test_torch_device_is_canonical():
    torch = pytest.importorskip("torch")
    b = Backend.resolve("torch", "cpu")
    assert b.device == torch.zeros(1).device
    assert Backend.resolve("torch") == b


def test_round_trip_through_every_backend(case):
    b = case.resolve()
    host = np.arange(6.0).reshape(2, 3)
    a = b.from_numpy(host, case.dtype)
    assert b.owns(a) or b.name == "numpy"
    assert str(array_api_compat.device(a)) == str(b.device)
    back = b.to_numpy(a)
    np.testing.assert_array_equal(back, host)
    back[0, 0] = 100.0  # a copy: the device array is untouched
    assert b.to_numpy(a)[0, 0] == 0.0


def test_set_backend_and_environment(monkeypatch):
    pytest.importorskip("torch")
    monkeypatch.setenv("FLEXNET_BACKEND", "torch")
    assert fx.get_backend().name == "torch"  # read when asked, not at import
    fx.set_backend("numpy")
    assert fx.get_backend().name == "numpy"
    fx.set_backend(None)
    assert fx.get_backend().name == "torch"
    monkeypatch.setenv("FLEXNET_BACKEND", "nope")
    with pytest.raises(ValueError, match="unknown backend 'nope'"):
        fx.get_backend()
    with pytest.raises(ValueError, match="unknown backend"):
        fx.set_backend("nope")


def test_set_floatx_validates():
    fx.set_floatx("float64")
    assert fx.floatx() == "float64"
    with pytest.raises(ValueError, match=r"dtype must be one of \('float32', 'float64'\), got 'int8'"):
        fx.set_floatx("int8")


def test_backend_names_ignore_case(monkeypatch):
    assert Backend.resolve("NumPy") == Backend.resolve("numpy")
    pytest.importorskip("torch")
    assert Backend.resolve("Torch").name == "torch"
    monkeypatch.setenv("FLEXNET_BACKEND", "TORCH:cpu")
    assert fx.get_backend() == Backend.resolve("torch", "cpu")
    model = fx.Sequential([fx.layers.Dense(1, input_dim=2)], backend="Torch")
    assert model.backend.name == "torch"


def test_a_torch_device_that_is_not_there_names_it_and_the_available_ones(monkeypatch):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this torch has CUDA")
    with pytest.raises(ValueError, match=r"torch has no device 'cuda' here \(.*\); its devices are "
                                         r"\['cpu'\]"):
        Backend.resolve("torch", "cuda")
    monkeypatch.setenv("FLEXNET_BACKEND", "torch:cuda")
    with pytest.raises(ValueError, match=r"^FLEXNET_BACKEND='torch:cuda': torch has no device 'cuda'"):
        fx.Sequential([fx.layers.Dense(1, input_dim=2)])
