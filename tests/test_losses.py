"""Losses: values and gradients against PyTorch, central-difference checks in float64, the
fusion of sigmoid/softmax with cross-entropy (down to a whole network's gradients against
PyTorch autograd), stability from logits, target checking and lookup by name.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import flexnet as fx
from flexnet.gradcheck import numerical_gradient, relative_error
from flexnet.losses import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    MeanSquaredError,
    SparseCategoricalCrossentropy,
    SumSquaredError,
)

torch = pytest.importorskip("torch")
F = torch.nn.functional

N, C = 6, 4


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)




def _probabilities(seed, shape=(N, C)):
    """Probabilities inside (0.05, 0.95): no clipping anywhere."""
    return 0.05 + 0.9 * _rng(seed).random(shape)


def _softmax_rows(seed):
    Z = _rng(seed).standard_normal((N, C))
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def _labels(seed):
    return _rng(seed).integers(0, C, size=N)


def _soft_targets(seed):
    T = _rng(seed).random((N, C)) + 0.1
    return T / T.sum(axis=1, keepdims=True)


# Each entry: loss, output P (host), targets y (host), torch reference loss(p, y).
def _problems():
    labels = _labels(3)
    return {
        "mse": (MeanSquaredError(), _rng(1).standard_normal((N, C)),
                _rng(2).standard_normal((N, C)), lambda p, y: F.mse_loss(p, y)),
        "mse_sum": (MeanSquaredError(reduction="sum"), _rng(1).standard_normal((N, C)),
                    _rng(2).standard_normal((N, C)),
                    lambda p, y: F.mse_loss(p, y, reduction="sum") / C),
        "sse": (SumSquaredError(), _rng(1).standard_normal((N, C)),
                _rng(2).standard_normal((N, C)),
                lambda p, y: F.mse_loss(p, y, reduction="sum")),
        "bce": (BinaryCrossentropy(), _probabilities(4), _rng(5).random((N, C)),
                lambda p, y: F.binary_cross_entropy(p, y)),
        "bce_logits": (BinaryCrossentropy(from_logits=True), 3 * _rng(6).standard_normal((N, C)),
                       _rng(7).random((N, C)),
                       lambda z, y: F.binary_cross_entropy_with_logits(z, y)),
        "cce": (CategoricalCrossentropy(), _softmax_rows(8), _soft_targets(9),
                lambda p, y: -(y * torch.log(p)).sum(dim=1).mean()),
        "cce_onehot": (CategoricalCrossentropy(), _softmax_rows(8), np.eye(C)[labels],
                       lambda p, y: F.nll_loss(torch.log(p), y.argmax(dim=1))),
        "cce_logits": (CategoricalCrossentropy(from_logits=True),
                       3 * _rng(10).standard_normal((N, C)), _soft_targets(11),
                       lambda z, y: F.cross_entropy(z, y)),
        "cce_logits_unnormalized": (CategoricalCrossentropy(from_logits=True),
                                    3 * _rng(10).standard_normal((N, C)),
                                    0.5 * _rng(14).random((N, C)),
                                    lambda z, y: F.cross_entropy(z, y)),
        "sparse": (SparseCategoricalCrossentropy(), _softmax_rows(12), labels,
                   lambda p, y: F.nll_loss(torch.log(p), y)),
        "sparse_logits": (SparseCategoricalCrossentropy(from_logits=True),
                          3 * _rng(13).standard_normal((N, C)), labels,
                          lambda z, y: F.cross_entropy(z, y)),
    }


PROBLEMS = list(_problems())


def _torch_value_and_grad(reference, P, y):
    p = torch.tensor(P, dtype=torch.float64, requires_grad=True)
    t = torch.tensor(y) if y.dtype.kind in "iu" else torch.tensor(y, dtype=torch.float64)
    value = reference(p, t)
    (grad,) = torch.autograd.grad(value, p)
    return value.item(), grad.numpy()


def _on_backend(case, loss, P_host, y_host):
    """``(xp, y, P)`` on the case's backend, targets checked by the loss."""
    b = case.resolve()
    P = case.asarray(P_host)
    y_dtype = "int64" if y_host.dtype.kind in "iu" else case.dtype
    y = loss.prepare_targets(b.xp, case.asarray(y_host, y_dtype), tuple(P.shape), case.dtype)
    return b.xp, y, P


# -- against PyTorch ------------------------------------------------------------------


@pytest.mark.parametrize("problem", PROBLEMS)
def test_value_and_gradient_match_torch(case, problem):
    loss, P_host, y_host, reference = _problems()[problem]
    xp, y, P = _on_backend(case, loss, P_host, y_host)
    expected_value, expected_grad = _torch_value_and_grad(reference, P_host, y_host)
    case.assert_close(float(loss.value(xp, y, P)), expected_value)
    grad = loss.gradient(xp, y, P)
    assert tuple(grad.shape) == P_host.shape
    case.assert_close(case.to_numpy(grad), expected_grad)


