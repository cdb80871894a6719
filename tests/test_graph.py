"""The graph executor: chains and graphs run by one Graph, per-call caches of shared layers."""

from __future__ import annotations

import numpy as np
import pytest

import flexnet as fx
from flexnet import layers as L
from flexnet.models.graph import Graph


class Scale(L.Layer):
    """Y = X ⊙ s, keeping its input in the per-call cache."""

    def build(self, input_shape):
        self.add_weight("scale", (input_shape[-1],), initializer="random_normal")

    def forward(self, X, training=False):
        self.cache.X = X
        return X * self.params["scale"]

    def backward(self, dY):
        self.grads["scale"] = self.xp.sum(dY * self.cache.X, axis=0)
        return dY * self.params["scale"]


class LegacyScale(Scale):
    """The same layer keeping its input on itself, as layers written before caches did."""

    def forward(self, X, training=False):
        self.X = X
        return X * self.params["scale"]

    def backward(self, dY):
        self.grads["scale"] = self.xp.sum(dY * self.X, axis=0)
        return dY * self.params["scale"]


def _siamese(case, layer_cls):
    fx.utils.set_random_seed(5)
    a, b = L.Input(shape=(3,), name="a"), L.Input(shape=(3,), name="b")
    shared = layer_cls(name="shared")
    dense = L.Dense(3, activation="tanh")
    out = L.Dense(1)(L.concatenate([shared(dense(a)), shared(dense(b))]))
    model = fx.models.Model([a, b], out, backend=case.backend, device=case.device, dtype=case.dtype)
    model.compile(optimizer="sgd", loss="mse")
    return model


def test_a_shared_layer_keeps_one_cache_per_call_and_sums_its_gradients(case64):
    model = _siamese(case64, Scale)
    rng = np.random.default_rng(0)
    x = [rng.normal(size=(6, 3)), rng.normal(size=(6, 3))]
    y = rng.normal(size=(6, 1))
    assert fx.gradcheck.check_model_gradients(model, x, y) < 1e-7
    steps = [s for s in model.graph.steps if s.op is model.get_layer("shared")]
    assert len(steps) == 2 and steps[0].cache is not steps[1].cache
    assert steps[0].cache.X is not steps[1].cache.X


def test_a_shared_layer_that_keeps_state_on_itself_is_refused_with_the_fix(case):
    model = _siamese(case, LegacyScale)
    x = [np.ones((2, 3)), np.ones((2, 3))]
    with pytest.raises(TypeError, match=r"layer 'shared' is called at several places.*\['X'\].*self\.cache"):
        model.predict(x)


def test_an_unshared_layer_may_keep_state_on_itself(case64):
    fx.utils.set_random_seed(3)
    model = case64.model([L.Dense(4, input_dim=3, activation="tanh"), LegacyScale(), L.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    rng = np.random.default_rng(1)
    assert fx.gradcheck.check_model_gradients(model, rng.normal(size=(5, 3)), rng.normal(size=(5, 1))) < 1e-7


def test_sequential_runs_a_chain_that_grows_with_add():
    model = fx.Sequential([L.Dense(4, input_dim=3)])
    assert model.graph.is_chain and [s.ins for s in model.graph.steps] == [[0]]
    model.add(L.Dense(2))
    graph = model.graph
    assert [(s.ins, s.out) for s in graph.steps] == [([0], 1), ([1], 2)]
    assert graph.output_slots == [2] and [s.needs_dx for s in graph.steps] == [False, True]
    assert model.predict(np.ones((5, 3))).shape == (5, 2)


def test_the_fused_output_layer_is_the_last_unshared_unread_one():
    fx.utils.set_random_seed(0)
    x = L.Input(shape=(4,))
    h = L.Dense(3, activation="softmax", name="h")(x)
    out = L.Dense(3, activation="softmax", name="out")(h)
    model = fx.models.Model(x, [h, out])
    assert model.graph.output_layer(1) is model.get_layer("out")
    assert model.graph.output_layer(0) is None  # h is also read by "out": its loss cannot be fused


def test_graph_backward_gives_input_gradients_when_asked(case64):
    fx.utils.set_random_seed(2)
    model = case64.model([L.Dense(3, input_dim=2, activation="tanh"), L.Dense(1)])
    X = case64.asarray(np.random.default_rng(0).normal(size=(4, 2)))
    model.forward(X, training=False)
    dX = model.backward(X[:, :1] * 0.0 + 1.0, input_grad=True)
    assert tuple(dX.shape) == (4, 2)
    assert model.backward(X[:, :1] * 0.0 + 1.0) is None
    assert isinstance(model.graph, Graph)
