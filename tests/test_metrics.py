"""Metrics: values on every backend against NumPy and scikit-learn (unweighted and with sample
weights), accumulation over batches, precision/recall/AUC details and edge cases, no device reads
in ``update``, ``"accuracy"`` resolved from the loss (directly and through compile/fit/evaluate),
string names, configs and unknown names.
"""

from __future__ import annotations

import array_api_compat.numpy as NP
import numpy as np
import pytest
import sklearn.metrics as skm

import flexnet as fx
from flexnet.layers import Dense
from flexnet.metrics import (
    AUC,
    BinaryAccuracy,
    CategoricalAccuracy,
    MeanAbsoluteError,
    MeanSquaredError,
    Precision,
    Recall,
    RootMeanSquaredError,
    SparseCategoricalAccuracy,
)

N, C = 60, 4


def _probabilities(seed: int, n: int = N, k: int = C) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.0, 1.0, size=(n, k))


def _labels(seed: int, n: int = N, k: int = C) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, k, size=n)


def _one_hot(labels: np.ndarray, k: int = C) -> np.ndarray:
    return np.eye(k)[labels]


# Per metric: (metric factory, data) where data() gives (host targets, dtype of the targets on
# the device or None for the case's, expected(y, P, w): the value computed in NumPy or sklearn from
# host arrays, weighted by the per-sample weights w, which may be None).
def _mean_of(per_sample):
    def expected(y, P, w=None):
        return np.average(per_sample(y, P), weights=w)

    return expected


def _binary_labels(seed, k=3):
    return np.random.default_rng(seed).integers(0, 2, size=(N, k)).astype(float)


def _binary_case():
    return _binary_labels(11), None, _mean_of(lambda y, P: np.mean((P > 0.5) == y, axis=1))


def _binary_threshold_case():
    return _binary_labels(12), None, _mean_of(lambda y, P: np.mean((P > 0.3) == y, axis=1))


def _categorical_case():
    return _one_hot(_labels(13)), None, _mean_of(lambda y, P: P.argmax(1) == y.argmax(1))


def _sparse_case():
    return _labels(14), "int64", _mean_of(lambda y, P: P.argmax(1) == y)


def _mse_case():
    y = np.random.default_rng(15).normal(size=(N, C))
    return y, None, _mean_of(lambda y, P: np.mean((P - y) ** 2, axis=1))


def _rmse_case():
    y, dtype, mse = _mse_case()
    return y, dtype, lambda y, P, w=None: np.sqrt(mse(y, P, w))


def _mae_case():
    y = np.random.default_rng(16).normal(size=(N, C))
    return y, None, _mean_of(lambda y, P: np.mean(np.abs(P - y), axis=1))


def _flat_weights(y, w):
    """Per-sample weights repeated over the outputs, as the confusion metrics count them."""
    return None if w is None else np.repeat(w, y.shape[1])


def _sklearn_case(seed, score, threshold=0.5):
    """Multi-label targets (micro-averaged: every output counts) scored by sklearn."""

    def expected(y, P, w=None):
        return score(y.ravel(), (P.ravel() > threshold).astype(int), sample_weight=_flat_weights(y, w))

    return _binary_labels(seed), None, expected


def _auc_case():
    def expected(y, P, w=None):
        return skm.roc_auc_score(y.ravel(), P.ravel(), sample_weight=_flat_weights(y, w))

    return _binary_labels(19), None, expected


METRIC_CASES = {
    "binary_accuracy": (BinaryAccuracy, _binary_case),
    "binary_accuracy_threshold_0.3": (lambda: BinaryAccuracy(threshold=0.3), _binary_threshold_case),
    "categorical_accuracy": (CategoricalAccuracy, _categorical_case),
    "sparse_categorical_accuracy": (SparseCategoricalAccuracy, _sparse_case),
    "mse": (MeanSquaredError, _mse_case),
    "rmse": (RootMeanSquaredError, _rmse_case),
    "mae": (MeanAbsoluteError, _mae_case),
    "precision": (Precision, lambda: _sklearn_case(17, skm.precision_score)),
    "precision_threshold_0.3": (lambda: Precision(0.3), lambda: _sklearn_case(18, skm.precision_score, 0.3)),
    "recall": (Recall, lambda: _sklearn_case(20, skm.recall_score)),
    "recall_threshold_0.7": (lambda: Recall(0.7), lambda: _sklearn_case(21, skm.recall_score, 0.7)),
    # Scores 1/180 apart and bins 1/400 wide: no two scores share a bin, so the trapezoid
    # area is exactly sklearn's value.
    "auc": (lambda: AUC(num_thresholds=401), _auc_case),
}


