"""Optimizers: step-by-step agreement with ``torch.optim`` (Lion: with the paper's rule in
NumPy; Ftrl and Keras's Nadam: with Keras's rule in NumPy, and Keras's golden values),
gradient clipping against ``torch.nn.utils``, convergence on test functions, learning-rate
schedules, configs, saving and restoring the state, the custom optimizer of the base-class
docstring, and misuse.

The reference trajectories come from PyTorch (autograd + ``torch.optim``) on the same
network with the same weights and batches, never from flexnet itself.
"""

from __future__ import annotations

import copy
import inspect
import json
import math
import textwrap

import array_api_compat
import numpy as np
import pytest

import flexnet as fx
from flexnet.layers import Dense
from flexnet.optimizers import SGD, Adadelta, Adagrad, Adam, Adamax, AdamW, Ftrl, Lion, Nadam, RMSprop

N_SAMPLES, N_IN, N_HIDDEN, N_OUT = 40, 4, 5, 3
STEPS = 25
RTOL, ATOL = 1e-10, 1e-13


# ---------------------------------------------------------------------------
# The twin networks: flexnet (kernel (in, out)) and torch (weight (out, in)).


def _initial_weights(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [
        rng.normal(size=(N_IN, N_HIDDEN)) * 0.6,
        rng.normal(size=N_HIDDEN) * 0.1,
        rng.normal(size=(N_HIDDEN, N_OUT)) * 0.6,
        rng.normal(size=N_OUT) * 0.1,
    ]


def _data(seed: int = 1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N_SAMPLES, N_IN))
    Y = rng.normal(size=(N_SAMPLES, N_OUT))
    batches = [rng.choice(N_SAMPLES, size=8, replace=False) for _ in range(STEPS)]
    return X, Y, batches


def _flexnet_net(case, optimizer, weights):
    model = case.model([Dense(N_HIDDEN, input_dim=N_IN, activation="tanh"), Dense(N_OUT)])
    model.compile(optimizer=optimizer, loss="mse")
    model.set_weights(weights)
    return model


def _torch_net(torch, weights):
    W1, b1, W2, b2 = weights
    first = torch.nn.Linear(N_IN, N_HIDDEN, dtype=torch.float64)
    second = torch.nn.Linear(N_HIDDEN, N_OUT, dtype=torch.float64)
    with torch.no_grad():
        first.weight.copy_(torch.from_numpy(W1.T.copy()))
        first.bias.copy_(torch.from_numpy(b1))
        second.weight.copy_(torch.from_numpy(W2.T.copy()))
        second.bias.copy_(torch.from_numpy(b2))
    return torch.nn.Sequential(first, torch.nn.Tanh(), second)


def _torch_weights(net) -> list[np.ndarray]:
    """The torch parameters in flexnet's layout (kernel transposed)."""
    first, second = net[0], net[2]
    return [
        first.weight.detach().numpy().T,
        first.bias.detach().numpy(),
        second.weight.detach().numpy().T,
        second.bias.detach().numpy(),
    ]


def _torch_step(torch, net, opt, xb, yb, clip=None) -> float:
    opt.zero_grad()
    loss = torch.nn.functional.mse_loss(net(torch.from_numpy(xb)), torch.from_numpy(yb))
    loss.backward()
    if clip is not None:
        clip(torch, list(net.parameters()))
    opt.step()
    return loss.item()


def _assert_same_weights(model, net, step):
    for i, (ours, theirs) in enumerate(zip(model.get_weights(), _torch_weights(net))):
        np.testing.assert_allclose(
            ours, theirs, rtol=RTOL, atol=ATOL, err_msg=f"weight {i} after step {step}"
        )


def _flexnet_step(model, xb, yb) -> float:
    loss, grads = model.compute_gradients(xb, yb)
    model.apply_gradients(grads)
    return float(loss)


def _run_against_torch(case, fx_optimizer, torch_optimizer, step=_flexnet_step, steps=STEPS,
                       scheduler=None, clip=None):
    """Train both twins on identical batches; compare losses and weights after every step.

    ``clip(torch, params)`` runs between torch's backward and step. torch's default dtype is
    float64 meanwhile: torch keeps scalar state (NAdam's μ product) in that dtype.
    """
    torch = pytest.importorskip("torch")
    weights = _initial_weights()
    X, Y, batches = _data()
    model = _flexnet_net(case, fx_optimizer, weights)
    default_dtype = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        net = _torch_net(torch, weights)
        opt = torch_optimizer(torch, net.parameters())
        sched = None if scheduler is None else scheduler(torch, opt)
        for s, idx in enumerate(batches[:steps]):
            ours = step(model, X[idx], Y[idx])
            theirs = _torch_step(torch, net, opt, X[idx], Y[idx], clip)
            if sched is not None:
                sched.step()
            assert ours == pytest.approx(theirs, rel=RTOL), f"loss at step {s}"
            _assert_same_weights(model, net, s)
    finally:
        torch.set_default_dtype(default_dtype)
    return model