@pytest.mark.parametrize("problem", PROBLEMS)
def test_calling_a_loss_checks_targets_and_reduces(case, problem):
    loss, P_host, y_host, reference = _problems()[problem]
    y_dtype = "int64" if y_host.dtype.kind in "iu" else case.dtype
    value = loss(case.asarray(y_host, y_dtype), case.asarray(P_host))
    case.assert_close(float(value), _torch_value_and_grad(reference, P_host, y_host)[0])


# -- central differences --------------------------------------------------------------


@pytest.mark.parametrize("problem", PROBLEMS)
def test_gradient_matches_central_differences(case64, problem):
    loss, P_host, y_host, _ = _problems()[problem]
    xp, y, P = _on_backend(case64, loss, P_host, y_host)
    b = case64.resolve()
    analytic = b.to_numpy(loss.gradient(xp, y, P))

    def f(p_host):
        return float(loss.value(xp, y, b.from_numpy(p_host, "float64")))

    assert relative_error(analytic, numerical_gradient(f, P_host)) < 1e-7


def test_sum_reduction_is_batch_size_times_the_mean(case):
    loss_mean, P_host, y_host, _ = _problems()["bce"]
    loss_sum = BinaryCrossentropy(reduction="sum")
    xp, y, P = _on_backend(case, loss_mean, P_host, y_host)
    case.assert_close(float(loss_sum.value(xp, y, P)), N * float(loss_mean.value(xp, y, P)))
    case.assert_close(case.to_numpy(loss_sum.gradient(xp, y, P)),
                      N * case.to_numpy(loss_mean.gradient(xp, y, P)))


def test_unknown_reduction_is_refused():
    with pytest.raises(ValueError, match="reduction must be one of"):
        MeanSquaredError(reduction="mean")


# -- fusion with the output activation ------------------------------------------------


@pytest.mark.parametrize(
    ("loss", "activation"),
    [
        (BinaryCrossentropy(), fx.activations.Sigmoid()),
        (CategoricalCrossentropy(), fx.activations.Softmax()),
        (SparseCategoricalCrossentropy(), fx.activations.Softmax()),
    ],
)
def test_cross_entropy_fuses_with_its_activation(loss, activation):
    fused = loss.logits_loss(activation)
    assert type(fused) is type(loss)
    assert fused.from_logits and not loss.from_logits
    assert fused.reduction == loss.reduction


def test_fused_loss_keeps_the_reduction():
    fused = BinaryCrossentropy(reduction="sum").logits_loss(fx.activations.Sigmoid())
    assert fused.from_logits and fused.reduction == "sum"


@pytest.mark.parametrize(
    ("loss", "activation"),
    [
        (BinaryCrossentropy(), fx.activations.Softmax()),
        (BinaryCrossentropy(), fx.activations.Tanh()),
        (CategoricalCrossentropy(), fx.activations.Sigmoid()),
        (SparseCategoricalCrossentropy(), fx.activations.Linear()),
        (CategoricalCrossentropy(), fx.activations.Softmax(axis=0)),
        (BinaryCrossentropy(from_logits=True), fx.activations.Sigmoid()),
        (CategoricalCrossentropy(from_logits=True), fx.activations.Softmax()),
        (MeanSquaredError(), fx.activations.Sigmoid()),
        (SumSquaredError(), fx.activations.Linear()),
        (BinaryCrossentropy(), None),
    ],
)
def test_mismatched_pairs_do_not_fuse(loss, activation):
    assert loss.logits_loss(activation) is None


# -- stability ------------------------------------------------------------------------


def test_binary_crossentropy_from_logits_is_stable_at_1000(case):
    loss = BinaryCrossentropy(from_logits=True)
    Z_host = np.array([[1000.0], [-1000.0], [1000.0], [-1000.0]])
    y_host = np.array([1.0, 0.0, 0.0, 1.0])
    xp, y, Z = _on_backend(case, loss, Z_host, y_host)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = float(loss.value(xp, y, Z))
        grad = case.to_numpy(loss.gradient(xp, y, Z))
    case.assert_close(value, 500.0)  # two right (0) and two wrong (1000) of 4
    case.assert_close(grad, np.array([[0.0], [0.0], [1.0], [-1.0]]) / 4)


