"""Keras 3 configs and flexnet configs, translated both ways, key by key.

A Keras layer config maps onto the flexnet layer of the same meaning: the keys both
sides have carry over (activations, initializers, regularizers and constraints by
name); a Keras-only key is accepted only at the value whose behaviour flexnet has
(``Dropout(seed=None)``, ``BatchNormalization(renorm=False)``, ...), and anything else
is a ``ValueError`` naming the layer and the key, never dropped. The same tables write
flexnet configs as Keras's, refusing what Keras cannot hold (a flexnet-only activation,
an activation with arguments inside ``Dense``). :mod:`flexnet.io.keras_files` reads and
writes the files around these configs.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

from flexnet import losses, optimizers
from flexnet.specs import short

__all__ = ["LAYERS", "activation_from_keras", "activation_to_keras", "compile_from_keras", "compile_to_keras",
           "component_from_keras", "component_to_keras", "layer_from_keras", "layer_to_keras", "policy",
           "policy_dtype"]

ANY = object()  #: a Keras-only key whose value does not matter (e.g. renorm_momentum without renorm)

#: Activations with the same name and formula on both sides (Keras 3's hard_sigmoid is
#: relu6(x + 3) / 6, as flexnet's; swish is Keras's other name for silu).
ACTIVATIONS = {"linear", "relu", "sigmoid", "tanh", "softmax", "log_softmax", "elu", "selu", "softplus",
               "silu", "gelu", "hard_sigmoid", "leaky_relu"}
_ACTIVATION_ALIASES = {"swish": "silu"}

#: Component classes with the same name, arguments and formula on both sides.
COMPONENTS = {
    "initializer": {"GlorotUniform", "GlorotNormal", "HeUniform", "HeNormal", "LecunUniform", "LecunNormal",
                    "Zeros", "Ones", "Constant", "RandomUniform", "RandomNormal", "TruncatedNormal",
                    "VarianceScaling", "Orthogonal", "Identity"},
    "regularizer": {"L1", "L2", "L1L2"},
    "constraint": {"MaxNorm", "NonNeg", "UnitNorm", "MinMaxNorm"},
}
#: Keys newer Keras versions add to a component config; None is the behaviour flexnet has.
_COMPONENT_KEYS_AT_NONE = {"input_axes", "output_axes"}


def _fail(where: str, message: str):
    raise ValueError(f"{where}: {message}")


# ---------------------------------------------------------------------------
# dtypes, activations, components.


def policy_dtype(value, where: str) -> str | None:
    """The float dtype of a Keras ``dtype`` entry (a name or a ``DTypePolicy`` dict), or None."""
    if value is None:
        return None
    name = value
    if isinstance(value, dict):
        if value.get("class_name") not in ("DTypePolicy", "FloatDTypePolicy") or not isinstance(
                value.get("config"), dict):
            _fail(where, f"dtype policy {short(value)} is not one flexnet has (float32 or float64)")
        name = value["config"].get("name")
    if name not in ("float32", "float64"):
        _fail(where, f"dtype {name!r}: flexnet models compute in float32 or float64 (no mixed precision)")
    return name


def policy(dtype: str) -> dict:
    """Keras's ``DTypePolicy`` entry for ``dtype``."""
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": dtype},
            "registered_name": None}


def activation_from_keras(value, where: str) -> str:
    """A Keras activation entry (a name) as a flexnet activation name."""
    name = _ACTIVATION_ALIASES.get(value, value) if isinstance(value, str) else None
    if name not in ACTIVATIONS:
        _fail(where, f"activation {short(value)} has no flexnet equivalent; the activations both have are "
                     f"{sorted(ACTIVATIONS)}")
    return name


def activation_to_keras(value, where: str) -> str:
    """A flexnet activation entry (:func:`flexnet.activations.serialize`) as a Keras name."""
    if not isinstance(value, str) or value not in ACTIVATIONS:
        _fail(where, f"activation {short(value)} cannot be written to a Keras file: Keras takes "
                     f"activations by name, with their default arguments, from {sorted(ACTIVATIONS)}")
    return value