# (flexnet optimizer, torch optimizer) with non-default hyperparameters, so that each
# one is wired through, plus the defaults (Keras's: RMSprop ε = 1e-7, Adam ε = 1e-8).
TWINS = {
    "sgd": (lambda: SGD(0.1),
            lambda t, p: t.optim.SGD(p, lr=0.1)),
    "sgd_momentum": (lambda: SGD(0.05, momentum=0.9),
                     lambda t, p: t.optim.SGD(p, lr=0.05, momentum=0.9)),
    "sgd_nesterov": (lambda: SGD(0.05, momentum=0.8, nesterov=True),
                     lambda t, p: t.optim.SGD(p, lr=0.05, momentum=0.8, nesterov=True)),
    "rmsprop": (lambda: RMSprop(0.01, rho=0.8, epsilon=1e-6),
                lambda t, p: t.optim.RMSprop(p, lr=0.01, alpha=0.8, eps=1e-6)),
    "rmsprop_defaults": (lambda: RMSprop(),
                         lambda t, p: t.optim.RMSprop(p, lr=1e-3, alpha=0.9, eps=1e-7)),
    "adam": (lambda: Adam(0.02, beta_1=0.8, beta_2=0.99),
             lambda t, p: t.optim.Adam(p, lr=0.02, betas=(0.8, 0.99), eps=1e-8)),
    "adam_defaults": (lambda: Adam(),
                      lambda t, p: t.optim.Adam(p, lr=1e-3, betas=(0.9, 0.999), eps=1e-8)),
    # Decoupled weight decay: equal to torch's L2 term for plain SGD, to AdamW for Adam.
    "sgd_weight_decay": (lambda: SGD(0.1, weight_decay=0.05),
                         lambda t, p: t.optim.SGD(p, lr=0.1, weight_decay=0.05)),
    "adagrad": (lambda: Adagrad(0.05, initial_accumulator_value=0.2, epsilon=1e-6),
                lambda t, p: t.optim.Adagrad(p, lr=0.05, initial_accumulator_value=0.2, eps=1e-6)),
    "adagrad_defaults": (lambda: Adagrad(),
                         lambda t, p: t.optim.Adagrad(p, lr=1e-3, initial_accumulator_value=0.1,
                                                      eps=1e-7)),
    "rmsprop_momentum": (lambda: RMSprop(0.01, rho=0.85, momentum=0.7),
                         lambda t, p: t.optim.RMSprop(p, lr=0.01, alpha=0.85, eps=1e-7, momentum=0.7)),
    "rmsprop_centered": (lambda: RMSprop(0.01, momentum=0.5, epsilon=1e-6, centered=True),
                         lambda t, p: t.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=1e-6, momentum=0.5,
                                                      centered=True)),
    "adadelta": (lambda: Adadelta(0.5, rho=0.8, epsilon=1e-5),
                 lambda t, p: t.optim.Adadelta(p, lr=0.5, rho=0.8, eps=1e-5)),
    "adadelta_defaults": (lambda: Adadelta(),
                          lambda t, p: t.optim.Adadelta(p, lr=1.0, rho=0.95, eps=1e-6)),
    "adam_amsgrad": (lambda: Adam(0.02, beta_1=0.85, epsilon=1e-6, amsgrad=True),
                     lambda t, p: t.optim.Adam(p, lr=0.02, betas=(0.85, 0.999), eps=1e-6, amsgrad=True)),
    "adam_weight_decay": (lambda: Adam(0.02, weight_decay=0.1),
                          lambda t, p: t.optim.AdamW(p, lr=0.02, eps=1e-8, weight_decay=0.1)),
    "adamw": (lambda: AdamW(0.02, weight_decay=0.05, beta_1=0.8, beta_2=0.99, epsilon=1e-7),
              lambda t, p: t.optim.AdamW(p, lr=0.02, betas=(0.8, 0.99), eps=1e-7, weight_decay=0.05)),
    "adamw_defaults": (lambda: AdamW(),
                       lambda t, p: t.optim.AdamW(p)),
    "adamw_amsgrad": (lambda: AdamW(0.02, amsgrad=True),
                      lambda t, p: t.optim.AdamW(p, lr=0.02, amsgrad=True)),
    "nadam": (lambda: Nadam(0.01, beta_1=0.85, beta_2=0.99, epsilon=1e-6, momentum_decay=0.01),
              lambda t, p: t.optim.NAdam(p, lr=0.01, betas=(0.85, 0.99), eps=1e-6,
                                         momentum_decay=0.01)),
    "nadam_defaults": (lambda: Nadam(),
                       lambda t, p: t.optim.NAdam(p, lr=1e-3, eps=1e-7, momentum_decay=4e-3)),
    "nadam_weight_decay": (lambda: Nadam(0.01, weight_decay=0.05),
                           lambda t, p: t.optim.NAdam(p, lr=0.01, eps=1e-7, weight_decay=0.05,
                                                      decoupled_weight_decay=True)),
    "adamax": (lambda: Adamax(0.02, beta_1=0.85, beta_2=0.95, epsilon=1e-6),
               lambda t, p: t.optim.Adamax(p, lr=0.02, betas=(0.85, 0.95), eps=1e-6)),
    "adamax_defaults": (lambda: Adamax(),
                        lambda t, p: t.optim.Adamax(p, lr=1e-3, betas=(0.9, 0.999), eps=1e-7)),
    "adamax_clipnorm": (lambda: Adamax(0.05, clipnorm=0.2),
                        lambda t, p: t.optim.Adamax(p, lr=0.05, eps=1e-7)),
}


@pytest.mark.parametrize("name", list(TWINS))
def test_optimizer_matches_torch_step_by_step(case64, name):
    ours, theirs = TWINS[name]
    clip = (lambda t, ps: [t.nn.utils.clip_grad_norm_([q], 0.2) for q in ps]) if "clipnorm" in name else None
    _run_against_torch(case64, ours(), theirs, clip=clip)


@pytest.mark.parametrize("batch_size", [N_SAMPLES, 10])
def test_adam_through_fit_matches_torch(case64, batch_size):
    torch = pytest.importorskip("torch")
    weights = _initial_weights()
    X, Y, _ = _data()
    epochs = STEPS if batch_size == N_SAMPLES else 7
    model = _flexnet_net(case64, Adam(0.02), weights)
    history = model.fit(X, Y, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=0)
    net = _torch_net(torch, weights)
    opt = torch.optim.Adam(net.parameters(), lr=0.02, eps=1e-8)
    epoch_losses = []
    for _ in range(epochs):
        batch_losses = [
            _torch_step(torch, net, opt, X[i : i + batch_size], Y[i : i + batch_size])
            for i in range(0, N_SAMPLES, batch_size)
        ]
        epoch_losses.append(np.mean(batch_losses))
    _assert_same_weights(model, net, "the last")
    np.testing.assert_allclose(history.history["loss"], epoch_losses, rtol=RTOL)
    assert model.optimizer.iterations == epochs * (N_SAMPLES // batch_size)


def test_apply_gradients_with_zip_matches_torch(case64):
    if case64.backend == "jax":
        pytest.skip("JAX arrays never change in place: model.apply_gradients is the form for JAX")

    def step(model, xb, yb):
        loss, grads = model.compute_gradients(xb, yb)
        model.optimizer.apply_gradients(zip(grads, model.trainable_weights))
        return float(loss)

    _run_against_torch(case64, SGD(0.05, momentum=0.9),
                       lambda t, p: t.optim.SGD(p, lr=0.05, momentum=0.9), step=step)


def test_train_on_batch_matches_torch(case64):
    def step(model, xb, yb):
        return model.train_on_batch(xb, yb)

    _run_against_torch(case64, RMSprop(0.01),
                       lambda t, p: t.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=1e-7), step=step)


def test_schedule_matches_torch_lambda_lr(case64):
    """``learning_rate=f(iterations)`` uses ``f(t)`` at step ``t`` (0-based), as LambdaLR."""
    decay = 0.9

    def lambda_lr(torch, opt):
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda t: decay**t)

    _run_against_torch(
        case64, Adam(lambda t: 0.05 * decay**t),
        lambda t, p: t.optim.Adam(p, lr=0.05, eps=1e-8), scheduler=lambda_lr,
    )


# ---------------------------------------------------------------------------
# Lion (not in torch): against the paper's rule written in NumPy on torch's parameters.


class _NumpyLion:
    """Chen et al. 2023, Algorithm 2, in NumPy: ``c = β1 m + (1-β1) g``,
    ``θ ← θ - α (sign(c) + λ θ)``, ``m ← β2 m + (1-β2) g``; a torch optimizer's interface."""

    def __init__(self, params, lr, beta_1=0.9, beta_2=0.99, weight_decay=0.0):
        self.params = list(params)
        self.lr = lr if callable(lr) else (lambda t: lr)
        self.b1, self.b2, self.wd = beta_1, beta_2, weight_decay
        self.m = [np.zeros(tuple(p.shape)) for p in self.params]
        self.t = 0

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        import torch

        alpha = self.lr(self.t)
        for p, m in zip(self.params, self.m):
            g, theta = p.grad.numpy(), p.detach().numpy()
            c = self.b1 * m + (1.0 - self.b1) * g
            new = theta - alpha * (np.sign(c) + self.wd * theta)
            m[...] = self.b2 * m + (1.0 - self.b2) * g
            with torch.no_grad():
                p.copy_(torch.from_numpy(new))
        self.t += 1


LION_TWINS = {
    "defaults": (lambda: Lion(), lambda t, p: _NumpyLion(p, 1e-3)),
    "tuned": (lambda: Lion(lambda t: 0.005 * 0.95**t, beta_1=0.8, beta_2=0.95, weight_decay=0.5),
              lambda t, p: _NumpyLion(p, lambda s: 0.005 * 0.95**s, 0.8, 0.95, 0.5)),
}


@pytest.mark.parametrize("name", list(LION_TWINS))
def test_lion_matches_the_papers_rule(case64, name):
    ours, reference = LION_TWINS[name]
    _run_against_torch(case64, ours(), reference)


