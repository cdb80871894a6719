"""Lambda: the function on every backend, its backward from a derivative or a vjp (checked by
central differences and against the same computation written as built-in layers), output
shapes, training and the refusals: no derivative where a gradient must pass, and saving."""

from __future__ import annotations

import numpy as np
import pytest

import flexnet as fx
from flexnet.gradcheck import check_layer_gradients, check_model_gradients
from flexnet.layers import Lambda


def _softplus():
    return Lambda(lambda x, xp: xp.log1p(xp.exp(x)), lambda x, xp: 1.0 / (1.0 + xp.exp(-x)),
                  name="softplus")


def _row_sums():
    """A function that is not elementwise: its backward is a vjp."""
    return Lambda(lambda x, xp: xp.sum(x * x, axis=1, keepdims=True),
                  vjp=lambda x, y, dy: 2.0 * x * dy, name="sum_of_squares")


def _built(case, layer, input_shape):
    model = case.model([layer])
    model.build((None, *input_shape))
    return layer


@pytest.mark.parametrize("make", [_softplus, _row_sums], ids=["derivative", "vjp"])
def test_gradients_match_central_differences(case64, make):
    layer = _built(case64, make(), (4,))
    X = np.random.default_rng(0).standard_normal((5, 4))
    assert check_layer_gradients(layer, case64.asarray(X))["input"] < 1e-7


def test_values_on_every_backend(case):
    X = np.random.default_rng(1).standard_normal((5, 4))
    layer = _built(case, _softplus(), (4,))
    case.assert_close(case.to_numpy(layer.forward(case.asarray(X))), np.log1p(np.exp(X)))
    layer = _built(case, _row_sums(), (4,))
    assert layer.output_shape == (None, 1)
    case.assert_close(case.to_numpy(layer.forward(case.asarray(X))), (X * X).sum(axis=1, keepdims=True))


def test_a_lambda_gives_the_gradients_of_the_same_built_in_layer(case64):
    """Dense → Lambda(softplus, derivative) → Dense has exactly the loss and gradients of
    Dense → Activation("softplus") → Dense with the same weights."""
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((8, 3)), rng.standard_normal((8, 1))
    models = [case64.model([fx.layers.Dense(5, input_dim=3), middle, fx.layers.Dense(1)])
              for middle in (_softplus(), fx.layers.Activation("softplus"))]
    models[1].set_weights(models[0].get_weights())
    results = []
    for model in models:
        model.compile(optimizer="sgd", loss="mse")
        loss, grads = model.compute_gradients(x, y)
        results.append((float(loss), [case64.to_numpy(g) for g in grads]))
    assert results[0][0] == pytest.approx(results[1][0], rel=1e-12)
    for a, b in zip(results[0][1], results[1][1]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_a_lambda_called_twice_keeps_one_cache_per_call(case64):
    input_ = fx.Input(shape=(3,))
    square = Lambda(lambda x: x * x, lambda x: 2.0 * x)
    hidden = fx.layers.Dense(3)(input_)
    output = fx.layers.Dense(1)(fx.layers.concatenate([square(hidden), square(input_)]))
    model = fx.Model(input_, output, backend=case64.backend, device=case64.device, dtype="float64")
    model.compile(optimizer="sgd", loss="mse")
    rng = np.random.default_rng(3)
    assert check_model_gradients(model, rng.standard_normal((6, 3)), rng.standard_normal((6, 1))) < 1e-7


def test_output_shapes_inferred_given_or_computed():
    input_ = fx.Input(shape=(5,))
    assert Lambda(lambda x: x[:, :2])(input_).shape == (None, 2)
    assert Lambda(lambda x, xp: xp.reshape(x, (x.shape[0], 5, 1)))(input_).shape == (None, 5, 1)
    assert Lambda(lambda x: x, output_shape=(5,))(input_).shape == (None, 5)
    assert Lambda(lambda x: x, output_shape=lambda s: (s[0], 1, 5))(input_).shape == (None, 1, 5)
    with pytest.raises(ValueError, match=r"Lambda 'lambda' could not find its output shape by calling .*"
                                         r"<lambda> on NumPy ones of shape \(2, 5\) \(AttributeError: "
                                         r".*\); pass output_shape=\.\.\."):
        Lambda(lambda x: x.not_a_method())(input_)
    with pytest.raises(ValueError, match="it must keep the batch axis"):
        Lambda(lambda x: x.sum())(input_)


def test_training_argument_and_keyword_arguments():
    layer = Lambda(lambda x, training, scale: x * scale if training else x, arguments={"scale": 3.0})
    X = np.ones((2, 2))
    np.testing.assert_array_equal(layer(X), X)
    np.testing.assert_array_equal(layer(X, training=True), 3 * X)


def test_a_first_layer_lambda_trains_without_a_derivative(case):
    model = case.model([Lambda(lambda x: x * 2.0, input_shape=(3,)), fx.layers.Dense(1)])
    model.compile(optimizer=fx.optimizers.SGD(0.05), loss="mse")
    rng = np.random.default_rng(4)
    x = rng.standard_normal((16, 3))
    history = model.fit(x, x.sum(axis=1), epochs=5, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_a_lambda_without_derivative_inside_a_model_refuses_to_train_and_changes_nothing(case):
    model = case.model([fx.layers.Dense(3, input_dim=2), Lambda(lambda x: x * x), fx.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    before = model.get_weights()
    x, y = np.ones((4, 2)), np.ones((4, 1))
    np.testing.assert_array_equal(model.predict(x).shape, (4, 1))  # inference works
    with pytest.raises(TypeError, match=r"Lambda layer 'lambda' \(.*<lambda>\) has no derivative, so no "
                                        r"gradient can pass through it: .*Lambda\(f, derivative=df\)"):
        model.fit(x, y, epochs=1, verbose=0)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_saving_is_refused_with_what_to_do_and_weights_still_save(tmp_path):
    model = fx.Sequential([fx.layers.Dense(3, input_dim=2), _softplus(), fx.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    path = tmp_path / "m.flexnet"
    with pytest.raises(TypeError, match=r"Lambda layer 'softplus' wraps the Python function "
                                        r"_softplus.<locals>.<lambda>, which flexnet does not write to "
                                        r"files: .*register_serializable.*save_weights"):
        model.save(path)
    assert list(tmp_path.iterdir()) == []  # nothing half-written
    model.save_weights(tmp_path / "w")
    other = fx.Sequential([fx.layers.Dense(3, input_dim=2), _softplus(), fx.layers.Dense(1)])
    other.load_weights(tmp_path / "w")
    x = np.random.default_rng(5).standard_normal((4, 2))
    np.testing.assert_array_equal(other.predict(x), model.predict(x))


def test_lambda_is_a_registered_layer():
    assert fx.layers.base.LAYERS["Lambda"] is Lambda


@pytest.mark.parametrize(("make", "error", "match"), [
    (lambda: Lambda(3), TypeError, "Lambda takes a function, got int"),
    (lambda: Lambda(abs, (3,)), TypeError, r"second argument is the derivative .* got \(3,\); give Keras's "
                                           r"output_shape by keyword"),
    (lambda: Lambda(abs, abs, vjp=abs), ValueError, "give derivative .* or vjp, not both"),
    (lambda: Lambda(abs, vjp=3), TypeError, "vjp must be a function"),
    (lambda: Lambda(abs, arguments=[1]), TypeError, "arguments must be a dict"),
    (lambda: Lambda(abs, output_shape=(0,)), ValueError, "output_shape must be a non-empty tuple"),
])
def test_bad_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make()