def component_from_keras(kind: str, spec, where: str):
    """A Keras initializer, regularizer or constraint entry as flexnet's (``{"class_name",
    "config"}``, a name, or None)."""
    if spec is None:
        return None
    if isinstance(spec, str):
        return spec  # a name: flexnet's registry resolves Keras's names ("glorot_uniform", "l2")
    if not isinstance(spec, dict) or not isinstance(spec.get("config", {}), dict):
        _fail(where, f"{kind} {short(spec)} is not a Keras {kind} config")
    name = spec.get("class_name")
    if name not in COMPONENTS[kind]:
        _fail(where, f"{kind} {name!r} has no flexnet equivalent; the {kind}s both have are "
                     f"{sorted(COMPONENTS[kind])}")
    config = dict(spec.get("config") or {})
    for key in _COMPONENT_KEYS_AT_NONE & set(config):
        if config.pop(key) is not None:
            _fail(where, f"{kind} {name} with {key}={short(spec['config'][key])}: flexnet computes the "
                         "fans of a kernel from its shape only")
    return {"class_name": name, "config": config}


def component_to_keras(kind: str, spec, where: str):
    """A flexnet component entry (serialized) as Keras's; None stays None."""
    if spec is None:
        return None
    if isinstance(spec, str):
        _fail(where, f"{kind} {spec!r} is not written as a class config")  # flexnet serializes classes
    name = spec["class_name"]
    if name not in COMPONENTS[kind]:
        _fail(where, f"{kind} {name!r} cannot be written to a Keras file; Keras has "
                     f"{sorted(COMPONENTS[kind])}")
    return {"module": f"keras.{kind}s", "class_name": name, "config": dict(spec["config"]),
            "registered_name": None}


def _value(key: str, value, where: str, to_keras: bool):
    """A config value translated by its key: activations, and the ``*_initializer``,
    ``*_regularizer`` and ``*_constraint`` components; other values as they are."""
    if key == "activation":
        return (activation_to_keras if to_keras else activation_from_keras)(value, where)
    for kind in COMPONENTS:
        if key.endswith("_" + kind):
            return (component_to_keras if to_keras else component_from_keras)(kind, value, f"{where}, {key}")
    return value


# ---------------------------------------------------------------------------
# Layers.


@dataclass(frozen=True)
class LayerMap:
    """One layer class on both sides.

    Attributes:
        keras, flexnet: the class names.
        keys: config keys with the same name and meaning on both sides.
        fixed: Keras-only keys and the value at which Keras computes what flexnet does
            (``ANY``: the value does not matter); written with that value.
        activity: the flexnet layer takes an ``activity_regularizer``.
    """

    keras: str
    flexnet: str
    keys: tuple = ()
    fixed: dict = field(default_factory=dict)
    activity: bool = True


_BN_FIXED = {"beta_regularizer": None, "gamma_regularizer": None, "beta_constraint": None,
             "gamma_constraint": None}
