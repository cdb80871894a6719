"""Functional models: any directed acyclic graph of layers, with several inputs and outputs.

``Model(inputs=..., outputs=...)`` walks the graph recorded by calling layers on
:func:`~flexnet.layers.Input` tensors, builds every layer, and fixes an order:
forward runs the nodes in topological order, backward in reverse, summing the
gradients that reach a tensor from every layer that consumed it (the input of a
wide & deep network feeds both the deep path and the concatenation). A layer
called on several tensors (a shared layer) keeps one set of weights; each call
keeps its own forward cache and the calls' gradients are summed.
"""

from __future__ import annotations

from typing import Any

from flexnet.layers import Layer
from flexnet.layers.base import LAYERS
from flexnet.layers.input_layer import InputLayer
from flexnet.layers.node import Node, SymbolicTensor
from flexnet.models.config import build_layer, check_model_config, replay_order
from flexnet.models.graph import Graph, Step
from flexnet.models.model import Model, unique_name
from flexnet.models.nesting import setup_nested

__all__ = ["Functional"]


def _as_list(value, what: str) -> tuple[list, str]:
    if isinstance(value, SymbolicTensor):
        return [value], "single"
    if isinstance(value, dict):
        items = list(value.values())
        kind = "dict"
    elif isinstance(value, (list, tuple)):
        items, kind = list(value), "list"
    else:
        raise TypeError(f"{what} must be a tensor from fx.layers.Input/a layer call, or a list of "
                        f"them; got {type(value).__name__}")
    if not items:
        raise ValueError(f"{what} is empty")
    for item in items:
        if not isinstance(item, SymbolicTensor):
            raise TypeError(f"{what} must hold tensors from fx.layers.Input or layer calls, got "
                            f"{type(item).__name__}")
    return items, kind


