"""Calling a layer: on symbolic tensors it records a node (the functional API); on arrays it
computes, building the layer first if needed (Keras's eager call, ``Dense(2)(x)``).
"""

from __future__ import annotations

import array_api_compat
import numpy as np

from flexnet import random as fxrandom
from flexnet import utils
from flexnet.backend import Backend, floatx, get_backend
from flexnet.layers.node import Node
from flexnet.transfer import as_array, is_device_array, like, to_numpy

__all__ = ["eager_call", "only_node", "symbolic_call"]


def _label(layer) -> str:
    return repr(layer.name or layer.default_name)


def symbolic_call(layer, inputs):
    """Record ``layer`` applied to symbolic ``inputs`` as a new node; returns its output."""
    takes_list = isinstance(inputs, (list, tuple))
    shapes = [t.shape for t in inputs] if takes_list else inputs.shape
    if takes_list and not layer.accepts_list:
        raise TypeError(f"layer {_label(layer)} takes one input, got a list of {len(inputs)}")
    if not takes_list and layer.accepts_list:
        raise TypeError(f"layer {_label(layer)} takes a list of inputs")
    if layer._nodes:
        first = layer._nodes[0].inputs
        before = [t.shape for t in first] if layer._nodes[0].takes_list else first[0].shape
        if before != shapes:
            raise ValueError(
                f"layer {_label(layer)} was first called on inputs of shape {before} and now on "
                f"{shapes}; a shared layer needs inputs of the same shape"
            )
    elif layer.input_shape is not None and not takes_list and tuple(shapes[1:]) != layer.input_shape:
        raise ValueError(
            f"layer {_label(layer)} was declared with input_shape={layer.input_shape} but is "
            f"called on a tensor of shape {shapes}"
        )
    layer.check_input_shape(shapes)
    node = Node(layer, inputs if takes_list else [inputs], layer.compute_output_shape(shapes),
                takes_list)
    layer._nodes.append(node)
    return node.output


def _backend_of(array) -> Backend:
    """The backend of an array of some library (NumPy and lists: the default backend)."""
    if not is_device_array(array):
        return get_backend()
    return Backend.resolve(array_api_compat.array_namespace(array), array_api_compat.device(array))


def eager_call(layer, inputs, training: bool = False):
    """``layer``'s output for arrays, as Keras computes ``layer(x)`` outside a model.

    An unbuilt layer is built for the inputs' shape (batch axis first) in
    :func:`flexnet.floatx`, on the backend and device of the arrays, or on the default
    backend (:func:`flexnet.get_backend`) for NumPy arrays and lists. NumPy in gives NumPy
    out; arrays of the layer's backend give arrays of it.
    """
    takes_list = isinstance(inputs, (list, tuple)) and layer.accepts_list
    if layer.accepts_list and not takes_list:
        raise TypeError(f"layer {_label(layer)} takes a list of arrays")
    parts = [as_array(a, f"input {k}") for k, a in enumerate(inputs)] if takes_list \
        else [as_array(inputs, "the input")]
    if any(a is None or isinstance(a, dict) for a in parts):
        raise TypeError(f"layer {_label(layer)} is called on {type(inputs).__name__}; call it on "
                        "arrays, or on fx.Input(...) tensors to build a model")
    if any(a.ndim < 1 for a in parts):
        raise ValueError(f"layer {_label(layer)} takes arrays with a batch axis first, got shapes "
                         f"{[tuple(a.shape) for a in parts]}")
    if not layer.built:
        backend = _backend_of(parts[0])
        shapes = [(None, *a.shape[1:]) for a in parts]
        shape = shapes if takes_list else shapes[0]
        layer.output_shape = layer.setup(shape, backend, floatx(),
                                         fxrandom.generator(backend, utils.next_seed()))
    owner = f"layer {_label(layer)}"
    Xs, templates = [], []
    for k, part in enumerate(parts):
        X, template = layer.backend.adopt(part, f"input {k}" if takes_list else "the input",
                                          layer.dtype, owner)
        Xs.append(X)
        templates.append(template)
    Y = layer.forward(Xs if takes_list else Xs[0], training=training)
    if templates[0] is None:
        return Y
    return to_numpy(Y) if isinstance(templates[0], np.ndarray) else like(Y, templates[0])


def only_node(layer, what: str):
    """The one node of ``layer`` (for ``layer.input``/``layer.output``): an error naming the
    reason when the layer was never called on symbolic tensors or was called several times."""
    nodes = layer._nodes
    if not nodes:
        raise AttributeError(
            f"layer {_label(layer)} has never been called on a symbolic tensor, so it has no "
            f"{what}; call it on fx.Input(...) tensors, or build the Sequential model it is in"
        )
    if len(nodes) > 1:
        raise AttributeError(
            f"layer {_label(layer)} has been called {len(nodes)} times (shared, or in several "
            f"models), so its {what} is ambiguous; keep the tensors each call returns instead"
        )
    return nodes[0]
