"""Calling a layer on arrays (Keras's eager call) and its symbolic ``input``/``output``."""

from __future__ import annotations

import array_api_compat
import numpy as np
import pytest

import flexnet as fx


def test_a_layer_called_on_numpy_builds_and_returns_numpy():
    layer = fx.layers.Dense(2)
    Y = layer(np.ones((1, 3)))
    assert isinstance(Y, np.ndarray) and Y.shape == (1, 2) and Y.dtype == np.float32
    assert layer.built and tuple(layer.params["kernel"].shape) == (3, 2)
    W, b = layer.get_weights()
    np.testing.assert_allclose(Y, np.ones((1, 3)) @ W + b, rtol=1e-6)
    np.testing.assert_allclose(layer([[1.0, 1.0, 1.0]]), Y, rtol=1e-6)  # lists too


def test_a_layer_called_on_arrays_of_a_backend_builds_there(case):
    fx.set_floatx(case.dtype)
    X = np.arange(6.0).reshape(2, 3)
    layer = fx.layers.Dense(4, activation="relu")
    Y = layer(case.asarray(X))
    assert layer.backend == case.resolve() and layer.dtype == case.dtype
    assert array_api_compat.device(Y) == array_api_compat.device(layer.params["kernel"])
    W, b = layer.get_weights()
    case.assert_close(case.to_numpy(Y), np.maximum(X @ W + b, 0.0))
    case.assert_close(layer(X), np.maximum(X @ W + b, 0.0))  # NumPy in, NumPy out
    model = fx.Sequential([layer], backend=case.backend, device=case.device, dtype=case.dtype)
    case.assert_close(model.predict(X), case.to_numpy(Y))  # the built layer joins a model


def test_numpy_arrays_build_on_the_default_backend():
    pytest.importorskip("torch")
    fx.set_backend("torch")
    layer = fx.layers.Dense(2)
    assert isinstance(layer(np.ones((4, 3))), np.ndarray)
    assert layer.backend.name == "torch"


def test_training_mode_and_merge_layers():
    X = np.ones((200, 10))
    dropout = fx.layers.Dropout(0.5)
    np.testing.assert_array_equal(dropout(X), X)
    Y = dropout(X, training=True)
    assert set(np.unique(Y)) == {0.0, 2.0}
    np.testing.assert_array_equal(fx.layers.Add()([X, 2 * X]), 3 * X)


def test_eager_calls_refuse_what_they_cannot_take():
    torch = pytest.importorskip("torch")
    layer = fx.layers.Dense(2)
    layer(np.ones((1, 3)))
    shared = layer(torch.ones(1, 3))  # another library's array on the same device: DLPack
    assert isinstance(shared, torch.Tensor)
    np.testing.assert_allclose(shared.numpy(), layer(np.ones((1, 3))))
    with pytest.raises(ValueError, match=r"layer 'dense' was declared with input_shape=\(4,\) but receives "
                                         r"inputs of shape \(3,\)"):
        fx.layers.Dense(2, input_dim=4)(np.ones((1, 3)))
    with pytest.raises(TypeError, match="layer 'add' takes a list of arrays"):
        fx.layers.Add()(np.ones((1, 3)))
    with pytest.raises(ValueError, match=r"takes arrays with a batch axis first, got shapes \[\(\)\]"):
        fx.layers.Activation("relu")(np.float64(1.0))


def test_layer_input_and_output_are_its_call_tensors():
    input_ = fx.Input(shape=(3,))
    dense = fx.layers.Dense(2)
    output = dense(input_)
    assert dense.input is input_ and dense.output is output
    assert input_.node.operation.output is input_ and input_.node.operation.input is input_
    add = fx.layers.Add()
    total = add([output, output])
    assert add.input == [output, output] and add.output is total


def test_layer_input_and_output_need_exactly_one_call():
    dense = fx.layers.Dense(2)
    with pytest.raises(AttributeError, match="layer 'dense' has never been called on a symbolic tensor, "
                                             "so it has no output"):
        _ = dense.output
    assert not hasattr(dense, "input")
    dense(fx.Input(shape=(3,)))
    dense(fx.Input(shape=(3,)))
    with pytest.raises(AttributeError, match="layer 'dense' has been called 2 times .* so its input is "
                                             "ambiguous"):
        _ = dense.input