# ---------------------------------------------------------------------------
# Keras's rules (not in torch): Ftrl and Keras's Nadam, written in NumPy from keras/src/optimizers.


class _NumpyRule:
    """A torch optimizer's interface around ``rule(t, theta, g, state) -> theta`` in NumPy."""

    def __init__(self, params, rule, init):
        self.params = list(params)
        self.rule = rule
        self.state = [init(np.zeros(tuple(p.shape))) for p in self.params]
        self.t = 0

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        import torch

        self.t += 1
        for p, state in zip(self.params, self.state):
            new = self.rule(self.t, p.detach().numpy().copy(), p.grad.numpy(), state)
            with torch.no_grad():
                p.copy_(torch.from_numpy(new))


def _keras_ftrl(lr, power=-0.5, initial=0.1, l1=0.0, l2=0.0, shrinkage=0.0, beta=0.0):
    """keras/src/optimizers/ftrl.py, ``update_step``."""

    def rule(t, theta, g, s):
        l2_reg = l2 + beta / (2.0 * lr)
        g_shrunk = g + 2 * shrinkage * theta
        new_accum = s["accum"] + g * g
        s["linear"] += g_shrunk - (new_accum ** -power - s["accum"] ** -power) / lr * theta
        quadratic = new_accum ** -power / lr + 2 * l2_reg
        s["accum"] = new_accum
        return (np.clip(s["linear"], -l1, l1) - s["linear"]) / quadratic

    return rule, lambda z: {"accum": z + initial, "linear": z.copy()}


def _keras_nadam(lr=1e-3, b1=0.9, b2=0.999, eps=1e-7):
    """keras/src/optimizers/nadam.py: ``u_t = β1 (1 - ½ 0.96^t)``, the product of the u's, and
    ``m̂ = u_{t+1} m / (1 - Π u_{≤t+1}) + (1 - u_t) g / (1 - Π u_{≤t})``."""

    def rule(t, theta, g, s):
        u_t, u_next = b1 * (1 - 0.5 * 0.96**t), b1 * (1 - 0.5 * 0.96 ** (t + 1))
        s["product"] *= u_t
        s["m"] += (g - s["m"]) * (1 - b1)
        s["v"] += (g * g - s["v"]) * (1 - b2)
        m_hat = u_next * s["m"] / (1 - s["product"] * u_next) + (1 - u_t) * g / (1 - s["product"])
        return theta - m_hat * lr / (np.sqrt(s["v"] / (1 - b2**t)) + eps)

    return rule, lambda z: {"m": z.copy(), "v": z.copy(), "product": 1.0}


KERAS_TWINS = {
    "ftrl": (lambda: Ftrl(0.1), lambda t, p: _NumpyRule(p, *_keras_ftrl(0.1))),
    "ftrl_regularized": (
        lambda: Ftrl(0.05, learning_rate_power=-0.2, initial_accumulator_value=0.4,
                     l1_regularization_strength=0.005, l2_regularization_strength=0.15,
                     l2_shrinkage_regularization_strength=0.01, beta=0.3),
        lambda t, p: _NumpyRule(p, *_keras_ftrl(0.05, -0.2, 0.4, 0.005, 0.15, 0.01, 0.3))),
    "ftrl_fixed_rate": (lambda: Ftrl(0.02, learning_rate_power=0.0),
                        lambda t, p: _NumpyRule(p, *_keras_ftrl(0.02, power=0.0))),
    # Keras's Nadam is flexnet's with momentum_decay=1 (torch's default is 0.004).
    "keras_nadam": (lambda: Nadam(0.01, momentum_decay=1.0),
                    lambda t, p: _NumpyRule(p, *_keras_nadam(0.01))),
}


@pytest.mark.parametrize("name", list(KERAS_TWINS))
def test_optimizer_matches_keras_rule_step_by_step(case64, name):
    ours, reference = KERAS_TWINS[name]
    _run_against_torch(case64, ours(), reference)


def test_ftrl_and_adamax_match_keras_golden_values(case):
    """keras/src/optimizers/ftrl_test.py and adamax_test.py (5e-4, as Keras's tests)."""
    ftrl_golden = [
        [0.0] * 10,
        [-0.0034, -0.0077, -0.0118, -0.0157, -0.0194, -0.023, -0.0263, -0.0294, -0.0325, -0.0354],
        [-0.0078, -0.0162, -0.0242, -0.0317, -0.0387, -0.0454, -0.0516, -0.0575, -0.0631, -0.0685],
        [-0.0121, -0.0246, -0.0363, -0.0472, -0.0573, -0.0668, -0.0757, -0.0842, -0.0922, -0.0999],
        [-0.0164, -0.0328, -0.0481, -0.0623, -0.0753, -0.0875, -0.099, -0.1098, -0.1201, -0.1299],
    ]
    adamax_golden = [
        [0.8] * 10,
        [0.6827, 0.6873, 0.6888, 0.6896, 0.6901, 0.6904, 0.6906, 0.6908, 0.6909, 0.691],
        [0.5333, 0.5407, 0.5431, 0.5444, 0.5451, 0.5456, 0.546, 0.5462, 0.5464, 0.5466],
        [0.368, 0.3773, 0.3804, 0.382, 0.3829, 0.3835, 0.384, 0.3843, 0.3846, 0.3848],
        [0.1933, 0.204, 0.2076, 0.2094, 0.2105, 0.2112, 0.2117, 0.2121, 0.2124, 0.2126],
    ]
    runs = [
        (Ftrl(0.05, learning_rate_power=-0.2, initial_accumulator_value=0.4, l1_regularization_strength=0.05,
              l2_regularization_strength=0.15, l2_shrinkage_regularization_strength=0.01, beta=0.3),
         ftrl_golden),
        (Adamax(0.2, beta_1=0.85, beta_2=0.95, epsilon=1e-6), adamax_golden),
    ]
    grads = case.asarray(np.arange(1, 11) / 10.0)
    for opt, golden in runs:
        x = case.asarray(np.ones(10)) + 0.0
        (x,) = opt.apply([x], [case.asarray(np.full(10, 0.01))])
        for expected in golden:
            np.testing.assert_allclose(case.to_numpy(x), expected, rtol=5e-4, atol=5e-4)
            (x,) = opt.apply([x], [grads])
    for opt, expected in [(Ftrl(0.5), [0.2218, 1.3954, 2.3651, 2.8814]), (Adamax(0.5), [0.5, 1.5, 2.5, 3.5])]:
        x = case.asarray(np.array([1.0, 2.0, 3.0, 4.0]))
        (x,) = opt.apply([x], [case.asarray(np.array([1.0, 6.0, 7.0, 2.0]))])
        np.testing.assert_allclose(case.to_numpy(x), expected, rtol=1e-4, atol=1e-4)


def test_adamax_weight_decay_matches_keras_golden_value(case):
    x = case.asarray(np.array([2.0]))
    opt = Adamax(learning_rate=1.0, weight_decay=0.004)
    for _ in range(3):  # keras/src/optimizers/adamax_test.py applies three optimizers to var1
        (x,) = opt.apply([x], [case.asarray(np.zeros(1))])
    np.testing.assert_allclose(case.to_numpy(x), [1.9760959], rtol=1e-6)


def test_ftrl_l1_sets_weights_to_exactly_zero(case):
    x = case.asarray(np.array([1.0, -2.0, 3.0]))
    opt = Ftrl(0.1, l1_regularization_strength=10.0)
    (x,) = opt.apply([x], [case.asarray(np.array([0.5, -0.5, 0.1]))])
    np.testing.assert_array_equal(case.to_numpy(x), [0.0, 0.0, 0.0])


