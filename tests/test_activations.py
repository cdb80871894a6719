"""Activation functions: forward and backward against PyTorch on every backend x dtype,
central-difference checks of ``backward`` in float64, Keras 3's test vectors for ``relu``,
numerical stability at large inputs, the erf-free GELU, lookup by name, serialization, and
user-registered activations.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import flexnet as fx
from flexnet import activations as A
from flexnet.activations.gaussian import _erfcx, _normal_cdf_and_pdf
from flexnet.gradcheck import numerical_gradient, relative_error

torch = pytest.importorskip("torch")
F = torch.nn.functional

SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def _smooth_relu(eps):
    return lambda z: (z + torch.sqrt(z * z + eps)) / 2


def _keras_relu(negative_slope=0.0, max_value=None, threshold=0.0):
    """``keras.activations.relu`` written term for term in torch."""

    def relu(z):
        y = torch.where(z > threshold, z, torch.zeros_like(z))
        if max_value is not None:
            y = torch.clamp(y, 0.0, max_value)
        return y - negative_slope * torch.relu(threshold - z)

    return relu


def _softmax_over(dims):
    """torch's softmax over several axes: over the flattened block of those axes."""

    def softmax(z):
        moved = torch.movedim(z, dims, tuple(range(-len(dims), 0)))
        flat = torch.softmax(moved.reshape(*moved.shape[:-len(dims)], -1), dim=-1)
        return torch.movedim(flat.reshape(moved.shape), tuple(range(-len(dims), 0)), dims)

    return softmax


#: id -> (flexnet activation, the PyTorch function computing the same thing in float64).
SPECS = {
    "linear": (A.Linear(), lambda z: z),
    "identity": (A.get("identity"), lambda z: z),
    "step": (A.Step(), lambda z: (z > 0).to(z.dtype) + 0.0 * z),  # autograd gives 0
    "sign": (A.Sign(), torch.sign),
    "sigmoid": (A.Sigmoid(), torch.sigmoid),
    # torch's hardsigmoid backward multiplies by a float32 1/6 even in float64: use relu6(z+3)/6.
    "hard_sigmoid": (A.HardSigmoid(), lambda z: torch.clamp(z + 3.0, 0.0, 6.0) / 6.0),
    "tanh": (A.Tanh(), torch.tanh),
    "relu": (A.ReLU(), torch.relu),
    "relu(0.1, 4, 0.5)": (A.ReLU(negative_slope=0.1, max_value=4.0, threshold=0.5),
                          _keras_relu(0.1, 4.0, 0.5)),
    "relu(threshold=-0.5)": (A.ReLU(threshold=-0.5), _keras_relu(threshold=-0.5)),
    "relu(threshold=1)": (A.ReLU(threshold=1.0), lambda z: F.threshold(z, 1.0, 0.0)),
    "relu(max_value=6)": (A.ReLU(max_value=6.0), F.relu6),
    "relu6": (A.ReLU6(), F.relu6),
    "hard_tanh": (A.HardTanh(), F.hardtanh),
    "log_sigmoid": (A.LogSigmoid(), F.logsigmoid),
    "softsign": (A.Softsign(), F.softsign),
    "exponential": (A.Exponential(), torch.exp),
    "celu": (A.CELU(), F.celu),
    "celu(0.5)": (A.CELU(alpha=0.5), lambda z: F.celu(z, alpha=0.5)),
    "mish": (A.Mish(), F.mish),
    # torch's hardswish backward rounds its 1/6 in float32 even in float64: write it out.
    "hard_silu": (A.HardSiLU(), lambda z: z * torch.clamp(z + 3.0, 0.0, 6.0) / 6.0),
    "hard_swish": (A.get("hard_swish"), F.hardswish),
    "smooth_relu": (A.SmoothReLU(), _smooth_relu(1e-3)),
    "smooth_relu(0.5)": (A.SmoothReLU(epsilon=0.5), _smooth_relu(0.5)),
    "leaky_relu": (A.LeakyReLU(), lambda z: F.leaky_relu(z, 0.2)),
    "leaky_relu(0.01)": (A.LeakyReLU(0.01), F.leaky_relu),  # torch's default slope
    "leaky_relu(-0.5)": (A.LeakyReLU(-0.5), lambda z: F.leaky_relu(z, -0.5)),
    "elu": (A.ELU(), F.elu),
    "elu(0.7)": (A.ELU(alpha=0.7), lambda z: F.elu(z, alpha=0.7)),
    "selu": (A.SELU(), F.selu),
    "softplus": (A.Softplus(), F.softplus),
    "silu": (A.SiLU(), F.silu),
    "swish": (A.get("swish"), F.silu),
    "gelu": (A.GELU(), F.gelu),
    "gelu(tanh)": (A.GELU(approximate=True), lambda z: F.gelu(z, approximate="tanh")),
    "softmax": (A.Softmax(), lambda z: torch.softmax(z, dim=-1)),
    "softmax(axis=0)": (A.Softmax(axis=0), lambda z: torch.softmax(z, dim=0)),
    "log_softmax": (A.LogSoftmax(), lambda z: torch.log_softmax(z, dim=-1)),
    "log_softmax(axis=0)": (A.LogSoftmax(axis=0), lambda z: torch.log_softmax(z, dim=0)),
    "softmax(axis=(0, 1))": (A.Softmax(axis=(0, 1)), _softmax_over((0, 1))),
    "log_softmax(axis=(1, 0))": (A.LogSoftmax(axis=(1, 0)),
                                 lambda z: torch.log(_softmax_over((0, 1))(z))),
}
IDS = list(SPECS)


