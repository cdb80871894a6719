"""Mini-batches (in order and shuffled), the validation and train/test splits, one-hot labels and
the StandardScaler, on every backend where the data lives there."""

from __future__ import annotations

import array_api_compat
import numpy as np
import pytest

from flexnet import data
from flexnet import utils as fx_utils


def test_batches_cover_every_sample_in_order(case):
    x = case.asarray(np.arange(20.0).reshape(10, 2))
    y = case.asarray(np.arange(10.0))
    got = list(data.batches(x, y, batch_size=4))
    assert [xb.shape[0] for xb, _ in got] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate([case.to_numpy(yb) for _, yb in got]),
                                  np.arange(10.0))
    assert data.num_batches(10, 4) == 3


def test_batches_reject_bad_sizes_and_lengths():
    with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
        list(data.batches(np.zeros(3), batch_size=0))
    with pytest.raises(ValueError, match="same length"):
        list(data.batches(np.zeros(3), np.zeros(4), batch_size=2))


def test_split_validation_takes_the_end():
    x, y = np.arange(10.0)[:, None], np.arange(10)
    (xt, yt), (xv, yv) = data.split_validation(x, y, 0.3)
    np.testing.assert_array_equal(yt, np.arange(7))
    np.testing.assert_array_equal(yv, [7, 8, 9])
    with pytest.raises(ValueError, match="both must be non-empty"):
        data.split_validation(x[:1], y[:1], 0.5)


@pytest.mark.parametrize("n, split, n_train", [
    (10, 0.25, 7),  # Keras: floor(10 * 0.75) = 7 for training, 3 for validation (not 8 and 2)
    (10, 0.1, 9), (10, 0.3, 7), (10, 0.5, 5), (10, 0.55, 4), (3, 0.5, 1), (7, 0.3, 4),
    (5, 0.2, 4), (10, 0.7, 3), (100, 0.2, 80), (101, 0.2, 80), (1000, 0.001, 999), (2, 0.5, 1),
])
def test_validation_cut_is_keras_train_validation_split(n, split, n_train):
    """The training count is ``floor(n * (1 - split))``, as ``train_validation_split`` in
    keras/src/trainers/data_adapters/array_slicing.py computes it."""
    assert data.validation_cut(n, split) == n_train == int(np.floor(n * (1.0 - split)))
    (xt, yt), (xv, yv) = data.split_validation(np.zeros((n, 1)), np.arange(n), split)
    assert len(yt) == n_train and len(yv) == n - n_train


@pytest.mark.parametrize("n, split", [(10, 1e-17), (1, 0.5), (3, 0.9)])
def test_validation_cut_refuses_an_empty_side_as_keras_does(n, split):
    with pytest.raises(ValueError, match=rf"validation_split={split} of {n} samples leaves .* both must be "
                                         "non-empty"):
        data.validation_cut(n, split)


def test_batches_gather_in_the_given_order(case):
    x = case.asarray(np.arange(14.0).reshape(7, 2))
    y = case.asarray(np.arange(7.0))
    perm = np.array([3, 0, 6, 1, 5, 2, 4])
    order = case.resolve().from_numpy(perm, "int64")
    got = list(data.batches(x, y, batch_size=3, order=order))
    assert [xb.shape[0] for xb, _ in got] == [3, 3, 1]
    np.testing.assert_array_equal(np.concatenate([case.to_numpy(yb) for _, yb in got]), perm)
    np.testing.assert_array_equal(case.to_numpy(got[0][0]), np.arange(14.0).reshape(7, 2)[perm[:3]])
    with pytest.raises(ValueError, match="order has 3 indices for 7 samples"):
        list(data.batches(x, batch_size=3, order=order[:3]))


# ---------------------------------------------------------------------------
# Shuffled mini-batches.


def test_batches_shuffle_from_a_seed_is_the_same_permutation_on_every_backend(case):
    x = case.asarray(np.arange(22.0).reshape(11, 2))
    y = case.asarray(np.arange(11.0))
    got = list(data.batches(x, y, batch_size=4, shuffle=True, seed=7))
    assert [xb.shape[0] for xb, _ in got] == [4, 4, 3]
    order = np.concatenate([case.to_numpy(yb) for _, yb in got])
    np.testing.assert_array_equal(order, np.random.default_rng(7).permutation(11))
    expected = np.arange(22.0).reshape(11, 2)[order[4:8].astype(int)]
    np.testing.assert_array_equal(case.to_numpy(got[1][0]), expected)


def test_batches_shuffle_with_a_generator_gives_a_new_order_each_call():
    y = np.arange(50)
    rng = np.random.default_rng(3)
    first = np.concatenate([b for (b,) in data.batches(y, batch_size=8, shuffle=True, seed=rng)])
    second = np.concatenate([b for (b,) in data.batches(y, batch_size=8, shuffle=True, seed=rng)])
    assert sorted(first) == sorted(second) == list(range(50))
    assert not np.array_equal(first, second)


