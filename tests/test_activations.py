"""Activation functions: central-difference checks of ``backward`` in float64, forward and
backward against PyTorch on every backend x dtype, numerical stability at large inputs, and
lookup by name with :func:`flexnet.activations.get`.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from helpers import torch_activations

import flexnet as fx
from flexnet.gradcheck import numerical_gradient, relative_error

torch = pytest.importorskip("torch")

NAMES = ["linear", "sigmoid", "tanh", "relu", "softmax"]

TORCH_FUNCTIONS = torch_activations()


def _inputs(seed: int = 0, shape=(5, 4)) -> np.ndarray:
    """Standard normal inputs pushed at least 0.05 away from 0 (relu's kink)."""
    Z = np.random.default_rng(seed).standard_normal(shape) * 2.0
    return np.where(np.abs(Z) < 0.05, np.sign(Z + 1e-12) * 0.05 + Z, Z)




def _torch_forward_and_vjp(name: str, Z: np.ndarray, dY: np.ndarray):
    z = torch.tensor(Z, dtype=torch.float64, requires_grad=True)
    y = TORCH_FUNCTIONS[name](z)
    (dz,) = torch.autograd.grad(y, z, grad_outputs=torch.tensor(dY, dtype=torch.float64))
    return y.detach().numpy(), dz.numpy()


# -- gradients ---------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_backward_matches_central_differences(case64, name):
    b = case64.resolve()
    act = fx.activations.get(name)
    Z_host = _inputs(1)
    R = np.random.default_rng(2).standard_normal(Z_host.shape)
    Z = b.from_numpy(Z_host, "float64")
    Y = act.forward(b.xp, Z)
    dZ = b.to_numpy(act.backward(b.xp, Z, Y, b.from_numpy(R, "float64")))

    def f(z_host):
        return float(np.sum(b.to_numpy(act.forward(b.xp, b.from_numpy(z_host, "float64"))) * R))

    assert relative_error(dZ, numerical_gradient(f, Z_host)) < 1e-7


@pytest.mark.parametrize("name", NAMES)
def test_activation_layer_passes_gradient_check(case64, name):
    model = case64.model([fx.layers.Activation(name, input_shape=(4,))])
    X = case64.asarray(_inputs(3))
    errors = fx.gradcheck.check_layer_gradients(model.layers[0], X)
    assert errors["input"] < 1e-7


def test_softmax_backward_is_a_full_jacobian_product(case64):
    """Softmax mixes a row: the gradient of one output reaches every input of its row."""
    b = case64.resolve()
    Z = b.from_numpy(_inputs(4, (2, 3)), "float64")
    Y = fx.activations.softmax.forward(b.xp, Z)
    dY = b.from_numpy(np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]), "float64")
    dZ = b.to_numpy(fx.activations.softmax.backward(b.xp, Z, Y, dY))
    Yh = b.to_numpy(Y)
    expected_row0 = Yh[0, 0] * (np.array([1.0, 0.0, 0.0]) - Yh[0])
    np.testing.assert_allclose(dZ[0], expected_row0, rtol=1e-12)
    np.testing.assert_array_equal(dZ[1], np.zeros(3))


# -- against PyTorch -----------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_forward_and_backward_match_torch(case, name):
    b = case.resolve()
    act = fx.activations.get(name)
    Z_host = _inputs(5, (6, 5))
    Z_host[0] = [-40.0, -8.0, 8.0, 40.0, 0.5]  # saturated regions of sigmoid/tanh
    dY_host = np.random.default_rng(6).standard_normal(Z_host.shape)
    Z = case.asarray(Z_host)
    Y = act.forward(b.xp, Z)
    dZ = act.backward(b.xp, Z, Y, case.asarray(dY_host))
    y_ref, dz_ref = _torch_forward_and_vjp(name, Z_host, dY_host)
    assert case.to_numpy(Y).dtype == np.dtype(case.dtype)
    case.assert_close(case.to_numpy(Y), y_ref)
    case.assert_close(case.to_numpy(dZ), dz_ref)


@pytest.mark.parametrize("name", NAMES)
def test_calling_an_activation_finds_the_namespace(case, name):
    Z_host = _inputs(7)
    Y = fx.activations.get(name)(case.asarray(Z_host))
    y_ref, _ = _torch_forward_and_vjp(name, Z_host, np.zeros_like(Z_host))
    case.assert_close(case.to_numpy(Y), y_ref)


# -- stability -----------------------------------------------------------------


def test_sigmoid_is_stable_at_plus_minus_1000(case):
    b = case.resolve()
    Z = case.asarray(np.array([[-1000.0, -100.0, 0.0, 100.0, 1000.0]]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Y = fx.activations.sigmoid.forward(b.xp, Z)
        dZ = fx.activations.sigmoid.backward(b.xp, Z, Y, b.xp.ones_like(Y))
    Yh, dZh = case.to_numpy(Y), case.to_numpy(dZ)
    assert np.all(np.isfinite(Yh)) and np.all(np.isfinite(dZh))
    assert Yh[0, 0] == 0.0 and Yh[0, -1] == 1.0 and Yh[0, 2] == 0.5
    np.testing.assert_array_equal(dZh[0, [0, -1]], [0.0, 0.0])


def test_softmax_rows_sum_to_one_with_large_logits(case):
    b = case.resolve()
    Z_host = np.array([[1000.0, 999.0, -1000.0], [-1000.0, -1000.0, -1000.0], [5e4, 5e4, 0.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Y = case.to_numpy(fx.activations.softmax.forward(b.xp, case.asarray(Z_host)))
    assert np.all(np.isfinite(Y))
    np.testing.assert_allclose(Y.sum(axis=1), np.ones(3), rtol=case.rtol)
    e = np.exp(-1.0)
    np.testing.assert_allclose(Y[0], [1 / (1 + e), e / (1 + e), 0.0], rtol=case.rtol, atol=1e-30)
    np.testing.assert_allclose(Y[1], np.full(3, 1 / 3), rtol=case.rtol)
    np.testing.assert_allclose(Y[2], [0.5, 0.5, 0.0], rtol=case.rtol, atol=1e-30)


def test_tanh_and_relu_are_finite_at_plus_minus_1000(case):
    b = case.resolve()
    Z = case.asarray(np.array([[-1000.0, 1000.0]]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tanh = case.to_numpy(fx.activations.tanh.forward(b.xp, Z))
        relu = case.to_numpy(fx.activations.relu.forward(b.xp, Z))
    np.testing.assert_array_equal(tanh, [[-1.0, 1.0]])
    np.testing.assert_array_equal(relu, [[0.0, 1000.0]])


# -- lookup --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("identifier", "cls"),
    [
        ("linear", fx.activations.Linear),
        ("identity", fx.activations.Linear),
        ("sigmoid", fx.activations.Sigmoid),
        ("tanh", fx.activations.Tanh),
        ("relu", fx.activations.ReLU),
        ("ReLU", fx.activations.ReLU),
        ("softmax", fx.activations.Softmax),
        (None, fx.activations.Linear),
        (fx.activations.Tanh, fx.activations.Tanh),
    ],
)
def test_get_by_name_class_or_none(identifier, cls):
    assert type(fx.activations.get(identifier)) is cls


def test_get_returns_an_instance_unchanged():
    softmax = fx.activations.Softmax(axis=0)
    assert fx.activations.get(softmax) is softmax


def test_get_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="swish") as info:
        fx.activations.get("swish")
    for name in NAMES:
        assert name in str(info.value)


def test_get_rejects_other_types():
    with pytest.raises(TypeError):
        fx.activations.get(3)
