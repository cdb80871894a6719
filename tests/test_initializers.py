"""Initializers and random generators: shape, dtype and device on every backend, the
statistics of each distribution against its textbook formula, seeding with
``fx.utils.set_random_seed``, Keras's call form ``init(shape=..., dtype=...)`` and
``Constant`` with an array value.
"""

from __future__ import annotations

import json
import math
import re

import array_api_compat
import numpy as np
import pytest

import flexnet as fx
from flexnet.layers import Dense, Dropout

KERAS_NAMES = [
    "zeros", "ones", "constant", "random_uniform", "random_normal",
    "glorot_uniform", "glorot_normal", "he_uniform", "he_normal",
    "lecun_uniform", "lecun_normal", "identity", "orthogonal", "variance_scaling",
    "truncated_normal", "uniform", "normal", "one", "zero", "xavier_uniform", "xavier_normal",
    # Keras class names, as Keras configs store them
    "GlorotUniform", "HeNormal", "RandomNormal", "VarianceScaling", "Orthogonal",
    "OrthogonalInitializer", "Identity", "IdentityInitializer", "TruncatedNormal",
]
MATRIX_ONLY = {"identity", "orthogonal"}  # need a 2-D (or, orthogonal, higher) shape


def _assert_on_case(case, w, shape, dtype=None):
    """``w`` is an array of the case's namespace, on its device, with this shape and dtype."""
    b = case.resolve()
    assert array_api_compat.array_namespace(w) is b.xp
    assert array_api_compat.device(w) == b.device
    assert w.dtype == b.dtype(dtype or case.dtype)
    assert tuple(w.shape) == tuple(shape)


# ---------------------------------------------------------------------------
# Where and what: every initializer on every case.


@pytest.mark.parametrize(
    ("name", "shape"),
    [(name, shape) for name in sorted(fx.initializers.INITIALIZERS)
     for shape in [(7, 5), (6,)] if len(shape) == 2 or name not in MATRIX_ONLY],
)
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


# ---------------------------------------------------------------------------
# Orthogonal and identity.

ORTHOGONAL_SHAPES = [(8, 5), (5, 8), (6, 6), (2, 3, 4), (1, 1)]


@pytest.mark.parametrize("shape", ORTHOGONAL_SHAPES, ids=str)
@pytest.mark.parametrize("gain", [1.0, 1.7])
def test_orthogonal_is_orthogonal_on_every_backend(case, shape, gain):
    rng = fx.random.generator(case.resolve(), 4)
    w = fx.initializers.Orthogonal(gain=gain)(shape, case.dtype, rng)
    _assert_on_case(case, w, shape)
    W = case.to_numpy(w).astype(np.float64).reshape(-1, shape[-1])
    m, n = W.shape
    gram = W.T @ W if m >= n else W @ W.T  # orthonormal columns if tall, rows if wide
    np.testing.assert_allclose(gram, gain**2 * np.eye(min(m, n)), atol=50 * case.rtol)


@pytest.mark.parametrize("shape", [(8, 5), (5, 8), (2, 3, 4)], ids=str)
def test_orthogonal_is_the_sign_corrected_qr_of_the_drawn_matrix(case, shape):
    """Q of A = QR with diag(R) > 0 (unique), A the normal matrix the generator draws."""
    b = case.resolve()
    w = case.to_numpy(fx.initializers.Orthogonal(0.5)(shape, case.dtype, fx.random.generator(b, 8)))
    m, n = math.prod(shape[:-1]), shape[-1]
    A = case.to_numpy(fx.random.generator(b, 8).normal((m, n), dtype=case.dtype)).astype(np.float64)
    Q, R = np.linalg.qr(A if m >= n else A.T)
    Q = Q * np.sign(np.diag(R))
    expected = 0.5 * (Q if m >= n else Q.T)
    np.testing.assert_allclose(w.reshape(m, n), expected, atol=50 * case.rtol)


