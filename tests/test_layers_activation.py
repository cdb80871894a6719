"""PReLU: central-difference gradients (float64), values and gradients against torch's prelu,
shared axes, training inside a model on every backend x dtype, config round trip, and errors.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import flexnet as fx
from flexnet.gradcheck import check_layer_gradients
from flexnet.layers.activation import PReLU

torch = pytest.importorskip("torch")


def _inputs(shape, seed=0) -> np.ndarray:
    """Normal inputs kept at least 0.05 away from PReLU's kink at 0."""
    X = np.random.default_rng(seed).standard_normal(shape)
    return np.where(np.abs(X) < 0.05, np.where(X >= 0, 0.05, -0.05) + X, X)


def _built(case, layer, input_shape, alpha=None):
    """``layer`` built in a one-layer model of ``case``; ``alpha`` (host array) replaces α."""
    model = case.model([layer])
    model.build((None, *input_shape))
    if alpha is not None:
        layer.set_weights([alpha])
    return layer


@pytest.mark.parametrize(
    ("input_shape", "shared_axes", "alpha_shape"),
    [((5,), None, (5,)), ((3, 4), None, (3, 4)), ((3, 4), [2], (3, 1)), ((3, 4), [1, 2], (1, 1)),
     ((2, 3, 4), [1, 2], (1, 1, 4)), ((3, 4), -1, (3, 1))],
)
def test_alpha_shape_follows_shared_axes(case, input_shape, shared_axes, alpha_shape):
    layer = _built(case, PReLU(shared_axes=shared_axes), input_shape)
    assert tuple(layer.params["alpha"].shape) == alpha_shape
    np.testing.assert_array_equal(case.to_numpy(layer.params["alpha"]), np.zeros(alpha_shape))
    assert layer.count_params() == int(np.prod(alpha_shape))


@pytest.mark.parametrize(("input_shape", "shared_axes"),
                         [((4,), None), ((3, 4), None), ((3, 4), [2]), ((2, 3, 2), [1, 3])])
def test_gradients_match_central_differences(case64, input_shape, shared_axes):
    layer = PReLU(shared_axes=shared_axes)
    _built(case64, layer, input_shape)
    alpha = np.random.default_rng(1).uniform(-0.5, 0.8, tuple(layer.params["alpha"].shape))
    layer.set_weights([alpha])
    errors = check_layer_gradients(layer, case64.asarray(_inputs((5, *input_shape), 2)))
    assert errors["input"] < 1e-7 and errors["alpha"] < 1e-7


@pytest.mark.parametrize(("input_shape", "shared_axes", "channels"),
                         [((4,), None, 4), ((3, 5), [2], 3), ((3, 5), [1, 2], 1)])
def test_matches_torch_prelu(case, input_shape, shared_axes, channels):
    """torch's weight is one slope per channel (axis 1), or one in all: the same α with
    ``shared_axes`` covering every axis after the channel axis."""
    weight = np.random.default_rng(3).uniform(0.05, 0.6, channels)
    layer = PReLU(shared_axes=shared_axes)
    _built(case, layer, input_shape)
    layer.set_weights([weight.reshape(tuple(layer.params["alpha"].shape))])
    X_host = _inputs((6, *input_shape), 4)
    dY_host = np.random.default_rng(5).standard_normal(X_host.shape)
    Y = layer.forward(case.asarray(X_host))
    dX = layer.backward(case.asarray(dY_host))

    x = torch.tensor(X_host, dtype=torch.float64, requires_grad=True)
    w = torch.tensor(weight, dtype=torch.float64, requires_grad=True)
    y = torch.nn.functional.prelu(x, w)
    dx, dw = torch.autograd.grad(y, (x, w), grad_outputs=torch.tensor(dY_host))
    case.assert_close(case.to_numpy(Y), y.detach().numpy())
    case.assert_close(case.to_numpy(dX), dx.numpy())
    case.assert_close(case.to_numpy(layer.grads["alpha"]).reshape(-1), dw.numpy())


