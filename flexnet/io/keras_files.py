"""Keras 3 ``.keras`` files, both ways: ``fx.models.load_model("m.keras")`` reads one that Keras
wrote, and ``model.save("m.keras")`` writes one that ``keras.models.load_model`` reads.

A ``.keras`` file is a zip of ``config.json`` (the model's config in Keras's format, with
its compile config), ``metadata.json`` and ``model.weights.h5``, an HDF5 file (read and
written with h5py) that holds each layer's variables at ``layers/<name>/vars/<i>``, where
``<name>`` is the layer's class name in snake case, numbered in the order Keras lists the
model's layers (depth first from the outputs for a functional model). Configs translate
key by key (:mod:`flexnet.io.keras_config`); what one side cannot represent is a
ValueError naming it. Reading executes no code and checks the whole config before
anything is built; writing is atomic. The optimizer's variables are not carried
(Keras's and flexnet's slot layouts differ): a loaded model compiles with a fresh
optimizer state. h5py is needed (``pip install flexnet[keras]``).
"""

from __future__ import annotations

import collections
import datetime
import io
import json
import os
import zipfile

import numpy as np

from flexnet.io import keras_config as kc
from flexnet.io.archive import atomic_write
from flexnet.layers.base import LAYERS, snake_case
from flexnet.layers.input_layer import InputLayer
from flexnet.models import Model
from flexnet.models.config import build_layer, check_layer_spec
from flexnet.specs import short
from flexnet.version import __version__

__all__ = ["KERAS_FORMAT", "load_keras", "save_keras"]

#: The Keras version written to ``metadata.json`` (the file format of Keras 3).
KERAS_FORMAT = "3.0.0"
_CONFIG, _METADATA, _WEIGHTS = "config.json", "metadata.json", "model.weights.h5"
_MODELS = ("Sequential", "Functional")
_MAX_CONFIG_BYTES = 64 << 20
#: Keras variables a flexnet layer does not keep, stored after the ones both have: written with
#: these values, checked by shape and dropped when read. Keras 3's Normalization keeps an int32
#: ``count`` (0, "for backwards compatibility") after an adapted layer's mean and variance.
_KERAS_ONLY_VARIABLES = {"Normalization": (np.zeros((), np.int32),)}


def _h5py():
    try:
        import h5py
    except ImportError as exc:
        raise ImportError(f"Keras files need the h5py package ({exc}): pip install flexnet[keras]") from None
    return h5py


def _fail(where: str, message: str):
    raise ValueError(f"{where}: {message}")


# ---------------------------------------------------------------------------
# Keras's order of a functional model's layers (``keras.src.ops.function.map_graph``).


def _refs(value, where: str) -> list[list]:
    """``input_layers``/``output_layers``: a list of ``[name, node, tensor]`` (or one of them)."""
    if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str):
        value = [value]
    if not isinstance(value, list) or not value or any(
            not isinstance(r, list) or len(r) != 3 or not isinstance(r[0], str) for r in value):
        _fail(where, f"expected a list of [layer_name, node_index, tensor_index], got {short(value)}")
    return value


def _history(tensor, where: str) -> list:
    config = tensor.get("config") if isinstance(tensor, dict) else None
    if not isinstance(config, dict) or tensor.get("class_name") != "__keras_tensor__" or not (
            isinstance(config.get("keras_history"), list) and len(config["keras_history"]) == 3):
        _fail(where, f"a node reads {short(tensor)}, not a Keras tensor")
    return list(config["keras_history"])


def _node_tensors(node, where: str) -> tuple[list, bool]:
    """The ``[name, node, tensor]`` each input of one Keras call reads, and whether the call took
    a list."""
    if not isinstance(node, dict) or set(node) - {"args", "kwargs"}:
        _fail(where, f"malformed inbound node {short(node)}")
    args, kwargs = node.get("args", []), node.get("kwargs") or {}
    extra = {k: v for k, v in kwargs.items() if not (k in ("training", "mask") and v in (None, False))}
    if extra:
        _fail(where, f"the layer is called with {short(extra)}, which flexnet cannot pass")
    if len(args) != 1:
        _fail(where, f"the layer is called with {len(args)} positional arguments; flexnet passes one")
    takes_list = isinstance(args[0], list)
    return [_history(t, where) for t in (args[0] if takes_list else [args[0]])], takes_list


