"""Losses: values and gradients against PyTorch, central-difference checks in float64, the
fusion of sigmoid/softmax with cross-entropy (down to a whole network's gradients against
PyTorch autograd), per-sample and class weights in the reduction, stability, target
checking, lookup by name and configs.
"""

from __future__ import annotations

import json
import re
import warnings

import array_api_compat
import numpy as np
import pytest

import flexnet as fx
from flexnet import losses
from flexnet.gradcheck import check_model_gradients, numerical_gradient, relative_error
from flexnet.losses import (
    BinaryCrossentropy,
    BinaryFocalCrossentropy,
    CategoricalCrossentropy,
    CategoricalFocalCrossentropy,
    CategoricalHinge,
    CosineSimilarity,
    Hinge,
    Huber,
    KLDivergence,
    LogCosh,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredError,
    MeanSquaredLogarithmicError,
    Poisson,
    SparseCategoricalCrossentropy,
    SquaredHinge,
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


def _signs(seed, shape=(N, C)):
    return np.where(_rng(seed).random(shape) < 0.5, -1.0, 1.0)


def _away_from(values, kinks, gap=1e-3):
    """``values`` unchanged, after checking that none lies within ``gap`` of a kink, so central
    differences (step 1e-6) never straddle one."""
    values = np.asarray(values)
    for kink in kinks:
        assert np.min(np.abs(values - kink)) > gap
    return values


def _regression(seed, scale=1.0):
    """``(P, y)`` with ``P - y`` away from 0 (the kink of the absolute value)."""
    P, y = scale * _rng(seed).standard_normal((N, C)), _rng(seed + 1).standard_normal((N, C))
    _away_from(P - y, [0.0])
    return P, y


def _huber_problem(seed, delta):
    P, y = _regression(seed, scale=2.0)
    A = _away_from(np.abs(P - y), [delta])
    assert np.any(A < delta) and np.any(A > delta)  # both pieces are exercised
    return P, y


def _margin_problem(seed, targets01=False):
    """Outputs and ±1 (or 0/1) targets with ``y P`` away from the hinge's kink at 1."""
    y = _signs(seed)
    P = 2.0 * _rng(seed + 1).standard_normal((N, C))
    M = _away_from(1.0 - y * P, [0.0])
    assert np.any(M > 0) and np.any(M < 0)
    return P, (y + 1.0) / 2.0 if targets01 else y


def _categorical_hinge_problem(seed):
    labels = _labels(seed)
    y = np.eye(C)[labels]
    P = _rng(seed + 1).standard_normal((N, C)) + 3.0 * y * (np.arange(N) % 2 == 0)[:, None]
    Q = np.sort((1.0 - y) * P, axis=1)
    _away_from(Q[:, -1] - Q[:, -2], [0.0])  # no tie for the largest wrong score
    M = _away_from(Q[:, -1] - (y * P).sum(axis=1) + 1.0, [0.0])
    assert np.any(M > 0) and np.any(M < 0)
    return P, y


def _torch_hinge(p, y):
    return torch.clamp(1.0 - y * p, min=0.0).mean()


def _torch_categorical_hinge(p, y):
    pos = (y * p).sum(dim=1)
    neg = ((1.0 - y) * p).max(dim=1).values
    return torch.clamp(neg - pos + 1.0, min=0.0).mean()


def _rescaled_log(p):
    """Keras's log-probabilities: each row divided by its sum first."""
    return torch.log(p / p.sum(dim=-1, keepdim=True))


def _torch_binary_focal(gamma=2.0, alpha=None, smoothing=0.0, from_logits=False):
    """``keras.losses.binary_focal_crossentropy`` written term for term in torch."""

    def loss(p, y):
        y = y * (1.0 - smoothing) + 0.5 * smoothing
        p = torch.sigmoid(p) if from_logits else p
        pc = torch.clamp(p, 1e-7, 1.0 - 1e-7)
        bce = -(y * torch.log(pc) + (1.0 - y) * torch.log(1.0 - pc))
        focal = (1.0 - (y * p + (1.0 - y) * (1.0 - p))) ** gamma * bce
        if alpha is not None:
            focal = (y * alpha + (1.0 - y) * (1.0 - alpha)) * focal
        return focal.mean(dim=-1).mean()

    return loss


def _torch_categorical_focal(gamma=2.0, alpha=0.25, smoothing=0.0, from_logits=False):
    """``keras.losses.categorical_focal_crossentropy`` written term for term in torch."""

    def loss(p, y):
        y = y * (1.0 - smoothing) + smoothing / y.shape[-1]
        p = torch.softmax(p, dim=-1) if from_logits else p
        q = torch.clamp(p / p.sum(dim=-1, keepdim=True), 1e-7, 1.0 - 1e-7)
        a = torch.tensor(alpha, dtype=p.dtype) if isinstance(alpha, list) else alpha
        return (a * (1.0 - q) ** gamma * -y * torch.log(q)).sum(dim=-1).mean()

    return loss


def _positive_regression(seed):
    """Outputs and targets in (0.1, 3): rates and counts for Poisson, logs for MSLE."""
    return 0.1 + 2.9 * _rng(seed).random((N, C)), 0.1 + 2.9 * _rng(seed + 1).random((N, C))


def _torch_kld_keras(p, y):
    """Keras's form, clipping included: ``Σ ȳ log(ȳ / p̄)`` with both clipped to [1e-7, 1]."""
    yc, pc = torch.clamp(y, 1e-7, 1.0), torch.clamp(p, 1e-7, 1.0)
    return (yc * (torch.log(yc) - torch.log(pc))).sum(dim=1).mean()


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
                lambda p, y: -(y * _rescaled_log(p)).sum(dim=1).mean()),
        "cce_onehot": (CategoricalCrossentropy(), _softmax_rows(8), np.eye(C)[labels],
                       lambda p, y: F.nll_loss(_rescaled_log(p), y.argmax(dim=1))),
        # probabilities that do not sum to 1 are rescaled first, as Keras does
        "cce_unnormalized": (CategoricalCrossentropy(), _probabilities(15), np.eye(C)[labels],
                             lambda p, y: F.nll_loss(_rescaled_log(p), y.argmax(dim=1))),
        "cce_smoothing": (CategoricalCrossentropy(label_smoothing=0.2), _probabilities(16),
                          np.eye(C)[labels],
                          lambda p, y: -((0.8 * y + 0.05) * _rescaled_log(p)).sum(dim=1).mean()),
        "cce_logits_smoothing": (CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
                                 3 * _rng(17).standard_normal((N, C)), np.eye(C)[labels],
                                 lambda z, y: F.cross_entropy(z, y.argmax(dim=1), label_smoothing=0.1)),
        "bce_smoothing": (BinaryCrossentropy(label_smoothing=0.3), _probabilities(18),
                          _rng(19).random((N, C)),
                          lambda p, y: F.binary_cross_entropy(p, 0.7 * y + 0.15)),
        "bce_logits_smoothing": (BinaryCrossentropy(from_logits=True, label_smoothing=0.3),
                                 3 * _rng(6).standard_normal((N, C)), _rng(7).random((N, C)),
                                 lambda z, y: F.binary_cross_entropy_with_logits(z, 0.7 * y + 0.15)),
        "cce_logits": (CategoricalCrossentropy(from_logits=True),
                       3 * _rng(10).standard_normal((N, C)), _soft_targets(11),
                       lambda z, y: F.cross_entropy(z, y)),
        "cce_logits_unnormalized": (CategoricalCrossentropy(from_logits=True),
                                    3 * _rng(10).standard_normal((N, C)),
                                    0.5 * _rng(14).random((N, C)),
                                    lambda z, y: F.cross_entropy(z, y)),
        "sparse": (SparseCategoricalCrossentropy(), _softmax_rows(12), labels,
                   lambda p, y: F.nll_loss(_rescaled_log(p), y)),
        "sparse_unnormalized": (SparseCategoricalCrossentropy(), _probabilities(21), labels,
                                lambda p, y: F.nll_loss(_rescaled_log(p), y)),
        "sparse_logits": (SparseCategoricalCrossentropy(from_logits=True),
                          3 * _rng(13).standard_normal((N, C)), labels,
                          lambda z, y: F.cross_entropy(z, y)),
        "mae": (MeanAbsoluteError(), *_regression(20), lambda p, y: F.l1_loss(p, y)),
        "huber": (Huber(), *_huber_problem(22, 1.0), lambda p, y: F.huber_loss(p, y)),
        "huber_delta": (Huber(delta=0.5, reduction="sum"), *_huber_problem(24, 0.5),
                        lambda p, y: F.huber_loss(p, y, delta=0.5, reduction="sum") / C),
        "log_cosh": (LogCosh(), *_regression(26, scale=3.0),
                     lambda p, y: torch.log(torch.cosh(p - y)).mean()),
        "hinge": (Hinge(), *_margin_problem(28), _torch_hinge),
        "hinge_01": (Hinge(), *_margin_problem(28, targets01=True),
                     lambda p, y: _torch_hinge(p, 2.0 * y - 1.0)),
        "squared_hinge": (SquaredHinge(), *_margin_problem(30),
                          lambda p, y: (torch.clamp(1.0 - y * p, min=0.0) ** 2).mean()),
        "categorical_hinge": (CategoricalHinge(), *_categorical_hinge_problem(32),
                              _torch_categorical_hinge),
        "kld": (KLDivergence(), _softmax_rows(34), _soft_targets(35),
                lambda p, y: F.kl_div(torch.log(p), y, reduction="batchmean")),
        "kld_onehot": (KLDivergence(), _softmax_rows(36), np.eye(C)[_labels(37)], _torch_kld_keras),
        "mape": (MeanAbsolutePercentageError(), *_regression(38),
                 lambda p, y: (100.0 * (p - y).abs() / torch.clamp(y.abs(), min=1e-7)).mean()),
        "msle": (MeanSquaredLogarithmicError(), *_positive_regression(39),
                 lambda p, y: ((torch.log1p(p) - torch.log1p(y)) ** 2).mean()),
        "poisson": (Poisson(), *_positive_regression(41),
                    lambda p, y: F.poisson_nll_loss(p, y, log_input=False, eps=1e-7)),
        "cosine_similarity": (CosineSimilarity(), *_regression(43),
                              lambda p, y: -F.cosine_similarity(p, y, dim=1, eps=1e-7).mean()),
        "binary_focal": (BinaryFocalCrossentropy(), _probabilities(44), _rng(45).random((N, C)),
                         _torch_binary_focal()),
        "binary_focal_balanced": (
            BinaryFocalCrossentropy(apply_class_balancing=True, alpha=0.3, gamma=1.5,
                                    label_smoothing=0.1),
            _probabilities(46), np.round(_rng(47).random((N, C))),
            _torch_binary_focal(gamma=1.5, alpha=0.3, smoothing=0.1)),
        "binary_focal_logits": (BinaryFocalCrossentropy(from_logits=True, gamma=0.5),
                                3 * _rng(48).standard_normal((N, C)), np.round(_rng(49).random((N, C))),
                                _torch_binary_focal(gamma=0.5, from_logits=True)),
        "categorical_focal": (CategoricalFocalCrossentropy(), _probabilities(50), np.eye(C)[labels],
                              _torch_categorical_focal()),
        "categorical_focal_logits": (
            CategoricalFocalCrossentropy(alpha=[0.1, 0.2, 0.3, 0.4], gamma=3.0, from_logits=True,
                                         label_smoothing=0.1),
            2 * _rng(51).standard_normal((N, C)), _soft_targets(52),
            _torch_categorical_focal(gamma=3.0, alpha=[0.1, 0.2, 0.3, 0.4], smoothing=0.1,
                                     from_logits=True)),
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
        MeanSquaredError(reduction="average")


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
        ("mae", MeanAbsoluteError),
        ("mean_absolute_error", MeanAbsoluteError),
        ("huber", Huber),
        ("huber_loss", Huber),
        ("log_cosh", LogCosh),
        ("logcosh", LogCosh),
        ("hinge", Hinge),
        ("squared_hinge", SquaredHinge),
        ("categorical_hinge", CategoricalHinge),
        ("kl_divergence", KLDivergence),
        ("kld", KLDivergence),
        ("KLD", KLDivergence),
        ("kullback_leibler_divergence", KLDivergence),
        ("binary_crossentropy", BinaryCrossentropy),
        ("categorical_crossentropy", CategoricalCrossentropy),
        ("sparse_categorical_crossentropy", SparseCategoricalCrossentropy),
        ("mean_absolute_percentage_error", MeanAbsolutePercentageError),
        ("mape", MeanAbsolutePercentageError),
        ("mean_squared_logarithmic_error", MeanSquaredLogarithmicError),
        ("msle", MeanSquaredLogarithmicError),
        ("poisson", Poisson),
        ("cosine_similarity", CosineSimilarity),
        ("binary_focal_crossentropy", BinaryFocalCrossentropy),
        ("categorical_focal_crossentropy", CategoricalFocalCrossentropy),
        ("BinaryFocalCrossentropy", BinaryFocalCrossentropy),
    ],
)
def test_get_by_name(name, cls):
    assert type(fx.losses.get(name)) is cls


