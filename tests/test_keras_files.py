"""Keras 3 ``.keras`` files both ways, checked against Keras itself (its torch backend).

Keras saves, flexnet loads: the same predictions (to 1e-6 in float32) and the same summary
(layer names, classes, output shapes, parameter counts). flexnet saves, Keras loads: the
same again, and the weights file is laid out exactly as Keras lays out its own. What one
side cannot represent is a ValueError naming the layer and the key, with no file written.
"""

from __future__ import annotations

import json
import os
import re
import zipfile

import numpy as np
import pytest
from helpers import doubler_layer, randomize_weights

import flexnet as fx
from flexnet.layers import Dense

os.environ.setdefault("KERAS_BACKEND", "torch")
h5py = pytest.importorskip("h5py")
keras = pytest.importorskip("keras")
L = keras.layers

#: Keras 3.15's torch backend converts its variables with np.array(x), which NumPy 2 warns about.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

#: Keras warns, loading a compiled model from a file without optimizer variables, that it
#: starts a fresh optimizer state (flexnet's files do not carry Keras's slot layout).
FRESH_OPTIMIZER = pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")


def _x(*shape, seed: int = 0, dtype="float32"):
    return np.random.default_rng(seed).normal(size=shape).astype(dtype)


def _randomize_keras(model, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    weights = []
    for w in model.weights:
        if "float" not in str(w.dtype):  # Normalization's count
            weights.append(np.asarray(w))
            continue
        value = rng.normal(scale=0.6, size=tuple(w.shape))
        weights.append(np.abs(value) + 0.3 if "variance" in w.path else value)
    model.set_weights(weights)


def _as_list(value) -> list:
    return [np.asarray(v) for v in value] if isinstance(value, (list, tuple)) else [np.asarray(value)]


def _keras_only(layer) -> int:
    """The values of a Keras layer's variables flexnet does not keep: integer ones (Normalization's
    count, which Keras keeps for old files and counts as a parameter)."""
    return sum(int(np.prod(w.shape)) for w in layer.weights if "float" not in str(w.dtype))


def _keras_rows(model) -> list:
    rows = []
    for layer in model.layers:
        shape = tuple(layer.output.shape) if not isinstance(layer, L.InputLayer) else tuple(layer.batch_shape)
        params = layer.count_params() - _keras_only(layer)
        rows.append((layer.name, type(layer).__name__, tuple(shape), params))
    return sorted(rows)


def _flexnet_kind(layer) -> str:
    """The Keras class of a flexnet layer: its own, but an Activation layer of an activation with
    arguments is Keras's layer of that activation (ELU, LeakyReLU, Softmax), both ways."""
    if type(layer) is fx.layers.Activation:
        spec = fx.activations.serialize(layer.activation)
        return spec["class_name"] if isinstance(spec, dict) else "Activation"
    return type(layer).__name__


def _flexnet_rows(model) -> list:
    rows = []
    for layer in model.layers:
        shape = layer.output_shapes[0] if isinstance(layer, fx.Model) else layer.output_shape
        rows.append((layer.name, _flexnet_kind(layer), tuple(shape), layer.count_params()))
    return sorted(rows)


def _summary_counts(lines: list[str], less: int = 0) -> list[str]:
    """The trainable and non-trainable counts of a summary ("Trainable params: 132 (528.00 B)"),
    ``less`` non-trainable values left out."""
    def without(match):  # (Keras's int32 count takes 4 bytes)
        return f"Non-trainable params: {int(match[1]) - less} ({float(match[2]) - 4 * less:.2f} B)"

    counts = [line.strip() for line in lines
              if line.strip().startswith(("Trainable params", "Non-trainable"))]
    return [re.sub(r"Non-trainable params: (\d+) \(([\d.]+) B\)", without, c) if less else c for c in counts]


def assert_same_model(keras_model, model, xs, atol=1e-6):
    """Same predictions and the same summary (rows, and the parameter counts it prints)."""
    expected = _as_list(keras_model.predict(xs, verbose=0))
    got = _as_list(model.predict(xs))
    assert len(expected) == len(got)
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=atol, atol=atol)
    assert _flexnet_rows(model) == _keras_rows(keras_model)
    keras_lines, lines = [], []
    keras_model.summary(print_fn=lambda line, *args, **kwargs: keras_lines.extend(line.splitlines()))
    model.summary(print_fn=lambda text: lines.extend(text.splitlines()))
    less = sum(_keras_only(layer) for layer in keras_model.layers)
    assert _summary_counts(lines) == _summary_counts(keras_lines, less)


