"""Initializers and random generators: shape, dtype and device on every backend, the
statistics of each distribution against its textbook formula, and seeding with
``fx.utils.set_random_seed``.
"""

from __future__ import annotations

import math

import array_api_compat
import numpy as np
import pytest

import flexnet as fx
from flexnet.layers import Dense, Dropout

KERAS_NAMES = [
    "zeros", "ones", "constant", "random_uniform", "random_normal",
    "glorot_uniform", "glorot_normal", "he_uniform", "he_normal",
    "lecun_uniform", "lecun_normal",
]


def _assert_on_case(case, w, shape, dtype=None):
    """``w`` is an array of the case's namespace, on its device, with this shape and dtype."""
    b = case.resolve()
    assert array_api_compat.array_namespace(w) is b.xp
    assert array_api_compat.device(w) == b.device
    assert w.dtype == b.dtype(dtype or case.dtype)
    assert tuple(w.shape) == tuple(shape)


# ---------------------------------------------------------------------------
# Where and what: every initializer on every case.


@pytest.mark.parametrize("name", sorted(fx.initializers.INITIALIZERS))
@pytest.mark.parametrize("shape", [(7, 5), (6,)], ids=["kernel", "vector"])
def test_initializer_shape_dtype_and_device(case, name, shape):
    rng = fx.random.generator(case.resolve(), 3)
    w = fx.initializers.get(name)(shape, case.dtype, rng)
    _assert_on_case(case, w, shape)
    assert np.all(np.isfinite(case.to_numpy(w)))


@pytest.mark.parametrize("name", KERAS_NAMES)
def test_keras_initializer_names_resolve(name):
    assert isinstance(fx.initializers.get(name), fx.initializers.Initializer)


@pytest.mark.parametrize("name", ["glorot_uniform", "he_normal", "random_normal", "ones"])
def test_dense_weights_live_on_the_models_device(case, name):
    model = case.model([Dense(6, input_dim=4, kernel_initializer=name, bias_initializer=name),
                        Dense(2, kernel_initializer=name)])
    shapes = [(4, 6), (6,), (6, 2), (2,)]
    for w, shape in zip(model.weights, shapes):
        _assert_on_case(case, w, shape)


# ---------------------------------------------------------------------------
# Statistics, from the formulas (fan_in, fan_out of a (fan_in, fan_out) kernel).

FAN_IN, FAN_OUT = 400, 600
UNIFORM_LIMITS = {
    "random_uniform": lambda fi, fo: 0.05,
    "glorot_uniform": lambda fi, fo: math.sqrt(6.0 / (fi + fo)),
    "xavier_uniform": lambda fi, fo: math.sqrt(6.0 / (fi + fo)),
    "he_uniform": lambda fi, fo: math.sqrt(6.0 / fi),
    "lecun_uniform": lambda fi, fo: math.sqrt(3.0 / fi),
}
NORMAL_STDS = {
    "random_normal": lambda fi, fo: 0.05,
    "glorot_normal": lambda fi, fo: math.sqrt(2.0 / (fi + fo)),
    "xavier_normal": lambda fi, fo: math.sqrt(2.0 / (fi + fo)),
    "he_normal": lambda fi, fo: math.sqrt(2.0 / fi),
    "lecun_normal": lambda fi, fo: math.sqrt(1.0 / fi),
}


def _draw(case, name, shape, seed=5):
    rng = fx.random.generator(case.resolve(), seed)
    return case.to_numpy(fx.initializers.get(name)(shape, case.dtype, rng)).astype(np.float64)


@pytest.mark.parametrize("name", list(UNIFORM_LIMITS))
def test_uniform_initializers_fill_their_bounds(case, name):
    limit = UNIFORM_LIMITS[name](FAN_IN, FAN_OUT)
    w = _draw(case, name, (FAN_IN, FAN_OUT))
    tol = 1e-6 * limit  # float32 rounding at the edges
    assert w.min() >= -limit - tol and w.max() <= limit + tol
    assert w.min() < -0.99 * limit and w.max() > 0.99 * limit
    assert abs(w.mean()) < 0.01 * limit
    assert w.std() == pytest.approx(limit / math.sqrt(3.0), rel=0.01)


