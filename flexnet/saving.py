"""Model files and configs: one archive of JSON metadata and NumPy arrays, written atomically,
and the name tables that rebuild layers, models and their training setup from a config.

A flexnet file is a NumPy ``.npz`` archive (a zip of ``.npy`` arrays) read with
``allow_pickle=False``, so loading executes no code. Its entry ``flexnet.json``
holds the metadata (format name, format version, what the file holds, the
weight names and shapes, and for whole models the JSON config); the other
entries are plain numeric arrays. Files are written beside the target and
renamed over it, so a crash mid-save leaves the previous file intact.

A whole model (``model.save(path)``, :func:`load_model`) stores in the metadata
the model's config (its layers and how they connect, as Keras's ``get_config``),
the compile config (optimizer, losses, loss weights, metrics), the weight index
and the optimizer's iteration count; the arrays are the weights and the
optimizer's state. Configs name classes; loading looks the names up in tables
(flexnet's classes, those registered with :func:`register_serializable`, and the
``custom_objects`` given to :func:`load_model`) and checks the whole config
before it builds anything. Nothing is imported or executed by name.
"""

from __future__ import annotations

import io
import json
import numbers
import os
import tempfile

import numpy as np

from flexnet import (
    activations,
    constraints,
    initializers,
    losses,
    metrics,
    optimizers,
    regularizers,
    schedules,
)
from flexnet import layers as layers_module
from flexnet.layers import InputLayer, Layer

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "deserialize_layer",
    "get_registered_name",
    "get_registered_object",
    "load_model",
    "load_weights",
    "read_archive",
    "register_keras_serializable",
    "register_serializable",
    "save_model",
    "save_weights",
    "serialize_layer",
    "unregister_serializable",
    "write_archive",
]

FORMAT = "flexnet"
FORMAT_VERSION = 1
_META = "flexnet.json"


def write_archive(path, meta: dict, arrays: dict[str, np.ndarray]) -> None:
    """Write ``meta`` (JSON) and ``arrays`` to ``path`` atomically.

    The archive is built in a temporary file in the target's directory, flushed
    to disk, then renamed over ``path`` (``os.replace`` is atomic on POSIX and
    Windows), so readers see the old file or the new one, never half of one.
    """
    path = os.fspath(path)
    if _META in arrays:
        raise ValueError(f"array name {_META!r} is reserved")
    for key, value in arrays.items():
        if not isinstance(value, np.ndarray) or value.dtype.kind not in "biuf":
            raise TypeError(f"array {key!r} must be a numeric NumPy array, got {type(value).__name__}")
    header = {"format": FORMAT, "version": FORMAT_VERSION, **meta}
    payload = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".flexnet-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **{_META: payload}, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_archive(path, kind: str | None = None) -> tuple[dict, dict[str, np.ndarray]]:
    """Read and check a flexnet archive; returns ``(meta, arrays)``.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: an empty, truncated, corrupted or foreign file, one written by a
            newer format version, or (with ``kind``) one that holds something else.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        raw = f.read()
    if not raw:
        raise ValueError(f"{path!r} is empty, not a flexnet file")
    if not raw.startswith(b"PK\x03\x04"):  # np.load would try other formats, pickle included
        raise ValueError(f"{path!r} is not a flexnet file: flexnet files are zip (.npz) archives, "
                         f"this one starts with {raw[:8]!r}")
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as archive:
            names = list(archive.files)
            if _META not in names:
                raise ValueError(f"{path!r} is not a flexnet file (no {_META} entry)")
            meta = json.loads(archive[_META].tobytes().decode("utf-8"))
            arrays = {name: archive[name] for name in names if name != _META}
    except ValueError as exc:
        if "flexnet" in str(exc):
            raise
        raise ValueError(f"{path!r} is not a readable flexnet file ({exc})") from None
    except Exception as exc:  # any failure to parse untrusted bytes means a bad file
        # zipfile and np.load raise BadZipFile, EOFError, OSError, NotImplementedError
        # (a mangled compression flag), RuntimeError ("encrypted"), MemoryError (a header
        # claiming a huge array), ... on damaged bytes.
        raise ValueError(f"{path!r} is not a readable flexnet file (truncated or corrupted: "
                         f"{type(exc).__name__}: {exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{path!r} is not a flexnet file (format {meta.get('format')!r})"
                         if isinstance(meta, dict) else f"{path!r} is not a flexnet file")
    version = meta.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ValueError(f"{path!r} has no valid format version: {version!r}")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{path!r} was written by a newer flexnet (format version {version}); this flexnet "
            f"reads versions up to {FORMAT_VERSION}: upgrade flexnet to load it"
        )
    if kind is not None and meta.get("kind") != kind and not (kind == "weights" and
                                                              meta.get("kind") == "model"):
        if kind == "model" and meta.get("kind") == "weights":
            raise ValueError(f"{path!r} holds only weights (written by save_weights), not a model: "
                             "build the model in code and call model.load_weights(path)")
        raise ValueError(f"{path!r} holds a {meta.get('kind')!r}, not a {kind!r}")
    return meta, arrays


# ---------------------------------------------------------------------------
# The registry: user classes that configs may name.

#: Registered name -> class (layers, losses, optimizers, schedules, initializers,
#: regularizers, constraints, metrics). Activations live in
#: :data:`flexnet.activations.ACTIVATIONS`.
_REGISTERED: dict[str, type] = {}

_KINDS = {
    "layer": Layer,
    "loss": losses.Loss,
    "optimizer": optimizers.Optimizer,
    "schedule": schedules.LearningRateSchedule,
    "initializer": initializers.Initializer,
    "regularizer": regularizers.Regularizer,
    "constraint": constraints.Constraint,
    "metric": metrics.Metric,
}


def _key(name: str) -> str:
    """``"MeanSquaredError"``, ``"mean_squared_error"`` -> ``"meansquarederror"``."""
    return name.replace("_", "").lower()


def _builtin(kind: str) -> dict[str, type]:
    """flexnet's own classes of one kind by class name and by (snake-case) registered name."""
    if kind == "layer":
        from flexnet.models import Functional, Sequential

        classes = [getattr(layers_module, n) for n in (
            "Dense", "Activation", "Dropout", "Flatten", "PReLU", "BatchNormalization",
            "LayerNormalization", "InputLayer", "Add", "Subtract", "Multiply", "Average",
            "Maximum", "Minimum", "Concatenate")]
        table = {cls.__name__: cls for cls in classes}
        table.update(Sequential=Sequential, Functional=Functional, Model=Functional)
        return table
    names = {"loss": losses.LOSSES, "optimizer": optimizers.OPTIMIZERS,
             "schedule": schedules.SCHEDULES, "initializer": initializers.INITIALIZERS,
             "regularizer": regularizers.REGULARIZERS, "constraint": constraints.CONSTRAINTS,
             "metric": metrics.METRICS}[kind]
    table = {_key(k): cls for k, cls in names.items()}
    table.update({cls.__name__: cls for cls in names.values()})
    return table