# ---------------------------------------------------------------------------
# Models built in Keras, and the same built in flexnet.


def keras_sequential(dtype="float32"):
    return keras.Sequential([
        keras.Input((3, 4), dtype=dtype), L.Flatten(dtype=dtype), L.Dense(8, activation="gelu", dtype=dtype),
        L.BatchNormalization(dtype=dtype), L.Dropout(0.3, dtype=dtype), L.LayerNormalization(dtype=dtype),
        L.Dense(6, activation="silu", use_bias=False, dtype=dtype), L.PReLU(dtype=dtype),
        L.LeakyReLU(0.1, dtype=dtype), L.Activation("tanh", dtype=dtype), L.ELU(0.5, dtype=dtype),
        L.ReLU(dtype=dtype), L.Dense(5, dtype=dtype), L.Softmax(dtype=dtype),
    ], name="keras_sequential")


def keras_functional():
    a, b = keras.Input((4,), name="a"), keras.Input((3,), name="b")
    ha = L.Dense(5, activation="relu")(a)
    hb = L.Dense(5, activation="hard_sigmoid")(b)
    inner = keras.Sequential([keras.Input((5,)), L.Dense(2, activation="elu"), L.LayerNormalization()],
                             name="inner")
    i1 = keras.Input((5,))
    nested = keras.Model(i1, L.Dense(5, activation="selu")(i1), name="nested")
    shared = L.Dense(5, activation="softplus", name="shared")
    merged = [L.Add()([ha, hb, nested(ha)]), L.Subtract()([ha, hb]), L.Multiply()([ha, hb]),
              L.Average()([ha, hb]), L.Maximum()([shared(ha), shared(hb)]), L.Minimum()([ha, hb])]
    joined = L.Concatenate()(merged)
    out1 = L.Dense(1, activation="sigmoid", name="score")(L.BatchNormalization()(joined))
    out2 = L.Dense(3, activation="log_softmax", name="label")(joined)
    return keras.Model([a, b], [out1, out2, inner(hb)], name="keras_functional")


ALL_ACTIVATIONS = ["linear", "relu", "sigmoid", "tanh", "softmax", "log_softmax", "elu", "selu", "softplus",
                   "silu", "gelu", "hard_sigmoid", "leaky_relu"]


def keras_activations():
    x = keras.Input((4,))
    return keras.Model(x, [L.Dense(3, activation=a)(x) for a in ALL_ACTIVATIONS], name="activations")


def flexnet_functional():
    a, b = fx.layers.Input((4,), name="a"), fx.layers.Input((3,), name="b")
    ha, hb = Dense(5, activation="relu")(a), Dense(5, activation="tanh")(b)
    inner = fx.Sequential([Dense(2, activation="elu"), fx.layers.LayerNormalization()], name="inner")
    inner.build((None, 5))
    shared = Dense(5, activation="softplus", name="shared")
    merged = [fx.layers.add([ha, hb]), fx.layers.subtract([ha, hb]), fx.layers.multiply([ha, hb]),
              fx.layers.average([ha, hb]), fx.layers.maximum([shared(ha), shared(hb)]),
              fx.layers.minimum([ha, hb])]
    joined = fx.layers.concatenate(merged)
    out1 = Dense(1, activation="sigmoid", name="score")(fx.layers.BatchNormalization()(joined))
    out2 = Dense(3, activation="softmax", name="label")(fx.layers.Dropout(0.2)(joined))
    return fx.models.Model(inputs=[a, b], outputs=[out1, out2, inner(hb)], name="flexnet_functional")


def flexnet_sequential(**kwargs):
    return fx.Sequential([
        fx.layers.Flatten(input_shape=(3, 4)), Dense(8, activation="gelu"), fx.layers.BatchNormalization(),
        fx.layers.Dropout(0.3), Dense(6, activation="leaky_relu", use_bias=False),
        fx.layers.PReLU(shared_axes=None), fx.layers.Activation(fx.activations.LeakyReLU(0.1)),
        fx.layers.Activation(fx.activations.ELU(0.5)), fx.layers.LayerNormalization(epsilon=1e-5),
        Dense(5, kernel_regularizer=fx.regularizers.L2(1e-3), kernel_constraint=fx.constraints.MaxNorm(3.0)),
        fx.layers.Activation("softmax"),
    ], name="flexnet_sequential", **kwargs)


