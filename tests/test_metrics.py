"""Metrics: values on every backend against NumPy, accumulation over batches, ``"accuracy"``
resolved from the loss (directly and through compile/fit/evaluate), and unknown names.
"""

from __future__ import annotations

import numpy as np
import pytest

import flexnet as fx
from flexnet.layers import Dense
from flexnet.metrics import (
    BinaryAccuracy,
    CategoricalAccuracy,
    MeanAbsoluteError,
    MeanSquaredError,
    SparseCategoricalAccuracy,
)

N, C = 60, 4


def _probabilities(seed: int, n: int = N, k: int = C) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.0, 1.0, size=(n, k))


def _labels(seed: int, n: int = N, k: int = C) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, k, size=n)


def _one_hot(labels: np.ndarray, k: int = C) -> np.ndarray:
    return np.eye(k)[labels]


# Per metric: (metric factory, host targets, dtype of the targets on the device,
# expected value computed in NumPy from host targets and predictions).
def _binary_case():
    y = np.random.default_rng(11).integers(0, 2, size=(N, 3)).astype(float)
    return y, None, lambda y, P: np.mean((P > 0.5).astype(float) == y)


def _binary_threshold_case():
    y = np.random.default_rng(12).integers(0, 2, size=(N, 3)).astype(float)
    return y, None, lambda y, P: np.mean((P > 0.3).astype(float) == y)


def _categorical_case():
    return _one_hot(_labels(13)), None, lambda y, P: np.mean(P.argmax(1) == y.argmax(1))


def _sparse_case():
    return _labels(14), "int64", lambda y, P: np.mean(P.argmax(1) == y)


def _mse_case():
    y = np.random.default_rng(15).normal(size=(N, C))
    return y, None, lambda y, P: np.mean((P - y) ** 2)


def _mae_case():
    y = np.random.default_rng(16).normal(size=(N, C))
    return y, None, lambda y, P: np.mean(np.abs(P - y))


METRIC_CASES = {
    "binary_accuracy": (BinaryAccuracy, _binary_case),
    "binary_accuracy_threshold_0.3": (lambda: BinaryAccuracy(threshold=0.3), _binary_threshold_case),
    "categorical_accuracy": (CategoricalAccuracy, _categorical_case),
    "sparse_categorical_accuracy": (SparseCategoricalAccuracy, _sparse_case),
    "mse": (MeanSquaredError, _mse_case),
    "mae": (MeanAbsoluteError, _mae_case),
}


def _setup(case, name):
    make, data = METRIC_CASES[name]
    y, y_dtype, expected = data()
    width = y.shape[1] if y.ndim == 2 else C
    P = _probabilities(17, k=width)
    return make(), case.asarray(y, y_dtype), case.asarray(P), expected(y, P)


@pytest.mark.parametrize("name", list(METRIC_CASES))
def test_metric_matches_numpy(case, name):
    metric, y, P, expected = _setup(case, name)
    metric.update(case.resolve().xp, y, P)
    result = metric.result()
    assert isinstance(result, float)
    assert result == pytest.approx(expected, rel=case.rtol)


@pytest.mark.parametrize("name", list(METRIC_CASES))
def test_metric_accumulated_over_batches_equals_whole_data(case, name):
    metric, y, P, expected = _setup(case, name)
    xp = case.resolve().xp
    for start, stop in [(0, 7), (7, 30), (30, 31), (31, N)]:  # uneven batches
        metric.update(xp, y[start:stop, ...], P[start:stop, ...])
    assert metric.result() == pytest.approx(expected, rel=case.rtol)


def test_reset_forgets_previous_batches(case):
    xp = case.resolve().xp
    P = _probabilities(1)
    y = _one_hot(_labels(2))
    metric = CategoricalAccuracy()
    metric.update(xp, case.asarray(y), case.asarray(P))
    metric.reset()
    assert np.isnan(metric.result())
    metric.update(xp, case.asarray(y[:10]), case.asarray(P[:10]))
    assert metric.result() == pytest.approx(np.mean(P[:10].argmax(1) == y[:10].argmax(1)))


# ---------------------------------------------------------------------------
# "accuracy" chosen from the loss.


@pytest.mark.parametrize(
    ("loss", "units", "cls"),
    [
        ("binary_crossentropy", 1, BinaryAccuracy),
        ("binary_crossentropy", 3, BinaryAccuracy),
        ("categorical_crossentropy", 3, CategoricalAccuracy),
        ("sparse_categorical_crossentropy", 3, SparseCategoricalAccuracy),
        ("mse", 1, BinaryAccuracy),
        ("mse", 3, CategoricalAccuracy),
    ],
)
@pytest.mark.parametrize("alias", ["accuracy", "acc"])
def test_get_accuracy_is_resolved_from_the_loss(loss, units, cls, alias):
    metric = fx.metrics.get(alias, loss=fx.losses.get(loss), output_units=units)
    assert type(metric) is cls
    assert metric.name == alias