@pytest.mark.parametrize("sparse", [False, True])
def test_categorical_crossentropy_from_logits_is_stable_at_1000(case, sparse):
    Z_host = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 999.0], [0.0, 0.0, -1000.0]])
    labels = np.array([0, 2, 2])
    loss = (SparseCategoricalCrossentropy if sparse else CategoricalCrossentropy)(from_logits=True)
    y_host = labels if sparse else np.eye(3)[labels]
    xp, y, Z = _on_backend(case, loss, Z_host, y_host)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = float(loss.value(xp, y, Z))
        grad = case.to_numpy(loss.gradient(xp, y, Z))
    expected_value, expected_grad = _torch_value_and_grad(F.cross_entropy, Z_host, labels)
    assert np.isfinite(value) and np.all(np.isfinite(grad))
    case.assert_close(value, expected_value)
    case.assert_close(grad, expected_grad)


def test_probabilities_of_exactly_0_and_1_give_a_finite_loss(case):
    loss = BinaryCrossentropy()
    xp, y, P = _on_backend(case, loss, np.array([[0.0], [1.0], [1.0]]), np.array([1.0, 0.0, 1.0]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = float(loss.value(xp, y, P))
        grad = case.to_numpy(loss.gradient(xp, y, P))
    assert np.isfinite(value) and value > 10.0  # -log(1e-7) ≈ 16 for each wrong sample
    assert np.all(np.isfinite(grad))


# -- targets --------------------------------------------------------------------------


def _prepare(loss, y, output_shape=(None, 3), dtype="float64"):
    import array_api_compat.numpy as xp

    return loss.prepare_targets(xp, np.asarray(y), output_shape, dtype)


@pytest.mark.parametrize("loss", [MeanSquaredError(), BinaryCrossentropy(),
                                  CategoricalCrossentropy()])
def test_targets_of_the_wrong_shape_are_refused(loss):
    with pytest.raises(ValueError, match=r"\(5, 4\).*\(None, 3\)"):
        _prepare(loss, np.zeros((5, 4)))


def test_vector_targets_are_accepted_for_one_output_unit(case):
    b = case.resolve()
    for loss in (MeanSquaredError(), BinaryCrossentropy()):
        y = loss.prepare_targets(b.xp, case.asarray(np.array([0.0, 1.0, 1.0])), (None, 1),
                                 case.dtype)
        assert tuple(y.shape) == (3, 1)
        np.testing.assert_array_equal(case.to_numpy(y), [[0.0], [1.0], [1.0]])


def test_vector_targets_are_refused_for_several_output_units():
    with pytest.raises(ValueError, match=r"\(4,\).*\(None, 3\)"):
        _prepare(MeanSquaredError(), np.zeros(4))


def test_one_hot_targets_given_to_sparse_are_refused():
    with pytest.raises(ValueError, match=r"shape \(n,\).*shape \(4, 3\).*categorical_crossentropy"):
        _prepare(SparseCategoricalCrossentropy(), np.eye(3)[[0, 1, 2, 0]])


@pytest.mark.parametrize("labels", [[0, 1, 3], [0, 5, 1]])
def test_labels_beyond_the_number_of_classes_are_refused(labels):
    with pytest.raises(ValueError, match=rf"\[0, 2\].*3 units.*{max(labels)}\]"):
        _prepare(SparseCategoricalCrossentropy(), np.array(labels))


def test_negative_labels_are_refused():
    with pytest.raises(ValueError, match=r"\[0, 2\].*\[-1, 2\]"):
        _prepare(SparseCategoricalCrossentropy(), np.array([0, -1, 2]))


def test_non_integer_float_labels_are_refused_naming_the_value():
    with pytest.raises(ValueError, match="integer class labels") as info:
        _prepare(SparseCategoricalCrossentropy(), np.array([0.0, 1.5, 2.0]))
    assert "1.5" in str(info.value), f"the message does not say what came: {info.value}"


def test_integer_valued_float_labels_are_accepted(case):
    b = case.resolve()
    y = SparseCategoricalCrossentropy().prepare_targets(
        b.xp, case.asarray(np.array([0.0, 2.0, 1.0])), (None, 3), case.dtype)
    np.testing.assert_array_equal(case.to_numpy(y), [0, 2, 1])
    assert np.issubdtype(case.to_numpy(y).dtype, np.integer)


def test_column_labels_are_accepted_by_sparse(case):
    b = case.resolve()
    y = SparseCategoricalCrossentropy().prepare_targets(
        b.xp, case.asarray(np.array([[0], [2]]), "int64"), (None, 3), case.dtype)
    np.testing.assert_array_equal(case.to_numpy(y), [0, 2])


@pytest.mark.parametrize("bad", [[0.0, 1.2, 0.5], [-0.1, 1.0, 0.5]])
def test_binary_targets_outside_0_1_are_refused(bad):
    with pytest.raises(ValueError, match=rf"\[0, 1\].*{min(bad)}, {max(bad)}\]"):
        _prepare(BinaryCrossentropy(), np.array(bad), output_shape=(None, 1))


def test_integer_labels_given_to_categorical_are_refused():
    with pytest.raises(ValueError,
                       match=r"one-hot.*\(n, 3\).*shape \(4,\).*sparse_categorical_crossentropy"):
        _prepare(CategoricalCrossentropy(), np.array([0, 2, 1, 0]))


def test_targets_are_checked_when_a_model_computes_gradients(case):
    model = case.model([fx.layers.Dense(3, input_dim=2, activation="softmax")])
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy"):
        model.compute_gradients(np.ones((4, 2)), np.array([0, 2, 1, 0]))


# -- lookup ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("mse", MeanSquaredError),
        ("MSE", MeanSquaredError),
        ("mean_squared_error", MeanSquaredError),
        ("sum_squared_error", SumSquaredError),
        ("binary_crossentropy", BinaryCrossentropy),
        ("categorical_crossentropy", CategoricalCrossentropy),
        ("sparse_categorical_crossentropy", SparseCategoricalCrossentropy),
    ],
)
def test_get_by_name(name, cls):
    assert type(fx.losses.get(name)) is cls