def keras_order(config: dict, where: str) -> list[dict]:
    """A functional config's layers in the order of Keras's ``model.layers``: by decreasing
    depth from the outputs, ties in the order a depth-first walk from the outputs meets them."""
    entries = {entry["name"]: entry for entry in config["layers"]}
    parents = {}
    for name, entry in entries.items():
        for k, node in enumerate(entry.get("inbound_nodes") or []):
            parents[(name, k)] = [(h[0], h[1]) for h in _node_tensors(node, f"{where}, layer {name!r}")[0]]
    finished, order, first_seen = set(), [], {}

    def visit(key):
        if key in finished:
            return
        if key[0] not in entries:
            _fail(where, f"a node reads layer {key[0]!r}, which is not in the model's layers")
        first_seen.setdefault(key[0], len(first_seen))
        for parent in parents.get(key, []):
            visit(parent)
        finished.add(key)
        order.append(key)

    for ref in _refs(config["output_layers"], f"{where}, output_layers"):
        visit((ref[0], ref[1]))
    node_depth, layer_depth = {}, {}
    for key in reversed(order):
        depth = max(node_depth.setdefault(key, 0), layer_depth.get(key[0], 0))
        layer_depth[key[0]] = node_depth[key] = depth
        for parent in parents.get(key, []):
            node_depth[parent] = max(depth + 1, node_depth.get(parent, 0))
    for ref in _refs(config["input_layers"], f"{where}, input_layers"):  # inputs no output reads
        if ref[0] not in layer_depth:
            layer_depth[ref[0]], first_seen[ref[0]] = 0, -1
    by_depth = collections.defaultdict(list)
    for name, depth in layer_depth.items():
        by_depth[depth].append(name)
    return [entries[name] for depth in sorted(by_depth, reverse=True)
            for name in sorted(by_depth[depth], key=first_seen.__getitem__)]


def _weight_groups(spec: dict, where: str, prefix: str = "", names: tuple = ()):
    """``(layer names from the top model down, h5 path of its vars group, is a model, Keras class
    name)`` for every layer and model of a Keras model spec, in Keras's order."""
    config = spec["config"]
    if spec["class_name"] == "Sequential":
        layers = [entry for entry in config["layers"] if entry["class_name"] != "InputLayer"]
    else:
        layers = keras_order(config, where)
    yield names, f"{prefix}vars", True, spec["class_name"]
    used: dict[str, int] = {}
    for entry in layers:
        base = snake_case(entry["class_name"])
        used[base] = used.get(base, -1) + 1
        path = f"{prefix}layers/{base}" + (f"_{used[base]}" if used[base] else "")
        name = entry["config"]["name"] if entry["class_name"] in _MODELS else entry.get(
            "name", entry["config"]["name"])
        if entry["class_name"] in _MODELS:
            yield from _weight_groups(entry, f"{where}, model {name!r}", path + "/", (*names, name))
        else:
            yield (*names, name), f"{path}/vars", False, entry["class_name"]


def _find(model, names: tuple):
    for name in names:
        model = model.get_layer(name)
    return model


# ---------------------------------------------------------------------------
# Reading.


def _input_shape(config: dict, where: str) -> list:
    shape = config.get("batch_shape", config.get("batch_input_shape"))
    where = f"{where} {config.get('name')!r} (InputLayer)"
    if config.get("dtype") not in (None, "float32", "float64"):
        _fail(where, f"dtype {short(config['dtype'])}: flexnet models take float32 or float64 inputs")
    if not isinstance(shape, list) or len(shape) < 2 or shape[0] is not None:
        _fail(where, f"batch_shape must be [null, d1, ...] (flexnet fixes no batch size), got {short(shape)}")
    fixed = {"sparse": False, "ragged": False, "optional": False}
    for key, value in config.items():
        if key in fixed and value != fixed[key]:
            _fail(where, f"{key}={short(value)} has no flexnet equivalent")
        if key not in (*fixed, "batch_shape", "batch_input_shape", "dtype", "name"):
            _fail(where, f"config key {key!r} has no flexnet equivalent")
    return shape


def _layer_from_keras(entry: dict, where: str, dtypes: set) -> dict:
    if entry.get("class_name") in _MODELS:
        return _model_from_keras(entry, where, dtypes)
    return kc.layer_from_keras(entry, f"{where}, layer", dtypes)