def _setup(case, name, seed=17):
    """Metric, device targets and predictions, host ones, expected(y, P, w); ``case=None``: NumPy
    float64 on the host."""
    make, data = METRIC_CASES[name]
    y, y_dtype, expected = data()
    width = y.shape[1] if y.ndim == 2 else C
    # Distinct scores (4j + 1)/(4m), m outputs in all: none lies on a threshold 0.3, 0.5 or 0.7.
    m = N * width
    P = ((4.0 * np.random.default_rng(seed).permutation(m) + 1.0) / (4.0 * m)).reshape(N, width)
    if case is None:
        return make(), y, P, y, P, expected
    return make(), case.asarray(y, y_dtype), case.asarray(P), y, P, expected


def _weights(seed=31):
    return np.random.default_rng(seed).uniform(0.0, 2.0, size=N)


def _tolerance(case):
    """float32 sums of 0/1 counts are exact, their ratios are not; float64 matches to rounding."""
    return max(case.rtol, 1e-6) if case.dtype == "float32" else 1e-12


@pytest.mark.parametrize("name", list(METRIC_CASES))
def test_metric_matches_reference(case, name):
    metric, y, P, y_host, P_host, expected = _setup(case, name)
    metric.update(case.resolve().xp, y, P)
    result = metric.result()
    assert isinstance(result, float)
    assert result == pytest.approx(expected(y_host, P_host), rel=_tolerance(case))


@pytest.mark.parametrize("name", list(METRIC_CASES))
def test_metric_accumulated_over_batches_equals_whole_data(case, name):
    metric, y, P, y_host, P_host, expected = _setup(case, name)
    xp = case.resolve().xp
    for start, stop in [(0, 7), (7, 30), (30, 31), (31, N)]:  # uneven batches
        metric.update(xp, y[start:stop, ...], P[start:stop, ...])
    assert metric.result() == pytest.approx(expected(y_host, P_host), rel=_tolerance(case))


@pytest.mark.parametrize("name", list(METRIC_CASES))
def test_weighted_metric_matches_reference_over_batches(case, name):
    metric, y, P, y_host, P_host, expected = _setup(case, name)
    xp = case.resolve().xp
    w_host = _weights()
    w = case.asarray(w_host)
    for start, stop in [(0, 25), (25, 26), (26, N)]:
        metric.update(xp, y[start:stop, ...], P[start:stop, ...], sample_weight=w[start:stop])
    assert metric.result() == pytest.approx(expected(y_host, P_host, w_host), rel=_tolerance(case))


@pytest.mark.parametrize("name", list(METRIC_CASES))
def test_unweighted_batches_count_with_weight_one_beside_weighted_ones(case, name):
    metric, y, P, y_host, P_host, expected = _setup(case, name)
    xp = case.resolve().xp
    w_host = _weights(32)
    metric.update(xp, y[:20, ...], P[:20, ...])
    metric.update(xp, y[20:, ...], P[20:, ...], sample_weight=case.asarray(w_host[20:]))
    w_host[:20] = 1.0
    assert metric.result() == pytest.approx(expected(y_host, P_host, w_host), rel=_tolerance(case))


@pytest.mark.parametrize("name", ["mse", "binary_accuracy", "precision", "auc"])
def test_integer_weights_equal_repeated_samples(name):
    metric, y, P, y_host, P_host, expected = _setup(None, name)
    counts = np.random.default_rng(5).integers(0, 3, size=N)
    metric.update(NP, y, P, sample_weight=counts.astype(float))
    repeated = METRIC_CASES[name][0]()
    repeated.update(NP, np.repeat(y, counts, axis=0), np.repeat(P, counts, axis=0))
    assert metric.result() == pytest.approx(repeated.result(), rel=1e-12)