def test_zero_alpha_is_relu_and_first_layer_skips_input_gradient(case):
    layer = _built(case, PReLU(), (4,))
    X_host = _inputs((3, 4), 6)
    case.assert_close(case.to_numpy(layer.forward(case.asarray(X_host))), np.maximum(X_host, 0))
    dY = case.asarray(np.ones((3, 4)))
    layer.backward_without_input_grad(layer.backward, dY)
    case.assert_close(case.to_numpy(layer.grads["alpha"]), np.minimum(X_host, 0).sum(axis=0))


def test_trains_inside_a_model(case):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((48, 3))
    y = np.abs(x @ np.array([[1.0], [-0.5], [0.25]])) - 0.5 * (x[:, :1] < 0)
    prelu = PReLU(alpha_initializer=fx.initializers.Constant(0.1))
    model = case.model([fx.layers.Dense(8, input_dim=3), prelu, fx.layers.Dense(1)])
    model.compile(optimizer=fx.optimizers.Adam(0.02), loss="mse")
    history = model.fit(x, y, batch_size=16, epochs=25, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert not np.allclose(case.to_numpy(prelu.params["alpha"]), 0.1)  # α was learned


def test_config_round_trips_through_json():
    layer = PReLU(alpha_initializer=fx.initializers.Constant(0.25), alpha_regularizer="l2",
                  shared_axes=[1], name="p", input_shape=(3, 4))
    config = json.loads(json.dumps(layer.get_config()))
    assert config["shared_axes"] == [1] and config["name"] == "p"
    rebuilt = PReLU(**config)
    assert rebuilt.get_config() == layer.get_config()
    assert rebuilt.shared_axes == (1,) and rebuilt.input_shape == (3, 4)
    assert PReLU().get_config()["shared_axes"] is None


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [({"shared_axes": "1"}, TypeError, "shared_axes"), ({"shared_axes": [1.0]}, TypeError, "list of ints"),
     ({"shared_axes": True}, TypeError, "shared_axes"), ({"alpha_initializer": 3}, TypeError, "initializer")],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        PReLU(**kwargs)


@pytest.mark.parametrize("shared_axes", [[0], [2], [-2]])
def test_shared_axes_out_of_range(shared_axes):
    model = fx.Sequential([PReLU(shared_axes=shared_axes)])
    with pytest.raises(ValueError, match="shared_axes"):
        model.build((None, 4))


# -- ReLU, LeakyReLU, Softmax ----------------------------------------------------------------

from flexnet.layers.activation import LeakyReLU, ReLU, Softmax  # noqa: E402

KERAS_X = np.array([[-10.0, -5.0, 0.0, 5.0, 10.0]])


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({}, [0.0, 0.0, 0.0, 5.0, 10.0]),
    ({"negative_slope": 0.5}, [-5.0, -2.5, 0.0, 5.0, 10.0]),
    ({"max_value": 5.0}, [0.0, 0.0, 0.0, 5.0, 5.0]),
    ({"threshold": 5.0}, [0.0, 0.0, 0.0, 0.0, 10.0]),
    ({"max_value": 6.0, "negative_slope": 0.1, "threshold": 1.0}, [-1.1, -0.6, -0.1, 5.0, 6.0]),
])
def test_relu_matches_keras_test_vectors(case, kwargs, expected):
    """The first four are keras.activations.relu's documented examples; the last is Keras's
    formula with every option: min(x, max) above the threshold, slope·(x − threshold) below."""
    layer = _built(case, ReLU(**kwargs), (5,))
    case.assert_close(case.to_numpy(layer.forward(case.asarray(KERAS_X))), [expected])


def _keras_relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """keras.activations.ReLU.static_call transcribed in NumPy."""
    negative_part = np.maximum(threshold - x, 0.0) if negative_slope else 1.0
    y = np.where(x > threshold, x, 0.0) if threshold else np.maximum(x, 0.0)
    if max_value is not None:
        y = np.clip(y, 0.0, max_value)
    return y - negative_slope * negative_part if negative_slope else y


RELU_OPTIONS = [{}, {"negative_slope": 0.2}, {"max_value": 6.0}, {"threshold": 0.5},
                {"max_value": 1.5, "negative_slope": 0.3, "threshold": 0.25}]


