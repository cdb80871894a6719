"""Layers: forward/backward pairs that own their parameters and gradients.

Every layer subclasses :class:`Layer` (``flexnet.layers.base``; ``call`` holds what calling
one does: record a node on symbolic tensors, compute on arrays); each module of this
package holds one family: ``core`` (Dense, Activation, Dropout), ``activation`` (ReLU,
LeakyReLU, Softmax, PReLU), ``reshaping`` (Flatten, Reshape), ``lambda_layer`` (Lambda),
``noise`` (GaussianNoise), ``preprocessing`` (Normalization), ``input_layer`` (Input),
``merging`` (Concatenate, Add, ...), ``normalization`` (BatchNormalization,
LayerNormalization), ``node`` (the symbolic tensors of the functional API).
"""

from flexnet.layers.activation import LeakyReLU, PReLU, ReLU, Softmax
from flexnet.layers.base import Cache, Layer, normalize_shape
from flexnet.layers.core import Activation, Dense, Dropout
from flexnet.layers.input_layer import Input, InputLayer
from flexnet.layers.lambda_layer import Lambda
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
from flexnet.layers.noise import GaussianNoise
from flexnet.layers.normalization import BatchNormalization, LayerNormalization
from flexnet.layers.preprocessing import Normalization
from flexnet.layers.reshaping import Flatten, Reshape

__all__ = [
    "Activation", "Add", "add", "Cache", "Average", "average", "BatchNormalization", "Concatenate",
    "concatenate", "Dense", "Dropout", "Flatten", "GaussianNoise", "Input", "InputLayer", "Lambda",
    "Layer", "LayerNormalization", "LeakyReLU", "Maximum", "maximum", "Minimum", "minimum", "Multiply",
    "multiply", "Normalization", "normalize_shape", "PReLU", "ReLU", "Reshape", "Softmax", "Subtract",
    "subtract", "SymbolicTensor",
]
