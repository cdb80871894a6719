"""Layers: Dense (Keras shapes, lazy build, argument checks, gradients, PyTorch parity),
Activation, Dropout (inverted, seeded from the model's generator) and Flatten, each built by
putting it in a model on every backend x dtype.
"""

from __future__ import annotations

import array_api_compat
import numpy as np
import pytest
from helpers import torch_activations

import flexnet as fx
from flexnet.gradcheck import check_layer_gradients

torch = pytest.importorskip("torch")
F = torch.nn.functional

ACTIVATIONS = ["linear", "sigmoid", "tanh", "relu", "softmax"]

TORCH_ACTIVATIONS = torch_activations()


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)




def _dense(case, units=3, inputs=4, **kwargs):
    """A Dense layer built inside a model of ``case``, and the model."""
    model = case.model([fx.layers.Dense(units, input_dim=inputs, **kwargs)])
    return model.layers[0], model


def _dense_with_known_weights(case, activation, use_bias=True, seed=0):
    """Dense(3) on 4 inputs with set weights, and a batch X whose logits stay away from 0."""
    layer, model = _dense(case, activation=activation, use_bias=use_bias)
    rng = _rng(seed)
    W = rng.standard_normal((4, 3))
    b = rng.standard_normal(3)
    X = rng.standard_normal((5, 4))
    assert np.min(np.abs(X @ W + (b if use_bias else 0.0))) > 1e-3  # relu's kink is far
    model.set_weights([W, b] if use_bias else [W])
    return layer, X, W, (b if use_bias else None)


# -- Default names ------------------------------------------------------------------------


@pytest.mark.parametrize("layer, name", [
    (fx.layers.Dense(2), "dense"), (fx.layers.ReLU(), "re_lu"), (fx.layers.LeakyReLU(), "leaky_re_lu"),
    (fx.layers.PReLU(), "p_re_lu"), (fx.layers.BatchNormalization(), "batch_normalization"),
    (fx.layers.GaussianNoise(0.1), "gaussian_noise"), (fx.layers.Softmax(), "softmax"),
])
def test_default_names_are_keras_snake_case(layer, name):
    assert layer.default_name == name
    model = fx.Sequential([fx.layers.Activation("linear", input_shape=(3,)), layer])
    assert model.layers[1].name == name


@pytest.mark.parametrize("class_name, snake", [
    ("ReLU", "re_lu"), ("PReLU", "p_re_lu"), ("LeakyReLU", "leaky_re_lu"), ("Conv2D", "conv2d"),
    ("HTTPHandler", "http_handler"), ("MyDense", "my_dense"), ("A", "a"), ("Dense_1", "dense_1"),
])
def test_snake_case_is_keras_to_snake_case(class_name, snake):
    from flexnet.layers.base import snake_case

    assert snake_case(class_name) == snake


# -- Dense: shapes and building --------------------------------------------------------


def test_dense_kernel_is_inputs_by_units_and_bias_is_units(case):
    layer, model = _dense(case, units=3, inputs=4)
    assert tuple(layer.params["kernel"].shape) == (4, 3)
    assert tuple(layer.params["bias"].shape) == (3,)
    assert [w.shape for w in model.get_weights()] == [(4, 3), (3,)]
    assert model.count_params() == 4 * 3 + 3
    assert model.output_shape == (None, 3)


def test_dense_builds_lazily_when_the_input_size_is_first_known(case):
    model = case.model([fx.layers.Dense(3), fx.layers.Dense(2)])
    assert not model.built and not model.layers[0].built
    assert model.layers[0].params == {}
    out = model.predict(_rng(0).standard_normal((6, 7)))
    assert out.shape == (6, 2)
    assert tuple(model.layers[0].params["kernel"].shape) == (7, 3)
    assert tuple(model.layers[1].params["kernel"].shape) == (3, 2)


def test_dense_without_bias_has_only_a_kernel(case):
    layer, X, W, _ = _dense_with_known_weights(case, "linear", use_bias=False)
    assert list(layer.params) == ["kernel"]
    Y = layer.forward(case.asarray(X))
    case.assert_close(case.to_numpy(Y), X @ W)
    layer.backward(case.asarray(np.ones((5, 3))))
    assert list(layer.grads) == ["kernel"]


def test_input_dim_is_input_shape_of_one_axis():
    assert fx.layers.Dense(3, input_dim=4).input_shape == (4,)
    assert fx.layers.Dense(3, input_shape=(4,)).input_shape == (4,)
    assert fx.layers.Dense(3, input_shape=4).input_shape == (4,)


