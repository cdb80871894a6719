""":class:`PerEpoch`: any schedule (or function) run once per epoch instead of once per
step, so that its ``decay_steps`` count epochs.
"""

from __future__ import annotations

import math
import numbers

from flexnet.schedules.base import SCHEDULES, LearningRateSchedule, _step, get, serialize

__all__ = ["PerEpoch"]


@SCHEDULES.register("per_epoch")
class PerEpoch(LearningRateSchedule):
    """Runs a schedule per epoch: ``α_t = schedule(t // steps_per_epoch)``.

    The wrapped schedule sees the number of completed epochs (0 during the first
    epoch), so its ``decay_steps`` count epochs and the rate changes only at epoch
    boundaries. ``steps_per_epoch`` is the number of batches per epoch,
    ``ceil(n_samples / batch_size)``.

    Args:
        schedule: a :class:`LearningRateSchedule`, its config dict, or a function
            ``f(epoch) -> float`` (a function cannot be saved).
        steps_per_epoch: positive int.

    Example:
        >>> import flexnet as fx
        >>> s = fx.schedules.PerEpoch(fx.schedules.ExponentialDecay(0.1, 1, 0.95), steps_per_epoch=8)
        >>> s(7) == 0.1 and s(8) == 0.1 * 0.95   # the course's 0.95^epoch · α0
        True
    """

    def __init__(self, schedule, steps_per_epoch: int):
        self.schedule = get(schedule)
        if not callable(self.schedule):
            raise TypeError(f"schedule must be a schedule or a function, got {schedule!r}")
        if (isinstance(steps_per_epoch, bool) or not isinstance(steps_per_epoch, numbers.Integral)
                or steps_per_epoch <= 0):
            raise ValueError(f"steps_per_epoch must be a positive int, got {steps_per_epoch!r}")
        self.steps_per_epoch = int(steps_per_epoch)

    def __call__(self, step) -> float:
        return float(self.schedule(math.floor(_step(step)) // self.steps_per_epoch))

    def get_config(self):
        return {"schedule": serialize(self.schedule), "steps_per_epoch": self.steps_per_epoch}
