"""Losses the Keras 3 way: Keras's own test vectors (keras/src/losses/losses_test.py) called as
``loss(y_true, y_pred, sample_weight)`` on every backend, the reductions (``None``, ``"sum"``,
``"mean_with_sample_weight"``), scalar and ``(n, 1)`` sample weights, label smoothing,
``ignore_class`` (value, gradient and the mean's denominator, against ``torch``'s
``ignore_index``), the rescaling of probabilities that do not sum to 1, the focal losses'
edge cases, and these losses in ``compile``/``fit``.
"""

from __future__ import annotations

import numpy as np
import pytest

import flexnet as fx
from flexnet.gradcheck import numerical_gradient, relative_error
from flexnet.losses import (
    BinaryCrossentropy,
    BinaryFocalCrossentropy,
    CategoricalCrossentropy,
    CategoricalFocalCrossentropy,
    CosineSimilarity,
    MeanAbsolutePercentageError,
    MeanSquaredError,
    MeanSquaredLogarithmicError,
    Poisson,
    SparseCategoricalCrossentropy,
)

torch = pytest.importorskip("torch")
F = torch.nn.functional

# Keras's recurring example batches.
Y_REG, P_REG = [[1, 9, 2], [-5, -2, 6]], [[4, 8, 12], [8, 1, 3]]
Y_ONEHOT = [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
P_CAT = [[0.9, 0.05, 0.05], [0.5, 0.89, 0.6], [0.05, 0.01, 0.94]]  # rows do not sum to 1
Z_CAT = [[8.0, 1.0, 1.0], [0.0, 9.0, 1.0], [2.0, 3.0, 5.0]]
Y_BIN, P_BIN = [[1, 0], [1, 0]], [[0.9, 0.8], [0.7, 0.2]]
Y_BIN3, Z_BIN3 = [[1, 1, 0], [0, 1, 0]], [[1.5, -2.7, 2.9], [-3.8, 1.2, -4.5]]
COLUMN_WEIGHTS = [[1.2], [3.4]]


def _cosine(y, p):
    y, p = np.asarray(y, float), np.asarray(p, float)
    return np.sum(y * p, axis=1) / np.linalg.norm(y, axis=1) / np.linalg.norm(p, axis=1)


def _poisson(y, p):
    y, p = np.asarray(y, float), np.asarray(p, float)
    return np.mean(p - y * np.log(p), axis=1)


# (id, loss, y_true, y_pred, sample_weight, expected, decimals): keras/src/losses/losses_test.py
# and the losses' docstrings, compared to the decimals Keras's tests use (3 by default).
KERAS_VECTORS = [
    ("mse", MeanSquaredError(), Y_REG, P_REG, None, 49.5, 3),
    ("mse-scalar", MeanSquaredError(), Y_REG, P_REG, 2.3, 113.85, 3),
    ("mse-column", MeanSquaredError(), Y_REG, P_REG, COLUMN_WEIGHTS, 767.8 / 6, 3),
    ("mse-zero", MeanSquaredError(), Y_REG, P_REG, 0, 0.0, 6),
    ("mse-none", MeanSquaredError(reduction=None), Y_REG, P_REG, 2.3, [84.3333, 143.3666], 3),
    ("mse-sum", MeanSquaredError(reduction="sum"), Y_REG, P_REG, 2.3, 227.69998, 3),
    ("mse-mean-with-weight", MeanSquaredError(reduction="mean_with_sample_weight"), Y_REG, P_REG,
     COLUMN_WEIGHTS, (110 / 3 * 1.2 + 187 / 3 * 3.4) / (1.2 + 3.4), 3),
    ("mape", MeanAbsolutePercentageError(), Y_REG, P_REG, None, 211.8518, 3),
    ("mape-scalar", MeanAbsolutePercentageError(), Y_REG, P_REG, 2.3, 487.259, 3),
    ("mape-column", MeanAbsolutePercentageError(), Y_REG, P_REG, COLUMN_WEIGHTS, 422.8888, 3),
    ("mape-none", MeanAbsolutePercentageError(reduction=None), Y_REG, P_REG, 2.3,
     [621.8518, 352.6666], 3),
    ("mape-mean-with-weight", MeanAbsolutePercentageError(reduction="mean_with_sample_weight"),
     Y_REG, P_REG, COLUMN_WEIGHTS, 183.865, 3),
    ("mape-docstring", MeanAbsolutePercentageError(), [100.0, 200.0, 300.0], [90.0, 210.0, 310.0],
     None, 6.111111, 5),
    ("msle", MeanSquaredLogarithmicError(), Y_REG, P_REG, None, 1.4370, 3),
    ("msle-scalar", MeanSquaredLogarithmicError(), Y_REG, P_REG, 2.3, 3.3051, 3),
    ("msle-column", MeanSquaredLogarithmicError(), Y_REG, P_REG, COLUMN_WEIGHTS, 3.7856, 3),
    ("msle-mean-with-weight", MeanSquaredLogarithmicError(reduction="mean_with_sample_weight"),
     Y_REG, P_REG, COLUMN_WEIGHTS, 1.646, 3),
    ("cosine", CosineSimilarity(), Y_REG, P_REG, None, -np.mean(_cosine(Y_REG, P_REG)), 6),
    ("cosine-weighted", CosineSimilarity(), Y_REG, P_REG, [1.2, 3.4],
     -np.mean(_cosine(Y_REG, P_REG) * [1.2, 3.4]), 6),
    ("cosine-docstring", CosineSimilarity(reduction=None), [[0.0, 1.0], [1.0, 1.0], [1.0, 1.0]],
     [[1.0, 0.0], [1.0, 1.0], [-1.0, -1.0]], None, [0.0, -1.0, 1.0], 6),
    ("poisson", Poisson(), P_REG, [[1, 9, 2], [5, 2, 6]], None,
     np.mean(_poisson(P_REG, [[1, 9, 2], [5, 2, 6]])), 3),
    ("poisson-column", Poisson(), P_REG, [[1, 9, 2], [5, 2, 6]], COLUMN_WEIGHTS,
     np.mean(_poisson(P_REG, [[1, 9, 2], [5, 2, 6]]) * [1.2, 3.4]), 3),
    ("bce", BinaryCrossentropy(), Y_ONEHOT, [[0.9, 0.1, 0.2], [0.3, 0.8, 0.1], [0.1, 0.2, 0.7]], None,
     0.20046903, 5),
    ("bce-logits-none", BinaryCrossentropy(from_logits=True, reduction=None), [[1, 0, 1], [0, 1, 1]],
     [[10.0, -10.0, 10.0], [10.0, 10.0, -10.0]], None, [0.0, 6.666], 3),
    ("bce-logits-smoothing", BinaryCrossentropy(from_logits=True, label_smoothing=0.1), [[1, 0, 1]],
     [[10.0, -10.0, -10.0]], None, (10.0 + 5.0 * 0.1) / 3.0, 3),
    ("cce", CategoricalCrossentropy(), Y_ONEHOT, P_CAT, None, 0.3239, 3),
    ("cce-logits", CategoricalCrossentropy(from_logits=True), Y_ONEHOT, Z_CAT, None, 0.0573, 3),
    ("cce-scalar", CategoricalCrossentropy(), Y_ONEHOT, P_CAT, 2.3, 0.7449, 3),
    ("cce-column", CategoricalCrossentropy(), Y_ONEHOT, P_CAT, [[1.2], [3.4], [5.6]], 1.0696, 3),
    ("cce-logits-column", CategoricalCrossentropy(from_logits=True), Y_ONEHOT, Z_CAT,
     [[1.2], [3.4], [5.6]], 0.31829, 3),
    ("cce-logits-none", CategoricalCrossentropy(from_logits=True, reduction=None), Y_ONEHOT, Z_CAT,
     None, [0.001822, 0.000459, 0.169846], 5),
    ("cce-logits-smoothing", CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
     [[1, 0, 0]], [[100.0, -100.0, -100.0]], None, 400.0 * 0.1 / 3.0, 3),
    ("sparse", SparseCategoricalCrossentropy(), [0, 1, 2], P_CAT, None, 0.3239, 3),
    ("sparse-column-labels", SparseCategoricalCrossentropy(), [[0], [1], [2]], P_CAT, 2.3, 0.7449, 3),
    ("sparse-logits-column", SparseCategoricalCrossentropy(from_logits=True), [[0], [1], [2]], Z_CAT,
     [[1.2], [3.4], [5.6]], 0.31829, 3),
    ("sparse-ignore-none", SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1,
                                                         reduction=None),
     [-1, 2], [[0.854, 0.698, 0.598], [0.088, 0.86, 0.018]], None, [0.0, 1.480129], 5),
    ("binary-focal", BinaryFocalCrossentropy(gamma=2.0), Y_BIN, P_BIN, None, 0.268, 3),
    ("binary-focal-logits", BinaryFocalCrossentropy(gamma=3.0, from_logits=True), Y_BIN3, Z_BIN3,
     None, 0.799, 3),
    ("binary-focal-scalar", BinaryFocalCrossentropy(gamma=2.0), Y_BIN, P_BIN, 1.23, 0.3296, 3),
    ("binary-focal-logits-scalar", BinaryFocalCrossentropy(gamma=3.0, from_logits=True), Y_BIN3,
     Z_BIN3, 3.21, 2.565, 3),
    ("binary-focal-column", BinaryFocalCrossentropy(gamma=2.0), Y_BIN, P_BIN, COLUMN_WEIGHTS,
     0.34415, 3),
    ("binary-focal-logits-column", BinaryFocalCrossentropy(gamma=3.0, from_logits=True), Y_BIN3,
     Z_BIN3, COLUMN_WEIGHTS, 0.95977, 3),
    ("binary-focal-none", BinaryFocalCrossentropy(gamma=2.0, reduction=None), Y_BIN, P_BIN, None,
     [0.515547, 0.020513], 5),
    ("binary-focal-docstring", BinaryFocalCrossentropy(gamma=2, reduction=None), [[0, 1], [0, 0]],
     [[0.6, 0.4], [0.4, 0.6]], None, [0.330, 0.206], 3),
    ("categorical-focal", CategoricalFocalCrossentropy(), Y_ONEHOT, P_CAT, None, 0.02059, 3),
    ("categorical-focal-logits", CategoricalFocalCrossentropy(from_logits=True), Y_ONEHOT, Z_CAT,
     None, 0.000345, 5),
    ("categorical-focal-scalar", CategoricalFocalCrossentropy(), Y_ONEHOT, P_CAT, 2.3, 0.047368, 3),
    ("categorical-focal-column", CategoricalFocalCrossentropy(), Y_ONEHOT, P_CAT,
     [[1.2], [3.4], [5.6]], 0.06987, 3),
    ("categorical-focal-logits-none", CategoricalFocalCrossentropy(from_logits=True, reduction=None),
     Y_ONEHOT, Z_CAT, None, [1.5096224e-09, 2.4136547e-11, 1.0360638e-03], 8),
    ("categorical-focal-smoothing", CategoricalFocalCrossentropy(from_logits=True, label_smoothing=0.1),
     [[1, 0, 0]], [[4.9, -0.5, 2.05]], None, 0.06685, 3),
    ("categorical-focal-docstring", CategoricalFocalCrossentropy(reduction=None), [[0, 1, 0], [0, 0, 1]],
     [[0.05, 0.9, 0.05], [0.1, 0.85, 0.05]], None, [2.63401289e-04, 6.75912094e-01], 5),
]


