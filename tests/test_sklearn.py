"""scikit-learn estimators: scikit-learn's own estimator checks, and the estimators inside
Pipeline, GridSearchCV (n_jobs=2), cross_val_score, clone, pickle and joblib."""

from __future__ import annotations

import pytest

pytest.importorskip("sklearn")

from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from flexnet.sklearn import FlexnetClassifier, FlexnetRegressor  # noqa: E402

#: Small and quick: the checks fit a few hundred times.
SMALL = {"hidden_layer_sizes": (16,), "epochs": 30, "learning_rate": 0.01, "random_state": 0}

#: Integer sample weights give what repeated samples give only up to rounding here: flexnet's loss
#: is Σ w·ℓ / n (divided by the batch size, Keras's rule), so weights and repetitions scale the
#: gradients by different factors, which Adam cancels only up to its epsilon (the classifier's
#: probabilities differ by 9.7e-8, over the check's 1e-7; the regressor's pass). With several
#: batches, repetitions would also change the batches.
EXPECTED_FAILED_CHECKS = {
    "FlexnetClassifier": {"check_sample_weight_equivalence_on_dense_data":
                          "weights scale the batch loss, repetitions the batch size: equal to ~1e-7 only"},
    "FlexnetRegressor": {},
}


@parametrize_with_checks([FlexnetClassifier(**SMALL), FlexnetRegressor(**SMALL)],
                         expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS[type(est).__name__])
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


# ---------------------------------------------------------------------------
# In scikit-learn's machinery.

import pickle  # noqa: E402

import joblib  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_digits, make_classification, make_regression  # noqa: E402
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import flexnet as fx  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:400] / 16.0, y[:400]


@pytest.fixture(scope="module")
def words():
    """A binary problem with string labels."""
    X, y = make_classification(n_samples=120, n_features=6, n_informative=4, random_state=1)
    return X, np.array(["no", "yes"])[y]


def test_a_pipeline_learns_the_digits(digits):
    X, y = digits
    classifier = FlexnetClassifier(hidden_layer_sizes=(32,), epochs=15, learning_rate=0.01, random_state=0)
    pipe = make_pipeline(StandardScaler(), classifier)
    pipe.fit(X[:300], y[:300])
    assert pipe.score(X[300:], y[300:]) > 0.85
    assert list(pipe[-1].classes_) == list(range(10))


def test_grid_search_in_two_processes_scores_as_in_one(digits):
    X, y = digits
    grid = {"hidden_layer_sizes": [(8,), (32,)], "learning_rate": [0.003, 0.03]}
    estimator = FlexnetClassifier(epochs=5, random_state=0)
    two = GridSearchCV(estimator, grid, cv=2, n_jobs=2).fit(X, y)
    one = GridSearchCV(estimator, grid, cv=2, n_jobs=1).fit(X, y)
    # random_state fixes every fit: processes, order and scheduling change nothing.
    np.testing.assert_array_equal(two.cv_results_["mean_test_score"], one.cv_results_["mean_test_score"])
    assert two.best_params_ == one.best_params_
    assert two.best_estimator_.score(X, y) > 0.8


