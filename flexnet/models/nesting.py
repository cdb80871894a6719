"""Models used as layers of other models: what they answer as layers, recording their calls
and building them inside.

A model called on symbolic tensors becomes one node of the outer functional model
(:func:`call_model`); when the outer model is built, :func:`setup_nested` binds the
inner model to the outer one's backend and dtype and builds it for its input shape.
"""

from __future__ import annotations

from flexnet.layers import Layer
from flexnet.layers.node import Node

__all__ = ["AsLayer", "call_model", "setup_nested"]


class AsLayer:
    """What a model answers when it is used as a layer of another model (the graph and the
    trainer read these of every layer)."""

    @property
    def default_name(self) -> str:
        return self.name

    @property
    def trainable(self) -> bool:
        return True

    @property
    def activity_regularizer(self):
        return None

    #: When used inside a model on another backend (same dtype), move there instead of
    #: refusing (a functional model binds to the default backend when it is defined).
    _follows_outer_backend = False

    def _lazy_build_shape(self, input_shape) -> None:
        self._require_built("using the model as a layer")


def setup_nested(model, input_shape, outer) -> tuple:
    """Bind ``model`` to ``outer``'s backend, build it for ``input_shape`` (batch axis ``None``;
    a list for several inputs), and return its output shape."""
    if model.backend is None:
        model._backend_request = outer._backend_request
        model._dtype_request = outer.dtype
    elif model._follows_outer_backend and model.backend != outer.backend and model.dtype == outer.dtype:
        model.to(outer.backend.name, outer.backend.device)
    model._bind()
    if model.backend != outer.backend or model.dtype != outer.dtype:
        raise ValueError(
            f"model {model.name!r} lives on {model.backend.name} ({model.dtype}) but is used inside "
            f"model {outer.name!r} on {outer.backend.name} ({outer.dtype}); move one with .to()"
        )
    if not model.built:
        model._lazy_build_shape(input_shape)
    several = isinstance(input_shape, list)
    expected = model.input_shapes if several else model.input_shapes[0]
    given = [tuple(s) for s in input_shape] if several else tuple(input_shape)
    if given != ([tuple(s) for s in expected] if several else tuple(expected)):
        raise ValueError(f"model {model.name!r} takes inputs of shape {expected}, got {input_shape}")
    shapes = model.output_shapes
    return shapes[0] if len(shapes) == 1 else shapes


def call_model(model, inputs):
    """Record ``model`` called on symbolic ``inputs`` as one node (a model used as a layer)."""
    if len(model.output_names) != 1:
        raise ValueError(f"model {model.name!r} has {len(model.output_names)} outputs; a model used "
                         "as a layer must have one output")
    takes_list = isinstance(inputs, (list, tuple))
    tensors = list(inputs) if takes_list else [inputs]
    if len(tensors) != len(model.input_names):
        raise ValueError(f"model {model.name!r} takes {len(model.input_names)} inputs, got "
                         f"{len(tensors)}")
    if model.built:
        for t, shape in zip(tensors, model.input_shapes):
            if tuple(t.shape) != tuple(shape):
                raise ValueError(f"model {model.name!r} takes inputs of shape {shape}, got {t.shape}")
        out_shape = model.output_shapes[0]
    else:  # an unbuilt Sequential: follow the shapes through its layers
        out_shape = tensors[0].shape
        for layer in model.layers:
            if not isinstance(layer, Layer):
                raise ValueError(f"build model {model.name!r} before calling it on a tensor")
            layer.check_input_shape(out_shape)
            out_shape = layer.compute_output_shape(out_shape)
    node = Node(model, tensors, out_shape, takes_list)
    model._nodes.append(node)
    return node.output
