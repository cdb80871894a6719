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