def _same_definition(a: type, b: type) -> bool:
    """The same class defined again (a re-run notebook cell, a reloaded module)."""
    return (a.__module__, a.__qualname__) == (b.__module__, b.__qualname__)


def register_serializable(cls=None, *, name: str | None = None):
    """Register a user class so that files and configs naming it load; usable as a decorator.

    Layers, losses, optimizers, schedules, initializers, regularizers, constraints
    and metrics are registered here; an :class:`~flexnet.activations.ActivationFunction`
    subclass is handed to :func:`flexnet.activations.register` (one table of activations).
    The class needs ``get_config()`` returning its constructor arguments (and may
    override ``from_config``).

    Args:
        cls: the class (omit it to get a decorator, e.g. ``@register_serializable(name="X")``).
        name: the name configs use; default the class name (for an activation, its
            ``name`` attribute if it sets one).

    Returns:
        the class (or, without ``cls``, a decorator).

    Raises:
        TypeError: not a class of a kind listed above.
        ValueError: the name is a built-in class's or already names another class.

    Example:
        >>> import flexnet as fx
        >>> @fx.saving.register_serializable
        ... class TimesFactor(fx.layers.Layer):
        ...     def __init__(self, factor=2.0, **kwargs):
        ...         super().__init__(**kwargs)
        ...         self.factor = factor
        ...     def forward(self, X, training=False):
        ...         return X * self.factor
        ...     def backward(self, dY):
        ...         return dY * self.factor
        ...     def get_config(self):
        ...         return {**super().get_config(), "factor": self.factor}
        >>> fx.saving.get_registered_object("TimesFactor") is TimesFactor
        True
        >>> fx.saving.unregister_serializable(TimesFactor)
    """

    def register(obj):
        if not isinstance(obj, type):
            raise TypeError(f"register_serializable takes a class, got {type(obj).__name__}")
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(f"name must be a non-empty string, got {name!r}")
        if issubclass(obj, activations.ActivationFunction):
            own = obj.name if obj.name != activations.ActivationFunction.name else obj.__name__
            key = (name or own).lower()
            existing = activations.ACTIVATIONS.get(key)
            if existing is not obj:
                overwrite = existing is not None and _same_definition(existing, obj)
                activations.register(key, obj, overwrite=overwrite)
            return obj
        kind = next((k for k, base in _KINDS.items() if issubclass(obj, base)), None)
        if kind is None:
            from flexnet.models import Model

            kind = "layer" if issubclass(obj, Model) else None
        if kind is None:
            raise TypeError(
                f"register_serializable takes a subclass of Layer, ActivationFunction, Loss, "
                f"Optimizer, LearningRateSchedule, Initializer, Regularizer, Constraint or Metric, "
                f"got {obj!r}"
            )
        key = name or obj.__name__
        builtin = _builtin(kind).get(key)
        if builtin is not None and builtin is not obj:
            raise ValueError(f"{key!r} is a built-in {kind} class; register yours under another "
                             "name: register_serializable(cls, name=...)")
        existing = _REGISTERED.get(key)
        if existing is not None and existing is not obj and not _same_definition(existing, obj):
            raise ValueError(f"{key!r} is already registered to {existing!r}; call "
                             "unregister_serializable first to replace it")
        _REGISTERED[key] = obj
        return obj

    return register if cls is None else register(cls)


