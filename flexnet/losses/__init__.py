"""Losses: a value and its gradient with respect to the network's output.

A loss defines per-sample values ``ℓ_i`` and their gradients ``∂ℓ_i/∂P``; the
reduction turns them into the reported scalar (``sum_over_batch_size``:
``L = (1/n) Σ_i w_i ℓ_i``, the Keras default; ``sum``: ``L = Σ_i w_i ℓ_i``;
``mean_with_sample_weight``: ``Σ_i w_i ℓ_i / Σ_i w_i``; ``None``: the per-sample values,
with ``w_i = 1`` unless per-sample weights are given) and the matching gradient.
Cross-entropies take ``from_logits`` and ``label_smoothing``; models fuse a final
sigmoid/softmax with its cross-entropy so backpropagation starts at the logits with
``∂L/∂Z = w (P - y) / n``, which stays exact where the probabilities saturate.
Called on a batch, a loss returns its value as Keras's do: ``loss(y_true, y_pred)``.

The base class and its reduction are in ``base.py``; the losses in ``regression.py``,
``crossentropy.py``, ``focal.py`` and ``classification.py`` (hinges, KL divergence).
"""

from __future__ import annotations

from flexnet.losses.base import EPSILON as EPSILON  # the probability clip
from flexnet.losses.base import LOSSES, Loss
from flexnet.losses.base import REDUCTIONS as REDUCTIONS
from flexnet.losses.classification import CategoricalHinge, Hinge, KLDivergence, SquaredHinge
from flexnet.losses.crossentropy import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    SparseCategoricalCrossentropy,
)
from flexnet.losses.focal import BinaryFocalCrossentropy, CategoricalFocalCrossentropy
from flexnet.losses.regression import (
    CosineSimilarity,
    Huber,
    LogCosh,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredError,
    MeanSquaredLogarithmicError,
    Poisson,
    SumSquaredError,
)

__all__ = [
    "LOSSES",
    "BinaryCrossentropy",
    "BinaryFocalCrossentropy",
    "CategoricalCrossentropy",
    "CategoricalFocalCrossentropy",
    "CategoricalHinge",
    "CosineSimilarity",
    "Hinge",
    "Huber",
    "KLDivergence",
    "LogCosh",
    "Loss",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanSquaredError",
    "MeanSquaredLogarithmicError",
    "Poisson",
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
