"""Models: layers composed into a network, with Keras's compile/fit/evaluate/predict.

:class:`Model` (``model.py``) holds what every model shares: backend, weights,
the training loop, open gradients. :class:`Sequential` is a stack of layers;
:class:`Functional` (what ``Model(inputs=..., outputs=...)`` builds) is any
graph of layers with several inputs and outputs.
"""

from flexnet.models.functional import Functional
from flexnet.models.model import Model
from flexnet.models.sequential import Sequential
from flexnet.saving import load_model, save_model

__all__ = ["Functional", "Model", "Sequential", "load_model", "save_model"]