@pytest.mark.parametrize("name", list(METRIC_CASES))
def test_zero_weights_give_zero_and_no_updates_give_nan(name):
    metric, y, P, *_ = _setup(None, name)
    assert np.isnan(metric.result())
    metric.update(NP, y, P, sample_weight=np.zeros(N))
    assert metric.result() == 0.0


def test_sample_weight_shape_is_checked_and_its_dtype_follows_the_predictions(case):
    xp = case.resolve().xp
    y, P = case.asarray(_binary_labels(3)), case.asarray(_probabilities(4, k=3))
    for metric in (BinaryAccuracy(), Precision(), AUC()):
        pattern = r"sample_weight must have shape \(60,\) or \(60, 1\).* got shape \(59,\)"
        with pytest.raises(ValueError, match=pattern):
            metric.update(xp, y, P, sample_weight=case.asarray(np.ones(N - 1)))
        # (n, 1) weights and integer weights are accepted
        metric.update(xp, y, P, sample_weight=case.asarray(np.ones((N, 1))))
        metric.update(xp, y, P, sample_weight=case.asarray(np.ones(N), case.resolve().index_dtype))
        assert np.isfinite(metric.result())


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
# Precision, recall and AUC.


def _grid_scores(seed, shape):
    """Distinct scores (4j + 1)/(4m) in random order: 1/m apart, so each lies in its own bin."""
    m = int(np.prod(shape))
    return ((4.0 * np.random.default_rng(seed).permutation(m) + 1.0) / (4.0 * m)).reshape(shape)


def _informative_scores(seed, n=1000):
    """Binary labels and scores that rank them well but not perfectly (scores of positives
    uniform on [0.2, 1], of negatives on [0, 0.8]), with ties in a bin only by chance."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n).astype(float)
    P = np.where(y > 0, rng.uniform(0.2, 1.0, size=n), rng.uniform(0.0, 0.8, size=n))
    return y[:, None], P[:, None]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auc_with_200_thresholds_is_within_1e3_of_sklearn(case, seed):
    y, P = _informative_scores(seed)
    metric = AUC()
    metric.update(case.resolve().xp, case.asarray(y), case.asarray(P))
    assert metric.result() == pytest.approx(skm.roc_auc_score(y, P), abs=1e-3)


@pytest.mark.parametrize("weighted", [False, True])
def test_pr_auc_summations_bracket_the_interpolation_and_tend_to_sklearn(case, weighted):
    """Minoring and majoring bound the area; with fine bins the interpolation and majoring
    approach scikit-learn's average precision (the step-wise area under its precision-recall
    curve). Minoring stays lower by about precision/positives: its last step runs down to
    Keras's precision 0 where nothing is predicted positive."""
    y, P = _informative_scores(41 + weighted, n=400)
    w = _weights(42)[np.arange(400) % N] if weighted else None
    values = {}
    for method in ("minoring", "interpolation", "majoring"):
        metric = AUC(curve="PR", summation_method=method, num_thresholds=2001)
        metric.update(case.resolve().xp, case.asarray(y), case.asarray(P),
                      **({} if w is None else {"sample_weight": case.asarray(w)}))
        values[method] = metric.result()
    assert values["minoring"] <= values["interpolation"] + 1e-6 <= values["majoring"] + 2e-6
    expected = skm.average_precision_score(y.ravel(), P.ravel(), sample_weight=w)
    assert values["interpolation"] == pytest.approx(expected, abs=2e-3)
    assert values["majoring"] == pytest.approx(expected, abs=2e-3)
    assert values["minoring"] == pytest.approx(expected, abs=1e-2)


def test_auc_from_logits_applies_the_sigmoid(case):
    rng = np.random.default_rng(43)
    y, Z = _binary_labels(44, k=2), rng.normal(scale=3.0, size=(N, 2))
    xp = case.resolve().xp
    from_logits, on_probabilities = AUC(from_logits=True), AUC()
    from_logits.update(xp, case.asarray(y), case.asarray(Z))
    on_probabilities.update(xp, case.asarray(y), case.asarray(1.0 / (1.0 + np.exp(-Z))))
    assert from_logits.result() == pytest.approx(on_probabilities.result(), abs=1e-3)
    assert from_logits.result() == pytest.approx(skm.roc_auc_score(y.ravel(), Z.ravel()), abs=1e-2)