KINKS = (0.0, 0.5, -0.5, 1.0, -1.0, 3.0, -3.0, 4.0, 6.0)  # of relu(...), hard_tanh, relu6, ...


def _inputs(seed: int = 0, shape=(5, 4)) -> np.ndarray:
    """Normal inputs (std 2) kept at least 0.05 away from the kinks at 0, ±0.5, ±1, ±3, 4, 6."""
    Z = np.random.default_rng(seed).standard_normal(shape) * 2.0
    for kink in KINKS:
        near = np.abs(Z - kink) < 0.05
        Z = np.where(near, kink + np.where(Z >= kink, 0.05, -0.05) + (Z - kink), Z)
    return Z


def _torch_forward_and_vjp(function, Z: np.ndarray, dY: np.ndarray):
    z = torch.tensor(Z, dtype=torch.float64, requires_grad=True)
    y = function(z)
    (dz,) = torch.autograd.grad(y, z, grad_outputs=torch.tensor(dY, dtype=torch.float64))
    return y.detach().numpy(), dz.numpy()


def test_every_builtin_name_is_covered():
    names = {spec[0].name for spec in SPECS.values()} | {"identity", "swish", "hard_swish"}
    assert set(A.ACTIVATIONS) <= names


# -- against PyTorch (values on every backend x dtype) ------------------------------------------


@pytest.mark.parametrize("key", IDS)
def test_forward_and_backward_match_torch(case, key):
    act, reference = SPECS[key]
    b = case.resolve()
    Z_host = _inputs(5, (6, 5))
    Z_host[0] = [-40.0, -8.0, 8.0, 40.0, 0.5]  # saturated regions
    dY_host = np.random.default_rng(6).standard_normal(Z_host.shape)
    Z = case.asarray(Z_host)
    Y = act.forward(b.xp, Z)
    dZ = act.backward(b.xp, Z, Y, case.asarray(dY_host))
    y_ref, dz_ref = _torch_forward_and_vjp(reference, Z_host, dY_host)
    assert case.to_numpy(Y).dtype == np.dtype(case.dtype)
    assert case.to_numpy(dZ).dtype == np.dtype(case.dtype)
    case.assert_close(case.to_numpy(Y), y_ref)
    case.assert_close(case.to_numpy(dZ), dz_ref)


@pytest.mark.parametrize("key", ["relu", "sigmoid", "gelu", "softmax", "leaky_relu"])
def test_calling_an_activation_finds_the_namespace(case, key):
    act, reference = SPECS[key]
    Z_host = _inputs(7)
    y_ref, _ = _torch_forward_and_vjp(reference, Z_host, np.zeros_like(Z_host))
    case.assert_close(case.to_numpy(act(case.asarray(Z_host))), y_ref)