@pytest.mark.parametrize("vector", KERAS_VECTORS, ids=[v[0] for v in KERAS_VECTORS])
def test_keras_test_vectors_on_every_backend(case, vector):
    _, loss, y, p, w, expected, decimals = vector
    y_pred = case.asarray(np.asarray(p, dtype=float))
    weights = w if w is None or np.isscalar(w) else case.asarray(np.asarray(w, dtype=float))
    value = case.to_numpy(loss(np.asarray(y), y_pred, sample_weight=weights))
    assert value.shape == np.shape(expected)
    np.testing.assert_almost_equal(value, expected, decimal=decimals)


# -- reductions and sample weights in direct calls ---------------------------------------------


def test_reductions_follow_keras(case):
    y, p = np.asarray(Y_REG, float), np.asarray(P_REG, float)
    w = np.array([1.2, 3.4])
    per_sample = np.mean((y - p) ** 2, axis=1)
    expected = {
        "sum_over_batch_size": np.sum(w * per_sample) / 2, "mean": np.sum(w * per_sample) / 2,
        "sum": np.sum(w * per_sample), "mean_with_sample_weight": np.sum(w * per_sample) / np.sum(w),
    }
    for reduction, value in expected.items():
        loss = MeanSquaredError(reduction=reduction)
        case.assert_close(float(loss(case.asarray(y), case.asarray(p), case.asarray(w))), value)
    for none in (None, "none"):
        loss = MeanSquaredError(reduction=none)
        assert loss.reduction is None and not loss.reduces
        case.assert_close(case.to_numpy(loss(case.asarray(y), case.asarray(p), case.asarray(w))),
                          w * per_sample)