def register_keras_serializable(package: str = "Custom", name: str | None = None):
    """Keras's spelling of :func:`register_serializable`: ``@register_keras_serializable()``.

    ``package`` is accepted for compatibility and not used: flexnet's names are global.
    """
    if isinstance(package, type):  # used without parentheses
        return register_serializable(package, name=name)
    return register_serializable(name=name)


def unregister_serializable(cls_or_name) -> None:
    """Forget a class (or name) registered by :func:`register_serializable`.

    Raises:
        ValueError: nothing is registered under it.
    """
    if isinstance(cls_or_name, type) and issubclass(cls_or_name, activations.ActivationFunction):
        names = [k for k, c in activations.ACTIVATIONS.items() if c is cls_or_name]
        if not names:
            raise ValueError(f"activation {cls_or_name!r} is not registered")
        for key in names:
            activations.unregister(key)
        return
    if isinstance(cls_or_name, type):
        keys = [k for k, c in _REGISTERED.items() if c is cls_or_name]
    else:
        keys = [cls_or_name] if cls_or_name in _REGISTERED else []
    if not keys:
        raise ValueError(f"{cls_or_name!r} is not registered")
    for key in keys:
        del _REGISTERED[key]


def get_registered_name(cls: type) -> str:
    """The name configs use for ``cls``: its registered name, else its class name."""
    for key, value in _REGISTERED.items():
        if value is cls:
            return key
    return cls.__name__


def get_registered_object(name: str, custom_objects: dict | None = None, base: type | None = None):
    """The class a config's ``class_name`` names in ``custom_objects`` or the registry
    (by registered name or class name), of type ``base`` if given; None if none."""
    candidates = []
    if custom_objects and name in custom_objects:
        candidates.append(custom_objects[name])
    if name in _REGISTERED:
        candidates.append(_REGISTERED[name])
    candidates += [cls for cls in _REGISTERED.values() if cls.__name__ == name]
    for cls in candidates:
        if base is None or issubclass(cls, base):
            return cls
    return None


def _check_custom_objects(custom_objects) -> dict:
    if custom_objects is None:
        return {}
    if not isinstance(custom_objects, dict) or not all(
        isinstance(k, str) and isinstance(v, type) for k, v in custom_objects.items()
    ):
        raise TypeError(
            "custom_objects must map class names to classes, e.g. {'MyLayer': MyLayer}, "
            f"got {custom_objects!r:.200}"
        )
    return custom_objects


# ---------------------------------------------------------------------------
# Objects in configs: {"class_name": ..., "config": {...}}.


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def _is_spec(value) -> bool:
    return (isinstance(value, dict) and set(value) == {"class_name", "config"}
            and isinstance(value["class_name"], str) and isinstance(value["config"], dict))


def _check_spec(spec, where: str) -> tuple[str, dict]:
    if not _is_spec(spec):
        raise ValueError(f"{where} must be a dict {{'class_name': str, 'config': dict}}, got "
                         f"{_short(spec)}")
    return spec["class_name"], spec["config"]


def serialize_object(obj) -> dict:
    """``{"class_name": <registered or class name>, "config": obj.get_config()}``."""
    return {"class_name": get_registered_name(type(obj)), "config": obj.get_config()}


def _instantiate(cls: type, config: dict, custom_objects, where: str):
    config = _resolve_custom_values(config, custom_objects)
    build = getattr(cls, "from_config", None)
    try:
        return build(config) if build is not None else cls(**config)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: cannot rebuild {cls.__name__} from its config: {exc}") from None


def _resolve_custom_values(config: dict, custom_objects) -> dict:
    """Replace the config values that name user classes (registered, or in ``custom_objects``)
    by instances; flexnet's own classes are left to the constructors, which read configs."""
    out = {}
    for key, value in config.items():
        if _is_spec(value):
            cls = get_registered_object(value["class_name"], custom_objects)
            if cls is None and key.endswith("activation"):
                cls = _custom_activation(value["class_name"], custom_objects)
            if cls is not None:
                value = _instantiate(cls, value["config"], custom_objects, f"{key} {value['class_name']!r}")
        elif isinstance(value, str) and key.endswith("activation"):
            cls = _custom_activation(value, custom_objects)
            value = cls() if cls is not None else value
        out[key] = value
    return out


def _custom_activation(name: str, custom_objects):
    for key, cls in (custom_objects or {}).items():
        if issubclass(cls, activations.ActivationFunction) and name in (key, cls.__name__, cls.name):
            return cls
    return None


def deserialize_object(spec, kind: str, custom_objects=None, where: str | None = None):
    """An instance of a ``kind`` (``"loss"``, ``"optimizer"``, ``"schedule"``, ``"metric"``,
    ``"initializer"``, ``"regularizer"``, ``"constraint"``) from :func:`serialize_object`'s dict.

    Raises:
        ValueError: a malformed dict, an unknown class name, or a config the class refuses.
    """
    where = where or f"{kind} config"
    name, config = _check_spec(spec, where)
    cls = get_registered_object(name, custom_objects, _KINDS[kind])
    if cls is None:
        table = _builtin(kind)
        cls = table.get(name) or table.get(_key(name))
    if cls is None:
        known = sorted({c.__name__ for c in _builtin(kind).values()})
        raise ValueError(
            f"{where}: unknown {kind} class {name!r}; flexnet's are {known}; register your own "
            f"with fx.saving.register_serializable or pass custom_objects={{{name!r}: cls}}"
        )
    if kind == "optimizer" and isinstance(config.get("learning_rate"), dict):
        config = {**config, "learning_rate": deserialize_object(
            config["learning_rate"], "schedule", custom_objects, f"{where}: learning_rate")}
    return _instantiate(cls, config, custom_objects, where)