# ---------------------------------------------------------------------------
# Gradient clipping: against torch.nn.utils and by hand.


def _clip_recorder(clip_one):
    """A torch clip callback that records, for each gradient at each step, whether it changed."""
    record = []

    def clip(torch, params):
        before = [p.grad.clone() for p in params]
        clip_one(torch, params)
        record.extend(not torch.equal(b, p.grad) for b, p in zip(before, params))

    return clip, record


CLIP_TWINS = {
    "global_clipnorm": (
        lambda: SGD(0.1, momentum=0.9, global_clipnorm=0.5),
        lambda t, p: t.optim.SGD(p, lr=0.1, momentum=0.9),
        lambda t, ps: t.nn.utils.clip_grad_norm_(ps, 0.5),
    ),
    "clipnorm": (
        lambda: Adam(0.02, clipnorm=0.3),
        lambda t, p: t.optim.Adam(p, lr=0.02, eps=1e-8),
        lambda t, ps: [t.nn.utils.clip_grad_norm_([q], 0.3) for q in ps],
    ),
    "clipvalue": (
        lambda: RMSprop(0.01, clipvalue=0.1),
        lambda t, p: t.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=1e-7),
        lambda t, ps: t.nn.utils.clip_grad_value_(ps, 0.1),
    ),
}


@pytest.mark.parametrize("name", list(CLIP_TWINS))
def test_clipping_matches_torch_nn_utils(case64, name):
    ours, theirs, clip_one = CLIP_TWINS[name]
    clip, clipped = _clip_recorder(clip_one)
    _run_against_torch(case64, ours(), theirs, clip=clip)
    assert any(clipped) and not all(clipped), "the threshold must clip some gradients, not all"


def _clip_case_grads():
    """Two gradients: ‖g1‖ = 5, ‖g2‖ = 12, global norm 13."""
    return [np.array([3.0, -4.0]), np.array([[0.0, 12.0], [0.0, 0.0]])]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"clipnorm": 6.0}, lambda g1, g2: [g1, g2 * (6.0 / (12.0 + 1e-6))]),
        ({"global_clipnorm": 6.5}, lambda g1, g2: [g * (6.5 / (13.0 + 1e-6)) for g in (g1, g2)]),
        ({"global_clipnorm": 20.0}, lambda g1, g2: [g1, g2]),
        ({"clipvalue": 3.5}, lambda g1, g2: [np.array([3.0, -3.5]), np.array([[0.0, 3.5], [0.0, 0.0]])]),
    ],
    ids=["clipnorm", "global_clipnorm", "global_clipnorm_inactive", "clipvalue"],
)
def test_clipping_by_hand_on_every_backend(case, kwargs, expected):
    """SGD(1) from zero makes each parameter minus its clipped gradient; the caller's gradients
    stay as they were, and the clipped ones stay on the gradients' backend, device and dtype."""
    host = _clip_case_grads()
    grads = [case.asarray(g) for g in host]
    params = [case.asarray(np.zeros_like(g)) + 0.0 for g in host]
    opt = SGD(1.0, **kwargs)
    clipped = opt.clip_gradients(grads)
    xp = case.resolve().xp
    for c, g in zip(clipped, grads):
        assert array_api_compat.array_namespace(c) is xp
        assert array_api_compat.device(c) == array_api_compat.device(g) and c.dtype == g.dtype
    params = opt.apply(params, grads)
    for p, c, want in zip(params, clipped, expected(*host)):
        case.assert_close(-case.to_numpy(p), want)
        case.assert_close(case.to_numpy(c), want)
    for g, original in zip(grads, host):
        np.testing.assert_array_equal(case.to_numpy(g), original.astype(case.dtype))


def test_clipnorm_leaves_a_gradient_below_the_threshold_exactly_as_it_was():
    g = np.array([3.0, -4.0])
    (clipped,) = SGD(clipnorm=5.0 + 2e-6).clip_gradients([g])
    np.testing.assert_array_equal(clipped, g)
    assert clipped is not g


@pytest.mark.parametrize("name", ["sgd", "adagrad", "rmsprop", "adadelta", "adam", "adamw", "nadam",
                                  "lion"])
@pytest.mark.parametrize("clip", [{}, {"clipnorm": 0.1}, {"global_clipnorm": 0.1},
                                  {"clipvalue": 0.1}], ids=["none", "clipnorm", "global", "value"])
def test_apply_never_writes_into_the_gradients(name, clip):
    rng = np.random.default_rng(0)
    params = [rng.normal(size=(3, 2)), rng.normal(size=2)]
    grads = [rng.normal(size=(3, 2)), rng.normal(size=2)]
    originals = [g.copy() for g in grads]
    opt = type(fx.optimizers.get(name))(**clip)
    for _ in range(3):
        opt.apply(params, grads)
    for g, original in zip(grads, originals):
        np.testing.assert_array_equal(g, original)


@pytest.mark.parametrize(
    "kwargs",
    [{"clipnorm": 1.0, "global_clipnorm": 1.0}, {"clipnorm": 1.0, "clipvalue": 1.0},
     {"clipvalue": 1.0, "global_clipnorm": 1.0}],
    ids=["clipnorm+global_clipnorm", "clipnorm+clipvalue", "clipvalue+global_clipnorm"],
)
def test_two_clipping_arguments_raise(kwargs):
    with pytest.raises(ValueError, match="only one of clipnorm, clipvalue and global_clipnorm"):
        Adam(**kwargs)


# ---------------------------------------------------------------------------
# The custom optimizer of the Optimizer docstring, run as written.


def _docstring_example() -> str:
    """The literal code block (after ``::``) of ``fx.optimizers.Optimizer.__doc__``."""
    doc = inspect.getdoc(fx.optimizers.Optimizer)
    lines = doc[doc.index("::\n") + 3 :].splitlines()
    block = []
    for line in lines:
        if line.strip() and not line.startswith(" "):  # back at the docstring's margin
            break
        block.append(line)
    return textwrap.dedent("\n".join(block)).strip() + "\n"


def test_docstring_example_is_a_custom_momentum_optimizer():
    code = _docstring_example()
    assert "class Momentum(fx.optimizers.Optimizer)" in code
    assert "model.compile(optimizer=Momentum(0.05)" in code


def test_docstring_custom_optimizer_matches_torch_sgd_momentum(case64):
    def docstring_momentum():
        # The example ends with model.compile(...): give it a model, then reuse its optimizer.
        model = _flexnet_net(case64, "sgd", _initial_weights())
        namespace = {"model": model}
        exec(compile(_docstring_example(), "<Optimizer docstring>", "exec"), namespace)
        assert type(model.optimizer).__name__ == "Momentum"
        return model.optimizer

    _run_against_torch(case64, docstring_momentum(),
                       lambda t, p: t.optim.SGD(p, lr=0.05, momentum=0.9))


# ---------------------------------------------------------------------------
# Convergence on test functions, with raw opt.apply on backend arrays.