@pytest.mark.parametrize("name", list(NORMAL_STDS))
def test_normal_initializers_have_the_right_spread(case, name):
    std = NORMAL_STDS[name](FAN_IN, FAN_OUT)
    w = _draw(case, name, (FAN_IN, FAN_OUT))
    assert w.std() == pytest.approx(std, rel=0.01)
    assert abs(w.mean()) < 5 * std / math.sqrt(w.size)
    assert np.mean(np.abs(w) < std) == pytest.approx(0.6827, abs=0.01)  # a normal's 1σ mass


def test_glorot_uniform_of_a_vector_uses_its_length_for_both_fans(case):
    n = 50_000
    w = _draw(case, "glorot_uniform", (n,))
    limit = math.sqrt(6.0 / (n + n))
    assert np.abs(w).max() <= limit * (1 + 1e-6)
    assert np.abs(w).max() > 0.99 * limit


def test_compute_fans_follows_keras():
    assert fx.initializers.compute_fans((3, 4)) == (3, 4)
    assert fx.initializers.compute_fans((5,)) == (5, 5)
    assert fx.initializers.compute_fans((2, 3, 4, 5)) == (24, 30)  # receptive field 2 * 3


@pytest.mark.parametrize(
    ("init", "value"),
    [
        (fx.initializers.Zeros(), 0.0),
        (fx.initializers.Ones(), 1.0),
        (fx.initializers.Constant(0.3), 0.3),
        (fx.initializers.Constant(-2.5), -2.5),
        ("zeros", 0.0),
        ("ones", 1.0),
    ],
    ids=["Zeros", "Ones", "Constant(0.3)", "Constant(-2.5)", "'zeros'", "'ones'"],
)
def test_constant_initializers_are_exact(case, init, value):
    rng = fx.random.generator(case.resolve(), 0)
    w = fx.initializers.get(init)((3, 4), case.dtype, rng)
    _assert_on_case(case, w, (3, 4))
    np.testing.assert_array_equal(case.to_numpy(w), np.full((3, 4), value, dtype=case.dtype))


def test_random_initializers_honour_their_arguments(case):
    rng = fx.random.generator(case.resolve(), 9)
    u = case.to_numpy(fx.initializers.RandomUniform(2.0, 3.0)((20_000,), case.dtype, rng))
    assert u.min() >= 2.0 and u.max() <= 3.0 and u.mean() == pytest.approx(2.5, abs=0.01)
    z = case.to_numpy(fx.initializers.RandomNormal(mean=-1.0, stddev=0.2)((20_000,), case.dtype,
                                                                           rng))
    assert z.mean() == pytest.approx(-1.0, abs=0.01) and z.std() == pytest.approx(0.2, rel=0.03)


def test_unknown_initializer_lists_valid_names():
    with pytest.raises(ValueError, match="nope") as info:
        fx.initializers.get("nope")
    for name in ("glorot_uniform", "he_normal", "zeros"):
        assert name in str(info.value)


def test_dense_with_unknown_initializer_raises():
    with pytest.raises(ValueError, match="valid names"):
        Dense(3, kernel_initializer="glorot_unifrom")


# ---------------------------------------------------------------------------
# Generators.


def test_generator_draws_on_the_device_with_the_right_distribution(case):
    rng = fx.random.generator(case.resolve(), 11)
    u = rng.uniform((400, 50), -1.0, 3.0, case.dtype)
    z = rng.normal((400, 50), 2.0, 0.5, case.dtype)
    _assert_on_case(case, u, (400, 50))
    _assert_on_case(case, z, (400, 50))
    u, z = case.to_numpy(u), case.to_numpy(z)
    assert u.min() >= -1.0 and u.max() <= 3.0
    assert u.mean() == pytest.approx(1.0, abs=0.03)
    assert z.mean() == pytest.approx(2.0, abs=0.01) and z.std() == pytest.approx(0.5, rel=0.02)