# ---------------------------------------------------------------------------
# Layers and models: configs, checked before anything is built.


def serialize_layer(layer) -> dict:
    """``{"class_name": ..., "config": layer.get_config()}`` for a layer or a model."""
    return serialize_object(layer)


def _layer_class(name: str, custom_objects, where: str) -> type:
    from flexnet.models import Model

    cls = get_registered_object(name, custom_objects, (Layer, Model))
    if cls is None:
        cls = _builtin("layer").get(name)
    if cls is None:
        registered = sorted(k for k, c in _REGISTERED.items() if issubclass(c, (Layer, Model)))
        raise ValueError(
            f"{where}: unknown layer class {name!r}; flexnet's are {sorted(_builtin('layer'))}"
            + (f", registered: {registered}" if registered else "")
            + f"; register yours with fx.saving.register_serializable or pass "
            f"custom_objects={{{name!r}: cls}}"
        )
    return cls


_COMPONENT_KEYS = ("activation", "initializer", "regularizer", "constraint")


def _known_component(name: str, kind: str, custom_objects) -> bool:
    """Whether a layer config's activation/initializer/regularizer/constraint name resolves."""
    if get_registered_object(name, custom_objects) is not None:
        return True
    if kind == "activation":
        if _custom_activation(name, custom_objects) is not None:
            return True
        table = {_key(k) for k in activations.ACTIVATIONS}
        table |= {_key(cls.__name__) for cls in activations.ACTIVATIONS.values()}
    else:
        table = {_key(k) for k in _builtin(kind)}
    return _key(name) in table or _key(name).removesuffix(kind) in table


def _check_components(config: dict, custom_objects, where: str) -> None:
    for key, value in config.items():
        kind = next((k for k in _COMPONENT_KEYS if key.endswith(k)), None)
        if kind is None:
            continue
        if _is_spec(value):
            name = value["class_name"]
        elif isinstance(value, str) and kind == "activation":
            name = value
        else:
            continue
        if not _known_component(name, kind, custom_objects):
            how = "fx.activations.register" if kind == "activation" else "fx.saving.register_serializable"
            raise ValueError(f"{where}: {key} names an unknown {kind} {name!r}; register yours with "
                             f"{how} or pass custom_objects={{{name!r}: cls}}")


def check_layer_spec(spec, custom_objects=None, where: str = "layer config") -> type:
    """Check a layer's (or a nested model's) ``{"class_name", "config"}`` dict, the nested
    models' whole configs included; return the class it names.

    Raises:
        ValueError: what is wrong, and where.
    """
    from flexnet.models import Functional, Sequential

    name, config = _check_spec(spec, where)
    cls = _layer_class(name, custom_objects, where)
    if issubclass(cls, Sequential):
        _check_sequential(config, custom_objects, f"{where} (Sequential {config.get('name')!r})")
    elif issubclass(cls, Functional):
        _check_functional(config, custom_objects, f"{where} (Functional {config.get('name')!r})")
    else:
        _check_components(config, custom_objects, where)
    return cls


def check_model_config(cls: type, config, custom_objects=None) -> dict:
    """Check a whole Sequential or functional config before anything is built.

    Returns:
        ``custom_objects`` checked (``{}`` for None).

    Raises:
        ValueError: what is wrong, and where.
        TypeError: ``custom_objects`` is not a dict of names to classes.
    """
    from flexnet.models import Sequential

    custom_objects = _check_custom_objects(custom_objects)
    check_layer_spec({"class_name": "Sequential" if issubclass(cls, Sequential) else "Functional",
                      "config": config}, custom_objects, "model config")
    return custom_objects


def _check_keys(config: dict, required: set, optional: set, where: str) -> None:
    missing = sorted(required - set(config))
    unknown = sorted(set(config) - required - optional)
    if missing:
        raise ValueError(f"{where} has no {missing}")
    if unknown:
        raise ValueError(f"{where} has unknown keys {unknown}; it takes {sorted(required | optional)}")


def _check_name(config: dict, where: str) -> None:
    name = config.get("name")
    if name is not None and (not isinstance(name, str) or not name):
        raise ValueError(f"{where}: name must be a non-empty string, got {_short(name)}")