def test_mean_with_sample_weight_gradient_matches_central_differences(case64):
    loss = CategoricalCrossentropy(reduction="mean_with_sample_weight", label_smoothing=0.1)
    b = case64.resolve()
    rng = np.random.default_rng(3)
    P_host, y = rng.uniform(0.1, 0.9, (5, 3)), np.eye(3)[rng.integers(0, 3, 5)]
    w = b.from_numpy(rng.uniform(0.0, 2.0, 5), "float64")
    yd = loss.prepare_targets(b.xp, b.from_numpy(y, "float64"), (5, 3), "float64")
    analytic = b.to_numpy(loss.gradient(b.xp, yd, b.from_numpy(P_host, "float64"), w))

    def f(p_host):
        return float(loss.value(b.xp, yd, b.from_numpy(p_host, "float64"), w))

    assert relative_error(analytic, numerical_gradient(f, P_host)) < 1e-7


def test_zero_weights_give_zero_and_never_nan(case):
    y, p = case.asarray(np.asarray(Y_REG, float)), case.asarray(np.asarray(P_REG, float))
    for reduction in ("sum_over_batch_size", "sum", "mean_with_sample_weight"):
        loss = MeanSquaredError(reduction=reduction)
        assert float(loss(y, p, sample_weight=case.asarray(np.zeros(2)))) == 0.0
        b = case.resolve()
        grad = case.to_numpy(loss.gradient(b.xp, y, p, case.asarray(np.zeros(2))))
        assert np.all(grad == 0.0)


