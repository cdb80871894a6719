"""Normalization: Keras 3's documented examples and formula ((x − mean) / max(√var, 1e-7)),
adapt on arrays and on batches, given statistics, invert, gradients, non-trainable weights that
training leaves alone and files keep, and errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

import flexnet as fx
from flexnet.gradcheck import check_layer_gradients
from flexnet.layers import Normalization

KERAS_DATA = np.array([[0.0, 7.0, 4.0], [2.0, 9.0, 6.0], [0.0, 7.0, 4.0], [2.0, 9.0, 6.0]])


def _in_model(case, layer, input_shape):
    model = case.model([layer])
    model.build((None, *input_shape))
    return model


def test_keras_documented_examples(case):
    """The four examples of keras.layers.Normalization's docstring, on every backend (Keras prints
    -1.4142135 and -0.70710677, float32's -√2 and -√2/2)."""
    root2 = np.sqrt(2.0)
    fx.set_floatx(case.dtype)
    on = {"backend": case.backend, "device": case.device, "dtype": case.dtype}
    layer = Normalization(axis=None)
    layer.adapt(np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    case.assert_close(case.to_numpy(layer(case.asarray([1.0, 2.0, 3.0]))), [-root2, -root2 / 2, 0.0])

    layer = Normalization(axis=-1)
    layer.adapt(KERAS_DATA)
    model = fx.Sequential([fx.Input(shape=(3,)), layer], **on)
    case.assert_close(model.predict(np.array([[0.0, 7.0, 4.0]])), [[-1.0, -1.0, -1.0]])

    model = fx.Sequential([fx.Input(shape=(1,)), Normalization(mean=3.0, variance=2.0)], **on)
    case.assert_close(model.predict(np.array([[1.0], [2.0], [3.0]])), [[-root2], [-root2 / 2], [0.0]])

    layer = Normalization(axis=-1, invert=True)
    layer.adapt(KERAS_DATA)
    model = fx.Sequential([fx.Input(shape=(3,)), layer], **on)
    case.assert_close(model.predict(np.array([[1.0, 2.0, 3.0]])), [[2.0, 10.0, 8.0]])


@pytest.mark.parametrize(("axis", "reduce"), [(-1, (0, 1)), (2, (0, 1)), (None, (0, 1, 2)), ((1, 2), (0,)),
                                              (1, (0, 2)), ([-2], (0, 2))])
def test_keras_formula_over_the_kept_axes(case, axis, reduce):
    rng = np.random.default_rng(0)
    data = rng.normal(3.0, 2.0, size=(40, 3, 4))
    X = rng.normal(3.0, 2.0, size=(5, 3, 4))
    layer = Normalization(axis=axis)
    layer.adapt(data)
    model = _in_model(case, layer, (3, 4))
    mean = data.mean(axis=reduce, keepdims=True)
    std = np.maximum(np.sqrt(data.var(axis=reduce, keepdims=True)), 1e-7)
    case.assert_close(model.predict(X), (X - mean) / std)
    expected_shape = tuple(d for i, d in enumerate((40, 3, 4)) if i not in reduce)
    assert [w.shape for w in layer.get_weights()] == [expected_shape, expected_shape]


def test_matches_scikit_learns_standard_scaler(case):
    sklearn = pytest.importorskip("sklearn.preprocessing")
    X = np.random.default_rng(1).normal(size=(50, 6)) * np.arange(1, 7) + 10.0
    layer = Normalization()
    layer.adapt(X)
    model = _in_model(case, layer, (6,))
    case.assert_close(model.predict(X), sklearn.StandardScaler().fit_transform(X))


def test_adapt_on_batches_equals_adapt_on_the_whole():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(103, 4)) * 5.0 + 1.0
    whole, batched, generated = Normalization(), Normalization(), Normalization()
    whole.adapt(X)
    batched.adapt([X[:10], X[10:60], X[60:]])
    generated.adapt(X[i:i + 32] for i in range(0, 103, 32))
    for layer in (batched, generated):
        for a, b in zip(layer._adapted, whole._adapted):
            np.testing.assert_allclose(a, b, rtol=1e-12)


def test_adapt_a_built_layer_on_its_device_from_its_arrays(case):
    layer = Normalization()
    model = _in_model(case, layer, (3,))
    np.testing.assert_array_equal(layer.get_weights()[0], np.zeros(3))  # identity until adapted
    layer.adapt(case.asarray(KERAS_DATA))
    case.assert_close(layer.get_weights()[0], [1.0, 8.0, 5.0])
    case.assert_close(layer.get_weights()[1], [1.0, 1.0, 1.0])
    case.assert_close(model.predict(KERAS_DATA[:1]), [[-1.0, -1.0, -1.0]])


