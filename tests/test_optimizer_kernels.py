"""The NumPy kernels of the built-in rules against the rules themselves (``update``)."""

from __future__ import annotations

import numpy as np
import pytest

import flexnet as fx
from flexnet.optimizers.kernels import numpy_kernel

OPTIMIZERS = {
    "sgd": lambda: fx.optimizers.SGD(0.05),
    "sgd_momentum": lambda: fx.optimizers.SGD(0.05, momentum=0.9),
    "sgd_nesterov_decay": lambda: fx.optimizers.SGD(0.05, momentum=0.9, nesterov=True, weight_decay=0.1),
    "adam": lambda: fx.optimizers.Adam(0.01),
    "adamw_schedule": lambda: fx.optimizers.AdamW(fx.schedules.ExponentialDecay(0.02, 3, 0.5)),
    "rmsprop": lambda: fx.optimizers.RMSprop(0.01),
    "adagrad_clipvalue": lambda: fx.optimizers.Adagrad(0.1, clipvalue=0.2),
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_kernel_follows_the_rule_step_by_step(name, dtype):
    rng = np.random.default_rng(0)
    shapes = [(13, 7), (7,), (3,)]
    params = [rng.normal(size=s).astype(dtype) for s in shapes]
    by_rule, by_kernel = OPTIMIZERS[name](), OPTIMIZERS[name]()
    kernel = numpy_kernel(by_kernel)
    assert kernel is not None
    scratch: dict = {}
    P1 = np.concatenate([p.reshape(-1) for p in params])
    P2 = P1.copy()
    by_rule.build(params)
    by_kernel.build(params)
    for _ in range(12):
        G = rng.normal(size=P1.shape).astype(dtype)
        P1 = by_rule.step(P1, G.copy())
        P2 = by_kernel.step(P2, G.copy(), kernel=lambda o, P, G, s: kernel(o, P, G, s, scratch))
    rtol = 1e-13 if dtype == "float64" else 2e-6
    np.testing.assert_allclose(P2, P1, rtol=rtol, atol=rtol)
    for a, b in zip(by_kernel.get_state()["state"] or [], by_rule.get_state()["state"] or []):
        for key in a or {}:
            np.testing.assert_allclose(a[key], b[key], rtol=rtol, atol=rtol)
    assert by_kernel.iterations == by_rule.iterations == 12


def test_rules_without_a_kernel_use_update():
    assert numpy_kernel(fx.optimizers.Adam(amsgrad=True)) is None
    assert numpy_kernel(fx.optimizers.RMSprop(centered=True)) is None
    assert numpy_kernel(fx.optimizers.Nadam()) is None

    class Subclass(fx.optimizers.Adam):
        pass

    assert numpy_kernel(Subclass()) is None  # a user's subclass may change the rule
