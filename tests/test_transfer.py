"""Other libraries' arrays in ``fit``/``evaluate``/``predict``: shared through DLPack on the same
device, given back in the caller's kind, refused with a clear error across devices.

Every model backend of the matrix takes PyTorch tensors, JAX arrays and array-api-strict
arrays (all on the CPU): training on them gives the weights that NumPy data gives, and
``predict`` answers in the caller's library.
"""

from __future__ import annotations

import numpy as np
import pytest

import flexnet as fx
from flexnet import transfer
from flexnet.layers import Dense

torch = pytest.importorskip("torch")


def _jax_numpy():
    jnp = pytest.importorskip("jax.numpy")
    return jnp


def _strict():
    return pytest.importorskip("array_api_strict")


#: Libraries a caller's data may come from: name -> (host array -> that library's array).
SOURCES = {
    "torch": lambda a: torch.from_numpy(np.array(a)),
    "jax": lambda a: _jax_numpy().asarray(a),
    "array_api_strict": lambda a: _strict().asarray(np.array(a)),
}


def _is_kind(a, source: str) -> bool:
    if source == "torch":
        return isinstance(a, torch.Tensor)
    if source == "jax":
        import jax

        return isinstance(a, jax.Array)
    return type(a).__module__.startswith("array_api_strict")


def _data(dtype):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(24, 3)).astype(dtype)
    y = rng.integers(0, 3, size=24)
    w = rng.uniform(0.5, 1.5, size=24).astype(dtype)
    return x, y, w