def test_scalar_column_and_vector_weights_agree(case):
    loss = BinaryCrossentropy(label_smoothing=0.05)
    y, p = np.asarray(Y_ONEHOT, float), np.asarray(P_CAT, float)
    vector = float(loss(y, case.asarray(p), case.asarray(np.full(3, 2.5))))
    assert float(loss(y, case.asarray(p), 2.5)) == pytest.approx(vector, rel=case.rtol)
    assert float(loss(y, case.asarray(p), case.asarray(np.full((3, 1), 2.5)))) == pytest.approx(
        vector, rel=case.rtol)
    assert float(loss(y, case.asarray(p), np.float32(2.5))) == pytest.approx(vector, rel=case.rtol)


def test_direct_calls_take_lists_host_targets_and_one_dimensional_predictions(case):
    loss = MeanSquaredError()
    p = case.asarray(np.array([1.0, 2.0, 4.0]))  # three samples of one output
    for y in ([[1.0], [1.0], [1.0]], np.array([1.0, 1.0, 1.0])):
        case.assert_close(float(loss(y, p)), (0.0 + 1.0 + 9.0) / 3)
    assert float(MeanSquaredError()([0, 1], [0.5, 0.5])) == pytest.approx(0.25)
    assert float(MeanSquaredError()(1.0, 0.5)) == pytest.approx(0.25)  # numbers: one sample
    assert fx.metrics.BinaryAccuracy()(1, 0.7) == 1.0
    per_sample = MeanSquaredError(reduction=None)(np.array([[1.0], [1.0], [1.0]]), p)
    assert tuple(per_sample.shape) == (3,)


@pytest.mark.parametrize(("y_shape", "p_shape"), [((4, 2), (4, 3)), ((5, 3), (4, 3)), ((4,), (4, 3))])
def test_direct_calls_refuse_targets_that_do_not_fit(y_shape, p_shape):
    with pytest.raises(ValueError, match=r"targets of shape .* do not fit"):
        MeanSquaredError()(np.zeros(y_shape), np.zeros(p_shape))


def test_compile_refuses_reduction_none():
    model = fx.Sequential([fx.layers.Dense(1, input_dim=2)])
    with pytest.raises(ValueError, match=r"reduction=None.*per-sample.*'sum_over_batch_size'"):
        model.compile(optimizer="sgd", loss=MeanSquaredError(reduction=None))
    with pytest.raises(ValueError, match=r"loss 'mean_squared_error' has reduction=None"):
        model.compile(optimizer="sgd", loss=[MeanSquaredError(reduction="none")])