PARABOLA_OPTIMIZERS = {
    "sgd": (lambda: SGD(0.1), 200),
    "sgd_momentum": (lambda: SGD(0.05, momentum=0.9), 300),
    "sgd_nesterov": (lambda: SGD(0.05, momentum=0.9, nesterov=True), 300),
    "adagrad": (lambda: Adagrad(0.5), 100),
    "rmsprop": (lambda: RMSprop(lambda t: 0.05 / (1.0 + t / 20.0)), 200),
    "rmsprop_momentum_centered": (lambda: RMSprop(lambda t: 0.02 / (1.0 + t / 20.0), momentum=0.5,
                                                  centered=True), 100),
    "adadelta": (lambda: Adadelta(1.0, rho=0.9, epsilon=1e-4), 200),
    "adam": (lambda: Adam(0.05), 300),
    "adam_amsgrad": (lambda: Adam(0.05, amsgrad=True), 300),
    "adamw": (lambda: AdamW(0.05, weight_decay=1e-4), 300),
    "nadam": (lambda: Nadam(0.05), 200),
    "adamax": (lambda: Adamax(lambda t: 0.3 / (1.0 + t / 100.0)), 300),
    "lion": (lambda: Lion(lambda t: 0.1 * 0.98**t), 300),
    "ftrl": (lambda: Ftrl(1.0), 300),
}


@pytest.mark.parametrize("name", list(PARABOLA_OPTIMIZERS))
def test_optimizer_minimizes_parabola(case, name):
    make, iterations = PARABOLA_OPTIMIZERS[name]
    c = np.random.default_rng(3).uniform(-2.0, 2.0, size=6)
    target = case.asarray(c)
    w = case.asarray(np.zeros(6)) + 0.0  # a fresh array: apply updates it (in place where it can)
    opt = make()
    for _ in range(iterations):
        grad = 2.0 * (w - target)  # ∇ Σ (w - c)²
        (w,) = opt.apply([w], [grad])
    assert opt.iterations == iterations
    np.testing.assert_allclose(case.to_numpy(w), c, atol=1e-3)


ROSENBROCK_OPTIMIZERS = {
    "sgd": (lambda: SGD(1e-3), 15000, 1e-2),
    "sgd_momentum": (lambda: SGD(1e-3, momentum=0.9), 4000, 1e-4),
    "sgd_nesterov": (lambda: SGD(1e-3, momentum=0.9, nesterov=True), 4000, 1e-4),
    "adagrad": (lambda: Adagrad(0.5), 8000, 1e-2),
    "rmsprop": (lambda: RMSprop(lambda t: 1e-2 / (1.0 + t / 100.0)), 5000, 1e-2),
    "rmsprop_momentum": (lambda: RMSprop(lambda t: 1e-3 / (1.0 + t / 100.0), momentum=0.9), 4000, 1e-4),
    # Adadelta crawls along the valley and drifts back once ε dominates: a small ε, a decaying α.
    "adadelta": (lambda: Adadelta(lambda t: 1.0 / (1.0 + t / 3000.0), rho=0.9, epsilon=1e-8), 8000, 1e-2),
    "adam": (lambda: Adam(2e-2), 4000, 1e-4),
    "adam_amsgrad": (lambda: Adam(5e-2, amsgrad=True), 4000, 1e-4),
    "adamw": (lambda: AdamW(2e-2, weight_decay=1e-5), 4000, 1e-3),  # the decay moves the minimum
    "nadam": (lambda: Nadam(lambda t: 3e-2 / (1.0 + t / 1000.0)), 4000, 5e-3),
    "adamax": (lambda: Adamax(lambda t: 0.3 / (1.0 + t / 1000.0)), 4000, 1e-4),
    "lion": (lambda: Lion(lambda t: 3e-2 * 0.998**t), 4000, 1e-4),
    "ftrl": (lambda: Ftrl(0.5), 6000, 1e-2),  # its rate falls as 1/√n: it crawls along the valley
}


def _rosenbrock_grad(xp, p):
    """∇ of (1 - x)² + 100 (y - x²)² at p = (x, y), by hand."""
    x, y = p[0:1], p[1:2]
    gx = -2.0 * (1.0 - x) - 400.0 * x * (y - x * x)
    gy = 200.0 * (y - x * x)
    return xp.concat([gx, gy])


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("name", list(ROSENBROCK_OPTIMIZERS))
def test_optimizer_minimizes_rosenbrock(backend, name):
    if backend == "torch":
        pytest.importorskip("torch")
    b = fx.Backend.resolve(backend)
    make, iterations, tol = ROSENBROCK_OPTIMIZERS[name]
    p = b.from_numpy(np.array([-1.2, 1.0]), "float64") + 0.0
    opt = make()
    for _ in range(iterations):
        opt.apply([p], [_rosenbrock_grad(b.xp, p)])
    np.testing.assert_allclose(b.to_numpy(p), [1.0, 1.0], atol=tol)


# ---------------------------------------------------------------------------
# Learning rate, step counter.


def test_schedule_is_evaluated_at_iterations_and_iterations_counts_steps():
    c = np.array([1.0, -2.0, 0.5])
    schedule = lambda t: 0.3 / (1.0 + t)  # noqa: E731
    opt = SGD(schedule)
    w = np.zeros(3)
    expected = np.zeros(3)
    for t in range(10):
        assert opt.iterations == t
        assert opt.learning_rate == schedule(t)
        opt.apply([w], [2.0 * (w - c)])
        expected = expected - schedule(t) * 2.0 * (expected - c)
        np.testing.assert_allclose(w, expected, rtol=1e-14)
    assert opt.iterations == 10


def test_fit_counts_one_iteration_per_batch():
    X, Y, _ = _data()
    model = fx.Sequential([Dense(N_OUT, input_dim=N_IN)])
    model.compile(optimizer=SGD(0.01), loss="mse")
    model.fit(X, Y, batch_size=16, epochs=2, verbose=0)  # 40 samples -> 3 batches per epoch
    assert model.optimizer.iterations == 6


def test_learning_rate_can_be_changed_between_steps():
    opt = SGD(0.1)
    w = np.ones(2)
    opt.apply([w], [np.ones(2)])
    opt.learning_rate = 0.5
    opt.apply([w], [np.ones(2)])
    np.testing.assert_allclose(w, [1.0 - 0.1 - 0.5] * 2, rtol=1e-14)


# ---------------------------------------------------------------------------
# Bad hyperparameters and misuse.