def _check_sequential(config, custom_objects, where: str) -> None:
    if not isinstance(config, dict):
        raise ValueError(f"{where} must be a dict, got {_short(config)}")
    _check_keys(config, {"layers"}, {"name", "build_input_shape"}, where)
    _check_name(config, where)
    specs = config["layers"]
    if not isinstance(specs, list):
        raise ValueError(f"{where}: layers must be a list, got {_short(specs)}")
    names = []
    for i, spec in enumerate(specs):
        check_layer_spec(spec, custom_objects, f"{where}, layer {i}")
        layer_name = spec["config"].get("name")
        if layer_name is not None and layer_name in names:
            raise ValueError(f"{where}: two layers are named {layer_name!r}")
        names.append(layer_name)
    shape = config.get("build_input_shape")
    if shape is not None and (
        not isinstance(shape, list) or len(shape) < 2 or shape[0] is not None
        or any(isinstance(d, bool) or not isinstance(d, int) or d <= 0 for d in shape[1:])
    ):
        raise ValueError(f"{where}: build_input_shape must be [None, d1, ...] with positive ints, "
                         f"got {_short(shape)}")


def _check_ref(ref, nodes_of: dict, where: str) -> tuple[str, int]:
    """``[layer_name, node_index, tensor_index]`` naming a node that exists."""
    if (not isinstance(ref, list) or len(ref) != 3 or not isinstance(ref[0], str)
            or any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in ref[1:])):
        raise ValueError(f"{where}: a tensor reference is [layer_name, node_index, tensor_index], "
                         f"got {_short(ref)}")
    name, index, tensor = ref
    if name not in nodes_of:
        raise ValueError(f"{where} refers to layer {name!r}, which is not in the model's layers")
    if index >= nodes_of[name]:
        raise ValueError(f"{where} refers to node {index} of layer {name!r}, which has "
                         f"{nodes_of[name]} node(s)")
    if tensor != 0:
        raise ValueError(f"{where} refers to output {tensor} of layer {name!r}; layers have one output")
    return name, index


def _check_functional(config, custom_objects, where: str) -> None:
    if not isinstance(config, dict):
        raise ValueError(f"{where} must be a dict, got {_short(config)}")
    _check_keys(config, {"layers", "input_layers", "output_layers"}, {"name"}, where)
    _check_name(config, where)
    entries = config["layers"]
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{where}: layers must be a non-empty list, got {_short(entries)}")
    nodes_of: dict[str, int] = {}
    inputs = set()
    for i, entry in enumerate(entries):
        label = f"{where}, layer {i}"
        if not isinstance(entry, dict):
            raise ValueError(f"{label} must be a dict, got {_short(entry)}")
        _check_keys(entry, {"class_name", "config", "name", "inbound_nodes"}, set(), label)
        name = entry["name"]
        if not isinstance(name, str) or not name:
            raise ValueError(f"{label}: name must be a non-empty string, got {_short(name)}")
        label = f"{where}, layer {name!r}"
        if name in nodes_of:
            raise ValueError(f"{where}: two layers are named {name!r}")
        cls = check_layer_spec({"class_name": entry["class_name"], "config": entry["config"]},
                               custom_objects, label)
        if entry["config"].get("name", name) != name:
            raise ValueError(f"{label}: its config names it {entry['config']['name']!r}")
        nodes = entry["inbound_nodes"]
        if not isinstance(nodes, list) or any(not isinstance(n, list) or not n for n in nodes):
            raise ValueError(f"{label}: inbound_nodes must be a list of nodes, each a non-empty list "
                             f"of [layer_name, node_index, tensor_index], got {_short(nodes)}")
        if issubclass(cls, InputLayer):
            if nodes:
                raise ValueError(f"{label}: an InputLayer has no inbound nodes, got {_short(nodes)}")
            inputs.add(name)
            nodes_of[name] = 1
        elif not nodes:
            raise ValueError(f"{label} is never called (no inbound_nodes)")
        else:
            nodes_of[name] = len(nodes)
    wanted = []
    for entry in entries:
        for k, node in enumerate(entry["inbound_nodes"]):
            wanted.append([_check_ref(ref, nodes_of, f"{where}, layer {entry['name']!r} node {k}")
                           for ref in node])
    for key in ("input_layers", "output_layers"):
        refs = config[key]
        if not isinstance(refs, list) or not refs:
            raise ValueError(f"{where}: {key} must be a non-empty list of [layer_name, node_index, "
                             f"tensor_index], got {_short(refs)}")
        for ref in refs:
            name, _ = _check_ref(ref, nodes_of, f"{where}, {key}")
            if key == "input_layers" and name not in inputs:
                raise ValueError(f"{where}: input_layers names {name!r}, which is not an InputLayer")
    if len({ref[0] for ref in config["input_layers"]}) != len(config["input_layers"]):
        raise ValueError(f"{where}: input_layers lists an input twice")
    # Every node must be computable from the inputs: no cycles, no reference to a node that
    # is never made. Replays the construction on names only.
    made = {(name, 0) for name in inputs}
    done = {entry["name"]: 0 for entry in entries if entry["name"] not in inputs}
    progress = True
    while progress:
        progress = False
        for entry in entries:
            name, nodes = entry["name"], entry["inbound_nodes"]
            while name in done and done[name] < len(nodes) and all(
                    (ref[0], ref[1]) in made for ref in nodes[done[name]]):
                made.add((name, done[name]))
                done[name] += 1
                progress = True
    for entry in entries:
        name = entry["name"]
        if name in done and done[name] < len(entry["inbound_nodes"]):
            k = done[name]
            missing = [ref for ref in entry["inbound_nodes"][k] if (ref[0], ref[1]) not in made]
            raise ValueError(
                f"{where}: node {k} of layer {name!r} reads {missing}, which no node computes "
                "from the inputs (the graph has a cycle)"
            )