@pytest.mark.parametrize("kwargs", RELU_OPTIONS, ids=str)
def test_relu_forward_is_keras_formula_and_gradients_match_central_differences(case64, kwargs):
    X = 3.0 * _inputs((6, 7), 8)
    X = np.where(np.abs(X - kwargs.get("threshold", 0.0)) < 0.05, X + 0.1, X)  # away from the kinks
    X = np.where(np.abs(X - kwargs.get("max_value", 99.0)) < 0.05, X + 0.1, X)
    layer = _built(case64, ReLU(**kwargs), (7,))
    case64.assert_close(case64.to_numpy(layer.forward(case64.asarray(X))), _keras_relu(X, **kwargs))
    errors = check_layer_gradients(layer, case64.asarray(X))
    assert errors["input"] < 1e-7, errors


@pytest.mark.parametrize(("kwargs", "torch_fn"), [
    ({}, torch.relu),
    ({"negative_slope": 0.2}, lambda x: torch.nn.functional.leaky_relu(x, 0.2)),
    ({"max_value": 6.0}, torch.nn.functional.relu6),
    ({"threshold": 0.5}, lambda x: torch.nn.functional.threshold(x, 0.5, 0.0)),
], ids=["relu", "leaky", "relu6", "threshold"])
def test_relu_matches_torch_with_ties_at_the_kinks(case, kwargs, torch_fn):
    """Values and gradients against PyTorch, at exactly the kinks too: the branch is chosen by
    ``x > threshold``, so ReLU'(0) = 0, LeakyReLU'(0) = slope, ReLU6'(0) = ReLU6'(6) = 0."""
    X = np.array([[-2.0, -0.5, 0.0, 0.5, 1.0, 6.0, 7.5, 0.25]])
    dY = np.array([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]])
    x = torch.tensor(X, requires_grad=True)
    torch_fn(x).backward(torch.tensor(dY))
    layer = _built(case, ReLU(**kwargs), (8,))
    case.assert_close(case.to_numpy(layer.forward(case.asarray(X))), torch_fn(torch.tensor(X)).numpy())
    case.assert_close(case.to_numpy(layer.backward(case.asarray(dY))), x.grad.numpy())


@pytest.mark.parametrize(("layer", "torch_fn"), [
    (lambda: LeakyReLU(), lambda x: torch.nn.functional.leaky_relu(x, 0.3)),
    (lambda: LeakyReLU(negative_slope=0.01), lambda x: torch.nn.functional.leaky_relu(x, 0.01)),
    (lambda: Softmax(), lambda x: torch.softmax(x, dim=-1)),
    (lambda: Softmax(axis=1), lambda x: torch.softmax(x, dim=1)),
    (lambda: Softmax(axis=(1, 2)), lambda x: torch.softmax(x.reshape(2, 8), dim=1).reshape(2, 2, 4)),
    (lambda: PReLU(alpha_initializer=fx.initializers.Constant(0.25)),
     lambda x: torch.nn.functional.prelu(x, torch.tensor([0.25], dtype=x.dtype))),
    (lambda: fx.layers.Activation("relu"), torch.relu),
    (lambda: fx.layers.Activation("elu"), torch.nn.functional.elu),
    (lambda: fx.layers.Activation("hard_sigmoid"), torch.nn.functional.hardsigmoid),
], ids=["leaky", "leaky_0.01", "softmax", "softmax_axis1", "softmax_axes12", "prelu", "relu_fn", "elu_fn",
        "hard_sigmoid_fn"])
def test_activation_layers_match_torch_at_ties(case, layer, torch_fn):
    X = np.array([[[-3.0, -1.0, 0.0, 0.0], [0.5, 3.0, -0.25, 2.0]],
                  [[0.0, 1.0, -3.0, 3.0], [1e-3, 0.0, 4.0, -4.0]]])
    dY = np.random.default_rng(9).standard_normal(X.shape)
    x = torch.tensor(X, requires_grad=True)
    torch_fn(x).backward(torch.tensor(dY))
    built = _built(case, layer(), (2, 4))
    case.assert_close(case.to_numpy(built.forward(case.asarray(X))), torch_fn(torch.tensor(X)).numpy())
    dX = case.to_numpy(built.backward(case.asarray(dY)))
    if isinstance(getattr(built, "activation", None), fx.activations.HardSigmoid):
        # torch's hardsigmoid backward multiplies by 1.0f / 6.0f, a float32 constant, in float64 too
        np.testing.assert_allclose(dX, x.grad.numpy(), rtol=max(case.rtol, 1e-7), atol=max(case.rtol, 1e-7))
    else:
        case.assert_close(dX, x.grad.numpy())