INVALID = {
    "momentum_1.5": (lambda: SGD(momentum=1.5), "momentum"),
    "momentum_negative": (lambda: SGD(momentum=-0.1), "momentum"),
    "lr_negative": (lambda: SGD(learning_rate=-0.1), "learning_rate"),
    "lr_nan": (lambda: SGD(learning_rate=float("nan")), "learning_rate"),
    "lr_inf": (lambda: SGD(learning_rate=float("inf")), "learning_rate"),
    "lr_string": (lambda: SGD(learning_rate="0.1"), "learning_rate"),
    "nesterov_without_momentum": (lambda: SGD(0.1, nesterov=True), "nesterov"),
    "rho_1": (lambda: RMSprop(rho=1.0), "rho"),
    "rmsprop_momentum_1": (lambda: RMSprop(momentum=1.0), "momentum"),
    "rmsprop_lr_negative": (lambda: RMSprop(learning_rate=-1e-3), "learning_rate"),
    "beta_1_is_1": (lambda: Adam(beta_1=1.0), "beta_1"),
    "beta_2_negative": (lambda: Adam(beta_2=-0.5), "beta_2"),
    "adam_lr_negative": (lambda: Adam(learning_rate=-1e-3), "learning_rate"),
    "adagrad_accumulator_negative": (lambda: Adagrad(initial_accumulator_value=-0.1),
                                     "initial_accumulator_value"),
    "adagrad_epsilon_negative": (lambda: Adagrad(epsilon=-1.0), "epsilon"),
    "adadelta_rho_1": (lambda: Adadelta(rho=1.0), "rho"),
    "adadelta_lr_nan": (lambda: Adadelta(learning_rate=float("nan")), "learning_rate"),
    "adamw_decay_negative": (lambda: AdamW(weight_decay=-0.01), "weight_decay"),
    "adamw_decay_none": (lambda: AdamW(weight_decay=None), "weight_decay"),
    "adamw_beta_2_is_1": (lambda: AdamW(beta_2=1.0), "beta_2"),
    "nadam_momentum_decay_negative": (lambda: Nadam(momentum_decay=-0.004), "momentum_decay"),
    "adamax_beta_2_is_1": (lambda: Adamax(beta_2=1.0), "beta_2"),
    "adamax_epsilon_negative": (lambda: Adamax(epsilon=-1e-7), "epsilon"),
    "ftrl_power_positive": (lambda: Ftrl(learning_rate_power=0.1), "learning_rate_power"),
    "ftrl_accumulator_negative": (lambda: Ftrl(initial_accumulator_value=-0.1), "initial_accumulator_value"),
    "ftrl_l1_negative": (lambda: Ftrl(l1_regularization_strength=-0.1), "l1_regularization_strength"),
    "ftrl_l2_negative": (lambda: Ftrl(l2_regularization_strength=-0.1), "l2_regularization_strength"),
    "ftrl_shrinkage_negative": (lambda: Ftrl(l2_shrinkage_regularization_strength=-0.1),
                                "l2_shrinkage_regularization_strength"),
    "ftrl_beta_nan": (lambda: Ftrl(beta=float("nan")), "beta"),
    "nadam_beta_1_is_1": (lambda: Nadam(beta_1=1.0), "beta_1"),
    "lion_beta_1_is_1": (lambda: Lion(beta_1=1.0), "beta_1"),
    "lion_beta_2_negative": (lambda: Lion(beta_2=-0.1), "beta_2"),
    "weight_decay_string": (lambda: SGD(weight_decay="0.1"), "weight_decay"),
    "clipnorm_zero": (lambda: SGD(clipnorm=0.0), "clipnorm"),
    "clipvalue_negative": (lambda: Adam(clipvalue=-1.0), "clipvalue"),
    "global_clipnorm_nan": (lambda: Lion(global_clipnorm=float("nan")), "global_clipnorm"),
    "global_clipnorm_bool": (lambda: Lion(global_clipnorm=True), "global_clipnorm"),
}


@pytest.mark.parametrize("name", list(INVALID))
def test_invalid_hyperparameters_raise_value_error_naming_the_argument(name):
    make, argument = INVALID[name]
    with pytest.raises(ValueError, match=argument):
        make()


def test_unknown_argument_raises_type_error():
    with pytest.raises(TypeError, match="clip_norm"):
        Adam(clip_norm=1.0)
    with pytest.raises(TypeError, match="name must be a string"):
        Adam(name=3)


def test_setting_a_negative_learning_rate_raises():
    opt = Adam()
    with pytest.raises(ValueError, match="learning_rate"):
        opt.learning_rate = -0.5


def test_get_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="nope") as info:
        fx.optimizers.get("nope")
    for name in ("adadelta", "adagrad", "adam", "adamw", "lion", "nadam", "rmsprop", "sgd"):
        assert name in str(info.value)


def test_compile_unknown_optimizer_raises():
    model = fx.Sequential([Dense(1, input_dim=2)])
    with pytest.raises(ValueError, match="valid names"):
        model.compile(optimizer="adamw_typo", loss="mse")


@pytest.mark.parametrize(
    ("identifier", "cls"),
    [("adam", Adam), ("Adam", Adam), ("sgd", SGD), ("rmsprop", RMSprop), ("adagrad", Adagrad),
     ("adadelta", Adadelta), ("AdamW", AdamW), ("nadam", Nadam), ("lion", Lion), ("adamax", Adamax),
     ("Ftrl", Ftrl)],
)
def test_compile_accepts_an_optimizer_name(identifier, cls):
    X, Y, _ = _data()
    model = fx.Sequential([Dense(N_OUT, input_dim=N_IN)], dtype="float64")
    model.compile(optimizer=identifier, loss="mse")
    assert type(model.optimizer) is cls
    before = model.get_weights()
    model.train_on_batch(X, Y)
    assert model.optimizer.iterations == 1
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_compile_accepts_an_optimizer_object_and_keeps_it():
    X, Y, _ = _data()
    opt = Adam(0.01)
    model = fx.Sequential([Dense(N_OUT, input_dim=N_IN)], dtype="float64")
    model.compile(optimizer=opt, loss="mse")
    assert model.optimizer is opt
    model.train_on_batch(X, Y)
    assert opt.iterations == 1 and len(opt.state) == 2


def test_one_optimizer_on_two_models_with_different_weight_counts_raises():
    X, Y, _ = _data()
    opt = Adam(0.01)
    first = fx.Sequential([Dense(N_HIDDEN, input_dim=N_IN, activation="tanh"), Dense(N_OUT)])
    first.compile(optimizer=opt, loss="mse")
    first.train_on_batch(X, Y)
    second = fx.Sequential([Dense(N_OUT, input_dim=N_IN)])
    second.compile(optimizer=opt, loss="mse")
    with pytest.raises(ValueError, match="one optimizer per model"):
        second.train_on_batch(X, Y)


def test_one_optimizer_on_two_models_with_different_weight_shapes_raises():
    """Same number of weights, other shapes: the state of the first model must not be
    broadcast into the updates of the second one."""
    rng = np.random.default_rng(5)
    opt = Adam(0.01)
    first = fx.Sequential([Dense(1, input_dim=1)], dtype="float64")
    first.compile(optimizer=opt, loss="mse")
    first.train_on_batch(rng.normal(size=(8, 1)), rng.normal(size=(8, 1)))
    second = fx.Sequential([Dense(N_OUT, input_dim=N_IN)], dtype="float64")
    second.compile(optimizer=opt, loss="mse")
    with pytest.raises(ValueError, match=r"this Adam holds state for a parameter of shape \(1, 1\) at "
                                         r"position 0 but was given one of shape \(4, 3\); use one "
                                         r"optimizer per model"):
        second.train_on_batch(rng.normal(size=(8, N_IN)), rng.normal(size=(8, N_OUT)))


def test_apply_rejects_mismatched_lists_and_shapes():
    opt = SGD(0.1)
    with pytest.raises(ValueError, match="2 parameters but 1 gradients"):
        opt.apply([np.zeros(2), np.zeros(3)], [np.zeros(2)])
    with pytest.raises(ValueError, match="shape"):
        SGD(0.1).apply([np.zeros((2, 3))], [np.zeros((3, 2))])


# ---------------------------------------------------------------------------
# Moving a model moves its optimizer state.

MOVE_TARGETS = [
    pytest.param(("torch", "cpu"), id="torch-cpu"),
    pytest.param(("array_api_strict", "device1"), id="array_api_strict-device1"),
]


