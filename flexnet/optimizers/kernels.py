"""NumPy kernels of the built-in update rules: the same step as ``update``, in place.

A rule written with array operators allocates a temporary for most operations; on
NumPy each large temporary is a fresh allocation, often with page faults. These
kernels compute the same step over the flat parameter vector with ``out=`` into one
scratch vector, so a step allocates nothing. The fused NumPy training step
(:mod:`flexnet.training.numpy_step`) passes them to :meth:`Optimizer.step`; every
other path runs ``update``, the reference they are tested against
(``tests/test_optimizer_kernels.py``: the same trajectories to a few units in the last
place). A rule without a kernel (a user's, or an option such as AMSGrad) runs its
``update`` everywhere.
"""

from __future__ import annotations

import numpy as np

from flexnet.optimizers.adam import Adam, AdamW
from flexnet.optimizers.adaptive import Adagrad, RMSprop
from flexnet.optimizers.sgd import SGD

__all__ = ["numpy_kernel"]


def _scratch(scratch: dict, P, name: str = "s"):
    buf = scratch.get(name)
    if buf is None or buf.shape != P.shape or buf.dtype != P.dtype:
        buf = scratch[name] = np.empty_like(P)
    return buf


def _sgd(opt: SGD, P, G, state, scratch) -> None:
    s, lr = _scratch(scratch, P), opt.learning_rate
    if state is None:
        np.multiply(G, -lr, out=s)
    else:
        v = state["velocity"]
        v *= opt.momentum
        v += G  # v ← μ v + g
        if opt.nesterov:
            np.multiply(v, opt.momentum, out=s)
            s += G
            s *= -lr
        else:
            np.multiply(v, -lr, out=s)
    P += s


def _adam(opt: Adam, P, G, state, scratch) -> None:
    s, k, b1, b2 = _scratch(scratch, P), opt.constants, opt.beta_1, opt.beta_2
    m, v = state["m"], state["v"]
    m *= b1
    np.multiply(G, 1.0 - b1, out=s)
    m += s  # m ← β1 m + (1-β1) g
    v *= b2
    np.multiply(G, G, out=s)
    s *= 1.0 - b2
    v += s  # v ← β2 v + (1-β2) g²
    np.sqrt(v, out=s)
    s += k["eps"]
    np.divide(m, s, out=s)
    s *= -opt.learning_rate * k["step"]
    P += s


def _rmsprop(opt: RMSprop, P, G, state, scratch) -> None:
    s, rho = _scratch(scratch, P), opt.rho
    acc = state["s"]
    acc *= rho
    np.multiply(G, G, out=s)
    s *= 1.0 - rho
    acc += s  # s ← ρ s + (1-ρ) g²
    np.sqrt(acc, out=s)
    s += opt.epsilon
    np.divide(G, s, out=s)
    s *= -opt.learning_rate
    P += s


def _adagrad(opt: Adagrad, P, G, state, scratch) -> None:
    s = _scratch(scratch, P)
    acc = state["accumulator"]
    np.multiply(G, G, out=s)
    acc += s  # s ← s + g²
    np.sqrt(acc, out=s)
    s += opt.epsilon
    np.divide(G, s, out=s)
    s *= -opt.learning_rate
    P += s


def numpy_kernel(optimizer):
    """The in-place NumPy kernel of ``optimizer``'s rule, or None (run ``update``). A class that
    only wraps the step of a built-in one (``DistributedOptimizer``'s) names it ``_rule_class``."""
    cls = vars(type(optimizer)).get("_rule_class", type(optimizer))
    if cls is SGD:
        return _sgd
    if cls in (Adam, AdamW) and not optimizer.amsgrad:  # AdamW: the base class decays
        return _adam
    if cls is RMSprop and not optimizer.centered and optimizer.momentum == 0.0:
        return _rmsprop
    if cls is Adagrad:
        return _adagrad
    return None
