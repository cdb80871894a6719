"""The registry: names, aliases and class names of every kind; user classes of any kind;
configs read from ``__init__`` for user classes without ``get_config``, and the check that
a user class's config rebuilds it; the README's own optimizer saved, loaded and resumed."""

from __future__ import annotations

import os
import pathlib
import re

import numpy as np
import pytest

import flexnet as fx
from flexnet import registry
from flexnet.layers import Dense

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


# -- lookups -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["mse", "MSE", "mean_squared_error", "MeanSquaredError",
                                  "meansquarederror", "Mean_Squared_Error"])
def test_names_aliases_and_class_names_ignore_case_and_underscores(name):
    assert fx.losses.LOSSES.find(name) is fx.losses.MeanSquaredError
    assert type(fx.losses.get(name)) is fx.losses.MeanSquaredError


def test_a_kind_is_a_read_only_mapping_of_its_names():
    losses = fx.losses.LOSSES
    assert losses["mse"] is fx.losses.MeanSquaredError and "mse" in losses
    assert "MSE" not in losses  # the mapping's keys are exact; find() is not
    assert losses.get("nope") is None and len(losses) == len(list(losses))
    with pytest.raises(TypeError, match="'Kind' object does not support item assignment"):
        losses["mine"] = fx.losses.Huber  # type: ignore[index]
    assert fx.optimizers.OPTIMIZERS.names_of(fx.optimizers.Adam) == ["adam"]


def test_aliases_are_found_but_not_listed():
    assert fx.initializers.INITIALIZERS.find("IdentityInitializer") is fx.initializers.Identity
    assert "IdentityInitializer" not in fx.initializers.INITIALIZERS
    spec = {"class_name": "OrthogonalInitializer", "config": {"gain": 2.0}}
    assert fx.initializers.get(spec).gain == 2.0


def test_built_ins_register_where_they_are_defined():
    for kind in ("activation", "loss", "optimizer", "metric", "initializer", "regularizer", "constraint",
                 "schedule", "layer", "callback"):
        table = registry.kind(kind)
        assert len(table) > 0
        for cls in table.values():
            assert cls.__module__.startswith("flexnet.") and registry.kind_of(cls) is table
    assert registry.kind("layer")["Model"] is fx.models.Functional
    assert registry.kind("callback")["EarlyStopping"] is fx.callbacks.EarlyStopping


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(ValueError, match="unknown optimizer 'adamm'; valid names are") as info:
        fx.optimizers.get("adamm")
    assert all(repr(name) in str(info.value) for name in fx.optimizers.OPTIMIZERS)
    with pytest.raises(ValueError, match=r"unknown metric 'f1'; valid names are \[.*'acc'.*'accuracy'"):
        fx.metrics.get("f1")
    with pytest.raises(ValueError, match=r"where: unknown loss class 'Nope'; flexnet's are \[.*'Huber'.*"
                                         r"custom_objects=\{'Nope': cls\}"):
        registry.deserialize("loss", {"class_name": "Nope", "config": {}}, where="where")
    with pytest.raises(ValueError, match=r"unknown kind 'lossy'; the kinds are \[.*'loss'"):
        registry.kind("lossy")


def test_resolve_and_serialize_refuse_what_is_not_of_the_kind():
    with pytest.raises(TypeError, match="loss must be a name, a config dict or a Loss, got int"):
        fx.losses.get(3)
    with pytest.raises(TypeError, match="serialize\\(\\) needs an Optimizer, got str"):
        fx.optimizers.OPTIMIZERS.serialize("adam")
    with pytest.raises(TypeError, match="serialize\\(\\) takes an object of a named kind"):
        registry.serialize(object())


class _Shape:
    """A base class for a kind made by a test."""


@pytest.fixture
def shapes():
    """A kind of the test's own, gone afterwards."""
    kind = registry.Kind("shape", _Shape, aliases={"Box": "square"})
    yield kind
    registry.kinds._KINDS.pop("shape")


def test_a_new_kind_registers_by_decorator(shapes):
    @shapes.register("square", "quad")
    class Square(_Shape):
        def __init__(self, side=1.0):
            self.side = side

        def get_config(self):
            return {"side": self.side}

    assert list(shapes) == ["square", "quad"] and shapes.find("QUAD") is Square
    assert shapes.find("box") is Square and shapes.find("Square") is Square
    assert registry.kind("shape") is shapes and registry.kind_of(Square) is shapes
    assert shapes.resolve("square").side == 1.0
    assert shapes.deserialize(shapes.serialize(Square(2.0))).side == 2.0
    with pytest.raises(ValueError, match="shape name 'Quad' already names Square"):
        shapes.register("Quad")(type("Other", (_Shape,), {}))
    with pytest.raises(TypeError, match="a shape class must subclass _Shape"):
        shapes.register("int")(int)


