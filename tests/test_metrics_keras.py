"""Metrics the Keras 3 way: the object API (``update_state``/``result``/``reset_state``,
``metric(y, p)``) with Keras's test vectors (keras/src/metrics/*_test.py) on every backend;
targets of shape ``(n, 1)`` against outputs ``(n,)`` and the reverse, directly and in
``fit``/``evaluate``; ties at a threshold; F-scores, R², precision and recall against
scikit-learn; top-k accuracies, AUC's summation methods; loss names as metrics; and
``compile(metrics=..., weighted_metrics=...)`` with Keras's logged names.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import sklearn.metrics as skm

import flexnet as fx
from flexnet import metrics as M
from flexnet.layers import Dense

# -- Keras's test vectors, through the object API, on every backend ------------------------------

Y4, P4 = [0, 0, 1, 1], [0.0, 0.5, 0.3, 0.9]  # AUC's: 0.5 sits on the middle threshold
FB_Y = [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0], [1, 0, 0], [0, 0, 1]]
FB_P = [[0.9, 0.1, 0], [0.2, 0.6, 0.2], [0, 0, 1], [0.4, 0.3, 0.3], [0, 0.9, 0.1], [0, 0, 1]]
R2_Y = [[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]
R2_P = [[0.4, 0.9, 1.6], [0.1, 1.2, 0.6], [1.5, 0.8, 0.6]]

# (id, metric factory, y_true, y_pred, sample_weight, expected, atol)
KERAS_VECTORS = [
    ("binary-accuracy", M.BinaryAccuracy, [[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]], None, 0.75, 1e-6),
    ("binary-accuracy-(n,)-vs-(n,1)", M.BinaryAccuracy, [1, 1, 0, 0], [[0.98], [1], [0], [0.6]], None,
     0.75, 1e-6),
    ("binary-accuracy-weighted-1d", M.BinaryAccuracy, [1, 1, 0, 0], [0.98, 1, 0, 0.6], [1, 0, 0, 1],
     0.5, 1e-6),
    ("categorical-accuracy", M.CategoricalAccuracy, [[0, 0, 1], [0, 1, 0]],
     [[0.1, 0.9, 0.8], [0.05, 0.95, 0]], [0.7, 0.3], 0.3, 1e-6),
    ("sparse-accuracy", M.SparseCategoricalAccuracy, [[2], [1]], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]],
     [0.7, 0.3], 0.3, 1e-6),
    ("top-k", lambda: M.TopKCategoricalAccuracy(k=1), [[0, 0, 1], [0, 1, 0]],
     [[0.1, 0.9, 0.8], [0.05, 0.95, 0]], None, 0.5, 1e-6),
    ("top-k-weighted", lambda: M.TopKCategoricalAccuracy(k=1), [[0, 0, 1], [0, 1, 0]],
     [[0.1, 0.9, 0.8], [0.05, 0.95, 0]], [0.7, 0.3], 0.3, 1e-6),
    ("sparse-top-k", lambda: M.SparseTopKCategoricalAccuracy(k=1), [2, 1],
     [[0.1, 0.9, 0.8], [0.05, 0.95, 0]], None, 0.5, 1e-6),
    ("sparse-top-k-sorted-ids", lambda: M.SparseTopKCategoricalAccuracy(k=1, from_sorted_ids=True),
     [2, 1], [[1, 0, 3], [1, 2, 3]], None, 0.5, 1e-6),
    ("precision", M.Precision, [0, 1, 1, 0], [1, 0, 1, 0], None, 0.5, 1e-6),
    ("precision-per-entry-weights", M.Precision, [[0, 1, 1, 0], [1, 0, 0, 1]],
     [[1, 0, 1, 0], [1, 0, 1, 0]], [[1, 2, 3, 4], [4, 3, 2, 1]], 7.0 / 10.0, 1e-6),
    ("precision-thresholds", lambda: M.Precision(thresholds=[0.5, 0.7]), [0, 1, 1, 0], [1, 0, 0.6, 0],
     None, [0.5, 0.0], 1e-6),
    ("precision-thresholds-weighted", lambda: M.Precision(thresholds=[0.5, 1.0]), [[0, 1], [1, 0]],
     [[1, 0], [0.6, 0]], [[4, 0], [3, 1]], [3.0 / 7.0, 0.0], 1e-6),
    ("precision-top-k", lambda: M.Precision(top_k=3), [0, 1, 1, 0, 0], [0.2, 0.1, 0.5, 0, 0.2], None,
     1.0 / 3.0, 1e-6),
    ("precision-top-k-threshold", lambda: M.Precision(thresholds=0.7, top_k=2), [0, 1, 1, 0, 1],
     [0.2, 0.8, 0.6, 0, 0.2], None, 1.0, 1e-6),
    ("recall", M.Recall, [0, 1, 1, 0], [1, 0, 1, 0], None, 0.5, 1e-6),
    ("recall-thresholds", lambda: M.Recall(thresholds=[0.5, 0.7]), [0, 1, 1, 0], [1, 0, 0.6, 0], None,
     [0.5, 0.0], 1e-6),
    ("recall-top-k", lambda: M.Recall(top_k=3), [0, 1, 1, 0, 0], [0.2, 0.1, 0.5, 0, 0.2], None, 0.5, 1e-6),
    ("auc-roc", lambda: M.AUC(num_thresholds=3), Y4, P4, None, 0.75, 1e-6),
    ("auc-manual-thresholds", lambda: M.AUC(num_thresholds=2, thresholds=[0.5]), Y4, P4, None, 0.75, 1e-6),
    ("auc-roc-weighted", lambda: M.AUC(num_thresholds=3), Y4, P4, [1, 2, 3, 4], (1 + 4 / 7) / 2, 1e-6),
    ("auc-roc-majoring", lambda: M.AUC(num_thresholds=3, summation_method="majoring"), Y4, P4,
     [1, 2, 3, 4], 1.0, 1e-6),
    ("auc-roc-minoring", lambda: M.AUC(num_thresholds=3, summation_method="minoring"), Y4, P4,
     [1, 2, 3, 4], 4 / 7, 1e-6),
    ("auc-pr-majoring", lambda: M.AUC(num_thresholds=3, curve="PR", summation_method="majoring"), Y4, P4,
     [1, 2, 3, 4], 1.0, 1e-6),
    ("auc-pr-minoring", lambda: M.AUC(num_thresholds=3, curve="PR", summation_method="minoring"), Y4, P4,
     [1, 2, 3, 4], 0.7 * 3 / 7, 1e-6),
    ("auc-pr-interpolation", lambda: M.AUC(num_thresholds=3, curve="PR"), Y4, P4, [1, 2, 3, 4],
     (0.5 * (3 + 2 * np.log(2.5))) / 7 + 4 / 7, 1e-6),
    ("auc-pr-negative-weights", lambda: M.AUC(num_thresholds=3, curve="PR"), Y4, P4, [-1, -2, -3, -4],
     0.0, 1e-6),
    ("auc-all-correct", M.AUC, Y4, Y4, None, 1.0, 1e-6),
    ("f1-docstring", lambda: M.F1Score(threshold=0.5), [[1, 1, 1], [1, 0, 0], [1, 1, 0]],
     [[0.2, 0.6, 0.7], [0.2, 0.6, 0.6], [0.6, 0.8, 0.0]], None, [0.5, 0.8, 0.6666667], 1e-6),
    ("fbeta-docstring", lambda: M.FBetaScore(beta=2.0, threshold=0.5), [[1, 1, 1], [1, 0, 0], [1, 1, 0]],
     [[0.2, 0.6, 0.7], [0.2, 0.6, 0.6], [0.6, 0.8, 0.0]], None, [0.3846154, 0.90909094, 0.8333334], 1e-6),
    ("fbeta-argmax-none", lambda: M.FBetaScore(beta=0.5), FB_Y, FB_P, [0.5, 1.0, 1.0, 1.0, 0.5, 1.0],
     [0.9375, 0.714286, 1.0], 1e-6),
    ("fbeta-argmax-micro", lambda: M.FBetaScore(average="micro", beta=2.0), FB_Y, FB_P,
     [0.5, 1.0, 1.0, 1.0, 0.5, 1.0], 0.9, 1e-6),
    ("fbeta-argmax-macro", lambda: M.FBetaScore(average="macro", beta=2.0), FB_Y, FB_P,
     [0.5, 1.0, 1.0, 1.0, 0.5, 1.0], 0.899522, 1e-6),
    ("fbeta-argmax-weighted", lambda: M.FBetaScore(average="weighted", beta=0.5), FB_Y, FB_P,
     [0.5, 1.0, 1.0, 1.0, 0.5, 1.0], 0.917857, 1e-6),
    ("fbeta-argmax-weighted-zero", lambda: M.FBetaScore(average="weighted", beta=1.0), FB_Y, FB_P,
     [1.0, 0.0, 1.0, 1.0, 0.0, 1.0], 1.0, 1e-6),
    ("fbeta-scalar-weight", lambda: M.FBetaScore(threshold=0.5), [[1, 1], [1, 0]], [[0.2, 0.6], [0.2, 0.6]],
     0.5, [0.0, 0.6666665], 1e-5),
    ("fbeta-2d-weight", lambda: M.FBetaScore(threshold=0.5), [[1, 1], [1, 0]], [[0.2, 0.6], [0.2, 0.6]],
     [[0.5, 0.2], [0.3, 0.8]], [0.0, 0.333333], 1e-5),
    ("r2-docstring", M.R2Score, [[1], [4], [3]], [[2], [4], [4]], None, 0.57142854, 1e-6),
    ("r2-none", lambda: M.R2Score(class_aggregation=None), R2_Y, R2_P, [0.8, 0.1, 0.4],
     [0.17305559, -8.836666, -0.521], 1e-5),
    ("r2-adjusted", lambda: M.R2Score(class_aggregation=None, num_regressors=1), R2_Y, R2_P,
     [0.8, 0.1, 0.4], [-0.65388882, -18.673332, -2.042], 1e-5),
    ("r2-uniform-adjusted", lambda: M.R2Score(num_regressors=1), R2_Y, R2_P, [0.8, 0.1, 0.4],
     -7.123073577880859, 1e-5),
    ("r2-variance-weighted", lambda: M.R2Score(class_aggregation="variance_weighted_average"), R2_Y, R2_P,
     [0.8, 0.1, 0.4], -1.3710224628448486, 1e-5),
    ("r2-variance-weighted-adjusted",
     lambda: M.R2Score(class_aggregation="variance_weighted_average", num_regressors=1), R2_Y, R2_P,
     [0.8, 0.1, 0.4], -3.742044448852539, 1e-5),
]


@pytest.mark.parametrize("vector", KERAS_VECTORS, ids=[v[0] for v in KERAS_VECTORS])
def test_keras_test_vectors_on_every_backend(case, vector):
    _, make, y, p, w, expected, atol = vector
    metric = make()
    weights = None if w is None else case.asarray(np.asarray(w, dtype=float))
    metric.update_state(np.asarray(y), case.asarray(np.asarray(p, dtype=float)), sample_weight=weights)
    result = metric.result()
    assert isinstance(result, float) if np.ndim(expected) == 0 else result.dtype == np.float64
    np.testing.assert_allclose(result, expected, rtol=max(atol, case.rtol), atol=atol)


def test_object_api_accumulates_resets_and_calls(case):
    metric = M.BinaryAccuracy()
    y, p = np.array([[1], [1], [0], [0]]), case.asarray(np.array([[0.98], [1.0], [0.0], [0.6]]))
    assert metric(y, p) == 0.75
    assert metric(y[:2], p[:2, ...]) == pytest.approx(5 / 6)  # __call__ accumulates, as Keras's
    metric.reset_state()
    assert np.isnan(metric.result())
    metric.update_state([1, 0], [0.9, 0.8])  # lists, on the host
    assert metric.result() == 0.5


@pytest.mark.parametrize("name", ["f1_score", "r2_score", "precision", "auc", "mse",
                                  "sparse_top_k_categorical_accuracy"])
def test_targets_from_the_host_meet_predictions_on_the_device(case, name):
    rng = np.random.default_rng(1)
    P = rng.uniform(0.0, 1.0, (12, 3))
    y = rng.integers(0, 3, 12) if "sparse" in name else (rng.random((12, 3)) > 0.5).astype(float)
    on_device, on_host = fx.metrics.get(name), fx.metrics.get(name)
    on_device.update_state(y, case.asarray(P))
    on_host.update_state(y, P)
    np.testing.assert_allclose(on_device.result(), on_host.result(), rtol=10 * case.rtol, atol=1e-6)


# -- targets (n, 1) against outputs (n,) and the reverse -------------------------------------------


ALIGNED = {  # metric name -> (targets, predictions) of one column
    "binary_accuracy": lambda r: (np.round(r.random(20)), r.uniform(0, 1, 20)),
    "mse": lambda r: (r.normal(size=20), r.normal(size=20)),
    "mae": lambda r: (r.normal(size=20), r.normal(size=20)),
    "rmse": lambda r: (r.normal(size=20), r.normal(size=20)),
    "precision": lambda r: (np.round(r.random(20)), r.uniform(0, 1, 20)),
    "recall": lambda r: (np.round(r.random(20)), r.uniform(0, 1, 20)),
    "auc": lambda r: (np.round(r.random(20)), r.uniform(0, 1, 20)),
    "r2_score": lambda r: (r.normal(size=20), r.normal(size=20)),
    "binary_crossentropy": lambda r: (np.round(r.random(20)), r.uniform(0.1, 0.9, 20)),
    "f1_score": lambda r: (np.round(r.random(20)), r.uniform(0, 1, 20)),
}


@pytest.mark.parametrize("name", list(ALIGNED))
def test_column_targets_and_vector_outputs_align_as_keras(case, name):
    """Before, (n, 1) labels against (n,) outputs compared every label with every output."""
    y, p = ALIGNED[name](np.random.default_rng(2))
    results = []
    for y_shape, p_shape in [((20, 1), (20, 1)), ((20, 1), (20,)), ((20,), (20, 1)), ((20,), (20,))]:
        metric = fx.metrics.get(name)
        if name == "f1_score":
            metric = M.F1Score(threshold=0.5)
        metric.update_state(y.reshape(y_shape), case.asarray(p.reshape(p_shape)))
        results.append(metric.result())
    for result in results[1:]:
        np.testing.assert_allclose(result, results[0], rtol=case.rtol)


@pytest.mark.parametrize(("name", "y_shape", "p_shape"), [
    ("mse", (20, 2), (20, 3)), ("binary_accuracy", (20, 3), (20,)), ("categorical_accuracy", (20,), (20, 3)),
    ("mae", (19, 1), (20, 1)), ("sparse_categorical_accuracy", (20, 2), (20, 3)),
    ("top_k_categorical_accuracy", (20, 2), (20, 3)), ("precision", (20, 2), (20, 3)),
    ("r2_score", (20, 1), (20, 2)), ("cosine_similarity", (20, 3), (20, 2)),
])
def test_other_mismatches_are_refused_naming_the_shapes(name, y_shape, p_shape):
    metric = fx.metrics.get(name)
    with pytest.raises(ValueError, match=rf"^{name}: .*") as info:
        metric.update_state(np.zeros(y_shape), np.ones(p_shape))
    assert re.search(rf"targets of shape {re.escape(str(y_shape))}", str(info.value))
    assert re.search(r"predictions of shape \(20", str(info.value))


@pytest.mark.parametrize("y_shape", [(40,), (40, 1)])
def test_fit_and_evaluate_align_targets_for_every_metric(case, y_shape):
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(40, 3)), (rng.random(40) > 0.5).astype(float)
    model = case.model([Dense(1, input_dim=3, activation="sigmoid")])
    names = ["accuracy", "binary_accuracy", "mse", "mae", "precision", "recall", "auc", "r2_score",
             "binary_crossentropy", M.F1Score(threshold=0.5)]
    model.compile(optimizer=fx.optimizers.SGD(0.0), loss="binary_crossentropy", metrics=names)
    logs = model.evaluate(X, y.reshape(y_shape), return_dict=True)
    P = model.predict(X)[:, 0]
    expected = {
        "accuracy": np.mean((P > 0.5) == y), "mse": np.mean((P - y) ** 2), "mae": np.mean(np.abs(P - y)),
        "precision": skm.precision_score(y, P > 0.5), "recall": skm.recall_score(y, P > 0.5),
        "r2_score": skm.r2_score(y, P), "f1_score_0": skm.f1_score(y, P > 0.5),
        "binary_crossentropy": skm.log_loss(y, P),
    }
    for key, value in expected.items():
        assert logs[key] == pytest.approx(value, rel=20 * case.rtol, abs=1e-5), key
    assert logs["binary_crossentropy"] == pytest.approx(logs["loss"], rel=20 * case.rtol)
    history = model.fit(X, y.reshape(y_shape), epochs=1, batch_size=40, verbose=0, shuffle=False)
    assert history.history["mse"][0] == pytest.approx(expected["mse"], rel=20 * case.rtol)


def test_a_dense_metric_with_a_sparse_loss_says_what_is_wrong():
    model = fx.Sequential([Dense(3, input_dim=2, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["mse"])
    with pytest.raises(ValueError, match=r"mse: targets of shape \(4,\) do not match predictions of "
                                         r"shape \(4, 3\)"):
        model.evaluate(np.ones((4, 2)), np.array([0, 1, 2, 0]))


# -- ties at a threshold: P = t is negative (P > t), as Keras and torchmetrics ----------------------


def test_a_score_equal_to_the_threshold_is_negative(case):
    y, p = np.array([[1.0], [0.0], [1.0], [0.0]]), case.asarray(np.array([[0.5], [0.5], [0.7], [0.3]]))
    assert M.BinaryAccuracy()(y, p) == 0.75  # the positive at 0.5 is missed, the negative is right
    assert M.BinaryAccuracy(threshold=0.7)(y, p) == 0.5
    assert M.Precision()(y, p) == 1.0 and M.Recall()(y, p) == 0.5
    auc = M.AUC(num_thresholds=3)  # thresholds -ε, 0.5, 1 + ε
    auc.update_state(y, p)
    tp, fp, fn, tn = (case.to_numpy(a) for a in auc.confusion(case.resolve().xp))
    np.testing.assert_array_equal(tp, [2, 1, 0])  # at 0.5: only 0.7 is above
    np.testing.assert_array_equal(fp, [2, 0, 0])


# -- against scikit-learn ------------------------------------------------------------------------


@pytest.mark.parametrize("average", [None, "micro", "macro", "weighted"])
@pytest.mark.parametrize("beta", [0.5, 1.0, 2.0])
@pytest.mark.parametrize("weighted", [False, True])
def test_f_scores_match_sklearn(case, average, beta, weighted):
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 4, 50)
    P = rng.uniform(0, 1, (50, 4))
    w = rng.uniform(0, 2, 50) if weighted else None
    metric = M.FBetaScore(average=average, beta=beta)  # threshold None: the largest output
    for start, stop in [(0, 17), (17, 50)]:
        metric.update(case.resolve().xp, case.asarray(labels[start:stop], "int64"),
                      case.asarray(P[start:stop]),
                      None if w is None else case.asarray(w[start:stop]))
    expected = skm.fbeta_score(labels, P.argmax(axis=1), beta=beta, average=average,
                               sample_weight=w, zero_division=0, labels=range(4))
    np.testing.assert_allclose(metric.result(), expected, rtol=10 * case.rtol, atol=1e-6)


@pytest.mark.parametrize("average", [None, "micro", "macro", "weighted"])
def test_f1_multilabel_at_a_threshold_matches_sklearn(case, average):
    rng = np.random.default_rng(5)
    y, P = (rng.random((40, 3)) > 0.5).astype(float), rng.uniform(0, 1, (40, 3))
    metric = M.F1Score(average=average, threshold=0.4)
    metric.update_state(y, case.asarray(P))
    expected = skm.f1_score(y, P > 0.4, average=average, zero_division=0)
    np.testing.assert_allclose(metric.result(), expected, rtol=10 * case.rtol, atol=1e-6)


@pytest.mark.parametrize("aggregation", [None, "uniform_average", "variance_weighted_average"])
@pytest.mark.parametrize("weighted", [False, True])
def test_r2_matches_sklearn_over_batches(case, aggregation, weighted):
    rng = np.random.default_rng(6)
    y = rng.normal(size=(30, 3)) * [1.0, 3.0, 0.5]
    P = y + rng.normal(size=(30, 3))
    w = rng.uniform(0, 2, 30) if weighted else None
    metric = M.R2Score(class_aggregation=aggregation)
    for start, stop in [(0, 11), (11, 30)]:
        metric.update_state(y[start:stop], case.asarray(P[start:stop]),
                            None if w is None else w[start:stop])
    sklearn_names = {None: "raw_values", "uniform_average": "uniform_average",
                     "variance_weighted_average": "variance_weighted"}
    multioutput = sklearn_names[aggregation]
    expected = skm.r2_score(y, P, sample_weight=w, multioutput=multioutput)
    np.testing.assert_allclose(metric.result(), expected, rtol=100 * case.rtol)


def test_r2_of_constant_targets_follows_sklearn_and_adjusted_r2_warns():
    metric = M.R2Score(class_aggregation=None)
    y, p = [[1.0, 2.0], [1.0, 3.0]], [[1.0, 2.5], [1.0, 2.5]]  # output 0: constant, exact
    metric.update_state(y, p)
    np.testing.assert_allclose(metric.result(), skm.r2_score(y, p, multioutput="raw_values"))
    adjusted = M.R2Score(num_regressors=2)
    adjusted.update_state([[0.0], [1.0], [3.0]], [[0.5], [1.0], [2.0]])
    with pytest.warns(UserWarning, match="2 regressors for 3 samples"):
        value = adjusted.result()
    assert value == pytest.approx(skm.r2_score([0.0, 1.0, 3.0], [0.5, 1.0, 2.0]))


def test_precision_and_recall_at_several_thresholds_match_sklearn(case):
    rng = np.random.default_rng(7)
    y, P = (rng.random((30, 2)) > 0.5).astype(float), rng.uniform(0, 1, (30, 2))
    w = rng.uniform(0, 2, 30)
    thresholds = [0.1, 0.45, 0.8]
    for cls, score in ((M.Precision, skm.precision_score), (M.Recall, skm.recall_score)):
        metric = cls(thresholds=thresholds)
        result = metric(y, case.asarray(P), case.asarray(w))
        assert result.shape == (3,)
        expected = [score(y.ravel(), P.ravel() > t, sample_weight=np.repeat(w, 2)) for t in thresholds]
        np.testing.assert_allclose(result, expected, rtol=10 * case.rtol)


def test_top_k_precision_counts_the_k_largest_outputs(case):
    rng = np.random.default_rng(8)
    labels, P = rng.integers(0, 5, 25), rng.uniform(0, 1, (25, 5))
    y = np.eye(5)[labels]
    top2 = np.argsort(-P, axis=1)[:, :2]
    chosen = np.zeros_like(P, dtype=bool)
    chosen[np.arange(25)[:, None], top2] = True
    for cls, score in ((M.Precision, skm.precision_score), (M.Recall, skm.recall_score)):
        assert cls(top_k=2)(y, case.asarray(P)) == pytest.approx(score(y.ravel(), chosen.ravel()),
                                                                  rel=10 * case.rtol)
        class_one = cls(top_k=2, class_id=1)(y, case.asarray(P))
        assert class_one == pytest.approx(score(y[:, 1], chosen[:, 1]), rel=10 * case.rtol)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_top_k_accuracies_follow_keras_in_top_k_with_ties(case, k):
    P = np.array([[0.1, 0.5, 0.5, 0.2], [0.4, 0.3, 0.2, 0.1], [0.25, 0.25, 0.25, 0.25]])
    labels = np.array([2, 1, 3])
    # Keras's in_top_k: the label's score is at least the k-th largest score of its row.
    kth = -np.sort(-P, axis=1)[:, k - 1]
    expected = np.mean(P[np.arange(3), labels] >= kth)
    assert M.TopKCategoricalAccuracy(k=k)(np.eye(4)[labels], case.asarray(P)) == pytest.approx(expected)
    assert M.SparseTopKCategoricalAccuracy(k=k)(labels, case.asarray(P)) == pytest.approx(expected)


# -- losses as metrics ---------------------------------------------------------------------------


def test_loss_names_and_objects_are_means_of_the_loss(case):
    rng = np.random.default_rng(9)
    y, P = (rng.random((16, 2)) > 0.5).astype(float), rng.uniform(0.05, 0.95, (16, 2))
    for identifier, loss in [("binary_crossentropy", fx.losses.BinaryCrossentropy()),
                             ("kld", fx.losses.KLDivergence()), ("poisson", fx.losses.Poisson()),
                             (fx.losses.Huber(delta=0.3), fx.losses.Huber(delta=0.3)),
                             ("hinge", fx.losses.Hinge())]:  # 0/1 targets become -1/1, as Keras
        metric = fx.metrics.get(identifier)
        assert isinstance(metric, M.MeanMetricWrapper)
        assert metric.name == (identifier if isinstance(identifier, str) else "huber_loss")
        value = metric(y, case.asarray(P))
        assert value == pytest.approx(float(loss(y, case.asarray(P))), rel=10 * case.rtol)


def test_a_loss_metric_leaves_out_ignored_samples(case):
    metric = M.MeanMetricWrapper(fx.losses.SparseCategoricalCrossentropy(ignore_class=-1))
    P = case.asarray(np.array([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]]))
    assert metric(np.array([1, 2, -1]), P) == pytest.approx(1.177, abs=1e-3)


def test_compile_takes_loss_names_as_metrics_and_saves_them(tmp_path):
    rng = np.random.default_rng(10)
    X, y = rng.normal(size=(20, 3)), (rng.random((20, 1)) > 0.5).astype(float)
    model = fx.Sequential([Dense(1, input_dim=3, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy",
                  metrics=["binary_crossentropy", fx.losses.Huber(delta=0.5)],
                  weighted_metrics=["mse", M.R2Score()])
    logs = model.evaluate(X, y, return_dict=True)
    assert set(logs) == {"loss", "binary_crossentropy", "huber_loss", "mse", "r2_score"}
    assert logs["binary_crossentropy"] == pytest.approx(logs["loss"], rel=1e-5)
    model.save(tmp_path / "m.flexnet")
    loaded = fx.models.load_model(tmp_path / "m.flexnet")
    assert loaded.evaluate(X, y, return_dict=True) == pytest.approx(logs, rel=1e-6)


def test_unknown_names_say_that_loss_names_work_too():
    with pytest.raises(ValueError, match=r"unknown metric 'f1'.*the name of a loss works too"):
        fx.metrics.get("f1")


# -- weighted_metrics ------------------------------------------------------------------------------


def _weighted_problem():
    rng = np.random.default_rng(11)
    X, y = rng.normal(size=(30, 3)), (rng.random(30) > 0.5).astype(float)
    return X, y, rng.uniform(0.0, 3.0, 30)


def test_metrics_are_unweighted_and_weighted_metrics_weighted(case):
    X, y, w = _weighted_problem()
    model = case.model([Dense(1, input_dim=3, activation="sigmoid")])
    model.compile(optimizer=fx.optimizers.SGD(0.0), loss="binary_crossentropy",
                  metrics=["accuracy", "mse"],
                  weighted_metrics=["accuracy", "mse", "auc"])
    logs = model.evaluate(X, y, sample_weight=w, batch_size=7, return_dict=True)
    assert list(logs) == ["loss", "accuracy", "mse", "weighted_accuracy", "weighted_mse", "auc"]
    P = model.predict(X)[:, 0]
    assert logs["accuracy"] == pytest.approx(np.mean((P > 0.5) == y), rel=case.rtol)
    assert logs["weighted_accuracy"] == pytest.approx(np.average((P > 0.5) == y, weights=w), rel=case.rtol)
    assert logs["mse"] == pytest.approx(np.mean((P - y) ** 2), rel=10 * case.rtol)
    assert logs["weighted_mse"] == pytest.approx(np.average((P - y) ** 2, weights=w), rel=10 * case.rtol)
    assert logs["auc"] == pytest.approx(skm.roc_auc_score(y, P, sample_weight=w), abs=2e-2)  # 200 bins


def test_class_weights_weigh_the_weighted_metrics_only(case):
    X, y, _ = _weighted_problem()
    model = case.model([Dense(1, input_dim=3, activation="sigmoid")])
    model.compile(optimizer=fx.optimizers.SGD(0.0), loss="binary_crossentropy", metrics=["mse"],
                  weighted_metrics=[M.MeanSquaredError(name="wmse")])
    history = model.fit(X, y, class_weight={0: 0.25, 1: 2.0}, epochs=1, batch_size=30, verbose=0,
                        shuffle=False, validation_data=(X, y, np.where(y > 0, 2.0, 0.25)))
    P = model.predict(X)[:, 0]
    cw = np.where(y > 0, 2.0, 0.25)
    assert history.history["mse"][0] == pytest.approx(np.mean((P - y) ** 2), rel=10 * case.rtol)
    expected = np.average((P - y) ** 2, weights=cw)
    assert history.history["wmse"][0] == pytest.approx(expected, rel=10 * case.rtol)
    assert history.history["val_wmse"][0] == pytest.approx(history.history["wmse"][0], rel=10 * case.rtol)


def test_log_names_of_several_outputs_follow_keras():
    inputs = fx.layers.Input(shape=(3,))
    out_a = Dense(1, activation="sigmoid", name="a")(inputs)
    out_b = Dense(2, name="b")(inputs)
    model = fx.Model(inputs=inputs, outputs=[out_a, out_b])
    model.compile(optimizer="sgd", loss=["binary_crossentropy", "mse"], metrics={"a": ["mse", "mse"]},
                  weighted_metrics={"a": ["mse"], "b": [M.F1Score(threshold=0.5), "mae"]})
    rng = np.random.default_rng(12)
    X = rng.normal(size=(10, 3))
    y = [(rng.random(10) > 0.5).astype(float), (rng.random((10, 2)) > 0.5).astype(float)]
    logs = model.evaluate(X, y, sample_weight=np.ones(10), return_dict=True)
    assert [k for k in logs if not k.endswith("loss")] == [
        "a_mse", "a_mse_1", "a_weighted_mse", "b_f1_score_0", "b_f1_score_1", "b_mae"]


def test_one_metric_object_cannot_be_both_kinds():
    metric = M.MeanSquaredError()
    model = fx.Sequential([Dense(1, input_dim=2)])
    with pytest.raises(ValueError, match="given twice"):
        model.compile(optimizer="sgd", loss="mse", metrics=[metric], weighted_metrics=[metric])


def test_weighted_metrics_survive_saving(tmp_path):
    X, y, w = _weighted_problem()
    model = fx.Sequential([Dense(1, input_dim=3, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"],
                  weighted_metrics=["accuracy", M.AUC(summation_method="minoring")])
    model.save(tmp_path / "w.flexnet")
    loaded = fx.models.load_model(tmp_path / "w.flexnet")
    expected = model.evaluate(X, y, sample_weight=w, return_dict=True)
    assert loaded.evaluate(X, y, sample_weight=w, return_dict=True) == pytest.approx(expected, rel=1e-6)


# -- configs, names, no device reads ------------------------------------------------------------------


NEW_METRICS = [
    M.F1Score(average="macro", threshold=0.4), M.FBetaScore(average="weighted", beta=0.5, name="fb"),
    M.R2Score(class_aggregation=None, num_regressors=2), M.TopKCategoricalAccuracy(k=2),
    M.SparseTopKCategoricalAccuracy(k=3, from_sorted_ids=True), M.CosineSimilarity(),
    M.Precision(thresholds=[0.2, 0.8], top_k=3, class_id=1), M.Recall(top_k=2),
    M.AUC(curve="PR", summation_method="majoring", thresholds=[0.3, 0.6]),
    M.MeanMetricWrapper("categorical_focal_crossentropy", name="focal"),
    M.MeanMetricWrapper(fx.losses.Huber(delta=2.0)),
]


@pytest.mark.parametrize("metric", NEW_METRICS, ids=repr)
def test_configs_round_trip_through_json(metric):
    spec = json.loads(json.dumps(fx.registry.serialize(metric)))
    rebuilt = fx.registry.deserialize("metric", spec)
    assert type(rebuilt) is type(metric) and rebuilt.get_config() == metric.get_config()


@pytest.mark.parametrize(("name", "cls"), [
    ("f1_score", M.F1Score), ("fbeta_score", M.FBetaScore), ("r2_score", M.R2Score),
    ("top_k_categorical_accuracy", M.TopKCategoricalAccuracy),
    ("sparse_top_k_categorical_accuracy", M.SparseTopKCategoricalAccuracy),
    ("cosine_similarity", M.CosineSimilarity), ("F1Score", M.F1Score),
])
def test_keras_names_resolve(name, cls):
    assert type(fx.metrics.get(name)) is cls


@pytest.mark.parametrize(("make", "error", "match"), [
    (lambda: M.FBetaScore(average="samples"), ValueError, "average must be one of"),
    (lambda: M.FBetaScore(beta=0.0), ValueError, "beta must be a finite number > 0"),
    (lambda: M.F1Score(threshold=0.0), ValueError, r"threshold must be a number in \(0, 1\]"),
    (lambda: M.R2Score(class_aggregation="median"), ValueError, "class_aggregation must be one of"),
    (lambda: M.R2Score(num_regressors=-1), ValueError, "num_regressors must be an int >= 0"),
    (lambda: M.TopKCategoricalAccuracy(k=0), ValueError, "k must be an int >= 1"),
    (lambda: M.SparseTopKCategoricalAccuracy(from_sorted_ids="yes"), TypeError, "True or False"),
    (lambda: M.MeanMetricWrapper(), TypeError, "needs fn"),
    (lambda: M.MeanMetricWrapper("nope"), ValueError, "unknown loss"),
])
def test_bad_arguments_are_refused(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_updates_of_the_new_metrics_never_read_the_device(host_reads):
    xps = pytest.importorskip("array_api_strict")
    reads = host_reads
    rng = np.random.default_rng(13)
    P = xps.asarray(rng.uniform(0, 1, (10, 3)))
    labels = xps.asarray(rng.integers(0, 3, 10))
    onehot = xps.asarray(np.eye(3)[rng.integers(0, 3, 10)])
    w = xps.asarray(rng.uniform(0, 1, 10))
    for metric, y in [(M.F1Score(), labels), (M.FBetaScore(average="micro", threshold=0.5), onehot),
                      (M.R2Score(), onehot), (M.TopKCategoricalAccuracy(k=2), onehot),
                      (M.SparseTopKCategoricalAccuracy(k=2), labels),
                      (M.Precision([0.2, 0.5], top_k=2), onehot),
                      (M.AUC(curve="PR"), onehot), (fx.metrics.get("hinge"), onehot),
                      (fx.metrics.get("binary_crossentropy"), onehot)]:
        reads.clear()
        metric.update(xps, y, P)
        metric.update(xps, y, P, sample_weight=w)
        assert reads == [], metric
