"""Learning-rate schedules: the rate as a function of the optimizer's step count.

A schedule is called with ``step``, the number of updates the optimizer has
already taken (0 for the first update), and returns a Python float. Pass one
as any optimizer's ``learning_rate``; a plain function ``f(step) -> float``
works there too, but only a :class:`LearningRateSchedule` can be saved.

    >>> import flexnet as fx
    >>> schedule = fx.schedules.ExponentialDecay(0.1, decay_steps=100, decay_rate=0.5)
    >>> schedule(0), schedule(100), schedule(200)
    (0.1, 0.05, 0.025)
    >>> optimizer = fx.optimizers.SGD(learning_rate=schedule)

**Per step or per epoch.** Schedules count optimizer steps (batches). To change
the rate once per epoch, with ``steps_per_epoch = ceil(n_samples / batch_size)``:

* ``ExponentialDecay``, ``InverseTimeDecay`` and ``InverseSqrtDecay`` take
  ``decay_steps=steps_per_epoch, staircase=True``: the exponent becomes the
  number of completed epochs. The course's ``0.95^epoch · α0`` is
  ``ExponentialDecay(α0, steps_per_epoch, 0.95, staircase=True)``.
* Any schedule (or function) can be wrapped in :class:`PerEpoch`, which calls
  it with the number of completed epochs ``step // steps_per_epoch``, so its
  ``decay_steps`` count epochs:

    >>> per_epoch = fx.schedules.PerEpoch(fx.schedules.CosineDecay(0.1, decay_steps=10),
    ...                                   steps_per_epoch=32)
    >>> per_epoch(31) == 0.1 and per_epoch(32) < 0.1   # constant within an epoch
    True

**Saving.** :func:`serialize` gives ``{"class_name": ..., "config": ...}`` and
:func:`deserialize` (or :func:`get`) rebuilds the schedule from it.

The base class, the argument checks and the configs are in ``base.py``; the decays in
``decay.py``; :class:`PerEpoch` in ``per_epoch.py``.
"""

from __future__ import annotations

from flexnet.schedules.base import SCHEDULES, LearningRateSchedule, deserialize, get, serialize
from flexnet.schedules.decay import (
    CosineDecay,
    CosineDecayRestarts,
    ExponentialDecay,
    InverseSqrtDecay,
    InverseTimeDecay,
    PiecewiseConstantDecay,
    PolynomialDecay,
)
from flexnet.schedules.per_epoch import PerEpoch

__all__ = [
    "SCHEDULES",
    "CosineDecay",
    "CosineDecayRestarts",
    "ExponentialDecay",
    "InverseSqrtDecay",
    "InverseTimeDecay",
    "LearningRateSchedule",
    "PerEpoch",
    "PiecewiseConstantDecay",
    "PolynomialDecay",
    "deserialize",
    "get",
    "serialize",
]