# -- gradients (float64 central differences) -----------------------------------------------------


@pytest.mark.parametrize("key", IDS)
def test_backward_matches_central_differences(case64, key):
    act = SPECS[key][0]
    b = case64.resolve()
    Z_host = _inputs(1)
    R = np.random.default_rng(2).standard_normal(Z_host.shape)
    Z = b.from_numpy(Z_host, "float64")
    Y = act.forward(b.xp, Z)
    dZ = b.to_numpy(act.backward(b.xp, Z, Y, b.from_numpy(R, "float64")))

    def f(z_host):
        return float(np.sum(b.to_numpy(act.forward(b.xp, b.from_numpy(z_host, "float64"))) * R))

    assert relative_error(dZ, numerical_gradient(f, Z_host)) < 1e-7


@pytest.mark.parametrize("key", ["elu(0.7)", "gelu", "gelu(tanh)", "log_softmax", "smooth_relu", "mish",
                                 "celu(0.5)", "relu(0.1, 4, 0.5)", "hard_silu", "log_sigmoid"])
def test_activation_layer_passes_gradient_check(case64, key):
    model = case64.model([fx.layers.Activation(SPECS[key][0], input_shape=(4,))])
    errors = fx.gradcheck.check_layer_gradients(model.layers[0], case64.asarray(_inputs(3)))
    assert errors["input"] < 1e-7


def test_hard_sigmoid_matches_torch_hardsigmoid(case64):
    b = case64.resolve()
    Z_host = _inputs(8, (4, 6)) * 2.0
    Z = case64.asarray(Z_host)
    Y = A.hard_sigmoid.forward(b.xp, Z)
    dZ = A.hard_sigmoid.backward(b.xp, Z, Y, b.xp.ones_like(Z))
    y_ref, dz_ref = _torch_forward_and_vjp(F.hardsigmoid, Z_host, np.ones_like(Z_host))
    np.testing.assert_allclose(case64.to_numpy(Y), y_ref, rtol=1e-15, atol=1e-16)
    np.testing.assert_allclose(case64.to_numpy(dZ), dz_ref, rtol=1e-7)  # torch's float32 1/6
    assert set(np.unique(case64.to_numpy(dZ))) == {0.0, 1.0 / 6.0}


def test_step_and_sign_have_zero_gradient(case):
    b = case.resolve()
    Z = case.asarray([[-2.0, -0.1, 0.0, 0.1, 2.0]])
    dY = b.xp.ones_like(Z)
    np.testing.assert_array_equal(case.to_numpy(A.step(Z)), [[0, 0, 0, 1, 1]])
    np.testing.assert_array_equal(case.to_numpy(A.sign(Z)), [[-1, -1, 0, 1, 1]])
    for act in (A.step, A.sign):
        np.testing.assert_array_equal(case.to_numpy(act.backward(b.xp, Z, act(Z), dY)), np.zeros((1, 5)))


def test_softmax_backward_is_a_full_jacobian_product(case64):
    """Softmax mixes a row: the gradient of one output reaches every input of its row."""
    b = case64.resolve()
    Z = b.from_numpy(_inputs(4, (2, 3)), "float64")
    Y = A.softmax.forward(b.xp, Z)
    dY = b.from_numpy(np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]), "float64")
    dZ = b.to_numpy(A.softmax.backward(b.xp, Z, Y, dY))
    Yh = b.to_numpy(Y)
    expected_row0 = Yh[0, 0] * (np.array([1.0, 0.0, 0.0]) - Yh[0])
    np.testing.assert_allclose(dZ[0], expected_row0, rtol=1e-12)
    np.testing.assert_array_equal(dZ[1], np.zeros(3))


# -- GELU without erf ---------------------------------------------------------------------------


def test_erfcx_matches_torch(case):
    """The Chebyshev erfcx against torch.special.erfcx, on every backend, to a few ulp."""
    b = case.resolve()
    z = np.concatenate([np.linspace(0.0, 30.0, 301), np.geomspace(30.0, 1e6, 30)])
    ours = case.to_numpy(_erfcx(b.xp, case.asarray(z)))
    z_cast = z.astype(case.dtype).astype(np.float64)  # torch at the same rounded inputs
    reference = torch.special.erfcx(torch.tensor(z_cast)).numpy()
    rtol = 4e-7 if case.dtype == "float32" else 2e-15
    np.testing.assert_allclose(ours, reference, rtol=rtol, atol=0)