def _model_from_keras(spec, where: str, dtypes: set) -> dict:
    """A Keras model spec as a flexnet model spec ``{"class_name", "config"}``."""
    class_name = spec.get("class_name") if isinstance(spec, dict) else None
    config = spec.get("config") if isinstance(spec, dict) else None
    if class_name not in (*_MODELS, "Model") or not isinstance(config, dict):
        _fail(where, f"the model is a {class_name!r}; flexnet reads Keras's Sequential and functional models "
                     "(a subclassed model's code is not in its file)")
    name = config.get("name")
    where = f"{where}, model {name!r}"
    kc.policy_dtype(config.get("dtype"), where)  # checked; the layers' policies give the dtype
    if config.get("trainable", True) is not True:
        _fail(where, "trainable=False on a whole model has no flexnet equivalent (set it on its layers)")
    if not isinstance(config.get("layers"), list):
        _fail(where, f"layers must be a list, got {short(config.get('layers'))}")
    if class_name == "Sequential":
        return _sequential_from_keras(config, name, where, dtypes)
    layers = []
    for entry in config["layers"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            _fail(where, f"malformed layer entry {short(entry)}")
        label = f"{where}, layer {entry['name']!r}"
        if entry.get("class_name") == "InputLayer":
            shape = _input_shape(entry.get("config") or {}, f"{where}, layer")
            layers.append({"class_name": "InputLayer", "config": {"name": entry["name"], "shape": shape[1:]},
                           "name": entry["name"], "inbound_nodes": []})
            continue
        layer = _layer_from_keras(entry, where, dtypes)
        nodes = [_node_tensors(node, label)[0] for node in entry.get("inbound_nodes", [])]
        layers.append({**layer, "name": entry["name"], "inbound_nodes": nodes})
    return {"class_name": "Functional", "config": {
        "name": name, "layers": layers,
        "input_layers": _refs(config.get("input_layers"), f"{where}, input_layers"),
        "output_layers": _refs(config.get("output_layers"), f"{where}, output_layers")}}


def _sequential_from_keras(config: dict, name, where: str, dtypes: set) -> dict:
    shape, layers = config.get("build_input_shape"), []
    for i, entry in enumerate(config["layers"]):
        if isinstance(entry, dict) and entry.get("class_name") == "InputLayer":
            if i:
                _fail(where, "an InputLayer can only come first in a Sequential model")
            shape = _input_shape(entry.get("config") or {}, f"{where}, layer")
        else:
            layers.append(_layer_from_keras(entry, where, dtypes))
    if shape is None:
        _fail(where, "the model has no input shape (no InputLayer, no build_input_shape): it was never built")
    return {"class_name": "Sequential",
            "config": {"name": name, "layers": layers, "build_input_shape": shape}}


def _read_zip(path: str) -> tuple[dict, bytes]:
    try:
        with zipfile.ZipFile(path) as zf:
            members = {info.filename: info for info in zf.infolist()}
            for member in (_CONFIG, _WEIGHTS):
                if member not in members:
                    _fail(repr(path), f"not a Keras file: it has no {member} (it holds {sorted(members)})")
            if members[_CONFIG].file_size > _MAX_CONFIG_BYTES:
                _fail(repr(path), f"{_CONFIG} claims {members[_CONFIG].file_size} bytes; refusing it")
            config = json.loads(zf.read(_CONFIG).decode("utf-8"))
            weights = zf.read(_WEIGHTS)
    except (zipfile.BadZipFile, OSError, EOFError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ValueError(f"{path!r} is not a readable Keras file ({type(exc).__name__}: {exc})") from None
    if not isinstance(config, dict):
        _fail(repr(path), f"{_CONFIG} holds {short(config)}, not a model config")
    return config, weights


def _read_weights(h5py, data: bytes, spec: dict, model, where: str) -> list:
    """``(flexnet layer, [arrays])`` for every layer with weights, checked against the file's
    names and the layer's shapes."""
    try:
        f = h5py.File(io.BytesIO(data), "r")
    except OSError as exc:
        raise ValueError(f"{where}: {_WEIGHTS} is not a readable HDF5 file ({exc})") from None
    out = []
    with f:
        for names, path, is_model, class_name in _weight_groups(spec, where):
            if is_model:
                continue
            layer = _find(model, names)
            group = f.get(path)
            if group is None:
                if layer.weights:
                    _fail(where, f"{_WEIGHTS} has no group {path!r} for layer {names[-1]!r}")
                continue
            saved = group.attrs.get("name")
            if saved is not None and saved != names[-1]:
                _fail(where, f"{_WEIGHTS} holds layer {saved!r} at {path!r}, where the config puts layer "
                             f"{names[-1]!r}")
            arrays = [group[str(i)][()] for i in range(len(group))]
            own, extra = arrays[:len(layer.weights)], arrays[len(layer.weights):]
            expected = _KERAS_ONLY_VARIABLES.get(class_name, ()) if layer.weights else ()
            if len(extra) == len(expected) and all(a.shape == e.shape for a, e in zip(extra, expected)):
                arrays = own
            if len(arrays) != len(layer.weights):
                _fail(where, f"layer {names[-1]!r} has {len(layer.weights)} weights, the file {len(arrays)}")
            out.append((layer, arrays))
    return out


def load_keras(filepath, custom_objects=None, compile: bool = True, *, backend=None, device=None,
               dtype=None):
    """The body of ``fx.models.load_model`` for a ``.keras`` path (see :func:`flexnet.models.load_model`).

    The dtype is the file's (its layers' dtype policies) unless ``dtype`` says otherwise.
    """
    h5py = _h5py()
    path = os.fspath(filepath)
    if custom_objects:
        _fail(repr(path), "custom_objects do not apply to Keras files: flexnet reads Keras's own layers")
    config, data = _read_zip(path)
    where = repr(path)
    dtypes: set = set()
    try:
        spec = _model_from_keras(config, where, dtypes)
        if len(dtypes) > 1:
            _fail(where, f"the layers compute in {sorted(dtypes)}; a flexnet model has one dtype")
        training = None
        if compile and config.get("compile_config"):
            training = kc.compile_from_keras(config["compile_config"], f"{where}: compile_config")
        try:
            cls = check_layer_spec(spec, {}, f"{where}: the model config")
            model = build_layer(cls, spec, {}, backend=backend, device=device,
                                dtype=dtype or (dtypes.pop() if dtypes else None))
        except ValueError as exc:
            raise ValueError(f"{where}: cannot rebuild the model: {exc}") from None
        weights = _read_weights(h5py, data, config, model, where)
    except (KeyError, TypeError, AttributeError, IndexError) as exc:  # a config of the wrong shape
        raise ValueError(f"{where}: a malformed Keras model config ({type(exc).__name__}: {exc})") from None
    for layer, arrays in weights:
        layer.set_weights(arrays)
    if training is not None:
        try:
            model.compile(**training)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: cannot compile the model as saved: {exc}") from None
    return model


# ---------------------------------------------------------------------------
# Writing.


def _shape(value) -> list:
    return [list(s) for s in value] if isinstance(value, list) else list(value)


def _layer_to_keras(layer, input_shape, dtype: str, where: str) -> dict:
    """A layer (or nested model) of a built model as a Keras layer spec, with its build shape."""
    if isinstance(layer, Model):
        return _model_to_keras(layer, where)
    spec = LAYERS.serialize(layer)
    out = kc.layer_to_keras(spec["class_name"], spec["config"], dtype, f"{where}, layer")
    return {**out, "build_config": {"input_shape": _shape(input_shape)}}


def _input_layer(name: str, shape, dtype: str) -> dict:
    return {"module": "keras.layers", "class_name": "InputLayer",
            "config": {"batch_shape": list(shape), "dtype": dtype, "sparse": False, "ragged": False,
                       "name": name, "optional": False}, "registered_name": None}


def _shapes(model) -> tuple[dict, dict]:
    """``{id(op): input shape}`` and ``{id(op): output shape}`` of every operation of the graph
    (a list of shapes for an operation that takes a list)."""
    graph, slots = model.graph, dict(zip(model.graph.input_slots, model.input_shapes))
    inputs, outputs = {}, {}
    for step in graph.steps:
        ins = [slots[s] for s in step.ins]
        inputs[id(step.op)] = ins if step.takes_list else ins[0]
        outputs[id(step.op)] = slots[step.out] = (step.op.output_shapes[0] if isinstance(step.op, Model)
                                                 else step.op.output_shape)
    return inputs, outputs


def _model_to_keras(model, where: str) -> dict:
    where = f"{where}, model {model.name!r}"
    if model.graph.is_chain:
        return _sequential_to_keras(model, where)
    return _functional_to_keras(model, where)


def _sequential_to_keras(model, where: str) -> dict:
    taken = {layer.name for layer in model.layers}
    name = next(n for n in ("input_layer", *(f"input_layer_{i}" for i in range(1, len(taken) + 2)))
                if n not in taken)
    inputs, _ = _shapes(model)
    layers = [_input_layer(name, model.input_shape, model.dtype)]
    layers += [_layer_to_keras(layer, inputs[id(layer)], model.dtype, where) for layer in model.layers]
    shape = list(model.input_shape)
    return {"module": "keras", "class_name": "Sequential", "registered_name": None,
            "config": {"name": model.name, "trainable": True, "dtype": kc.policy(model.dtype),
                       "layers": layers, "build_input_shape": shape},
            "build_config": {"input_shape": shape}}


def _functional_to_keras(model, where: str) -> dict:
    config = model.get_config()
    inputs, outputs = _shapes(model)
    shapes = {layer.name: (None, *layer.input_shape) if isinstance(layer, InputLayer) else outputs[id(layer)]
              for layer in model.layers}

    def tensor(ref):
        return {"class_name": "__keras_tensor__", "config": {"shape": list(shapes[ref[0]]),
                                                             "dtype": model.dtype, "keras_history": ref}}

    layers = []
    for entry, layer in zip(config["layers"], model.layers):
        if isinstance(layer, InputLayer):
            layers.append({**_input_layer(layer.name, (None, *layer.input_shape), model.dtype),
                           "name": layer.name, "inbound_nodes": []})
            continue
        as_list = getattr(layer, "accepts_list", False) or any(len(n) > 1 for n in entry["inbound_nodes"])
        nodes = [{"args": [[tensor(r) for r in node] if as_list else tensor(node[0])], "kwargs": {}}
                 for node in entry["inbound_nodes"]]
        layers.append({**_layer_to_keras(layer, inputs[id(layer)], model.dtype, where), "name": layer.name,
                       "inbound_nodes": nodes})
    keras_config = {"name": model.name, "trainable": True, "layers": layers,
                    "input_layers": config["input_layers"], "output_layers": config["output_layers"]}
    keras_config["layers"] = keras_order(keras_config, where)
    return {"module": "keras.src.models.functional", "class_name": "Functional",
            "registered_name": "Functional", "config": keras_config, "build_config": {"input_shape": None}}


def _weights_h5(h5py, model, spec: dict, where: str) -> bytes:
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        for names, path, is_model, class_name in _weight_groups(spec, where):
            group = f.create_group(path)
            group.attrs["name"] = names[-1] if names else model.name
            if not is_model:
                arrays = _find(model, names).get_weights()
                arrays += _KERAS_ONLY_VARIABLES.get(class_name, ()) if arrays else ()
                for i, array in enumerate(arrays):
                    group.create_dataset(str(i), data=array)
    return buffer.getvalue()


def save_keras(model, filepath, settings: dict | None) -> None:
    """The body of ``model.save(path)`` for a ``.keras`` path: a Keras 3 file, written atomically.

    Args:
        settings: the model's compile settings, serialized (see
            :func:`flexnet.io.model_files.compile_config`), or None.

    Raises:
        ValueError: an unbuilt model, or a layer, activation, component, loss, optimizer or
            metric that Keras cannot hold (named).
    """
    h5py = _h5py()
    model._require_built("save()")
    where = f"cannot save model {model.name!r} as a Keras file"
    spec = _model_to_keras(model, where)
    spec["compile_config"] = None if settings is None else kc.compile_to_keras(
        settings["optimizer"], settings["loss"], settings["metrics"], settings["loss_weights"],
        model.output_names, f"{where}: compile config")
    weights = _weights_h5(h5py, model, spec, where)
    metadata = {"keras_version": KERAS_FORMAT, "saved_by": f"flexnet {__version__}",
                "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")}

    def write(f):
        with zipfile.ZipFile(f, "w") as zf:
            zf.writestr(_METADATA, json.dumps(metadata))
            zf.writestr(_CONFIG, json.dumps(spec))
            zf.writestr(_WEIGHTS, weights)

    atomic_write(filepath, write)
