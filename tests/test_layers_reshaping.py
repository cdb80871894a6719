"""Reshape: Keras's shapes (one -1), values and gradients on every backend, in models, config
and file round trips, and errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

import flexnet as fx
from flexnet.gradcheck import check_layer_gradients
from flexnet.layers import Reshape


@pytest.mark.parametrize(("input_shape", "target", "output_shape"), [
    ((6,), (2, 3), (None, 2, 3)), ((6,), (-1, 2), (None, 3, 2)), ((2, 3), (6,), (None, 6)),
    ((2, 3), (-1,), (None, 6)), ((2, 3, 4), (4, -1, 2), (None, 4, 3, 2)), ((4,), 4, (None, 4)),
])
def test_output_shape_as_keras(input_shape, target, output_shape):
    layer = Reshape(target)
    assert layer.compute_output_shape((None, *input_shape)) == output_shape
    assert layer(fx.Input(shape=input_shape)).shape == output_shape


def test_values_and_gradients_on_every_backend(case):
    model = case.model([Reshape((-1, 2), input_shape=(3, 4))])
    layer = model.layers[0]
    assert model.output_shape == (None, 6, 2)
    X = np.arange(24.0).reshape(2, 3, 4)
    Y = layer.forward(case.asarray(X))
    np.testing.assert_array_equal(case.to_numpy(Y), X.reshape(2, 6, 2))
    dX = layer.backward(case.asarray(np.arange(24.0).reshape(2, 6, 2) * 2))
    np.testing.assert_array_equal(case.to_numpy(dX), X * 2)


def test_gradient_check(case64):
    model = case64.model([Reshape((2, -1), input_shape=(6,))])
    X = np.random.default_rng(0).standard_normal((3, 6))
    assert check_layer_gradients(model.layers[0], case64.asarray(X))["input"] < 1e-7


def test_reshape_between_dense_layers_trains_and_saves(case, tmp_path):
    model = case.model([fx.layers.Dense(6, input_dim=4), Reshape((3, 2)), fx.layers.Dense(1),
                        fx.layers.Flatten()])
    model.compile(optimizer=fx.optimizers.SGD(0.05), loss="mse")
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((16, 4)), rng.standard_normal((16, 3))
    history = model.fit(x, y, epochs=4, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    model.save(tmp_path / "m")
    loaded = fx.models.load_model(tmp_path / "m", backend=case.backend, device=case.device)
    assert loaded.layers[1].target_shape == (3, 2)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_config_round_trips():
    layer = Reshape((-1, 2), name="r")
    config = json.loads(json.dumps(layer.get_config()))
    assert config["target_shape"] == [-1, 2]
    assert Reshape.from_config(config).get_config() == layer.get_config()


@pytest.mark.parametrize(("target", "error", "match"), [
    ((-1, -1), ValueError, r"at most one -1, got \(-1, -1\)"),
    ((0, 2), ValueError, r"non-empty tuple of positive ints"),
    ((), ValueError, r"non-empty tuple"),
    ((2.0,), ValueError, r"positive ints"),
    ("2", ValueError, r"positive ints"),
    (None, TypeError, r"target_shape must be a tuple of ints, got None"),
])
def test_bad_target_shapes(target, error, match):
    with pytest.raises(error, match=match):
        Reshape(target)


@pytest.mark.parametrize("target", [(4,), (-1, 4)])
def test_sizes_that_do_not_fit_are_named(target):
    with pytest.raises(ValueError, match=r"Reshape 'reshape': inputs of shape \(None, 6\) \(6 values per "
                                         rf"sample\) cannot take the shape {re_tuple(target)}"):
        Reshape(target)(fx.Input(shape=(6,)))


def re_tuple(shape) -> str:
    return "\\(" + ", ".join(map(str, shape)) + (",\\)" if len(shape) == 1 else "\\)")