def deserialize_layer(spec, custom_objects=None, *, backend=None, device=None, dtype=None):
    """A new layer or model from :func:`serialize_layer`'s dict, checked first.

    Args:
        spec: ``{"class_name": ..., "config": {...}}``.
        custom_objects: class name -> class, for classes that are not registered.
        backend, device, dtype: where a model (a nested model included) is built.

    Raises:
        ValueError: an unknown class, a malformed config, or one the class refuses.
    """
    custom_objects = _check_custom_objects(custom_objects)
    cls = check_layer_spec(spec, custom_objects)
    return build_layer(cls, spec, custom_objects, backend=backend, device=device, dtype=dtype)


def build_layer(cls, spec, custom_objects, *, backend=None, device=None, dtype=None,
                where: str = "layer config"):
    """The layer (or model) of class ``cls`` from an already checked ``spec``."""
    from flexnet.models import Model

    config = dict(spec["config"])
    if issubclass(cls, Model):
        return cls.from_config(config, custom_objects, backend=backend, device=device, dtype=dtype)
    return _instantiate(cls, config, custom_objects, f"{where} {config.get('name', spec['class_name'])!r}")


# ---------------------------------------------------------------------------
# The compile config.


def _plain_number(value, where: str):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where} must be a number, got {_short(value)}")
    return float(value)


def _map_spec(spec, fn, where: str):
    """``fn`` applied to one entry, or to each entry of a list or a dict keyed by output."""
    if isinstance(spec, dict) and not _is_spec(spec):
        return {k: fn(v, f"{where}[{k!r}]") for k, v in spec.items()}
    if isinstance(spec, (list, tuple)):
        return [fn(v, f"{where}[{i}]") for i, v in enumerate(spec)]
    return fn(spec, where)


def compile_config(model) -> dict | None:
    """What ``model.compile`` was given, serialized; None for an uncompiled model."""
    if not model.compiled:
        return None

    def metric(m, where):
        if isinstance(m, (list, tuple, dict)) and not isinstance(m, metrics.Metric):
            return _map_spec(m, metric, where)
        return m if isinstance(m, str) else serialize_object(m)

    weights = model.loss_weights
    return {
        "optimizer": serialize_object(model.optimizer),
        "loss": _map_spec(model.loss, lambda loss, where: serialize_object(loss), "loss"),
        "metrics": None if model._metric_spec is None else _map_spec(model._metric_spec, metric,
                                                                    "metrics"),
        "loss_weights": None if weights is None else _map_spec(weights, _plain_number, "loss_weights"),
    }


def deserialize_compile(config, custom_objects=None, where: str = "compile config") -> dict:
    """``model.compile`` keyword arguments from :func:`compile_config`'s dict.

    Raises:
        ValueError: a malformed config or an unknown class.
    """
    if not isinstance(config, dict):
        raise ValueError(f"{where} must be a dict, got {_short(config)}")
    _check_keys(config, {"optimizer", "loss"}, {"metrics", "loss_weights"}, where)

    def loss(spec, at):
        return deserialize_object(spec, "loss", custom_objects, at)

    def metric(spec, at):
        if isinstance(spec, str):
            return spec
        if _is_spec(spec):
            return deserialize_object(spec, "metric", custom_objects, at)
        if isinstance(spec, (list, dict)):
            return _map_spec(spec, metric, at)
        raise ValueError(f"{at}: a metric is a name or a {{'class_name', 'config'}} dict, got "
                         f"{_short(spec)}")

    def weight(value, at):
        try:
            return _plain_number(value, at)
        except TypeError as exc:
            raise ValueError(str(exc)) from None

    if not isinstance(config["loss"], (dict, list)):
        raise ValueError(f"{where}: loss must be a loss config, a list or a dict of them, got "
                         f"{_short(config['loss'])}")
    metric_spec = config.get("metrics")
    weights = config.get("loss_weights")
    return {
        "optimizer": deserialize_object(config["optimizer"], "optimizer", custom_objects,
                                        f"{where}: optimizer"),
        "loss": _map_spec(config["loss"], loss, f"{where}: loss"),
        "metrics": None if metric_spec is None else metric(metric_spec, f"{where}: metrics"),
        "loss_weights": None if weights is None else _map_spec(weights, weight, f"{where}: loss_weights"),
    }


# ---------------------------------------------------------------------------
# Optimizer state: nested dicts/lists/tuples of arrays, as JSON naming archive entries.


def _encode_state(node, arrays: dict, where: str):
    if node is None or isinstance(node, (bool, str)):
        return node
    if isinstance(node, numbers.Real):
        return float(node) if isinstance(node, float) else int(node)
    if isinstance(node, np.ndarray):
        if node.dtype.kind not in "biuf":
            raise TypeError(f"{where} is an array of dtype {node.dtype}; only numbers can be saved")
        key = f"optimizer_{len(arrays):04d}"
        arrays[key] = node
        return {"array": key}
    if isinstance(node, dict):
        if not all(isinstance(k, str) for k in node):
            raise TypeError(f"{where} has non-string keys {list(node)}; they cannot be saved")
        return {"dict": {k: _encode_state(v, arrays, f"{where}[{k!r}]") for k, v in node.items()}}
    if isinstance(node, (list, tuple)):
        tag = "list" if isinstance(node, list) else "tuple"
        return {tag: [_encode_state(v, arrays, f"{where}[{i}]") for i, v in enumerate(node)]}
    raise TypeError(f"{where} is a {type(node).__name__}, which cannot be saved")


