"""Symbolic tensors and nodes: the graph that the functional API records.

Calling a layer on a :class:`SymbolicTensor` (what :func:`~flexnet.layers.Input`
returns) computes no numbers: it records a :class:`Node` (this layer applied to
these tensors) and returns the node's output, a new symbolic tensor that knows
its shape. :class:`~flexnet.models.Model` later walks the nodes from its inputs
to its outputs, builds the layers, and runs them forward in that order and
backward in reverse.
"""

from __future__ import annotations

__all__ = ["Node", "SymbolicTensor", "is_symbolic"]


class SymbolicTensor:
    """A placeholder for the arrays that will flow along one edge of the graph.

    Attributes:
        shape: the shape with the batch axis as ``None``, e.g. ``(None, 30)``.
        node: the node that produces it.
    """

    def __init__(self, shape: tuple, node: Node):
        self.shape = tuple(shape)
        self.node = node

    @property
    def name(self) -> str:
        return self.node.operation.name

    def __repr__(self) -> str:
        return f"<SymbolicTensor shape={self.shape} from {self.node.operation.name!r}>"


class Node:
    """One application of an operation (a layer or a model) to symbolic inputs.

    Attributes:
        operation: the layer or model applied.
        inputs: the symbolic tensors it was called on.
        output: the symbolic tensor it produced.
        index: the position of this node among the operation's calls (0 for the
            first call of a layer, 1 for its second, when it is shared).
        takes_list: the operation received a list (merge layers, multi-input models)
            rather than one tensor.
    """

    def __init__(self, operation, inputs: list, output_shape: tuple, takes_list: bool):
        self.operation = operation
        self.inputs = list(inputs)
        self.takes_list = takes_list
        self.index = len(getattr(operation, "_nodes", []))
        self.output = SymbolicTensor(output_shape, self)


def is_symbolic(x) -> bool:
    """True for a symbolic tensor or a non-empty list/tuple of them."""
    if isinstance(x, SymbolicTensor):
        return True
    return isinstance(x, (list, tuple)) and bool(x) and all(isinstance(t, SymbolicTensor) for t in x)
