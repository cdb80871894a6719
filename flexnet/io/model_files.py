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

import numbers
import os

import numpy as np

from flexnet import metrics, registry
from flexnet.io import keras_files
from flexnet.io.archive import archive_bytes, parse_archive, read_archive, write_archive
from flexnet.models import Model
from flexnet.models.config import build_layer, check_layer_spec, serialize_layer
from flexnet.specs import check_custom_objects, check_keys, is_spec, short
from flexnet.version import __version__

__all__ = ["load_model", "load_weights", "model_from_bytes", "model_to_bytes", "restore_weights",
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
    raise ValueError(f"{where} is malformed: {short(node)}")


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
        raise ValueError(f"{path!r} is corrupted: its weight index is {short(index)}, not a list")
    for spec in index:
        if not isinstance(spec, dict) or not isinstance(spec.get("entry"), str) \
                or spec["entry"] not in arrays:
            raise ValueError(f"{path!r} is corrupted: weight entry {short(spec)} is missing")
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
    _check_json(meta["model"], f"model {model.name!r}: config")
    _check_json(meta["compile"], f"model {model.name!r}: compile config")
    return meta, arrays


def load_model(filepath, custom_objects: dict | None = None, compile: bool = True, *,
               backend=None, device=None, dtype=None):
    """The body of :func:`flexnet.models.load_model`: a ``.keras`` path is read as a Keras 3
    file (:mod:`flexnet.io.keras_files`), any other as a flexnet archive."""
    if _is_keras_path(filepath):
        return keras_files.load_keras(filepath, custom_objects, compile, backend=backend, device=device,
                                      dtype=dtype)
    path = os.fspath(filepath)
    meta, arrays = read_archive(path, kind="model")
    return _rebuild(meta, arrays, path, custom_objects, compile, backend, device, dtype)


def model_from_bytes(data: bytes, custom_objects: dict | None = None, compile: bool = True, *,
                     backend=None, device=None, dtype=None):
    """The model :func:`model_to_bytes` wrote, rebuilt as :func:`load_model` rebuilds a file."""
    meta, arrays = parse_archive(data, "<model bytes>", kind="model")
    return _rebuild(meta, arrays, "<model bytes>", custom_objects, compile, backend, device, dtype)


def _rebuild(meta, arrays, path, custom_objects, compile, backend, device, dtype):
    custom_objects = check_custom_objects(custom_objects)
    check_keys(meta, {"format", "version", "kind", "model", "weights", "dtype"},
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
                raise ValueError(f"{path!r}: malformed optimizer state {short(saved)}")
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