@pytest.mark.parametrize("n", [1, 2, 97])
def test_generator_permutation_is_a_permutation_on_the_device(case, n):
    b = case.resolve()
    perm = fx.random.generator(b, 13).permutation(n)
    assert array_api_compat.array_namespace(perm) is b.xp
    assert array_api_compat.device(perm) == b.device
    assert b.xp.isdtype(perm.dtype, "integral")
    host = case.to_numpy(perm)
    assert host.shape == (n,)
    np.testing.assert_array_equal(np.sort(host), np.arange(n))
    if n == 97:
        assert not np.array_equal(host, np.arange(n))  # 1 / 97! chance of the identity


def test_permutation_indexes_arrays_with_take(case):
    b = case.resolve()
    data = np.arange(20.0).reshape(10, 2)
    perm = fx.random.generator(b, 2).permutation(10)
    shuffled = case.to_numpy(b.xp.take(case.asarray(data), perm, axis=0))
    np.testing.assert_array_equal(shuffled, data[case.to_numpy(perm)])


def test_generators_with_the_same_seed_draw_the_same_numbers(case):
    first, second = (fx.random.generator(case.resolve(), 21) for _ in range(2))
    other = fx.random.generator(case.resolve(), 22)
    draws = [case.to_numpy(g.normal((50,), dtype=case.dtype)) for g in (first, second, other)]
    np.testing.assert_array_equal(draws[0], draws[1])
    assert not np.array_equal(draws[0], draws[2])
    np.testing.assert_array_equal(case.to_numpy(first.permutation(30)),
                                  case.to_numpy(second.permutation(30)))


# ---------------------------------------------------------------------------
# set_random_seed.


def _net(case):
    return case.model([Dense(8, input_dim=5, activation="relu"), Dropout(0.3), Dense(2)])


def test_same_seed_gives_the_same_weights(case):
    fx.utils.set_random_seed(7)
    first = _net(case).get_weights()
    fx.utils.set_random_seed(7)
    second = _net(case).get_weights()
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


def test_different_seeds_and_successive_models_differ(case):
    fx.utils.set_random_seed(7)
    first = _net(case).get_weights()[0]
    following = _net(case).get_weights()[0]
    fx.utils.set_random_seed(8)
    other_seed = _net(case).get_weights()[0]
    assert not np.array_equal(first, following)
    assert not np.array_equal(first, other_seed)


def test_same_seed_gives_the_same_training_run(case):
    """Initial weights, dropout masks and shuffles all follow the seed."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(30, 5)), rng.normal(size=(30, 2))
    runs = []
    for _ in range(2):
        fx.utils.set_random_seed(3)
        model = _net(case)
        model.compile(optimizer="sgd", loss="mse")
        model.fit(X, y, batch_size=8, epochs=2, shuffle=True, verbose=0)
        runs.append(model.get_weights())
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


def test_set_random_seed_seeds_numpy_and_python_random():
    import random

    fx.utils.set_random_seed(42)
    first = (np.random.random(), random.random())  # noqa: NPY002 - the legacy global generator
    fx.utils.set_random_seed(42)
    second = (np.random.random(), random.random())  # noqa: NPY002
    assert first == second


def test_set_random_seed_accepts_numpy_integers():
    fx.utils.set_random_seed(np.int64(5))
    a = fx.Sequential([Dense(3, input_dim=2)]).get_weights()[0]
    fx.utils.set_random_seed(5)
    b = fx.Sequential([Dense(3, input_dim=2)]).get_weights()[0]
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("seed", [-1, 1.5, True, "3", None])
def test_set_random_seed_rejects_bad_seeds(seed):
    with pytest.raises(ValueError, match="seed"):
        fx.utils.set_random_seed(seed)
