"""``Sequential``: a linear stack of layers."""

from __future__ import annotations

from flexnet.layers import Layer, normalize_shape
from flexnet.layers.base import LAYERS
from flexnet.layers.input_layer import InputLayer
from flexnet.layers.node import SymbolicTensor
from flexnet.models.config import build_layer, check_model_config
from flexnet.models.graph import Graph
from flexnet.models.model import Model, unique_name
from flexnet.models.nesting import setup_nested

__all__ = ["Sequential"]


@LAYERS.register()
class Sequential(Model):
    """A linear stack of layers: its graph is a chain, so forward is a loop over ``layers``
    and backward a loop over ``reversed(layers)``.

    Args:
        layers: layers in order; the first may declare ``input_shape``/``input_dim``,
            in which case the model is built at once.
        name: model name.
        dtype, backend, device: see :class:`~flexnet.models.Model`.

    Example:
        >>> import flexnet as fx
        >>> model = fx.models.Sequential([
        ...     fx.layers.Dense(16, input_dim=30, activation="relu"),
        ...     fx.layers.Dense(1, activation="sigmoid"),
        ... ])
        >>> model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
        >>> model.count_params()
        513
    """

    def __init__(self, layers=None, name: str | None = None, *, dtype=None, backend=None,
                 device=None):
        super().__init__(name or "sequential", dtype=dtype, backend=backend, device=device)
        self.layers: list[Layer] = []
        self._declared_input: tuple | None = None  # from an Input given first
        self._input_tensor: SymbolicTensor | None = None  # that Input, the graph's input
        self._traced: list = []  # the nodes this model's symbolic graph added to its layers
        for layer in layers or []:
            self.add(layer)

    # -- the model's interface -------------------------------------------------
    @property
    def input_names(self) -> list[str]:
        return [self.layers[0].name] if self.layers else ["input"]

    @property
    def output_names(self) -> list[str]:
        return [self.layers[-1].name] if self.layers else ["output"]

    @property
    def input_shapes(self) -> list[tuple]:
        return [self.input_shape]

    @property
    def output_shapes(self) -> list[tuple]:
        return [self.output_shape]

    def add(self, layer: Layer) -> None:
        """Append a layer (built at once if the model already is, or if it is the
        first layer and declares its input shape).

        As in Keras 3, the first entry may be ``fx.layers.Input(shape=...)``: it declares
        the input shape and adds no layer.
        """
        if isinstance(layer, SymbolicTensor) and isinstance(layer.node.operation, InputLayer):
            if self.layers or self.built:
                raise ValueError("an Input can only come first in a Sequential model")
            self._declared_input, self._input_tensor = layer.shape, layer
            return
        if not isinstance(layer, (Layer, Model)):
            raise TypeError(f"Sequential takes Layer objects, got {type(layer).__name__}")
        if isinstance(layer, Model) and not layer._single_io():
            raise ValueError(f"model {layer.name!r} has several inputs or outputs; Sequential "
                             "takes single-input, single-output models only")
        ids, taken, counters = self._taken()
        if id(layer) in ids:
            raise ValueError(f"layer {layer.name!r} is already in this model")
        declared = layer.input_shape if isinstance(layer, Layer) else None
        if self.layers and declared is not None and not self.built:
            raise ValueError(
                f"only the first layer may declare an input shape; layer {layer.name or ''!r} "
                f"declares {declared}"
            )
        if layer.name is None:
            layer.name = unique_name(layer.default_name, taken, counters)
        elif layer.name in taken:
            raise ValueError(f"layer name {layer.name!r} is already used in this model")
        self.layers.append(layer)
        ids.add(id(layer))
        taken.add(layer.name)
        self._taken_cache = (len(self.layers), ids, taken, counters)
        self._trainer.reset()
        if self.built:
            self._bind()
            self.output_shape = _setup(layer, self.output_shape, self)
            self.graph.append(layer)
            self.outputs = [self._trace_call(layer, self.outputs[0])]
        elif len(self.layers) == 1 and isinstance(layer, Model) and layer.built:
            self.build(layer.input_shapes[0])
        elif len(self.layers) == 1 and declared is not None:
            self.build((None, *declared))
        elif len(self.layers) == 1 and self._declared_input is not None:
            self.build(self._declared_input)

    def _taken(self) -> tuple[set, set, dict]:
        """The ids and names of the layers and the name counters of :func:`unique_name`, kept up
        to date by :meth:`add` (so that adding n layers takes O(n)); renewed when ``layers``
        was changed by other means."""
        cached = self.__dict__.get("_taken_cache")
        if cached is None or cached[0] != len(self.layers):
            cached = (len(self.layers), {id(layer) for layer in self.layers},
                      {layer.name for layer in self.layers}, {})
        return cached[1], cached[2], cached[3]

    def build(self, input_shape=None) -> None:
        """Build every layer for inputs of ``input_shape`` = ``(None, features...)``.

        Without an argument, uses the first layer's declared input shape.
        """
        if not self.layers:
            raise ValueError("a Sequential model needs at least one layer before it is built")
        if input_shape is None:
            first = self.layers[0]
            declared = first.input_shapes[0][1:] if isinstance(first, Model) else first.input_shape
            if declared is None and self._declared_input is not None:
                declared = self._declared_input[1:]
            if declared is None:
                raise ValueError("build() needs an input shape such as (None, 30)")
            input_shape = (None, *declared)
        input_shape = tuple(input_shape)
        input_shape = (None, *normalize_shape(input_shape[1:]))
        self._bind()
        shape = input_shape
        for layer in self.layers:
            shape = _setup(layer, shape, self)
        self.input_shape, self.output_shape = input_shape, shape
        self.graph = Graph.chain(self.layers)
        self.built = True
        self._trace()

    def _lazy_build_shape(self, input_shape) -> None:
        self.build(tuple(input_shape))

    # -- the symbolic graph (Keras 3 gives a built Sequential one) --------------------------
    def _trace(self) -> None:
        """Call each layer once on symbolic tensors, from an Input of the model's input shape:
        ``model.input``, ``model.output`` and each ``layer.output`` are then the tensors of a
        functional graph, from which ``Model(model.input, layer.output)`` builds a model."""
        self._untrace()
        tensor = self._input_tensor
        if tensor is None or tuple(tensor.shape) != tuple(self.input_shape):
            taken = {layer.name for layer in self.layers}
            name, i = "input_layer", 0
            while name in taken:
                i += 1
                name = f"input_layer_{i}"
            tensor = InputLayer(shape=self.input_shape[1:], name=name).output
            self._input_tensor = tensor
        self.inputs = [tensor]
        for layer in self.layers:
            tensor = self._trace_call(layer, tensor)
        self.outputs = [tensor]

    def _trace_call(self, layer, tensor) -> SymbolicTensor:
        out = layer(tensor)
        self._traced.append(out.node)
        return out

    def _untrace(self, keep: int = 0) -> None:
        """Take this model's nodes off its layers, all but the first ``keep``."""
        for node in self._traced[keep:]:
            nodes = node.operation._nodes
            nodes[:] = [other for other in nodes if other is not node]
        del self._traced[keep:]

    def pop(self, rebuild: bool = True):
        """Remove the last layer and return it (Keras's ``Sequential.pop``).

        The model's output becomes the output of the layer before; the layers keep their
        weights. Popping the only layer leaves an empty, unbuilt model that remembers its
        input shape, so the next :meth:`add` builds it again. Call ``compile`` again
        before training.

        Args:
            rebuild: rebuild the model's graph now (the default); ``False`` leaves it
                unbuilt until it is built again (``build``, ``fit``, ``predict``).

        Raises:
            ValueError: the model has no layers.
        """
        if not self.layers:
            raise ValueError(f"Sequential model {self.name!r} has no layer to pop")
        layer = self.layers.pop()
        self._trainer.reset()
        if not self.built:
            return layer
        if self._input_tensor is not None:
            self._declared_input = tuple(self.input_shape)
        self._untrace(keep=len(self.layers))
        if self.layers and rebuild:
            self.graph = Graph.chain(self.layers)
            self.outputs = [self._traced[-1].output]
            self.output_shape = self.outputs[0].shape
            return layer
        self._untrace()
        self.built, self.graph, self.inputs, self.outputs = False, None, None, None
        self.output_shape = None
        return layer

    # -- config ---------------------------------------------------------------
    def get_config(self) -> dict:
        """``{"name", "layers": [{"class_name", "config"}, ...], "build_input_shape"}`` (the
        last once built), JSON data that :meth:`from_config` rebuilds."""
        config = {"name": self.name, "layers": [LAYERS.serialize(layer) for layer in self.layers]}
        if self.built:
            config["build_input_shape"] = list(self.input_shape)
        return config

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None, *, backend=None,
                    device=None, dtype=None) -> Sequential:
        """A new model (built if the config has an input shape) from :meth:`get_config`'s dict.

        Args:
            config: the dict.
            custom_objects: class name -> class, for user classes that are not registered.
            backend, device, dtype: where the model is built (see :class:`Model`).

        Raises:
            ValueError: the config is malformed or names an unknown class; it is checked
                whole before any layer is made.
        """
        custom_objects = check_model_config(cls, config, custom_objects)
        layers = []
        for i, spec in enumerate(config["layers"]):
            layer_cls = LAYERS.lookup(spec["class_name"], custom_objects, class_name=True)  # checked above
            layers.append(build_layer(layer_cls, spec, custom_objects, backend=backend,
                                      device=device, dtype=dtype, where=f"layer {i}"))
        model = cls(layers, name=config.get("name"), backend=backend, device=device, dtype=dtype)
        shape = config.get("build_input_shape")
        if shape is not None and not model.built:
            model.build(tuple(shape))
        return model

    def _lazy_build(self, X) -> None:
        if not self.layers:
            raise ValueError("a Sequential model needs at least one layer before it is built")
        self.build((None, *X.shape[1:]))


def _setup(layer, input_shape, model) -> tuple:
    """Build ``layer`` (or a nested model) for ``input_shape`` on ``model``'s backend."""
    if not isinstance(layer, Layer):
        return setup_nested(layer, input_shape, model)
    shape = layer.setup(input_shape, model.backend, model.dtype, model.rng)
    layer.output_shape = shape
    return shape
