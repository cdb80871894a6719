"""Models used as layers of other models: what they answer as layers, recording their calls
and building them inside.

A model called on symbolic tensors becomes one node of the outer functional model
(:func:`call_model`); when the outer model is built, :func:`setup_nested` binds the
inner model to the outer one's backend and dtype and builds it for its input shape.
:class:`LayerLike` gives a model what a layer has there: a name, ``trainable``, and
its symbolic ``input`` and ``output``.
"""

from __future__ import annotations

import itertools

import numpy as np

from flexnet.layers import Layer
from flexnet.layers.node import Node

__all__ = ["LayerLike", "call_model", "setup_nested"]


class LayerLike:
    """What a model shares with a layer: mixed into :class:`~flexnet.models.Model`.

    Its weights (those of its layers), ``trainable``, and its symbolic ``input`` and
    ``output``. It reads the model's ``name``, ``inputs``/``outputs`` (None until it is
    built), ``_flat_layers()``, ``_nested_models()`` and ``_require_built()``.
    """

    @property
    def default_name(self) -> str:
        return self.name

    @property
    def trainable(self) -> bool:
        """Whether training updates the model's weights. Setting it sets ``trainable`` on
        every layer, nested models included, as Keras does; as in Keras, ``fit`` sees the
        change at the next ``compile``."""
        return self.__dict__.get("_trainable", True)

    @trainable.setter
    def trainable(self, value: bool) -> None:
        value = bool(value)
        for model in [self, *self._nested_models()]:
            model._trainable = value
        for layer in self._flat_layers():
            layer.trainable = value

    @property
    def weights(self) -> list:
        """All weights (backend arrays, live), layer by layer."""
        return [w for layer in self._flat_layers() for w in layer.weights]

    @property
    def trainable_weights(self) -> list:
        """The weights the optimizer updates, in the order of :meth:`compute_gradients`."""
        return [w for layer in self._flat_layers() for w in layer.trainable_weights]

    @property
    def non_trainable_weights(self) -> list:
        return [w for layer in self._flat_layers() for w in layer.non_trainable_weights]

    def count_params(self) -> int:
        """Total number of scalars in all weights."""
        self._require_built("count_params()")
        return sum(layer.count_params() for layer in self._flat_layers())

    def get_weights(self) -> list[np.ndarray]:
        """Copies of all weights as NumPy arrays, layer by layer (kernel, then bias)."""
        self._require_built("get_weights()")
        return [w for layer in self._flat_layers() for w in layer.get_weights()]

    def set_weights(self, weights) -> None:
        """Set all weights from arrays in :meth:`get_weights` order (copied). Every array is
        checked (count, shape, real numbers) before any weight changes."""
        self._require_built("set_weights()")
        weights, layers = list(weights), self._flat_layers()
        counts = [len(layer.weights) for layer in layers]
        if len(weights) != sum(counts):
            raise ValueError(f"model {self.name!r} has {sum(counts)} weights, got {len(weights)}")
        starts = itertools.accumulate([0, *counts])
        checked = [layer._checked_weights(weights[a : a + n]) for layer, a, n in zip(layers, starts, counts)]
        for layer, hosts in zip(layers, checked):
            layer._assign_weights(hosts)

    #: No penalty on a nested model's output (its layers may have their own).
    activity_regularizer = None

    #: When used inside a model on another backend (same dtype), move there instead of
    #: refusing (a functional model binds to the default backend when it is defined).
    _follows_outer_backend = False

    def _lazy_build_shape(self, input_shape) -> None:
        self._require_built("using the model as a layer")

    # -- the symbolic tensors (Keras's model.input, model.output) -------------------------
    def _symbolic(self, what: str) -> list:
        tensors = self.__dict__.get(what)
        if tensors is None:
            raise AttributeError(
                f"model {self.name!r} has no {what} yet: it is not built; give the first layer an "
                "input shape (e.g. Dense(16, input_dim=30)), call model.build((None, n_features)), "
                "or fit/predict on data first"
            )
        return tensors

    @property
    def input(self):
        """The symbolic input tensor (a list for several inputs), e.g. to build a feature
        extractor ``Model(model.input, model.get_layer("dense").output)``."""
        inputs = self._symbolic("inputs")
        return inputs[0] if len(inputs) == 1 else list(inputs)

    @property
    def output(self):
        """The symbolic output tensor (a list for several outputs)."""
        outputs = self._symbolic("outputs")
        return outputs[0] if len(outputs) == 1 else list(outputs)


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
