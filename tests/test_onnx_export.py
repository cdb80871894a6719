"""ONNX export: onnxruntime runs the exported graph and gives ``predict``'s outputs.

Every layer and activation that exports is checked against ``predict`` to 1e-5 in float32
(and the examples' models too); the graph passes ``onnx.checker.check_model(full_check=True)``;
what has no ONNX form is a clear error naming it, and no file is written then.
"""

from __future__ import annotations

import importlib
import pathlib
import sys

import numpy as np
import pytest
from helpers import doubler_layer, randomize_weights

import flexnet as fx
from flexnet import activations as acts
from flexnet.layers import Dense

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def _run(proto, feeds: dict) -> list:
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def assert_runs_like_predict(model, xs, atol: float = 1e-5, **kwargs):
    """Export ``model``, run it in onnxruntime, compare with ``predict``; returns the graph."""
    xs = xs if isinstance(xs, list) else [xs]
    proto = fx.export.to_onnx(model, **kwargs)
    onnx.checker.check_model(proto, full_check=True)
    dtype = np.dtype(kwargs.get("dtype") or model.dtype)
    outs = _run(proto, {name: x.astype(dtype) for name, x in zip(model.input_names, xs)})
    expected = model.predict(xs if len(xs) > 1 else xs[0])
    expected = expected if isinstance(expected, list) else [expected]
    assert [i.name for i in proto.graph.input] == model.input_names
    if not set(model.input_names) & set(model.output_names):  # (a one-layer Sequential's are one name)
        assert [o.name for o in proto.graph.output] == model.output_names
    for out, want in zip(outs, expected):
        assert out.shape == want.shape
        np.testing.assert_allclose(out, want, rtol=atol, atol=atol)
    return proto


def _x(*shape, scale: float = 2.0, seed: int = 1):
    return np.random.default_rng(seed).normal(scale=scale, size=shape).astype(np.float32)


# ---------------------------------------------------------------------------
# Activations: every built-in, with its defaults and with other arguments.

ACTIVATIONS = sorted({cls.name for cls in acts.ACTIVATIONS.values()
                      if cls.__module__.startswith("flexnet.activations")})
CONFIGURED = [acts.LeakyReLU(0.05), acts.ELU(0.4), acts.SmoothReLU(0.1), acts.GELU(approximate=True),
              acts.Softmax(axis=1), acts.LogSoftmax(axis=-1), acts.CELU(0.7),
              acts.ReLU(negative_slope=0.1, max_value=2.0, threshold=0.3), acts.ReLU(threshold=-0.5)]


def test_the_activation_table_is_covered():
    from flexnet.io.onnx_export import ACTIVATIONS as EXPORTED

    assert {cls.name for cls in EXPORTED} | {"linear"} == set(ACTIVATIONS)


@pytest.mark.parametrize("activation", ACTIVATIONS + CONFIGURED, ids=str)
def test_every_activation_exports(activation):
    model = fx.Sequential([Dense(6, input_dim=4, activation=activation)])
    randomize_weights(model)
    x = _x(50, 4, scale=4.0)  # tails included: softplus, sigmoid and GELU stay accurate there
    assert_runs_like_predict(model, x)


@pytest.mark.parametrize("approximate", [False, True])
def test_gelu_is_onnx_gelu_from_opset_20(approximate):
    model = fx.Sequential([Dense(6, input_dim=4, activation=acts.GELU(approximate=approximate))])
    randomize_weights(model)
    proto = assert_runs_like_predict(model, _x(40, 4), opset=20)
    assert "Gelu" in [n.op_type for n in proto.graph.node]
    proto = assert_runs_like_predict(model, _x(40, 4), opset=17)
    assert "Gelu" not in [n.op_type for n in proto.graph.node]


def test_a_user_activation_is_refused_by_name():
    acts.register("cube", lambda Z: Z * Z * Z, lambda Z: 3.0 * Z * Z)
    try:
        model = fx.Sequential([Dense(2, input_dim=3, activation="cube")])
        with pytest.raises(ValueError, match=r"layer 'dense': activation .*cube.* has no ONNX form"):
            fx.export.to_onnx(model)
    finally:
        acts.unregister("cube")


# ---------------------------------------------------------------------------
# Layers.


def _sequential(*layers, input_shape):
    model = fx.Sequential(list(layers))
    model.build((None, *input_shape))
    return model