@pytest.mark.parametrize("shape", [(8, 5), (6, 6), (5, 8)], ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_orthogonal_equals_torch_orthogonal_(shape, dtype):
    torch = pytest.importorskip("torch")
    rng = fx.random.generator(fx.Backend.resolve("torch", "cpu"), 6)
    w = fx.initializers.Orthogonal(gain=1.3)(shape, dtype, rng)
    expected = torch.empty(shape, dtype=getattr(torch, dtype))
    torch.nn.init.orthogonal_(expected, gain=1.3, generator=torch.Generator().manual_seed(6))
    torch.testing.assert_close(w, expected)


def test_orthogonal_matrices_are_haar_distributed():
    """Sign correction makes Q uniform: every entry of a random n x n orthogonal matrix has
    mean 0 and variance 1/n (without it, the diagonal of Q leans positive)."""
    b = fx.Backend.resolve("numpy")
    rng = fx.random.generator(b, 0)
    n, draws = 4, 2000
    W = np.stack([fx.initializers.Orthogonal()((n, n), "float64", rng) for _ in range(draws)])
    assert np.abs(W.mean(axis=0)).max() < 5 / math.sqrt(n * draws)
    np.testing.assert_allclose(W.var(axis=0), 1.0 / n, rtol=0.15)


def test_dense_with_an_orthogonal_kernel(case):
    model = case.model([Dense(4, input_dim=9, kernel_initializer="orthogonal")])
    W = model.get_weights()[0].astype(np.float64)
    np.testing.assert_allclose(W.T @ W, np.eye(4), atol=50 * case.rtol)


@pytest.mark.parametrize("shape", [(4, 4), (3, 5), (5, 2)], ids=str)
@pytest.mark.parametrize("gain", [1.0, -0.5])
def test_identity_is_a_scaled_eye(case, shape, gain):
    rng = fx.random.generator(case.resolve(), 0)
    w = fx.initializers.Identity(gain)(shape, case.dtype, rng)
    _assert_on_case(case, w, shape)
    np.testing.assert_array_equal(case.to_numpy(w), gain * np.eye(*shape, dtype=case.dtype))


@pytest.mark.parametrize(("name", "shape"), [("identity", (5,)), ("identity", (2, 3, 4)),
                                             ("identity", ()), ("orthogonal", (5,)),
                                             ("orthogonal", ())])
def test_matrix_initializers_refuse_other_shapes(name, shape):
    rng = fx.random.generator(fx.Backend.resolve("numpy"), 0)
    with pytest.raises(ValueError, match=f"{name}.*{re.escape(str(shape))}"):
        fx.initializers.get(name)(shape, "float32", rng)


def test_orthogonal_of_an_empty_shape_is_empty(case):
    w = fx.initializers.Orthogonal()((0, 3), case.dtype, fx.random.generator(case.resolve(), 0))
    _assert_on_case(case, w, (0, 3))


# ---------------------------------------------------------------------------
# Variance scaling and the truncated normal.

VS_IN, VS_OUT = 200, 300
FAN = {"fan_in": VS_IN, "fan_out": VS_OUT, "fan_avg": (VS_IN + VS_OUT) / 2}


@pytest.mark.parametrize(
    ("mode", "distribution"),
    [("fan_in", "uniform"), ("fan_out", "untruncated_normal"), ("fan_avg", "truncated_normal"),
     ("fan_in", "truncated_normal"), ("fan_out", "uniform")],
)
def test_variance_scaling_has_variance_scale_over_fan(case, mode, distribution):
    scale = 3.0
    init = fx.initializers.VarianceScaling(scale, mode, distribution)
    w = case.to_numpy(init((VS_IN, VS_OUT), case.dtype, fx.random.generator(case.resolve(), 2)))
    w = w.astype(np.float64)
    std = math.sqrt(scale / FAN[mode])
    assert w.std() == pytest.approx(std, rel=0.01)
    assert abs(w.mean()) < 5 * std / math.sqrt(w.size)
    bound = {"uniform": math.sqrt(3) * std, "truncated_normal": 2 * std / 0.87962566103423978,
             "untruncated_normal": None}[distribution]
    if bound is None:
        assert np.abs(w).max() > 3.5 * std  # ~28 of 60 000 draws lie beyond 3.5σ
    else:
        assert np.abs(w).max() <= bound * (1 + 1e-6)
        assert np.abs(w).max() > 0.99 * bound


@pytest.mark.parametrize(
    ("name", "scale", "mode", "distribution"),
    [("glorot_uniform", 1.0, "fan_avg", "uniform"),
     ("glorot_normal", 1.0, "fan_avg", "untruncated_normal"),
     ("he_uniform", 2.0, "fan_in", "uniform"),
     ("he_normal", 2.0, "fan_in", "untruncated_normal"),
     ("lecun_uniform", 1.0, "fan_in", "uniform"),
     ("lecun_normal", 1.0, "fan_in", "untruncated_normal")],
)
def test_named_initializers_are_variance_scaling(case, name, scale, mode, distribution):
    cls = type(fx.initializers.get(name))
    general = fx.initializers.VarianceScaling(scale, mode, distribution, seed=12)
    draw = [case.to_numpy(init((30, 20), case.dtype, fx.random.generator(case.resolve(), 0)))
            for init in (cls(seed=12), general)]
    np.testing.assert_array_equal(draw[0], draw[1])


def test_variance_scaling_normal_means_truncated_as_in_keras():
    assert fx.initializers.VarianceScaling(distribution="normal").distribution == "truncated_normal"
    assert fx.initializers.VarianceScaling(distribution="Uniform").distribution == "uniform"


def test_truncated_normal_stays_within_two_stddev(case):
    init = fx.initializers.TruncatedNormal(mean=1.0, stddev=0.5)
    w = init((200, 200), case.dtype, fx.random.generator(case.resolve(), 1))
    _assert_on_case(case, w, (200, 200))
    w = case.to_numpy(w).astype(np.float64)
    assert w.min() >= 0.0 - 1e-6 and w.max() <= 2.0 + 1e-6
    assert w.min() < 0.01 and w.max() > 1.99
    assert w.mean() == pytest.approx(1.0, abs=0.01)
    assert w.std() == pytest.approx(0.5 * 0.87962566103423978, rel=0.02)


def test_truncated_normal_matches_torch_trunc_normal_statistics():
    torch = pytest.importorskip("torch")
    n = 100_000
    ours = fx.initializers.TruncatedNormal(stddev=1.0)((n,), "float64",
                                                       fx.random.generator(fx.Backend.resolve("numpy"), 3))
    theirs = torch.nn.init.trunc_normal_(torch.empty(n, dtype=torch.float64), std=1.0, a=-2.0, b=2.0,
                                         generator=torch.Generator().manual_seed(3)).numpy()
    for q in (0.1, 0.25, 0.5, 0.75, 0.9):
        assert np.quantile(ours, q) == pytest.approx(np.quantile(theirs, q), abs=0.025)


# ---------------------------------------------------------------------------
# Seeds.

SEEDABLE = [
    fx.initializers.RandomUniform(seed=3), fx.initializers.RandomNormal(seed=3),
    fx.initializers.TruncatedNormal(seed=3), fx.initializers.GlorotNormal(seed=3),
    fx.initializers.VarianceScaling(seed=3), fx.initializers.Orthogonal(seed=3),
]


@pytest.mark.parametrize("init", SEEDABLE, ids=repr)
def test_seeded_initializer_gives_the_same_values_at_every_call(case, init):
    rng = fx.random.generator(case.resolve(), 0)
    first, second = (case.to_numpy(init((6, 5), case.dtype, rng)) for _ in range(2))
    np.testing.assert_array_equal(first, second)
    other = type(init).from_config({**init.get_config(), "seed": 4})
    assert not np.array_equal(first, case.to_numpy(other((6, 5), case.dtype, rng)))


@pytest.mark.parametrize("init", SEEDABLE, ids=repr)
def test_unseeded_initializer_follows_the_models_generator(case, init):
    unseeded = type(init).from_config({**init.get_config(), "seed": None})
    runs = []
    for _ in range(2):
        rng = fx.random.generator(case.resolve(), 17)
        runs.append([case.to_numpy(unseeded((6, 5), case.dtype, rng)) for _ in range(2)])
    np.testing.assert_array_equal(runs[0][0], runs[1][0])  # same generator seed, same draw
    assert not np.array_equal(runs[0][0], runs[0][1])  # the next draw differs


# ---------------------------------------------------------------------------
# Configs.

CONFIGURED = [
    fx.initializers.Zeros(), fx.initializers.Ones(), fx.initializers.Constant(0.25),
    fx.initializers.Constant([[1.0, -2.0, 0.5, 3.0]]), fx.initializers.Constant(np.arange(4.0)),
    fx.initializers.Identity(gain=2.0), fx.initializers.RandomUniform(-0.1, 0.3, seed=1),
    fx.initializers.RandomNormal(mean=0.5, stddev=0.01, seed=2),
    fx.initializers.TruncatedNormal(stddev=0.2, seed=None),
    fx.initializers.VarianceScaling(0.5, "fan_out", "uniform", seed=7),
    fx.initializers.GlorotUniform(seed=5), fx.initializers.GlorotNormal(),
    fx.initializers.HeUniform(), fx.initializers.HeNormal(seed=0), fx.initializers.LecunUniform(),
    fx.initializers.LecunNormal(), fx.initializers.Orthogonal(gain=0.9, seed=6),
]


@pytest.mark.parametrize("init", CONFIGURED, ids=repr)
def test_config_round_trips_through_json(init):
    config = json.loads(json.dumps(fx.initializers.serialize(init)))
    assert config["class_name"] == type(init).__name__
    rebuilt = fx.initializers.get(config)
    assert type(rebuilt) is type(init)
    assert rebuilt.get_config() == init.get_config()
    assert type(init)(**init.get_config()).get_config() == init.get_config()
    rng = fx.random.generator(fx.Backend.resolve("numpy"), 0)
    if getattr(init, "seed", 0) is not None:  # deterministic: the same numbers
        np.testing.assert_array_equal(init((4, 4), "float64", rng), rebuilt((4, 4), "float64", rng))


def test_deserialize_accepts_registered_names_and_custom_classes():
    init = fx.initializers.get({"class_name": "random_normal", "config": {"stddev": 0.01}})
    assert isinstance(init, fx.initializers.RandomNormal) and init.stddev == 0.01

    class Halves(fx.initializers.Constant):
        def __init__(self):
            super().__init__(0.5)

        def get_config(self):
            return {}

    config = fx.initializers.serialize(Halves())
    with pytest.raises(ValueError, match="unknown initializer class 'Halves'"):
        fx.initializers.deserialize(config)
    assert isinstance(fx.initializers.deserialize(config, custom_objects={"Halves": Halves}), Halves)


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: fx.initializers.VarianceScaling(scale=0.0), ValueError, "scale"),
        (lambda: fx.initializers.VarianceScaling(mode="fan_sum"), ValueError, "mode.*fan_sum"),
        (lambda: fx.initializers.VarianceScaling(distribution="gaussian"), ValueError,
         "distribution.*gaussian"),
        (lambda: fx.initializers.RandomUniform(1.0, 0.0), ValueError, "minval"),
        (lambda: fx.initializers.RandomNormal(stddev=-0.1), ValueError, "stddev"),
        (lambda: fx.initializers.RandomNormal(mean=float("nan")), ValueError, "mean"),
        (lambda: fx.initializers.Constant("0.5"), ValueError, "value"),
        (lambda: fx.initializers.Constant([1.0, float("nan")]), ValueError, "finite numbers"),
        (lambda: fx.initializers.Constant([True, False]), ValueError, "finite numbers"),
        (lambda: fx.initializers.Constant(np.ones(3))(shape=(2, 2)), ValueError,
         r"value of shape \(3,\) does not broadcast to the shape \(2, 2\)"),
        (lambda: fx.initializers.Zeros()(shape=(2,), dtype="int32"), ValueError, "dtype must be one of"),
        (lambda: fx.initializers.Orthogonal(gain=None), ValueError, "gain"),
        (lambda: fx.initializers.Identity(gain=True), ValueError, "gain"),
        (lambda: fx.initializers.GlorotUniform(seed=-1), ValueError, "seed"),
        (lambda: fx.initializers.HeNormal(seed=1.5), ValueError, "seed"),
        (lambda: fx.initializers.get(3), TypeError, "initializer.*int"),
        (lambda: fx.initializers.get({"class_name": "nope", "config": {}}), ValueError, "nope"),
        (lambda: fx.initializers.get({"config": {}}), ValueError, "class_name"),
        (lambda: fx.initializers.get({"class_name": "Zeros", "config": []}), ValueError, "config"),
        (lambda: fx.initializers.get({"class_name": "Constant", "config": {"valu": 1}}), TypeError,
         "valu"),
        (lambda: fx.initializers.serialize("zeros"), TypeError, "Initializer"),
    ],
)
def test_bad_arguments_raise_clear_errors(make, error, match):
    with pytest.raises(error, match=match):
        make()


