"""Model configs checked whole before anything is built, and layers made from their specs.

``Sequential.from_config``, ``Functional.from_config`` and the model files check a
config here first (its size, every class known, every key expected, every node
computable from the inputs), so that a bad config is a ValueError saying where, never a
half-built model. Every check takes time linear in the config's size.
"""

from __future__ import annotations

from collections import deque

from flexnet import registry
from flexnet.layers.base import LAYERS
from flexnet.layers.input_layer import InputLayer
from flexnet.models.model import Model
from flexnet.specs import check_custom_objects, check_keys, is_spec, short, split_spec

__all__ = ["MAX_LAYERS", "MAX_NESTING", "build_layer", "check_config_size", "check_layer_spec",
           "check_model_config", "deserialize_layer", "replay_order", "serialize_layer"]

#: Most layers a model config may hold, the layers of nested models included.
MAX_LAYERS = 10_000
#: Deepest nesting of models inside models (the outer model is level 1).
MAX_NESTING = 32


def serialize_layer(layer) -> dict:
    """``{"class_name": ..., "config": layer.get_config()}`` for a layer or a model."""
    return LAYERS.serialize(layer)


def deserialize_layer(spec, custom_objects=None, *, backend=None, device=None, dtype=None):
    """A new layer or model from :func:`serialize_layer`'s dict, checked first.

    Args:
        spec: ``{"class_name": ..., "config": {...}}``.
        custom_objects: class name -> class, for classes that are not registered.
        backend, device, dtype: where a model (a nested model included) is built.

    Raises:
        ValueError: an unknown class, a malformed config, or one the class refuses.
    """
    custom_objects = check_custom_objects(custom_objects)
    cls = check_layer_spec(spec, custom_objects)
    return build_layer(cls, spec, custom_objects, backend=backend, device=device, dtype=dtype)


def build_layer(cls, spec, custom_objects, *, backend=None, device=None, dtype=None,
                where: str = "layer config"):
    """The layer (or model) of class ``cls`` from an already checked ``spec``."""
    name, config = split_spec(spec, "layer", where)
    if issubclass(cls, Model):
        return cls.from_config(dict(config), custom_objects, backend=backend, device=device, dtype=dtype)
    return LAYERS.deserialize(spec, custom_objects, f"{where} {config.get('name', name)!r}")


def check_config_size(spec, where: str = "model config") -> None:
    """Refuse a config with more than :data:`MAX_LAYERS` layers or models nested deeper than
    :data:`MAX_NESTING`, counting without recursion (so any input is safe to count).

    A config counts as a model when its ``config`` holds a ``layers`` list.

    Raises:
        ValueError: naming the count and the cap.
    """
    layers, stack = 0, [(spec, 0)]
    while stack:
        node, depth = stack.pop()
        config = node.get("config") if isinstance(node, dict) else None
        children = config.get("layers") if isinstance(config, dict) else None
        if not isinstance(children, list):
            continue
        if depth + 1 > MAX_NESTING:
            raise ValueError(f"{where} nests models more than {MAX_NESTING} deep; flexnet builds at most "
                             f"{MAX_NESTING} levels (fx.models.config.MAX_NESTING)")
        layers += len(children)
        if layers > MAX_LAYERS:
            raise ValueError(f"{where} holds more than {MAX_LAYERS} layers; flexnet builds at most "
                             f"{MAX_LAYERS} (fx.models.config.MAX_LAYERS)")
        stack.extend((child, depth + 1) for child in children)


def check_layer_spec(spec, custom_objects=None, where: str = "layer config") -> type:
    """Check a layer's (or a nested model's) ``{"class_name", "config"}`` dict, the nested
    models' whole configs included (and their size, see :func:`check_config_size`); return
    the class it names.

    Raises:
        ValueError: what is wrong, and where.
    """
    check_config_size(spec, where)
    return _check_spec(spec, custom_objects, where)


