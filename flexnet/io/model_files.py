"""Model files: ``model.save`` and :func:`load_model`, weight files, and what they hold
besides the architecture (the compile config and the optimizer's state).

A whole model stores in the archive's metadata the model's config (its layers and how
they connect, as Keras's ``get_config``), the compile config (optimizer, losses, loss
weights, metrics, weighted metrics), the weight index and the optimizer's iteration count; the arrays
are the weights and the optimizer's state. Configs name classes; loading looks the
names up in the registry (and the ``custom_objects`` given) and checks the whole
config before it builds anything. Nothing is imported or executed by name.
"""

from __future__ import annotations

import math
import numbers
import os

import numpy as np

from flexnet import metrics, registry
from flexnet.io import keras_files
from flexnet.io.archive import archive_bytes, open_archive, write_archive
from flexnet.layers.base import deferred_weights
from flexnet.models import Model
from flexnet.models.config import build_layer, check_config_size, check_layer_spec, serialize_layer
from flexnet.specs import check_custom_objects, check_keys, is_spec, short
from flexnet.version import __version__

__all__ = ["MAX_STATE_PER_WEIGHT", "load_model", "load_weights", "model_from_bytes", "model_to_bytes",
           "save_model", "save_weights", "weights_payload"]


# ---------------------------------------------------------------------------
# The compile config.


def _plain_number(value, where: str):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where} must be a number, got {short(value)}")
    return float(value)


def _map_spec(spec, fn, where: str):
    """``fn`` applied to one entry, or to each entry of a list or a dict keyed by output."""
    if isinstance(spec, dict) and not is_spec(spec):
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
        return m if isinstance(m, str) else registry.serialize(metrics.get(m))  # a loss: its mean

    weights, weighted = model.loss_weights, model._weighted_metric_spec
    return {
        "optimizer": registry.serialize(model.optimizer),
        "loss": _map_spec(model.loss, lambda loss, where: registry.serialize(loss), "loss"),
        "metrics": None if model._metric_spec is None else _map_spec(model._metric_spec, metric,
                                                                    "metrics"),
        "loss_weights": None if weights is None else _map_spec(weights, _plain_number, "loss_weights"),
        "weighted_metrics": None if weighted is None else _map_spec(weighted, metric, "weighted_metrics"),
    }