def test_fit_with_mean_with_sample_weight_logs_the_batch_size_weighted_mean(case):
    rng = np.random.default_rng(4)
    X, y, w = rng.normal(size=(10, 3)), rng.normal(size=(10, 1)), rng.uniform(0.5, 2.0, 10)
    model = case.model([fx.layers.Dense(1, input_dim=3)])
    model.compile(optimizer=fx.optimizers.SGD(0.0),
                  loss=MeanSquaredError(reduction="mean_with_sample_weight"))
    logs = model.evaluate(X, y, sample_weight=w, batch_size=4, return_dict=True)
    P = model.predict(X)[:, 0]
    batches = [slice(0, 4), slice(4, 8), slice(8, 10)]
    per_batch = [np.sum(w[s] * (P[s] - y[s, 0]) ** 2) / np.sum(w[s]) for s in batches]
    expected = sum(len(range(10)[s]) * v for s, v in zip(batches, per_batch)) / 10
    assert logs["loss"] == pytest.approx(expected, rel=10 * case.rtol)


# -- label smoothing -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["binary", "categorical"])
def test_label_smoothing_in_a_model_matches_torch_autograd(case64, kind):
    """The fused sigmoid/softmax path smooths the targets too: a whole network's gradients."""
    rng = np.random.default_rng(5)
    units = 1 if kind == "binary" else 3
    weights = [rng.normal(size=(4, 5)), rng.normal(size=5), 4.0 * rng.normal(size=(5, units)),
               rng.normal(size=units)]
    X = rng.normal(size=(8, 4))
    labels = rng.integers(0, units if units > 1 else 2, size=8)
    s = 0.2
    if kind == "binary":
        y, loss, activation = labels[:, None].astype(float), BinaryCrossentropy(label_smoothing=s), "sigmoid"
    else:
        y, loss, activation = np.eye(3)[labels], CategoricalCrossentropy(label_smoothing=s), "softmax"
    model = case64.model([fx.layers.Dense(5, activation="tanh", input_dim=4),
                          fx.layers.Dense(units, activation=activation)])
    model.compile(optimizer="sgd", loss=loss)
    model.set_weights(weights)
    value, grads = model.compute_gradients(X, y, training=False)
    W1, b1, W2, b2 = (torch.tensor(w, requires_grad=True) for w in weights)
    z = torch.tanh(torch.tensor(X) @ W1 + b1) @ W2 + b2
    if kind == "binary":
        expected = F.binary_cross_entropy_with_logits(z, torch.tensor(y) * (1 - s) + s / 2)
    else:
        expected = F.cross_entropy(z, torch.tensor(labels), label_smoothing=s)
    expected_grads = torch.autograd.grad(expected, [W1, b1, W2, b2])
    np.testing.assert_allclose(float(value), expected.item(), rtol=1e-10)
    for grad, ref in zip(grads, expected_grads):
        np.testing.assert_allclose(case64.to_numpy(grad), ref.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan")])
def test_label_smoothing_outside_0_1_is_refused(bad):
    with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\]"):
        BinaryCrossentropy(label_smoothing=bad)
    with pytest.raises(TypeError, match="label_smoothing must be a number"):
        CategoricalCrossentropy(label_smoothing="0.1")


# -- probabilities that do not sum to one ------------------------------------------------------


@pytest.mark.parametrize("cls", [CategoricalCrossentropy, SparseCategoricalCrossentropy])
def test_rows_are_rescaled_to_sum_to_one(case, cls):
    loss = cls()
    rng = np.random.default_rng(6)
    P = rng.uniform(0.05, 0.95, (6, 4))
    labels = rng.integers(0, 4, 6)
    y = labels if loss.sparse_targets else np.eye(4)[labels]
    xp = case.resolve().xp
    yd = loss.prepare_targets(xp, case.asarray(y, "int64" if loss.sparse_targets else None), (6, 4),
                              case.dtype)
    Pd = case.asarray(P)
    value = float(loss.value(xp, yd, Pd))
    case.assert_close(value, -np.mean(np.log(P[np.arange(6), labels] / P.sum(axis=1))))
    case.assert_close(float(loss.value(xp, yd, Pd * 3.0)), value)  # invariant to the scale of a row
    grad = case.to_numpy(loss.gradient(xp, yd, Pd))
    case.assert_close(np.sum(grad * P, axis=1), np.zeros(6))  # no component along the row itself


# -- ignore_class --------------------------------------------------------------------------------


