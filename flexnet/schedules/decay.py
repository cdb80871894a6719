"""The decays: exponential, inverse time, inverse square root, piecewise constant,
polynomial, cosine (with warmup) and cosine with warm restarts, as Keras defines them.
"""

from __future__ import annotations

import bisect
import math

from flexnet.schedules.base import SCHEDULES, LearningRateSchedule, _count, _flag, _name, _real, _step

__all__ = ["CosineDecay", "CosineDecayRestarts", "ExponentialDecay", "InverseSqrtDecay", "InverseTimeDecay",
           "PiecewiseConstantDecay", "PolynomialDecay"]


class _Decay(LearningRateSchedule):
    """Shared arguments of the decays driven by ``p = t / decay_steps`` (floored with staircase)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase, name):
        self.initial_learning_rate = _real(initial_learning_rate, "initial_learning_rate")
        self.decay_steps = _count(decay_steps, "decay_steps", positive=True)
        self.decay_rate = _real(decay_rate, "decay_rate")
        self.staircase = _flag(staircase, "staircase")
        self.name = _name(name)

    def _progress(self, step) -> float:
        p = _step(step) / self.decay_steps
        return math.floor(p) if self.staircase else p

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
            "name": self.name,
        }


@SCHEDULES.register("exponential_decay")
class ExponentialDecay(_Decay):
    """``α_t = α0 · decay_rate^(t / decay_steps)``, as Keras.

    With ``staircase=True`` the exponent is ``floor(t / decay_steps)``: the rate
    drops by ``decay_rate`` every ``decay_steps`` steps (``torch.optim.lr_scheduler.StepLR``).
    ``decay_steps=1`` is ``ExponentialLR``.

    Args:
        initial_learning_rate: α0.
        decay_steps: positive number of steps per unit of the exponent.
        decay_rate: positive factor (below 1 to decay).
        staircase: floor the exponent.
        name: a label kept in the config.
    """

    def __init__(self, initial_learning_rate: float, decay_steps: int, decay_rate: float,
                 staircase: bool = False, name: str = "ExponentialDecay"):
        _real(decay_rate, "decay_rate", strict=True)
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step) -> float:
        return self.initial_learning_rate * self.decay_rate ** self._progress(step)


@SCHEDULES.register("inverse_time_decay")
class InverseTimeDecay(_Decay):
    """``α_t = α0 / (1 + decay_rate · t / decay_steps)``, as Keras.

    The course's ``α0 / (1 + decay · epoch)`` (epoch counted from 0) is
    ``InverseTimeDecay(α0, decay_steps=steps_per_epoch, decay_rate=decay, staircase=True)``.

    Args:
        initial_learning_rate: α0.
        decay_steps: positive number of steps per unit of time.
        decay_rate: non-negative.
        staircase: use ``floor(t / decay_steps)``.
        name: a label kept in the config.
    """

    def __init__(self, initial_learning_rate: float, decay_steps: int, decay_rate: float,
                 staircase: bool = False, name: str = "InverseTimeDecay"):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step) -> float:
        return self.initial_learning_rate / (1.0 + self.decay_rate * self._progress(step))


@SCHEDULES.register("inverse_sqrt_decay")
class InverseSqrtDecay(_Decay):
    """``α_t = α0 / sqrt(1 + decay_rate · t / decay_steps)``: inverse square-root decay.

    ``α_0 = α0`` at the first step. The course's ``k / sqrt(epoch) · α0`` with
    epochs counted from 1 is ``InverseSqrtDecay(k · α0, decay_steps=steps_per_epoch,
    staircase=True)``: during epoch ``e = 1 + floor(t / steps_per_epoch)`` the rate
    is ``k · α0 / sqrt(e)``.

    Args:
        initial_learning_rate: α0.
        decay_steps: positive number of steps per unit of time.
        decay_rate: non-negative (default 1).
        staircase: use ``floor(t / decay_steps)``.
        name: a label kept in the config.

    Example:
        >>> import flexnet as fx
        >>> s = fx.schedules.InverseSqrtDecay(0.3, decay_steps=10, staircase=True)
        >>> [round(s(t), 4) for t in (0, 9, 10, 30)]   # epochs 1, 1, 2, 4
        [0.3, 0.3, 0.2121, 0.15]
    """

    def __init__(self, initial_learning_rate: float, decay_steps: int, decay_rate: float = 1.0,
                 staircase: bool = False, name: str = "InverseSqrtDecay"):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step) -> float:
        return self.initial_learning_rate / math.sqrt(1.0 + self.decay_rate * self._progress(step))


@SCHEDULES.register("piecewise_constant_decay")
class PiecewiseConstantDecay(LearningRateSchedule):
    """Step decay: constant values between step boundaries, as Keras.

    ``values[0]`` while ``t <= boundaries[0]``, ``values[i]`` while
    ``boundaries[i-1] < t <= boundaries[i]``, and ``values[-1]`` after the last
    boundary. (``torch.optim.lr_scheduler.MultiStepLR`` with milestone ``m`` changes
    the rate at ``t = m``: the same as boundary ``m - 1`` here.)

    Args:
        boundaries: strictly increasing step counts.
        values: the rates, one more than ``boundaries``.
        name: a label kept in the config.

    Example:
        >>> import flexnet as fx
        >>> s = fx.schedules.PiecewiseConstantDecay([100, 150], [0.1, 0.01, 0.001])
        >>> s(100), s(101), s(151)
        (0.1, 0.01, 0.001)
    """

    def __init__(self, boundaries, values, name: str = "PiecewiseConstant"):
        if not isinstance(boundaries, (list, tuple)) or not isinstance(values, (list, tuple)):
            raise TypeError(f"boundaries and values must be lists, got {boundaries!r} and {values!r}")
        if len(values) != len(boundaries) + 1:
            raise ValueError(
                f"values must have one more entry than boundaries, got {len(boundaries)} "
                f"boundaries and {len(values)} values"
            )
        self.boundaries = [_count(b, "each boundary", positive=False) for b in boundaries]
        if any(a >= b for a, b in zip(self.boundaries, self.boundaries[1:])):
            raise ValueError(f"boundaries must be strictly increasing, got {list(boundaries)}")
        self.values = [_real(v, "each value") for v in values]
        self.name = _name(name)

    def __call__(self, step) -> float:
        return self.values[bisect.bisect_left(self.boundaries, _step(step))]

    def get_config(self):
        return {"boundaries": list(self.boundaries), "values": list(self.values), "name": self.name}


@SCHEDULES.register("polynomial_decay")
class PolynomialDecay(LearningRateSchedule):
    """``α_t = (α0 - α_end) · (1 - t / decay_steps)^power + α_end``, as Keras.

    ``t`` stops at ``decay_steps`` (the rate stays at ``α_end``), unless
    ``cycle=True``: then ``decay_steps`` is replaced by its first multiple
    ``≥ t`` (``decay_steps`` itself at ``t = 0``) and the rate jumps back up.
    ``end_learning_rate=0`` is ``torch.optim.lr_scheduler.PolynomialLR``.

    Args:
        initial_learning_rate: α0.
        decay_steps: positive number of steps to decay over.
        end_learning_rate: α_end.
        power: positive exponent (1 is linear).
        cycle: restart after ``decay_steps``.
        name: a label kept in the config.
    """

    def __init__(self, initial_learning_rate: float, decay_steps: int,
                 end_learning_rate: float = 0.0001, power: float = 1.0, cycle: bool = False,
                 name: str = "PolynomialDecay"):
        self.initial_learning_rate = _real(initial_learning_rate, "initial_learning_rate")
        self.decay_steps = _count(decay_steps, "decay_steps", positive=True)
        self.end_learning_rate = _real(end_learning_rate, "end_learning_rate")
        self.power = _real(power, "power", strict=True)
        self.cycle = _flag(cycle, "cycle")
        self.name = _name(name)

    def __call__(self, step) -> float:
        t, T = _step(step), self.decay_steps
        if self.cycle:
            T = T * max(1, math.ceil(t / T))
        else:
            t = min(t, T)
        a0, a_end = self.initial_learning_rate, self.end_learning_rate
        return (a0 - a_end) * (1.0 - t / T) ** self.power + a_end

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "end_learning_rate": self.end_learning_rate,
            "power": self.power,
            "cycle": self.cycle,
            "name": self.name,
        }


@SCHEDULES.register("cosine_decay")
class CosineDecay(LearningRateSchedule):
    """Cosine decay with an optional linear warmup, as Keras 3.

    Without ``warmup_target``: with ``t' = min(t, decay_steps)``,
    ``α_t = α0 · ((1 - alpha) · ½(1 + cos(π t' / decay_steps)) + alpha)``,
    from α0 down to ``alpha · α0``, then constant
    (``torch.optim.lr_scheduler.CosineAnnealingLR`` with ``eta_min = alpha · α0``
    for ``t <= T_max``).

    With ``warmup_target``: for ``t < warmup_steps`` the rate rises linearly,
    ``α_t = α0 + (warmup_target - α0) · t / warmup_steps``; then the cosine above
    runs from ``warmup_target`` (in place of α0) over the next ``decay_steps``
    steps, down to ``alpha · warmup_target``.

    Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm Restarts",
    ICLR 2017; Goyal et al., "Accurate, Large Minibatch SGD", 2017 (warmup).

    Args:
        initial_learning_rate: α0.
        decay_steps: positive number of steps of the cosine.
        alpha: the final rate as a fraction of the peak, in ``[0, 1]``.
        name: a label kept in the config.
        warmup_target: the rate reached at the end of the warmup; ``None`` for no warmup.
        warmup_steps: number of warmup steps (needs ``warmup_target``).

    Example:
        >>> import flexnet as fx
        >>> s = fx.schedules.CosineDecay(0.0, decay_steps=100, warmup_target=0.1, warmup_steps=10)
        >>> round(s(5), 6), round(s(10), 6), round(s(60), 6), round(s(110), 6)
        (0.05, 0.1, 0.05, 0.0)
    """

    def __init__(self, initial_learning_rate: float, decay_steps: int, alpha: float = 0.0,
                 name: str = "CosineDecay", warmup_target: float | None = None,
                 warmup_steps: int = 0):
        self.initial_learning_rate = _real(initial_learning_rate, "initial_learning_rate")
        self.decay_steps = _count(decay_steps, "decay_steps", positive=True)
        self.alpha = _real(alpha, "alpha")
        if self.alpha > 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
        self.name = _name(name)
        self.warmup_target = None if warmup_target is None else _real(warmup_target, "warmup_target")
        self.warmup_steps = _count(warmup_steps, "warmup_steps", positive=False)
        if self.warmup_target is None and self.warmup_steps > 0:
            raise ValueError(
                f"warmup_steps={warmup_steps!r} needs warmup_target, the rate to warm up to"
            )

    def _cosine(self, t: float, peak: float) -> float:
        cosine = 0.5 * (1.0 + math.cos(math.pi * t / self.decay_steps))
        return peak * ((1.0 - self.alpha) * cosine + self.alpha)

    def __call__(self, step) -> float:
        t = _step(step)
        if self.warmup_target is None:
            return self._cosine(min(t, self.decay_steps), self.initial_learning_rate)
        W = self.warmup_steps
        t = min(t, self.decay_steps + W)
        if t < W:
            a0 = self.initial_learning_rate
            return a0 + (self.warmup_target - a0) * (t / W)
        return self._cosine(t - W, self.warmup_target)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "alpha": self.alpha,
            "name": self.name,
            "warmup_target": self.warmup_target,
            "warmup_steps": self.warmup_steps,
        }


@SCHEDULES.register("cosine_decay_restarts")
class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts (SGDR), as Keras 3's ``CosineDecayRestarts``.

    Period ``i = 0, 1, ...`` lasts ``T_i = first_decay_steps · t_mulⁱ`` steps and starts at
    ``S_i = T_0 + ... + T_{i-1}``; inside it, with ``f = (t - S_i) / T_i`` in ``[0, 1)``::

        α_t = α0 · ((1 - alpha) · m_mulⁱ · ½(1 + cos(π f)) + alpha)

    so each period falls from ``m_mulⁱ`` times the first peak (less the floor) to
    ``alpha · α0`` and then restarts. With ``m_mul = 1`` this is
    ``torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(T_0=first_decay_steps,
    T_mult=t_mul, eta_min=alpha · α0)``. The period of a step is found exactly (Keras takes a
    floating-point logarithm, which can put a step on a restart boundary in the wrong period).

    Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm Restarts", ICLR 2017.

    Args:
        initial_learning_rate: α0.
        first_decay_steps: ``T_0 > 0``, the length of the first period.
        t_mul: ``≥ 1``, each period is ``t_mul`` times longer than the one before. (Keras
            also takes ``t_mul < 1``, whose periods add up to a finite number of steps after
            which its rate is NaN; flexnet refuses it.)
        m_mul: ``≥ 0``, each period's peak is ``m_mul`` times the one before.
        alpha: the floor as a fraction of α0, in ``[0, 1]``.
        name: a label kept in the config.

    Example:
        >>> import flexnet as fx
        >>> s = fx.schedules.CosineDecayRestarts(0.1, first_decay_steps=10, t_mul=2.0, m_mul=0.5)
        >>> round(s(0), 6), round(s(5), 6), round(s(10), 6), round(s(20), 6), round(s(30), 6)
        (0.1, 0.05, 0.05, 0.025, 0.025)
    """

    def __init__(self, initial_learning_rate: float, first_decay_steps: int, t_mul: float = 2.0,
                 m_mul: float = 1.0, alpha: float = 0.0, name: str = "SGDRDecay"):
        self.initial_learning_rate = _real(initial_learning_rate, "initial_learning_rate")
        self.first_decay_steps = _count(first_decay_steps, "first_decay_steps", positive=True)
        self.t_mul = _real(t_mul, "t_mul", minimum=1.0)
        self.m_mul = _real(m_mul, "m_mul")
        self.alpha = _real(alpha, "alpha")
        if self.alpha > 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
        self.name = _name(name)

    def _start(self, i: int) -> float:
        """``S_i``, the step at which period ``i`` starts."""
        T, r = self.first_decay_steps, self.t_mul
        return T * i if r == 1.0 else T * (r**i - 1.0) / (r - 1.0)

    def _period(self, t: float) -> int:
        """The period ``i`` with ``S_i ≤ t < S_{i+1}``: a logarithm, then corrected exactly."""
        T, r = self.first_decay_steps, self.t_mul
        i = math.floor(t / T) if r == 1.0 else math.floor(math.log1p(t / T * (r - 1.0)) / math.log(r))
        while self._start(i + 1) <= t:
            i += 1
        while i > 0 and self._start(i) > t:
            i -= 1
        return i

    def __call__(self, step) -> float:
        t = _step(step)
        i = self._period(t)
        f = (t - self._start(i)) / (self.first_decay_steps * self.t_mul**i)
        cosine = 0.5 * (1.0 + math.cos(math.pi * f))
        return self.initial_learning_rate * ((1.0 - self.alpha) * self.m_mul**i * cosine + self.alpha)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "first_decay_steps": self.first_decay_steps,
            "t_mul": self.t_mul,
            "m_mul": self.m_mul,
            "alpha": self.alpha,
            "name": self.name,
        }