def test_batches_shuffle_without_seed_follows_set_random_seed():
    y = np.arange(30)

    def order():
        fx_utils.set_random_seed(5)
        return np.concatenate([b for (b,) in data.batches(y, batch_size=7, shuffle=True)])

    np.testing.assert_array_equal(order(), order())
    assert not np.array_equal(order(), y)


def test_batches_reject_shuffle_with_order_bad_seed_and_no_arrays():
    y = np.arange(5)
    with pytest.raises(ValueError, match="either order or shuffle"):
        list(data.batches(y, order=np.arange(5), shuffle=True))
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        list(data.batches(y, shuffle=True, seed=-1))
    with pytest.raises(ValueError, match="at least one array"):
        list(data.batches(batch_size=2))


def test_batches_pass_none_through_when_shuffled():
    got = list(data.batches(np.arange(5.0), None, batch_size=2, shuffle=True, seed=0))
    assert [b[1] for b in got] == [None, None, None]


# ---------------------------------------------------------------------------
# train_test_split.


def test_train_test_split_keeps_rows_together_on_every_backend(case):
    host_x = np.arange(40.0).reshape(20, 2)
    host_y = np.arange(20.0)
    x_tr, x_te, y_tr, y_te = data.train_test_split(case.asarray(host_x), case.asarray(host_y),
                                                   test_size=0.25, seed=1)
    assert (x_tr.shape, x_te.shape, y_tr.shape, y_te.shape) == ((15, 2), (5, 2), (15,), (5,))
    x_tr, x_te, y_tr, y_te = map(case.to_numpy, (x_tr, x_te, y_tr, y_te))
    np.testing.assert_array_equal(x_tr, host_x[y_tr.astype(int)])
    np.testing.assert_array_equal(x_te, host_x[y_te.astype(int)])
    assert sorted(np.concatenate([y_tr, y_te])) == list(range(20))
    perm = np.random.default_rng(1).permutation(20)
    np.testing.assert_array_equal(y_te, perm[15:])


def test_train_test_split_is_reproducible_and_sized_like_sklearn():
    X, y = np.arange(30.0).reshape(10, 3), list(range(10))  # a list becomes an array
    a = data.train_test_split(X, y, test_size=0.33, seed=4)
    b = data.train_test_split(X, y, test_size=0.33, seed=4)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert a[1].shape == (4, 3)  # ceil(0.33 * 10), as sklearn
    c = data.train_test_split(X, y, test_size=0.33, seed=5)
    assert not np.array_equal(a[3], c[3])
    assert data.train_test_split(X, test_size=3, seed=0)[1].shape == (3, 3)


def test_train_test_split_takes_scikit_learns_random_state():
    X, y = np.arange(30.0).reshape(10, 3), np.arange(10)
    by_seed = data.train_test_split(X, y, test_size=0.3, seed=4)
    by_state = data.train_test_split(X, y, test_size=0.3, random_state=4)
    for a, b in zip(by_seed, by_state):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="give seed or random_state .*, not both"):
        data.train_test_split(X, y, seed=1, random_state=1)


def test_train_test_split_without_shuffle_tests_on_the_end():
    y_tr, y_te = data.train_test_split(np.arange(8), test_size=0.25, shuffle=False)
    np.testing.assert_array_equal(y_tr, np.arange(6))
    np.testing.assert_array_equal(y_te, [6, 7])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"test_size": 0.0}, ValueError, r"in \(0, 1\)"),
        ({"test_size": 1.0}, ValueError, r"in \(0, 1\)"),
        ({"test_size": 10}, ValueError, "both must be non-empty"),
        ({"test_size": True}, TypeError, "test_size must be"),
        ({"test_size": "0.2"}, TypeError, "test_size must be"),
    ],
)
def test_train_test_split_rejects_bad_sizes(kwargs, error, match):
    with pytest.raises(error, match=match):
        data.train_test_split(np.arange(10), **kwargs)


def test_train_test_split_rejects_different_lengths():
    with pytest.raises(ValueError, match="same length"):
        data.train_test_split(np.zeros((5, 2)), np.zeros(4))
    with pytest.raises(ValueError, match="at least one array"):
        data.train_test_split()


# ---------------------------------------------------------------------------
# to_categorical / one_hot.


def test_to_categorical_matches_identity_rows_on_every_backend(case):
    labels = np.array([2, 0, 1, 2, 4])
    out = data.to_categorical(case.asarray(labels, case.resolve().index_dtype))
    xp = case.resolve().xp
    assert out.dtype == xp.float32
    np.testing.assert_array_equal(case.to_numpy(out), np.eye(5)[labels])
    wide = data.one_hot(case.asarray(labels[:, None], case.resolve().index_dtype), num_classes=7,
                        dtype=case.dtype)  # (n, 1) -> (n, C), as Keras
    assert wide.dtype == getattr(xp, case.dtype)
    np.testing.assert_array_equal(case.to_numpy(wide), np.eye(7)[labels])


