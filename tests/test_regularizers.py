"""Regularizers: penalties and gradients, and their place in a model's loss and gradients."""

from __future__ import annotations

import numpy as np
import pytest

import flexnet as fx
from flexnet import regularizers
from flexnet.gradcheck import numerical_gradient, relative_error
from flexnet.layers import Dense

RNG = np.random.default_rng(7)
W_HOST = RNG.normal(size=(4, 3))


@pytest.mark.parametrize(
    "reg, penalty, gradient",
    [
        (regularizers.L1(0.3), 0.3 * np.abs(W_HOST).sum(), 0.3 * np.sign(W_HOST)),
        (regularizers.L2(0.2), 0.2 * (W_HOST**2).sum(), 0.4 * W_HOST),
        (regularizers.L1L2(0.1, 0.05), 0.1 * np.abs(W_HOST).sum() + 0.05 * (W_HOST**2).sum(),
         0.1 * np.sign(W_HOST) + 0.1 * W_HOST),
        (regularizers.L1L2(), 0.0, np.zeros_like(W_HOST)),
    ],
    ids=["l1", "l2", "l1_l2", "zero"],
)
def test_penalty_and_gradient(case, reg, penalty, gradient):
    xp = case.resolve().xp
    W = case.asarray(W_HOST)
    case.assert_close(case.to_numpy(reg.penalty(xp, W)), penalty)
    case.assert_close(case.to_numpy(reg(W)), penalty)
    if isinstance(reg, regularizers.L1L2) and (reg.l1 or reg.l2):
        case.assert_close(case.to_numpy(reg.gradient(xp, W)), gradient)


@pytest.mark.parametrize("reg", [regularizers.L1(0.3), regularizers.L2(0.2), regularizers.L1L2(0.1, 0.05)])
def test_gradient_matches_central_differences(reg):
    import array_api_compat.numpy as xp

    numeric = numerical_gradient(lambda w: float(reg.penalty(xp, w)), W_HOST.copy())
    assert relative_error(np.asarray(reg.gradient(xp, W_HOST)), numeric) < 1e-7


def test_names_configs_and_errors():
    assert isinstance(regularizers.get("l2"), regularizers.L2)
    assert regularizers.get("L1").l1 == 0.01
    assert regularizers.get(None) is None
    for reg in (regularizers.L1(0.5), regularizers.L2(0.25), regularizers.L1L2(0.1, 0.2)):
        again = regularizers.get(regularizers.serialize(reg))
        assert type(again) is type(reg) and again.get_config() == reg.get_config()
    with pytest.raises(ValueError, match="valid names"):
        regularizers.get("l3")
    with pytest.raises(ValueError, match="non-negative"):
        regularizers.L2(-1.0)
    with pytest.raises(ValueError, match="unknown regularizer class 'Nope'"):
        regularizers.get({"class_name": "Nope", "config": {}})


def _regularized_model(case, **dense_kwargs):
    fx.utils.set_random_seed(3)
    model = case.model([
        Dense(5, input_dim=4, activation="tanh", kernel_regularizer=regularizers.L2(0.03),
              bias_regularizer=regularizers.L1(0.02),
              activity_regularizer=regularizers.L1L2(0.01, 0.02)),
        Dense(1, activation="sigmoid", kernel_regularizer="l1_l2", **dense_kwargs),
    ])
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    return model


def _data():
    rng = np.random.default_rng(11)
    x = rng.normal(size=(6, 4))
    y = (rng.random((6, 1)) > 0.5).astype(float)
    return x, y


def test_loss_and_gradients_match_torch_autograd(case64):
    """Weight and activity penalties (also on the fused sigmoid output) against autograd."""
    torch = pytest.importorskip("torch")
    model = _regularized_model(case64, activity_regularizer=regularizers.L2(0.05))
    x, y = _data()
    weights = [torch.tensor(w, requires_grad=True) for w in model.get_weights()]
    K1, b1, K2, b2 = weights
    H = torch.tanh(torch.tensor(x) @ K1 + b1)
    Z = H @ K2 + b2
    P = torch.sigmoid(Z)
    n = x.shape[0]
    loss = torch.nn.functional.binary_cross_entropy_with_logits(Z, torch.tensor(y))  # fused, as flexnet
    loss = loss + 0.03 * (K1**2).sum() + 0.02 * b1.abs().sum()
    loss = loss + (0.01 * H.abs().sum() + 0.02 * (H**2).sum()) / n
    loss = loss + 0.01 * K2.abs().sum() + 0.01 * (K2**2).sum() + 0.05 * (P**2).sum() / n
    loss.backward()
    L, grads = model.compute_gradients(x, y)
    np.testing.assert_allclose(float(L), loss.item(), rtol=1e-12)
    for g, w in zip(grads, weights):
        np.testing.assert_allclose(case64.to_numpy(g), w.grad.numpy(), rtol=1e-10, atol=1e-13)


def test_model_gradient_check_with_penalties(case64):
    model = _regularized_model(case64)
    x, y = _data()
    assert fx.gradcheck.check_model_gradients(model, x, y) < 1e-6


def test_evaluate_reports_data_loss_plus_penalty(case):
    model = _regularized_model(case)
    plain = case.model([Dense(5, input_dim=4, activation="tanh"), Dense(1, activation="sigmoid")])
    plain.compile(optimizer="sgd", loss="binary_crossentropy")
    plain.set_weights(model.get_weights())
    x, y = _data()
    K1, b1, K2, _ = model.get_weights()
    H = np.tanh(x @ K1 + b1)
    penalty = (0.03 * (K1**2).sum() + 0.02 * np.abs(b1).sum()
               + (0.01 * np.abs(H).sum() + 0.02 * (H**2).sum()) / x.shape[0]
               + 0.01 * np.abs(K2).sum() + 0.01 * (K2**2).sum())
    got = model.evaluate(x, y, batch_size=6)
    np.testing.assert_allclose(got, plain.evaluate(x, y, batch_size=6) + penalty, rtol=case.rtol * 10)


def test_l2_shrinks_weights_in_training():
    x, y = _data()
    norms = []
    for reg in (None, regularizers.L2(0.5)):
        fx.utils.set_random_seed(5)
        model = fx.Sequential([Dense(8, input_dim=4, activation="relu", kernel_regularizer=reg),
                               Dense(1, activation="sigmoid")])
        model.compile(optimizer=fx.optimizers.SGD(0.1), loss="binary_crossentropy")
        model.fit(x, y, epochs=50, verbose=0, shuffle=False)
        norms.append(np.linalg.norm(model.get_weights()[0]))
    assert norms[1] < 0.5 * norms[0]


def test_layer_config_keeps_regularizers():
    layer = Dense(3, kernel_regularizer=regularizers.L2(0.1), activity_regularizer="l1")
    config = layer.get_config()
    assert config["kernel_regularizer"] == {"class_name": "L2", "config": {"l2": 0.1}}
    assert config["activity_regularizer"] == {"class_name": "L1", "config": {"l1": 0.01}}
    assert config["bias_regularizer"] is None