def _decode_state(node, arrays: dict, where: str):
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    if isinstance(node, dict) and len(node) == 1:
        ((tag, value),) = node.items()
        if tag == "array" and isinstance(value, str):
            if value not in arrays:
                raise ValueError(f"{where} refers to the missing array entry {value!r}")
            if arrays[value].dtype.kind not in "biuf":
                raise ValueError(f"{where}: entry {value!r} is not a numeric array")
            return arrays[value]
        if tag == "dict" and isinstance(value, dict):
            return {k: _decode_state(v, arrays, f"{where}[{k!r}]") for k, v in value.items()}
        if tag in ("list", "tuple") and isinstance(value, list):
            items = [_decode_state(v, arrays, f"{where}[{i}]") for i, v in enumerate(value)]
            return items if tag == "list" else tuple(items)
    raise ValueError(f"{where} is malformed: {_short(node)}")


# ---------------------------------------------------------------------------
# Weights.


def _weight_entries(model) -> list[tuple[str, str, object]]:
    """``(layer name, weight name, live array)`` for every weight, in get_weights order."""
    out = []
    for layer in model._flat_layers():
        for store in (layer.params, layer.buffers):
            for key, value in store.items():
                out.append((layer.name, key, value))
    return out


def weights_payload(model) -> tuple[list[dict], dict[str, np.ndarray]]:
    """The weight index (names, shapes, dtypes) and arrays of a built model."""
    index, arrays = [], {}
    for i, (layer, key, value) in enumerate(_weight_entries(model)):
        host = model.backend.to_numpy(value)
        name = f"weight_{i:04d}"
        index.append({"layer": layer, "name": key, "shape": list(host.shape),
                      "dtype": str(host.dtype), "entry": name})
        arrays[name] = host
    return index, arrays


def _check_weight_index(index, arrays, path) -> None:
    if not isinstance(index, list):
        raise ValueError(f"{path!r} is corrupted: its weight index is {_short(index)}, not a list")
    for spec in index:
        if not isinstance(spec, dict) or not isinstance(spec.get("entry"), str) \
                or spec["entry"] not in arrays:
            raise ValueError(f"{path!r} is corrupted: weight entry {_short(spec)} is missing")
        if arrays[spec["entry"]].dtype.kind != "f":
            raise ValueError(f"{path!r}: weight {spec.get('layer')}/{spec.get('name')} is not a float "
                             f"array ({arrays[spec['entry']].dtype})")


def restore_weights(model, index, arrays, path) -> None:
    """Check a weight index against a built model, then set every weight (all or nothing)."""
    _check_weight_index(index, arrays, path)
    entries = _weight_entries(model)
    if len(index) != len(entries):
        raise ValueError(f"{path!r} holds {len(index)} weights but model {model.name!r} has "
                         f"{len(entries)}")
    values = []
    for spec, (layer, key, live) in zip(index, entries):
        value = arrays[spec["entry"]]
        if tuple(value.shape) != tuple(live.shape):
            raise ValueError(
                f"{path!r}: weight {spec.get('layer')}/{spec.get('name')} has shape "
                f"{tuple(value.shape)} ({value.dtype}) but layer {layer!r} expects {key} of shape "
                f"{tuple(live.shape)}"
            )
        values.append(value)
    model.set_weights(values)


def save_weights(model, path) -> None:
    """Write a built model's weights (no architecture, no optimizer) to ``path``."""
    model._require_built("save_weights()")
    index, arrays = weights_payload(model)
    write_archive(path, {"kind": "weights", "weights": index}, arrays)


def load_weights(model, path) -> None:
    """Set a built model's weights from a file written by :func:`save_weights` or ``model.save``.

    Weights are matched by position; every shape is checked before any weight
    changes, so a mismatch leaves the model as it was.
    """
    model._require_built("load_weights()")
    meta, arrays = read_archive(path, kind="weights")
    restore_weights(model, meta.get("weights"), arrays, os.fspath(path))


# ---------------------------------------------------------------------------
# Whole models.


def _check_json(value, where: str) -> None:
    """Raise TypeError naming the first value that JSON cannot hold."""
    if value is None or isinstance(value, (str, float)) or type(value) in (bool, int):
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{where} has the key {k!r}; saved configs need string keys")
            _check_json(v, f"{where}.{k}")
        return
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_json(v, f"{where}[{i}]")
        return
    hint = (" (write it as a fx.schedules.LearningRateSchedule with get_config() to save it)"
            if callable(value) else "; get_config() must return plain Python values")
    raise TypeError(f"cannot save {where}: it is a {type(value).__name__} ({_short(value)}), which a "
                    f"JSON config cannot hold{hint}")