IGNORED = np.array([0, -1, 2, 3, -1, 1, 2, 0])


@pytest.mark.parametrize("from_logits", [True, False])
@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum"])
def test_ignore_class_matches_torch_ignore_index(case64, from_logits, reduction):
    loss = SparseCategoricalCrossentropy(from_logits=from_logits, ignore_class=-1, reduction=reduction)
    rng = np.random.default_rng(7)
    P_host = 2.0 * rng.normal(size=(8, 4)) if from_logits else rng.uniform(0.05, 0.95, (8, 4))
    b = case64.resolve()
    y = loss.prepare_targets(b.xp, case64.asarray(IGNORED, "int64"), (8, 4), "float64")
    P = case64.asarray(P_host)
    p = torch.tensor(P_host, requires_grad=True)
    logp = F.log_softmax(p, dim=1) if from_logits else torch.log(p / p.sum(dim=1, keepdim=True))
    expected = F.nll_loss(logp, torch.tensor(IGNORED), ignore_index=-1,
                          reduction="mean" if reduction != "sum" else "sum")
    (expected_grad,) = torch.autograd.grad(expected, p)
    case64.assert_close(float(loss.value(b.xp, y, P)), expected.item())
    grad = case64.to_numpy(loss.gradient(b.xp, y, P))
    case64.assert_close(grad, expected_grad.numpy())
    assert np.all(grad[IGNORED == -1] == 0.0)

    def f(p_host):
        return float(loss.value(b.xp, y, b.from_numpy(p_host, "float64")))

    assert relative_error(grad, numerical_gradient(f, P_host)) < 1e-7


def test_ignore_class_with_sample_weights_divides_by_the_samples_that_count(case):
    loss = SparseCategoricalCrossentropy(from_logits=True, ignore_class=255)
    rng = np.random.default_rng(8)
    Z, w = rng.normal(size=(5, 3)), rng.uniform(0.5, 2.0, 5)
    labels = np.array([0, 255, 2, 1, 255])
    keep = labels != 255
    logp = Z - np.log(np.exp(Z).sum(axis=1, keepdims=True))
    per_sample = -logp[np.arange(5), np.where(keep, labels, 0)]
    value = float(loss(labels, case.asarray(Z), case.asarray(w)))
    case.assert_close(value, np.sum((w * per_sample)[keep]) / keep.sum())  # Keras: / 3, not / 5
    mean_w = SparseCategoricalCrossentropy(from_logits=True, ignore_class=255,
                                           reduction="mean_with_sample_weight")
    case.assert_close(float(mean_w(labels, case.asarray(Z), case.asarray(w))),
                      np.sum((w * per_sample)[keep]) / np.sum(w[keep]))
    everything_ignored = float(loss(np.full(5, 255), case.asarray(Z)))
    assert everything_ignored == 0.0


def test_ignore_class_goes_through_the_fused_softmax(case):
    rng = np.random.default_rng(9)
    X = rng.normal(size=(12, 3))
    labels = rng.integers(0, 3, 12)
    labels[::4] = -1
    model = case.model([fx.layers.Dense(3, input_dim=3, activation="softmax")])
    model.compile(optimizer="sgd", loss=SparseCategoricalCrossentropy(ignore_class=-1),
                  metrics=["accuracy"])
    assert model._trainer.setup()[0].heads[0].fused.ignore_class == -1
    loss, grads = model.compute_gradients(X, labels)
    P = model.predict(X)
    keep = labels != -1
    expected = -np.mean(np.log(P[np.arange(12), np.where(keep, labels, 0)][keep]))
    assert float(loss) == pytest.approx(expected, rel=10 * case.rtol)
    changed = labels.copy()
    changed[~keep] = 0  # what the ignored samples are labelled does not matter
    model2 = case.model([fx.layers.Dense(3, input_dim=3, activation="softmax")])
    model2.compile(optimizer="sgd", loss=SparseCategoricalCrossentropy(ignore_class=-1))
    model2.set_weights(model.get_weights())
    X_changed = np.where(keep[:, None], X, 100.0)
    loss2, grads2 = model2.compute_gradients(X_changed, labels)
    assert float(loss2) == pytest.approx(float(loss), rel=10 * case.rtol)
    for g, g2 in zip(grads, grads2):
        case.assert_close(case.to_numpy(g2), case.to_numpy(g))