def test_get_returns_an_instance_unchanged():
    loss = BinaryCrossentropy(from_logits=True)
    assert fx.losses.get(loss) is loss


def test_get_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="hinge") as info:
        fx.losses.get("hinge")
    for name in ("mse", "binary_crossentropy", "categorical_crossentropy",
                 "sparse_categorical_crossentropy", "sum_squared_error"):
        assert name in str(info.value)


def test_sum_squared_error_defaults_to_sum_reduction():
    assert SumSquaredError().reduction == "sum"
    assert MeanSquaredError().reduction == "sum_over_batch_size"


# -- whole networks against PyTorch autograd -------------------------------------------


def _network_problem(kind: str):
    """Weights, inputs and targets where some outputs saturate on the wrong side, so a
    loss computed on clipped probabilities would give a different value and gradient."""
    rng = _rng(30)
    units = 1 if kind == "binary" else 3
    W1, b1 = rng.standard_normal((4, 5)), 0.1 * rng.standard_normal(5)
    W2, b2 = 15.0 * rng.standard_normal((5, units)), 0.1 * rng.standard_normal(units)
    X = rng.standard_normal((8, 4))
    Z = np.tanh(X @ W1 + b1) @ W2 + b2
    if kind == "binary":
        y = (Z[:, 0] < 0).astype(np.float64)  # every sample confidently wrong
    else:
        y = np.argmin(Z, axis=1)  # the least likely class
    assert np.max(np.abs(Z)) > 25.0  # sigmoid/softmax saturate past the 1e-7 clip
    return [W1, b1, W2, b2], X, y


def _torch_network_loss_and_grads(kind, weights, X, y):
    W1, b1, W2, b2 = (torch.tensor(w, requires_grad=True) for w in weights)
    z = torch.tanh(torch.tensor(X) @ W1 + b1) @ W2 + b2
    if kind == "binary":
        loss = F.binary_cross_entropy_with_logits(z[:, 0], torch.tensor(y))
    else:
        loss = F.cross_entropy(z, torch.tensor(y))
    grads = torch.autograd.grad(loss, [W1, b1, W2, b2])
    return loss.item(), [g.numpy() for g in grads]


HEADS = {  # output layers, made fresh for each model
    "sigmoid-bce": ("binary", "binary_crossentropy",
                    lambda: [fx.layers.Dense(1, activation="sigmoid")]),
    "softmax-cce": ("categorical", "categorical_crossentropy",
                    lambda: [fx.layers.Dense(3, activation="softmax")]),
    "softmax-sparse": ("sparse", "sparse_categorical_crossentropy",
                       lambda: [fx.layers.Dense(3, activation="softmax")]),
    "activation-layer-cce": ("categorical", "categorical_crossentropy",
                             lambda: [fx.layers.Dense(3), fx.layers.Activation("softmax")]),
}


@pytest.mark.parametrize("head", list(HEADS))
def test_network_gradients_match_torch_autograd(case64, head):
    kind, loss, make_head = HEADS[head]
    weights, X, y = _network_problem(kind)
    model = case64.model([fx.layers.Dense(5, activation="tanh", input_dim=4), *make_head()])
    model.compile(optimizer="sgd", loss=loss)
    model.set_weights(weights)
    targets = np.eye(3)[y] if kind == "categorical" else y
    value, grads = model.compute_gradients(X, targets, training=False)
    expected_value, expected_grads = _torch_network_loss_and_grads(kind, weights, X, y)
    np.testing.assert_allclose(float(value), expected_value, rtol=1e-10)
    assert len(grads) == 4
    for grad, expected in zip(grads, expected_grads):
        np.testing.assert_allclose(case64.to_numpy(grad), expected, rtol=1e-9, atol=1e-12)
