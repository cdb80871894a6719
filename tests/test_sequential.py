"""Sequential as Keras 3 builds it: a symbolic graph once built (model.input, model.output,
layer.output, feature extractors that share weights), pop(), and the flat-layer cache."""

from __future__ import annotations

import numpy as np
import pytest

import flexnet as fx
from flexnet.layers import Dense


def _three_layers(case):
    return case.model([Dense(8, input_dim=4, activation="relu", name="dense"),
                       Dense(3, activation="tanh", name="hidden"), Dense(1, name="out")])


def test_a_feature_extractor_shares_the_weights_and_predicts_the_hidden_activations(case):
    model = _three_layers(case)
    extractor = fx.Model(model.input, model.get_layer("hidden").output)
    assert extractor.backend == model.backend and extractor.dtype == model.dtype
    assert extractor.layers[1] is model.layers[0] and extractor.layers[2] is model.layers[1]
    X = np.random.default_rng(0).standard_normal((6, 4))

    def manual():
        W1, b1, W2, b2, _, _ = model.get_weights()
        return np.tanh(np.maximum(X @ W1 + b1, 0.0) @ W2 + b2)

    case.assert_close(extractor.predict(X), manual())
    model.compile(optimizer=fx.optimizers.SGD(0.1), loss="mse")
    model.fit(X, np.ones((6, 1)), epochs=3, verbose=0)  # training the model moves the extractor too
    case.assert_close(extractor.predict(X), manual())


def test_model_input_output_and_layer_outputs_are_the_graph():
    model = fx.Sequential([Dense(4, input_dim=3), Dense(2)])
    assert model.input.shape == (None, 3) and model.output.shape == (None, 2)
    assert model.inputs == [model.input] and model.outputs == [model.output]
    assert model.layers[-1].output is model.output and model.layers[0].input is model.input
    assert model.layers[1].input is model.layers[0].output
    given = fx.Input(shape=(5,), name="features")
    with_input = fx.Sequential([given, Dense(2)])
    assert with_input.input is given and with_input.input.name == "features"
    unbuilt = fx.Sequential([Dense(2)])
    with pytest.raises(AttributeError, match=r"model 'sequential' has no inputs yet: it is not built; give "
                                             r"the first layer an input shape"):
        _ = unbuilt.input
    unbuilt.predict(np.ones((2, 7)))  # built from data: now it has its graph
    assert unbuilt.input.shape == (None, 7) and unbuilt.output.shape == (None, 2)


def test_add_after_build_extends_the_graph():
    model = fx.Sequential([Dense(4, input_dim=3)])
    model.add(Dense(2, name="added"))
    assert model.output is model.get_layer("added").output and model.output.shape == (None, 2)


def test_functional_models_have_input_and_output_too():
    a, b = fx.Input(shape=(2,), name="a"), fx.Input(shape=(3,), name="b")
    out = Dense(1)(fx.layers.concatenate([a, b]))
    model = fx.Model([a, b], out)
    assert model.input == [a, b] and model.output is out


def test_pop_removes_the_last_layer_and_the_rest_still_works(case):
    model = _three_layers(case)
    last = model.pop()
    assert last.name == "out" and [layer.name for layer in model.layers] == ["dense", "hidden"]
    assert model.output_shape == (None, 3) and model.output is model.get_layer("hidden").output
    assert len(model.weights) == 4 and model.count_params() == 4 * 8 + 8 + 8 * 3 + 3
    X = np.random.default_rng(1).standard_normal((5, 4))
    W1, b1, W2, b2 = model.get_weights()
    case.assert_close(model.predict(X), np.tanh(np.maximum(X @ W1 + b1, 0.0) @ W2 + b2))
    model.add(Dense(2, name="new_head"))
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(X, np.zeros((5, 2)), epochs=2, verbose=0)
    assert model.output_shape == (None, 2) and len(history.epoch) == 2
    with pytest.raises(AttributeError, match="layer 'out' has never been called"):
        _ = last.output  # its node left with it


def test_the_flat_layer_cache_follows_pop_and_add_of_as_many_layers():
    """``_flat_layers`` was cached by the number of layers: pop then add left the old list."""
    model = fx.Sequential([Dense(4, input_dim=3), Dense(2)])
    assert [w.shape for w in model.weights] == [(3, 4), (4,), (4, 2), (2,)]
    model.pop()
    model.add(Dense(5))
    assert [w.shape for w in model.weights] == [(3, 4), (4,), (4, 5), (5,)]
    assert len(model.get_weights()) == 4 and model.count_params() == 16 + 25
    inner = fx.Sequential([Dense(2, input_dim=3)])
    outer = fx.Sequential([inner, Dense(1)])
    assert len(outer.weights) == 4
    inner.add(Dense(6))  # a nested model changes: the outer cache follows
    assert len(outer._flat_layers()) == 3


def test_popping_every_layer_keeps_the_input_shape_and_refuses_an_empty_pop():
    model = fx.Sequential([fx.Input(shape=(3,)), Dense(4), Dense(2)])
    model.pop()
    model.pop()
    assert not model.built and model.layers == []
    with pytest.raises(ValueError, match="Sequential model 'sequential' has no layer to pop"):
        model.pop()
    model.add(Dense(7))
    assert model.built and model.input_shape == (None, 3) and model.output_shape == (None, 7)


def test_pop_without_rebuild_leaves_the_model_unbuilt_until_it_sees_data():
    model = fx.Sequential([Dense(4, input_dim=3), Dense(2), Dense(1)])
    model.pop(rebuild=False)
    assert not model.built and len(model.layers) == 2
    assert model.predict(np.ones((2, 3))).shape == (2, 2)
    assert model.built and model.output.shape == (None, 2)


def test_a_layer_in_two_models_has_no_single_output():
    shared = Dense(2, name="shared")
    fx.Sequential([Dense(3, input_dim=4), shared])
    fx.Sequential([fx.Input(shape=(3,)), shared])
    with pytest.raises(AttributeError, match="layer 'shared' has been called 2 times"):
        _ = shared.output
