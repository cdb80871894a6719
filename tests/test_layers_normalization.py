"""BatchNormalization and LayerNormalization: central-difference gradients (float64), values and
gradients against torch.nn.BatchNorm1d / LayerNorm, Keras's moving-statistics rule, inference
mode, a trained model with BN, weights order, summary, config and argument errors, each built
inside a model on every backend x dtype.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import breast_cancer_split

import flexnet as fx
from flexnet.gradcheck import check_layer_gradients
from flexnet.layers.core import Activation, Dense
from flexnet.layers.normalization import BatchNormalization, LayerNormalization

torch = pytest.importorskip("torch")


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _layer(case, layer, input_shape):
    """``layer`` built inside a one-layer model of ``case`` for inputs ``(batch, *input_shape)``."""
    model = case.model([layer])
    model.build((None, *input_shape))
    return layer, model


def _random_affine(layer, seed=0):
    """Set γ, β (and the moving statistics) to values far from 1 and 0; return them on the host."""
    rng = _rng(seed)
    values = {}
    for store in (layer.params, layer.buffers):
        for key, w in store.items():
            shape = tuple(w.shape)
            values[key] = (rng.uniform(0.5, 2.0, shape) if key in ("gamma", "moving_variance")
                           else rng.standard_normal(shape))
    layer.set_weights([values[k] for k in [*layer.params, *layer.buffers]])
    return values


def _keras_bn_reference(X, axis, gamma, beta, eps):
    """Training-mode BN on the host: (Y, batch mean, biased batch variance)."""
    reduce = tuple(i for i in range(X.ndim) if i != axis % X.ndim)
    shape = [1] * X.ndim
    shape[axis] = X.shape[axis]
    mu = X.mean(axis=reduce)
    var = X.var(axis=reduce)
    Xhat = (X - mu.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    return gamma.reshape(shape) * Xhat + beta.reshape(shape), mu, var


# -- gradients against central differences (float64) -------------------------------------


@pytest.mark.parametrize("input_shape, axis", [((4,), -1), ((3, 4), -1), ((3, 4), 1)])
@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_gradients_match_central_differences(case64, input_shape, axis, training):
    layer, _ = _layer(case64, BatchNormalization(axis=axis), input_shape)
    _random_affine(layer)
    X = case64.asarray(2.0 * _rng(1).standard_normal((5, *input_shape)) + 0.5)
    errors = check_layer_gradients(layer, X, training=training, eps=1e-5)
    assert set(errors) == {"input", "gamma", "beta"}
    assert max(errors.values()) < 1e-7, errors


def test_batchnorm_training_output_ignores_the_moving_statistics(case64):
    """The training-mode gradient check calls forward many times, each one moving the moving
    statistics; it measures the right function only because the training output depends on X,
    γ and β alone. This pins that down."""
    layer, _ = _layer(case64, BatchNormalization(), (4,))
    _random_affine(layer)
    X = case64.asarray(_rng(1).standard_normal((6, 4)))
    Y1 = case64.to_numpy(layer.forward(X, training=True))
    layer.buffers["moving_mean"] = case64.asarray(_rng(2).standard_normal(4))
    layer.buffers["moving_variance"] = case64.asarray(_rng(3).uniform(5.0, 9.0, 4))
    Y2 = case64.to_numpy(layer.forward(X, training=True))
    np.testing.assert_array_equal(Y1, Y2)
    Y3 = case64.to_numpy(layer.forward(X, training=False))
    assert not np.allclose(Y1, Y3)  # the inference output does depend on them


@pytest.mark.parametrize("center, scale", [(False, True), (True, False), (False, False)])
def test_batchnorm_without_center_or_scale(case64, center, scale):
    layer, _ = _layer(case64, BatchNormalization(center=center, scale=scale), (3,))
    assert list(layer.params) == [k for k, on in (("gamma", scale), ("beta", center)) if on]
    assert list(layer.buffers) == ["moving_mean", "moving_variance"]
    X = case64.asarray(_rng(1).standard_normal((5, 3)))
    errors = check_layer_gradients(layer, X, training=True, eps=1e-5)
    assert set(errors) == {"input", *layer.params}
    assert max(errors.values()) < 1e-7, errors


@pytest.mark.parametrize("input_shape, axis, center, scale", [
    ((5,), -1, True, True), ((3, 4), -1, True, True), ((3, 4), [1, 2], True, True),
    ((3, 4), 1, True, True), ((3, 4), -1, False, False), ((5,), -1, True, False),
])
def test_layernorm_gradients_match_central_differences(case64, input_shape, axis, center, scale):
    layer, _ = _layer(case64, LayerNormalization(axis=axis, center=center, scale=scale),
                      input_shape)
    if layer.params:
        _random_affine(layer)
    X = case64.asarray(2.0 * _rng(1).standard_normal((4, *input_shape)) + 0.5)
    errors = check_layer_gradients(layer, X, training=True, eps=1e-5)
    assert set(errors) == {"input", *layer.params}
    assert max(errors.values()) < 1e-7, errors


# -- values and gradients against PyTorch --------------------------------------------------


def _torch_grads(module, X, R, channels_last=False):
    """Output, dX, dγ, dβ of a torch module for ``f = Σ module(X) ⊙ R`` (float64).

    ``channels_last``: X is ``(batch, length, channels)``; BatchNorm1d wants the channels
    on axis 1, so they are moved there and back."""
    module.zero_grad()
    Xt = torch.tensor(X, dtype=torch.float64, requires_grad=True)
    Y = module(Xt.transpose(1, 2)).transpose(1, 2) if channels_last else module(Xt)
    (Y * torch.tensor(R, dtype=torch.float64)).sum().backward()
    return (Y.detach().numpy(), Xt.grad.numpy(), module.weight.grad.numpy(),
            module.bias.grad.numpy())


def _flexnet_grads(case, layer, X, R, training=True):
    Y = layer.forward(case.asarray(X), training=training)
    dX = layer.backward(case.asarray(R))
    return (case.to_numpy(Y), case.to_numpy(dX), case.to_numpy(layer.grads["gamma"]),
            case.to_numpy(layer.grads["beta"]))


@pytest.mark.parametrize("input_shape, axis", [((4,), -1), ((3, 5), 1), ((5, 3), -1)])
def test_batchnorm_matches_torch_batchnorm1d_in_training(case, input_shape, axis):
    """Keras momentum m is torch's 1 - m; torch's running_var uses the unbiased variance."""
    eps, momentum, steps = 1e-3, 0.9, 2
    layer, _ = _layer(case, BatchNormalization(axis=axis, momentum=momentum, epsilon=eps),
                      input_shape)
    values = _random_affine(layer)
    C = (None, *input_shape)[axis]  # axis counts the batch axis
    tbn = torch.nn.BatchNorm1d(C, eps=eps, momentum=1 - momentum, dtype=torch.float64)
    with torch.no_grad():
        tbn.weight.copy_(torch.tensor(values["gamma"]))
        tbn.bias.copy_(torch.tensor(values["beta"]))
        tbn.running_mean.copy_(torch.tensor(values["moving_mean"]))
        tbn.running_var.copy_(torch.tensor(values["moving_variance"]))
    channels_last = len(input_shape) == 2 and axis == -1
    biased, unbiased = values["moving_variance"], values["moving_variance"]
    for step in range(steps):
        X = 3.0 * _rng(10 + step).standard_normal((6, *input_shape)) - 1.0
        R = _rng(20 + step).standard_normal(X.shape)
        reduce = tuple(i for i in range(X.ndim) if i != axis % X.ndim)
        biased = momentum * biased + (1 - momentum) * X.var(axis=reduce)
        unbiased = momentum * unbiased + (1 - momentum) * X.var(axis=reduce, ddof=1)
        expected = _torch_grads(tbn, X, R, channels_last)
        got = _flexnet_grads(case, layer, X, R)
        for g, e in zip(got, expected):
            case.assert_close(g, e)
        assert layer.grads["gamma"].dtype == layer.params["gamma"].dtype
    case.assert_close(case.to_numpy(layer.buffers["moving_mean"]), tbn.running_mean.numpy())
    # Same update rule, but torch averages N/(N-1) σ² where Keras averages σ².
    case.assert_close(case.to_numpy(layer.buffers["moving_variance"]), biased)
    np.testing.assert_allclose(tbn.running_var.numpy(), unbiased, rtol=1e-12)


def test_batchnorm_inference_matches_torch_batchnorm1d_in_eval(case):
    layer, _ = _layer(case, BatchNormalization(epsilon=1e-5), (4,))
    values = _random_affine(layer)
    tbn = torch.nn.BatchNorm1d(4, eps=1e-5, dtype=torch.float64)
    with torch.no_grad():
        tbn.weight.copy_(torch.tensor(values["gamma"]))
        tbn.bias.copy_(torch.tensor(values["beta"]))
        tbn.running_mean.copy_(torch.tensor(values["moving_mean"]))
        tbn.running_var.copy_(torch.tensor(values["moving_variance"]))
    tbn.eval()
    X, R = _rng(1).standard_normal((5, 4)), _rng(2).standard_normal((5, 4))
    for g, e in zip(_flexnet_grads(case, layer, X, R, training=False), _torch_grads(tbn, X, R)):
        case.assert_close(g, e)


@pytest.mark.parametrize("input_shape, axis", [((6,), -1), ((3, 4), -1), ((3, 4), [-2, -1])])
def test_layernorm_matches_torch_layernorm(case, input_shape, axis):
    layer, _ = _layer(case, LayerNormalization(axis=axis, epsilon=1e-5), input_shape)
    values = _random_affine(layer)
    normalized = input_shape[-1:] if axis == -1 else input_shape
    tln = torch.nn.LayerNorm(normalized, eps=1e-5, dtype=torch.float64)
    with torch.no_grad():
        tln.weight.copy_(torch.tensor(values["gamma"]))
        tln.bias.copy_(torch.tensor(values["beta"]))
    X = 2.0 * _rng(1).standard_normal((5, *input_shape)) + 1.0
    R = _rng(2).standard_normal(X.shape)
    for training in (True, False):  # no batch statistics: both modes are the same map
        for g, e in zip(_flexnet_grads(case, layer, X, R, training), _torch_grads(tln, X, R)):
            case.assert_close(g, e)


# -- moving statistics and inference -------------------------------------------------------


def test_moving_statistics_follow_keras_rule_over_several_batches(case):
    momentum, eps = 0.8, 1e-3
    layer, model = _layer(case, BatchNormalization(momentum=momentum, epsilon=eps), (3,))
    values = _random_affine(layer)
    mean, var = values["moving_mean"], values["moving_variance"]
    for step in range(4):
        X = 2.0 * _rng(step).standard_normal((7, 3)) + step
        Y = layer.forward(case.asarray(X), training=True)
        expected, mu, sigma2 = _keras_bn_reference(X, -1, values["gamma"], values["beta"], eps)
        case.assert_close(case.to_numpy(Y), expected)
        mean = momentum * mean + (1 - momentum) * mu
        var = momentum * var + (1 - momentum) * sigma2  # the biased batch variance
    gamma, beta, moving_mean, moving_variance = model.get_weights()
    case.assert_close(moving_mean, mean)
    case.assert_close(moving_variance, var)
    case.assert_close(gamma, values["gamma"])  # the forward pass trains nothing
    case.assert_close(beta, values["beta"])


def test_inference_uses_the_moving_statistics_and_keeps_them(case):
    eps = 1e-3
    layer, model = _layer(case, BatchNormalization(epsilon=eps), (4,))
    v = _random_affine(layer)
    X = _rng(5).standard_normal((6, 4))
    expected = v["gamma"] * (X - v["moving_mean"]) / np.sqrt(v["moving_variance"] + eps) + v["beta"]
    case.assert_close(case.to_numpy(layer.forward(case.asarray(X), training=False)), expected)
    case.assert_close(model.predict(X), expected)
    case.assert_close(model(X), expected)
    for got, before in zip(model.get_weights(), [v[k] for k in v]):
        case.assert_close(got, before)
    # A row at inference does not depend on the other rows of the batch.
    case.assert_close(model.predict(X[:1]), expected[:1])


def test_moving_statistics_are_replaced_never_written_in_place(case):
    layer, _ = _layer(case, BatchNormalization(momentum=0.5), (3,))
    old_mean, old_var = layer.buffers["moving_mean"], layer.buffers["moving_variance"]
    layer.forward(case.asarray(_rng(0).standard_normal((4, 3)) + 5.0), training=True)
    assert layer.buffers["moving_mean"] is not old_mean
    assert layer.buffers["moving_variance"] is not old_var
    np.testing.assert_array_equal(case.to_numpy(old_mean), np.zeros(3))
    np.testing.assert_array_equal(case.to_numpy(old_var), np.ones(3))
    assert np.all(case.to_numpy(layer.buffers["moving_mean"]) > 2.0)


def test_trainable_false_runs_in_inference_mode(case):
    layer, _ = _layer(case, BatchNormalization(trainable=False, epsilon=1e-3), (3,))
    v = _random_affine(layer)
    X = _rng(1).standard_normal((5, 3))
    Y = layer.forward(case.asarray(X), training=True)
    expected = v["gamma"] * (X - v["moving_mean"]) / np.sqrt(v["moving_variance"] + 1e-3) + v["beta"]
    case.assert_close(case.to_numpy(Y), expected)
    case.assert_close(case.to_numpy(layer.buffers["moving_mean"]), v["moving_mean"])
    dX = layer.backward(case.asarray(np.ones((5, 3))))
    case.assert_close(case.to_numpy(dX), np.ones((5, 3)) * v["gamma"]
                      / np.sqrt(v["moving_variance"] + 1e-3))


def test_a_training_batch_of_one_gives_beta_and_no_input_gradient(case):
    """Keras allows it (torch raises): σ² = 0, so Y = β, dX = 0 and the moving variance
    moves towards 0."""
    layer, _ = _layer(case, BatchNormalization(momentum=0.5), (3,))
    v = _random_affine(layer)
    X = _rng(1).standard_normal((1, 3))
    Y = layer.forward(case.asarray(X), training=True)
    case.assert_close(case.to_numpy(Y), v["beta"][None, :])
    dX = case.to_numpy(layer.backward(case.asarray(_rng(2).standard_normal((1, 3)))))
    assert np.all(np.isfinite(dX))
    case.assert_close(dX, np.zeros((1, 3)))
    case.assert_close(case.to_numpy(layer.grads["gamma"]), np.zeros(3))
    case.assert_close(case.to_numpy(layer.buffers["moving_variance"]), 0.5 * v["moving_variance"])
    case.assert_close(case.to_numpy(layer.buffers["moving_mean"]),
                      0.5 * v["moving_mean"] + 0.5 * X[0])


def test_first_layer_skips_the_input_gradient_but_fills_grads(case):
    layer, _ = _layer(case, BatchNormalization(), (3,))
    layer.forward(case.asarray(_rng(0).standard_normal((4, 3))), training=True)
    dY = case.asarray(_rng(1).standard_normal((4, 3)))
    layer.backward_without_input_grad(layer.backward, dY)
    assert set(layer.grads) == {"gamma", "beta"}
    assert layer.input_grad_needed  # restored
    assert layer.backward(dY) is not None


def test_backward_before_forward_says_so(case):
    layer, _ = _layer(case, LayerNormalization(), (3,))
    with pytest.raises(RuntimeError, match="forward"):
        layer.backward(case.asarray(np.ones((2, 3))))


# -- in a model ------------------------------------------------------------------------------


def _breast_cancer():
    pytest.importorskip("sklearn")
    return breast_cancer_split(random_state=0)


@pytest.mark.slow
def test_a_model_with_batchnorm_learns_breast_cancer(case):
    Xtr, Xte, ytr, yte = _breast_cancer()
    fx.utils.set_random_seed(3)
    # momentum=0.9: with Keras's 0.99 the moving statistics need far more than 84 steps to
    # forget their initial values, and inference would use stale ones.
    model = case.model([Dense(16, input_dim=30), BatchNormalization(momentum=0.9),
                        Activation("relu"), Dense(8), LayerNormalization(), Activation("relu"),
                        Dense(1, activation="sigmoid")])
    model.compile(optimizer=fx.optimizers.Adam(0.01), loss="binary_crossentropy",
                  metrics=["accuracy"])
    bn = model.layers[1]
    model.fit(Xtr, ytr, batch_size=32, epochs=6, verbose=0)
    moving_mean = case.to_numpy(bn.buffers["moving_mean"])
    assert np.any(moving_mean != 0.0)  # fit ran in training mode
    loss, accuracy = model.evaluate(Xte, yte)
    assert accuracy >= 0.93, f"test accuracy {accuracy:.3f} (loss {loss:.3f})"
    np.testing.assert_array_equal(case.to_numpy(bn.buffers["moving_mean"]), moving_mean)


def test_weights_are_gamma_beta_moving_mean_moving_variance(case):
    model = case.model([Dense(3, input_dim=2), BatchNormalization()])
    bn = model.layers[1]
    assert [w.shape for w in model.get_weights()] == [(2, 3), (3,), (3,), (3,), (3,), (3,)]
    np.testing.assert_array_equal(model.get_weights()[2:],
                                  [np.ones(3), np.zeros(3), np.zeros(3), np.ones(3)])
    new = [np.full(3, v) for v in (2.0, 3.0, 4.0, 5.0)]
    bn.set_weights(new)
    assert [float(case.to_numpy(w)[0]) for w in (bn.params["gamma"], bn.params["beta"],
            bn.buffers["moving_mean"], bn.buffers["moving_variance"])] == [2.0, 3.0, 4.0, 5.0]
    assert len(model.trainable_weights) == 4 and len(model.non_trainable_weights) == 2
    with pytest.raises(ValueError, match="shapes"):
        bn.set_weights(new[:3])


def test_summary_counts_the_moving_statistics_as_non_trainable(case):
    model = case.model([Dense(8, input_dim=4), BatchNormalization(), LayerNormalization(),
                        Dense(1)])
    lines = []
    model.summary(print_fn=lines.append, line_length=100)
    text = "\n".join(lines)
    assert "batch_normalization (BatchNormalization)" in text
    assert "layer_normalization (LayerNormalization)" in text
    # Dense 4·8+8, BN 4·8 (γ, β trainable; moving mean and variance not), LN 2·8, Dense 8+1.
    assert "Total params: 97 " in text
    assert "\n Trainable params: 81 " in text
    assert "Non-trainable params: 16 " in text


@pytest.mark.parametrize("layer", [
    BatchNormalization(axis=1, momentum=0.9, epsilon=1e-5, center=False,
                       gamma_initializer=fx.initializers.Constant(0.5),
                       moving_variance_initializer="random_uniform", name="bn"),
    BatchNormalization(),
    LayerNormalization(axis=[1, -1], epsilon=1e-5, scale=False, beta_initializer="he_normal"),
    LayerNormalization(),
], ids=["bn_custom", "bn", "ln_custom", "ln"])
def test_get_config_is_json_and_rebuilds_the_layer(layer):
    config = json.loads(json.dumps(layer.get_config()))
    clone = type(layer)(**config)
    assert clone.get_config() == config
    assert config["epsilon"] == layer.epsilon and config["axis"] == layer.axis


def test_get_config_rebuilds_initializers_with_arguments(case):
    config = BatchNormalization(gamma_initializer=fx.initializers.Constant(0.5)).get_config()
    assert config["gamma_initializer"] == {"class_name": "Constant", "config": {"value": 0.5}}
    layer, _ = _layer(case, BatchNormalization(**json.loads(json.dumps(config))), (2,))
    np.testing.assert_array_equal(case.to_numpy(layer.params["gamma"]), [0.5, 0.5])


@pytest.mark.parametrize("kwargs, error, match", [
    ({"momentum": 1.0}, ValueError, "momentum"),
    ({"momentum": -0.1}, ValueError, "momentum"),
    ({"momentum": "0.9"}, TypeError, "momentum"),
    ({"momentum": True}, TypeError, "momentum"),
    ({"epsilon": 0.0}, ValueError, "epsilon"),
    ({"epsilon": -1e-3}, ValueError, "epsilon"),
    ({"epsilon": float("nan")}, ValueError, "epsilon"),
    ({"epsilon": None}, TypeError, "epsilon"),
    ({"axis": 0}, ValueError, "batch axis"),
    ({"axis": 1.0}, TypeError, "axis"),
    ({"axis": [1]}, TypeError, "axis"),
    ({"center": 1}, TypeError, "center"),
    ({"scale": None}, TypeError, "scale"),
    ({"beta_initializer": "nope"}, ValueError, "initializer"),
    ({"moving_variance_initializer": 3}, TypeError, "initializer"),
])
def test_batchnorm_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        BatchNormalization(**kwargs)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"epsilon": 0}, ValueError, "epsilon"),
    ({"axis": []}, ValueError, "axis"),
    ({"axis": [1, 0]}, ValueError, "batch axis"),
    ({"axis": "last"}, TypeError, "axis"),
])
def test_layernorm_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        LayerNormalization(**kwargs)


@pytest.mark.parametrize("make", [BatchNormalization, LayerNormalization])
@pytest.mark.parametrize("axis, input_shape, match", [
    (2, (4,), "out of range"), (-3, (4,), "out of range"), (-2, (4,), "batch axis"),
    (3, (3, 4), "out of range"),
])
def test_axis_out_of_range_fails_at_build(case, make, axis, input_shape, match):
    model = case.model([make(axis=axis)])
    with pytest.raises(ValueError, match=match):
        model.build((None, *input_shape))


def test_layernorm_repeated_axis_fails_at_build(case):
    model = case.model([LayerNormalization(axis=[-1, 2])])
    with pytest.raises(ValueError, match="twice"):
        model.build((None, 3, 4))