@pytest.mark.parametrize("target", MOVE_TARGETS)
def test_model_to_moves_optimizer_state(target):
    """3 Adam steps on NumPy, ``.to(target)``, 3 more: the trajectory is torch's 6 steps."""
    torch = pytest.importorskip("torch")
    backend, device = target
    pytest.importorskip(backend)
    weights = _initial_weights()
    X, Y, batches = _data()
    model = fx.Sequential([Dense(N_HIDDEN, input_dim=N_IN, activation="tanh"), Dense(N_OUT)],
                          dtype="float64")
    model.compile(optimizer=Adam(0.02), loss="mse")
    model.set_weights(weights)
    net = _torch_net(torch, weights)
    opt = torch.optim.Adam(net.parameters(), lr=0.02, eps=1e-8)
    for s, idx in enumerate(batches[:6]):
        if s == 3:
            model.to(backend, device)
            target_backend = fx.Backend.resolve(backend, device)
            for state in model.optimizer.state:
                for array in state.values():
                    assert array_api_compat.array_namespace(array) is target_backend.xp
                    assert array_api_compat.device(array) == target_backend.device
        _flexnet_step(model, X[idx], Y[idx])
        _torch_step(torch, net, opt, X[idx], Y[idx])
        _assert_same_weights(model, net, s)
    assert model.optimizer.iterations == 6


def test_model_to_moves_momentum_state_and_keeps_sgd_trajectory():
    torch = pytest.importorskip("torch")
    weights = _initial_weights()
    X, Y, batches = _data()
    model = fx.Sequential([Dense(N_HIDDEN, input_dim=N_IN, activation="tanh"), Dense(N_OUT)],
                          dtype="float64")
    model.compile(optimizer=SGD(0.05, momentum=0.9, nesterov=True), loss="mse")
    model.set_weights(weights)
    net = _torch_net(torch, weights)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    for s, idx in enumerate(batches[:6]):
        if s == 3:
            model.to("torch")
        _flexnet_step(model, X[idx], Y[idx])
        _torch_step(torch, net, opt, X[idx], Y[idx])
    _assert_same_weights(model, net, 5)
    velocities = [state["velocity"] for state in model.optimizer.state]
    assert all(isinstance(v, torch.Tensor) for v in velocities)


def test_get_config_reports_hyperparameters():
    config = Adam(0.02, beta_1=0.8).get_config()
    assert config["learning_rate"] == 0.02 and config["beta_1"] == 0.8
    assert math.isclose(config["beta_2"], 0.999)


@pytest.mark.parametrize("epsilon", [-1e-8, float("nan"), float("inf")])
@pytest.mark.parametrize("cls", [Adam, RMSprop, Adagrad, Adadelta, AdamW, Nadam, Adamax])
def test_invalid_epsilon_raises(cls, epsilon):
    with pytest.raises(ValueError, match="epsilon must be a non-negative number"):
        cls(epsilon=epsilon)


def test_schedule_returning_a_bad_rate_raises_naming_the_step():
    opt = fx.optimizers.SGD(learning_rate=lambda step: 0.1 - 0.06 * step)
    param, grad = np.ones(2), np.ones(2)
    opt.apply([param], [grad])
    opt.apply([param], [grad])
    with pytest.raises(ValueError, match="the schedule at step 2 must be a non-negative number"):
        opt.apply([param], [grad])


# ---------------------------------------------------------------------------
# Configs: every optimizer, with every argument away from its default.

CONFIGURED = {
    "sgd": lambda: SGD(0.05, momentum=0.8, nesterov=True, clipnorm=1.0, weight_decay=1e-3, name="my_sgd"),
    "adagrad": lambda: Adagrad(0.02, initial_accumulator_value=0.3, epsilon=1e-6, clipvalue=0.5),
    "rmsprop": lambda: RMSprop(0.003, rho=0.8, momentum=0.5, epsilon=1e-6, centered=True,
                               global_clipnorm=2.0),
    "adadelta": lambda: Adadelta(0.5, rho=0.9, epsilon=1e-7, weight_decay=0.01),
    "adam": lambda: Adam(0.002, beta_1=0.8, beta_2=0.99, epsilon=1e-6, amsgrad=True, weight_decay=0.02),
    "adamw": lambda: AdamW(0.002, weight_decay=0.05, beta_1=0.85, beta_2=0.98, epsilon=1e-7,
                           amsgrad=True, clipnorm=3.0),
    "nadam": lambda: Nadam(0.002, beta_1=0.8, beta_2=0.99, epsilon=1e-6, momentum_decay=0.01,
                           weight_decay=0.01),
    "lion": lambda: Lion(3e-4, beta_1=0.8, beta_2=0.95, weight_decay=0.1, global_clipnorm=1.0),
    "adamax": lambda: Adamax(0.002, beta_1=0.8, beta_2=0.99, epsilon=1e-6, clipvalue=1.0),
    "ftrl": lambda: Ftrl(0.02, learning_rate_power=-0.3, initial_accumulator_value=0.2,
                         l1_regularization_strength=0.01, l2_regularization_strength=0.02,
                         l2_shrinkage_regularization_strength=0.03, beta=0.1, weight_decay=0.01),
}


def test_the_registry_has_keras_names_for_every_configured_optimizer():
    assert set(fx.optimizers.OPTIMIZERS) == set(CONFIGURED)
    for name, make in CONFIGURED.items():
        assert fx.optimizers.OPTIMIZERS[name] is type(make())


def _constructor_arguments(cls) -> set:
    """Every named argument of ``cls`` and of the base classes its ``**kwargs`` reach."""
    names = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        params = inspect.signature(init).parameters
        names |= {n for n, p in params.items() if n != "self" and p.kind is not p.VAR_KEYWORD}
        if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            break
    return names


@pytest.mark.parametrize("name", list(CONFIGURED))
def test_config_round_trip(name):
    opt = CONFIGURED[name]()
    config = opt.get_config()
    assert set(config) == _constructor_arguments(type(opt))
    assert json.loads(json.dumps(config)) == config
    default = type(opt)().get_config()
    base = _constructor_arguments(fx.optimizers.Optimizer) - {"learning_rate"}
    assert all(config[k] != default[k] for k in set(config) - base), \
        "each of the class's own hyperparameters should be away from its default"
    rebuilt = type(opt).from_config(config)
    assert type(rebuilt) is type(opt)
    assert rebuilt.get_config() == config
    assert rebuilt is not opt and repr(rebuilt) == repr(opt)


class _HalvingSchedule:
    """A schedule object as flexnet.schedules writes them: callable, with get_config."""

    def __init__(self, initial_learning_rate, half_life):
        self.initial_learning_rate, self.half_life = initial_learning_rate, half_life

    def __call__(self, step):
        return self.initial_learning_rate * 0.5 ** (step / self.half_life)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "half_life": self.half_life}


def test_config_writes_a_schedule_as_a_dict_and_rebuilds_it_through_schedules_deserialize(monkeypatch):
    seen = []

    def deserialize(config):
        seen.append(config)
        return _HalvingSchedule(**config["config"])

    monkeypatch.setattr(fx.schedules, "deserialize", deserialize)
    config = Adam(_HalvingSchedule(0.1, 10)).get_config()
    assert config["learning_rate"] == {
        "class_name": "_HalvingSchedule", "config": {"initial_learning_rate": 0.1, "half_life": 10},
    }
    json.dumps(config)
    rebuilt = Adam.from_config(config)
    assert seen == [config["learning_rate"]]
    rebuilt.iterations = 10
    assert rebuilt.learning_rate == pytest.approx(0.05)


@pytest.mark.parametrize("name", list(CONFIGURED))
def test_config_round_trip_with_a_flexnet_schedule(name):
    schedules = pytest.importorskip("flexnet.schedules")
    opt = CONFIGURED[name]()
    opt.learning_rate = schedules.ExponentialDecay(0.01, decay_steps=10, decay_rate=0.5)
    config = json.loads(json.dumps(opt.get_config()))
    assert config["learning_rate"] == schedules.serialize(opt._learning_rate)
    rebuilt = type(opt).from_config(config)
    assert isinstance(rebuilt._learning_rate, schedules.ExponentialDecay)
    rebuilt.iterations = opt.iterations = 20
    assert rebuilt.learning_rate == opt.learning_rate == pytest.approx(0.0025)


