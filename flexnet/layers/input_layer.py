"""``Input``: the entry point of a functional model."""

from __future__ import annotations

from flexnet.layers.base import LAYERS, Layer, normalize_shape
from flexnet.layers.node import Node, SymbolicTensor

__all__ = ["Input", "InputLayer"]


@LAYERS.register()
class InputLayer(Layer):
    """The layer behind :func:`Input`: it holds the input shape and passes arrays through.

    Args:
        shape: the input shape without the batch axis.
        name: the input's name; inputs and targets may be given as dicts keyed by it.
    """

    def __init__(self, shape=None, name: str | None = None, input_shape=None):
        shape = shape if shape is not None else input_shape
        if shape is None:
            raise ValueError("Input needs a shape, e.g. Input(shape=(30,))")
        super().__init__(name=name, input_shape=normalize_shape(shape, "shape"))
        self._nodes.append(Node(self, [], (None, *self.input_shape), takes_list=False))

    @property
    def default_name(self) -> str:
        return "input_layer"

    def forward(self, X, training=False):
        return X

    def backward(self, dY):
        return dY

    def get_config(self):
        return {"name": self.name, "shape": list(self.input_shape)}


def Input(shape=None, name: str | None = None, batch_shape=None) -> SymbolicTensor:  # noqa: N802 (Keras's name)
    """A symbolic input tensor for the functional API.

    Args:
        shape: the shape of one sample, without the batch axis, e.g. ``(30,)`` or
            ``X_train.shape[1:]``.
        name: the input's name (for dict inputs); defaults to ``input_layer``,
            ``input_layer_1``, ...
        batch_shape: Keras's alternative spelling with the batch axis first
            (``(None, 30)``); the batch size is not fixed.

    Example:
        >>> import flexnet as fx
        >>> input_ = fx.layers.Input(shape=(8,))
        >>> hidden = fx.layers.Dense(30, activation="relu")(input_)
        >>> hidden.shape
        (None, 30)
    """
    if batch_shape is not None:
        if shape is not None:
            raise ValueError("give shape or batch_shape, not both")
        shape = tuple(batch_shape)[1:]
    return InputLayer(shape=shape, name=name).output