LAYER_MODELS = {
    "dense_without_bias": lambda: _sequential(Dense(5, use_bias=False, activation="tanh"), Dense(2),
                                              input_shape=(4,)),
    "activation_and_dropout": lambda: _sequential(Dense(5), fx.layers.Activation("relu"),
                                                  fx.layers.Dropout(0.5), fx.layers.Activation("linear"),
                                                  input_shape=(4,)),
    "flatten": lambda: _sequential(fx.layers.Flatten(), Dense(3, activation="sigmoid"), input_shape=(3, 4)),
    "batch_norm_folded": lambda: _sequential(Dense(5), fx.layers.BatchNormalization(),
                                             fx.layers.Activation("relu"), Dense(2), input_shape=(4,)),
    "batch_norm_folded_no_bias_no_scale": lambda: _sequential(
        Dense(5, use_bias=False), fx.layers.BatchNormalization(scale=False, center=False), input_shape=(4,)),
    "batch_norm_op": lambda: _sequential(fx.layers.BatchNormalization(epsilon=0.1),
                                         Dense(5, activation="relu"), fx.layers.BatchNormalization(),
                                         input_shape=(4,)),
    "batch_norm_3d_last_axis": lambda: _sequential(fx.layers.BatchNormalization(axis=-1), fx.layers.Flatten(),
                                                   input_shape=(3, 4)),
    "batch_norm_3d_axis_1": lambda: _sequential(fx.layers.BatchNormalization(axis=1), fx.layers.Flatten(),
                                                input_shape=(3, 4)),
    "layer_norm": lambda: _sequential(Dense(5), fx.layers.LayerNormalization(epsilon=1e-5), input_shape=(4,)),
    "layer_norm_3d_two_axes": lambda: _sequential(fx.layers.LayerNormalization(axis=[1, 2], center=False),
                                                  fx.layers.Flatten(), input_shape=(3, 4)),
    "layer_norm_3d_last_axis": lambda: _sequential(fx.layers.LayerNormalization(scale=False),
                                                   fx.layers.Flatten(), input_shape=(3, 4)),
    "prelu": lambda: _sequential(fx.layers.PReLU(shared_axes=[1]), fx.layers.Flatten(), input_shape=(3, 4)),
}


@pytest.mark.parametrize("name", sorted(LAYER_MODELS))
def test_every_layer_exports(name):
    model = LAYER_MODELS[name]()
    randomize_weights(model)
    proto = assert_runs_like_predict(model, _x(20, *model.input_shape[1:]))
    ops = [n.op_type for n in proto.graph.node]
    assert "Dropout" not in ops
    if name.startswith("batch_norm_folded"):
        assert "BatchNormalization" not in ops and "Mul" not in ops
    if name == "batch_norm_op":
        assert ops.count("BatchNormalization") == 2  # the first reads the input, the second a ReLU


def _merged(merge, k: int = 2):
    inputs = [fx.layers.Input((4,), name=f"in_{i}") for i in range(k)]
    branches = [Dense(4, activation="tanh")(t) for t in inputs]
    model = fx.models.Model(inputs=inputs, outputs=Dense(2)(merge(branches)))
    return model, [_x(10, 4, seed=i) for i in range(k)]


@pytest.mark.parametrize("merge, k", [
    (fx.layers.add, 3), (fx.layers.subtract, 2), (fx.layers.multiply, 3), (fx.layers.average, 3),
    (fx.layers.maximum, 3), (fx.layers.minimum, 2), (fx.layers.concatenate, 3),
    (lambda ts: fx.layers.Concatenate(axis=1)(ts), 2),
], ids=lambda v: getattr(v, "__name__", str(v)))
def test_merge_layers_export(merge, k):
    model, xs = _merged(merge, k)
    randomize_weights(model)
    assert_runs_like_predict(model, xs)


def test_several_inputs_and_outputs_a_shared_layer_and_a_nested_model():
    a, b = fx.layers.Input((4,), name="a"), fx.layers.Input((4,), name="b")
    shared = Dense(3, activation="relu", name="shared")
    inner = fx.Sequential([Dense(3, activation="elu"), fx.layers.BatchNormalization()], name="inner")
    inner.build((None, 3))
    ha, hb = shared(a), shared(b)
    out1 = Dense(1, name="score")(fx.layers.concatenate([ha, inner(hb)]))
    out2 = Dense(2, activation="softmax", name="label")(ha)
    model = fx.models.Model(inputs=[a, b], outputs=[out1, out2, ha])
    randomize_weights(model)
    proto = assert_runs_like_predict(model, [_x(9, 4), _x(9, 4, seed=2)])
    assert [i.name for i in proto.graph.input] == ["a", "b"]
    kernels = [i.name for i in proto.graph.initializer if i.name.startswith("shared/")]
    assert kernels == ["shared/kernel", "shared/bias"]  # one copy of a shared layer's weights


def test_the_batch_axis_is_free():
    model = fx.Sequential([Dense(3, input_dim=2)])
    proto = fx.export.to_onnx(model)
    (dim_batch, dim_features) = proto.graph.input[0].type.tensor_type.shape.dim
    assert dim_batch.dim_param == "batch" and dim_features.dim_value == 2
    for n in (1, 7):
        assert _run(proto, {"dense": _x(n, 2)})[0].shape == (n, 3)


# ---------------------------------------------------------------------------
# Backends, dtypes, files.