def test_input_dim_and_input_shape_together_are_refused():
    with pytest.raises(ValueError, match="input_dim or input_shape"):
        fx.layers.Dense(3, input_dim=4, input_shape=(4,))


@pytest.mark.parametrize("units", [0, -2, 2.5, True, "3", None])
def test_dense_rejects_invalid_units(units):
    with pytest.raises(ValueError, match="units must be a positive int"):
        fx.layers.Dense(units)


def test_dense_accepts_numpy_integer_units():
    assert fx.layers.Dense(np.int64(3)).units == 3


def test_dense_on_3d_inputs_works_on_the_last_axis(case):
    model = case.model([fx.layers.Dense(3, input_shape=(5, 4), activation="tanh")])
    layer = model.layers[0]
    assert tuple(layer.params["kernel"].shape) == (4, 3) and model.output_shape == (None, 5, 3)
    lines = []
    model.summary(print_fn=lines.append, line_length=88)
    assert "│ (None, 5, 3) " in lines[0] and " 15 │" in lines[0]
    X = _rng(7).standard_normal((2, 5, 4))
    W, b = model.get_weights()
    case.assert_close(model.predict(X), np.tanh(X @ W + b))


def test_dense_on_rank_4_inputs_matches_torch_linear(case):
    model = case.model([fx.layers.Dense(3, activation="sigmoid")])
    model.build((None, 2, 3, 4))
    layer = model.layers[0]
    W, b = _rng(8).standard_normal((4, 3)), _rng(9).standard_normal(3)
    model.set_weights([W, b])
    X, dY = _rng(10).standard_normal((2, 2, 3, 4)), _rng(11).standard_normal((2, 2, 3, 3))
    x = torch.tensor(X, requires_grad=True)
    w, bias = torch.tensor(W.T.copy(), requires_grad=True), torch.tensor(b, requires_grad=True)
    torch.sigmoid(F.linear(x, w, bias)).backward(torch.tensor(dY))
    Y = layer.forward(case.asarray(X))
    dX = layer.backward(case.asarray(dY))
    assert tuple(Y.shape) == (2, 2, 3, 3)
    case.assert_close(case.to_numpy(dX), x.grad.numpy())
    case.assert_close(case.to_numpy(layer.grads["kernel"]), w.grad.numpy().T)
    case.assert_close(case.to_numpy(layer.grads["bias"]), bias.grad.numpy())


@pytest.mark.parametrize("activation", ["linear", "relu", "softmax"])
def test_dense_on_3d_inputs_passes_gradient_check(case64, activation):
    model = case64.model([fx.layers.Dense(3, input_shape=(2, 4), activation=activation)])
    X = _rng(12).standard_normal((3, 2, 4))
    errors = check_layer_gradients(model.layers[0], case64.asarray(X))
    assert set(errors) == {"input", "kernel", "bias"}
    assert max(errors.values()) < 1e-7, errors


def test_dense_on_3d_data_builds_lazily_and_trains(case):
    model = case.model([fx.layers.Dense(4, activation="tanh"), fx.layers.Dense(1)])
    X = _rng(13).standard_normal((16, 3, 2))
    y = X.sum(axis=-1, keepdims=True)
    model.compile(optimizer=fx.optimizers.SGD(0.05), loss="mse")
    history = model.fit(X, y, batch_size=8, epochs=5, verbose=0)
    assert model.output_shape == (None, 3, 1) and tuple(model.layers[0].params["kernel"].shape) == (2, 4)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_dense_needs_a_batch_and_a_feature_axis():
    with pytest.raises(ValueError, match=r"Dense layer 'dense' takes inputs \(batch, \.\.\., features\), got "
                                         r"shape \(None,\)"):
        fx.layers.Dense(3).check_input_shape((None,))


# -- Dense: values and gradients -------------------------------------------------------


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_dense_passes_gradient_check(case64, activation):
    layer, X, _, _ = _dense_with_known_weights(case64, activation)
    errors = check_layer_gradients(layer, case64.asarray(X))
    assert set(errors) == {"input", "kernel", "bias"}
    assert max(errors.values()) < 1e-7, errors