def _data(n: int = 40, seed: int = 7):
    return _x(n, 6, seed=seed) * 2.0 + 1.0


def keras_parity(dtype="float32"):
    """The layers of the Keras-parity work, each in its forms, in Keras."""
    adapted = L.Normalization(dtype=dtype)
    adapted.adapt(_data())
    return keras.Sequential([
        keras.Input((6,), dtype=dtype), adapted, L.Dense(6, dtype=dtype),
        L.ReLU(max_value=1.5, negative_slope=0.1, threshold=0.2, dtype=dtype),
        L.Normalization(mean=[0.5] * 6, variance=[2.0, 1.0, 0.5, 4.0, 0.0, 1.0], dtype=dtype),
        L.LeakyReLU(0.2, dtype=dtype), L.GaussianNoise(0.3, seed=4, dtype=dtype),
        L.Reshape((3, -1), dtype=dtype), L.Softmax(axis=1, dtype=dtype), L.Softmax(axis=[1, 2], dtype=dtype),
        L.Normalization(axis=None, mean=0.1, variance=2.0, invert=True, dtype=dtype),
        L.Flatten(dtype=dtype), L.ReLU(dtype=dtype), L.Dense(2, dtype=dtype), L.Softmax(dtype=dtype),
    ], name="keras_parity")


def flexnet_parity(**kwargs):
    """The same model in flexnet (default names as Keras's)."""
    adapted = fx.layers.Normalization(input_shape=(6,))
    adapted.adapt(_data())
    return fx.Sequential([
        adapted, Dense(6), fx.layers.ReLU(max_value=1.5, negative_slope=0.1, threshold=0.2),
        fx.layers.Normalization(mean=[0.5] * 6, variance=[2.0, 1.0, 0.5, 4.0, 0.0, 1.0]),
        fx.layers.LeakyReLU(0.2), fx.layers.GaussianNoise(0.3, seed=4), fx.layers.Reshape((3, -1)),
        fx.layers.Softmax(axis=1), fx.layers.Softmax(axis=(1, 2)),
        fx.layers.Normalization(axis=None, mean=0.1, variance=2.0, invert=True), fx.layers.Flatten(),
        fx.layers.ReLU(), Dense(2), fx.layers.Softmax(),
    ], name="flexnet_parity", **kwargs)


# ---------------------------------------------------------------------------
# Keras writes, flexnet reads.


@pytest.mark.parametrize("build, inputs", [
    (keras_sequential, lambda: _x(9, 3, 4)),
    (keras_functional, lambda: [_x(9, 4), _x(9, 3, seed=1)]),
    (keras_activations, lambda: 3 * _x(9, 4)),
], ids=["sequential", "functional", "activations"])
def test_flexnet_loads_what_keras_saves(tmp_path, build, inputs):
    keras_model = build()
    _randomize_keras(keras_model)
    path = tmp_path / "model.keras"
    keras_model.save(path)
    model = fx.models.load_model(path)
    assert model.dtype == "float32" and not model.compiled
    assert_same_model(keras_model, model, inputs())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_flexnet_reads_keras_files_of_the_keras_parity_layers(tmp_path, dtype):
    keras_model = keras_parity(dtype)
    keras_model.save(tmp_path / "model.keras")
    model = fx.models.load_model(tmp_path / "model.keras")
    assert model.dtype == dtype
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == [type(layer).__name__ for layer in keras_model.layers]
    relu, norm, inverted = model.layers[2], model.layers[0], model.layers[9]
    assert (relu.max_value, relu.negative_slope, relu.threshold) == (1.5, 0.1, 0.2)
    assert model.layers[5].seed == 4 and model.layers[8].axis == (1, 2) and inverted.invert
    np.testing.assert_allclose(model.get_weights()[0], np.asarray(keras_model.layers[0].adapt_mean))
    assert len(norm.weights) == 2  # Keras's int32 count is not kept
    # (float64: Keras computes its Dense to ~1e-6 of exact float64, as measured above)
    assert_same_model(keras_model, model, _data(9, seed=1).astype(dtype), atol=1e-6 if dtype == "float32"
                      else 1e-5)