def test_user_names_shadow_and_give_back_built_in_names(shapes):
    Square = shapes.register("square")(type("Square", (_Shape,), {}))
    Mine = type("Mine", (_Shape,), {})
    shapes.add("mine", Mine)
    assert list(shapes) == ["square", "mine"]
    with pytest.raises(ValueError, match="'Square' is a built-in shape; pass overwrite=True"):
        shapes.add("Square", Mine)
    with pytest.raises(ValueError, match="'MINE' is an already registered shape"):
        shapes.add("MINE", Square)
    shapes.add("square", Mine, overwrite=True)
    assert shapes["square"] is Mine and shapes.find("SQUARE") is Mine
    shapes.remove("Square")
    assert shapes["square"] is Square
    with pytest.raises(ValueError, match="built-in shape; it cannot be unregistered"):
        shapes.remove("square")
    shapes.remove("mine")
    with pytest.raises(ValueError, match="shape 'mine' is not registered"):
        shapes.remove("mine")


# -- user classes of every kind -----------------------------------------------------------------


class UserActivation(fx.activations.ActivationFunction):
    name = "user_activation"

    def forward(self, xp, Z):
        return Z

    def backward(self, xp, Z, Y, dY):
        return dY


class UserLoss(fx.losses.MeanSquaredError):
    pass


class UserOptimizer(fx.optimizers.SGD):
    pass


class UserMetric(fx.metrics.MeanAbsoluteError):
    pass


class UserInitializer(fx.initializers.Constant):
    pass


class UserRegularizer(fx.regularizers.L2):
    pass


class UserConstraint(fx.constraints.NonNeg):
    pass


class UserSchedule(fx.schedules.ExponentialDecay):
    pass


class UserLayer(fx.layers.Dense):
    pass


class UserModel(fx.models.Sequential):
    pass


class UserCallback(fx.callbacks.Callback):
    pass


USER = {
    "activation": UserActivation(), "loss": UserLoss(), "optimizer": UserOptimizer(0.1),
    "metric": UserMetric(), "initializer": UserInitializer(0.5), "regularizer": UserRegularizer(0.1),
    "constraint": UserConstraint(), "schedule": UserSchedule(0.1, 10, 0.5), "layer": UserLayer(3),
    "model": UserModel([Dense(2, input_dim=3)]), "callback": UserCallback(),
}


@pytest.mark.parametrize("kind", list(USER))
def test_register_serializable_takes_a_class_of_any_kind(kind):
    obj = USER[kind]
    cls = type(obj)
    table = registry.kind("layer" if kind == "model" else kind)
    assert registry.kind_of(cls) is table and table.find(cls.__name__) is None
    fx.saving.register_serializable(cls, name=f"my_{kind}")
    try:
        assert fx.saving.get_registered_name(cls) == f"my_{kind}"
        assert fx.saving.get_registered_object(f"my_{kind}") is cls
        assert table.find(f"my_{kind}") is cls and table.find(cls.__name__) is cls
        assert f"my_{kind}" not in table  # found, not listed
        if kind != "callback":  # callbacks have no configs
            spec = registry.serialize(obj)
            assert spec["class_name"] == f"my_{kind}"
            assert type(registry.deserialize(table.name, spec)) is cls
    finally:
        fx.saving.unregister_serializable(cls)
    assert table.find(f"my_{kind}") is None


@pytest.mark.parametrize(("base", "name"), [
    (fx.activations.ActivationFunction, "ReLU"), (fx.activations.ActivationFunction, "swish"),
    (fx.losses.Loss, "MeanSquaredError"), (fx.losses.Loss, "mse"), (fx.optimizers.Optimizer, "Adam"),
    (fx.metrics.Metric, "AUC"), (fx.initializers.Initializer, "GlorotUniform"),
    (fx.regularizers.Regularizer, "L2"), (fx.constraints.Constraint, "MaxNorm"),
    (fx.schedules.LearningRateSchedule, "CosineDecay"), (fx.layers.Layer, "Dense"),
    (fx.models.Sequential, "Functional"), (fx.callbacks.Callback, "EarlyStopping"),
])
def test_a_built_in_name_cannot_be_shadowed(base, name):
    with pytest.raises(ValueError, match=rf"'{name}' names a built-in \w+ class.*name=\.\.\."):
        fx.saving.register_serializable(type("Mine", (base,), {}), name=name)


# -- the README's own optimizer -----------------------------------------------------------------


def _readme_momentum() -> str:
    """The code block of the README's section "Your own optimizer", as written there."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### Your own optimizer"):]
    block = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert "class Momentum(fx.optimizers.Optimizer)" in block
    return block


def _run_block(source: str) -> type:
    """Run the block as a user would (it compiles a ``model``); return its ``Momentum``."""
    namespace = {"__name__": "readme", "fx": fx,
                 "model": fx.Sequential([Dense(1, input_dim=3, activation="sigmoid")])}
    exec(source, namespace)
    assert type(namespace["model"].optimizer) is namespace["Momentum"]
    return namespace["Momentum"]


def _with_kwargs(source: str) -> str:
    """The README's Momentum with ``**kwargs`` passed to the base class."""
    for old, new in (("beta=0.9):", "beta=0.9, **kwargs):"),
                     ("super().__init__(learning_rate)", "super().__init__(learning_rate, **kwargs)")):
        assert source.count(old) == 1
        source = source.replace(old, new)
    return source


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 3))
    return x, (x[:, :1] + x[:, 1:2] > 0).astype(float)