# ---------------------------------------------------------------------------
# Keras's call form: init(shape, dtype=None) on the default backend.


@pytest.mark.parametrize("name", sorted(fx.initializers.INITIALIZERS))
def test_keras_call_form_gives_an_array_on_the_default_backend(case, name):
    fx.set_backend(case.backend, case.device)
    init = fx.initializers.get(name)
    w = init(shape=(4, 3))
    b = case.resolve()
    assert array_api_compat.array_namespace(w) is b.xp
    assert str(array_api_compat.device(w)) == str(b.device)
    assert w.dtype == b.dtype("float32") and tuple(w.shape) == (4, 3)
    if case.dtype == "float64":
        assert init((4, 3), dtype=case.dtype).dtype == b.dtype("float64")
        fx.set_floatx("float64")
        assert init((2, 2)).dtype == b.dtype("float64")


def test_keras_call_form_follows_the_seed():
    fx.utils.set_random_seed(5)
    first = fx.initializers.GlorotUniform()(shape=(3, 3))
    fx.utils.set_random_seed(5)
    again = fx.initializers.GlorotUniform()(shape=(3, 3))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, fx.initializers.GlorotUniform()(shape=(3, 3)))
    seeded = fx.initializers.RandomNormal(seed=3)
    np.testing.assert_array_equal(seeded(shape=(5,)), seeded(shape=(5,)))  # as a seeded Keras one