def test_a_float64_keras_model_loads_in_float64(tmp_path):
    keras_model = keras_sequential("float64")
    _randomize_keras(keras_model)
    keras_model.save(tmp_path / "model.keras")
    model = fx.models.load_model(tmp_path / "model.keras")
    assert model.dtype == "float64"
    for a, b in zip(model.get_weights(), keras_model.get_weights()):
        assert a.dtype == b.dtype == np.float64
        np.testing.assert_array_equal(a, b)
    # Keras 3.15 (torch backend) computes these float64 layers to ~1e-6 of exact float64 (measured:
    # its Dense differs from x @ W + b by 1.3e-6); the weights above are equal bit for bit.
    assert_same_model(keras_model, model, _x(9, 3, 4).astype("float64"), atol=1e-5)


@FRESH_OPTIMIZER
def test_a_compiled_keras_model_loads_compiled_and_trains(tmp_path):
    keras_model = keras.Sequential([keras.Input((4,)), L.Dense(6, activation="relu"), L.Dense(3)])
    keras_model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.02, beta_2=0.99, clipnorm=1.0),
                        loss=keras.losses.CategoricalCrossentropy(from_logits=True),
                        metrics=["categorical_accuracy"])
    x, y = _x(32, 4), np.eye(3, dtype="float32")[np.arange(32) % 3]
    keras_model.fit(x, y, epochs=1, verbose=0)
    keras_model.save(tmp_path / "model.keras")
    model = fx.models.load_model(tmp_path / "model.keras")
    assert isinstance(model.optimizer, fx.optimizers.Adam)
    config = model.optimizer.get_config()
    assert (config["learning_rate"], config["beta_2"], config["clipnorm"]) == pytest.approx((0.02, 0.99, 1.0))
    assert isinstance(model.loss, fx.losses.CategoricalCrossentropy) and model.loss.from_logits
    history = model.fit(x, y, epochs=3, verbose=0)
    losses = history.history["loss"]
    assert "categorical_accuracy" in history.history and losses[-1] < losses[0]
    assert not fx.models.load_model(tmp_path / "model.keras", compile=False).compiled


def test_a_keras_file_loads_on_every_backend(tmp_path, case):
    keras_model = keras_sequential()
    _randomize_keras(keras_model)
    keras_model.save(tmp_path / "model.keras")
    model = fx.models.load_model(tmp_path / "model.keras", backend=case.backend, device=case.device,
                                 dtype=case.dtype)
    assert model.backend == case.resolve() and model.dtype == case.dtype
    x = _x(9, 3, 4)
    expected = keras_model.predict(x, verbose=0)
    np.testing.assert_allclose(case.to_numpy(model.predict(case.asarray(x))), expected, atol=1e-5)


# ---------------------------------------------------------------------------
# flexnet writes, Keras reads.


def _groups(path) -> dict:
    """Every group and dataset of a .keras file's weights: path -> (attrs, shape)."""
    with zipfile.ZipFile(path) as zf, h5py.File(zf.open("model.weights.h5"), "r") as f:
        found = {}
        f.visititems(lambda name, obj: found.update({name: (dict(obj.attrs), getattr(obj, "shape", None))}))
    return {k: v for k, v in found.items() if not k.startswith("optimizer")}


@FRESH_OPTIMIZER
@pytest.mark.parametrize("build, inputs", [
    (flexnet_sequential, lambda: _x(9, 3, 4)),
    (flexnet_functional, lambda: [_x(9, 4), _x(9, 3, seed=1)]),
], ids=["sequential", "functional"])
def test_keras_loads_what_flexnet_saves(tmp_path, build, inputs):
    model = build()
    randomize_weights(model)
    model.compile(optimizer=fx.optimizers.RMSprop(0.01, momentum=0.5), loss="mse", metrics=["mae"])
    path = tmp_path / "model.keras"
    model.save(path)
    assert sorted(zipfile.ZipFile(path).namelist()) == ["config.json", "metadata.json", "model.weights.h5"]
    keras_model = keras.models.load_model(path)
    assert_same_model(keras_model, model, inputs())
    assert type(keras_model.optimizer).__name__ == "RMSprop"
    assert float(keras_model.optimizer.learning_rate) == pytest.approx(0.01)
    assert float(keras_model.optimizer.momentum) == pytest.approx(0.5)
    # Keras writes the model it read with the same layout flexnet wrote.
    keras_model.save(tmp_path / "again.keras")
    assert _groups(path) == _groups(tmp_path / "again.keras")
    # Keras trains it.
    xs = inputs()
    targets = [np.zeros(o.shape, "float32") for o in _as_list(keras_model.predict(xs, verbose=0))]
    keras_model.fit(xs, targets if len(targets) > 1 else targets[0], epochs=1, verbose=0)