def test_models_of_every_backend_export(case):
    fx.utils.set_random_seed(0)
    model = case.model([Dense(8, input_dim=5, activation="relu"), fx.layers.BatchNormalization(),
                        Dense(8), fx.layers.LayerNormalization(), Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    x = _x(32, 5)
    model.fit(x, np.eye(3)[np.arange(32) % 3], epochs=2, verbose=0)
    proto = fx.export.to_onnx(model, dtype="float32")
    (P,) = _run(proto, {model.input_names[0]: x})
    np.testing.assert_allclose(P, case.to_numpy(model.predict(case.asarray(x))), atol=1e-5)


def test_a_float64_model_exports_in_float64():
    model = fx.Sequential([Dense(6, input_dim=4, activation="tanh"), Dense(3, activation="softmax")],
                          dtype="float64")
    randomize_weights(model)
    proto = assert_runs_like_predict(model, _x(10, 4).astype(np.float64), atol=1e-12)
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE


def test_model_export_writes_the_file(tmp_path):
    model = fx.Sequential([Dense(3, input_dim=2, activation="relu"), Dense(1)])
    path = tmp_path / "model.onnx"
    model.export(path, format="onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = _x(5, 2)
    np.testing.assert_allclose(session.run(None, {"dense": x})[0], model.predict(x), atol=1e-6)
    written = onnx.load(str(path)).graph.SerializeToString()
    assert written == fx.export.to_onnx(model).graph.SerializeToString()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]  # no temporary file left


@pytest.mark.parametrize("call, error, match", [
    (lambda m, p: m.export(p, format="tf_saved_model"), ValueError, r"format must be one of \['onnx'\]"),
    (lambda m, p: fx.export.to_onnx(m, p, opset=12), ValueError, "opset must be an int from 13"),
    (lambda m, p: fx.export.to_onnx(m, p, dtype="float16"), ValueError, "dtype must be"),
    (lambda m, p: fx.export.to_onnx("model", p), TypeError, "exports a flexnet model"),
])
def test_bad_arguments_are_refused(tmp_path, call, error, match):
    model = fx.Sequential([Dense(3, input_dim=2)])
    with pytest.raises(error, match=match):
        call(model, tmp_path / "m.onnx")
    assert not list(tmp_path.iterdir())


Doubler = doubler_layer()


@pytest.mark.parametrize("build, match", [
    (lambda: fx.Sequential([Dense(3, input_dim=2), Doubler(name="twice")]),
     r"layer 'twice' of class Doubler has no ONNX form; the layers that export are \['Activation'"),
    (lambda: _sequential(fx.layers.LayerNormalization(axis=1), input_shape=(3, 4)),
     r"layer 'layer_normalization': ONNX's LayerNormalization normalizes over the last axes"),
    (lambda: fx.Sequential([Dense(3)]), "ONNX export needs a built model"),
])
def test_what_cannot_be_exported_is_named_and_no_file_is_written(tmp_path, build, match):
    with pytest.raises(ValueError, match=match):
        build().export(tmp_path / "m.onnx")
    assert not list(tmp_path.iterdir())


def test_layer_normalization_needs_opset_17():
    model = fx.Sequential([fx.layers.LayerNormalization(input_shape=(3,))])
    with pytest.raises(ValueError, match="LayerNormalization needs opset 17 or later, got opset=16"):
        fx.export.to_onnx(model, opset=16)
    assert_runs_like_predict(fx.Sequential([Dense(2, input_dim=3)]), _x(4, 3), opset=13)


# ---------------------------------------------------------------------------
# The examples' models.


def _example(name: str):
    pytest.importorskip("matplotlib")
    sys.path.insert(0, str(EXAMPLES))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(EXAMPLES))


EXAMPLE_MODELS = {
    "quickstart": lambda m: m.build_model(),
    "multiclass_digits": lambda m: m.build_model(),
    "optimizers_compared": lambda m: m.build_model(),
    "regularization batch norm": lambda m: m.build_model("batch norm"),
    "regularization dropout": lambda m: m.build_model("dropout"),
    "wide_and_deep": lambda m: m.build_wide_and_deep(8),
    "deep_network": lambda m: m.build_model(m.LAYER_DIMS, "he_normal"),
    "custom_optimizer": lambda m: m.build_model("sgd"),
    "switch_devices": lambda m: m.build_model("numpy", None),
}


@pytest.mark.parametrize("name", sorted(EXAMPLE_MODELS))
def test_the_examples_models_export(name):
    model = EXAMPLE_MODELS[name](_example(name.split()[0]))
    model = model[0] if isinstance(model, tuple) else model
    randomize_weights(model)
    shape = model.input_shape if isinstance(model.input_shape, tuple) else model.input_shape[0]
    assert_runs_like_predict(model, _x(16, *shape[1:], scale=1.0))


def test_without_the_onnx_package_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # as if it were not installed
    with pytest.raises(ImportError, match=r"ONNX export needs the onnx package .*flexnet\[onnx\]"):
        fx.export.to_onnx(fx.Sequential([Dense(1, input_dim=2)]))