LAYERS = {m.keras: m for m in [
    LayerMap("Dense", "Dense", ("units", "activation", "use_bias", "kernel_initializer", "bias_initializer",
                                "kernel_regularizer", "bias_regularizer", "kernel_constraint",
                                "bias_constraint"), {"quantization_config": None}),
    LayerMap("Activation", "Activation", ("activation",)),
    LayerMap("Dropout", "Dropout", ("rate",), {"seed": None, "noise_shape": None}),
    LayerMap("Flatten", "Flatten", (), {"data_format": "channels_last"}),
    LayerMap("BatchNormalization", "BatchNormalization",
             ("axis", "momentum", "epsilon", "center", "scale", "beta_initializer", "gamma_initializer",
              "moving_mean_initializer", "moving_variance_initializer"),
             {**_BN_FIXED, "synchronized": False, "renorm": False, "renorm_clipping": None,
              "renorm_momentum": ANY}, activity=False),
    LayerMap("LayerNormalization", "LayerNormalization",
             ("axis", "epsilon", "center", "scale", "beta_initializer", "gamma_initializer"),
             {**_BN_FIXED, "rms_scaling": False}, activity=False),
    LayerMap("PReLU", "PReLU", ("alpha_initializer", "alpha_regularizer", "alpha_constraint", "shared_axes")),
    LayerMap("ReLU", "ReLU", ("max_value", "negative_slope", "threshold")),
    LayerMap("LeakyReLU", "LeakyReLU", ("negative_slope",)),
    LayerMap("Softmax", "Softmax", ("axis",)),
    LayerMap("Reshape", "Reshape", ("target_shape",)),
    LayerMap("GaussianNoise", "GaussianNoise", ("stddev", "seed")),
    LayerMap("Normalization", "Normalization", ("axis", "mean", "variance", "invert")),
    *[LayerMap(name, name) for name in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum")],
    LayerMap("Concatenate", "Concatenate", ("axis",)),
]}
#: Keras's activation layers flexnet has no layer class for: flexnet's Activation layer with the
#: activation's arguments (read), and the layer an Activation of these activations becomes (written).
ACTIVATION_LAYERS = {"LeakyReLU": ("LeakyReLU", {"negative_slope": 0.3}), "ELU": ("ELU", {"alpha": 1.0}),
                     "Softmax": ("Softmax", {"axis": -1})}
_READ_AS_ACTIVATION = {"ELU"}  # LeakyReLU and Softmax are flexnet layers of the same name
_COMMON = {"name", "trainable", "dtype"}


def _read_fixed(config: dict, fixed: dict, where: str) -> None:
    for key, value in config.items():
        required = fixed.get(key, ANY)
        if required is not ANY and value != required and not (key == "data_format" and value is None):
            _fail(where, f"{key}={short(value)} has no flexnet equivalent (flexnet computes {key}="
                         f"{short(required)})")


def layer_from_keras(spec: dict, where: str, dtypes: set) -> dict:
    """A Keras layer config ``{"class_name", "config", ...}`` as a flexnet layer spec. The dtype of
    its policy is added to ``dtypes``."""
    class_name, config = spec.get("class_name"), spec.get("config")
    if not isinstance(config, dict) or not isinstance(config.get("name"), str):
        _fail(where, f"malformed Keras layer config {short(spec)}")
    where = f"{where} {config['name']!r} ({class_name})"
    dtype = policy_dtype(config.get("dtype"), where)
    if dtype is not None:
        dtypes.add(dtype)
    out = {"name": config["name"], "trainable": config.get("trainable", True)}
    if not isinstance(out["trainable"], bool):
        _fail(where, f"trainable must be true or false, got {short(out['trainable'])}")
    rest = {k: v for k, v in config.items() if k not in _COMMON}
    if class_name in _READ_AS_ACTIVATION:
        return _activation_layer_from_keras(class_name, rest, out, where)
    mapping = LAYERS.get(class_name)
    if class_name == "Lambda":
        _fail(where, "a Lambda layer's function is Python bytecode, which flexnet does not run from a file; "
                     "rebuild the model in code and load the file's weights into it")
    if mapping is None:
        _fail(where, f"Keras layer class {class_name!r} has no flexnet equivalent; flexnet reads "
                     f"{sorted([*LAYERS, *_READ_AS_ACTIVATION, 'InputLayer'])} and Sequential and "
                     "functional models of them")
    if "activity_regularizer" in rest:
        value = component_from_keras("regularizer", rest.pop("activity_regularizer"),
                                     f"{where}, activity_regularizer")
        if value is not None and not mapping.activity:
            _fail(where, "activity_regularizer: flexnet's layer of this class takes none")
        if value is not None:
            out["activity_regularizer"] = value
    _read_fixed({k: v for k, v in rest.items() if k not in mapping.keys}, mapping.fixed, where)
    unknown = sorted(set(rest) - set(mapping.keys) - set(mapping.fixed))
    if unknown:
        _fail(where, f"config key(s) {unknown} have no flexnet equivalent")
    for key in mapping.keys:
        if key in rest:
            out[key] = _value(key, rest[key], where, to_keras=False)
    return {"class_name": mapping.flexnet, "config": out}


def _activation_layer_from_keras(class_name: str, rest: dict, out: dict, where: str) -> dict:
    flexnet_class, defaults = ACTIVATION_LAYERS[class_name]
    unknown = sorted(set(rest) - set(defaults))
    activation = {"class_name": flexnet_class, "config": {k: rest.get(k, v) for k, v in defaults.items()}}
    if unknown:
        _fail(where, f"config key(s) {unknown} have no flexnet equivalent")
    return {"class_name": "Activation", "config": {**out, "activation": activation}}


def layer_to_keras(class_name: str, config: dict, dtype: str, where: str) -> dict:
    """A flexnet layer's class name and config (``get_config()``, ``input_shape`` removed) as a
    Keras layer spec ``{"module", "class_name", "config", "registered_name"}``."""
    where = f"{where} {config.get('name')!r} ({class_name})"
    out = {"name": config["name"], "trainable": config.get("trainable", True), "dtype": policy(dtype)}
    rest = {k: v for k, v in config.items() if k not in ("name", "trainable", "input_shape")}
    activity = rest.pop("activity_regularizer", None)
    if class_name == "Activation" and isinstance(rest.get("activation"), dict):
        keras_class = rest["activation"]["class_name"]
        if keras_class not in ACTIVATION_LAYERS:
            _fail(where, f"activation {short(rest['activation'])} cannot be written to a Keras file")
        mapping = LayerMap(keras_class, class_name, ())
        out.update(rest["activation"]["config"])
        rest = {}
    else:
        mapping = next((m for m in LAYERS.values() if m.flexnet == class_name), None)
        if mapping is None:
            _fail(where, f"flexnet layer class {class_name!r} has no Keras equivalent; Keras files hold "
                         f"{sorted(m.flexnet for m in LAYERS.values())} and InputLayer")
    unknown = sorted(set(rest) - set(mapping.keys))
    if unknown:
        _fail(where, f"config key(s) {unknown} have no Keras equivalent")
    if activity is not None:
        out["activity_regularizer"] = component_to_keras("regularizer", activity,
                                                         f"{where}, activity_regularizer")
    for key in mapping.keys:
        out[key] = _value(key, rest[key], where, to_keras=True)
    out.update({k: v for k, v in mapping.fixed.items() if v is not ANY})
    if "renorm_momentum" in mapping.fixed:
        out["renorm_momentum"] = 0.99
    return {"module": "keras.layers", "class_name": mapping.keras, "config": out, "registered_name": None}


# ---------------------------------------------------------------------------
# Compile configs: the optimizer, losses and metrics.

#: Optimizers with the same name and hyperparameters on both sides (flexnet's update rules
#: follow torch.optim, which places Adam's epsilon as Keras does up to its bias correction).
OPTIMIZERS = {"SGD", "RMSprop", "Adam", "AdamW", "Adagrad", "Adadelta", "Lion"}
_OPTIMIZER_KEYS = ("name", "learning_rate", "weight_decay", "clipnorm", "clipvalue", "global_clipnorm")
_OPTIMIZER_FIXED = {"use_ema": False, "ema_momentum": ANY, "ema_overwrite_frequency": None,
                    "loss_scale_factor": None, "gradient_accumulation_steps": None}
LOSSES = {"MeanSquaredError", "MeanAbsoluteError", "Huber", "LogCosh", "BinaryCrossentropy",
          "CategoricalCrossentropy", "SparseCategoricalCrossentropy", "KLDivergence", "Hinge", "SquaredHinge",
          "CategoricalHinge"}
_LOSS_FIXED = {"label_smoothing": 0.0, "axis": -1, "dtype": None}
_COMPILE_FIXED = {"weighted_metrics": None, "steps_per_execution": 1,
                  "run_eagerly": ANY, "jit_compile": ANY}  # execution hints: no effect on the results


def _each(spec, fn, where: str):
    """``fn`` on one entry, or on each entry of a list or a per-output dict."""
    if isinstance(spec, list):
        return [fn(v, f"{where}[{i}]") for i, v in enumerate(spec)]
    if isinstance(spec, dict) and "class_name" not in spec:
        return {k: fn(v, f"{where}[{k!r}]") for k, v in spec.items()}
    return fn(spec, where)


def _optimizer_from_keras(spec, where: str):
    if isinstance(spec, str):
        return optimizers.get(spec)
    name = spec.get("class_name") if isinstance(spec, dict) else None
    config = dict(spec.get("config") or {}) if isinstance(spec, dict) else {}
    if name not in OPTIMIZERS:
        _fail(where, f"optimizer {short(spec)} has no flexnet equivalent; both have {sorted(OPTIMIZERS)}")
    if not isinstance(config.get("learning_rate"), (int, float)):
        _fail(where, f"learning_rate {short(config.get('learning_rate'))}: flexnet reads a number here "
                     "(write Keras schedules as flexnet schedules in code)")
    fixed = {k: config.pop(k) for k in list(config) if k in _OPTIMIZER_FIXED}
    _read_fixed(fixed, _OPTIMIZER_FIXED, f"{where} ({name})")
    cls = optimizers.OPTIMIZERS.find(name)
    unknown = sorted(set(config) - set(_OPTIMIZER_KEYS) - set(inspect.signature(cls).parameters))
    if unknown:
        _fail(where, f"optimizer {name}: config key(s) {unknown} have no flexnet equivalent")
    return optimizers.get({"class_name": name, "config": config})


def _loss_from_keras(spec, where: str):
    if spec is None:
        _fail(where, "no loss")
    if isinstance(spec, str):
        try:
            return losses.get(spec)
        except ValueError as exc:
            _fail(where, str(exc))
    name, config = spec.get("class_name"), dict(spec.get("config") or {})
    if name not in LOSSES:
        _fail(where, f"loss {short(spec)} has no flexnet equivalent; both have {sorted(LOSSES)}")
    fixed = {k: config.pop(k) for k in list(config) if k in _LOSS_FIXED}
    _read_fixed(fixed, _LOSS_FIXED, f"{where} ({name})")
    return losses.get({"class_name": name, "config": config})


def _metric_from_keras(spec, where: str):
    if not isinstance(spec, str):
        _fail(where, f"metric {short(spec)}: flexnet reads metrics given by name")
    return spec


def compile_from_keras(config: dict, where: str) -> dict:
    """``model.compile`` arguments (an optimizer, losses, metric names) from Keras's
    ``compile_config``."""
    if not isinstance(config, dict):
        _fail(where, f"compile_config must be a dict, got {short(config)}")
    rest = {k: v for k, v in config.items() if k not in ("optimizer", "loss", "metrics", "loss_weights")}
    _read_fixed(rest, _COMPILE_FIXED, where)
    unknown = sorted(set(rest) - set(_COMPILE_FIXED))
    if unknown:
        _fail(where, f"config key(s) {unknown} have no flexnet equivalent")
    metrics = config.get("metrics")
    return {"optimizer": _optimizer_from_keras(config.get("optimizer"), f"{where}, optimizer"),
            "loss": _each(config.get("loss"), _loss_from_keras, f"{where}, loss"),
            "metrics": None if metrics is None else _each(metrics, _metric_from_keras, f"{where}, metrics"),
            "loss_weights": config.get("loss_weights")}


def compile_to_keras(optimizer: dict, loss, metrics, loss_weights, output_names: list, where: str) -> dict:
    """Keras's ``compile_config`` from flexnet's serialized compile settings (see
    :func:`flexnet.io.model_files.compile_config`). flexnet applies one loss, or one list of
    metrics, to every output; Keras wants them per output, so they are written per output."""
    name, config = optimizer["class_name"], dict(optimizer["config"])
    if name not in OPTIMIZERS:
        _fail(where, f"optimizer {name!r} cannot be written to a Keras file; both have {sorted(OPTIMIZERS)}")
    if not isinstance(config.get("learning_rate"), (int, float)):
        _fail(where, f"optimizer {name}: a learning-rate schedule cannot be written to a Keras file")
    config.update({k: v for k, v in _OPTIMIZER_FIXED.items() if v is not ANY})

    def keras_loss(spec, at):
        if spec["class_name"] not in LOSSES:
            _fail(at, f"loss {spec['class_name']!r} cannot be written to a Keras file; both have "
                      f"{sorted(LOSSES)}")
        return {"module": "keras.losses", "class_name": spec["class_name"], "config": dict(spec["config"]),
                "registered_name": None}

    def keras_metric(spec, at):
        if isinstance(spec, list):
            return [keras_metric(m, f"{at}[{i}]") for i, m in enumerate(spec)]
        if not isinstance(spec, str):
            _fail(at, f"metric {short(spec)}: a Keras file holds metrics given by name")
        return spec

    several = len(output_names) > 1
    if several and isinstance(loss, dict) and "class_name" in loss:
        loss = {name: loss for name in output_names}
    if several and isinstance(metrics, list) and all(isinstance(m, str) for m in metrics):
        metrics = {name: list(metrics) for name in output_names}
    return {"optimizer": {"module": "keras.optimizers", "class_name": name, "config": config,
                          "registered_name": None},
            "loss": _each(loss, keras_loss, f"{where}, loss"),
            "metrics": None if metrics is None else _each(metrics, keras_metric, f"{where}, metrics"),
            "loss_weights": loss_weights, "weighted_metrics": None, "run_eagerly": False,
            "steps_per_execution": 1, "jit_compile": False}