@FRESH_OPTIMIZER
def test_keras_reads_flexnet_files_of_the_keras_parity_layers(tmp_path):
    model = flexnet_parity()
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    model.save(tmp_path / "model.keras")
    keras_model = keras.models.load_model(tmp_path / "model.keras")
    assert [type(layer).__name__ for layer in keras_model.layers] == [type(layer).__name__
                                                                      for layer in model.layers]
    assert [layer.name for layer in keras_model.layers] == [layer.name for layer in model.layers]
    assert_same_model(keras_model, model, _data(9, seed=1))
    # the weights file is laid out as Keras lays out its own (Normalization's count included)
    keras_model.save(tmp_path / "again.keras")
    assert _groups(tmp_path / "model.keras") == _groups(tmp_path / "again.keras")
    assert _groups(tmp_path / "model.keras")["layers/normalization/vars/2"] == ({}, ())
    # and flexnet reads it back as it was
    again = fx.models.load_model(tmp_path / "model.keras")
    def configs(m):  # (a Keras file keeps the input shape on the model, not on its first layer)
        return [{k: v for k, v in layer.get_config().items() if k != "input_shape"} for layer in m.layers]

    assert configs(again) == configs(model)
    for a, b in zip(again.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_default_layer_names_are_keras_names():
    from keras.src.utils.naming import to_snake_case

    from flexnet.layers.base import LAYERS as FLEXNET_LAYERS
    from flexnet.layers.base import snake_case

    for name in {FLEXNET_LAYERS[key].__name__ for key in FLEXNET_LAYERS}:
        assert snake_case(name) == to_snake_case(name), name
    keras.backend.clear_session()  # Keras numbers names within a session
    keras_model = keras_parity()
    model = flexnet_parity()
    assert [layer.name for layer in model.layers] == [layer.name for layer in keras_model.layers]
    assert model.layers[2].name == "re_lu" and model.layers[4].name == "leaky_re_lu"
    prelu = fx.Sequential([fx.layers.PReLU(input_shape=(2,)), fx.layers.BatchNormalization()])
    assert [layer.name for layer in prelu.layers] == ["p_re_lu", "batch_normalization"]


def test_a_lambda_layer_is_not_written_to_a_keras_file(tmp_path):
    model = fx.Sequential([Dense(2, input_dim=3), fx.layers.Lambda(lambda X: X * 2.0, name="twice")])
    with pytest.raises(TypeError, match=r"Lambda layer 'twice' wraps the Python function"):
        model.save(tmp_path / "m.keras")
    assert not list(tmp_path.iterdir())


def test_the_keras_parity_layers_save_on_every_backend(tmp_path, case):
    norm = fx.layers.Normalization(input_shape=(6,))
    norm.adapt(_data())
    model = case.model([norm, fx.layers.ReLU(max_value=2.0, threshold=0.1), fx.layers.GaussianNoise(0.2),
                        fx.layers.Reshape((2, 3)), fx.layers.Softmax(axis=1), fx.layers.Flatten(),
                        fx.layers.LeakyReLU(), Dense(2)])
    randomize_weights(model)
    model.save(tmp_path / "model.keras")
    keras_model = keras.models.load_model(tmp_path / "model.keras")
    x = _data(5, seed=2)
    expected = case.to_numpy(model.predict(case.asarray(x)))
    np.testing.assert_allclose(keras_model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-5)
    loaded = fx.models.load_model(tmp_path / "model.keras", backend=case.backend, device=case.device,
                                  dtype=case.dtype)
    np.testing.assert_allclose(case.to_numpy(loaded.predict(case.asarray(x))), expected, rtol=1e-6,
                               atol=1e-6)


def test_models_of_every_backend_save_as_keras_files(tmp_path, case):
    model = case.model([Dense(6, input_dim=4, activation="tanh"), fx.layers.BatchNormalization(),
                        Dense(2, activation="softmax")])
    randomize_weights(model)
    model.save(tmp_path / "model.keras")
    keras_model = keras.models.load_model(tmp_path / "model.keras")
    x = _x(5, 4)
    expected = case.to_numpy(model.predict(case.asarray(x)))
    np.testing.assert_allclose(keras_model.predict(x, verbose=0), expected, atol=1e-5)
    assert {layer.dtype_policy.name for layer in keras_model.layers} == {case.dtype}


def test_the_round_trip_keeps_every_weight(tmp_path):
    model = flexnet_functional()
    randomize_weights(model)
    model.save(tmp_path / "model.keras")
    again = fx.models.load_model(tmp_path / "model.keras")
    for a, b in zip(model.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert again.get_config() != {} and again.output_names == model.output_names


def test_save_writes_a_keras_file_only_for_the_keras_suffix(tmp_path):
    model = fx.Sequential([Dense(2, input_dim=3)])
    model.save(tmp_path / "m.KERAS")
    assert "config.json" in zipfile.ZipFile(tmp_path / "m.KERAS").namelist()
    model.save(tmp_path / "m.flexnet")
    assert "flexnet.json.npy" in zipfile.ZipFile(tmp_path / "m.flexnet").namelist()


# ---------------------------------------------------------------------------
# What one side cannot represent.


def _keras_file(tmp_path, *layers, inputs=(4,)):
    model = keras.Sequential([keras.Input(inputs), *layers])
    path = tmp_path / "model.keras"
    model.save(path)
    return path


@pytest.mark.parametrize("layers, match", [
    (lambda: [L.Dense(2, activation="mish")], r"'dense\w*' \(Dense\): activation 'mish' has no flexnet"),
    (lambda: [L.Dropout(0.5, seed=3)], r"layer 'dropout\w*' \(Dropout\): seed=3 has no flexnet equivalent"),
    (lambda: [L.BatchNormalization(renorm=True)], r"\(BatchNormalization\): renorm=True has no flexnet"),
    (lambda: [L.LayerNormalization(rms_scaling=True)], r"rms_scaling=True has no flexnet"),
    (lambda: [L.GaussianDropout(0.1)], r"Keras layer class 'GaussianDropout' has no flexnet equivalent"),
    (lambda: [L.Lambda(lambda x: x * 2.0)], r"layer 'lambda\w*' \(Lambda\): a Lambda layer's function is "
                                            r"Python bytecode, which flexnet does not run"),
    (lambda: [L.Dense(2, kernel_initializer=keras.initializers.GlorotUniform(input_axes=[0]))],
     r"initializer GlorotUniform with input_axes=\[0\]"),
    (lambda: [L.Dense(2, dtype="mixed_float16")],
     r"\(Dense\): dtype 'mixed_float16': flexnet models compute in float32 or float64"),
], ids=["activation", "dropout-seed", "renorm", "rms", "layer", "lambda", "initializer-axes", "mixed"])
@pytest.mark.filterwarnings("ignore:You passed `rms_scaling=True`, which is deprecated")
def test_keras_configs_flexnet_cannot_honour_are_named(tmp_path, layers, match):
    path = _keras_file(tmp_path, *layers())
    with pytest.raises(ValueError, match=match):
        fx.models.load_model(path)


def test_a_keras_compile_config_flexnet_cannot_honour_is_named(tmp_path):
    model = keras.Sequential([keras.Input((4,)), L.Dense(2)])
    model.compile(optimizer=keras.optimizers.Adam(use_ema=True), loss="mse")
    model.save(tmp_path / "model.keras")
    with pytest.raises(ValueError, match=r"compile_config, optimizer \(Adam\): use_ema=True"):
        fx.models.load_model(tmp_path / "model.keras")
    assert fx.models.load_model(tmp_path / "model.keras", compile=False).layers[0].units == 2


def _rewrite_config(path, change) -> None:
    with zipfile.ZipFile(path) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    config = json.loads(members["config.json"])
    change(config)
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


@pytest.mark.parametrize("change, match", [
    (lambda c: c.update(class_name="MyModel"), r"the model is a 'MyModel'; flexnet reads Keras's Sequential"),
    (lambda c: c["config"]["layers"][1]["config"].update(units=3), r"layer 'dense' has 2 weights|shape"),
    (lambda c: c["config"]["layers"][1]["config"].update(name="other"),
     r"holds layer 'dense\w*' at 'layers/dense/vars', where the config puts layer 'other'"),
    (lambda c: c["config"]["layers"][0]["config"].update(batch_shape=[8, 4]), r"batch_shape must be \[null"),
], ids=["subclassed", "shapes", "names", "batch-size"])
def test_files_that_do_not_match_their_config_are_refused(tmp_path, change, match):
    path = _keras_file(tmp_path, L.Dense(2))
    _rewrite_config(path, change)
    with pytest.raises(ValueError, match=match):
        fx.models.load_model(path)


@pytest.mark.parametrize("content, match", [
    (b"", "not a readable Keras file"),
    (b"PK\x03\x04garbage", "not a readable Keras file"),
])
def test_a_file_that_is_not_a_keras_file_is_refused(tmp_path, content, match):
    path = tmp_path / "model.keras"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=match):
        fx.models.load_model(path)


def test_a_zip_without_weights_is_refused(tmp_path):
    path = tmp_path / "model.keras"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("config.json", "{}")
    with pytest.raises(ValueError, match=r"not a Keras file: it has no model.weights.h5"):
        fx.models.load_model(path)


Doubler = doubler_layer()


@pytest.mark.parametrize("build, match", [
    (lambda: fx.Sequential([Dense(2, input_dim=3, activation="step")]),
     r"layer 'dense' \(Dense\): activation 'step' cannot be written to a Keras file"),
    (lambda: fx.Sequential([Dense(2, input_dim=3, activation=fx.activations.LeakyReLU(0.1))]),
     r"activation \{'class_name': 'LeakyReLU'.* cannot be written"),
    (lambda: fx.Sequential([Dense(2, input_dim=3), Doubler(name="twice")]),
     r"layer 'twice' \(Doubler\): flexnet layer class 'Doubler' has no Keras equivalent"),
    (lambda: fx.Sequential([Dense(2, input_dim=3, kernel_initializer="identity", bias_constraint="non_neg",
                                  kernel_regularizer=fx.regularizers.get("l1"))]), None),
])
def test_what_keras_cannot_hold_is_named_and_no_file_is_written(tmp_path, build, match):
    model = build()
    if match is None:  # the control: these components exist in Keras
        model.save(tmp_path / "ok.keras")
        loaded = keras.models.load_model(tmp_path / "ok.keras")
        assert loaded.layers[0].kernel_regularizer.l1 == pytest.approx(0.01)
        return
    with pytest.raises(ValueError, match=match):
        model.save(tmp_path / "m.keras")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("compile_kwargs, match", [
    ({"optimizer": "nadam", "loss": "mse"}, r"optimizer 'Nadam' cannot be written to a Keras file"),
    ({"optimizer": "sgd", "loss": "sse"}, r"loss 'SumSquaredError' cannot be written"),
    ({"optimizer": fx.optimizers.SGD(fx.schedules.ExponentialDecay(0.1, 10, 0.5)), "loss": "mse"},
     r"a learning-rate schedule cannot be written"),
])
def test_compile_settings_keras_cannot_hold_are_named(tmp_path, compile_kwargs, match):
    model = fx.Sequential([Dense(2, input_dim=3)])
    model.compile(**compile_kwargs)
    with pytest.raises(ValueError, match=match):
        model.save(tmp_path / "m.keras")
    assert not list(tmp_path.iterdir())


def test_without_h5py_the_error_names_the_extra(monkeypatch, tmp_path):
    import sys

    monkeypatch.setitem(sys.modules, "h5py", None)  # as if it were not installed
    with pytest.raises(ImportError, match=r"Keras files need the h5py package .*flexnet\[keras\]"):
        fx.Sequential([Dense(1, input_dim=2)]).save(tmp_path / "m.keras")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("change", [
    lambda c: c["config"]["layers"][1].pop("config"),
    lambda c: c["config"].update(layers=[3, 4]),
    lambda c: c["config"]["layers"][1]["config"].update(units="two"),
], ids=["no-config", "not-layers", "units"])
def test_a_malformed_config_is_a_value_error(tmp_path, change):
    path = _keras_file(tmp_path, L.Dense(2))
    _rewrite_config(path, change)
    with pytest.raises(ValueError, match=str(path.name)):
        fx.models.load_model(path)