@LAYERS.register("Functional", "Model")
class Functional(Model):
    """A model defined by its input and output tensors (Keras's functional API).

    Args:
        inputs: a tensor from :func:`~flexnet.layers.Input`, or a list (or dict) of them.
        outputs: a tensor produced by layer calls on the inputs, or a list of them.
        name: model name.
        dtype, backend, device: see :class:`~flexnet.models.Model`.

    Example: the wide & deep network::

        input_ = fx.layers.Input(shape=(8,))
        hidden1 = fx.layers.Dense(30, activation="relu")(input_)
        hidden2 = fx.layers.Dense(30, activation="relu")(hidden1)
        concat = fx.layers.concatenate([input_, hidden2])
        output = fx.layers.Dense(1)(concat)
        model = fx.models.Model(inputs=[input_], outputs=[output])
    """

    _follows_outer_backend = True

    def __init__(self, inputs=None, outputs=None, name: str | None = None, *, dtype=None,
                 backend=None, device=None):
        super().__init__(name or "functional", dtype=dtype, backend=backend, device=device)
        if inputs is None or outputs is None:
            raise ValueError("Model(inputs=..., outputs=...) needs both inputs and outputs")
        self.inputs, _ = _as_list(inputs, "inputs")
        self.outputs, self._output_kind = _as_list(outputs, "outputs")
        for t in self.inputs:
            if not isinstance(t.node.operation, InputLayer):
                raise ValueError(
                    f"inputs must come from fx.layers.Input(...); got the output of layer "
                    f"{t.node.operation.name!r}"
                )
        if len({id(t) for t in self.inputs}) != len(self.inputs):
            raise ValueError("the same Input is listed twice in inputs")
        nodes = self._topological_nodes()
        self._name_layers(nodes)
        if backend is None and device is None:
            # Layers built already (another model's, for a feature extractor) decide where
            # this model lives: a layer lives on one backend.
            built = [n.operation for n in nodes if isinstance(n.operation, Layer) and n.operation.built]
            if built:
                self._backend_request = (built[0].backend, None)
                self._dtype_request = self._dtype_request or built[0].dtype
        self._bind()
        self._build(nodes)

    # -- the graph -------------------------------------------------------------
    def _topological_nodes(self) -> list[Node]:
        """Every node the outputs depend on, each after the nodes it reads (an iterative
        depth-first walk: any depth of graph is safe)."""
        order, state = [], {}
        input_ids = {id(t) for t in self.inputs}
        for k, out in enumerate(self.outputs):
            path = out.node.operation.name or f"output {k}"
            stack = [(out, False)]
            while stack:
                tensor, expanded = stack.pop()
                node = tensor.node
                if expanded:
                    state[id(node)] = "done"
                    order.append(node)
                    continue
                mark = state.get(id(node))
                if mark == "done":
                    continue
                if mark == "active":
                    raise ValueError("the graph has a cycle")
                if isinstance(node.operation, InputLayer) and id(tensor) not in input_ids:
                    raise ValueError(
                        f"the graph does not connect the inputs to the outputs: output "
                        f"{path!r} depends on Input {node.operation.name or '(unnamed)'!r} "
                        f"(shape {tensor.shape}), which is not in inputs"
                    )
                state[id(node)] = "active"
                stack.append((tensor, True))
                stack.extend((t, False) for t in reversed(node.inputs))
        reached = {id(node) for node in order}
        for t in self.inputs:
            if id(t.node) not in reached:
                raise ValueError(
                    f"Input {t.node.operation.name or '(unnamed)'!r} of shape {t.shape} is not "
                    "connected to any output"
                )
        # Inputs first, in the order given, so ``layers`` starts with them as in Keras.
        inputs = [t.node for t in self.inputs]
        return inputs + [node for node in order if not isinstance(node.operation, InputLayer)]

    def _name_layers(self, nodes) -> None:
        ops, seen = [], set()
        for node in nodes:
            if id(node.operation) not in seen:
                seen.add(id(node.operation))
                ops.append(node.operation)
        taken: dict[str, Any] = {}
        for op in ops:
            if op.name is not None:
                if op.name in taken:
                    raise ValueError(f"two layers are named {op.name!r}; layer names must be unique")
                taken[op.name] = op
        counters: dict[str, int] = {}
        for op in ops:
            if op.name is None:
                op.name = unique_name(op.default_name, taken, counters)
                taken[op.name] = op
        self.layers = ops

    def _build(self, nodes) -> None:
        """Build every layer for the shapes its call promised, and the graph of steps."""
        slots: dict[int, int] = {id(t): k for k, t in enumerate(self.inputs)}
        counts: dict[int, int] = {}
        for node in nodes:
            counts[id(node.operation)] = counts.get(id(node.operation), 0) + 1
        steps = []
        for node in nodes:
            op = node.operation
            if isinstance(op, InputLayer):
                op.setup(node.output.shape, self.backend, self.dtype, self.rng)
                op.output_shape = node.output.shape
                continue
            shapes = [t.shape for t in node.inputs]
            in_shape = shapes if node.takes_list else shapes[0]
            if isinstance(op, Layer):
                out_shape = op.setup(in_shape, self.backend, self.dtype, self.rng)
                op.output_shape = out_shape
            else:
                if counts[id(op)] > 1:
                    raise ValueError(
                        f"model {op.name!r} is called {counts[id(op)]} times in model {self.name!r}; "
                        "share its layers instead (call each layer on both tensors)"
                    )
                out_shape = setup_nested(op, in_shape, self)
            if tuple(out_shape) != tuple(node.output.shape):
                raise ValueError(f"layer {op.name!r} built an output of shape {out_shape}, but its "
                                 f"call promised {node.output.shape}")
            slots[id(node.output)] = len(slots)
            steps.append(Step(op, [slots[id(t)] for t in node.inputs], slots[id(node.output)],
                              takes_list=node.takes_list, node=node))
        self.graph = Graph([slots[id(t)] for t in self.inputs], steps,
                           [slots[id(t)] for t in self.outputs])
        self._input_names = [t.node.operation.name for t in self.inputs]
        self._output_names = [t.node.operation.name for t in self.outputs]
        if len(set(self._output_names)) != len(self._output_names):  # one layer, two outputs
            self._output_names = [f"{n}_{k}" for k, n in enumerate(self._output_names)]
        self.input_shape = self.inputs[0].shape if len(self.inputs) == 1 else [t.shape for t in self.inputs]
        self.output_shape = (self.outputs[0].shape if len(self.outputs) == 1
                             else [t.shape for t in self.outputs])
        self.built = True

    # -- the model's interface ---------------------------------------------------
    @property
    def input_names(self) -> list[str]:
        return self._input_names

    @property
    def output_names(self) -> list[str]:
        return self._output_names

    @property
    def input_shapes(self) -> list[tuple]:
        return [t.shape for t in self.inputs]

    @property
    def output_shapes(self) -> list[tuple]:
        return [t.shape for t in self.outputs]

    # -- config ------------------------------------------------------------------
    def get_config(self) -> dict:
        """The graph as Keras writes it, JSON data that :meth:`from_config` rebuilds::

            {"name": ..., "layers": [{"class_name", "config", "name",
                                      "inbound_nodes": [[[layer_name, node_index, 0], ...], ...]}],
             "input_layers": [[name, 0, 0], ...], "output_layers": [[name, node_index, 0], ...]}

        Each layer is listed once; each of its calls in this model is a node (a shared
        layer has several), numbered among its calls in this model; a node lists the
        tensors it was called on. A nested model appears with its own config.
        """
        nodes = [t.node for t in self.inputs] + [step.node for step in self.graph.steps]
        in_graph = {id(node) for node in nodes}
        local: dict[int, int] = {}
        for op in self.layers:
            mine = [node for node in op._nodes if id(node) in in_graph]
            local.update({id(node): k for k, node in enumerate(mine)})

        def ref(t):
            return [t.node.operation.name, local[id(t.node)], 0]

        layers = []
        for op in self.layers:
            calls = [] if isinstance(op, InputLayer) else [
                [ref(t) for t in node.inputs] for node in op._nodes if id(node) in in_graph]
            layers.append({**LAYERS.serialize(op), "name": op.name, "inbound_nodes": calls})
        return {"name": self.name, "layers": layers, "input_layers": [ref(t) for t in self.inputs],
                "output_layers": [ref(t) for t in self.outputs]}

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None, *, backend=None,
                    device=None, dtype=None) -> Functional:
        """A new model from :meth:`get_config`'s dict: makes the layers, then calls each on the
        tensors its nodes name, in an order where every input exists.

        Args:
            config: the dict.
            custom_objects: class name -> class, for user classes that are not registered.
            backend, device, dtype: where the model is built (see :class:`Model`).

        Raises:
            ValueError: the config is malformed, names an unknown class or a layer that is
                not listed, or has a cycle; it is checked whole before any layer is made.
        """
        custom_objects = check_model_config(cls, config, custom_objects)
        entries = config["layers"]
        ops = {}
        for entry in entries:
            spec = {"class_name": entry["class_name"], "config": {**entry["config"], "name": entry["name"]}}
            op_cls = LAYERS.lookup(entry["class_name"], custom_objects, class_name=True)  # checked above
            ops[entry["name"]] = build_layer(op_cls, spec, custom_objects, backend=backend,
                                             device=device, dtype=dtype, where="layer")
        inputs = {name for name, op in ops.items() if isinstance(op, InputLayer)}
        tensors = {(name, 0): ops[name].output for name in inputs}
        calls = {entry["name"]: entry["inbound_nodes"] for entry in entries}
        for name, k in replay_order(entries, inputs, f"model config {config.get('name')!r}"):
            op = ops[name]
            args = [tensors[(r[0], r[1])] for r in calls[name][k]]
            as_list = len(args) > 1 or getattr(op, "accepts_list", False)
            try:
                tensors[(name, k)] = op(args if as_list else args[0])
            except (TypeError, ValueError) as exc:
                raise ValueError(f"model config {config.get('name')!r}: calling layer {name!r} "
                                 f"on tensors of shapes {[t.shape for t in args]}: {exc}") from None

        def pick(refs):
            return [tensors[(r[0], r[1])] for r in refs]

        return cls(inputs=pick(config["input_layers"]), outputs=pick(config["output_layers"]),
                   name=config.get("name"), backend=backend, device=device, dtype=dtype)