def test_normal_cdf_keeps_relative_precision_in_both_tails():
    """Φ(z) in float64 against mpmath, down to Φ ≈ 1e-300 (z ≈ -37)."""
    mpmath = pytest.importorskip("mpmath")
    import array_api_compat.numpy as xp

    z = np.concatenate([np.linspace(-37.0, 9.0, 461), [-1e-9, 0.0, 1e-9]])
    cdf, pdf = _normal_cdf_and_pdf(xp, z)
    mpmath.mp.dps = 30
    cdf_ref = np.array([float(mpmath.ncdf(v)) for v in z])
    pdf_ref = np.array([float(mpmath.npdf(v)) for v in z])
    np.testing.assert_allclose(cdf, cdf_ref, rtol=5e-15, atol=0)
    np.testing.assert_allclose(pdf, pdf_ref, rtol=5e-15, atol=0)


def test_exact_gelu_matches_torch_tightly(case64):
    """Values and gradients of the exact GELU agree with torch's to ~1e-15 in float64.

    NumPy and array-api-strict use flexnet's erf-free Φ; torch's namespace has erfc. Below
    z = -2, torch's own ``z(1 + erf(z/√2))/2`` loses relative precision (its absolute error
    stays ~1e-16 · |z|), so the comparison there is absolute; flexnet's Φ is checked
    against mpmath in the test above.
    """
    b = case64.resolve()
    z = np.concatenate([np.linspace(-30.0, 10.0, 801), [-1e-8, 1e-8]])
    Z = case64.asarray(z)
    Y = A.gelu.forward(b.xp, Z)
    dZ = case64.to_numpy(A.gelu.backward(b.xp, Z, Y, b.xp.ones_like(Z)))
    y_ref, dz_ref = _torch_forward_and_vjp(F.gelu, z, np.ones_like(z))
    Y = case64.to_numpy(Y)
    middle = z > -2.0
    np.testing.assert_allclose(Y[middle], y_ref[middle], rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(dZ[middle], dz_ref[middle], rtol=1e-13, atol=1e-16)
    np.testing.assert_allclose(Y, y_ref, rtol=0, atol=4e-15)
    np.testing.assert_allclose(dZ, dz_ref, rtol=0, atol=4e-15)


# -- stability ------------------------------------------------------------------------------------

STABLE = ["sigmoid", "hard_sigmoid", "tanh", "relu", "smooth_relu", "leaky_relu", "elu", "selu",
          "softplus", "silu", "gelu", "gelu(tanh)", "softmax", "log_softmax", "step", "sign",
          "relu(0.1, 4, 0.5)", "relu6", "hard_tanh", "log_sigmoid", "softsign", "celu(0.5)", "mish",
          "hard_silu", "softmax(axis=(0, 1))"]


@pytest.mark.parametrize("key", STABLE)
def test_finite_at_plus_minus_1e4(case, key):
    act = SPECS[key][0]
    b = case.resolve()
    Z = case.asarray(np.array([[-1e4, -1e3, -50.0, -0.5, 0.5, 50.0, 1e3, 1e4]]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Y = act.forward(b.xp, Z)
        dZ = act.backward(b.xp, Z, Y, b.xp.ones_like(Y))
    Yh, dZh = case.to_numpy(Y), case.to_numpy(dZ)
    assert np.all(np.isfinite(Yh)) and np.all(np.isfinite(dZh))


@pytest.mark.parametrize(
    ("key", "low", "high", "dlow", "dhigh"),
    [
        ("sigmoid", 0.0, 1.0, 0.0, 0.0),
        ("softplus", 0.0, 1e4, 0.0, 1.0),
        ("elu", -1.0, 1e4, 0.0, 1.0),
        ("selu", -SELU_ALPHA * SELU_SCALE, SELU_SCALE * 1e4, 0.0, SELU_SCALE),
        ("gelu", 0.0, 1e4, 0.0, 1.0),
        ("gelu(tanh)", 0.0, 1e4, 0.0, 1.0),
        ("silu", 0.0, 1e4, 0.0, 1.0),
        ("smooth_relu", 2.5e-8, 1e4, 2.5e-12, 1.0),  # ε/(4|z|) and ε/(4z²) for z ≪ 0
        ("log_sigmoid", -1e4, 0.0, 1.0, 0.0),
        ("softsign", -1.0 + 1e-4 / (1.0 + 1e-4), 1.0 - 1e-4 / (1.0 + 1e-4), 1e-8 / (1.0 + 1e-4) ** 2,
         1e-8 / (1.0 + 1e-4) ** 2),
        ("celu(0.5)", -0.5, 1e4, 0.0, 1.0),
        ("mish", 0.0, 1e4, 0.0, 1.0),
        ("hard_silu", 0.0, 1e4, 0.0, 1.0),
        ("relu(0.1, 4, 0.5)", -0.1 * (1e4 + 0.5), 4.0, 0.1, 0.0),
    ],
)
def test_limits_at_plus_minus_1e4(case, key, low, high, dlow, dhigh):
    act = SPECS[key][0]
    b = case.resolve()
    Z = case.asarray(np.array([-1e4, 1e4]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Y = act.forward(b.xp, Z)
        dZ = act.backward(b.xp, Z, Y, b.xp.ones_like(Y))
    np.testing.assert_allclose(case.to_numpy(Y), [low, high], rtol=case.rtol, atol=1e-30)
    np.testing.assert_allclose(case.to_numpy(dZ), [dlow, dhigh], rtol=case.rtol, atol=1e-30)


def test_sigmoid_is_stable_at_plus_minus_1000(case):
    b = case.resolve()
    Z = case.asarray(np.array([[-1000.0, -100.0, 0.0, 100.0, 1000.0]]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Y = A.sigmoid.forward(b.xp, Z)
        dZ = A.sigmoid.backward(b.xp, Z, Y, b.xp.ones_like(Y))
    Yh, dZh = case.to_numpy(Y), case.to_numpy(dZ)
    assert Yh[0, 0] == 0.0 and Yh[0, -1] == 1.0 and Yh[0, 2] == 0.5
    np.testing.assert_array_equal(dZh[0, [0, -1]], [0.0, 0.0])


def test_softmax_rows_sum_to_one_with_large_logits(case):
    b = case.resolve()
    Z_host = np.array([[1000.0, 999.0, -1000.0], [-1000.0, -1000.0, -1000.0], [5e4, 5e4, 0.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Y = case.to_numpy(A.softmax.forward(b.xp, case.asarray(Z_host)))
        logY = case.to_numpy(A.log_softmax.forward(b.xp, case.asarray(Z_host)))
    np.testing.assert_allclose(Y.sum(axis=1), np.ones(3), rtol=case.rtol)
    e = np.exp(-1.0)
    np.testing.assert_allclose(Y[0], [1 / (1 + e), e / (1 + e), 0.0], rtol=case.rtol, atol=1e-30)
    np.testing.assert_allclose(Y[1], np.full(3, 1 / 3), rtol=case.rtol)
    np.testing.assert_allclose(Y[2], [0.5, 0.5, 0.0], rtol=case.rtol, atol=1e-30)
    np.testing.assert_allclose(logY[0], [-np.log1p(e), -1 - np.log1p(e), -2000 - np.log1p(e)],
                               rtol=case.rtol)
    np.testing.assert_allclose(logY[2], [-np.log(2), -np.log(2), -5e4 - np.log(2)], rtol=case.rtol)


def test_smooth_relu_has_no_cancellation_for_negative_inputs():
    import array_api_compat.numpy as xp

    act = A.SmoothReLU(epsilon=1e-3)
    Z = np.array([-1e3, -10.0], dtype=np.float32)
    expected = 1e-3 / (2 * (np.sqrt(Z.astype(np.float64) ** 2 + 1e-3) - Z))
    np.testing.assert_allclose(act.forward(xp, Z), expected, rtol=1e-6)


# -- arguments and lookup --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("identifier", "cls"),
    [
        ("linear", A.Linear), ("identity", A.Linear), ("step", A.Step), ("sign", A.Sign),
        ("sigmoid", A.Sigmoid), ("hard_sigmoid", A.HardSigmoid), ("tanh", A.Tanh),
        ("relu", A.ReLU), ("ReLU", A.ReLU), ("smooth_relu", A.SmoothReLU), ("relu6", A.ReLU6),
        ("softsign", A.Softsign), ("exponential", A.Exponential), ("mish", A.Mish),
        ("hard_silu", A.HardSiLU), ("hard_swish", A.HardSiLU), ("celu", A.CELU),
        ("log_sigmoid", A.LogSigmoid), ("hard_tanh", A.HardTanh),
        ("leaky_relu", A.LeakyReLU), ("elu", A.ELU), ("selu", A.SELU),
        ("softplus", A.Softplus), ("silu", A.SiLU), ("swish", A.SiLU), ("gelu", A.GELU),
        ("softmax", A.Softmax), ("log_softmax", A.LogSoftmax),
        (None, A.Linear), (A.Tanh, A.Tanh),
    ],
)
def test_get_by_name_class_or_none(identifier, cls):
    assert type(A.get(identifier)) is cls


def test_names_give_keras_defaults():
    assert A.get("leaky_relu").negative_slope == 0.2  # Keras 3 keras.activations.leaky_relu
    assert A.get("elu").alpha == 1.0
    assert A.get("gelu").approximate is False
    assert A.get("softmax").axis == -1 and A.get("log_softmax").axis == -1
    assert A.get("smooth_relu").epsilon == 1e-3
    assert A.LeakyReLU(alpha=0.3).negative_slope == 0.3  # the Keras 2 spelling
    relu = A.get("relu")
    assert (relu.negative_slope, relu.max_value, relu.threshold) == (0.0, None, 0.0)
    assert A.get("celu").alpha == 1.0


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [  # keras/src/activations/activations_test.py, on x = [-10, -5, 0, 5, 10]
        ({}, [0.0, 0.0, 0.0, 5.0, 10.0]),
        ({"negative_slope": 0.5}, [-5.0, -2.5, 0.0, 5.0, 10.0]),
        ({"max_value": 5.0}, [0.0, 0.0, 0.0, 5.0, 5.0]),
        ({"threshold": 5.0}, [-0.0, -0.0, 0.0, 0.0, 10.0]),
        ({"threshold": 5.0, "max_value": 5.0}, [0.0, 0.0, 0.0, 0.0, 5.0]),
        ({"negative_slope": 0.5, "max_value": 5.0, "threshold": 5.0}, [-7.5, -5.0, -2.5, 0.0, 5.0]),
        ({"max_value": 6.0}, [0.0, 0.0, 0.0, 5.0, 6.0]),
    ],
)
def test_relu_matches_keras_test_vectors(case, kwargs, expected):
    Z = case.asarray(np.array([-10.0, -5.0, 0.0, 5.0, 10.0]))
    np.testing.assert_array_equal(case.to_numpy(A.ReLU(**kwargs)(Z)), expected)


def test_relu6_and_hard_functions_at_their_documented_points(case):
    Z = case.asarray(np.array([-10.0, -3.0, -1.0, 0.0, 1.0, 3.0, 5.0, 12.0]))
    np.testing.assert_array_equal(case.to_numpy(A.ReLU6()(Z)), [0, 0, 0, 0, 1, 3, 5, 6])
    np.testing.assert_array_equal(case.to_numpy(A.HardTanh()(Z)), [-1, -1, -1, 0, 1, 1, 1, 1])
    case.assert_close(case.to_numpy(A.HardSiLU()(Z)), [0, 0, -1 / 3, 0, 2 / 3, 3, 5, 12])


def test_get_returns_an_instance_unchanged():
    softmax = A.Softmax(axis=0)
    assert A.get(softmax) is softmax


def test_get_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="sparsemax") as info:
        A.get("sparsemax")
    for name in ("relu", "gelu", "leaky_relu", "log_softmax"):
        assert name in str(info.value)


def test_get_rejects_other_types():
    with pytest.raises(TypeError, match="activation must be"):
        A.get(3)


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: A.LeakyReLU("0.1"), TypeError, "negative_slope must be a number"),
        (lambda: A.LeakyReLU(True), TypeError, "negative_slope"),
        (lambda: A.LeakyReLU(float("nan")), ValueError, "finite"),
        (lambda: A.LeakyReLU(0.1, alpha=0.3), ValueError, "not both"),
        (lambda: A.ELU(alpha=None), TypeError, "alpha"),
        (lambda: A.SmoothReLU(0.0), ValueError, "epsilon must be a positive"),
        (lambda: A.SmoothReLU(-1.0), ValueError, "epsilon"),
        (lambda: A.GELU(approximate="tanh"), TypeError, "approximate must be True or False"),
        (lambda: A.Softmax(axis=1.5), TypeError, "axis must be an int"),
        (lambda: A.LogSoftmax(axis="last"), TypeError, "axis"),
        (lambda: A.Softmax(axis=(0, 0)), ValueError, "distinct ints"),
        (lambda: A.Softmax(axis=()), ValueError, "non-empty"),
        (lambda: A.Softmax(axis=(0, 1.0)), TypeError, "axis must be an int"),
        (lambda: A.ReLU(max_value=-1.0), ValueError, "max_value must be >= 0"),
        (lambda: A.ReLU(threshold="0"), TypeError, "threshold must be a number"),
        (lambda: A.ReLU(negative_slope=float("inf")), ValueError, "negative_slope"),
        (lambda: A.CELU(alpha=0.0), ValueError, "alpha must be a positive"),
    ],
)
def test_bad_arguments_are_rejected(make, error, match):
    with pytest.raises(error, match=match):
        make()


# -- serialization -----------------------------------------------------------------------------


@pytest.mark.parametrize("key", IDS)
def test_serialize_round_trips_through_json(key):
    act = SPECS[key][0]
    spec = json.loads(json.dumps(A.serialize(act)))
    rebuilt = A.get(spec)
    assert type(rebuilt) is type(act)
    assert rebuilt.get_config() == act.get_config()
    assert type(act)(**act.get_config()).get_config() == act.get_config()


def test_serialize_writes_a_name_for_defaults_and_a_dict_otherwise():
    assert A.serialize(A.LeakyReLU()) == "leaky_relu"
    assert A.serialize("swish") == "silu"
    assert A.serialize(A.SELU()) == "selu"
    assert A.serialize(A.LeakyReLU(0.1)) == {"class_name": "LeakyReLU",
                                             "config": {"negative_slope": 0.1}}
    assert A.serialize(A.GELU(approximate=True)) == {"class_name": "GELU",
                                                    "config": {"approximate": True}}
    assert repr(A.get({"class_name": "leaky_relu", "config": {"negative_slope": 0.1}})) == \
        "LeakyReLU(negative_slope=0.1)"
    assert type(A.get({"class_name": "ELU"})) is A.ELU
    assert A.serialize(A.ReLU()) == "relu"
    assert A.serialize(A.ReLU(max_value=6.0)) == {
        "class_name": "ReLU", "config": {"negative_slope": 0.0, "max_value": 6.0, "threshold": 0.0}}
    assert A.serialize(A.Softmax(axis=(0, 1))) == {"class_name": "Softmax", "config": {"axis": [0, 1]}}
    assert A.Softmax(axis=(-1,)).axis == -1  # one axis is an int: the fused cross-entropy applies


@pytest.mark.parametrize(
    ("spec", "error", "match"),
    [
        ({"class_name": "NoSuch", "config": {}}, ValueError, "unknown activation"),
        ({"class_name": "LeakyReLU", "config": {"slope": 0.1}}, TypeError, "does not take"),
        ({"class_name": "LeakyReLU", "config": [0.1]}, ValueError, "'config': dict"),
        ({"name": "relu"}, ValueError, "class_name"),
    ],
)
def test_get_rejects_bad_dicts(spec, error, match):
    with pytest.raises(error, match=match):
        A.get(spec)


# -- user-registered activations ---------------------------------------------------------------


@pytest.fixture
def registry():
    """Leaves ACTIVATIONS as it found it, whatever the test registered."""
    saved = dict(A.ACTIVATIONS)
    yield A.ACTIVATIONS
    for name in [k for k, cls in A.ACTIVATIONS.items() if saved.get(k) is not cls]:
        A.unregister(name)  # an added name goes, a replaced built-in comes back
    assert dict(A.ACTIVATIONS) == saved


def _softsign(Z):
    return Z / (1.0 + abs(Z))


def _softsign_derivative(Z):
    return 1.0 / (1.0 + abs(Z)) ** 2


def _soft_exp(Z):  # uses the namespace of Z, as the docs say
    import array_api_compat

    xp = array_api_compat.array_namespace(Z)
    return xp.log1p(xp.exp(Z)) - 0.5


def test_registered_pair_matches_its_formula_and_gradient(case64, registry):
    A.register("my_softsign", _softsign, _softsign_derivative)
    act = A.get("my_softsign")
    b = case64.resolve()
    Z_host = _inputs(9)
    Z = case64.asarray(Z_host)
    case64.assert_close(case64.to_numpy(act.forward(b.xp, Z)), Z_host / (1 + np.abs(Z_host)))
    model = case64.model([fx.layers.Activation("my_softsign", input_shape=(4,))])
    assert fx.gradcheck.check_layer_gradients(model.layers[0], Z)["input"] < 1e-7


def test_registered_activation_trains_in_a_model(case, registry):
    import array_api_compat

    def sigmoid_derivative(Z):
        xp = array_api_compat.array_namespace(Z)
        E = xp.exp(-xp.abs(Z))
        return E / (1.0 + E) ** 2

    A.register("My_Softplus", _soft_exp, sigmoid_derivative)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 3))
    y = np.sin(x @ np.array([[1.0], [-0.5], [0.25]]))
    model = case.model([fx.layers.Dense(8, activation="my_softplus", input_dim=3),
                        fx.layers.Dense(1)])
    model.compile(optimizer=fx.optimizers.Adam(0.02), loss="mse")
    history = model.fit(x, y, batch_size=8, epochs=30, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert type(model.layers[0].activation).__name__ == "my_softplus"


def test_register_refuses_an_existing_name_unless_overwrite(registry):
    with pytest.raises(ValueError, match="built-in.*overwrite=True"):
        A.register("relu", _softsign, _softsign_derivative)
    A.register("mine", _softsign, _softsign_derivative)
    with pytest.raises(ValueError, match="already registered"):
        A.register("MINE", _softsign, _softsign_derivative)
    cls = A.register("relu", _softsign, _softsign_derivative, overwrite=True)
    assert type(A.get("relu")) is cls
    A.unregister("relu")
    assert type(A.get("relu")) is A.ReLU
    A.unregister("mine")
    assert "mine" not in A.ACTIVATIONS


def test_register_a_subclass_and_serialize_it(registry):
    class Cube(A.ActivationFunction):
        name = "cube"

        def forward(self, xp, Z):
            return Z * Z * Z

        def backward(self, xp, Z, Y, dY):
            return 3.0 * Z * Z * dY

    A.register("cube", Cube)
    layer = fx.layers.Dense(2, activation="cube")
    assert isinstance(layer.activation, Cube)
    assert A.serialize(Cube()) == "cube"
    assert type(A.get(A.serialize(Cube()))) is Cube
    pair = A.register("my_pair", _softsign, _softsign_derivative)
    assert A.serialize(pair()) == "my_pair" and type(A.get("my_pair")) is pair


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        (("", _softsign, _softsign_derivative), ValueError, "non-empty string"),
        ((3, _softsign, _softsign_derivative), ValueError, "non-empty string"),
        (("x", _softsign), TypeError, "two callables"),
        (("x", _softsign, 2.0), TypeError, "two callables"),
        (("x", int), TypeError, "subclass ActivationFunction"),
        (("x", A.ReLU, _softsign), TypeError, "no derivative"),
    ],
)
def test_register_rejects_bad_arguments(registry, args, error, match):
    with pytest.raises(error, match=match):
        A.register(*args)
    assert "x" not in A.ACTIVATIONS


def test_unregister_errors(registry):
    with pytest.raises(ValueError, match="not registered"):
        A.unregister("no_such")
    with pytest.raises(ValueError, match="built-in"):
        A.unregister("relu")
