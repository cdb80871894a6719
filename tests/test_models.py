"""Sequential models: training end to end, open gradients, weights, summary, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import breast_cancer_split

import flexnet as fx
from flexnet.layers import Dense, Dropout


def _xor():
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    y = np.array([[0], [1], [1], [0]], dtype=np.float64)
    return x, y


def _small_model(case, activation="tanh", out=1, out_activation="sigmoid"):
    return case.model([Dense(8, input_dim=3, activation=activation),
                       Dense(out, activation=out_activation)])


# ---------------------------------------------------------------------------
# Training.


def test_fit_learns_xor(case):
    x, y = _xor()
    model = case.model([Dense(8, input_dim=2, activation="tanh"), Dense(1, activation="sigmoid")])
    model.compile(optimizer=fx.optimizers.Adam(0.05), loss="binary_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x, y, batch_size=4, epochs=300, verbose=0)
    assert history.history["loss"][-1] < 0.1
    assert history.history["accuracy"][-1] == 1.0
    np.testing.assert_array_equal(model.predict(x) > 0.5, y > 0.5)


def _breast_cancer_split():
    return breast_cancer_split(random_state=42)


@pytest.mark.slow
def test_breast_cancer_reaches_95_percent(case):
    pytest.importorskip("sklearn")
    Xtr, Xte, ytr, yte = _breast_cancer_split()
    fx.utils.set_random_seed(7)
    model = case.model([
        Dense(16, input_dim=30, activation="relu"),
        Dense(24, activation="relu"),
        Dropout(0.5),
        Dense(20, activation="relu"),
        Dense(24, activation="relu"),
        Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(Xtr, ytr, batch_size=32, epochs=40, verbose=0)
    loss, accuracy = model.evaluate(Xte, yte)
    assert accuracy >= 0.95, f"test accuracy {accuracy:.3f} (loss {loss:.3f})"


def test_history_has_loss_metrics_and_val_twins(case):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 3)), rng.integers(0, 2, size=40)
    model = _small_model(case)
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy", "mse"])
    history = model.fit(x, y, epochs=3, batch_size=8, validation_split=0.25, verbose=0)
    assert set(history.history) == {"loss", "accuracy", "mse", "val_loss", "val_accuracy",
                                    "val_mse"}
    assert all(len(v) == 3 for v in history.history.values())
    assert history.epoch == [0, 1, 2]
    history = model.fit(x, y, epochs=2, validation_data=(x[:5], y[:5]), verbose=0)
    assert len(history.history["val_loss"]) == 2


def test_epoch_loss_is_the_mean_over_samples():
    # One epoch with lr=0 and no dropout: the reported loss equals evaluate() exactly.
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(37, 3)), rng.normal(size=(37, 2))
    model = fx.Sequential([Dense(2, input_dim=3)], dtype="float64")
    model.compile(optimizer=fx.optimizers.SGD(0.0), loss="mse")
    history = model.fit(x, y, batch_size=5, epochs=1, verbose=0)
    P = model.predict(x)
    np.testing.assert_allclose(history.history["loss"][0], np.mean((P - y) ** 2), rtol=1e-12)
    np.testing.assert_allclose(model.evaluate(x, y, batch_size=7), np.mean((P - y) ** 2),
                               rtol=1e-12)


def test_sum_squared_error_reports_the_sum():
    x, y = _xor()
    model = fx.Sequential([Dense(1, input_dim=2, activation="sigmoid")], dtype="float64")
    model.compile(optimizer=fx.optimizers.SGD(0.0), loss="sum_squared_error")
    P = model.predict(x)
    np.testing.assert_allclose(model.evaluate(x, y, batch_size=3), np.sum((P - y) ** 2),
                               rtol=1e-12)


def test_evaluate_return_forms():
    x, y = _xor()
    model = fx.Sequential([Dense(1, input_dim=2, activation="sigmoid")])
    model.compile(loss="binary_crossentropy")
    assert isinstance(model.evaluate(x, y), float)
    model.compile(loss="binary_crossentropy", metrics=["accuracy"])
    loss, acc = model.evaluate(x, y)
    assert 0.0 <= acc <= 1.0
    logs = model.evaluate(x, y, return_dict=True)
    assert list(logs) == ["loss", "accuracy"] and logs["loss"] == pytest.approx(loss)


def test_train_on_batch_takes_one_step():
    x, y = _xor()
    model = fx.Sequential([Dense(1, input_dim=2)], dtype="float64")
    model.compile(optimizer=fx.optimizers.SGD(0.1), loss="mse")
    before = model.get_weights()
    loss, grads = model.compute_gradients(x, y)
    model.train_on_batch(x, y)
    after = model.get_weights()
    for b, g, a in zip(before, grads, after):
        np.testing.assert_allclose(a, b - 0.1 * g, rtol=1e-12)
    assert model.optimizer.iterations == 1


def test_same_seed_same_training(case):
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(64, 3)), rng.integers(0, 2, size=64)
    results = []
    for _ in range(2):
        fx.utils.set_random_seed(99)
        model = case.model([Dense(8, input_dim=3, activation="relu"), Dropout(0.3),
                            Dense(1, activation="sigmoid")])
        model.compile(optimizer="adam", loss="binary_crossentropy")
        model.fit(x, y, batch_size=16, epochs=2, verbose=0)
        results.append(model.get_weights())
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------
# Open gradients.


def _torch_mlp(model):
    torch = pytest.importorskip("torch")
    layers = []
    for layer in model.layers:
        if isinstance(layer, Dense):
            W, b = layer.get_weights()
            lin = torch.nn.Linear(W.shape[0], W.shape[1], dtype=torch.float64)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(W.T.copy()))
                lin.bias.copy_(torch.from_numpy(b))
            layers.append(lin)
            act = {"relu": torch.nn.ReLU(), "sigmoid": torch.nn.Sigmoid(),
                   "tanh": torch.nn.Tanh(), "linear": torch.nn.Identity()}[layer.activation.name]
            layers.append(act)
        elif isinstance(layer, Dropout):
            layers.append(torch.nn.Identity())  # inference mode
    return torch.nn.Sequential(*layers)


def test_compute_gradients_matches_torch_autograd(case64):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(25, 30)), rng.integers(0, 2, size=25).astype(np.float64)
    model = case64.model([
        Dense(16, input_dim=30, activation="relu"), Dense(24, activation="tanh"),
        Dropout(0.5), Dense(20, activation="relu"), Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    loss, grads = model.compute_gradients(x, y, training=False)
    net = _torch_mlp(model)
    out = net(torch.from_numpy(x))
    ref = torch.nn.functional.binary_cross_entropy(out, torch.from_numpy(y)[:, None])
    ref.backward()
    np.testing.assert_allclose(float(loss), ref.item(), rtol=1e-12)
    ref_grads = []
    for module in net:
        if isinstance(module, torch.nn.Linear):
            ref_grads += [module.weight.grad.numpy().T, module.bias.grad.numpy()]
    assert len(grads) == len(ref_grads)
    for g, r in zip(grads, ref_grads):
        np.testing.assert_allclose(case64.to_numpy(g), r, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(model.predict(x), out.detach().numpy(), rtol=1e-12)


def test_compute_gradients_order_and_no_side_effect(case):
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(10, 3)), rng.normal(size=(10, 2))
    model = case.model([Dense(4, input_dim=3, activation="tanh"), Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    before = model.get_weights()
    loss, grads = model.compute_gradients(x, y)
    assert [tuple(g.shape) for g in grads] == [w.shape for w in before]
    assert [tuple(g.shape) for g in grads] == [tuple(w.shape) for w in model.trainable_weights]
    for b, a in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert model.optimizer.iterations == 0
    assert np.isfinite(float(loss))


def test_model_gradient_check(case64):
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(6, 3)), rng.integers(0, 3, size=6)
    model = case64.model([Dense(4, input_dim=3, activation="tanh"),
                          Dense(3, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy")
    assert fx.gradcheck.check_model_gradients(model, x, y) < 1e-7


# ---------------------------------------------------------------------------
# Weights and summary.


def test_get_set_weights_layer_order_and_copies(case):
    model = case.model([Dense(3, input_dim=2), Dense(1, use_bias=False)])
    shapes = [w.shape for w in model.get_weights()]
    assert shapes == [(2, 3), (3,), (3, 1)]
    new = [np.full(s, i + 1.0) for i, s in enumerate(shapes)]
    model.set_weights(new)
    got = model.get_weights()
    got[0][...] = -5.0  # the copy handed out is not the model's weight
    for w, n in zip(model.get_weights(), new):
        np.testing.assert_array_equal(w, n)
    model.compile(optimizer=fx.optimizers.SGD(0.5), loss="mse")
    model.fit(np.ones((4, 2)), np.zeros((4, 1)), verbose=0)
    np.testing.assert_array_equal(new[0], np.full((2, 3), 1.0))  # caller's array untouched


def test_set_weights_rejects_wrong_shapes():
    model = fx.Sequential([Dense(3, input_dim=2)])
    with pytest.raises(ValueError, match=r"expects weights of shapes \[\(2, 3\), \(3,\)\]"):
        model.set_weights([np.zeros((3, 2)), np.zeros(3)])
    with pytest.raises(ValueError, match="has 2 weights, got 1"):
        model.set_weights([np.zeros((2, 3))])


def test_lazy_build_from_data_and_add():
    model = fx.Sequential()
    model.add(Dense(4, activation="relu"))
    model.add(Dense(1))
    assert not model.built
    with pytest.raises(ValueError, match="needs a built model"):
        model.summary()
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.zeros((5, 7)), np.zeros(5), verbose=0)
    assert model.built and model.layers[0].params["kernel"].shape == (7, 4)
    assert [layer.name for layer in model.layers] == ["dense", "dense_1"]


def test_layer_names_are_unique():
    with pytest.raises(ValueError, match="already used"):
        fx.Sequential([Dense(2, input_dim=2, name="a"), Dense(1, name="a")])


# ---------------------------------------------------------------------------
# Backends, devices and dtypes through the model.


def test_predict_returns_the_kind_of_array_it_was_given(case):
    model = _small_model(case)
    x = np.random.default_rng(0).normal(size=(5, 3))
    p_host = model.predict(x)
    assert isinstance(p_host, np.ndarray) and p_host.shape == (5, 1)
    p_dev = model.predict(case.asarray(x))
    assert model.backend.owns(p_dev)
    np.testing.assert_allclose(case.to_numpy(p_dev), p_host, rtol=case.rtol)


def test_fit_accepts_arrays_on_the_backend(case):
    x, y = _xor()
    model = case.model([Dense(1, input_dim=2, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(case.asarray(x), case.asarray(y), epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2


def test_model_on_default_backend_dtype_and_env(monkeypatch):
    assert fx.Sequential([Dense(1, input_dim=2)]).backend.name == "numpy"
    fx.set_floatx("float64")
    assert fx.Sequential([Dense(1, input_dim=2)]).get_weights()[0].dtype == np.float64
    assert fx.Sequential([Dense(1, input_dim=2)], dtype="float32").dtype == "float32"
    pytest.importorskip("array_api_strict")
    monkeypatch.setenv("FLEXNET_BACKEND", "array_api_strict:device1")
    fx.set_floatx("float32")
    model = fx.Sequential([Dense(1, input_dim=2)])
    assert model.backend.name == "array_api_strict" and "device1" in str(model.backend.device)
    fx.set_backend("numpy")  # an explicit choice beats the environment
    assert fx.Sequential([Dense(1, input_dim=2)]).backend.name == "numpy"


def test_float64_on_a_device_without_it_is_a_clear_error():
    pytest.importorskip("array_api_strict")
    with pytest.raises(ValueError, match="has no float64"):
        fx.Sequential([Dense(1, input_dim=2)], backend="array_api_strict", device="no_float64",
                      dtype="float64")


def test_model_to_moves_weights_and_optimizer_state():
    torch = pytest.importorskip("torch")
    pytest.importorskip("array_api_strict")
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(16, 3)), rng.normal(size=(16, 1))

    def train(moves):
        fx.utils.set_random_seed(5)
        model = fx.Sequential([Dense(4, input_dim=3, activation="tanh"), Dense(1)], dtype="float64")
        model.compile(optimizer="adam", loss="mse")
        for target in moves:
            if target:
                model.to(*target)
            model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
        return model

    reference = train([None, None, None])
    moved = train([None, ("torch", "cpu"), ("array_api_strict", "device1")])
    assert moved.backend.name == "array_api_strict"
    assert moved.optimizer.iterations == 6
    for a, b in zip(reference.get_weights(), moved.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    state_arrays = moved.optimizer.state[0]["m"]
    assert moved.backend.owns(state_arrays)
    assert not isinstance(moved.predict(x), torch.Tensor)


def test_mixing_devices_names_both():
    xps = pytest.importorskip("array_api_strict")
    model = fx.Sequential([Dense(1, input_dim=2)], backend="array_api_strict", device="device1")
    x = xps.zeros((3, 2), dtype=xps.float32)  # on CPU_DEVICE
    with pytest.raises(ValueError, match=r"CPU_DEVICE.*device1"):
        model.predict(x)


# ---------------------------------------------------------------------------
# Bad input: a clear error, the caller's arrays untouched.


@pytest.fixture
def compiled():
    model = fx.Sequential([Dense(4, input_dim=3, activation="relu"), Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


X_OK = np.arange(12.0).reshape(4, 3)
Y_OK = np.array([0, 1, 1, 0])


@pytest.mark.parametrize(
    ("x", "y", "kwargs", "error", "message"),
    [
        (np.zeros((4, 5)), Y_OK, {}, ValueError, r"expects x of shape \(n, 3\), got shape \(4, 5\)"),
        (X_OK, Y_OK[:3], {}, ValueError, "x has 4 samples but y has 3"),
        (X_OK, np.array([0, 1, 2, 0]), {}, ValueError, r"labels must be in \[0, 1\].*\[0, 2\]"),
        (X_OK, np.array([0, -1, 1, 0]), {}, ValueError, r"labels must be in \[0, 1\]"),
        (np.where(X_OK > 5, np.nan, X_OK), Y_OK, {}, ValueError, "x contains NaN or infinity"),
        (np.where(X_OK > 5, np.inf, X_OK), Y_OK, {}, ValueError, "x contains NaN or infinity"),
        (np.zeros((0, 3)), np.zeros(0), {}, ValueError, "x is empty"),
        (X_OK, Y_OK, {"batch_size": 0}, ValueError, "batch_size must be a positive int, got 0"),
        (X_OK, Y_OK, {"batch_size": -3}, ValueError, "batch_size must be a positive int"),
        (X_OK, Y_OK, {"epochs": -1}, ValueError, "epochs must be an int >= 0"),
        (X_OK, Y_OK, {"validation_split": 1.5}, ValueError, r"validation_split must be in \[0, 1\)"),
        (np.zeros(4), Y_OK, {}, ValueError, "batch axis and a feature axis"),
        (np.array([["a", "b", "c"]] * 4), Y_OK, {}, TypeError, "must hold numbers"),
    ],
)
def test_fit_rejects_bad_input(compiled, x, y, kwargs, error, message):
    x_before, y_before = np.array(x, copy=True), np.array(y, copy=True)
    with pytest.raises(error, match=message):
        compiled.fit(x, y, verbose=0, **kwargs)
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(y, y_before)


def test_fit_before_compile():
    model = fx.Sequential([Dense(1, input_dim=2)])
    with pytest.raises(RuntimeError, match=r"compile\(optimizer=\.\.\., loss=\.\.\.\) before fit"):
        model.fit(np.zeros((2, 2)), np.zeros(2))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"optimizer": "adamm", "loss": "mse"}, r"unknown optimizer 'adamm'; valid names are .*'adam'"),
        ({"optimizer": "adam", "loss": "msee"}, r"unknown loss 'msee'; valid names are .*'mse'"),
        ({"optimizer": "adam", "loss": "mse", "metrics": ["acuracy"]},
         r"unknown metric 'acuracy'; valid names are .*'accuracy'"),
        ({"optimizer": "adam"}, "needs a loss"),
    ],
)
def test_compile_rejects_unknown_names(kwargs, message):
    with pytest.raises(ValueError, match=message):
        fx.Sequential([Dense(1, input_dim=2)]).compile(**kwargs)


def test_unknown_activation_lists_valid_names():
    with pytest.raises(ValueError, match=r"unknown activation 'relux'; valid names are .*'relu'"):
        Dense(3, activation="relux")


def test_fit_never_modifies_caller_arrays(case):
    rng = np.random.default_rng(8)
    x = rng.normal(size=(20, 3)).astype(case.dtype)  # same dtype: the model may share memory
    y = rng.integers(0, 2, size=(20, 1)).astype(case.dtype)
    x0, y0 = x.copy(), y.copy()
    model = _small_model(case)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    model.compute_gradients(x, y)
    model.predict(x)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(y, y0)


def test_training_reads_the_device_once_per_epoch_not_per_batch(monkeypatch):
    # Count every conversion of an array to a Python scalar (the host<->device syncs).
    xps = pytest.importorskip("array_api_strict")
    reads = []
    for method in ("__float__", "__int__", "__bool__", "__index__"):
        original = getattr(type(xps.asarray(0.0)), method)

        def counted(self, _original=original):
            reads.append(1)
            return _original(self)

        monkeypatch.setattr(type(xps.asarray(0.0)), method, counted)
    rng = np.random.default_rng(9)
    x, y = rng.normal(size=(48, 3)), rng.integers(0, 2, size=48)

    def count(batch_size, epochs):
        model = fx.Sequential([Dense(4, input_dim=3, activation="relu"), Dropout(0.2),
                               Dense(1, activation="sigmoid")], backend="array_api_strict")
        model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy", "mae"])
        reads.clear()
        model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0)
        return len(reads)

    assert count(batch_size=4, epochs=2) == count(batch_size=48, epochs=2)  # 12 batches vs 1
    per_epoch = count(batch_size=4, epochs=3) - count(batch_size=4, epochs=2)
    assert per_epoch == 3  # the loss and two metrics, once each


def test_get_layer_by_name_or_index():
    model = fx.Sequential([Dense(3, input_dim=2), Dense(1, name="out")])
    assert model.get_layer("out") is model.layers[1]
    assert model.get_layer(index=0) is model.layers[0]
    with pytest.raises(ValueError, match=r"no layer named 'nope'; the layers are \['dense', 'out'\]"):
        model.get_layer("nope")


def test_nan_targets_and_integer_inputs():
    model = fx.Sequential([Dense(2, input_dim=3)])
    model.compile(optimizer="sgd", loss="mse")
    y = np.ones((4, 2))
    y[1, 1] = np.nan
    with pytest.raises(ValueError, match="y contains NaN or infinity"):
        model.fit(np.ones((4, 3)), y, verbose=0)
    pixels = np.arange(12, dtype=np.uint8).reshape(4, 3)  # integer inputs are cast, not refused
    history = model.fit(pixels, np.ones((4, 2)), verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert model.predict(pixels).dtype == np.float32


def test_labels_and_shuffles_use_the_devices_index_dtype():
    # array-api-strict's no_x64 device has no 64-bit types: labels and permutations must
    # use its default indexing dtype (int32). (Accuracy is not used: strict's own argmax
    # returns int64 there.)
    pytest.importorskip("array_api_strict")
    rng = np.random.default_rng(10)
    x, y = rng.normal(size=(40, 3)), rng.integers(0, 3, size=40)
    model = fx.Sequential([Dense(4, input_dim=3, activation="relu"), Dense(3, activation="softmax")],
                          backend="array_api_strict", device="no_x64")
    assert model.backend.index_dtype == "int32"
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    history = model.fit(x, y, epochs=2, batch_size=8, validation_split=0.2, verbose=0)
    assert np.all(np.isfinite(history.history["val_loss"]))


# ---------------------------------------------------------------------------
# Sample and class weights, schedules in the history, compute_gradients and moving statistics.


def _weighted_problem():
    rng = np.random.default_rng(8)
    x = rng.normal(size=(24, 3))
    y = (rng.random(24) > 0.5).astype(np.float64)
    w = rng.random(24) * 2
    return x, y, w


def test_sample_weight_scales_each_loss_term_as_keras(case):
    x, y, w = _weighted_problem()
    model = case.model([Dense(1, input_dim=3, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    P = np.clip(model.predict(x)[:, 0].astype(np.float64), 1e-7, 1 - 1e-7)
    per_sample = -(y * np.log(P) + (1 - y) * np.log(1 - P))
    expected = (w * per_sample).sum() / len(y)  # Keras divides by n, not by Σw
    got = model.evaluate(x, y, sample_weight=w, batch_size=5)
    np.testing.assert_allclose(got, expected, rtol=10 * case.rtol)


def test_sample_weight_gradients_match_torch(case64):
    torch = pytest.importorskip("torch")
    x, y, w = _weighted_problem()
    model = case64.model([Dense(4, input_dim=3, activation="tanh"), Dense(1, activation="sigmoid")])
    model.compile(loss="binary_crossentropy")
    loss, grads = model.compute_gradients(x, y, sample_weight=w)
    K1, b1, K2, b2 = (torch.tensor(a, requires_grad=True) for a in model.get_weights())
    P = torch.sigmoid(torch.tanh(torch.tensor(x) @ K1 + b1) @ K2 + b2)[:, 0]
    ref = torch.nn.functional.binary_cross_entropy(P, torch.tensor(y), weight=torch.tensor(w),
                                                   reduction="sum") / len(y)
    ref.backward()
    np.testing.assert_allclose(float(loss), ref.item(), rtol=1e-10)
    for g, r in zip(grads, (K1, b1, K2, b2)):
        np.testing.assert_allclose(case64.to_numpy(g), r.grad.numpy(), rtol=1e-8, atol=1e-12)


def test_class_weight_equals_the_matching_sample_weight(case):
    x, y, _ = _weighted_problem()
    results = []
    for kwargs in ({"class_weight": {0: 1.0, 1: 3.0}}, {"sample_weight": np.where(y > 0.5, 3.0, 1.0)}):
        fx.utils.set_random_seed(4)
        model = case.model([Dense(2, input_dim=3, activation="tanh"), Dense(1, activation="sigmoid")])
        model.compile(optimizer=fx.optimizers.SGD(0.1), loss="binary_crossentropy",
                      metrics=["accuracy"])
        history = model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False, **kwargs)
        results.append((history.history["loss"], model.get_weights()))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=10 * case.rtol)
    for a, b in zip(results[0][1], results[1][1]):
        np.testing.assert_allclose(a, b, rtol=10 * case.rtol, atol=10 * case.rtol)


def test_sample_weight_follows_validation_split_and_bad_weights():
    x, y, w = _weighted_problem()
    model = fx.Sequential([Dense(1, input_dim=3, activation="sigmoid")], dtype="float64")
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    history = model.fit(x, y, sample_weight=w, validation_split=0.25, epochs=1, verbose=0,
                        shuffle=False)
    expected = model.evaluate(x[18:], y[18:], sample_weight=w[18:])
    np.testing.assert_allclose(history.history["val_loss"][0], expected, rtol=1e-12)
    with pytest.raises(ValueError, match=r"shape \(24,\), one weight per sample, got \(23,\)"):
        model.fit(x, y, sample_weight=w[:-1], verbose=0)
    with pytest.raises(ValueError, match="non-negative"):
        model.fit(x, y, sample_weight=-w, verbose=0)
    with pytest.raises(TypeError, match="class_weight"):
        model.fit(x, y, class_weight=[1.0, 2.0], verbose=0)


def test_schedule_rate_is_in_the_history():
    x, y, _ = _weighted_problem()
    schedule = fx.schedules.ExponentialDecay(0.1, decay_steps=3, decay_rate=0.5)
    model = fx.Sequential([Dense(1, input_dim=3, activation="sigmoid")])
    model.compile(optimizer=fx.optimizers.SGD(schedule), loss="binary_crossentropy")
    history = model.fit(x, y, batch_size=8, epochs=3, verbose=0)  # 3 steps per epoch
    np.testing.assert_allclose(history.history["learning_rate"], [0.05, 0.025, 0.0125])


def test_compute_gradients_puts_moving_statistics_back(case):
    from flexnet.layers import BatchNormalization

    x, y, _ = _weighted_problem()
    model = case.model([Dense(4, input_dim=3), BatchNormalization(), Dense(1, activation="sigmoid")])
    model.compile(loss="binary_crossentropy")
    before = model.get_weights()
    model.compute_gradients(x, y, training=True)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    model.fit(x, y, epochs=1, verbose=0)  # while fit does move them
    assert not np.array_equal(before[-3], model.get_weights()[-3])  # moving_mean


def test_sequential_takes_an_input_first_as_keras_3():
    model = fx.Sequential([fx.layers.Input(shape=(5,)), Dense(3), Dense(1)])
    assert model.built and model.input_shape == (None, 5) and len(model.layers) == 2
    with pytest.raises(ValueError, match="Input can only come first"):
        model.add(fx.layers.Input(shape=(3,)))


# ---------------------------------------------------------------------------
# Keras behaviours a test suite should pin: shuffling, frozen layers, one-batch methods.


class _Recorder(fx.layers.Layer):
    """Passes its input through and records, in training, the sample ids (column 0) of each batch."""

    def __init__(self, seen, **kwargs):
        super().__init__(**kwargs)
        self.seen = seen

    def forward(self, X, training=False):
        if training:
            self.seen.append(self.backend.to_numpy(X)[:, 0].round().astype(int).tolist())
        return X

    def backward(self, dY):
        return dY


def _epochs_seen(case, shuffle: bool, n=20, batch_size=6, epochs=3) -> list[list[int]]:
    seen: list = []
    model = case.model([_Recorder(seen, input_shape=(2,)), Dense(1)])
    # the recorder reads each batch on the host: the eager step (a compiled one has no values)
    model.compile(optimizer="sgd", loss="mse", jit_compile=False)
    x = np.stack([np.arange(n), np.ones(n)], axis=1)
    model.fit(x, np.zeros(n), batch_size=batch_size, epochs=epochs, shuffle=shuffle, verbose=0)
    per_epoch = -(-n // batch_size)
    assert len(seen) == per_epoch * epochs
    return [sum(seen[e * per_epoch:(e + 1) * per_epoch], []) for e in range(epochs)]


def test_fit_shuffles_every_epoch_and_shuffle_false_keeps_the_order(case):
    shuffled = _epochs_seen(case, shuffle=True)
    for order in shuffled:
        assert sorted(order) == list(range(20))  # every sample once per epoch
        assert order != list(range(20))  # not in the data's order
    assert shuffled[0] != shuffled[1] and shuffled[1] != shuffled[2]  # a new order each epoch
    assert _epochs_seen(case, shuffle=False) == [list(range(20))] * 3


def test_a_frozen_layer_keeps_its_weights_bit_for_bit_while_the_others_train(case):
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(32, 3)), rng.normal(size=(32, 1))
    frozen = Dense(4, activation="tanh", trainable=False, kernel_regularizer="l2")
    model = case.model([Dense(4, input_dim=3, activation="tanh"), frozen, Dense(1)])
    model.compile(optimizer=fx.optimizers.AdamW(0.01, weight_decay=0.1), loss="mse")
    before = [layer.get_weights() for layer in model.layers]
    model.fit(x, y, batch_size=8, epochs=3, verbose=0)
    after = [layer.get_weights() for layer in model.layers]
    for a, b in zip(after[1], before[1]):
        np.testing.assert_array_equal(a, b)
    for k in (0, 2):
        assert all(not np.array_equal(a, b) for a, b in zip(after[k], before[k]))


def test_model_trainable_sets_every_layer_and_counts_at_the_next_compile(case):
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(16, 3)), rng.normal(size=(16, 1))
    inner = case.model([Dense(4, input_dim=3)], name="inner")
    model = case.model([inner, Dense(1)])
    model.trainable = False
    assert not model.trainable and not inner.trainable
    assert all(not layer.trainable for layer in model._flat_layers())
    assert model.trainable_weights == [] and len(model.non_trainable_weights) == 4
    model.compile(optimizer="adam", loss="mse")
    before = model.get_weights()
    model.fit(x, y, epochs=2, verbose=0)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    model.trainable = True
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=2, verbose=0)
    assert all(not np.array_equal(a, b) for a, b in zip(model.get_weights(), before))


def test_test_on_batch_and_predict_on_batch_as_keras(case):
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(10, 3)), rng.integers(0, 2, size=10)
    model = case.model([Dense(1, input_dim=3, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    loss = model.test_on_batch(x, y)
    assert isinstance(loss, float) and loss == pytest.approx(model.evaluate(x, y, batch_size=10))
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
    values = model.test_on_batch(x, y)
    assert values == pytest.approx(model.evaluate(x, y, batch_size=3), rel=max(case.rtol, 1e-6))
    assert model.test_on_batch(x, y, return_dict=True) == dict(zip(model.metrics_names, values))
    case.assert_close(model.predict_on_batch(x), model.predict(x))
    assert isinstance(model.predict_on_batch(x), np.ndarray)
    on_device = case.asarray(x)
    assert type(model.predict_on_batch(on_device)) is type(on_device)


def test_metrics_names_follow_evaluate():
    model = fx.Sequential([Dense(2, input_dim=3, activation="softmax")])
    assert model.metrics_names == []  # before compile
    model.compile(loss="categorical_crossentropy", metrics=["accuracy", "mse"])
    assert model.metrics_names == ["loss", "accuracy", "mse"]
    input_ = fx.Input(shape=(3,))
    two = fx.Model(input_, [Dense(1, name="a")(input_), Dense(2, name="b")(input_)])
    two.compile(loss="mse", metrics={"b": ["mae"]})
    rng = np.random.default_rng(6)
    x, ys = rng.normal(size=(4, 3)), [rng.normal(size=(4, 1)), rng.normal(size=(4, 2))]
    assert two.metrics_names == ["loss", "a_loss", "b_loss", "b_mae"]
    assert two.metrics_names == list(two.evaluate(x, ys, return_dict=True))


@pytest.mark.parametrize(("features", "x", "hint"), [
    (30, np.zeros(30), r"it looks like one sample of 30 features: use x.reshape\(1, -1\)"),
    (1, np.zeros(30), r"for a single feature use x.reshape\(-1, 1\)"),
    (30, np.zeros(7), r"the model expects shape \(n, 30\)"),
])
def test_a_1d_input_gets_the_reshape_that_fits_the_model(features, x, hint):
    """``predict(X_test[0])`` on a 30-feature model means one sample: reshape(1, -1)."""
    model = fx.Sequential([Dense(1, input_dim=features)])
    with pytest.raises(ValueError, match=rf"x must have a batch axis and a feature axis, got shape "
                                         rf"\({len(x)},\); {hint}"):
        model.predict(x)


def test_a_1d_input_to_an_unbuilt_model_gets_both_hints():
    with pytest.raises(ValueError, match=r"for one sample use x.reshape\(1, -1\); for a single feature, "
                                         r"x.reshape\(-1, 1\)"):
        fx.Sequential([Dense(1)]).predict(np.zeros(5))