def test_a_constant_feature_divides_by_keras_epsilon():
    fx.set_floatx("float64")
    layer = Normalization()
    layer.adapt(np.array([[1.0, 5.0], [3.0, 5.0]]))
    np.testing.assert_allclose(layer(np.array([[2.0, 5.0], [2.0, 5.0 + 1e-6]])), [[0.0, 0.0], [0.0, 10.0]],
                               rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("invert", [False, True])
def test_gradients_match_central_differences(case64, invert):
    layer = Normalization(invert=invert)
    layer.adapt(np.random.default_rng(3).normal(size=(20, 4)) * 3.0)
    _in_model(case64, layer, (4,))
    X = np.random.default_rng(4).normal(size=(5, 4))
    assert check_layer_gradients(layer, case64.asarray(X))["input"] < 1e-7


def test_invert_undoes_the_normalization(case):
    data = np.random.default_rng(5).normal(size=(30, 3)) * 4.0 - 2.0
    forward, back = Normalization(), Normalization(invert=True)
    forward.adapt(data)
    back.adapt(data)
    model = case.model([forward, back])
    model.build((None, 3))
    case.assert_close(model.predict(data), data)


def test_statistics_are_non_trainable_weights_that_fit_keeps_and_files_save(case, tmp_path):
    rng = np.random.default_rng(6)
    x = rng.normal(size=(32, 3)) * 10.0 + 5.0
    norm = Normalization()
    norm.adapt(x)
    model = case.model([fx.Input(shape=(3,)), norm, fx.layers.Dense(1)])
    assert norm.trainable_weights == [] and len(norm.non_trainable_weights) == 2
    lines = []
    model.summary(print_fn=lines.append)
    assert "Non-trainable params: 6" in lines[0]
    before = norm.get_weights()
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, x.sum(axis=1), epochs=3, verbose=0)
    for a, b in zip(norm.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    model.save(tmp_path / "m")
    loaded = fx.models.load_model(tmp_path / "m", backend=case.backend, device=case.device)
    for a, b in zip(loaded.layers[0].get_weights(), before):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_given_statistics_live_in_the_config_and_move_with_the_model(tmp_path):
    layer = Normalization(axis=(1, 2), mean=[1.0, 2.0], variance=[4.0, 9.0], name="n")
    config = json.loads(json.dumps(layer.get_config()))
    assert config["mean"] == [1.0, 2.0] and config["axis"] == [1, 2]
    assert Normalization.from_config(config).get_config() == layer.get_config()
    model = fx.Sequential([fx.Input(shape=(3, 2)), layer])
    assert model.count_params() == 0
    X = np.ones((2, 3, 2))
    expected = (X - np.array([1.0, 2.0])) / np.array([2.0, 3.0])
    np.testing.assert_allclose(model.predict(X), expected, rtol=1e-6)
    model.save(tmp_path / "m")
    np.testing.assert_allclose(fx.models.load_model(tmp_path / "m").predict(X), expected, rtol=1e-6)
    pytest.importorskip("torch")
    model.to("torch")
    np.testing.assert_allclose(model.predict(X), expected, rtol=1e-6)


@pytest.mark.parametrize(("make", "error", "match"), [
    (lambda: Normalization(mean=1.0), ValueError, "give mean and variance together"),
    (lambda: Normalization(mean=[1.0, 2.0], variance=[1.0]), ValueError,
     r"same shape, got \(2,\) and \(1,\)"),
    (lambda: Normalization(mean=[[1.0]], variance=[[1.0]]), ValueError, "more axes than axis=-1 keeps"),
    (lambda: Normalization(mean=0.0, variance=-1.0), ValueError, "variance finite and >= 0"),
    (lambda: Normalization(axis="last"), TypeError,
     "axis must be None, an int or a list of ints, got 'last'"),
])
def test_bad_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_adapt_and_build_refuse_what_does_not_fit():
    with pytest.raises(ValueError, match="was given mean and variance; adapt computes them instead"):
        Normalization(mean=0.0, variance=1.0).adapt(np.ones((2, 2)))
    with pytest.raises(ValueError, match="adapt received no data"):
        Normalization().adapt([])
    with pytest.raises(ValueError, match=r"axis \(0,\) names the batch axis 0"):
        Normalization(axis=0).adapt(np.ones((4, 2)))
    layer = Normalization()
    layer.adapt(np.ones((4, 2)))
    with pytest.raises(ValueError, match=r"was adapted to data with statistics of shape \(2,\), but receives "
                                         r"inputs of shape \(None, 3\)"):
        fx.Sequential([fx.Input(shape=(3,)), layer])
    built = Normalization()
    fx.Sequential([fx.Input(shape=(3,)), built])
    with pytest.raises(ValueError, match=r"keeps statistics of shape \(3,\), but the adapt data gives "
                                         r"\(2,\)"):
        built.adapt(np.ones((4, 2)))
    with pytest.raises(ValueError, match=r"axis \(3,\) is out of range for inputs with 2 axes"):
        fx.Sequential([fx.Input(shape=(3,)), Normalization(axis=3)])
