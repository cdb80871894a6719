"""Data helpers: mini-batches, splits, standardization, one-hot labels, and :class:`Dataset`.

The helpers work on NumPy arrays on the host and on any Array API array (the namespace
comes from the data), so a hand-written training loop can use the same mini-batch
iterator as ``fit`` (they live in ``flexnet.data.arrays``). :class:`Dataset` is the base
class for data computed a batch at a time, which ``fit`` reads while it trains
(``flexnet.data.dataset``).
"""

from flexnet.data.arrays import (
    Standardizer,
    StandardScaler,
    batches,
    num_batches,
    one_hot,
    split_validation,
    to_categorical,
    train_test_split,
    validation_cut,
)
from flexnet.data.arrays import check_batch_size as check_batch_size  # the trainer's, not in __all__
from flexnet.data.dataset import Dataset, PyDataset

__all__ = [
    "Dataset",
    "PyDataset",
    "StandardScaler",
    "Standardizer",
    "batches",
    "validation_cut",
    "num_batches",
    "one_hot",
    "split_validation",
    "to_categorical",
    "train_test_split",
]
