"""The jax backend: every public feature, and the compiled step against the generic one.

The compiled step (``jax.jit`` over chunks of steps) runs the same code as the generic
step, traced; in float64 the two give the same weights, losses and metrics to rounding,
for every optimizer, schedule, regularizer, constraint, normalization, dropout, the
functional API and weighted losses. The full backend x dtype matrix also runs on JAX
with ``FLEXNET_TEST_JAX=1`` (slow: JAX compiles each new shape).
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

jax = pytest.importorskip("jax")

import flexnet as fx  # noqa: E402
from flexnet import layers as L  # noqa: E402

X64 = bool(jax.config.jax_enable_x64)  # tests/conftest.py enables it for the float64 cases


def _data(n=53, features=6, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features))
    y = (x[:, :classes] + 0.3 * rng.normal(size=(n, classes))).argmax(axis=1)
    return x, y


def _mlp(*, dropout=0.0, batchnorm=False, regularized=False, constrained=False, classes=3, seed=4):
    fx.utils.set_random_seed(seed)
    kwargs = {}
    if regularized:
        kwargs.update(kernel_regularizer=fx.regularizers.L1L2(1e-3, 1e-3), activity_regularizer="l2")
    if constrained:
        kwargs.update(kernel_constraint=fx.constraints.MaxNorm(0.8), bias_constraint="non_neg")
    layers = [L.Dense(8, input_dim=6, activation="tanh", **kwargs)]
    if batchnorm:
        layers.append(L.BatchNormalization())
    if dropout:
        layers.append(L.Dropout(dropout))
    layers.append(L.Dense(classes, activation="softmax"))
    return fx.Sequential(layers, backend="jax", dtype="float64")


def _twins(build, compile_kwargs, fit_kwargs, x, y):
    """The same model trained by the compiled and by the generic step (``compile_kwargs`` is
    a function, so each twin gets its own optimizer and metric objects)."""
    out = []
    for jit in ("auto", False):
        model = build()
        model.compile(**compile_kwargs(), jit_compile=jit)
        history = model.fit(x, y, verbose=0, **fit_kwargs)
        out.append((model, history.history))
    return out


def _assert_same(compiled, generic, rtol=1e-10):
    (m1, h1), (m2, h2) = compiled, generic
    from flexnet.training.jax_runner import JaxRunner

    assert isinstance(m1._trainer._runner, JaxRunner) and not isinstance(m2._trainer._runner, JaxRunner)
    assert list(h1) == list(h2)
    for key in h1:
        np.testing.assert_allclose(h1[key], h2[key], rtol=rtol, atol=1e-12, err_msg=key)
    for w1, w2 in zip(m1.get_weights(), m2.get_weights()):
        np.testing.assert_allclose(w1, w2, rtol=rtol, atol=1e-12)
    assert m1.optimizer.iterations == m2.optimizer.iterations


OPTIMIZERS = {
    "sgd_nesterov": lambda: fx.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
    "adagrad": lambda: fx.optimizers.Adagrad(0.1),
    "rmsprop_centered_momentum": lambda: fx.optimizers.RMSprop(0.01, momentum=0.5, centered=True),
    "adadelta": lambda: fx.optimizers.Adadelta(1.0),
    "adam_amsgrad_clipnorm": lambda: fx.optimizers.Adam(0.01, amsgrad=True, clipnorm=0.5),
    "adamw_schedule": lambda: fx.optimizers.AdamW(fx.schedules.ExponentialDecay(0.02, 5, 0.5)),
    "nadam_clipvalue": lambda: fx.optimizers.Nadam(0.01, clipvalue=0.05),
    "lion_global_clipnorm": lambda: fx.optimizers.Lion(0.003, global_clipnorm=0.5),
}


@pytest.mark.skipif(not X64, reason="needs jax_enable_x64")
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_compiled_step_equals_the_generic_step_for_every_optimizer(name):
    x, y = _data()
    _assert_same(*_twins(_mlp, lambda: {"optimizer": OPTIMIZERS[name](),
                                        "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]},
                         {"batch_size": 8, "epochs": 2}, x, y))


@pytest.mark.skipif(not X64, reason="needs jax_enable_x64")
def test_compiled_step_with_dropout_batchnorm_regularizers_constraints_and_weights():
    """Dropout masks come from the same keys, BatchNormalization's moving statistics go
    through the compiled step, the penalties join the loss, the constraints hold."""
    x, y = _data()
    w = np.random.default_rng(3).uniform(0.5, 2.0, size=len(y))

    def build():
        return _mlp(dropout=0.3, batchnorm=True, regularized=True, constrained=True)

    twins = _twins(build, lambda: {"optimizer": fx.optimizers.Adam(0.01),
                                   "loss": "sparse_categorical_crossentropy",
                                   "metrics": ["accuracy", fx.metrics.AUC()]},
                   {"batch_size": 8, "epochs": 2, "sample_weight": w, "validation_split": 0.2}, x, y)
    _assert_same(*twins)
    model = twins[0][0]
    kernel = model.get_weights()[0]
    assert np.all(np.linalg.norm(kernel, axis=0) <= 0.8 + 1e-12)
    moving = model.layers[1].buffers["moving_mean"]
    assert not np.allclose(fx.transfer.to_numpy(moving), 0.0)  # updated through the program


@pytest.mark.skipif(not X64, reason="needs jax_enable_x64")
def test_compiled_functional_model_with_two_heads_class_weights_and_a_shared_layer():
    def build():
        fx.utils.set_random_seed(5)
        a, b = L.Input(shape=(4,), name="a"), L.Input(shape=(4,), name="b")
        shared = L.Dense(3, activation="tanh", name="shared")
        sa, sb = shared(a), shared(b)
        o1 = L.Dense(1, activation="sigmoid", name="o1")(L.add([sa, sb]))
        o2 = L.Dense(2, name="o2")(L.concatenate([L.multiply([sa, sb]), a]))
        return fx.models.Model([a, b], [o1, o2], backend="jax", dtype="float64")

    rng = np.random.default_rng(1)
    xa, xb = rng.normal(size=(30, 4)), rng.normal(size=(30, 4))
    y1, y2 = (rng.random((30, 1)) > 0.5).astype(float), rng.normal(size=(30, 2))
    twins = []
    for jit in ("auto", False):
        model = build()
        model.compile(optimizer="rmsprop", loss=["binary_crossentropy", "mse"], loss_weights=[1.0, 0.5],
                      metrics={"o1": ["accuracy"]}, jit_compile=jit)
        history = model.fit([xa, xb], [y1, y2], batch_size=7, epochs=2, verbose=0,
                            class_weight={0: 1.0, 1: 3.0})
        twins.append((model, history.history))
    _assert_same(*twins)


def test_everything_a_user_calls_works_on_jax_float32():
    """fit (a callback that needs each batch, one that does not), evaluate, predict,
    train_on_batch, compute_gradients and apply_gradients on the default dtype."""
    fx.utils.set_random_seed(0)
    x, y = _data(n=120)
    model = fx.Sequential([L.Dense(16, input_dim=6, activation="relu"), L.Dropout(0.1),
                           L.Dense(3, activation="softmax")], backend="jax")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    seen = []
    every_batch = fx.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(batch))
    stop = fx.callbacks.EarlyStopping(monitor="loss", patience=50, restore_best_weights=True)
    history = model.fit(x, y, batch_size=16, epochs=8, verbose=0, callbacks=[every_batch, stop])
    assert seen == list(range(8)) * 8  # 120 samples: 7 batches of 16 and one of 8
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert 0.0 <= history.history["accuracy"][-1] <= 1.0
    loss, accuracy = model.evaluate(x, y, batch_size=50)
    assert np.isfinite(loss) and accuracy > 0.5
    probabilities = model.predict(x[:5])
    assert isinstance(probabilities, np.ndarray) and probabilities.shape == (5, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    device = model.backend.from_numpy(x[:5], "float32")
    assert isinstance(model.predict(device), jax.Array)  # the caller's kind of array comes back
    before = model.get_weights()
    model.train_on_batch(x[:16], y[:16])
    loss, grads = model.compute_gradients(x[:16], y[:16])
    model.apply_gradients(grads)
    after = model.get_weights()
    assert all(not np.array_equal(a, b) for a, b in zip(before, after))
    assert model.optimizer.iterations == 8 * 8 + 2


def test_a_model_moves_between_numpy_and_jax_and_files_load_on_either(tmp_path):
    x, y = _data(n=40)
    fx.utils.set_random_seed(1)
    model = fx.Sequential([L.Dense(5, input_dim=6, activation="relu"), L.Dense(3, activation="softmax")],
                          backend="jax")
    model.compile(optimizer=fx.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    path = tmp_path / "model.flexnet"
    model.save(path)
    saved = model.predict(x)
    on_numpy = fx.models.load_model(path, backend="numpy")
    np.testing.assert_allclose(on_numpy.predict(x), saved, rtol=1e-5, atol=1e-6)
    again = fx.models.load_model(path, backend="jax")
    again.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)  # files hold no generator
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)  # position: no shuffle here
    for a, b in zip(model.get_weights(), again.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    on_numpy.to("jax")
    np.testing.assert_allclose(on_numpy.predict(x), saved, rtol=1e-5, atol=1e-6)
    assert on_numpy.optimizer.state[0]["m"].__class__.__module__.startswith("jax")


@pytest.mark.skipif(not X64, reason="needs jax_enable_x64")
def test_generic_jax_step_matches_numpy_in_float64():
    """The generic step on JAX runs the same code as on NumPy: the same trajectory."""
    x, y = _data()
    histories, weights, start = [], [], None
    for backend in ("numpy", "jax"):
        fx.utils.set_random_seed(4)
        model = fx.Sequential([L.Dense(8, input_dim=6, activation="tanh"), L.Dense(3, activation="softmax")],
                              backend=backend, dtype="float64")
        if start is None:
            start = model.get_weights()
        model.set_weights(start)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", jit_compile=False)
        histories.append(model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history)
        weights.append(model.get_weights())
    np.testing.assert_allclose(histories[0]["loss"], histories[1]["loss"], rtol=1e-12)
    for a, b in zip(*weights):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-13)


def test_float32_without_x64_trains_in_a_fresh_process():
    """x64 is a global switch of JAX, on in this test process; a user's float32 model runs
    without it."""
    script = (
        "import numpy as np, jax, flexnet as fx\n"
        "assert not jax.config.jax_enable_x64\n"
        "fx.utils.set_random_seed(0)\n"
        "x = np.random.default_rng(0).normal(size=(64, 4)); y = (x[:, 0] > 0).astype(int)\n"
        "m = fx.Sequential([fx.layers.Dense(8, input_dim=4, activation='relu'),\n"
        "                   fx.layers.Dense(1, activation='sigmoid')], backend='jax')\n"
        "m.compile(optimizer=fx.optimizers.Adam(0.05), loss='binary_crossentropy', metrics=['accuracy'])\n"
        "h = m.fit(x, y, batch_size=16, epochs=15, verbose=0)\n"
        "assert h.history['accuracy'][-1] > 0.8, h.history\n"
        "try:\n"
        "    fx.Sequential([fx.layers.Dense(1, input_dim=4)], backend='jax', dtype='float64')\n"
        "except ValueError as e:\n"
        "    assert 'jax_enable_x64' in str(e), e\n"
        "else:\n"
        "    raise AssertionError('float64 without x64 must be refused')\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_ENABLE_X64")}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_jax_backend_names_its_devices_and_refuses_unknown_ones():
    backend = fx.Backend.resolve("jax")
    assert backend.name == "jax" and backend.device == jax.devices()[0]
    assert fx.Backend.resolve("jax", "cpu:0").device == jax.devices("cpu")[0]
    with pytest.raises(ValueError, match="jax has no device 'tpu:3'"):
        fx.Backend.resolve("jax", "tpu:3")


def test_a_stream_runs_one_compiled_step_per_batch_as_the_generic_step(tmp_path):
    """Memory-mapped data, a generator and a Dataset have no arrays to gather inside the program:
    each batch is one compiled step (one program per batch shape), the same as the generic step."""
    x, y = _data()
    np.save(tmp_path / "x.npy", x)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")

    def endless():
        while True:
            for i in range(0, len(x), 16):
                yield x[i:i + 16], y[i:i + 16]

    class Rows(fx.data.Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return x[16 * i:16 * (i + 1)], y[16 * i:16 * (i + 1)]

    runs = [(lambda: (mapped, y), dict(batch_size=16, shuffle=True)),
            (lambda: (endless(),), dict(steps_per_epoch=3, validation_data=Rows(), validation_steps=1))]
    for data, fit_kwargs in runs:
        out = []
        for jit in ("auto", False):
            model = _mlp()
            model.compile(optimizer=fx.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
                          metrics=["accuracy"], jit_compile=jit)
            history = model.fit(*data(), epochs=2, verbose=0, **fit_kwargs)
            out.append((model, history.history))
        _assert_same(*out)
