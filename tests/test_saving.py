"""Saving and loading: configs of layers and models, whole-model files on every backend,
exact resumption of training, atomic writes, and refusal of bad or unsafe files."""

from __future__ import annotations

import io
import json
import os
import pickle
import zipfile

import numpy as np
import pytest

import flexnet as fx
from flexnet import saving
from flexnet.layers import (
    Activation,
    Add,
    Average,
    BatchNormalization,
    Concatenate,
    Dense,
    Dropout,
    Flatten,
    Input,
    InputLayer,
    LayerNormalization,
    Maximum,
    Minimum,
    Multiply,
    PReLU,
    Subtract,
)

L = fx.layers


# -- user classes, registered by name --------------------------------------------------------


@fx.saving.register_serializable
class Scale(fx.layers.Layer):
    """A learned per-feature scale: ``Y = X ⊙ s``."""

    def __init__(self, init: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.init = init

    def build(self, input_shape):
        self.add_weight("scale", (input_shape[-1],), fx.initializers.Constant(self.init))

    def forward(self, X, training=False):
        self.X = X
        return X * self.params["scale"]

    def backward(self, dY):
        self.grads["scale"] = self.xp.sum(dY * self.X, axis=0)
        return dY * self.params["scale"]

    def get_config(self):
        return {**super().get_config(), "init": self.init}


@fx.saving.register_keras_serializable(package="tests")
class HalfMSE(fx.losses.MeanSquaredError):
    """MSE at half weight (a user loss registered by name)."""

    def value(self, xp, y, P, sample_weight=None):
        return super().value(xp, y, P, sample_weight) * 0.5

    def gradient(self, xp, y, P, sample_weight=None):
        return super().gradient(xp, y, P, sample_weight) * 0.5


@fx.saving.register_serializable(name="PlainGD")
class PlainGD(fx.optimizers.Optimizer):
    """θ ← θ - α g, written as a user would."""

    def init(self, param):
        return None

    def update(self, grad, state, param):
        return -self.learning_rate * grad, state


@fx.saving.register_serializable
class Halving(fx.schedules.LearningRateSchedule):
    """α0 / 2^(t // every)."""

    def __init__(self, initial_learning_rate, every):
        self.initial_learning_rate, self.every = initial_learning_rate, every

    def __call__(self, step):
        return self.initial_learning_rate / 2 ** (step // self.every)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "every": self.every}


class ScaledTanh(fx.activations.ActivationFunction):
    """``a · tanh(Z)``, never registered: loads through ``custom_objects``."""

    name = "scaled_tanh"

    def __init__(self, a: float = 1.0):
        self.a = a

    def forward(self, xp, Z):
        return self.a * xp.tanh(Z)

    def backward(self, xp, Z, Y, dY):
        T = xp.tanh(Z)
        return dY * self.a * (1.0 - T * T)

    def get_config(self):
        return {"a": self.a}


class Unregistered(Scale):
    """A user layer nobody registered."""


_BUILT = []  # instances of Counted made so far


@fx.saving.register_serializable
class Counted(Activation):
    """An Activation layer that records being made (to show what was built)."""

    def __init__(self, activation="linear", **kwargs):
        _BUILT.append(self)
        super().__init__(activation, **kwargs)


@pytest.fixture
def cube():
    """A user activation registered as a function pair."""
    fx.activations.register("cube", lambda Z: Z * Z * Z, lambda Z: 3.0 * Z * Z)
    yield "cube"
    fx.activations.unregister("cube")


# -- data and models -------------------------------------------------------------------------


def _data(n=24, d=6, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    return x, np.sin(x[:, :1]) + 0.1 * x[:, 1:2]


def _every_layer_sequential(case):
    return case.model([
        Flatten(input_shape=(2, 3), name="flat"),
        Dense(8, activation=fx.activations.LeakyReLU(0.1), kernel_regularizer=fx.regularizers.L2(0.01),
              bias_regularizer="l1", activity_regularizer="l2",
              kernel_constraint=fx.constraints.MaxNorm(2.0), bias_constraint="non_neg",
              kernel_initializer=fx.initializers.HeNormal(seed=3)),
        BatchNormalization(momentum=0.8),
        PReLU(alpha_initializer=fx.initializers.Constant(0.2), alpha_constraint="non_neg"),
        Dropout(0.25),
        LayerNormalization(epsilon=1e-4),
        Activation(fx.activations.ELU(alpha=0.5)),
        Scale(0.5),
        Dense(4, activation="tanh", trainable=False, name="frozen"),
        Dense(1),
    ], name="every_layer")


def _functional(case, inputs, outputs, name):
    return fx.models.Model(inputs, outputs, name=name, backend=case.backend, device=case.device,
                           dtype=case.dtype)


def _wide_deep(case):
    input_ = Input(shape=(6,))
    hidden1 = Dense(8, activation="relu")(input_)
    hidden2 = Dense(8, activation="relu")(hidden1)
    concat = L.concatenate([input_, hidden2])
    return _functional(case, [input_], [Dense(1)(concat)], "wide_deep")


def _multi_io(case):
    wide, deep = Input(shape=(3,), name="wide_input"), Input(shape=(3,), name="deep_input")
    hidden = Dense(8, activation="selu")(deep)
    hidden = Dense(8, activation="gelu")(hidden)
    main = Dense(1, name="main_output")(L.concatenate([wide, hidden]))
    aux = Dense(1, name="aux_output")(hidden)
    return _functional(case, [wide, deep], [main, aux], "multi_io")


def _shared_and_merges(case):
    a, b = Input(shape=(3,), name="a"), Input(shape=(3,), name="b")
    shared = Dense(3, activation="tanh", name="shared")
    ha, hb = shared(a), shared(b)
    shared_again = shared(L.add([ha, hb], name="sum"))  # a third call, on a tensor made from the first two
    merged = [Add()([ha, hb]), Subtract()([ha, hb]), Multiply()([ha, hb]), Average()([ha, hb, shared_again]),
              Maximum()([ha, hb]), Minimum()([ha, hb])]
    out = Dense(1)(Concatenate(axis=-1)(merged))
    return _functional(case, [a, b], [out], "shared")


def _nested(case):
    inner_seq = fx.Sequential([Dense(5, activation="relu", input_dim=4), BatchNormalization()],
                              name="inner_seq", backend=case.backend, device=case.device, dtype=case.dtype)
    x_in = Input(shape=(5,), name="x_in")
    inner_fn = _functional(case, [x_in], [Dense(3, activation="sigmoid")(x_in)], "inner_fn")
    input_ = Input(shape=(4,))
    out = Dense(1)(L.concatenate([inner_fn(inner_seq(input_)), Scale(2.0)(input_)]))
    outer = _functional(case, [input_], [out], "outer")
    return case.model([outer, Dense(2, activation="softmax")], name="seq_of_functional")


def _inputs(model, x):
    shapes = model.input_shapes
    if len(shapes) > 1:
        return [x[:, 3 * k: 3 * k + 3] for k in range(len(shapes))]
    size = int(np.prod(shapes[0][1:]))
    return x[:, :size].reshape(-1, *shapes[0][1:])


def _compile(model):
    if len(model.output_names) > 1:
        model.compile(optimizer=fx.optimizers.Adam(0.01),
                      loss={"main_output": "mse", "aux_output": HalfMSE()},
                      loss_weights={"main_output": 0.9, "aux_output": 0.1},
                      metrics={"main_output": ["mae", fx.metrics.RootMeanSquaredError(name="rmse")]})
    elif model.output_shapes[0][-1] == 2:
        model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    else:
        model.compile(optimizer=fx.optimizers.SGD(0.01, momentum=0.9), loss="huber", metrics=["mse"])


def _targets(model, y):
    if len(model.output_names) > 1:
        return [y, -y]
    if model.output_shapes[0][-1] == 2:
        return (y[:, 0] > 0).astype(int)
    return y


def _trained(model, epochs=1):
    x, y = _data()
    _compile(model)
    model.fit(_inputs(model, x), _targets(model, y), batch_size=8, epochs=epochs, verbose=0, shuffle=False)
    return model


BUILDERS = {"wide_deep": _wide_deep, "multi_io": _multi_io, "shared_and_merges": _shared_and_merges,
            "nested": _nested, "every_layer": _every_layer_sequential}


def _same_predictions(a, b, x, case=None):
    pa, pb = a.predict(_inputs(a, x)), b.predict(_inputs(b, x))
    for u, v in zip(pa if isinstance(pa, list) else [pa], pb if isinstance(pb, list) else [pb]):
        if case is None:
            np.testing.assert_array_equal(u, v)
        else:
            case.assert_close(u, v)


# -- layer configs -----------------------------------------------------------------------------

LAYERS = [
    Dense(3, activation=fx.activations.LeakyReLU(0.1), use_bias=False, kernel_regularizer="l1_l2",
          activity_regularizer=fx.regularizers.L1(0.2), kernel_constraint=fx.constraints.UnitNorm(axis=0),
          kernel_initializer=fx.initializers.RandomNormal(0.5, 0.1, seed=1), input_dim=4, name="d",
          trainable=False),
    Dense(2),
    Activation("softmax", name="act", trainable=False),
    Activation(fx.activations.Softmax(axis=1)),
    Dropout(0.3, name="drop", input_shape=(5,)),
    Flatten(name="flat", input_shape=(2, 3), activity_regularizer="l2"),
    PReLU(alpha_regularizer="l2", shared_axes=[1], input_shape=(3, 4)),
    BatchNormalization(axis=1, momentum=0.9, center=False, moving_variance_initializer="random_uniform"),
    LayerNormalization(axis=[1, -1], scale=False, trainable=False),
    InputLayer(shape=(3, 2), name="inp"),
    Add(name="plus"), Subtract(), Multiply(), Average(), Maximum(), Minimum(),
    Concatenate(axis=1, name="cat"),
    Scale(0.3, name="scale"),
    fx.layers.ReLU(max_value=6.0, negative_slope=0.1, threshold=0.5), fx.layers.LeakyReLU(0.2),
    fx.layers.Softmax(axis=1), fx.layers.Reshape((-1, 2)), fx.layers.GaussianNoise(0.1, seed=1),
    fx.layers.Normalization(axis=None), fx.layers.Normalization(axis=(1, 2), mean=[1.0], variance=[2.0]),
]


@pytest.mark.parametrize("layer", LAYERS, ids=lambda layer: type(layer).__name__)
def test_layer_config_round_trips_through_json(layer):
    config = json.loads(json.dumps(layer.get_config()))
    rebuilt = type(layer).from_config(config)
    assert type(rebuilt) is type(layer) and rebuilt is not layer
    assert rebuilt.get_config() == layer.get_config()
    again = saving.deserialize_layer(json.loads(json.dumps(saving.serialize_layer(layer))))
    assert type(again) is type(layer) and again.get_config() == layer.get_config()


def test_layer_config_keeps_what_changes_the_computation():
    config = json.loads(json.dumps(LAYERS[0].get_config()))
    rebuilt = Dense.from_config(config)
    assert rebuilt.activation.negative_slope == 0.1
    assert rebuilt.trainable is False and rebuilt.use_bias is False
    assert rebuilt.kernel_regularizer.get_config() == {"l1": 0.01, "l2": 0.01}
    assert rebuilt.activity_regularizer.get_config() == {"l1": 0.2}
    assert type(rebuilt.kernel_constraint) is fx.constraints.UnitNorm and rebuilt.input_shape == (4,)
    assert Dropout.from_config(json.loads(json.dumps(Dropout(0.3).get_config()))).rate == 0.3


# -- model configs -----------------------------------------------------------------------------


@pytest.mark.parametrize("builder", list(BUILDERS), ids=str)
def test_model_config_round_trips_and_rebuilds_the_same_graph(builder):
    case = _numpy32()
    model = BUILDERS[builder](case)
    config = json.loads(json.dumps(model.get_config()))
    rebuilt = type(model).from_config(config)
    assert rebuilt.get_config() == model.get_config()
    assert [w.shape for w in rebuilt.get_weights()] == [w.shape for w in model.get_weights()]
    rebuilt.set_weights(model.get_weights())
    _same_predictions(model, rebuilt, _data()[0])


def _numpy32():
    from conftest import Case

    return Case("numpy", None, "float32")


def test_functional_config_is_keras_shaped():
    config = _shared_and_merges(_numpy32()).get_config()
    by_name = {entry["name"]: entry for entry in config["layers"]}
    assert config["input_layers"] == [["a", 0, 0], ["b", 0, 0]]
    assert by_name["a"]["inbound_nodes"] == [] and by_name["a"]["class_name"] == "InputLayer"
    assert by_name["shared"]["inbound_nodes"] == [[["a", 0, 0]], [["b", 0, 0]], [["sum", 0, 0]]]
    assert by_name["sum"]["inbound_nodes"] == [[["shared", 0, 0], ["shared", 1, 0]]]
    assert by_name["average"]["inbound_nodes"] == [[["shared", 0, 0], ["shared", 1, 0], ["shared", 2, 0]]]
    assert config["output_layers"] == [["dense", 0, 0]]


def test_nested_model_config_holds_the_inner_models_whole():
    model = _nested(_numpy32())
    outer = model.get_config()["layers"][0]
    assert outer["class_name"] == "Functional"
    inner = {e["name"]: e for e in outer["config"]["layers"]}
    assert inner["inner_seq"]["class_name"] == "Sequential"
    assert inner["inner_seq"]["config"]["build_input_shape"] == [None, 4]
    assert inner["inner_fn"]["class_name"] == "Functional"
    assert inner["inner_fn"]["inbound_nodes"] == [[["inner_seq", 0, 0]]]


def test_model_from_config_builds_a_functional_model():
    config = _wide_deep(_numpy32()).get_config()
    model = fx.models.Model.from_config(config)
    assert isinstance(model, fx.models.Functional) and model.built


def test_an_unbuilt_sequential_config_rebuilds_unbuilt():
    model = fx.Sequential([Dense(4), Dense(1)])
    rebuilt = fx.Sequential.from_config(json.loads(json.dumps(model.get_config())))
    assert not rebuilt.built and [layer.name for layer in rebuilt.layers] == ["dense", "dense_1"]


# -- whole models, every backend -------------------------------------------------------------


@pytest.mark.parametrize("builder", list(BUILDERS), ids=str)
def test_save_and_load_give_identical_predictions(case, builder, tmp_path):
    model = _trained(BUILDERS[builder](case))
    path = tmp_path / "model.flexnet"
    model.save(path)
    loaded = fx.models.load_model(path, backend=case.backend, device=case.device)
    assert type(loaded) is type(model) and loaded.name == model.name and loaded.dtype == case.dtype
    assert loaded.get_config() == model.get_config()
    assert loaded.compiled and type(loaded.optimizer) is type(model.optimizer)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert loaded.optimizer.iterations == model.optimizer.iterations == 3
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    _same_predictions(model, loaded, _data(seed=1)[0])
    x, y = _data()
    np.testing.assert_allclose(loaded.evaluate(_inputs(loaded, x), _targets(loaded, y)),
                               model.evaluate(_inputs(model, x), _targets(model, y)), rtol=case.rtol)


def test_compile_settings_come_back(tmp_path):
    model = _trained(_multi_io(_numpy32()))
    model.save(tmp_path / "m")
    loaded = fx.models.load_model(tmp_path / "m")
    assert isinstance(loaded.loss["aux_output"], HalfMSE)
    assert loaded.loss_weights == {"main_output": 0.9, "aux_output": 0.1}
    x, y = _data()
    logs = loaded.evaluate(_inputs(loaded, x), _targets(loaded, y), return_dict=True)
    assert list(logs) == list(model.evaluate(_inputs(model, x), _targets(model, y), return_dict=True))
    assert "main_output_rmse" in logs


def test_saved_on_one_backend_loads_on_numpy_and_back(case, tmp_path):
    x, _ = _data(seed=2)
    model = _trained(_every_layer_sequential(case))
    model.save(tmp_path / "from_case")
    on_numpy = fx.models.load_model(tmp_path / "from_case")  # the default backend: NumPy
    assert on_numpy.backend.name == "numpy" and on_numpy.dtype == case.dtype
    _same_predictions(model, on_numpy, x, case)

    on_numpy.save(tmp_path / "from_numpy")
    back = fx.models.load_model(tmp_path / "from_numpy", backend=case.backend, device=case.device)
    assert back.backend == case.resolve()
    _same_predictions(model, back, x, case)
    for a, b in zip(back.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(("source", "target"), [("torch", "array_api_strict"), ("array_api_strict", "torch")])
def test_saved_on_torch_loads_on_array_api_strict_and_back(source, target, tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("array_api_strict")
    from conftest import Case

    case = Case(source, None, "float64")
    model = _trained(_multi_io(case))
    model.save(tmp_path / "m")
    loaded = fx.models.load_model(tmp_path / "m", backend=target)
    assert loaded.backend.name == target
    _same_predictions(model, loaded, _data()[0], case)
    assert loaded.optimizer.iterations == 3


def test_the_default_backend_is_the_current_one_not_the_saving_one(tmp_path):
    pytest.importorskip("torch")
    from conftest import Case

    _trained(_wide_deep(Case("torch", None, "float32"))).save(tmp_path / "m")
    assert fx.models.load_model(tmp_path / "m").backend.name == "numpy"
    fx.set_backend("torch")
    assert fx.saving.load_model(tmp_path / "m").backend.name == "torch"


def test_load_in_another_dtype(tmp_path):
    from conftest import Case

    model = _trained(_wide_deep(Case("numpy", None, "float64")))
    model.save(tmp_path / "m")
    loaded = fx.models.load_model(tmp_path / "m", dtype="float32")
    assert loaded.dtype == "float32" and loaded.get_weights()[0].dtype == np.float32
    x, y = _data()
    loaded.fit(x, y, epochs=1, verbose=0)  # the optimizer state was cast too
    assert all(a.dtype == np.float32 for s in loaded.optimizer.get_state()["state"] for a in s.values())


# -- resuming training -------------------------------------------------------------------------

OPTIMIZERS = {
    "adam": lambda: fx.optimizers.Adam(0.01, amsgrad=True),
    "sgd_momentum_schedule": lambda: fx.optimizers.SGD(
        fx.schedules.ExponentialDecay(0.05, decay_steps=2, decay_rate=0.8), momentum=0.9, nesterov=True),
    "user_optimizer_and_schedule": lambda: PlainGD(Halving(0.05, every=3)),
}


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS), ids=str)
def test_resumed_training_equals_uninterrupted_training(case, optimizer, tmp_path):
    x, y = _data(n=20)

    def fresh():
        fx.utils.set_random_seed(7)
        model = case.model([Dense(6, activation="tanh", input_dim=6, kernel_regularizer="l2"),
                            BatchNormalization(), Scale(1.5), Dense(1)])
        model.compile(optimizer=OPTIMIZERS[optimizer](), loss="mse", metrics=["mae"])
        return model

    straight = fresh()
    straight.fit(x, y, batch_size=6, epochs=5, shuffle=False, verbose=0)

    first = fresh()
    first.fit(x, y, batch_size=6, epochs=2, shuffle=False, verbose=0)
    first.save(tmp_path / "ckpt")
    resumed = fx.models.load_model(tmp_path / "ckpt", backend=case.backend, device=case.device)
    assert resumed.optimizer.iterations == 8
    history = resumed.fit(x, y, batch_size=6, epochs=5, initial_epoch=2, shuffle=False, verbose=0)

    assert resumed.optimizer.iterations == straight.optimizer.iterations == 20
    for a, b in zip(resumed.get_weights(), straight.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert history.history["loss"] == straight.history.history["loss"][2:]


def test_without_the_optimizer_state_training_does_not_resume_exactly(tmp_path):
    """The check above can fail: a fresh Adam (step 0, zero moments) takes another path."""
    x, y = _data(n=20)
    model = fx.Sequential([Dense(4, input_dim=6, activation="tanh"), Dense(1)])
    model.compile(optimizer=fx.optimizers.Adam(0.01), loss="mse")
    model.fit(x, y, epochs=2, shuffle=False, verbose=0)
    model.save(tmp_path / "m")
    resumed, restarted = fx.models.load_model(tmp_path / "m"), fx.models.load_model(tmp_path / "m")
    restarted.compile(optimizer=fx.optimizers.Adam(0.01), loss="mse")
    resumed.fit(x, y, epochs=3, initial_epoch=2, shuffle=False, verbose=0)
    restarted.fit(x, y, epochs=3, initial_epoch=2, shuffle=False, verbose=0)
    assert not np.array_equal(resumed.get_weights()[0], restarted.get_weights()[0])


# -- compile or not ----------------------------------------------------------------------------


def test_an_uncompiled_model_loads_uncompiled(tmp_path):
    model = fx.Sequential([Dense(2, input_dim=3)])
    model.save(tmp_path / "m")
    loaded = fx.models.load_model(tmp_path / "m")
    assert not loaded.compiled
    np.testing.assert_array_equal(loaded.get_weights()[0], model.get_weights()[0])
    with pytest.raises(RuntimeError, match="compile"):
        loaded.fit(np.ones((2, 3)), np.ones((2, 2)), verbose=0)


def test_compile_false_skips_the_training_setup(tmp_path):
    _trained(_wide_deep(_numpy32())).save(tmp_path / "m")
    loaded = fx.models.load_model(tmp_path / "m", compile=False)
    assert not loaded.compiled and loaded.optimizer is None


def test_saving_an_unbuilt_model_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match=r"save\(\) needs a built model"):
        fx.Sequential([Dense(2)]).save(tmp_path / "m")
    assert not os.listdir(tmp_path)


def test_a_learning_rate_function_cannot_be_saved_and_nothing_is_written(tmp_path):
    model = fx.Sequential([Dense(2, input_dim=3)])
    model.compile(optimizer=fx.optimizers.SGD(lambda step: 0.1), loss="mse")
    with pytest.raises(TypeError, match=r"learning_rate.*function.*LearningRateSchedule"):
        model.save(tmp_path / "m")
    assert not os.listdir(tmp_path)


def test_a_layer_shared_with_a_nested_model_is_refused(tmp_path):
    shared = Dense(3, name="shared")
    inner = fx.Sequential([Dense(3, input_dim=3), shared], name="inner")
    input_ = Input(shape=(3,))
    model = fx.models.Model(input_, shared(inner(input_)))
    with pytest.raises(ValueError, match="layer 'shared' is used in model"):
        model.save(tmp_path / "m")


def test_load_weights_reads_a_whole_model_file_and_nested_models(tmp_path):
    model = _trained(_nested(_numpy32()))
    model.save(tmp_path / "whole")
    model.save_weights(tmp_path / "weights")
    for name in ("whole", "weights"):
        other = _nested(_numpy32())
        other.load_weights(tmp_path / name)
        for a, b in zip(other.get_weights(), model.get_weights()):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="holds only weights.*load_weights"):
        fx.models.load_model(tmp_path / "weights")


# -- user classes ------------------------------------------------------------------------------


def test_user_layer_activation_loss_optimizer_and_schedule_load_by_name(cube, tmp_path):
    model = fx.Sequential([Dense(4, activation=cube, input_dim=6), Scale(0.7),
                           Dense(1, activation=ScaledTanh(2.0))])
    model.compile(optimizer=PlainGD(Halving(0.1, 2)), loss=HalfMSE())
    x, y = _data()
    model.fit(x, y, epochs=2, verbose=0, shuffle=False)
    model.save(tmp_path / "m")

    with pytest.raises(ValueError, match="unknown activation 'ScaledTanh'"):
        fx.models.load_model(tmp_path / "m")
    loaded = fx.models.load_model(tmp_path / "m", custom_objects={"ScaledTanh": ScaledTanh})
    assert isinstance(loaded.layers[1], Scale) and loaded.layers[1].init == 0.7
    assert isinstance(loaded.layers[2].activation, ScaledTanh) and loaded.layers[2].activation.a == 2.0
    assert type(loaded.optimizer) is PlainGD and isinstance(loaded.optimizer._learning_rate, Halving)
    assert isinstance(loaded.loss, HalfMSE) and loaded.optimizer.iterations == 2
    _same_predictions(model, loaded, x)


def test_an_activation_class_registered_by_name_loads(tmp_path):
    fx.saving.register_serializable(ScaledTanh)
    try:
        model = fx.Sequential([Dense(2, input_dim=3, activation=ScaledTanh(3.0)),
                               Dense(1, activation="scaled_tanh")])
        model.save(tmp_path / "m")
        loaded = fx.models.load_model(tmp_path / "m")
        assert loaded.layers[0].activation.a == 3.0 and loaded.layers[1].activation.a == 1.0
    finally:
        fx.saving.unregister_serializable(ScaledTanh)
    assert "scaled_tanh" not in fx.activations.ACTIVATIONS


def test_an_unregistered_layer_needs_custom_objects(tmp_path):
    model = fx.Sequential([Dense(2, input_dim=3), Unregistered(0.5)])
    model.save(tmp_path / "m")
    with pytest.raises(ValueError, match=r"unknown layer class 'Unregistered'.*custom_objects"):
        fx.models.load_model(tmp_path / "m")
    loaded = fx.models.load_model(tmp_path / "m", custom_objects={"Unregistered": Unregistered})
    assert type(loaded.layers[1]) is Unregistered
    _same_predictions(model, loaded, np.ones((2, 3)))


def test_registration_rules():
    assert fx.saving.get_registered_name(PlainGD) == "PlainGD"
    assert fx.saving.get_registered_object("HalfMSE") is HalfMSE
    with pytest.raises(ValueError, match="built-in layer class"):
        fx.saving.register_serializable(type("Dense", (Scale,), {}))
    with pytest.raises(ValueError, match="already registered"):
        fx.saving.register_serializable(Unregistered, name="Scale")
    with pytest.raises(TypeError, match="subclass of Layer"):
        fx.saving.register_serializable(dict)
    with pytest.raises(ValueError, match="not registered"):
        fx.saving.unregister_serializable("Nope")
    with pytest.raises(TypeError, match="custom_objects must map"):
        fx.saving.deserialize_layer(saving.serialize_layer(Dense(1)), custom_objects={"Dense": "x"})


# -- configs of optimizers, losses, schedules ------------------------------------------------


@pytest.mark.parametrize(("kind", "obj"), [
    ("optimizer", fx.optimizers.Adam(0.02, beta_1=0.8, clipnorm=1.0)),
    ("optimizer", fx.optimizers.SGD(fx.schedules.PerEpoch(fx.schedules.CosineDecay(0.1, 10), 4),
                                    momentum=0.5)),
    ("optimizer", PlainGD(Halving(0.2, 5), weight_decay=0.01)),
    ("loss", fx.losses.Huber(delta=2.0)),
    ("loss", fx.losses.CategoricalCrossentropy(from_logits=True, reduction="sum")),
    ("loss", HalfMSE()),
    ("schedule", fx.schedules.PiecewiseConstantDecay([10, 20], [0.1, 0.01, 0.001])),
    ("schedule", fx.schedules.PerEpoch(Halving(0.1, 2), steps_per_epoch=3)),
    ("metric", fx.metrics.AUC(num_thresholds=20, name="auc20")),
], ids=lambda v: v if isinstance(v, str) else type(v).__name__)
def test_component_configs_round_trip_through_json(kind, obj):
    spec = json.loads(json.dumps(fx.registry.serialize(obj)))
    rebuilt = fx.registry.deserialize(kind, spec)
    assert type(rebuilt) is type(obj) and rebuilt is not obj
    assert rebuilt.get_config() == obj.get_config()
    if kind == "schedule":
        assert [rebuilt(t) for t in range(30)] == [obj(t) for t in range(30)]


# -- atomic writes -----------------------------------------------------------------------------


def test_a_crash_mid_save_leaves_the_previous_file_and_no_temporary_file(tmp_path, monkeypatch):
    x, _ = _data()
    model = _trained(_wide_deep(_numpy32()))
    path = tmp_path / "model.flexnet"
    model.save(path)
    before = path.read_bytes()
    expected = model.predict(x)
    _trained(model)  # the weights change

    def crash(file, **arrays):
        file.write(b"PK\x03\x04 half an archive")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        model.save(path)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["model.flexnet"]
    assert path.read_bytes() == before
    np.testing.assert_array_equal(fx.models.load_model(path).predict(x), expected)


# -- bad files ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def good_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("good") / "model.flexnet"
    model = fx.Sequential([Dense(4, input_dim=3, activation="relu"), BatchNormalization(), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.ones((4, 3)), np.ones((4, 1)), verbose=0)
    model.save(path)
    return path.read_bytes()


def _write(tmp_path, data: bytes, name="bad"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _archive(tmp_path, meta, **arrays):
    path = tmp_path / "crafted.npz"
    payload = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    with open(path, "wb") as f:
        np.savez(f, **{"flexnet.json": payload}, **arrays)
    return path


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9, 0.999])
def test_a_truncated_file_is_a_clear_error(good_file, tmp_path, fraction):
    path = _write(tmp_path, good_file[: int(len(good_file) * fraction)])
    with pytest.raises(ValueError, match="not a readable flexnet file.*truncated or corrupted"):
        fx.models.load_model(path)


def test_a_corrupted_array_is_a_clear_error(good_file, tmp_path):
    data = bytearray(good_file)
    at = good_file.index(b"weight_0000.npy") + 200  # inside the first weight's data
    data[at] ^= 0xFF
    with pytest.raises(ValueError, match="truncated or corrupted"):
        fx.models.load_model(_write(tmp_path, bytes(data)))


def test_any_flipped_byte_loads_or_gives_a_value_error(good_file, tmp_path):
    """Bytes the reader ignores (timestamps) may flip harmlessly; any other flip is a
    ValueError, never another exception from deep inside."""
    outcomes = set()
    for at in range(0, len(good_file), max(1, len(good_file) // 97)):
        data = bytearray(good_file)
        data[at] ^= 0x5A
        try:
            fx.models.load_model(_write(tmp_path, bytes(data)))
            outcomes.add("loaded")
        except ValueError:
            outcomes.add("refused")
    assert "refused" in outcomes


def test_an_empty_file_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="is empty, not a flexnet file"):
        fx.models.load_model(_write(tmp_path, b""))


def test_a_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"No such file or directory: '.*nothing'"):
        fx.models.load_model(tmp_path / "nothing")


def _npy_bytes():
    buffer = io.BytesIO()
    np.save(buffer, np.ones(3))
    return buffer.getvalue()


@pytest.mark.parametrize("content", [
    b"name,value\n1,2\n", b"\x89HDF\r\n\x1a\n" + b"\x00" * 64, pickle.dumps({"a": 1}), _npy_bytes(),
], ids=["csv", "hdf5", "pickle", "npy"])
def test_a_foreign_file_is_a_clear_error(tmp_path, content):
    with pytest.raises(ValueError, match="is not a flexnet file: flexnet files are zip"):
        fx.models.load_model(_write(tmp_path, content))


def test_a_plain_npz_or_zip_is_not_a_flexnet_file(tmp_path):
    np.savez(tmp_path / "plain.npz", a=np.ones(3))
    with pytest.raises(ValueError, match="not a flexnet file"):
        fx.models.load_model(tmp_path / "plain.npz")
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as z:
        z.writestr("readme.txt", "hello")
    with pytest.raises(ValueError, match="not a flexnet file"):
        fx.models.load_model(tmp_path / "other.zip")
    path = _archive(tmp_path, {"format": "keras", "version": 1})
    with pytest.raises(ValueError, match="not a flexnet file.*'keras'"):
        fx.models.load_model(path)


def test_a_newer_format_version_is_a_clear_error(tmp_path):
    path = _archive(tmp_path, {"format": "flexnet", "version": saving.FORMAT_VERSION + 1, "kind": "model"})
    with pytest.raises(ValueError, match="newer flexnet.*upgrade"):
        fx.models.load_model(path)


_RAN = []


def _mark(*args):
    _RAN.append(args)
    return args


class _Evil:
    def __reduce__(self):
        return (_mark, ("pickle ran",))


def test_a_pickled_object_array_is_refused_without_running_it(good_file, tmp_path):
    with np.load(_write(tmp_path, good_file, "good")) as archive:
        entries = {name: archive[name] for name in archive.files}
    entries["weight_0000"] = np.array([_Evil()], dtype=object)
    path = tmp_path / "evil.npz"
    with open(path, "wb") as f:
        np.savez(f, **entries)  # savez pickles object arrays
    for load in (fx.models.load_model, lambda p: fx.Sequential([Dense(4, input_dim=3)]).load_weights(p)):
        with pytest.raises(ValueError, match="not a readable flexnet file.*allow_pickle"):
            load(path)
    assert _RAN == []
    with np.load(path, allow_pickle=True) as archive:  # the file does carry code that runs
        archive["weight_0000"]
    assert _RAN == [("pickle ran",)]


# -- malformed configs -------------------------------------------------------------------------


def _model_file(tmp_path, edit):
    """A saved wide & deep model whose metadata ``edit`` changes in place."""
    model = _wide_deep(_numpy32())
    model.save(tmp_path / "m")
    with np.load(tmp_path / "m") as archive:
        entries = {name: archive[name] for name in archive.files}
    meta = json.loads(entries.pop("flexnet.json").tobytes())
    edit(meta)
    return _archive(tmp_path, meta, **entries)


def _layers(meta):
    return meta["model"]["config"]["layers"]


def _entry(meta, name):
    return next(entry for entry in _layers(meta) if entry["name"] == name)


def _set_inbound(name, nodes):
    def edit(meta):
        _entry(meta, name)["inbound_nodes"] = nodes
    return edit


MALFORMED = {
    "unknown class": (lambda m: _entry(m, "dense").update(class_name="Conv2D"),
                      "unknown layer class 'Conv2D'"),
    "unknown activation": (lambda m: _entry(m, "dense")["config"].update(activation="swishy"),
                           "unknown activation 'swishy'"),
    "unknown initializer": (lambda m: _entry(m, "dense")["config"].update(
        kernel_initializer={"class_name": "Glorious", "config": {}}), "unknown initializer 'Glorious'"),
    "missing config": (lambda m: _entry(m, "dense").pop("config"), r"has no \['config'\]"),
    "missing layers": (lambda m: m["model"]["config"].pop("layers"), r"has no \['layers'\]"),
    "missing model": (lambda m: m.pop("model"), r"has no \['model'\]"),
    "config not a dict": (lambda m: _entry(m, "dense").update(config=[1]), "must be a dict"),
    "missing layer": (_set_inbound("dense_1", [[["nowhere", 0, 0]]]), "refers to layer 'nowhere'"),
    "missing node": (_set_inbound("dense_1", [[["dense", 3, 0]]]), "node 3 of layer 'dense'"),
    "bad reference": (_set_inbound("dense_1", [[["dense", "0", 0]]]),
                      r"\[layer_name, node_index, tensor_index\]"),
    "cycle": (_set_inbound("dense", [[["dense_1", 0, 0]]]), "cycle"),
    "never called": (_set_inbound("dense_1", []), "never called"),
    "input not an input": (lambda m: m["model"]["config"].update(input_layers=[["dense", 0, 0]]),
                           "not an InputLayer"),
    "bad units": (lambda m: _entry(m, "dense")["config"].update(units=-1), "units must be a positive int"),
    "unknown argument": (lambda m: _entry(m, "dense")["config"].update(filters=3), "filters"),
    "unknown optimizer": (lambda m: m.update(compile={
        "optimizer": {"class_name": "Yogi", "config": {}},
        "loss": {"class_name": "MeanSquaredError", "config": {}}, "metrics": None, "loss_weights": None}),
                          "unknown optimizer class 'Yogi'"),
    "weight entry missing": (lambda m: m["weights"][0].update(entry="weight_9999"), "weight entry"),
}


@pytest.mark.parametrize("problem", list(MALFORMED), ids=str)
def test_a_malformed_config_is_a_value_error_before_anything_is_built(tmp_path, problem):
    edit, match = MALFORMED[problem]

    def edit_and_count(meta):
        # first a layer that records being made, before the layer that is broken
        _layers(meta).insert(1, {"class_name": "Counted", "config": {"name": "counted"},
                                 "name": "counted", "inbound_nodes": [[["input_layer", 0, 0]]]})
        edit(meta)

    path = _model_file(tmp_path, edit_and_count)
    _BUILT.clear()
    with pytest.raises(ValueError, match=match):
        fx.models.load_model(path)
    if problem not in ("bad units", "unknown argument"):  # those two surface as the layer is made
        assert _BUILT == []


def test_a_config_from_get_config_with_an_unknown_class_names_where(tmp_path):
    config = _nested(_numpy32()).get_config()
    outer = {e["name"]: e for e in config["layers"][0]["config"]["layers"]}
    outer["inner_seq"]["config"]["layers"][0]["class_name"] = "Mystery"
    with pytest.raises(ValueError, match=r"inner_seq.*unknown layer class 'Mystery'"):
        fx.Sequential.from_config(config)
