"""Optimizers: ``init`` a state per parameter, then ``update`` it from a gradient.

The base class owns the loop over parameters, the step counter, the learning
rate (a number or a schedule ``f(step) -> rate``), gradient clipping and
decoupled weight decay; a subclass writes two small methods. Update rules follow
``torch.optim`` so trajectories match PyTorch step for step. Sorted by
increasing complexity: SGD, Adagrad, RMSprop, Adadelta, Adam, AdamW, Nadam, Adamax, Lion, Ftrl
(``sgd.py``, ``adaptive.py``, ``adam.py``, ``adamax.py``, ``lion.py``, ``ftrl.py``; the base
class in ``base.py``).
"""

from flexnet.optimizers.adam import Adam, AdamW, Nadam
from flexnet.optimizers.adamax import Adamax
from flexnet.optimizers.adaptive import Adadelta, Adagrad, RMSprop
from flexnet.optimizers.base import OPTIMIZERS, Optimizer
from flexnet.optimizers.ftrl import Ftrl
from flexnet.optimizers.lion import Lion
from flexnet.optimizers.sgd import SGD

__all__ = [
    "OPTIMIZERS",
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "Ftrl",
    "Lion",
    "Nadam",
    "Optimizer",
    "RMSprop",
    "get",
]


def get(identifier) -> Optimizer:
    """An optimizer from a name (default hyperparameters), a class, an instance or a config dict.

    Raises:
        ValueError: unknown name, listing the valid ones.
    """
    return OPTIMIZERS.resolve(identifier)