def test_ignore_class_is_checked():
    with pytest.raises(TypeError, match="ignore_class must be an int or None"):
        SparseCategoricalCrossentropy(ignore_class=1.5)
    loss = SparseCategoricalCrossentropy(ignore_class=-1)
    with pytest.raises(ValueError, match=r"\[0, 2\].*besides ignore_class=-1.*\[0, 3\]"):
        loss(np.array([0, -1, 3]), np.full((3, 3), 1 / 3))


# -- focal losses ---------------------------------------------------------------------------------


def test_focal_losses_without_focus_are_the_cross_entropies(case):
    rng = np.random.default_rng(10)
    P, Z = rng.uniform(0.05, 0.95, (6, 3)), 2.0 * rng.normal(size=(6, 3))
    y_bin, y_cat = np.round(rng.random((6, 3))), np.eye(3)[rng.integers(0, 3, 6)]
    pairs = [
        (BinaryFocalCrossentropy(gamma=0.0), BinaryCrossentropy(), y_bin, P),
        (BinaryFocalCrossentropy(gamma=0.0, label_smoothing=0.2), BinaryCrossentropy(label_smoothing=0.2),
         y_bin, P),
        (CategoricalFocalCrossentropy(alpha=1.0, gamma=0.0), CategoricalCrossentropy(), y_cat, P),
        (CategoricalFocalCrossentropy(alpha=1.0, gamma=0.0, from_logits=True),
         CategoricalCrossentropy(from_logits=True), y_cat, Z),
    ]
    xp = case.resolve().xp
    for focal, plain, y, p in pairs:
        yd = focal.prepare_targets(xp, case.asarray(y), (6, 3), case.dtype)
        pd = case.asarray(p)
        case.assert_close(float(focal.value(xp, yd, pd)), float(plain.value(xp, yd, pd)))
        case.assert_close(case.to_numpy(focal.gradient(xp, yd, pd)),
                          case.to_numpy(plain.gradient(xp, yd, pd)))


def test_focal_losses_are_finite_at_certain_predictions(case):
    xp = case.resolve().xp
    y = case.asarray(np.array([[1.0, 0.0], [0.0, 1.0]]))
    for loss in (BinaryFocalCrossentropy(gamma=0.5), BinaryFocalCrossentropy(gamma=2.0),
                 CategoricalFocalCrossentropy(gamma=0.5)):
        for P in ([[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [1.0, 0.0]]):
            Pd = case.asarray(np.array(P))
            assert np.isfinite(float(loss.value(xp, y, Pd)))
            assert np.all(np.isfinite(case.to_numpy(loss.gradient(xp, y, Pd))))


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: BinaryFocalCrossentropy(gamma=-1.0), ValueError, "gamma must be a finite number >= 0"),
        (lambda: BinaryFocalCrossentropy(alpha=1.5), ValueError, r"alpha must be in \[0, 1\]"),
        (lambda: BinaryFocalCrossentropy(apply_class_balancing=1), TypeError, "True or False"),
        (lambda: CategoricalFocalCrossentropy(alpha=[]), ValueError, "non-empty list"),
        (lambda: CategoricalFocalCrossentropy(alpha=[0.5, -1.0]), ValueError, "alpha must be a finite"),
        (lambda: CategoricalFocalCrossentropy(gamma="2"), TypeError, "gamma must be a number"),
    ],
)
def test_focal_arguments_are_checked(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_categorical_focal_alpha_list_must_match_the_classes():
    loss = CategoricalFocalCrossentropy(alpha=[0.2, 0.8])
    with pytest.raises(ValueError, match="alpha has 2 entries for an output of 3 classes"):
        loss(np.eye(3), np.full((3, 3), 1 / 3))


@pytest.mark.parametrize("loss", ["binary_focal_crossentropy", "poisson", "msle", "mape"])
def test_new_losses_train_a_model(case, loss):
    rng = np.random.default_rng(11)
    X = rng.normal(size=(32, 4))
    y = (X[:, :1] > 0).astype(float) if "focal" in loss else np.exp(0.3 * X[:, :1]) + 0.5
    activation = "sigmoid" if "focal" in loss else "softplus"
    model = case.model([fx.layers.Dense(8, input_dim=4, activation="tanh"),
                        fx.layers.Dense(1, activation=activation)])
    model.compile(optimizer=fx.optimizers.Adam(0.05), loss=loss)
    history = model.fit(X, y, epochs=15, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