@pytest.mark.parametrize("layer", [lambda: LeakyReLU(0.2), lambda: Softmax(), lambda: Softmax(axis=1),
                                   lambda: Softmax(axis=[-1, 1])])
def test_leaky_relu_and_softmax_gradients_match_central_differences(case64, layer):
    built = _built(case64, layer(), (3, 4))
    assert check_layer_gradients(built, case64.asarray(_inputs((5, 3, 4), 10)))["input"] < 1e-7


def test_a_softmax_layer_last_is_fused_with_cross_entropy(case):
    model = case.model([fx.layers.Dense(3, input_dim=4), Softmax()])
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    assert model._trainer.setup()[0].heads[0].fused is not None
    x = np.random.default_rng(0).standard_normal((8, 4))
    history = model.fit(x, np.eye(3)[np.arange(8) % 3], epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    np.testing.assert_allclose(model.predict(x).sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("layer", [ReLU(max_value=6.0, negative_slope=0.1, threshold=0.5, name="r"),
                                   LeakyReLU(0.2, input_shape=(3,)), Softmax(axis=1, trainable=False),
                                   Softmax(axis=(1, 2))],
                         ids=lambda layer: type(layer).__name__)
def test_activation_layer_configs_round_trip(layer):
    config = json.loads(json.dumps(layer.get_config()))
    assert "activation" not in config
    rebuilt = fx.registry.deserialize("layer", {"class_name": type(layer).__name__, "config": config})
    assert type(rebuilt) is type(layer) and rebuilt.get_config() == layer.get_config()


def test_activation_layers_save_and_load(case, tmp_path):
    model = case.model([fx.layers.Dense(6, input_dim=3), ReLU(max_value=2.0, negative_slope=0.1),
                        LeakyReLU(), fx.layers.Dense(4), Softmax()])
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    x = np.random.default_rng(1).standard_normal((5, 3))
    model.save(tmp_path / "m")
    loaded = fx.models.load_model(tmp_path / "m", backend=case.backend, device=case.device)
    kinds = ["Dense", "ReLU", "LeakyReLU", "Dense", "Softmax"]
    assert [type(layer).__name__ for layer in loaded.layers] == kinds
    assert loaded.layers[1].max_value == 2.0 and loaded.layers[2].negative_slope == 0.3
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


@pytest.mark.parametrize(("make", "match"), [
    (lambda: ReLU(max_value=-1.0), "max_value of a ReLU layer must be a finite number >= 0, got -1.0"),
    (lambda: ReLU(negative_slope=None), "negative_slope of a ReLU layer must be a finite number >= 0, got "
                                        "None"),
    (lambda: ReLU(threshold=-0.5), "threshold of a ReLU layer must be a finite number >= 0, got -0.5"),
    (lambda: LeakyReLU(-0.1), "negative_slope of a LeakyReLU layer must be a finite number >= 0, got -0.1"),
    (lambda: LeakyReLU(0.1, alpha=0.2), r"give negative_slope or alpha \(its Keras 2 name\), not both"),
])
def test_activation_layer_arguments_are_checked(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_leaky_relu_takes_keras_2_alpha_and_softmax_checks_its_axis():
    assert LeakyReLU(alpha=0.1).negative_slope == 0.1
    with pytest.raises(ValueError, match=r"Softmax 'softmax': axis 2 is out of range for inputs of shape "
                                         r"\(None, 4\)"):
        fx.Sequential([Softmax(axis=2, input_shape=(4,))])
    with pytest.raises(ValueError, match=r"Softmax 'softmax': axis \(1, 3\) is out of range"):
        fx.Sequential([Softmax(axis=(1, 3), input_shape=(2, 4))])