def test_class_id_scores_one_output_column(case):
    y, P = _binary_labels(45), _grid_scores(46, (N, 3))
    xp, yd, Pd = case.resolve().xp, case.asarray(y), case.asarray(P)
    for metric, expected in [
        (Precision(class_id=1), skm.precision_score(y[:, 1], P[:, 1] > 0.5)),
        (Recall(class_id=0), skm.recall_score(y[:, 0], P[:, 0] > 0.5)),
        (AUC(num_thresholds=401, class_id=2), skm.roc_auc_score(y[:, 2], P[:, 2])),
    ]:
        metric.update(xp, yd, Pd)
        assert metric.result() == pytest.approx(expected, rel=_tolerance(case))
    with pytest.raises(ValueError, match=r"class_id=3 needs predictions of shape \(n, k\) with k > 3"):
        Precision(class_id=3).update(xp, yd, Pd)


def test_integer_labels_are_one_hot_encoded_against_the_output_columns(case):
    labels, P = _labels(47), _probabilities(48)
    xp, index = case.resolve().xp, case.resolve().index_dtype
    for make in (Precision, Recall, AUC):
        sparse, dense = make(), make()
        sparse.update(xp, case.asarray(labels, index), case.asarray(P))
        dense.update(xp, case.asarray(_one_hot(labels)), case.asarray(P))
        assert sparse.result() == pytest.approx(dense.result(), rel=_tolerance(case))
    binary = _binary_labels(49, k=1)  # (n,) labels for a single output column
    sparse, dense = Recall(), Recall()
    sparse.update(xp, case.asarray(binary[:, 0], index), case.asarray(P[:, :1]))
    dense.update(xp, case.asarray(binary), case.asarray(P[:, :1]))
    assert sparse.result() == pytest.approx(dense.result(), rel=_tolerance(case))
    with pytest.raises(ValueError, match=r"targets of shape \(60, 2\) do not match predictions"):
        Precision().update(xp, case.asarray(np.zeros((N, 2))), case.asarray(P))


def test_missing_classes_give_zero_without_warnings(case):
    # filterwarnings = error: a division warning would fail this test.
    xp = case.resolve().xp
    P = case.asarray(_probabilities(50, k=1))
    no_positives, all_positives = case.asarray(np.zeros((N, 1))), case.asarray(np.ones((N, 1)))
    for metric, y in [
        (Precision(), no_positives), (Recall(), no_positives), (AUC(), no_positives),
        (AUC(curve="PR"), no_positives), (AUC(), all_positives),
    ]:
        metric.update(xp, y, P)
        assert metric.result() == 0.0, metric
    nothing_predicted = Precision(thresholds=1.0)
    nothing_predicted.update(xp, all_positives, P)
    assert nothing_predicted.result() == 0.0


def test_update_never_reads_the_device_and_result_reads_once(host_reads):
    xps = pytest.importorskip("array_api_strict")
    reads = host_reads
    for name in METRIC_CASES:
        metric, y, P, *_ = _setup(None, name)
        y, P, w = xps.asarray(y), xps.asarray(P), xps.asarray(_weights())
        reads.clear()
        for start, stop in [(0, 20), (20, 40)]:
            metric.update(xps, y[start:stop, ...], P[start:stop, ...])
        metric.update(xps, y[40:, ...], P[40:, ...], sample_weight=w[40:])
        assert reads == [], name
        metric.result()
        assert len(reads) == 1, name


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("precision", Precision), ("Precision", Precision), ("recall", Recall), ("auc", AUC),
        ("AUC", AUC), ("rmse", RootMeanSquaredError), ("root_mean_squared_error", RootMeanSquaredError),
        ("binary_accuracy", BinaryAccuracy), ("categorical_accuracy", CategoricalAccuracy),
        ("sparse_categorical_accuracy", SparseCategoricalAccuracy), ("mse", MeanSquaredError),
        ("mean_squared_error", MeanSquaredError), ("mae", MeanAbsoluteError),
        ("mean_absolute_error", MeanAbsoluteError),
    ],
)
def test_get_resolves_string_names(name, cls):
    metric = fx.metrics.get(name)
    assert type(metric) is cls
    assert metric.name == name