def test_get_returns_an_instance_unchanged():
    loss = BinaryCrossentropy(from_logits=True)
    assert fx.losses.get(loss) is loss


def test_get_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="no_such_loss") as info:
        fx.losses.get("no_such_loss")
    for name in ("mse", "mae", "huber", "hinge", "kld", "binary_crossentropy",
                 "categorical_crossentropy", "sparse_categorical_crossentropy", "sum_squared_error"):
        assert repr(name) in str(info.value)


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


# -- new losses: edge cases -----------------------------------------------------------


def test_mean_absolute_error_uses_subgradient_0_at_the_kink(case):
    loss = MeanAbsoluteError()
    xp, y, P = _on_backend(case, loss, np.array([[1.0, 2.0], [0.5, -1.0]]),
                           np.array([[1.0, 0.0], [0.5, 3.0]]))
    case.assert_close(case.to_numpy(loss.gradient(xp, y, P)),
                      np.array([[0.0, 1.0], [0.0, -1.0]]) / 4)
    case.assert_close(float(loss.value(xp, y, P)), (2.0 + 4.0) / 4)


@pytest.mark.parametrize("delta", [0, -1.0, float("inf"), float("nan")])
def test_huber_refuses_a_delta_that_is_not_positive_and_finite(delta):
    with pytest.raises(ValueError, match=rf"delta must be a finite number > 0, got {delta!r}"):
        Huber(delta=delta)