def deserialize_compile(config, custom_objects=None, where: str = "compile config") -> dict:
    """``model.compile`` keyword arguments from :func:`compile_config`'s dict.

    Raises:
        ValueError: a malformed config or an unknown class.
    """
    if not isinstance(config, dict):
        raise ValueError(f"{where} must be a dict, got {short(config)}")
    check_keys(config, {"optimizer", "loss"}, {"metrics", "loss_weights", "weighted_metrics"}, where)

    def loss(spec, at):
        return registry.deserialize("loss", spec, custom_objects, at)

    def metric(spec, at):
        if isinstance(spec, str):
            return spec
        if is_spec(spec):
            return registry.deserialize("metric", spec, custom_objects, at)
        if isinstance(spec, (list, dict)):
            return _map_spec(spec, metric, at)
        raise ValueError(f"{at}: a metric is a name or a {{'class_name', 'config'}} dict, got "
                         f"{short(spec)}")

    def weight(value, at):
        try:
            return _plain_number(value, at)
        except TypeError as exc:
            raise ValueError(str(exc)) from None

    if not isinstance(config["loss"], (dict, list)):
        raise ValueError(f"{where}: loss must be a loss config, a list or a dict of them, got "
                         f"{short(config['loss'])}")
    metric_spec, weighted = config.get("metrics"), config.get("weighted_metrics")
    weights = config.get("loss_weights")
    return {
        "optimizer": registry.deserialize("optimizer", config["optimizer"], custom_objects,
                                          f"{where}: optimizer"),
        "loss": _map_spec(config["loss"], loss, f"{where}: loss"),
        "metrics": None if metric_spec is None else metric(metric_spec, f"{where}: metrics"),
        "loss_weights": None if weights is None else _map_spec(weights, weight, f"{where}: loss_weights"),
        "weighted_metrics": None if weighted is None else metric(weighted, f"{where}: weighted_metrics"),
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


def _decode_state(node, read, where: str):
    """The state tree of :func:`_encode_state`'s JSON, each ``{"array": entry}`` replaced by
    ``read(entry, where)``."""
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    if isinstance(node, dict) and len(node) == 1:
        ((tag, value),) = node.items()
        if tag == "array" and isinstance(value, str):
            return read(value, where)
        if tag == "dict" and isinstance(value, dict):
            return {k: _decode_state(v, read, f"{where}[{k!r}]") for k, v in value.items()}
        if tag in ("list", "tuple") and isinstance(value, list):
            items = [_decode_state(v, read, f"{where}[{i}]") for i, v in enumerate(value)]
            return items if tag == "list" else tuple(items)
    raise ValueError(f"{where} is malformed: {short(node)}")


#: The optimizer's arrays in a file may hold at most this many numbers per weight value
#: (Adam with ``amsgrad`` keeps 3); a file declaring more is refused before any is read.
MAX_STATE_PER_WEIGHT = 8


def _saved_optimizer(archive) -> dict | None:
    saved = archive.meta.get("optimizer")
    if saved is not None and (not isinstance(saved, dict) or set(saved) != {"iterations", "state"}):
        raise ValueError(f"{archive.path!r}: malformed optimizer state {short(saved)}")
    return saved


def _optimizer_entries(archive, index) -> list[str]:
    """The entries the optimizer state names, their headers checked and their sizes bounded by
    the weights' (:data:`MAX_STATE_PER_WEIGHT`); none is read."""
    saved = _saved_optimizer(archive)
    if saved is None:
        return []
    where = f"{archive.path!r}: the optimizer state"
    entries: list[str] = []

    def note(entry, at):
        if entry not in archive:
            raise ValueError(f"{at} refers to the missing array entry {entry!r}")
        entries.append(entry)

    _decode_state(saved["state"], note, where)
    weight_values = sum(math.prod(spec["shape"]) for spec in index)
    total = 0
    for entry in entries:
        count = math.prod(archive.member(entry).shape)
        total += count
        if count > weight_values or total > MAX_STATE_PER_WEIGHT * weight_values:
            raise ValueError(f"{where} holds more numbers than an optimizer keeps for {weight_values} "
                             f"weight values (entry {entry!r} has {count}; at most "
                             f"{MAX_STATE_PER_WEIGHT} per weight value in all)")
    return entries


# ---------------------------------------------------------------------------
# Weights.


def _weight_slots(model) -> list[tuple[object, dict, str]]:
    """``(layer, store, key)`` for every weight, in get_weights order."""
    return [(layer, store, key) for layer in model._flat_layers() for store, key in layer._weight_slots()]


def weights_payload(model) -> tuple[list[dict], dict[str, np.ndarray]]:
    """The weight index (names, shapes, dtypes) and arrays of a built model."""
    index, arrays = [], {}
    for i, (layer, store, key) in enumerate(_weight_slots(model)):
        host = model.backend.to_numpy(store[key])
        name = f"weight_{i:04d}"
        index.append({"layer": layer.name, "name": key, "shape": list(host.shape),
                      "dtype": str(host.dtype), "entry": name})
        arrays[name] = host
    return index, arrays


def _weight_index(archive) -> list[dict]:
    """The file's weight index, each entry's header read and checked against it (no body is read).

    Raises:
        ValueError: a malformed index, an entry it names that is missing or named twice,
            or a header that disagrees with it or holds no floats.
    """
    path, index = archive.path, archive.meta.get("weights")
    if not isinstance(index, list):
        raise ValueError(f"{path!r} is corrupted: its weight index is {short(index)}, not a list")
    seen = set()
    for spec in index:
        if (not isinstance(spec, dict) or not isinstance(spec.get("entry"), str)
                or not isinstance(spec.get("shape"), list)):
            raise ValueError(f"{path!r} is corrupted: weight entry {short(spec)} is malformed")
        entry = spec["entry"]
        if entry in seen:
            raise ValueError(f"{path!r} is corrupted: its weight index names entry {entry!r} twice")
        seen.add(entry)
        if entry not in archive:
            raise ValueError(f"{path!r} is corrupted: weight entry {short(spec)} is missing")
        member = archive.member(entry)
        label = f"{spec.get('layer')}/{spec.get('name')}"
        if member.dtype.kind != "f":
            raise ValueError(f"{path!r}: weight {label} is not a float array ({member.dtype})")
        if spec["shape"] != list(member.shape) or spec.get("dtype", str(member.dtype)) != str(member.dtype):
            raise ValueError(f"{path!r} is corrupted: its index gives weight {label} the shape "
                             f"{spec['shape']} ({spec.get('dtype')}) but entry {entry!r} holds "
                             f"{list(member.shape)} ({member.dtype})")
    return index


def _check_shapes(index, slots, model, path) -> None:
    """The file's weights fit the model's, one by one (before any array is read)."""
    if len(index) != len(slots):
        raise ValueError(f"{path!r} holds {len(index)} weights but model {model.name!r} has "
                         f"{len(slots)}")
    for spec, (layer, store, key) in zip(index, slots):
        shape = tuple(store[key].shape)
        if tuple(spec["shape"]) != shape:
            raise ValueError(
                f"{path!r}: weight {spec.get('layer')}/{spec.get('name')} has shape "
                f"{tuple(spec['shape'])} ({spec.get('dtype')}) but layer {layer.name!r} expects {key} "
                f"of shape {shape}"
            )


def save_weights(model, path) -> None:
    """Write a built model's weights (no architecture, no optimizer) to ``path``."""
    model._require_built("save_weights()")
    index, arrays = weights_payload(model)
    write_archive(path, {"kind": "weights", "weights": index}, arrays)


def load_weights(model, path) -> None:
    """Set a built model's weights from a file written by :func:`save_weights` or ``model.save``.

    Weights are matched by position; every shape is checked against the file's index
    before any array is read, and every array is read before any weight changes, so an
    error leaves the model as it was.
    """
    model._require_built("load_weights()")
    with open_archive(path, kind="weights") as archive:
        index = _weight_index(archive)
        archive.check_entries([spec["entry"] for spec in index] + _optimizer_entries(archive, index))
        _check_shapes(index, _weight_slots(model), model, archive.path)
        values = [archive.read(spec["entry"]) for spec in index]
    model.set_weights(values)


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
    raise TypeError(f"cannot save {where}: it is a {type(value).__name__} ({short(value)}), which a "
                    f"JSON config cannot hold{hint}")


def _check_unshared(model) -> None:
    """A layer may be shared within one model; not between a model and a nested one."""
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
    """The body of :func:`flexnet.models.save_model` (``model.save``): a ``.keras`` path writes
    a Keras 3 file (:mod:`flexnet.io.keras_files`), any other a flexnet archive."""
    if _is_keras_path(filepath):
        keras_files.save_keras(model, filepath, compile_config(model))
        return
    write_archive(filepath, *_model_payload(model))


def model_to_bytes(model) -> bytes:
    """The bytes of the flexnet file ``model.save`` writes (for a model kept in memory, such as
    the one a pickled scikit-learn estimator carries)."""
    return archive_bytes(*_model_payload(model))


def _is_keras_path(filepath) -> bool:
    return os.fspath(filepath).lower().endswith(".keras")


def _model_payload(model) -> tuple[dict, dict]:
    """The archive metadata and arrays of a whole model."""
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
    check_config_size(meta["model"], f"cannot save model {model.name!r}: its config")
    _check_json(meta["model"], f"model {model.name!r}: config")
    _check_json(meta["compile"], f"model {model.name!r}: compile config")
    return meta, arrays


def load_model(filepath, custom_objects: dict | None = None, compile: bool = True, *,
               backend=None, device=None, dtype=None):
    """The body of :func:`flexnet.models.load_model`: a ``.keras`` path is read as a Keras 3
    file (:mod:`flexnet.io.keras_files`), any other as a flexnet archive (see :func:`_rebuild`)."""
    if _is_keras_path(filepath):
        return keras_files.load_keras(filepath, custom_objects, compile, backend=backend, device=device,
                                      dtype=dtype)
    with open_archive(filepath, kind="model") as archive:
        return _rebuild(archive, custom_objects, compile, backend, device, dtype)


def model_from_bytes(data: bytes, custom_objects: dict | None = None, compile: bool = True, *,
                     backend=None, device=None, dtype=None):
    """The model :func:`model_to_bytes` wrote, rebuilt as :func:`load_model` rebuilds a file
    (with the same checks and bounds: the bytes may come from an untrusted pickle)."""
    with open_archive("<model bytes>", kind="model", data=data) as archive:
        return _rebuild(archive, custom_objects, compile, backend, device, dtype)


def _rebuild(archive, custom_objects, compile, backend, device, dtype):
    """A model from an open flexnet archive.

    Everything is checked before anything is allocated: the metadata and config (with
    their caps), every entry's header against the index, undeclared entries refused,
    then the model is built with :func:`~flexnet.layers.base.deferred_weights` (no initial
    values drawn) and each weight's shape compared with the index. Only then are the
    arrays read, one at a time, each bounded by its header, straight into the model.
    """
    custom_objects = check_custom_objects(custom_objects)
    path, meta = archive.path, archive.meta
    check_keys(meta, {"format", "version", "kind", "model", "weights", "dtype"},
               {"flexnet_version", "backend", "device", "compile", "optimizer"}, f"{path!r} metadata")
    if meta["dtype"] not in ("float32", "float64"):
        raise ValueError(f"{path!r}: unknown dtype {short(meta['dtype'])}")
    cls = check_layer_spec(meta["model"], custom_objects, f"{path!r}: the model config")
    if not issubclass(cls, Model):
        raise ValueError(f"{path!r}: the config describes a {meta['model']['class_name']}, not a model")
    index = _weight_index(archive)
    archive.check_entries([spec["entry"] for spec in index] + _optimizer_entries(archive, index))
    training = None
    if compile and meta.get("compile") is not None:
        training = deserialize_compile(meta["compile"], custom_objects, f"{path!r}: the compile config")
    try:
        with deferred_weights():
            model = build_layer(cls, meta["model"], custom_objects, backend=backend, device=device,
                                dtype=dtype or meta["dtype"])
    except TypeError as exc:
        raise ValueError(f"{path!r}: cannot rebuild the model: {exc}") from None
    if not model.built:
        raise ValueError(f"{path!r}: the model config does not say its input shape")
    slots = _weight_slots(model)
    _check_shapes(index, slots, model, path)
    for spec, (_, store, key) in zip(index, slots):
        store[key] = model.backend.from_numpy(archive.read(spec["entry"]), model.dtype)
    saved = _saved_optimizer(archive)
    if training is not None:
        try:
            model.compile(**training)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{path!r}: cannot compile the model as saved: {exc}") from None
        if saved is not None:
            state = _decode_state(saved["state"], lambda entry, at: archive.read(entry),
                                  f"{path!r}: the optimizer state")
            model.optimizer.set_state({"iterations": saved["iterations"], "state": state},
                                      model.trainable_weights)
    return model