def _check_unshared(model) -> None:
    """A layer may be shared within one model; not between a model and a nested one."""
    from flexnet.models import Model

    owners: dict[int, object] = {}
    seen_models: set[int] = set()

    def walk(m):
        if id(m) in seen_models:
            raise ValueError(f"cannot save model {model.name!r}: model {m.name!r} appears twice in it; "
                             "a saved config would rebuild two copies with separate weights")
        seen_models.add(id(m))
        for layer in m.layers:
            if isinstance(layer, Model):
                walk(layer)
                continue
            owner = owners.setdefault(id(layer), m)
            if owner is not m:
                raise ValueError(
                    f"cannot save model {model.name!r}: layer {layer.name!r} is used in model "
                    f"{owner.name!r} and in model {m.name!r}; a saved config would rebuild it "
                    "twice with separate weights"
                )

    walk(model)


def save_model(model, filepath) -> None:
    """Write a built model to one file, atomically: its config, weights, compile config and
    optimizer state (see :func:`load_model`).

    Raises:
        ValueError: an unbuilt model, or a layer shared between a model and a nested one.
        TypeError: a config value JSON cannot hold (e.g. a learning rate given as a function).
    """
    from flexnet import __version__

    model._require_built("save()")
    _check_unshared(model)
    index, arrays = weights_payload(model)
    state = None
    if model.compiled and model.optimizer is not None:
        snapshot = model.optimizer.get_state()
        state = {"iterations": snapshot["iterations"],
                 "state": _encode_state(snapshot["state"], arrays, "the optimizer state")}
    meta = {
        "kind": "model",
        "flexnet_version": __version__,
        "backend": model.backend.name,
        "device": str(model.backend.device),
        "dtype": model.dtype,
        "model": serialize_layer(model),
        "compile": compile_config(model),
        "optimizer": state,
        "weights": index,
    }
    _check_json(meta["model"], f"model {model.name!r}: config")
    _check_json(meta["compile"], f"model {model.name!r}: compile config")
    write_archive(filepath, meta, arrays)


def load_model(filepath, custom_objects: dict | None = None, compile: bool = True, *,
               backend=None, device=None, dtype=None):
    """Rebuild a model saved by ``model.save(path)``: architecture, weights, and (with
    ``compile``) its compile settings and optimizer state, so that ``fit`` continues exactly.

    Loading executes no code: the file is read with ``allow_pickle=False`` and every
    class is looked up by name; the whole config is checked before anything is built.

    Args:
        filepath: the file.
        custom_objects: class name -> class for user classes that were not registered
            with :func:`register_serializable`.
        compile: compile the model as it was saved (and restore the optimizer's state);
            False returns it uncompiled.
        backend, device: where to build it; default :func:`flexnet.get_backend` (not the
            backend it was saved from).
        dtype: ``"float32"`` or ``"float64"``; default the dtype it was saved in.

    Returns:
        the model, built (and compiled if it was and ``compile``).

    Raises:
        FileNotFoundError: no file at ``filepath``.
        ValueError: an empty, truncated, corrupted or foreign file, one of a newer format,
            a weights-only file, or a config that names unknown classes or is malformed.

    Example::

        model.save("model.flexnet")
        model = fx.models.load_model("model.flexnet")
        model.fit(x, y, epochs=20, initial_epoch=10)   # continues the same run
    """
    from flexnet.models import Model

    path = os.fspath(filepath)
    custom_objects = _check_custom_objects(custom_objects)
    meta, arrays = read_archive(path, kind="model")
    _check_keys(meta, {"format", "version", "kind", "model", "weights", "dtype"},
                {"flexnet_version", "backend", "device", "compile", "optimizer"}, f"{path!r} metadata")
    if meta["dtype"] not in ("float32", "float64"):
        raise ValueError(f"{path!r}: unknown dtype {meta['dtype']!r}")
    cls = check_layer_spec(meta["model"], custom_objects, f"{path!r}: the model config")
    if not issubclass(cls, Model):
        raise ValueError(f"{path!r}: the config describes a {meta['model']['class_name']}, not a model")
    _check_weight_index(meta["weights"], arrays, path)
    training, state = None, None
    if compile and meta.get("compile") is not None:
        training = deserialize_compile(meta["compile"], custom_objects, f"{path!r}: the compile config")
        saved = meta.get("optimizer")
        if saved is not None:
            if not isinstance(saved, dict) or set(saved) != {"iterations", "state"}:
                raise ValueError(f"{path!r}: malformed optimizer state {_short(saved)}")
            state = {"iterations": saved["iterations"],
                     "state": _decode_state(saved["state"], arrays, f"{path!r}: the optimizer state")}
    try:
        model = build_layer(cls, meta["model"], custom_objects, backend=backend, device=device,
                            dtype=dtype or meta["dtype"])
    except TypeError as exc:
        raise ValueError(f"{path!r}: cannot rebuild the model: {exc}") from None
    if not model.built:
        raise ValueError(f"{path!r}: the model config does not say its input shape")
    restore_weights(model, meta["weights"], arrays, path)
    if training is not None:
        try:
            model.compile(**training)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{path!r}: cannot compile the model as saved: {exc}") from None
        if state is not None:
            model.optimizer.set_state(state, model.trainable_weights)
    return model
