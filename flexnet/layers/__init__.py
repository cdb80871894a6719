"""Layers: forward/backward pairs that own their parameters and gradients.

Every layer subclasses :class:`Layer` (``flexnet.layers.base``); each module of
this package holds one family: ``core`` (Dense, Activation, Dropout, Flatten),
``activation`` (PReLU), ``input_layer`` (Input), ``merging`` (Concatenate, Add, ...), ``normalization``
(BatchNormalization, LayerNormalization), ``node`` (the
symbolic tensors of the functional API).
"""

from flexnet.layers.activation import PReLU
from flexnet.layers.base import Cache, Layer, normalize_shape
from flexnet.layers.core import Activation, Dense, Dropout, Flatten
from flexnet.layers.input_layer import Input, InputLayer
from flexnet.layers.merging import (
    Add,
    Average,
    Concatenate,
    Maximum,
    Minimum,
    Multiply,
    Subtract,
    add,
    average,
    concatenate,
    maximum,
    minimum,
    multiply,
    subtract,
)
from flexnet.layers.node import SymbolicTensor
from flexnet.layers.normalization import BatchNormalization, LayerNormalization

__all__ = [
    "Activation", "Add", "add", "Cache", "Average", "average", "BatchNormalization", "Concatenate",
    "concatenate", "Dense", "Dropout", "Flatten", "Input", "InputLayer", "Layer",
    "LayerNormalization", "Maximum", "maximum", "Minimum", "minimum", "Multiply", "multiply",
    "normalize_shape", "PReLU", "Subtract", "subtract", "SymbolicTensor",
]