def _trained(Momentum, epochs, **kwargs):
    fx.utils.set_random_seed(5)
    model = fx.Sequential([Dense(4, input_dim=3, activation="tanh"), Dense(1, activation="sigmoid")])
    model.compile(optimizer=Momentum(0.05, beta=0.7, **kwargs), loss="binary_crossentropy")
    model.fit(*_data(), batch_size=4, epochs=epochs, shuffle=False, verbose=0)
    return model


@pytest.mark.parametrize("variant", ["as_written", "with_kwargs"])
def test_the_readme_optimizer_saves_loads_and_resumes_exactly(tmp_path, variant):
    source = _readme_momentum() if variant == "as_written" else _with_kwargs(_readme_momentum())
    Momentum = _run_block(source)
    kwargs = {} if variant == "as_written" else {"clipnorm": 1.0}
    straight = _trained(Momentum, epochs=4, **kwargs)
    first = _trained(Momentum, epochs=2, **kwargs)
    first.save(tmp_path / "m")

    with pytest.raises(ValueError, match="unknown optimizer class 'Momentum'"):
        fx.models.load_model(tmp_path / "m")
    resumed = fx.models.load_model(tmp_path / "m", custom_objects={"Momentum": Momentum})
    assert type(resumed.optimizer) is Momentum and resumed.optimizer.beta == 0.7
    assert resumed.optimizer.learning_rate == 0.05 and resumed.optimizer.iterations == 8
    assert resumed.optimizer.clipnorm == kwargs.get("clipnorm")
    resumed.fit(*_data(), batch_size=4, epochs=4, initial_epoch=2, shuffle=False, verbose=0)
    for a, b in zip(resumed.get_weights(), straight.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_the_derived_config_keeps_only_what_init_takes():
    Momentum = _run_block(_readme_momentum())
    assert registry.serialize(Momentum(0.05, beta=0.7)) == {
        "class_name": "Momentum", "config": {"learning_rate": 0.05, "beta": 0.7}}
    config = registry.serialize(_run_block(_with_kwargs(_readme_momentum()))(0.05, beta=0.7))["config"]
    assert config["beta"] == 0.7 and config["clipnorm"] is None and "name" in config


def test_an_argument_that_cannot_be_read_back_is_refused(tmp_path):
    source = _readme_momentum().replace("self.beta = beta", "self.momentum_factor = beta")
    Momentum = _run_block(source.replace("self.beta * state", "self.momentum_factor * state"))
    model = _trained(Momentum, epochs=1)
    with pytest.raises(TypeError, match=r"cannot serialize Momentum: its __init__ takes 'beta'.*"
                                        r"store it as self\.beta in __init__ or define get_config\(\)"):
        model.save(tmp_path / "m")
    assert os.listdir(tmp_path) == []


def test_an_argument_stored_changed_is_refused_at_save_time(tmp_path):
    Momentum = _run_block(_readme_momentum().replace("self.beta = beta", "self.beta = beta * 0.5"))
    model = _trained(Momentum, epochs=1)
    with pytest.raises(TypeError, match=r"cannot serialize Momentum: \['beta'\] do not survive a round trip"
                                        r".*beta: 0\.35 comes back as 0\.175.*get_config\(\)"):
        model.save(tmp_path / "m")
    assert os.listdir(tmp_path) == []


def test_a_get_config_that_forgets_an_argument_is_refused():
    class Forgetful(fx.losses.MeanSquaredError):
        def __init__(self, scale=1.0, **kwargs):
            super().__init__(**kwargs)
            self.scale = scale

        def get_config(self):
            return super().get_config()

    assert registry.serialize(Forgetful())  # the default survives
    with pytest.raises(TypeError, match=r"\['scale'\] do not survive.*scale: 2\.0 comes back as 1\.0"):
        registry.serialize(Forgetful(scale=2.0))


class Shift(fx.layers.Layer):
    """``Y = X + offset``: a user layer with an argument of its own and no get_config."""

    def __init__(self, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.offset = offset

    def forward(self, X, training=False):
        return X + self.offset

    def backward(self, dY):
        return dY


def test_a_user_layer_without_get_config_round_trips(tmp_path):
    model = fx.Sequential([Dense(2, input_dim=3), Shift(0.5, name="shift")])
    assert model.get_config()["layers"][1] == {
        "class_name": "Shift", "config": {"name": "shift", "trainable": True, "offset": 0.5}}
    model.save(tmp_path / "m")
    loaded = fx.models.load_model(tmp_path / "m", custom_objects={"Shift": Shift})
    assert type(loaded.layers[1]) is Shift and loaded.layers[1].offset == 0.5
    x = _data()[0]
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