def _classification_setup(kind):
    """(layers, loss, host targets, NumPy accuracy of predictions P)."""
    rng = np.random.default_rng(21)
    if kind == "binary":
        y = rng.integers(0, 2, size=(N, 1)).astype(float)
        layers = [Dense(6, input_dim=5, activation="tanh"), Dense(1, activation="sigmoid")]
        return layers, "binary_crossentropy", y, lambda P: np.mean((P > 0.5) == (y > 0.5))
    labels = rng.integers(0, 3, size=N)
    layers = [Dense(6, input_dim=5, activation="tanh"), Dense(3, activation="softmax")]
    if kind == "categorical":
        y = _one_hot(labels, 3)
        return layers, "categorical_crossentropy", y, lambda P: np.mean(P.argmax(1) == labels)
    return layers, "sparse_categorical_crossentropy", labels, lambda P: np.mean(
        P.argmax(1) == labels
    )


EXPECTED_ACCURACY = {
    "binary": BinaryAccuracy,
    "categorical": CategoricalAccuracy,
    "sparse": SparseCategoricalAccuracy,
}


@pytest.mark.parametrize("kind", list(EXPECTED_ACCURACY))
def test_compile_accuracy_follows_the_loss_in_fit_history(case, kind):
    layers, loss, y, accuracy = _classification_setup(kind)
    X = np.random.default_rng(22).normal(size=(N, 5))
    model = case.model(layers)
    model.compile(optimizer=fx.optimizers.SGD(0.1), loss=loss, metrics=["accuracy"])
    before = model.predict(X)  # one full batch without shuffling: fit scores these outputs
    history = model.fit(X, y, batch_size=N, epochs=1, shuffle=False, verbose=0)
    assert set(history.history) == {"loss", "accuracy"}
    assert [type(m) for m in model.metrics] == [EXPECTED_ACCURACY[kind]]
    assert history.history["accuracy"][0] == pytest.approx(accuracy(before), rel=case.rtol)


@pytest.mark.parametrize("kind", list(EXPECTED_ACCURACY))
def test_evaluate_reports_accuracy_of_predictions(case, kind):
    layers, loss, y, accuracy = _classification_setup(kind)
    X = np.random.default_rng(23).normal(size=(N, 5))
    model = case.model(layers)
    dense_targets = kind != "sparse"
    model.compile(optimizer="sgd", loss=loss, metrics=["accuracy"] + ["mse"] * dense_targets)
    logs = model.evaluate(X, y, batch_size=16, return_dict=True)  # 16 does not divide 60
    P = model.predict(X)
    assert logs["accuracy"] == pytest.approx(accuracy(P), rel=case.rtol)
    if dense_targets:
        assert logs["mse"] == pytest.approx(np.mean((P - y) ** 2), rel=1e-4)


def test_fit_history_has_metric_names_and_validation_twins():
    rng = np.random.default_rng(24)
    X, y = rng.normal(size=(N, 5)), rng.normal(size=(N, 2))
    model = fx.Sequential([Dense(2, input_dim=5)])
    model.compile(optimizer="sgd", loss="mse", metrics=["mae", MeanSquaredError(name="my_mse")])
    history = model.fit(X, y, epochs=2, validation_split=0.25, verbose=0)
    assert set(history.history) == {
        "loss", "mae", "my_mse", "val_loss", "val_mae", "val_my_mse",
    }
    assert all(len(v) == 2 for v in history.history.values())


# ---------------------------------------------------------------------------
# Unknown names.


def test_get_unknown_metric_lists_valid_names():
    with pytest.raises(ValueError, match="nope") as info:
        fx.metrics.get("nope")
    for name in ("accuracy", "binary_accuracy", "categorical_accuracy", "mae", "mse"):
        assert name in str(info.value)


def test_compile_with_unknown_metric_raises_at_once():
    model = fx.Sequential([Dense(1, input_dim=2)])
    with pytest.raises(ValueError, match="valid names"):
        model.compile(loss="mse", metrics=["accuracy", "f1_typo"])


def test_get_returns_instances_and_builds_classes():
    metric = MeanAbsoluteError()
    assert fx.metrics.get(metric) is metric
    assert type(fx.metrics.get(MeanSquaredError)) is MeanSquaredError
    with pytest.raises(TypeError):
        fx.metrics.get(3)