def test_to_categorical_accepts_whole_floats_lists_and_more_axes():
    np.testing.assert_array_equal(data.to_categorical(np.array([1.0, 0.0])), [[0, 1], [1, 0]])
    np.testing.assert_array_equal(data.to_categorical([[0, 1], [1, 1]]).shape, (2, 2, 2))
    assert data.to_categorical(np.zeros(0, dtype=int), num_classes=3).shape == (0, 3)
    assert data.one_hot is data.to_categorical


@pytest.mark.parametrize(
    ("labels", "kwargs", "error", "match"),
    [
        ([0, -1, 2], {}, ValueError, "non-negative, got -1"),
        ([0.0, 1.5], {}, ValueError, "non-integer"),
        ([0, 3], {"num_classes": 3}, ValueError, "class label 3 is out of range for num_classes=3"),
        ([0, 1], {"num_classes": 0}, ValueError, "num_classes must be a positive int"),
        (["a", "b"], {}, TypeError, "must be integers"),
        ([0, 1], {"dtype": "float99"}, ValueError, "dtype must name"),
    ],
)
def test_to_categorical_rejects_bad_labels(labels, kwargs, error, match):
    with pytest.raises(error, match=match):
        data.to_categorical(labels, **kwargs)


def test_to_categorical_checks_labels_on_the_device(case):
    labels = case.asarray(np.array([0, 5]), case.resolve().index_dtype)
    with pytest.raises(ValueError, match="out of range"):
        data.to_categorical(labels, num_classes=5)


# ---------------------------------------------------------------------------
# StandardScaler.


def _features(seed=0, n=40):
    rng = np.random.default_rng(seed)
    X = rng.normal(loc=[3.0, -1.0, 0.0, 50.0], scale=[2.0, 0.1, 1.0, 10.0], size=(n, 4))
    X[:, 2] = 0.1  # a constant feature
    return X


def test_standard_scaler_matches_sklearn_on_every_backend(case):
    from sklearn.preprocessing import StandardScaler as SkScaler

    host = _features()
    host = host.astype(case.dtype)
    X = case.asarray(host)
    scaler = data.StandardScaler().fit(X)
    ref = SkScaler().fit(host.astype(np.float64))
    np.testing.assert_allclose(scaler.mean_, ref.mean_, rtol=case.rtol)
    np.testing.assert_allclose(scaler.scale_, ref.scale_, rtol=case.rtol)
    assert scaler.scale_[2] == 1.0  # constant: no division by (rounding noise around) zero
    Z = scaler.transform(X)
    assert Z.dtype == X.dtype and array_api_compat.device(Z) == array_api_compat.device(X)
    case.assert_close(case.to_numpy(Z), ref.transform(host.astype(np.float64)))
    assert np.all(case.to_numpy(Z)[:, 2] == 0.0)
    case.assert_close(case.to_numpy(scaler.inverse_transform(Z)), host)
    np.testing.assert_array_equal(case.to_numpy(X), host)  # the input is untouched


def test_standard_scaler_fitted_on_the_host_transforms_backend_arrays(case):
    host = _features(1).astype(case.dtype)
    scaler = data.Standardizer().fit(host)  # the alias
    out = scaler.fit_transform(host)
    assert isinstance(out, np.ndarray)
    Z = scaler.transform(case.asarray(host))
    case.assert_close(case.to_numpy(Z), out)


def test_standard_scaler_config_round_trip_through_json():
    import json

    X = _features(2)
    scaler = data.StandardScaler().fit(X)
    config = json.loads(json.dumps(scaler.get_config()))
    assert config["mean"] == pytest.approx(X.mean(0).tolist())
    restored = data.StandardScaler.from_config(config)
    np.testing.assert_allclose(restored.transform(X), scaler.transform(X), rtol=1e-12)
    assert restored.n_features_in_ == 4 and restored.n_samples_seen_ == 40
    assert data.StandardScaler.from_config(data.StandardScaler().get_config()).mean_ is None


def test_standard_scaler_options_and_integer_input():
    X = np.array([[1, 10], [3, 30]])
    np.testing.assert_allclose(data.StandardScaler(with_mean=False).fit_transform(X), [[1, 1], [3, 3]])
    np.testing.assert_allclose(data.StandardScaler(with_std=False).fit_transform(X), [[-1, -10], [1, 10]])


def test_standard_scaler_errors():
    scaler = data.StandardScaler()
    with pytest.raises(RuntimeError, match=r"not fitted yet; call fit\(X_train\) before transform"):
        scaler.transform(np.zeros((2, 3)))
    scaler.fit(np.ones((5, 3)))
    with pytest.raises(ValueError, match="X has 2 features, but StandardScaler was fitted with 3"):
        scaler.transform(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="must be 2-D"):
        scaler.fit(np.zeros(3))
    with pytest.raises(ValueError, match="at least one sample"):
        scaler.fit(np.zeros((0, 3)))
    with pytest.raises(TypeError, match="real numbers"):
        scaler.fit(np.array([["a"]]))
