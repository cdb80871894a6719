"""Data helpers: mini-batches, train/test and validation splits, standardization, one-hot labels.

They work on NumPy arrays on the host and on any Array API array (the namespace
comes from the data), so a hand-written training loop can use the same
mini-batch iterator as ``fit`` (they live in ``flexnet.data.arrays``).
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

__all__ = [
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
