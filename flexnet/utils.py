"""Small public helpers under Keras's ``keras.utils`` names: seeding, ``to_categorical``.

``set_random_seed`` makes runs repeatable: each model draws its own generator
seed from one seed sequence, so the same seed and the same order of model
builds give the same weights, dropout masks and shuffles on the same backend.
"""

from __future__ import annotations

import contextlib
import random as _pyrandom
import threading

import numpy as np

__all__ = ["seeded", "set_random_seed", "to_categorical"]

_seeds = np.random.SeedSequence()  # fresh entropy until set_random_seed is called
_seeds_lock = threading.RLock()


def set_random_seed(seed: int) -> None:
    """Seed flexnet, Python's ``random`` and NumPy's global generator, as Keras does.

    Args:
        seed: a non-negative integer.

    Example:
        >>> import flexnet as fx
        >>> fx.utils.set_random_seed(42)
    """
    global _seeds
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    _seeds = np.random.SeedSequence(int(seed))
    _pyrandom.seed(int(seed))
    np.random.seed(int(seed) % 2**32)  # noqa: NPY002 - seeding the legacy global generator is the point


def next_seed() -> int:
    """A new 63-bit seed from the sequence :func:`set_random_seed` started."""
    with _seeds_lock:
        (child,) = _seeds.spawn(1)
    return int(child.generate_state(2, dtype=np.uint64)[0] >> np.uint64(1))


@contextlib.contextmanager
def seeded(seed: int | None):
    """Models built inside draw their seeds from ``seed`` alone, as after
    ``set_random_seed(seed)``, without touching the global sequence, Python's ``random`` or
    NumPy's global generator (an estimator's ``random_state``); ``None`` changes nothing.

    Other threads that build models wait until the block ends.

    Example:
        >>> import flexnet as fx
        >>> with fx.utils.seeded(3):
        ...     a = fx.Sequential([fx.layers.Dense(2, input_dim=2)]).get_weights()[0]
        >>> with fx.utils.seeded(3):
        ...     b = fx.Sequential([fx.layers.Dense(2, input_dim=2)]).get_weights()[0]
        >>> bool((a == b).all())
        True
    """
    global _seeds
    if seed is None:
        yield
        return
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    with _seeds_lock:
        saved, _seeds = _seeds, np.random.SeedSequence(int(seed))
        try:
            yield
        finally:
            _seeds = saved


def derive_seed(seed: int) -> int:
    """A new seed determined by ``seed`` (for a generator that must not repeat another's stream)."""
    state = np.random.SeedSequence(int(seed)).spawn(1)[0].generate_state(2, dtype=np.uint64)
    return int(state[0] >> np.uint64(1))


def to_categorical(y, num_classes: int | None = None, dtype="float32"):
    """Integer class labels to one-hot rows: Keras's ``keras.utils.to_categorical``, the same
    function as :func:`flexnet.data.to_categorical` (see it for the details).

    Example:
        >>> import flexnet as fx
        >>> fx.utils.to_categorical([0, 2], num_classes=3)
        array([[1., 0., 0.],
               [0., 0., 1.]], dtype=float32)
    """
    from flexnet import data  # data sits above utils (it draws its seeds from here)

    return data.to_categorical(y, num_classes, dtype)