def test_huber_refuses_a_delta_that_is_not_a_number():
    with pytest.raises(TypeError, match="delta must be a number, got str"):
        Huber(delta="1")


def test_log_cosh_is_stable_far_from_the_target(case):
    loss = LogCosh()
    xp, y, P = _on_backend(case, loss, np.array([[1000.0], [-1000.0]]), np.array([0.0, 0.0]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = float(loss.value(xp, y, P))
        grad = case.to_numpy(loss.gradient(xp, y, P))
    case.assert_close(value, 1000.0 - np.log(2.0))
    case.assert_close(grad, np.array([[0.5], [-0.5]]))


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ([0.0, 1.0, 1.0], [-1.0, 1.0, 1.0]),  # 0/1 targets become -1/1
        ([-1.0, 1.0, 1.0], [-1.0, 1.0, 1.0]),  # -1/1 targets stay
        ([-1.0, 0.0, 1.0], [-1.0, 0.0, 1.0]),  # anything else is left as it is (as Keras)
    ],
)
@pytest.mark.parametrize("cls", [Hinge, SquaredHinge])
def test_hinge_targets_are_converted_to_minus_one_and_one(case, cls, given, expected):
    y = cls().prepare_targets(case.resolve().xp, case.asarray(np.array(given)), (None, 1),
                              case.dtype)
    np.testing.assert_array_equal(case.to_numpy(y), np.array(expected)[:, None])


