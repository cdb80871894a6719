"""Functional models: graphs of layers with several inputs and outputs, shared layers, nesting."""

from __future__ import annotations

import numpy as np
import pytest

import flexnet as fx
from flexnet import layers as L


def _model(case, inputs, outputs, **kwargs):
    return fx.models.Model(inputs=inputs, outputs=outputs, backend=case.backend, device=case.device,
                           dtype=case.dtype, **kwargs)


def _wide_and_deep(case, n_features=8):
    fx.utils.set_random_seed(21)
    input_ = L.Input(shape=(n_features,))
    hidden1 = L.Dense(30, activation="relu")(input_)
    hidden2 = L.Dense(30, activation="relu")(hidden1)
    concat = L.concatenate([input_, hidden2])
    output = L.Dense(1)(concat)
    return _model(case, [input_], [output])


def test_wide_and_deep_matches_torch_autograd(case64):
    torch = pytest.importorskip("torch")
    model = _wide_and_deep(case64)
    model.compile(optimizer="adam", loss="mse")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 8)), rng.normal(size=(16, 1))
    loss, grads = model.compute_gradients(x, y)
    K1, b1, K2, b2, K3, b3 = (torch.tensor(w, requires_grad=True) for w in model.get_weights())
    X = torch.tensor(x)
    H2 = torch.relu(torch.relu(X @ K1 + b1) @ K2 + b2)
    P = torch.cat([X, H2], dim=1) @ K3 + b3
    ref = ((P - torch.tensor(y)) ** 2).mean()
    ref.backward()
    np.testing.assert_allclose(float(loss), ref.item(), rtol=1e-12)
    for g, w in zip(grads, (K1, b1, K2, b2, K3, b3)):
        np.testing.assert_allclose(case64.to_numpy(g), w.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(model.predict(x), P.detach().numpy(), rtol=1e-12)


def test_wide_and_deep_learns_diabetes(case):
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    y = ((y - y.mean()) / y.std())[:, None]
    model = _wide_and_deep(case, n_features=10)
    model.compile(optimizer=fx.optimizers.Adam(0.01), loss="mse")
    history = model.fit(X[:350], y[:350], batch_size=32, epochs=15, verbose=0,
                        validation_data=(X[350:], y[350:]))
    assert history.history["loss"][-1] < 0.55  # a constant predictor scores 1.0
    assert history.history["val_loss"][-1] < 0.7


def _two_in_two_out(case):
    """Inputs a, b; a shared Dense on both; a sigmoid head and a linear head."""
    fx.utils.set_random_seed(5)
    a, b = L.Input(shape=(4,), name="a"), L.Input(shape=(4,), name="b")
    shared = L.Dense(3, activation="tanh", name="shared")
    sa, sb = shared(a), shared(b)
    wide = L.Dense(2, activation="relu", name="wide")(a)
    out1 = L.Dense(1, activation="sigmoid", name="o1")(L.add([sa, sb]))
    out2 = L.Dense(2, name="o2")(L.concatenate([L.multiply([sa, sb]), wide]))
    return _model(case, [a, b], [out1, out2])


def _two_in_two_out_data(n=10):
    rng = np.random.default_rng(1)
    xa, xb = rng.normal(size=(n, 4)), rng.normal(size=(n, 4))
    y1 = (rng.random((n, 1)) > 0.5).astype(float)
    y2 = rng.normal(size=(n, 2))
    return xa, xb, y1, y2


def test_shared_layer_and_two_heads_match_torch_autograd(case64):
    torch = pytest.importorskip("torch")
    model = _two_in_two_out(case64)
    model.compile(optimizer="sgd", loss={"o1": "binary_crossentropy", "o2": "mse"},
                  loss_weights={"o1": 1.0, "o2": 0.5})
    xa, xb, y1, y2 = _two_in_two_out_data()
    loss, grads = model.compute_gradients({"a": xa, "b": xb}, {"o1": y1, "o2": y2})
    names = [layer.name for layer in model._flat_layers() for _ in layer.params]
    assert names == ["shared", "shared", "o1", "o1", "wide", "wide", "o2", "o2"]  # topological
    Ks, bs, K1, b1, Kw, bw, K2, b2 = (torch.tensor(w, requires_grad=True) for w in model.get_weights())
    A, B = torch.tensor(xa), torch.tensor(xb)
    sa, sb = torch.tanh(A @ Ks + bs), torch.tanh(B @ Ks + bs)
    P1 = torch.sigmoid((sa + sb) @ K1 + b1)
    P2 = torch.cat([sa * sb, torch.relu(A @ Kw + bw)], dim=1) @ K2 + b2
    ref = torch.nn.functional.binary_cross_entropy(P1, torch.tensor(y1))
    ref = ref + 0.5 * ((P2 - torch.tensor(y2)) ** 2).mean()
    ref.backward()
    np.testing.assert_allclose(float(loss), ref.item(), rtol=1e-9)
    for g, w in zip(grads, (Ks, bs, K1, b1, Kw, bw, K2, b2)):
        np.testing.assert_allclose(case64.to_numpy(g), w.grad.numpy(), rtol=1e-8, atol=1e-12)
    P1_, P2_ = model.predict([xa, xb])
    np.testing.assert_allclose(P1_, P1.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(P2_, P2.detach().numpy(), rtol=1e-12)


def test_shared_graph_gradient_check(case64):
    model = _two_in_two_out(case64)
    model.compile(loss=["binary_crossentropy", "mse"])
    xa, xb, y1, y2 = _two_in_two_out_data(6)
    assert fx.gradcheck.check_model_gradients(model, [xa, xb], [y1, y2]) < 1e-6


def test_multi_output_fit_evaluate_logs(case):
    model = _two_in_two_out(case)
    model.compile(optimizer="adam", loss=["binary_crossentropy", "mse"], loss_weights=[1.0, 0.5],
                  metrics={"o1": ["accuracy"]})
    xa, xb, y1, y2 = _two_in_two_out_data(40)
    history = model.fit({"a": xa, "b": xb}, [y1, y2], batch_size=8, epochs=2, verbose=0,
                        validation_split=0.25)
    assert list(history.history) == ["loss", "o1_loss", "o2_loss", "o1_accuracy", "val_loss",
                                     "val_o1_loss", "val_o2_loss", "val_o1_accuracy"]
    logs = model.evaluate([xa, xb], [y1, y2], return_dict=True, batch_size=7)
    np.testing.assert_allclose(logs["loss"], logs["o1_loss"] + 0.5 * logs["o2_loss"],
                               rtol=1e-12 if case.dtype == "float64" else 1e-5)
    outputs = model.predict([xa, xb], batch_size=16)
    assert [o.shape for o in outputs] == [(40, 1), (40, 2)]


def test_nested_models_match_their_flat_twin(case64):
    """A Sequential used as a layer of a functional model, which is used in a Sequential."""
    fx.utils.set_random_seed(9)
    inner = fx.Sequential([L.Dense(5, activation="tanh"), L.Dense(3, activation="relu")])
    i = L.Input(shape=(4,))
    h = inner(i)
    mid = _model(case64, i, L.Dense(2)(L.concatenate([i, h])))
    outer = fx.Sequential([mid, L.Dense(1, activation="sigmoid")], backend=case64.backend,
                          device=case64.device, dtype=case64.dtype)
    outer.compile(loss="binary_crossentropy")
    assert len(outer.get_weights()) == 8 and outer.count_params() == 25 + 18 + 16 + 3
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(7, 4)), (rng.random((7, 1)) > 0.5).astype(float)
    assert fx.gradcheck.check_model_gradients(outer, x, y) < 1e-6
    K1, b1, K2, b2, K3, b3, K4, b4 = outer.get_weights()
    h_ = np.maximum(np.tanh(x @ K1 + b1) @ K2 + b2, 0)
    expected = 1 / (1 + np.exp(-((np.concatenate([x, h_], 1) @ K3 + b3) @ K4 + b4)))
    np.testing.assert_allclose(outer.predict(x), expected, rtol=1e-12)
    outer.fit(x, y, epochs=2, verbose=0)


def test_sequential_is_a_model_and_functional_spelling():
    seq = fx.Sequential([L.Dense(2, input_dim=3)])
    assert isinstance(seq, fx.models.Model)
    i = L.Input(shape=(3,))
    model = fx.models.Model(i, L.Dense(2)(i), name="tiny")
    assert isinstance(model, fx.models.Functional) and model.name == "tiny"
    assert model.output_shape == (None, 2) and model.input_shape == (None, 3)


@pytest.mark.parametrize(
    "merge, expected",
    [
        (L.add, lambda a, b: a + b),
        (L.subtract, lambda a, b: a - b),
        (L.multiply, lambda a, b: a * b),
        (L.average, lambda a, b: (a + b) / 2),
        (L.maximum, np.maximum),
        (L.minimum, np.minimum),
        (L.concatenate, lambda a, b: np.concatenate([a, b], axis=1)),
    ],
    ids=["add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate"],
)
def test_merge_layers_values_and_gradients(case, merge, expected):
    fx.utils.set_random_seed(3)
    a, b = L.Input(shape=(3,)), L.Input(shape=(3,))
    ha, hb = L.Dense(3, activation="tanh")(a), L.Dense(3, activation="tanh")(b)
    merged = merge([ha, hb])
    model = _model(case, [a, b], [L.Dense(1)(merged)])
    model.compile(loss="mse")
    rng = np.random.default_rng(4)
    xa, xb, y = rng.normal(size=(5, 3)), rng.normal(size=(5, 3)), rng.normal(size=(5, 1))
    Ka, ba, Kb, bb, K, bias = model.get_weights()
    Ha, Hb = np.tanh(xa @ Ka + ba), np.tanh(xb @ Kb + bb)
    case.assert_close(model.predict([xa, xb]), expected(Ha, Hb) @ K + bias)
    if case.dtype == "float64":
        assert fx.gradcheck.check_model_gradients(model, [xa, xb], y) < 1e-6


def test_three_way_merges():
    a, b, c = (L.Input(shape=(2,)) for _ in range(3))
    model = fx.models.Model([a, b, c], [L.add([a, b, c]), L.maximum([a, b, c]), L.average([a, b, c])])
    xs = [np.full((1, 2), v) for v in (1.0, 5.0, 3.0)]
    s, m, avg = model.predict(xs)
    np.testing.assert_allclose(s, 9.0)
    np.testing.assert_allclose(m, 5.0)
    np.testing.assert_allclose(avg, 3.0)


def test_maximum_sends_the_gradient_to_the_winner_once():
    a, b = L.Input(shape=(2,)), L.Input(shape=(2,))
    layer = L.Maximum()
    model = fx.models.Model([a, b], layer([a, b]), dtype="float64")
    model.compile(loss="mse")
    model.compute_gradients([np.array([[1.0, 2.0]]), np.array([[1.0, 0.0]])], np.zeros((1, 2)))
    dA, dB = layer.backward(np.ones((1, 2)))
    np.testing.assert_array_equal(dA + dB, np.ones((1, 2)))  # ties go to the first input only
    np.testing.assert_array_equal(dB, [[0.0, 0.0]])


def test_summary_has_connected_to():
    model = _wide_and_deep(fx.Backend.resolve("numpy") and _NumpyCase())
    lines = []
    model.summary(print_fn=lines.append, line_length=140)
    text = "\n".join(lines)
    assert "Connected to" in text
    assert "concatenate (Concatenate)" in text and "input_layer[0][0]" in text and "dense_1[0][0]" in text
    assert "Total params: 1,239" in text


class _NumpyCase:
    backend, device, dtype = "numpy", None, "float32"


def test_unused_output_branch_gets_zero_gradients():
    a = L.Input(shape=(3,))
    used, unused = L.Dense(2, name="used"), L.Dense(2, name="unused")
    h = used(a)
    unused(h)  # a call outside the model's graph: not part of it
    model = fx.models.Model(a, L.Dense(1)(h), dtype="float64")
    assert "unused" not in [layer.name for layer in model.layers]
    model.compile(loss="mse")
    loss, grads = model.compute_gradients(np.ones((2, 3)), np.ones((2, 1)))
    assert len(grads) == 4


# ---------------------------------------------------------------------------
# Errors.


def test_graph_that_does_not_connect_inputs_to_outputs():
    a, b = L.Input(shape=(3,), name="a"), L.Input(shape=(3,), name="b")
    out = L.Dense(1)(L.add([a, b]))
    with pytest.raises(ValueError, match="does not connect.*'b'.*not in inputs"):
        fx.models.Model(inputs=a, outputs=out)
    c = L.Input(shape=(3,), name="c")
    with pytest.raises(ValueError, match="'c'.*not connected to any output"):
        fx.models.Model(inputs=[a, b, c], outputs=out)
    with pytest.raises(ValueError, match="must come from fx.layers.Input"):
        fx.models.Model(inputs=L.Dense(2)(a), outputs=out)
    with pytest.raises(ValueError, match="needs both"):
        fx.models.Model(inputs=a)


def test_merge_shape_errors_name_the_layer_and_shapes():
    a, b = L.Input(shape=(3,)), L.Input(shape=(4,))
    with pytest.raises(ValueError, match=r"Add layer 'add_ab'.*same shape.*\(None, 3\), \(None, 4\)"):
        L.Add(name="add_ab")([a, b])
    with pytest.raises(ValueError, match="Subtract .* exactly 2 inputs"):
        L.subtract([a, a, a])
    c, d = L.Input(shape=(2, 3)), L.Input(shape=(4, 3))
    with pytest.raises(ValueError, match=r"Concatenate layer 'cat'.*every axis but -1.*\(None, 2, 3\)"):
        L.Concatenate(name="cat")([c, d])
    with pytest.raises(ValueError, match=r"cannot join shapes \[\(None, 3\), \(None, 2, 3\)\]"):
        L.concatenate([a, c])
    assert L.concatenate([a, b]).shape == (None, 7)


def test_shared_layer_with_incompatible_shapes():
    a, b = L.Input(shape=(3,)), L.Input(shape=(5,))
    shared = L.Dense(2, name="shared")
    shared(a)
    with pytest.raises(ValueError, match=r"'shared' was first called on inputs of shape \(None, 3\) "
                                         r"and now on \(None, 5\)"):
        shared(b)


def test_layer_call_errors():
    with pytest.raises(TypeError, match=r"is called on NoneType; call it on arrays, or on fx.Input"):
        L.Dense(2)(None)
    assert L.Dense(2)(L.Input(shape=(2, 3))).shape == (None, 2, 2)  # on the last axis, as Keras
    with pytest.raises(TypeError, match="takes a list"):
        L.Add()(L.Input(shape=(2,)))
    with pytest.raises(ValueError, match="declared with input_shape"):
        L.Dense(2, input_dim=4)(L.Input(shape=(3,)))


def test_wrong_data_for_a_functional_model():
    model = _two_in_two_out(_NumpyCase())
    model.compile(loss=["binary_crossentropy", "mse"])
    xa, xb, y1, y2 = _two_in_two_out_data()
    with pytest.raises(ValueError, match=r"2 inputs \['a', 'b'\]"):
        model.fit(xa, [y1, y2], verbose=0)
    with pytest.raises(ValueError, match="dict with keys"):
        model.fit({"a": xa, "c": xb}, [y1, y2], verbose=0)
    with pytest.raises(ValueError, match=r"x\['b'\] of shape \(n, 4\)"):
        model.fit([xa, xb[:, :3]], [y1, y2], verbose=0)
    with pytest.raises(ValueError, match="loss has 3 entries for 2 outputs"):
        model.compile(loss=["mse"] * 3)
        model.fit([xa, xb], [y1, y2], verbose=0)
    with pytest.raises(ValueError, match="not outputs"):
        model.compile(loss={"o3": "mse"})
        model.fit([xa, xb], [y1, y2], verbose=0)


def test_duplicate_layer_names():
    a = L.Input(shape=(2,))
    h = L.Dense(2, name="same")(a)
    with pytest.raises(ValueError, match="two layers are named 'same'"):
        fx.models.Model(a, L.Dense(1, name="same")(h))
