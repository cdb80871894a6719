"""Backends: resolving names, modules and devices; the global choice; host round trips."""

from __future__ import annotations

import sys

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


# -- CuPy readiness, checked without a GPU ------------------------------------------------------


def _fake_cupy(monkeypatch, count=None, current: int = 0):
    """A stand-in ``cupy`` module: ``count`` GPUs, or no driver when ``count`` is None."""
    import types

    class CUDARuntimeError(RuntimeError):
        pass

    class Device:
        def __init__(self, index=0):
            self.id = index

    def device_count():
        if count is None:
            raise CUDARuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")
        return count

    runtime = types.SimpleNamespace(CUDARuntimeError=CUDARuntimeError, getDeviceCount=device_count,
                                    getDevice=lambda: current)
    cupy = types.ModuleType("cupy")
    cupy.cuda = types.SimpleNamespace(Device=Device, runtime=runtime)
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    return cupy


def test_cupy_without_a_gpu_or_driver_is_a_clear_error(monkeypatch):
    from flexnet.backend import _cupy_device

    _fake_cupy(monkeypatch, count=None)
    with pytest.raises(RuntimeError, match="the cupy backend needs a CUDA GPU and its driver, and CUDA "
                                           "reports none here .*cudaErrorNoDevice"):
        _cupy_device(None, None)


def test_cupy_device_that_does_not_exist_names_the_ones_that_do(monkeypatch):
    from flexnet.backend import _cupy_device

    cupy = _fake_cupy(monkeypatch, count=2, current=1)
    for spec in (3, "3", "cuda:3", "gpu:3"):
        with pytest.raises(ValueError, match=r"cupy has no device cuda:3 here; this machine has 2 GPU\(s\): "
                                             r"\['cuda:0', 'cuda:1'\]"):
            _cupy_device(None, spec)
    assert _cupy_device(None, "cuda:1").id == 1 and _cupy_device(None, 0).id == 0
    assert _cupy_device(None, None).id == 1  # the current device
    given = cupy.cuda.Device(0)
    assert _cupy_device(None, given) is given
    with pytest.raises(ValueError, match="cupy devices are written 'cuda:N' or N, got 'tpu:0'"):
        _cupy_device(None, "tpu:0")


def test_only_cupy_devices_get_a_device_context():
    """CuPy allocates on the current GPU; its Device is entered around the model's work."""
    from flexnet.transfer import device_context

    Device = type("Device", (), {"__module__": "cupy.cuda.device", "__enter__": lambda self: self,
                                 "__exit__": lambda self, *exc: None})
    gpu = Device()
    assert device_context(gpu) is gpu
    with device_context("cpu") as inside:
        assert inside is None


def test_a_models_work_runs_inside_its_backends_device_context(monkeypatch):
    """fit, evaluate, predict, a call, the one-batch API and weight creation all enter
    ``Backend.activate()`` (on CuPy: the model's GPU)."""
    import contextlib

    from flexnet.backend import Backend

    entered = []

    @contextlib.contextmanager
    def activate(self):
        entered.append(self.name)
        yield

    monkeypatch.setattr(Backend, "activate", activate)
    X = np.random.default_rng(0).normal(size=(6, 3)).astype("float32")
    y = X[:, :1] * 2.0
    model = fx.Sequential([fx.layers.Dense(2, input_dim=3), fx.layers.Dense(1)])
    assert len(entered) == 4  # one per weight drawn (two kernels, two biases)
    model.compile(optimizer="sgd", loss="mse")
    calls = [lambda: model.fit(X, y, epochs=1, verbose=0), lambda: model.evaluate(X, y),
             lambda: model.predict(X), lambda: model(X), lambda: model.train_on_batch(X, y),
             lambda: model.test_on_batch(X, y), lambda: model.compute_gradients(X, y),
             lambda: model.apply_gradients(model.compute_gradients(X, y)[1])]
    for call in calls:
        before = len(entered)
        call()
        assert len(entered) > before, call
