"""Learning-rate schedules: values against their formulas and ``torch.optim.lr_scheduler``,
the rate an optimizer uses inside ``fit``, per-epoch schedules, configs and errors.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import flexnet as fx
from flexnet import schedules
from flexnet.layers import Dense

STEPS = range(0, 301)


def _values(schedule, steps=STEPS) -> np.ndarray:
    out = [schedule(t) for t in steps]
    assert all(type(v) is float for v in out)
    return np.array(out)


# ---------------------------------------------------------------------------
# Formulas, written out by hand.

def _keras_restarts(initial, decay_steps, t_mul=2.0, m_mul=1.0, alpha=0.0):
    """The reference of keras/src/optimizers/schedules/learning_rate_schedule_test.py
    (``np_cosine_decay_restarts``), times the initial rate."""

    def formula(step):
        fac = 1.0
        T = decay_steps
        while step >= T:
            step -= T
            T *= t_mul
            fac *= m_mul
        decay = fac * 0.5 * (1.0 + math.cos(math.pi * step / T))
        return initial * ((1.0 - alpha) * decay + alpha)

    return formula


FORMULAS = [
    (schedules.ExponentialDecay(0.1, 20, 0.5),
     lambda t: 0.1 * 0.5 ** (t / 20)),
    (schedules.ExponentialDecay(0.1, 20, 0.5, staircase=True),
     lambda t: 0.1 * 0.5 ** (t // 20)),
    (schedules.InverseTimeDecay(0.2, 10, 0.5),
     lambda t: 0.2 / (1 + 0.5 * t / 10)),
    (schedules.InverseTimeDecay(0.2, 10, 0.5, staircase=True),
     lambda t: 0.2 / (1 + 0.5 * (t // 10))),
    (schedules.InverseSqrtDecay(0.3, 7),
     lambda t: 0.3 / math.sqrt(1 + t / 7)),
    (schedules.InverseSqrtDecay(0.3, 7, decay_rate=2.0, staircase=True),
     lambda t: 0.3 / math.sqrt(1 + 2 * (t // 7))),
    (schedules.PiecewiseConstantDecay([50, 120, 200], [1.0, 0.5, 0.1, 0.01]),
     lambda t: 1.0 if t <= 50 else 0.5 if t <= 120 else 0.1 if t <= 200 else 0.01),
    (schedules.PolynomialDecay(0.1, 100, end_learning_rate=0.01, power=0.5),
     lambda t: 0.09 * (1 - min(t, 100) / 100) ** 0.5 + 0.01),
    (schedules.PolynomialDecay(0.1, 100, end_learning_rate=0.01, cycle=True),
     lambda t: 0.09 * (1 - t / (100 * max(1, math.ceil(t / 100)))) + 0.01),
    (schedules.CosineDecay(0.1, 200, alpha=0.2),
     lambda t: 0.1 * (0.8 * 0.5 * (1 + math.cos(math.pi * min(t, 200) / 200)) + 0.2)),
    (schedules.CosineDecay(0.01, 150, warmup_target=0.2, warmup_steps=50),
     lambda t: 0.01 + 0.19 * t / 50 if t < 50
     else 0.2 * 0.5 * (1 + math.cos(math.pi * min(t - 50, 150) / 150))),
    (schedules.CosineDecay(0.05, 100, alpha=0.1, warmup_target=0.2, warmup_steps=0),
     lambda t: 0.2 * (0.9 * 0.5 * (1 + math.cos(math.pi * min(t, 100) / 100)) + 0.1)),
    (schedules.CosineDecayRestarts(0.1, 20), _keras_restarts(0.1, 20)),
    (schedules.CosineDecayRestarts(0.1, 20, alpha=0.1), _keras_restarts(0.1, 20, alpha=0.1)),
    (schedules.CosineDecayRestarts(0.1, 20, m_mul=0.9), _keras_restarts(0.1, 20, m_mul=0.9)),
    (schedules.CosineDecayRestarts(0.1, 20, t_mul=1.0), _keras_restarts(0.1, 20, t_mul=1.0)),
    (schedules.CosineDecayRestarts(0.05, 7, t_mul=1.5, m_mul=0.8, alpha=0.2),
     _keras_restarts(0.05, 7, t_mul=1.5, m_mul=0.8, alpha=0.2)),
    (schedules.CosineDecayRestarts(0.1, 3, t_mul=3.0, m_mul=4.0, alpha=0.1),  # Keras's config test
     _keras_restarts(0.1, 3, t_mul=3.0, m_mul=4.0, alpha=0.1)),
]


@pytest.mark.parametrize(("schedule", "formula"), FORMULAS, ids=[repr(s) for s, _ in FORMULAS])
def test_schedule_follows_its_formula(schedule, formula):
    np.testing.assert_allclose(_values(schedule), [formula(t) for t in STEPS], rtol=1e-13, atol=1e-16)


@pytest.mark.parametrize(("schedule", "formula"), FORMULAS, ids=[repr(s) for s, _ in FORMULAS])
def test_schedule_starts_where_the_formula_starts(schedule, formula):
    assert schedule(0) == pytest.approx(formula(0), rel=1e-15)


@pytest.mark.parametrize("t_mul", [2.0, 3.0, 1.5])
def test_restarts_start_exactly_at_the_period_boundaries(t_mul):
    """At the first step of each period the rate is its peak, however the periods add up."""
    schedule = schedules.CosineDecayRestarts(1.0, 10, t_mul=t_mul, m_mul=0.5)
    start, length = 0.0, 10.0
    for i in range(12):
        assert schedule(start) == pytest.approx(0.5**i, rel=1e-12)
        assert schedule(start + 0.999 * length) < 1e-4 * 0.5**i + 1e-15
        start, length = start + length, length * t_mul
    assert schedule(10**7) >= 0.0


def test_keras_boundary_conventions():
    piecewise = schedules.PiecewiseConstantDecay([10, 20], [3.0, 2.0, 1.0])
    assert [piecewise(t) for t in (0, 10, 11, 20, 21, 10**6)] == [3.0, 3.0, 2.0, 2.0, 1.0, 1.0]
    cosine = schedules.CosineDecay(1.0, 10, alpha=0.25)
    assert cosine(10) == pytest.approx(0.25) and cosine(1000) == cosine(10)  # stays at the floor
    poly = schedules.PolynomialDecay(1.0, 10, end_learning_rate=0.5, cycle=True)
    assert poly(0) == 1.0 and poly(10) == 0.5 and poly(11) == pytest.approx(0.5 + 0.5 * 9 / 20)
    assert schedules.PolynomialDecay(1.0, 10, end_learning_rate=0.5)(50) == 0.5


def test_floating_point_steps_and_numpy_integers():
    schedule = schedules.ExponentialDecay(1.0, 4, 0.5)
    assert schedule(np.int64(8)) == schedule(8) == 0.25
    assert schedule(2.0) == pytest.approx(0.5**0.5)


# ---------------------------------------------------------------------------
# The course's per-epoch formulas.

SPE = 7  # steps per epoch


def _epoch(t: int) -> int:
    return t // SPE


def test_course_formulas_per_epoch():
    a0 = 0.2
    inverse_time = schedules.InverseTimeDecay(a0, SPE, decay_rate=1.5, staircase=True)
    exponential = schedules.ExponentialDecay(a0, SPE, 0.95, staircase=True)
    inverse_sqrt = schedules.InverseSqrtDecay(3.0 * a0, SPE, staircase=True)  # k = 3
    np.testing.assert_allclose(_values(inverse_time), [a0 / (1 + 1.5 * _epoch(t)) for t in STEPS],
                               rtol=1e-14)
    np.testing.assert_allclose(_values(exponential), [0.95 ** _epoch(t) * a0 for t in STEPS],
                               rtol=1e-14)
    # epochs counted from 1 for k / sqrt(epoch): no division by zero at t = 0
    np.testing.assert_allclose(_values(inverse_sqrt),
                               [3.0 / math.sqrt(1 + _epoch(t)) * a0 for t in STEPS], rtol=1e-14)


@pytest.mark.parametrize(
    ("per_step", "per_epoch"),
    [
        (schedules.ExponentialDecay(0.1, SPE, 0.9, staircase=True),
         schedules.ExponentialDecay(0.1, 1, 0.9)),
        (schedules.InverseTimeDecay(0.1, SPE * 3, 0.5, staircase=True),
         schedules.InverseTimeDecay(0.1, 3, 0.5, staircase=True)),
        (schedules.InverseSqrtDecay(0.1, SPE, staircase=True), schedules.InverseSqrtDecay(0.1, 1)),
    ],
    ids=["exponential", "inverse_time", "inverse_sqrt"],
)
def test_per_epoch_wrapper_equals_staircase_with_decay_steps_per_epoch(per_step, per_epoch):
    wrapped = schedules.PerEpoch(per_epoch, steps_per_epoch=SPE)
    np.testing.assert_allclose(_values(wrapped), _values(per_step), rtol=1e-15)


def test_per_epoch_is_constant_within_an_epoch_and_takes_functions():
    wrapped = schedules.PerEpoch(schedules.CosineDecay(1.0, decay_steps=10), steps_per_epoch=SPE)
    values = _values(wrapped).reshape(-1)[: SPE * 10].reshape(10, SPE)
    assert np.all(values == values[:, :1])
    np.testing.assert_allclose(values[:, 0], [0.5 * (1 + math.cos(math.pi * e / 10)) for e in range(10)])
    by_function = schedules.PerEpoch(lambda epoch: 1.0 / (1 + epoch), steps_per_epoch=SPE)
    assert by_function(SPE - 1) == 1.0 and by_function(SPE) == 0.5


# ---------------------------------------------------------------------------
# Against torch.optim.lr_scheduler.


def _torch_rates(make_scheduler, steps: int, lr: float = 0.1) -> np.ndarray:
    """The rate torch's SGD uses at each of ``steps`` successive steps."""
    torch = pytest.importorskip("torch")
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=lr)
    scheduler = make_scheduler(torch.optim.lr_scheduler, optimizer)
    rates = []
    for _ in range(steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return np.array(rates)


TORCH_EQUIVALENTS = {
    "ExponentialLR": (lambda S, o: S.ExponentialLR(o, gamma=0.97),
                      schedules.ExponentialDecay(0.1, 1, 0.97)),
    "StepLR": (lambda S, o: S.StepLR(o, step_size=25, gamma=0.5),
               schedules.ExponentialDecay(0.1, 25, 0.5, staircase=True)),
    "MultiStepLR": (lambda S, o: S.MultiStepLR(o, milestones=[40, 90, 200], gamma=0.3),
                    schedules.PiecewiseConstantDecay([39, 89, 199], [0.1, 0.03, 0.009, 0.0027])),
    "CosineAnnealingLR": (lambda S, o: S.CosineAnnealingLR(o, T_max=300, eta_min=0.004),
                          schedules.CosineDecay(0.1, 300, alpha=0.04)),
    "LinearLR": (lambda S, o: S.LinearLR(o, start_factor=0.2, total_iters=40),
                 schedules.CosineDecay(0.02, 10**9, warmup_target=0.1, warmup_steps=40)),
    "LinearLR+CosineAnnealingLR": (
        lambda S, o: S.SequentialLR(o, [S.LinearLR(o, start_factor=0.1, total_iters=60),
                                        S.CosineAnnealingLR(o, T_max=240, eta_min=0.0)],
                                    milestones=[60]),
        schedules.CosineDecay(0.01, 240, warmup_target=0.1, warmup_steps=60)),
    "PolynomialLR": (lambda S, o: S.PolynomialLR(o, total_iters=200, power=2.0),
                     schedules.PolynomialDecay(0.1, 200, end_learning_rate=0.0, power=2.0)),
    "CosineAnnealingWarmRestarts": (
        lambda S, o: S.CosineAnnealingWarmRestarts(o, T_0=10, T_mult=2, eta_min=0.004),
        schedules.CosineDecayRestarts(0.1, 10, t_mul=2.0, alpha=0.04)),
    "CosineAnnealingWarmRestarts(T_mult=1)": (
        lambda S, o: S.CosineAnnealingWarmRestarts(o, T_0=25, T_mult=1),
        schedules.CosineDecayRestarts(0.1, 25, t_mul=1.0)),
}


@pytest.mark.parametrize("name", list(TORCH_EQUIVALENTS))
def test_schedule_matches_torch_lr_scheduler(name):
    make, schedule = TORCH_EQUIVALENTS[name]
    steps = 301 if name != "LinearLR" else 40  # LinearLR: the warmup part only
    expected = _torch_rates(make, steps)
    np.testing.assert_allclose(_values(schedule, range(steps)), expected, rtol=1e-9, atol=1e-15)


# ---------------------------------------------------------------------------
# Inside an optimizer and a model.


def _linear_model(case, optimizer):
    model = case.model([Dense(2, input_dim=3)])
    model.compile(optimizer=optimizer, loss="mse")
    return model


def test_optimizer_reads_the_schedule_at_its_step_count():
    schedule = schedules.ExponentialDecay(0.1, 2, 0.5)
    optimizer = fx.optimizers.SGD(learning_rate=schedule)
    W, dW = np.ones(3), np.full(3, 2.0)
    for t in range(5):
        assert optimizer.learning_rate == schedule(t)
        optimizer.apply([W], [dW])
    assert optimizer.iterations == 5 and optimizer.learning_rate == schedule(5)


@pytest.mark.parametrize(
    "schedule",
    [schedules.PiecewiseConstantDecay([0, 1], [0.3, 0.1, 0.05]),
     schedules.CosineDecay(0.0, 4, warmup_target=0.2, warmup_steps=2),
     lambda step: 0.2 / (1 + step)],
    ids=["piecewise", "cosine-warmup", "function"],
)
def test_each_update_uses_the_scheduled_rate(case, schedule):
    """W_{t+1} - W_t = -α_t ∇L(W_t) for SGD, step by step, on every backend."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(8, 3)), rng.normal(size=(8, 2))
    model = _linear_model(case, fx.optimizers.SGD(learning_rate=schedule))
    for t in range(5):
        before = model.get_weights()
        _, grads = model.compute_gradients(X, y)
        grads = [case.to_numpy(g) for g in grads]
        model.train_on_batch(X, y)
        for w0, w1, g in zip(before, model.get_weights(), grads):
            case.assert_close(w1 - w0, -schedule(t) * g)


class _Recording(schedules.LearningRateSchedule):
    """A constant rate that remembers the steps it was asked about."""

    def __init__(self):
        self.steps = set()

    def __call__(self, step):
        self.steps.add(step)
        return 0.01

    def get_config(self):
        return {}


@pytest.mark.parametrize(("n", "batch_size", "epochs"), [(40, 8, 3), (37, 10, 2)])
def test_fit_advances_the_schedule_once_per_batch(case, n, batch_size, epochs):
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(n, 3)), rng.normal(size=(n, 2))
    recording = _Recording()
    model = _linear_model(case, fx.optimizers.SGD(learning_rate=recording))
    model.fit(X, y, batch_size=batch_size, epochs=epochs, verbose=0)
    steps = epochs * math.ceil(n / batch_size)
    assert model.optimizer.iterations == steps
    # every step's rate was read; the log may also read the rate after the last step
    assert set(range(steps)) <= recording.steps <= set(range(steps + 1))


def test_rate_after_fit_is_the_schedule_at_the_number_of_steps_taken(case):
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(30, 3)), rng.normal(size=(30, 2))
    spe = math.ceil(30 / 8)
    schedule = schedules.ExponentialDecay(0.05, spe, 0.5, staircase=True)  # halves every epoch
    model = _linear_model(case, fx.optimizers.SGD(learning_rate=schedule))
    model.fit(X, y, batch_size=8, epochs=1, verbose=0)
    assert model.optimizer.learning_rate == 0.025
    model.fit(X, y, batch_size=8, epochs=2, verbose=0)
    assert model.optimizer.iterations == 3 * spe
    assert model.optimizer.learning_rate == 0.05 / 8


# ---------------------------------------------------------------------------
# Configs.

CONFIGURED = [s for s, _ in FORMULAS] + [
    schedules.PerEpoch(schedules.CosineDecay(0.1, 10, alpha=0.1), steps_per_epoch=12),
    schedules.PerEpoch({"class_name": "ExponentialDecay",
                        "config": {"initial_learning_rate": 0.1, "decay_steps": 1, "decay_rate": 0.9}},
                       steps_per_epoch=3),
    schedules.ExponentialDecay(0.1, 2.5, 0.9, name="mine"),
]


@pytest.mark.parametrize("schedule", CONFIGURED, ids=repr)
def test_config_round_trips_through_json(schedule):
    config = json.loads(json.dumps(schedules.serialize(schedule)))
    assert config["class_name"] == type(schedule).__name__
    rebuilt = schedules.deserialize(config)
    assert type(rebuilt) is type(schedule)
    assert rebuilt.get_config() == schedule.get_config()
    assert type(schedule)(**schedule.get_config()).get_config() == schedule.get_config()
    assert schedules.get(config).get_config() == schedule.get_config()
    np.testing.assert_array_equal(_values(rebuilt), _values(schedule))


def test_deserialize_takes_snake_case_names_numbers_and_custom_classes():
    config = {"class_name": "inverse_time_decay",
              "config": {"initial_learning_rate": 0.1, "decay_steps": 5, "decay_rate": 1.0}}
    assert isinstance(schedules.deserialize(config), schedules.InverseTimeDecay)
    assert schedules.serialize(0.01) == 0.01 and schedules.deserialize(0.01) == 0.01
    assert schedules.get(3) == 3.0

    config = schedules.serialize(_Recording())
    assert config == {"class_name": "_Recording", "config": {}}
    with pytest.raises(ValueError, match="unknown schedule class '_Recording'.*custom_objects"):
        schedules.deserialize(config)
    assert isinstance(schedules.deserialize(config, custom_objects={"_Recording": _Recording}),
                      _Recording)


def test_get_returns_schedules_and_functions_as_they_are():
    schedule = schedules.CosineDecay(0.1, 10)

    def function(step):
        return 0.1

    assert schedules.get(schedule) is schedule
    assert schedules.get(function) is function


def test_a_schedule_without_get_config_says_so():
    class NoConfig(schedules.LearningRateSchedule):
        def __call__(self, step):
            return 0.1

    with pytest.raises(NotImplementedError, match="NoConfig.*get_config"):
        schedules.serialize(NoConfig())
    assert repr(NoConfig()) == "NoConfig()"


# ---------------------------------------------------------------------------
# Errors.


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: schedules.ExponentialDecay(0.1, 0, 0.9), ValueError, "decay_steps"),
        (lambda: schedules.ExponentialDecay(0.1, -5, 0.9), ValueError, "decay_steps"),
        (lambda: schedules.ExponentialDecay(0.1, 10, 0.0), ValueError, "decay_rate"),
        (lambda: schedules.ExponentialDecay(-0.1, 10, 0.9), ValueError, "initial_learning_rate"),
        (lambda: schedules.ExponentialDecay("0.1", 10, 0.9), ValueError, "initial_learning_rate"),
        (lambda: schedules.ExponentialDecay(0.1, 10, 0.9, staircase=1), TypeError, "staircase"),
        (lambda: schedules.InverseTimeDecay(0.1, 10, -1.0), ValueError, "decay_rate"),
        (lambda: schedules.InverseSqrtDecay(0.1, float("inf")), ValueError, "decay_steps"),
        (lambda: schedules.InverseSqrtDecay(0.1, 10, name=3), TypeError, "name"),
        (lambda: schedules.PiecewiseConstantDecay([10, 20], [0.1, 0.01]), ValueError, "one more"),
        (lambda: schedules.PiecewiseConstantDecay([20, 10], [0.1, 0.01, 0.001]), ValueError,
         "increasing"),
        (lambda: schedules.PiecewiseConstantDecay([10], [0.1, -0.01]), ValueError, "value"),
        (lambda: schedules.PiecewiseConstantDecay(10, [0.1, 0.01]), TypeError, "lists"),
        (lambda: schedules.PolynomialDecay(0.1, 10, power=0.0), ValueError, "power"),
        (lambda: schedules.PolynomialDecay(0.1, 10, cycle="yes"), TypeError, "cycle"),
        (lambda: schedules.CosineDecay(0.1, 10, alpha=1.5), ValueError, "alpha"),
        (lambda: schedules.CosineDecay(0.1, 10, warmup_steps=5), ValueError, "warmup_target"),
        (lambda: schedules.CosineDecayRestarts(0.1, 0), ValueError, "first_decay_steps"),
        (lambda: schedules.CosineDecayRestarts(0.1, 10, t_mul=0.5), ValueError, "t_mul must be at least 1"),
        (lambda: schedules.CosineDecayRestarts(0.1, 10, m_mul=-1.0), ValueError, "m_mul"),
        (lambda: schedules.CosineDecayRestarts(0.1, 10, alpha=2.0), ValueError, "alpha"),
        (lambda: schedules.CosineDecay(0.1, 10, warmup_target=0.2, warmup_steps=-1), ValueError,
         "warmup_steps"),
        (lambda: schedules.PerEpoch(schedules.CosineDecay(0.1, 10), 0), ValueError, "steps_per_epoch"),
        (lambda: schedules.PerEpoch(schedules.CosineDecay(0.1, 10), 2.0), ValueError,
         "steps_per_epoch"),
        (lambda: schedules.PerEpoch("cosine_decay", 10), ValueError, "arguments"),
        (lambda: schedules.CosineDecay(0.1, 10)(-1), ValueError, "non-negative"),
        (lambda: schedules.CosineDecay(0.1, 10)("3"), TypeError, "step"),
        (lambda: schedules.get("exponential_decay"), ValueError, "needs its arguments.*ExponentialDecay"),
        (lambda: schedules.get(schedules.CosineDecay), TypeError, "LearningRateSchedule"),
        (lambda: schedules.get(None), TypeError, "LearningRateSchedule"),
        (lambda: schedules.serialize(lambda step: 0.1), TypeError, "function.*LearningRateSchedule"),
        (lambda: schedules.serialize("cosine"), TypeError, "LearningRateSchedule"),
        (lambda: schedules.deserialize({"class_name": "Nope", "config": {}}), ValueError,
         "unknown schedule class 'Nope'.*CosineDecay"),
        (lambda: schedules.deserialize({"config": {}}), ValueError, "class_name"),
        (lambda: schedules.deserialize({"class_name": "CosineDecay", "config": {"lr": 1}}), TypeError,
         "lr"),
    ],
)
def test_bad_arguments_raise_clear_errors(make, error, match):
    with pytest.raises(error, match=match):
        make()
