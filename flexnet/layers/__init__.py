"""Layers: forward/backward pairs that own their parameters and gradients.

Every layer subclasses :class:`Layer` (``flexnet.layers.base``); each module of
this package holds one family: ``core`` (Dense, Activation, Dropout, Flatten).
"""

from flexnet.layers.base import Layer, normalize_shape
from flexnet.layers.core import Activation, Dense, Dropout, Flatten

__all__ = ["Activation", "Dense", "Dropout", "Flatten", "Layer", "normalize_shape"]
