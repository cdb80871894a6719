"""The public gradient checker: it passes correct layers and catches wrong ones."""

from __future__ import annotations

import numpy as np
import pytest

import flexnet as fx
from flexnet.gradcheck import check_layer_gradients, check_model_gradients, numerical_gradient


class Scale(fx.layers.Layer):
    """Y = X ⊙ s, with an optional bug in the gradient of s."""

    def __init__(self, bug: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.bug = bug

    def build(self, input_shape):
        self.add_weight("scale", (input_shape[-1],), initializer="random_normal")

    def forward(self, X, training=False):
        self.X = X
        return X * self.params["scale"]

    def backward(self, dY):
        self.grads["scale"] = self.xp.sum(dY * self.X, axis=0) * (1.0 + self.bug)
        return dY * self.params["scale"]


def _layer(case, bug):
    model = case.model([Scale(bug=bug, input_shape=(4,))])
    X = case.asarray(np.random.default_rng(0).normal(size=(5, 4)))
    return model, model.layers[0], X


def test_numerical_gradient_of_a_known_function():
    x = np.array([1.0, -2.0, 0.5])
    np.testing.assert_allclose(numerical_gradient(lambda v: np.sum(v**3), x), 3 * x**2, rtol=1e-8)


def test_a_correct_custom_layer_passes(case64):
    _, layer, X = _layer(case64, bug=0.0)
    errors = check_layer_gradients(layer, X)
    assert set(errors) == {"input", "scale"}
    assert max(errors.values()) < 1e-8


def test_a_wrong_backward_is_caught(case64):
    _, layer, X = _layer(case64, bug=0.01)
    errors = check_layer_gradients(layer, X)
    assert errors["input"] < 1e-8
    assert errors["scale"] > 1e-3


def test_model_check_passes_and_leaves_weights_alone(case64):
    model, _, X = _layer(case64, bug=0.0)
    model.add(fx.layers.Dense(2, activation="tanh"))
    model.compile(loss="mse")
    y = np.random.default_rng(1).normal(size=(5, 2))
    before = model.get_weights()
    assert check_model_gradients(model, case64.to_numpy(X), y) < 1e-7
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_model_check_catches_a_wrong_backward():
    model = fx.Sequential([Scale(bug=0.05, input_shape=(3,)), fx.layers.Dense(1)], dtype="float64")
    model.compile(loss="mse")
    rng = np.random.default_rng(2)
    assert check_model_gradients(model, rng.normal(size=(6, 3)), rng.normal(size=(6, 1))) > 1e-3


def test_a_layer_that_forgets_a_gradient_gets_a_clear_error():
    class Forgetful(Scale):
        def backward(self, dY):
            return dY * self.params["scale"]

    model = fx.Sequential([Forgetful(input_shape=(2,))])
    model.compile(loss="mse")
    with pytest.raises(RuntimeError, match=r"did not set grads\['scale'\]"):
        model.compute_gradients(np.ones((3, 2)), np.ones((3, 2)))