def test_randomized_search_and_cross_val_score(words):
    X, y = words
    search = RandomizedSearchCV(FlexnetClassifier(epochs=10, random_state=0),
                                {"hidden_layer_sizes": [(4,), (16,)], "dropout": [0.0, 0.2],
                                 "learning_rate": [0.01, 0.03]}, n_iter=3, cv=2, random_state=0).fit(X, y)
    assert set(search.best_estimator_.classes_) == {"no", "yes"}
    X, y = make_regression(90, 4, noise=1.0, random_state=0)
    regressor = FlexnetRegressor(epochs=30, learning_rate=0.01, random_state=0)
    scores = cross_val_score(regressor, X, y / 100, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.5


def test_clone_keeps_the_parameters_and_drops_the_model(words):
    X, y = words
    callbacks = [fx.callbacks.EarlyStopping(monitor="loss", patience=1)]
    estimator = FlexnetClassifier(hidden_layer_sizes=(4, 3), callbacks=callbacks, random_state=3).fit(X, y)
    copy = clone(estimator)
    assert copy.get_params()["hidden_layer_sizes"] == (4, 3) and not hasattr(copy, "model_")
    assert estimator.callbacks is callbacks and callbacks[0].model is None  # fit used a copy


@pytest.mark.parametrize("dump, load", [
    (pickle.dumps, pickle.loads),
    (lambda est: _joblib_bytes(est), lambda data: _joblib_load(data)),
], ids=["pickle", "joblib"])
def test_a_fitted_estimator_pickles_with_its_model_as_a_flexnet_archive(words, dump, load):
    X, y = words
    # (no shuffling: a loaded model draws from a new generator; the optimizer's state is the file's)
    estimator = FlexnetClassifier(hidden_layer_sizes=(8,), epochs=3, warm_start=True, shuffle=False,
                                  random_state=0).fit(X, y)
    state = estimator.__getstate__()
    assert state["model_"][0] == "flexnet archive" and isinstance(state["model_"][1], bytes)
    restored = load(dump(estimator))
    np.testing.assert_array_equal(restored.predict_proba(X), estimator.predict_proba(X))
    # The optimizer's state travelled too: training on continues exactly.
    estimator.fit(X, y)
    restored.fit(X, y)
    np.testing.assert_array_equal(restored.predict_proba(X), estimator.predict_proba(X))
    assert restored.history_["loss"] == estimator.history_["loss"]


def _joblib_bytes(estimator) -> bytes:
    import io

    buffer = io.BytesIO()
    joblib.dump(estimator, buffer)
    return buffer.getvalue()


def _joblib_load(data: bytes):
    import io

    return joblib.load(io.BytesIO(data))


# ---------------------------------------------------------------------------
# Parameters.


def test_random_state_fixes_the_model(words):
    X, y = words

    def fitted(seed):
        return FlexnetClassifier(hidden_layer_sizes=(8,), dropout=0.3, epochs=3, random_state=seed).fit(X, y)

    np.testing.assert_array_equal(fitted(5).predict_proba(X), fitted(5).predict_proba(X))
    assert not np.allclose(fitted(5).predict_proba(X), fitted(6).predict_proba(X))
    assert fitted(np.random.RandomState(0)).__sklearn_tags__().non_deterministic is False
    assert FlexnetClassifier().__sklearn_tags__().non_deterministic is True


def test_every_fit_argument_reaches_fit(words):
    X, y = words
    stop = fx.callbacks.EarlyStopping(monitor="val_loss", patience=0, min_delta=10.0)
    estimator = FlexnetClassifier(hidden_layer_sizes=(8,), epochs=20, batch_size=16, validation_split=0.25,
                                  callbacks=[stop], class_weight={"no": 1.0, "yes": 3.0}, random_state=0)
    estimator.fit(X, y, sample_weight=np.linspace(0.5, 1.5, len(y)))
    assert len(estimator.history_["loss"]) == 2  # stopped: val_loss never improves by 10
    assert "val_loss" in estimator.history_
    balanced = FlexnetClassifier(epochs=2, class_weight="balanced", random_state=0).fit(X[:90], y[:90])
    assert balanced.history_["loss"]
    override = FlexnetClassifier(epochs=2, random_state=0)
    override.fit(X, y, epochs=4, validation_data=(X[:10], y[:10]))
    assert len(override.history_["val_loss"]) == 4


@pytest.mark.parametrize("params, match", [
    ({"class_weight": {"maybe": 2.0}}, r"class_weight names labels \['maybe'\]"),
    ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
    ({"model": fx.Sequential([fx.layers.Dense(1, input_dim=6)])}, "model must be a function"),
])
def test_bad_parameters_are_named(words, params, match):
    X, y = words
    with pytest.raises((ValueError, TypeError), match=match):
        FlexnetClassifier(epochs=1, **params).fit(X, y)


def test_partial_fit_needs_the_classes_once_and_learns_batch_by_batch(digits):
    X, y = digits
    estimator = FlexnetClassifier(hidden_layer_sizes=(32,), learning_rate=0.01, random_state=0)
    with pytest.raises(ValueError, match="classes must be passed on the first call to partial_fit"):
        estimator.partial_fit(X[:50], y[:50])
    estimator.partial_fit(X[:50], y[:50], classes=np.arange(10))
    model = estimator.model_
    for _ in range(6):
        for start in range(0, 300, 100):
            estimator.partial_fit(X[start:start + 100], y[start:start + 100])
    assert estimator.model_ is model and len(estimator.history_["loss"]) == 19
    assert estimator.score(X[300:], y[300:]) > 0.8
    with pytest.raises(ValueError, match=r"labels \[10\] that are not in classes_"):
        estimator.partial_fit(X[:3], np.array([1, 2, 10]))


def test_warm_start_continues_the_same_model(words):
    X, y = words
    estimator = FlexnetClassifier(hidden_layer_sizes=(8,), epochs=3, warm_start=True, random_state=0)
    model = estimator.fit(X, y).model_
    estimator.fit(X, y)
    assert estimator.model_ is model and len(estimator.history_["loss"]) == 6
    cold = FlexnetClassifier(hidden_layer_sizes=(8,), epochs=3, random_state=0).fit(X, y)
    first = cold.model_
    cold.fit(X, y)
    assert cold.model_ is not first and len(cold.history_["loss"]) == 3


def test_probabilities_labels_and_feature_names(words):
    pd = pytest.importorskip("pandas")
    X, y = words
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    estimator = FlexnetClassifier(hidden_layer_sizes=(8,), epochs=20, learning_rate=0.01, random_state=0)
    estimator.fit(frame, y)
    assert estimator.n_features_in_ == 6 and list(estimator.feature_names_in_) == list(frame.columns)
    P = estimator.predict_proba(frame)
    assert P.shape == (len(y), 2) and P.dtype == np.float64
    np.testing.assert_allclose(P.sum(axis=1), 1.0)
    np.testing.assert_allclose(P[:, 1], estimator.model_.predict(X).ravel(), rtol=1e-12)  # one sigmoid unit
    assert set(estimator.predict(frame)) <= {"no", "yes"} and estimator.score(frame, y) > 0.8


def _model(X, y, units=8, compiled=True):
    model = fx.Sequential([fx.layers.Dense(units, input_dim=X.shape[1], activation="tanh"),
                           fx.layers.Dense(y.shape[1], activation="softmax")], dtype="float64")
    if compiled:
        model.compile(optimizer=fx.optimizers.Adam(0.02), loss="categorical_crossentropy")
    return model


@pytest.mark.parametrize("compiled", [True, False])
def test_a_model_function_builds_the_model(digits, compiled):
    X, y = digits
    estimator = FlexnetClassifier(_model, model_kwargs={"units": 24, "compiled": compiled}, epochs=10,
                                  learning_rate=0.02, random_state=0).fit(X, y)
    assert estimator.model_.layers[0].units == 24 and estimator.score(X, y) > 0.9
    expected = fx.losses.CategoricalCrossentropy if compiled else fx.losses.SparseCategoricalCrossentropy
    assert type(estimator.model_.loss) is expected
    assert estimator.model_.optimizer.learning_rate == pytest.approx(0.02)


def test_what_a_model_function_returns_is_checked(words):
    X, y = words

    def two_outputs(X, y):
        inp = fx.layers.Input((X.shape[1],))
        return fx.models.Model(inputs=inp, outputs=[fx.layers.Dense(1)(inp), fx.layers.Dense(1)(inp)])

    with pytest.raises(TypeError, match="returned dict, not a flexnet model"):
        FlexnetClassifier(lambda X, y: {}).fit(X, y)
    with pytest.raises(ValueError, match="a scikit-learn estimator takes one of each"):
        FlexnetClassifier(two_outputs).fit(X, y)
    with pytest.raises(ValueError, match="output has 3 units but there are 2 classes"):
        FlexnetClassifier(lambda X, y: fx.Sequential([fx.layers.Dense(3, input_dim=6)])).fit(X, y)


def test_the_regressor_predicts_one_or_several_targets():
    X, Y = make_regression(80, 5, n_targets=2, noise=0.5, random_state=0)
    Y = Y / 100
    several = FlexnetRegressor(epochs=60, learning_rate=0.01, random_state=0).fit(X, Y)
    assert several.predict(X).shape == (80, 2) and several.score(X, Y) > 0.9
    one = FlexnetRegressor(epochs=60, learning_rate=0.01, random_state=0).fit(X, Y[:, 0])
    assert one.predict(X).shape == (80,)
    with pytest.raises(ValueError, match="class_weight weighs classes"):
        FlexnetRegressor(class_weight={0: 1.0}).fit(X, Y)


def test_estimators_train_on_every_backend(case, words):
    X, y = words
    estimator = FlexnetClassifier(hidden_layer_sizes=(8,), epochs=20, learning_rate=0.01, random_state=0,
                                  backend=case.backend, device=case.device, dtype=case.dtype).fit(X, y)
    assert estimator.model_.backend == case.resolve() and estimator.model_.dtype == case.dtype
    assert estimator.score(X, y) > 0.8
    restored = pickle.loads(pickle.dumps(estimator))
    assert restored.model_.backend == case.resolve()
    np.testing.assert_array_equal(restored.predict_proba(X), estimator.predict_proba(X))
