"""Constraints: projections, and their application after every optimizer step."""

from __future__ import annotations

import numpy as np
import pytest

import flexnet as fx
from flexnet import constraints
from flexnet.layers import Dense

W_HOST = np.random.default_rng(3).normal(scale=3.0, size=(5, 4))


def test_max_norm(case):
    xp = case.resolve().xp
    out = case.to_numpy(constraints.MaxNorm(2.0).project(xp, case.asarray(W_HOST)))
    norms = np.linalg.norm(W_HOST, axis=0)
    expected = W_HOST * (np.minimum(norms, 2.0) / (norms + 1e-7))
    case.assert_close(out, expected)
    assert np.all(np.linalg.norm(out, axis=0) <= 2.0 + 1e-5)


def test_min_max_norm(case):
    xp = case.resolve().xp
    W = W_HOST * np.array([0.01, 1.0, 0.1, 2.0])
    out = case.to_numpy(constraints.MinMaxNorm(0.5, 1.5).project(xp, case.asarray(W)))
    norms = np.linalg.norm(out, axis=0)
    np.testing.assert_allclose(norms, np.clip(np.linalg.norm(W, axis=0), 0.5, 1.5), rtol=1e-4)


def test_non_neg_and_unit_norm(case):
    xp = case.resolve().xp
    W = case.asarray(W_HOST)
    case.assert_close(case.to_numpy(constraints.NonNeg().project(xp, W)), np.maximum(W_HOST, 0))
    unit = case.to_numpy(constraints.UnitNorm(axis=1).project(xp, W))
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, rtol=1e-5)


def test_constraints_hold_after_every_step(case):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 5)) * 4
    y = rng.normal(size=(64, 1)) * 10
    model = case.model([
        Dense(4, input_dim=5, activation="relu", kernel_constraint=constraints.MaxNorm(0.5),
              bias_constraint="non_neg"),
        Dense(1, kernel_constraint=constraints.UnitNorm()),
    ])
    model.compile(optimizer=fx.optimizers.SGD(0.1), loss="mse")
    kernel = model.layers[0].params["kernel"]
    model.fit(x, y, batch_size=16, epochs=3, verbose=0)
    K1, b1, K2, _ = model.get_weights()
    assert np.all(np.linalg.norm(K1, axis=0) <= 0.5 + 1e-5)
    assert np.all(b1 >= 0)
    np.testing.assert_allclose(np.linalg.norm(K2, axis=0), 1.0, rtol=1e-4)
    if case.backend != "jax":  # JAX arrays never change in place
        assert model.layers[0].params["kernel"] is kernel  # projected in place, same array


def test_names_configs_and_errors():
    assert isinstance(constraints.get("max_norm"), constraints.MaxNorm)
    assert isinstance(constraints.get("non_neg"), constraints.NonNeg)
    assert constraints.get(None) is None
    for c in (constraints.MaxNorm(3, axis=1), constraints.UnitNorm(1), constraints.NonNeg(),
              constraints.MinMaxNorm(0.1, 2.0, 0.5)):
        again = constraints.get(constraints.serialize(c))
        assert type(again) is type(c) and again.get_config() == c.get_config()
    with pytest.raises(ValueError, match="positive"):
        constraints.MaxNorm(0)
    with pytest.raises(ValueError, match="min_value"):
        constraints.MinMaxNorm(2.0, 1.0)
    with pytest.raises(ValueError, match="valid names"):
        constraints.get("positive")