def test_kl_divergence_is_finite_and_flat_where_probabilities_are_clipped(case):
    loss = KLDivergence()
    xp, y, P = _on_backend(case, loss, np.array([[0.0, 1.0], [0.5, 0.5]]),
                           np.array([[1.0, 0.0], [0.5, 0.5]]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = float(loss.value(xp, y, P))
        grad = case.to_numpy(loss.gradient(xp, y, P))
    expected = (-np.log(1e-7) + 1e-7 * np.log(1e-7)) / 2  # the second sample matches exactly
    np.testing.assert_allclose(value, expected, rtol=1e-12 if case.dtype == "float64" else 1e-6)
    assert grad[0, 0] == 0.0  # clipped from below: flat
    case.assert_close(grad[1], np.array([-1.0, -1.0]) / 2)


@pytest.mark.parametrize("loss", ["mae", "huber", "log_cosh", "hinge", "squared_hinge", "kld",
                                  "categorical_hinge"])
def test_network_gradients_with_each_loss_match_central_differences(loss):
    rng = _rng(40)
    units, activation = (3, "softmax") if loss in ("kld", "categorical_hinge") else (2, "tanh")
    model = fx.Sequential([fx.layers.Dense(4, activation="tanh", input_dim=3),
                           fx.layers.Dense(units, activation=activation)], dtype="float64")
    model.compile(optimizer="sgd", loss=loss)
    X = rng.standard_normal((5, 3))
    if loss in ("kld", "categorical_hinge"):
        y = np.eye(3)[rng.integers(0, 3, size=5)]
    elif loss in ("hinge", "squared_hinge"):
        y = np.where(rng.random((5, 2)) < 0.5, -1.0, 1.0)
    else:
        y = 2.0 * rng.standard_normal((5, 2))
    assert check_model_gradients(model, X, y) < 1e-6


# -- per-sample weights ---------------------------------------------------------------


def _weights(seed=50):
    w = 2.0 * _rng(seed).random(N)
    w[1] = 0.0  # a sample that does not count
    return w


def _torch_weighted(reference, loss, P_host, y_host, w):
    """Keras's weighted reduction ``s Σ_i w_i ℓ_i`` (s = 1/n or 1) with ``ℓ_i`` from torch."""
    p = torch.tensor(P_host, dtype=torch.float64, requires_grad=True)
    t = torch.tensor(y_host) if y_host.dtype.kind in "iu" else torch.tensor(y_host,
                                                                            dtype=torch.float64)
    per_sample = torch.stack([reference(p[i:i + 1], t[i:i + 1]) for i in range(len(w))])
    value = (torch.tensor(w) * per_sample).sum() * loss.scale(len(w))
    (grad,) = torch.autograd.grad(value, p)
    return value.item(), grad.numpy()


@pytest.mark.parametrize("problem", PROBLEMS)
def test_weighted_value_and_gradient_match_torch(case64, problem):
    loss, P_host, y_host, reference = _problems()[problem]
    xp, y, P = _on_backend(case64, loss, P_host, y_host)
    w = _weights()
    expected_value, expected_grad = _torch_weighted(reference, loss, P_host, y_host, w)
    value = loss.value(xp, y, P, sample_weight=case64.asarray(w))
    case64.assert_close(float(value), expected_value)
    case64.assert_close(case64.to_numpy(loss.gradient(xp, y, P, sample_weight=case64.asarray(w))),
                        expected_grad)


@pytest.mark.parametrize("problem", PROBLEMS)
def test_weighted_reduction_divides_by_the_batch_size_not_the_weights(case, problem):
    loss, P_host, y_host, _ = _problems()[problem]
    xp, y, P = _on_backend(case, loss, P_host, y_host)
    w = _weights()
    per_sample = case.to_numpy(loss.values(xp, y, P))
    s = 1.0 / N if loss.reduction == "sum_over_batch_size" else 1.0
    case.assert_close(float(loss.value(xp, y, P, case.asarray(w))), s * np.sum(w * per_sample))
    grad = loss.gradient(xp, y, P, case.asarray(w))
    assert grad.dtype == P.dtype
    case.assert_close(case.to_numpy(grad), s * w[:, None] * case.to_numpy(loss.gradients(xp, y, P)))


@pytest.mark.parametrize("problem", ["bce", "cce", "sparse", "sparse_logits", "huber", "hinge"])
def test_unit_weights_give_the_unweighted_loss(case, problem):
    loss, P_host, y_host, _ = _problems()[problem]
    xp, y, P = _on_backend(case, loss, P_host, y_host)
    ones = case.asarray(np.ones(N))
    case.assert_close(float(loss.value(xp, y, P, ones)), float(loss.value(xp, y, P)))
    case.assert_close(case.to_numpy(loss.gradient(xp, y, P, ones)),
                      case.to_numpy(loss.gradient(xp, y, P)))


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum"])
@pytest.mark.parametrize(
    ("cls", "activation", "problem"),
    [
        (BinaryCrossentropy, fx.activations.Sigmoid(), "bce_logits"),
        (CategoricalCrossentropy, fx.activations.Softmax(), "cce_logits"),
        (SparseCategoricalCrossentropy, fx.activations.Softmax(), "sparse_logits"),
    ],
)
def test_fused_gradient_takes_the_same_weights(case, cls, activation, problem, reduction):
    fused = cls(reduction=reduction).logits_loss(activation)
    _, Z_host, y_host, _ = _problems()[problem]
    xp, y, Z = _on_backend(case, fused, Z_host, y_host)
    P = activation.forward(xp, Z)
    w = case.asarray(_weights())
    case.assert_close(case.to_numpy(fused.logits_gradient(xp, y, P, sample_weight=w)),
                      case.to_numpy(fused.gradient(xp, y, Z, sample_weight=w)))
    unweighted = case.to_numpy(fused.logits_gradient(xp, y, P))
    case.assert_close(unweighted, case.to_numpy(fused.gradient(xp, y, Z)))


@pytest.mark.parametrize("from_logits", [False, True])
def test_weighted_binary_crossentropy_matches_torch_weight(case, from_logits):
    problem = "bce_logits" if from_logits else "bce"
    loss, P_host, y_host, _ = _problems()[problem]
    xp, y, P = _on_backend(case, loss, P_host, y_host)
    w = _weights()
    p = torch.tensor(P_host, requires_grad=True)
    ref = F.binary_cross_entropy_with_logits if from_logits else F.binary_cross_entropy
    expected = ref(p, torch.tensor(y_host), weight=torch.tensor(w)[:, None])  # mean over n·k
    (expected_grad,) = torch.autograd.grad(expected, p)
    case.assert_close(float(loss.value(xp, y, P, case.asarray(w))), expected.item())
    case.assert_close(case.to_numpy(loss.gradient(xp, y, P, case.asarray(w))),
                      expected_grad.numpy())


@pytest.mark.parametrize("reduction", ["sum", "sum_over_batch_size"])
@pytest.mark.parametrize("problem", ["sparse", "sparse_logits", "cce_onehot"])
def test_class_weights_match_torch_cross_entropy_weight(case64, problem, reduction):
    case = case64
    base, P_host, y_host, _ = _problems()[problem]
    loss = type(base)(from_logits=base.from_logits, reduction=reduction)
    xp, y, P = _on_backend(case, loss, P_host, y_host)
    class_weight = {0: 0.5, 1: 2.0, 2: 1.5, 3: 3.0}
    w = loss.class_sample_weights(xp, y, class_weight, case.dtype)
    labels = torch.tensor(y_host.argmax(axis=1) if y_host.ndim == 2 else y_host)
    p = torch.tensor(P_host, requires_grad=True)
    logp = F.log_softmax(p, dim=1) if base.from_logits else _rescaled_log(p)
    cw = torch.tensor([class_weight[c] for c in range(C)], dtype=torch.float64)
    expected = F.nll_loss(logp, labels, weight=cw, reduction="sum")
    if reduction == "sum_over_batch_size":  # torch's weighted mean divides by Σw, Keras by n
        expected = F.nll_loss(logp, labels, weight=cw) * cw[labels].sum() / N
    (expected_grad,) = torch.autograd.grad(expected, p)
    case.assert_close(float(loss.value(xp, y, P, w)), expected.item())
    case.assert_close(case.to_numpy(loss.gradient(xp, y, P, w)), expected_grad.numpy())


@pytest.mark.parametrize("shape", [(N + 1,), (1, N), (N, 2), (N, 1, 1)])
def test_sample_weight_of_the_wrong_shape_is_refused(case, shape):
    loss, P_host, y_host, _ = _problems()["sparse"]
    xp, y, P = _on_backend(case, loss, P_host, y_host)
    w = case.asarray(np.ones(shape))
    pattern = rf"shape \({N},\) or \({N}, 1\).*\({N}, {C}\).*got shape {re.escape(str(shape))}"
    with pytest.raises(ValueError, match=pattern):
        loss.value(xp, y, P, w)
    with pytest.raises(ValueError, match=pattern):
        loss.gradient(xp, y, P, w)
    with pytest.raises(ValueError, match=pattern):
        loss.logits_gradient(xp, y, P, w)


def test_sample_weight_in_another_dtype_is_cast_to_the_output_dtype():
    import array_api_compat.numpy as xp

    loss = MeanSquaredError()
    P, y = np.ones((3, 2), dtype=np.float32), np.zeros((3, 2), dtype=np.float32)
    w = np.array([1.0, 2.0, 3.0])  # float64
    assert loss.gradient(xp, y, P, w).dtype == np.float32
    assert loss.value(xp, y, P, w).dtype == np.float32
    np.testing.assert_allclose(float(loss.value(xp, y, P, w)), 2.0)


def test_calling_a_loss_takes_sample_weight(case):
    loss = MeanSquaredError()
    y, P, w = np.zeros((2, 1)), np.array([[1.0], [2.0]]), np.array([3.0, 0.5])
    value = loss(case.asarray(y), case.asarray(P), sample_weight=case.asarray(w))
    case.assert_close(float(value), (3.0 * 1.0 + 0.5 * 4.0) / 2)


# -- class weights --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("loss", "targets", "expected"),
    [
        (SparseCategoricalCrossentropy(), np.array([0, 2, 1, 2, 3]), [1.0, 3.0, 0.5, 3.0, 1.0]),
        (CategoricalCrossentropy(), np.eye(4)[[0, 2, 1, 2, 3]], [1.0, 3.0, 0.5, 3.0, 1.0]),
        (BinaryCrossentropy(), np.array([0.0, 1.0, 1.0, 0.0, 1.0]), [1.0, 0.5, 0.5, 1.0, 0.5]),
        (BinaryCrossentropy(), np.array([0.2, 0.9, 0.6, 0.4, 0.7]), [1.0, 0.5, 0.5, 1.0, 0.5]),
        (Hinge(), np.array([-1.0, 1.0, 1.0, -1.0, 1.0]), [1.0, 0.5, 0.5, 1.0, 0.5]),
        (Hinge(), np.array([0.0, 1.0, 1.0, 0.0, 1.0]), [1.0, 0.5, 0.5, 1.0, 0.5]),
        (MeanSquaredError(), np.array([0.0, 1.0, 1.0, 0.0, 1.0]), [1.0, 0.5, 0.5, 1.0, 0.5]),
    ],
    ids=["sparse", "one-hot", "binary", "binary-soft", "hinge", "hinge-01", "mse"],
)
def test_class_sample_weights(case, loss, targets, expected):
    # class 3 and, for binary, class 0 are missing from the dict: weight 1, as in Keras
    class_weight = {1: 0.5, 2: 3.0} if targets.ndim == 2 or targets.dtype.kind == "i" else {1: 0.5}
    b = case.resolve()
    units = targets.shape[1] if targets.ndim == 2 else (4 if loss.sparse_targets else 1)
    y_dtype = "int64" if targets.dtype.kind == "i" else case.dtype
    y = loss.prepare_targets(b.xp, case.asarray(targets, y_dtype), (None, units), case.dtype)
    w = loss.class_sample_weights(b.xp, y, class_weight, case.dtype)
    assert w.dtype == b.dtype(case.dtype)
    assert str(array_api_compat.device(w)) == str(array_api_compat.device(y))
    np.testing.assert_array_equal(case.to_numpy(w), np.array(expected, dtype=case.dtype))


def test_class_sample_weights_default_to_the_targets_dtype():
    import array_api_compat.numpy as xp

    loss = BinaryCrossentropy()
    assert loss.class_sample_weights(xp, np.zeros((3, 1)), {0: 2.0}).dtype == np.float64
    sparse = SparseCategoricalCrossentropy()
    w = sparse.class_sample_weights(xp, np.array([0, 1, 1]), {np.int64(1): 2})
    assert w.dtype == np.float32
    np.testing.assert_array_equal(w, [1.0, 2.0, 2.0])


@pytest.mark.parametrize(
    ("class_weight", "error", "pattern"),
    [
        ([1.0, 2.0], TypeError, r"dict \{class_index: weight\}, got list"),
        ({"a": 1.0}, TypeError, r"integer class indices, got 'a'"),
        ({1.0: 1.0}, TypeError, r"integer class indices, got 1.0"),
        ({True: 1.0}, TypeError, r"integer class indices, got True"),
        ({0: "2"}, TypeError, r"class_weight\[0\] must be a number, got '2'"),
        ({0: -1.0}, ValueError, r"class_weight\[0\] must be a finite number >= 0, got -1.0"),
        ({0: float("nan")}, ValueError, r"finite number >= 0, got nan"),
    ],
)
def test_bad_class_weight_is_refused(class_weight, error, pattern):
    import array_api_compat.numpy as xp

    with pytest.raises(error, match=pattern):
        SparseCategoricalCrossentropy().class_sample_weights(xp, np.array([0, 1]), class_weight)


# -- configs --------------------------------------------------------------------------


ALL_LOSSES = [
    MeanSquaredError(), SumSquaredError(), MeanSquaredError(reduction="sum", name="my_mse"),
    MeanAbsoluteError(), Huber(delta=0.25), LogCosh(), Hinge(), SquaredHinge(),
    CategoricalHinge(), KLDivergence(reduction="sum"), BinaryCrossentropy(from_logits=True),
    CategoricalCrossentropy(), SparseCategoricalCrossentropy(from_logits=True, name="sce"),
    BinaryCrossentropy(label_smoothing=0.1, reduction=None),
    CategoricalCrossentropy(label_smoothing=0.2, reduction="mean_with_sample_weight"),
    SparseCategoricalCrossentropy(ignore_class=255), MeanAbsolutePercentageError(),
    MeanSquaredLogarithmicError(reduction="sum"), Poisson(), CosineSimilarity(name="cos"),
    BinaryFocalCrossentropy(apply_class_balancing=True, alpha=0.4, gamma=1.0, from_logits=True),
    CategoricalFocalCrossentropy(alpha=[0.2, 0.8], gamma=0.5, label_smoothing=0.1),
]


@pytest.mark.parametrize("loss", ALL_LOSSES, ids=repr)
def test_config_rebuilds_the_loss(loss):
    config = loss.get_config()
    assert json.loads(json.dumps(config)) == config
    rebuilt = type(loss)(**config)
    assert rebuilt.get_config() == config
    assert rebuilt.name == loss.name and rebuilt.reduction == loss.reduction


@pytest.mark.parametrize("loss", ALL_LOSSES, ids=repr)
def test_serialize_and_get_round_trip(loss):
    data = json.loads(json.dumps(losses.serialize(loss)))
    assert data["class_name"] == type(loss).__name__
    rebuilt = fx.losses.get(data)
    assert type(rebuilt) is type(loss) and rebuilt.get_config() == loss.get_config()


def test_every_registered_loss_has_a_config_that_rebuilds_it():
    for cls in set(losses.LOSSES.values()):
        loss = cls()
        assert type(fx.losses.get(losses.serialize(loss))) is cls
        assert cls(**loss.get_config()).get_config() == loss.get_config()


def test_get_accepts_a_registered_name_as_class_name():
    loss = fx.losses.get({"class_name": "huber", "config": {"delta": 3.0}})
    assert type(loss) is Huber and loss.delta == 3.0
    assert type(fx.losses.get({"class_name": "Hinge"})) is Hinge


@pytest.mark.parametrize(
    ("config", "error", "pattern"),
    [
        ({"class_name": "NoSuchLoss", "config": {}}, ValueError,
         r"unknown loss class 'NoSuchLoss'.*'Huber'"),
        ({"config": {}}, ValueError, "'class_name' and 'config'"),
        ({"class_name": "Huber", "config": [1.0]}, ValueError, "must be a dict.*got .*'config': \\[1.0\\]"),
        ({"class_name": "Huber", "config": {"alpha": 1.0}}, TypeError, "alpha"),
    ],
)
def test_get_refuses_bad_configs(config, error, pattern):
    with pytest.raises(error, match=pattern):
        fx.losses.get(config)


def test_serialize_refuses_what_is_not_a_loss():
    with pytest.raises(TypeError, match="needs a Loss, got str"):
        losses.serialize("mse")