def test_dense_without_bias_passes_gradient_check(case64):
    layer, X, _, _ = _dense_with_known_weights(case64, "tanh", use_bias=False)
    errors = check_layer_gradients(layer, case64.asarray(X))
    assert set(errors) == {"input", "kernel"}
    assert max(errors.values()) < 1e-7, errors


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("use_bias", [True, False])
def test_dense_forward_and_backward_match_torch_linear(case, activation, use_bias):
    layer, X, W, b = _dense_with_known_weights(case, activation, use_bias=use_bias, seed=1)
    dY = _rng(2).standard_normal((5, 3))

    x = torch.tensor(X, requires_grad=True)
    w = torch.tensor(W.T.copy(), requires_grad=True)  # torch weight is (out, in)
    bias = None if b is None else torch.tensor(b, requires_grad=True)
    y = TORCH_ACTIVATIONS[activation](F.linear(x, w, bias))
    y.backward(torch.tensor(dY))

    Y = layer.forward(case.asarray(X))
    dX = layer.backward(case.asarray(dY))
    assert array_api_compat.device(Y) == array_api_compat.device(layer.params["kernel"])
    assert case.to_numpy(Y).dtype == np.dtype(case.dtype)
    case.assert_close(case.to_numpy(Y), y.detach().numpy())
    case.assert_close(case.to_numpy(dX), x.grad.numpy())
    case.assert_close(case.to_numpy(layer.grads["kernel"]), w.grad.numpy().T)
    if use_bias:
        case.assert_close(case.to_numpy(layer.grads["bias"]), bias.grad.numpy())


# -- Activation -------------------------------------------------------------------------


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_activation_layer_applies_its_function(case, activation):
    model = case.model([fx.layers.Activation(activation, input_shape=(4,))])
    layer = model.layers[0]
    X = _rng(3).standard_normal((5, 4))
    dY = _rng(4).standard_normal((5, 4))
    x = torch.tensor(X, requires_grad=True)
    y = TORCH_ACTIVATIONS[activation](x)
    y.backward(torch.tensor(dY))
    assert layer.params == {} and model.count_params() == 0
    case.assert_close(case.to_numpy(layer.forward(case.asarray(X))), y.detach().numpy())
    case.assert_close(case.to_numpy(layer.backward(case.asarray(dY))), x.grad.numpy())


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_activation_layer_passes_gradient_check(case64, activation):
    model = case64.model([fx.layers.Activation(activation, input_shape=(4,))])
    X = _rng(5).standard_normal((5, 4)) + 0.1
    assert np.min(np.abs(X)) > 1e-3
    errors = check_layer_gradients(model.layers[0], case64.asarray(X))
    assert errors["input"] < 1e-7


# -- Flatten ------------------------------------------------------------------------------


def test_flatten_turns_images_into_vectors_and_back(case):
    model = case.model([fx.layers.Flatten(input_shape=(28, 28))])
    layer = model.layers[0]
    X = _rng(6).standard_normal((3, 28, 28))
    assert model.output_shape == (None, 784)
    Y = layer.forward(case.asarray(X))
    assert tuple(Y.shape) == (3, 784)
    np.testing.assert_array_equal(case.to_numpy(Y), X.reshape(3, 784).astype(case.dtype))
    dX = layer.backward(Y)
    assert tuple(dX.shape) == (3, 28, 28)
    np.testing.assert_array_equal(case.to_numpy(dX), X.astype(case.dtype))


def test_flatten_then_dense_builds(case):
    model = case.model([fx.layers.Flatten(input_shape=(4, 5)), fx.layers.Dense(3)])
    assert tuple(model.layers[1].params["kernel"].shape) == (20, 3)
    assert model.predict(np.ones((2, 4, 5))).shape == (2, 3)


def test_flatten_passes_gradient_check(case64):
    model = case64.model([fx.layers.Flatten(input_shape=(3, 4))])
    errors = check_layer_gradients(model.layers[0], case64.asarray(_rng(7).standard_normal((2, 3, 4))))
    assert errors["input"] < 1e-7


# -- Dropout ------------------------------------------------------------------------------


def _dropout(case, rate, features=50):
    model = case.model([fx.layers.Dropout(rate, input_shape=(features,))])
    return model.layers[0], model


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, True, "0.5", None])
def test_dropout_rejects_rates_outside_0_1(rate):
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        fx.layers.Dropout(rate)


def test_dropout_is_identity_at_inference(case):
    layer, _ = _dropout(case, 0.5)
    X = _rng(8).standard_normal((4, 50))
    Y = layer.forward(case.asarray(X), training=False)
    np.testing.assert_array_equal(case.to_numpy(Y), X.astype(case.dtype))
    dY = _rng(9).standard_normal((4, 50))
    np.testing.assert_array_equal(
        case.to_numpy(layer.backward(case.asarray(dY))), dY.astype(case.dtype)
    )