def test_configs_rebuild_the_metric():
    assert Precision().get_config() == {"name": "precision", "class_id": None, "thresholds": 0.5,
                                        "top_k": None}
    assert AUC().get_config() == {
        "name": "auc", "class_id": None, "num_thresholds": 200, "curve": "ROC",
        "summation_method": "interpolation", "thresholds": None, "from_logits": False,
    }
    custom = AUC(thresholds=[0.8, 0.2], curve="pr", name="pr_auc")
    assert (custom.num_thresholds, custom.curve, custom.get_config()["thresholds"]) == (4, "PR", [0.2, 0.8])
    for metric in (Precision(0.3, class_id=1), Recall([0.7]), custom, AUC(50, from_logits=True),
                   BinaryAccuracy(0.2), RootMeanSquaredError(name="r"), Precision([0.2, 0.9], top_k=2),
                   Recall(top_k=1), AUC(summation_method="majoring")):
        config = metric.get_config()
        assert type(metric)(**config).get_config() == config
        assert type(metric).__name__ in repr(metric)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: Precision(thresholds=[0.3, 1.6]), r"in \[0, 1\], got \[0.3, 1.6\]"),
        (lambda: Precision(thresholds=1.5), r"in \[0, 1\], got 1.5"),
        (lambda: Precision(thresholds=[]), "non-empty list"),
        (lambda: Recall(thresholds="0.5"), r"floats in \[0, 1\]"),
        (lambda: Recall(top_k=0), "top_k must be a positive int"),
        (lambda: AUC(summation_method="trapezoid"), "summation_method must be one of"),
        (lambda: Recall(class_id=-1), "class_id must be a non-negative int"),
        (lambda: AUC(curve="DET"), r"curve must be one of \('ROC', 'PR'\), got 'DET'"),
        (lambda: AUC(num_thresholds=1), "num_thresholds must be an int > 1, got 1"),
        (lambda: AUC(num_thresholds=True), "num_thresholds must be an int > 1"),
        (lambda: AUC(thresholds=[0.5, 2.0]), r"thresholds must lie in \[0, 1\]"),
    ],
)
def test_bad_arguments_are_refused(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_precision_is_not_a_per_sample_mean():
    with pytest.raises(NotImplementedError, match="use update"):
        Precision().values(NP, np.zeros((2, 1)), np.zeros((2, 1)))


@pytest.mark.slow
def test_model_reports_accuracy_precision_recall_auc_on_breast_cancer(case):
    datasets = pytest.importorskip("sklearn.datasets")
    X, y = datasets.load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = fx.data.train_test_split(X, y.astype(float), seed=0)
    scaler = fx.data.StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    model = case.model([Dense(8, input_dim=30, activation="relu"), Dense(1, activation="sigmoid")])
    model.compile(optimizer=fx.optimizers.Adam(0.01), loss="binary_crossentropy",
                  metrics=["accuracy", "precision", "recall", "auc"])
    history = model.fit(X_train, y_train, epochs=5, batch_size=32, verbose=0)
    assert set(history.history) == {"loss", "accuracy", "precision", "recall", "auc"}
    assert history.history["auc"][-1] > history.history["auc"][0]
    logs = model.evaluate(X_test, y_test, return_dict=True)
    P = model.predict(X_test).ravel()
    exact = 1e-12 if case.dtype == "float64" else 1e-6  # ratios of the same counts
    assert logs["precision"] == pytest.approx(skm.precision_score(y_test, P > 0.5), rel=exact)
    assert logs["recall"] == pytest.approx(skm.recall_score(y_test, P > 0.5), rel=exact)
    assert logs["auc"] == pytest.approx(skm.roc_auc_score(y_test, P), abs=2e-3)
    assert logs["accuracy"] > 0.9 and logs["precision"] > 0.9 and logs["recall"] > 0.9
    assert logs["auc"] > 0.97


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
        assert logs["mse"] == pytest.approx(np.mean((P - y) ** 2),
                                            rel=1e-12 if case.dtype == "float64" else 1e-5)


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
    with pytest.raises(TypeError, match="metric must be a name, a config dict or a Metric, got int"):
        fx.metrics.get(3)
