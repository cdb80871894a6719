"""Losses: a value and its gradient with respect to the network's output.

A loss defines per-sample values ``ℓ_i`` and their gradients ``∂ℓ_i/∂P``; the
reduction turns them into the reported scalar (``sum_over_batch_size``:
``L = (1/n) Σ_i w_i ℓ_i``, the Keras default; ``sum``: ``L = Σ_i w_i ℓ_i``, with
``w_i = 1`` unless per-sample weights are given) and the matching gradient.
Cross-entropies take ``from_logits``; models fuse a final sigmoid/softmax with its
cross-entropy so backpropagation starts at the logits with ``∂L/∂Z = w (P - y) / n``,
which stays exact where the probabilities saturate.

The base class and its reduction are in ``base.py``; the losses in ``regression.py``
and ``classification.py``.
"""

from __future__ import annotations

from flexnet.losses.base import EPSILON as EPSILON  # the probability clip
from flexnet.losses.base import LOSSES, Loss
from flexnet.losses.base import REDUCTIONS as REDUCTIONS
from flexnet.losses.classification import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    CategoricalHinge,
    Hinge,
    KLDivergence,
    SparseCategoricalCrossentropy,
    SquaredHinge,
)
from flexnet.losses.regression import Huber, LogCosh, MeanAbsoluteError, MeanSquaredError, SumSquaredError

__all__ = [
    "LOSSES",
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "CategoricalHinge",
    "Hinge",
    "Huber",
    "KLDivergence",
    "LogCosh",
    "Loss",
    "MeanAbsoluteError",
    "MeanSquaredError",
    "SparseCategoricalCrossentropy",
    "SquaredHinge",
    "SumSquaredError",
    "deserialize",
    "get",
    "serialize",
]


def serialize(loss: Loss) -> dict:
    """``{"class_name": ..., "config": ...}`` (JSON-serializable), read back by :func:`get`.

    Example:
        >>> serialize(Huber(delta=2.0))["config"]["delta"]
        2.0
    """
    return LOSSES.serialize(loss)


def deserialize(config: dict) -> Loss:
    """The loss described by ``{"class_name": ..., "config": {...}}`` (see :func:`serialize`).

    ``class_name`` is a class name (``"Huber"``) or a registered name (``"huber"``).

    Raises:
        ValueError: unknown class name, or a malformed dict.
        TypeError: a config that the class does not accept.
    """
    return LOSSES.deserialize(config)


def get(identifier) -> Loss:
    """A loss from a name, a class, an instance or a :func:`serialize` dict.

    Raises:
        ValueError: unknown name, listing the valid ones.
        TypeError: anything else.
    """
    return LOSSES.resolve(identifier)