@pytest.mark.parametrize("rate", [0.2, 0.5])
def test_dropout_in_training_drops_rate_and_scales_survivors(case, rate):
    layer, _ = _dropout(case, rate)
    X = 1.0 + _rng(10).random((200, 50))  # no zeros of its own
    Y = case.to_numpy(layer.forward(case.asarray(X), training=True))
    dropped = Y == 0.0
    assert abs(dropped.mean() - rate) < 0.03
    np.testing.assert_allclose(Y[~dropped], X[~dropped] / (1.0 - rate), rtol=case.rtol)


def test_dropout_backward_uses_the_forward_mask(case):
    rate = 0.5
    layer, _ = _dropout(case, rate)
    X = 1.0 + _rng(11).random((20, 50))
    Y = case.to_numpy(layer.forward(case.asarray(X), training=True))
    dY = _rng(12).standard_normal((20, 50))
    dX = case.to_numpy(layer.backward(case.asarray(dY)))
    kept = Y != 0.0
    np.testing.assert_allclose(dX, np.where(kept, dY / (1.0 - rate), 0.0), rtol=case.rtol,
                               atol=case.rtol)


class _FixedUniform:
    """A generator stub that always draws the same uniforms, so the mask is fixed."""

    def __init__(self, case, shape, seed):
        self.case, self.u = case, _rng(seed).random(shape)

    def uniform(self, shape, low=0.0, high=1.0, dtype="float32"):
        assert tuple(shape) == self.u.shape
        return self.case.asarray(self.u, dtype)


def test_dropout_with_a_fixed_mask_passes_gradient_check(case64):
    layer, _ = _dropout(case64, 0.3, features=6)
    layer.rng = _FixedUniform(case64, (4, 6), seed=13)
    X = case64.asarray(_rng(14).standard_normal((4, 6)))
    errors = check_layer_gradients(layer, X, training=True)
    assert errors["input"] < 1e-7
    expected_mask = (layer.rng.u >= 0.3) / 0.7
    np.testing.assert_allclose(case64.to_numpy(layer.cache.mask), expected_mask, rtol=1e-12)


def test_dropout_passes_gradient_check_at_inference(case64):
    layer, _ = _dropout(case64, 0.5, features=6)
    errors = check_layer_gradients(layer, case64.asarray(_rng(15).standard_normal((3, 6))))
    assert errors["input"] < 1e-7


def _first_mask(case, seed, rate=0.5):
    fx.utils.set_random_seed(seed)
    layer, _ = _dropout(case, rate)
    return case.to_numpy(layer.forward(case.asarray(np.ones((8, 50))), training=True)) != 0.0


def test_dropout_mask_repeats_with_the_same_seed(case):
    np.testing.assert_array_equal(_first_mask(case, 7), _first_mask(case, 7))
    assert not np.array_equal(_first_mask(case, 7), _first_mask(case, 8))


def test_dropout_mask_comes_from_the_models_generator(case):
    fx.utils.set_random_seed(21)
    _, model = _dropout(case, 0.4)
    expected = case.to_numpy(model.rng.uniform((8, 50), 0.0, 1.0, case.dtype)) >= 0.4
    fx.utils.set_random_seed(21)
    layer, _ = _dropout(case, 0.4)
    Y = case.to_numpy(layer.forward(case.asarray(np.ones((8, 50))), training=True))
    np.testing.assert_array_equal(Y != 0.0, expected)


def test_dropout_draws_a_new_mask_each_step(case):
    layer, _ = _dropout(case, 0.5)
    X = case.asarray(np.ones((8, 50)))
    first = case.to_numpy(layer.forward(X, training=True))
    second = case.to_numpy(layer.forward(X, training=True))
    assert not np.array_equal(first, second)


def test_first_layer_skips_its_input_gradient_only_inside_the_model(case):
    model = case.model([fx.layers.Dense(3, input_dim=4, activation="relu"), fx.layers.Dense(2)])
    model.compile(loss="mse")
    x = np.random.default_rng(0).normal(size=(5, 4))
    model.compute_gradients(x, np.zeros((5, 2)))
    first = model.layers[0]
    assert first.input_grad_needed  # restored after the model's backward
    Y = first.forward(case.asarray(x))
    dX = first.backward(Y * 0.0 + 1.0)  # called directly, dX is computed
    assert tuple(dX.shape) == (5, 4)
    first.backward_without_input_grad(first.backward, Y * 0.0 + 1.0)
    assert first.input_grad_needed and tuple(first.grads["kernel"].shape) == (4, 3)