def test_config_keeps_a_plain_function_as_learning_rate():
    schedule = lambda t: 0.1 / (1 + t)  # noqa: E731
    config = SGD(schedule).get_config()
    assert config["learning_rate"] is schedule
    assert SGD.from_config(config).learning_rate == 0.1


# ---------------------------------------------------------------------------
# A schedule with every optimizer; get_state/set_state continue the exact trajectory.


def _toy_grads(xp, params, c):
    """∇ of Σ (w - c)² + ¼ w⁴ for each parameter: a curved, non-quadratic bowl."""
    return [2.0 * (w - ci) + w * w * w for w, ci in zip(params, c)]


def _toy_problem(case):
    rng = np.random.default_rng(7)
    host = [rng.normal(size=(3, 2)), rng.normal(size=2)]
    c = [case.asarray(rng.normal(size=h.shape)) for h in host]
    return host, c


@pytest.mark.parametrize("name", list(CONFIGURED))
def test_schedule_works_with_every_optimizer(name):
    """A callable learning rate gives the same steps as setting that rate by hand before each."""
    schedule = lambda t: 0.05 * 0.7**t  # noqa: E731
    scheduled, manual = CONFIGURED[name](), CONFIGURED[name]()
    scheduled.learning_rate = schedule
    xp = array_api_compat.array_namespace(np.zeros(1))
    rng = np.random.default_rng(2)
    c = [rng.normal(size=(3, 2)), rng.normal(size=2)]
    a = [rng.normal(size=h.shape) for h in c]
    b = [w.copy() for w in a]
    for t in range(6):
        manual.learning_rate = schedule(t)
        assert scheduled.learning_rate == schedule(t)
        scheduled.apply(a, _toy_grads(xp, a, c))
        manual.apply(b, _toy_grads(xp, b, c))
    for wa, wb in zip(a, b):
        np.testing.assert_array_equal(wa, wb)
    assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize("name", list(CONFIGURED))
def test_set_state_into_a_fresh_optimizer_continues_the_exact_trajectory(case, name):
    host, c = _toy_problem(case)
    xp = case.resolve().xp
    first = CONFIGURED[name]()
    first.learning_rate = lambda t: 0.05 / (1.0 + 0.3 * t)  # the step count matters too
    params = [case.asarray(h) + 0.0 for h in host]
    for _ in range(5):
        params = first.apply(params, _toy_grads(xp, params, c))
    snapshot = first.get_state()
    kept = copy.deepcopy(snapshot)
    at_snapshot = [case.to_numpy(p) for p in params]
    for _ in range(5):
        params = first.apply(params, _toy_grads(xp, params, c))

    second = type(first).from_config(first.get_config())
    resumed = [case.asarray(h) + 0.0 for h in at_snapshot]
    second.set_state(snapshot, resumed)
    assert second.iterations == 5
    for _ in range(5):
        resumed = second.apply(resumed, _toy_grads(xp, resumed, c))
    assert second.iterations == first.iterations == 10
    for ours, theirs in zip(resumed, params):
        np.testing.assert_array_equal(case.to_numpy(ours), case.to_numpy(theirs))
    # The snapshot is host NumPy, and training after set_state never wrote into it.
    leaves = []
    fx.optimizers.flat.tree_map(leaves.append, snapshot["state"])
    assert leaves and all(isinstance(a, np.ndarray) for a in leaves)
    kept_leaves = []
    fx.optimizers.flat.tree_map(kept_leaves.append, kept["state"])
    for a, b in zip(leaves, kept_leaves):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("backend", "device"), [("array_api_strict", "device1"), ("array_api_strict", "no_float64"),
                            ("torch", "cpu")],
)
def test_set_state_puts_the_state_on_the_params_backend_device_and_dtype(backend, device):
    pytest.importorskip(backend)
    source = Adam(0.01, amsgrad=True)
    host = [np.ones((3, 2)), np.ones(2)]
    params = [h.copy() for h in host]
    source.apply(params, [0.5 * h for h in host])
    target = fx.Backend.resolve(backend, device)
    moved = [target.from_numpy(h, "float32") + 0.0 for h in host]
    opt = Adam(0.01, amsgrad=True)
    opt.set_state(source.get_state(), moved)
    for state in opt.state:
        for array in state.values():
            assert array_api_compat.array_namespace(array) is target.xp
            assert array_api_compat.device(array) == target.device
            assert array.dtype == target.xp.float32
    opt.apply(moved, [0.5 * p for p in moved])
    assert opt.iterations == 2


def test_get_state_of_an_unused_optimizer_and_its_restore():
    opt = Nadam()
    assert opt.get_state() == {"iterations": 0, "state": None}
    opt.set_state({"iterations": 0, "state": None}, [np.zeros(2)])
    assert opt.state is None and opt.iterations == 0


@pytest.mark.parametrize(
    ("state", "params", "match"),
    [
        ({"iterations": 1}, [np.zeros(2)], "keys 'iterations' and 'state'"),
        ({"iterations": -1, "state": None}, [np.zeros(2)], "non-negative integer"),
        ({"iterations": 1.5, "state": None}, [np.zeros(2)], "non-negative integer"),
        ({"iterations": 1, "state": [{"m": np.zeros(2), "v": np.zeros(2)}]}, [np.zeros(2)] * 2,
         "for 1 parameters but 2 were given"),
        ({"iterations": 1, "state": [{"m": np.zeros(3), "v": np.zeros(3)}]}, [np.zeros(2)],
         "parameter 0"),
        ({"iterations": 1, "state": [{"velocity": np.zeros(2)}]}, [np.zeros(2)], "'m'"),
    ],
    ids=["missing_key", "negative_iterations", "float_iterations", "count", "shape", "other_optimizer"],
)
def test_set_state_rejects_a_state_that_does_not_fit(state, params, match):
    with pytest.raises(ValueError, match=match):
        Adam().set_state(state, params)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_flat_adam_equals_torch_for_small_and_large_parameters(dtype):
    """Adam runs over all parameters as one vector; its per-parameter state is a view of it."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    shapes = [(20000,), (3, 4), (7,)]
    params = [rng.normal(size=s).astype(dtype) for s in shapes]
    ref = [torch.tensor(p.copy(), requires_grad=True) for p in params]
    opt = fx.optimizers.Adam(0.01)
    ref_opt = torch.optim.Adam(ref, lr=0.01, eps=1e-8)
    for _ in range(5):
        grads = [rng.normal(size=s).astype(dtype) for s in shapes]
        opt.apply(params, grads)
        for r, g in zip(ref, grads):
            r.grad = torch.tensor(g)
        ref_opt.step()
    state = opt.get_state()["state"]
    rtol = 1e-5 if dtype == "float32" else 1e-12
    for p, r in zip(params, ref):
        np.testing.assert_allclose(p, r.detach().numpy(), rtol=rtol, atol=rtol)
    for s, r in zip(state, ref):
        np.testing.assert_allclose(s["m"], ref_opt.state[r]["exp_avg"].numpy(), rtol=rtol,
                                   atol=1e-7 if dtype == "float32" else 1e-12)
    fresh = fx.optimizers.Adam(0.01)  # state restored into a fresh optimizer keeps working
    fresh.set_state(opt.get_state(), params)
    fresh.apply(params, grads)
    assert fresh.state[1]["m"].base is not None  # a view of the one flat state vector