def _trained(case, x, y, w, convert=np.asarray):
    fx.utils.set_random_seed(3)
    model = case.model([Dense(5, input_dim=3, activation="tanh"), Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(convert(x), convert(y), sample_weight=convert(w), batch_size=8, epochs=2,
                        verbose=0, validation_data=(convert(x[:6]), convert(y[:6])))
    return model, history.history


def _on_cpu(case) -> bool:
    return case.backend != "cupy"


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_other_libraries_arrays_train_evaluate_and_predict_like_numpy(case, source):
    x, y, w = _data(case.dtype)
    convert = SOURCES[source]
    if source == "array_api_strict" and case.backend == "array_api_strict" and case.device != "CPU_DEVICE":
        pytest.skip("refused: see test_a_strict_array_of_another_device_names_both_devices")
    if not _on_cpu(case):
        with pytest.raises(ValueError, match="DLPack shares memory only within one device"):
            case.model([Dense(1, input_dim=3)]).predict(convert(x))
        return
    # The same values on the host (JAX without x64 holds float64 data as float32).
    x, y, w = (transfer.to_numpy(convert(a)) for a in (x, y, w))
    reference, logs = _trained(case, x, y, w)
    model, foreign_logs = _trained(case, x, y, w, convert)
    for a, b in zip(reference.get_weights(), model.get_weights()):
        case.assert_close(b, a)
    for key in logs:
        case.assert_close(np.asarray(foreign_logs[key]), np.asarray(logs[key]))
    expected = reference.evaluate(x, y, verbose=0)
    case.assert_close(np.asarray(model.evaluate(convert(x), convert(y), verbose=0)), np.asarray(expected))
    P = model.predict(convert(x), batch_size=7)
    own = case.resolve().owns(convert(x))
    assert (case.resolve().owns(P) if own else _is_kind(P, source)), type(P)
    # (the answer holds the dtype the caller's library holds: JAX without x64 rounds to float32)
    case.assert_close(transfer.to_numpy(P), transfer.to_numpy(convert(reference.predict(x))))


def test_a_torch_tensor_into_a_numpy_model_is_shared_not_copied():
    model = fx.Sequential([Dense(2, input_dim=3)])
    t = torch.arange(12, dtype=torch.float32).reshape(4, 3)
    X, template = model._trainer.adapter.to_backend(t, "x", "float32")
    assert isinstance(X, np.ndarray) and template is t
    assert np.shares_memory(X, t.numpy())


def test_a_jax_array_into_a_numpy_model_is_shared_and_predict_answers_in_jax():
    jnp = _jax_numpy()
    import jax

    model = fx.Sequential([Dense(2, input_dim=3)])
    a = jnp.arange(12, dtype=jnp.float32).reshape(4, 3)
    X, _ = model._trainer.adapter.to_backend(a, "x", "float32")
    assert isinstance(X, np.ndarray) and not X.flags.writeable  # JAX's own buffer, read-only
    P = model.predict(a)
    assert isinstance(P, jax.Array)
    np.testing.assert_allclose(np.asarray(P), model.predict(np.asarray(a)), rtol=1e-6)


def test_a_numpy_array_into_a_torch_model_gives_numpy_back():
    model = fx.Sequential([Dense(2, input_dim=3)], backend="torch")
    x = np.ones((4, 3), dtype=np.float32)
    P = model.predict(x)
    assert isinstance(P, np.ndarray)
    np.testing.assert_allclose(P, model.predict(torch.ones(4, 3)).numpy())


def test_a_tensor_that_requires_grad_is_read_without_its_history():
    model = fx.Sequential([Dense(2, input_dim=3)])
    t = torch.ones(4, 3, requires_grad=True)
    P = model.predict(t)
    assert isinstance(P, torch.Tensor) and not P.requires_grad


def test_the_callers_arrays_are_not_changed():
    model = fx.Sequential([Dense(4, input_dim=3, activation="relu"), fx.layers.Dropout(0.5), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = torch.randn(16, 3), torch.randn(16, 1)
    before = (x.clone(), y.clone())
    model.fit(x, y, epochs=2, batch_size=4, verbose=0, validation_split=0.25)
    model.predict(x)
    assert torch.equal(x, before[0]) and torch.equal(y, before[1])


def test_a_dict_of_tensors_into_a_functional_model_answers_in_torch():
    a, b = fx.layers.Input((2,), name="a"), fx.layers.Input((3,), name="b")
    out = Dense(1)(fx.layers.concatenate([a, Dense(2)(b)]))
    model = fx.models.Model(inputs=[a, b], outputs=out)
    xa, xb = torch.randn(5, 2), torch.randn(5, 3)
    P = model.predict({"a": xa, "b": xb})
    assert isinstance(P, torch.Tensor)
    np.testing.assert_allclose(P.numpy(), model.predict([xa.numpy(), xb.numpy()]), rtol=1e-6)
    # Mixed kinds: the answer is the model's own kind of array.
    assert isinstance(model.predict([xa, xb.numpy()]), np.ndarray)


def test_a_strict_array_of_another_device_names_both_devices():
    xps = _strict()
    model = fx.Sequential([Dense(1, input_dim=2)], backend="array_api_strict", device="CPU_DEVICE",
                          dtype="float64")
    x = xps.zeros((3, 2), device=xps.Device("device1"))
    with pytest.raises(ValueError, match=r"x is a array_api_strict array on device 'device1' but the "
                                         r"model is on device 'CPU_DEVICE'; move one of them"):
        model.predict(x)


class _ArrayOnAGPU:
    """A DLPack producer that says its memory is on CUDA device 0 (no GPU needed to test the
    refusal: the device is compared before any data is read)."""

    def __init__(self, host):
        self.host = host
        self.shape = host.shape

    def __dlpack__(self, **kwargs):
        raise AssertionError("the data of an array on another device must not be read")

    def __dlpack_device__(self):
        return (2, 0)


def test_an_array_on_another_device_is_refused_naming_both_devices():
    model = fx.Sequential([Dense(1, input_dim=2)])
    with pytest.raises(ValueError, match=r"x is a _ArrayOnAGPU on DLPack device cuda:0 but the model's "
                                         r"arrays live on device 'cpu' \(DLPack device cpu:0\)"):
        model.predict(_ArrayOnAGPU(np.zeros((3, 2))))
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match=r"y is a _ArrayOnAGPU .*cuda:0"):
        model.fit(np.zeros((3, 2)), _ArrayOnAGPU(np.zeros((3, 1))), verbose=0)


def test_describe_names_library_and_device():
    assert transfer.describe(np.zeros(2)) == "a numpy array"
    assert transfer.describe(torch.zeros(2)) == "a torch array on device 'cpu'"
    assert transfer.describe(_ArrayOnAGPU(np.zeros(2))) == "a _ArrayOnAGPU on DLPack device cuda:0"


def test_read_only_host_data_is_copied_to_the_device_not_shared(case):
    """A read-only array (a memory-mapped file) is copied: a library sharing it could write there
    (PyTorch warns, and warnings are errors here)."""
    X = np.arange(6.0).reshape(3, 2)
    X.flags.writeable = False
    A = transfer.to_device(case.resolve().xp, case.resolve().device, X, case.dtype)
    np.testing.assert_array_equal(case.to_numpy(A), X)
    model = case.model([Dense(1, input_dim=2)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(X, X[:, :1], verbose=0)


def test_on_host_tells_host_memory_from_device_memory():
    assert transfer.on_host(np.zeros(2)) and transfer.on_host(torch.zeros(2))
    assert not transfer.on_host(object())
    if torch.cuda.is_available():
        assert not transfer.on_host(torch.zeros(2, device="cuda"))