def _check_spec(spec, custom_objects, where: str) -> type:
    name, config = split_spec(spec, "layer", where)
    cls = LAYERS.lookup(name, custom_objects, where, class_name=True)
    model = _model_check(cls)
    if model is not None:
        base, check = model
        check(config, custom_objects, f"{where} ({base} {config.get('name')!r})")
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
    custom_objects = check_custom_objects(custom_objects)
    check_layer_spec({"class_name": _model_check(cls)[0], "config": config}, custom_objects, "model config")
    return custom_objects


def _model_check(cls: type):
    """``(base name, check)`` for a Sequential or Functional class (or a subclass); None for
    a layer. Both register as layers: they are found there, as they import this module."""
    for base, check in (("Sequential", _check_sequential), ("Functional", _check_functional)):
        if issubclass(cls, LAYERS[base]):
            return base, check
    return None


def _check_components(config: dict, custom_objects, where: str) -> None:
    """The classes a layer config names (its activation, initializers, ...) are known."""
    for key, value in config.items():
        kind = registry.kind_of_key(key)
        if kind is None:
            continue
        if is_spec(value):
            name = value["class_name"]
        elif isinstance(value, str) and kind.name == "activation":  # activations may be bare names
            name = value
        else:
            continue
        if kind.find(name, custom_objects) is None:
            raise ValueError(f"{where}: {key} names an unknown {kind.name} {name!r}; register yours with "
                             f"fx.saving.register_serializable or pass custom_objects={{{name!r}: cls}}")


def _check_name(config: dict, where: str) -> None:
    name = config.get("name")
    if name is not None and (not isinstance(name, str) or not name):
        raise ValueError(f"{where}: name must be a non-empty string, got {short(name)}")


def _check_sequential(config, custom_objects, where: str) -> None:
    if not isinstance(config, dict):
        raise ValueError(f"{where} must be a dict, got {short(config)}")
    check_keys(config, {"layers"}, {"name", "build_input_shape"}, where)
    _check_name(config, where)
    specs = config["layers"]
    if not isinstance(specs, list):
        raise ValueError(f"{where}: layers must be a list, got {short(specs)}")
    names: set = set()
    for i, spec in enumerate(specs):
        _check_spec(spec, custom_objects, f"{where}, layer {i}")
        layer_name = spec.get("config", {}).get("name")
        if layer_name is not None and layer_name in names:
            raise ValueError(f"{where}: two layers are named {layer_name!r}")
        names.add(layer_name)
    shape = config.get("build_input_shape")
    if shape is not None and (
        not isinstance(shape, list) or len(shape) < 2 or shape[0] is not None
        or any(isinstance(d, bool) or not isinstance(d, int) or d <= 0 for d in shape[1:])
    ):
        raise ValueError(f"{where}: build_input_shape must be [None, d1, ...] with positive ints, "
                         f"got {short(shape)}")