def test_keras_call_form_reaches_a_user_subclass():
    class Twos(fx.initializers.Initializer):
        def __call__(self, shape, dtype, rng):
            b = rng.backend
            return b.xp.full(shape, 2.0, dtype=b.dtype(dtype), device=b.device)

    np.testing.assert_array_equal(Twos()(shape=(2,)), [2.0, 2.0])
    assert Twos()((2,), "float64", fx.random.generator(fx.Backend.resolve("numpy"), 0)).dtype == np.float64


# ---------------------------------------------------------------------------
# Constant with an array value.


def test_constant_array_matches_keras(case):
    value = np.random.default_rng(0).random((3, 3))  # keras/src/initializers/constant_initializers_test.py
    w = fx.initializers.Constant(value)((3, 3), case.dtype, fx.random.generator(case.resolve(), 0))
    _assert_on_case(case, w, (3, 3))
    np.testing.assert_array_equal(case.to_numpy(w), value.astype(case.dtype))


def test_constant_array_broadcasts_and_copies_the_value(case):
    row = np.array([1.0, 2.0, 3.0])
    init = fx.initializers.Constant(row)
    row[0] = 100.0  # the initializer keeps its own copy
    model = case.model([Dense(3, input_dim=2, kernel_initializer=init, bias_initializer=init)])
    kernel, bias = model.get_weights()
    np.testing.assert_array_equal(kernel, [[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])
    np.testing.assert_array_equal(bias, [1.0, 2.0, 3.0])
    assert fx.initializers.Constant(np.float32(2.5)).get_config() == {"value": 2.5}
    with pytest.raises(ValueError, match=r"value of shape \(3,\) does not broadcast to the shape \(3, 2\)"):
        case.model([Dense(2, input_dim=3, kernel_initializer=init)]).build()