def _check_ref(ref, nodes_of: dict, where: str) -> tuple[str, int]:
    """``[layer_name, node_index, tensor_index]`` naming a node that exists."""
    if (not isinstance(ref, list) or len(ref) != 3 or not isinstance(ref[0], str)
            or any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in ref[1:])):
        raise ValueError(f"{where}: a tensor reference is [layer_name, node_index, tensor_index], "
                         f"got {short(ref)}")
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
        raise ValueError(f"{where} must be a dict, got {short(config)}")
    check_keys(config, {"layers", "input_layers", "output_layers"}, {"name"}, where)
    _check_name(config, where)
    entries = config["layers"]
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{where}: layers must be a non-empty list, got {short(entries)}")
    nodes_of: dict[str, int] = {}
    inputs = set()
    for i, entry in enumerate(entries):
        label = f"{where}, layer {i}"
        if not isinstance(entry, dict):
            raise ValueError(f"{label} must be a dict, got {short(entry)}")
        check_keys(entry, {"class_name", "config", "name", "inbound_nodes"}, set(), label)
        name = entry["name"]
        if not isinstance(name, str) or not name:
            raise ValueError(f"{label}: name must be a non-empty string, got {short(name)}")
        label = f"{where}, layer {name!r}"
        if name in nodes_of:
            raise ValueError(f"{where}: two layers are named {name!r}")
        cls = _check_spec({"class_name": entry["class_name"], "config": entry["config"]},
                          custom_objects, label)
        if entry["config"].get("name", name) != name:
            raise ValueError(f"{label}: its config names it {entry['config']['name']!r}")
        nodes = entry["inbound_nodes"]
        if not isinstance(nodes, list) or any(not isinstance(n, list) or not n for n in nodes):
            raise ValueError(f"{label}: inbound_nodes must be a list of nodes, each a non-empty list "
                             f"of [layer_name, node_index, tensor_index], got {short(nodes)}")
        if issubclass(cls, InputLayer):
            if nodes:
                raise ValueError(f"{label}: an InputLayer has no inbound nodes, got {short(nodes)}")
            inputs.add(name)
            nodes_of[name] = 1
        elif not nodes:
            raise ValueError(f"{label} is never called (no inbound_nodes)")
        else:
            nodes_of[name] = len(nodes)
    for entry in entries:
        for k, node in enumerate(entry["inbound_nodes"]):
            for ref in node:
                _check_ref(ref, nodes_of, f"{where}, layer {entry['name']!r} node {k}")
    for key in ("input_layers", "output_layers"):
        refs = config[key]
        if not isinstance(refs, list) or not refs:
            raise ValueError(f"{where}: {key} must be a non-empty list of [layer_name, node_index, "
                             f"tensor_index], got {short(refs)}")
        for ref in refs:
            name, _ = _check_ref(ref, nodes_of, f"{where}, {key}")
            if key == "input_layers" and name not in inputs:
                raise ValueError(f"{where}: input_layers names {name!r}, which is not an InputLayer")
    if len({ref[0] for ref in config["input_layers"]}) != len(config["input_layers"]):
        raise ValueError(f"{where}: input_layers lists an input twice")
    replay_order(entries, inputs, where)


def replay_order(entries: list, inputs: set, where: str) -> list[tuple[str, int]]:
    """An order in which a functional config's calls can be made: ``(layer name, node index)``
    pairs, each after the nodes it reads and after the same layer's earlier calls (Kahn's
    algorithm, linear in the number of references).

    Args:
        entries: the config's ``layers`` (each with ``name`` and ``inbound_nodes``), checked.
        inputs: the names of its InputLayers (their node 0 exists from the start).
        where: for the message.

    Raises:
        ValueError: a node that no order computes from the inputs (the graph has a cycle).
    """
    waiting: dict[tuple[str, int], int] = {}
    readers: dict[tuple[str, int], list] = {}
    for entry in entries:
        name = entry["name"]
        if name in inputs:
            continue
        for k, node in enumerate(entry["inbound_nodes"]):
            needs = {(ref[0], ref[1]) for ref in node}
            if k:
                needs.add((name, k - 1))  # a layer's calls are made in order
            waiting[(name, k)] = len(needs)
            for need in needs:
                readers.setdefault(need, []).append((name, k))
    ready = deque((name, 0) for name in inputs)
    order = []
    while ready:
        made = ready.popleft()
        if made[0] not in inputs:
            order.append(made)
        for reader in readers.get(made, ()):
            waiting[reader] -= 1
            if not waiting[reader]:
                ready.append(reader)
    if len(order) < len(waiting):
        made = set(order) | {(name, 0) for name in inputs}
        for entry in entries:
            for k, node in enumerate(entry["inbound_nodes"]):
                if (entry["name"], k) not in made:  # its earlier calls are made: it reads a missing node
                    missing = [ref for ref in node if (ref[0], ref[1]) not in made]
                    raise ValueError(
                        f"{where}: node {k} of layer {entry['name']!r} reads {missing}, which no node "
                        "computes from the inputs (the graph has a cycle)"
                    )
    return order
