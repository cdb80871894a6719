"""Optimizers: step-by-step agreement with ``torch.optim``, convergence on test functions,
learning-rate schedules, the custom optimizer of the base-class docstring, and misuse.

The reference trajectories come from PyTorch (autograd + ``torch.optim``) on the same
network with the same weights and batches, never from flexnet itself.
"""

from __future__ import annotations

import inspect
import math
import textwrap

import array_api_compat
import numpy as np
import pytest

import flexnet as fx
from flexnet.layers import Dense
from flexnet.optimizers import SGD, Adam, RMSprop

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


def _torch_step(torch, net, opt, xb, yb) -> float:
    opt.zero_grad()
    loss = torch.nn.functional.mse_loss(net(torch.from_numpy(xb)), torch.from_numpy(yb))
    loss.backward()
    opt.step()
    return loss.item()


def _assert_same_weights(model, net, step):
    for i, (ours, theirs) in enumerate(zip(model.get_weights(), _torch_weights(net))):
        np.testing.assert_allclose(
            ours, theirs, rtol=RTOL, atol=ATOL, err_msg=f"weight {i} after step {step}"
        )


def _flexnet_step(model, xb, yb) -> float:
    loss, grads = model.compute_gradients(xb, yb)
    model.optimizer.apply(model.trainable_weights, grads)
    return float(loss)


def _run_against_torch(case, fx_optimizer, torch_optimizer, step=_flexnet_step, steps=STEPS,
                       scheduler=None):
    """Train both twins on identical batches; compare losses and weights after every step."""
    torch = pytest.importorskip("torch")
    weights = _initial_weights()
    X, Y, batches = _data()
    model = _flexnet_net(case, fx_optimizer, weights)
    net = _torch_net(torch, weights)
    opt = torch_optimizer(torch, net.parameters())
    sched = None if scheduler is None else scheduler(torch, opt)
    for s, idx in enumerate(batches[:steps]):
        ours = step(model, X[idx], Y[idx])
        theirs = _torch_step(torch, net, opt, X[idx], Y[idx])
        if sched is not None:
            sched.step()
        assert ours == pytest.approx(theirs, rel=RTOL), f"loss at step {s}"
        _assert_same_weights(model, net, s)
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
}


@pytest.mark.parametrize("name", list(TWINS))
def test_optimizer_matches_torch_step_by_step(case64, name):
    ours, theirs = TWINS[name]
    _run_against_torch(case64, ours(), theirs)


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
    "rmsprop": (lambda: RMSprop(lambda t: 0.05 / (1.0 + t / 20.0)), 800),
    "adam": (lambda: Adam(0.05), 800),
}


@pytest.mark.parametrize("name", list(PARABOLA_OPTIMIZERS))
def test_optimizer_minimizes_parabola(case, name):
    make, iterations = PARABOLA_OPTIMIZERS[name]
    c = np.random.default_rng(3).uniform(-2.0, 2.0, size=6)
    target = case.asarray(c)
    w = case.asarray(np.zeros(6)) + 0.0  # a fresh array: apply updates it in place
    opt = make()
    for _ in range(iterations):
        grad = 2.0 * (w - target)  # ∇ Σ (w - c)²
        opt.apply([w], [grad])
    assert opt.iterations == iterations
    np.testing.assert_allclose(case.to_numpy(w), c, atol=1e-3)


ROSENBROCK_OPTIMIZERS = {
    "sgd": (lambda: SGD(1e-3), 15000, 1e-2),
    "sgd_momentum": (lambda: SGD(1e-3, momentum=0.9), 4000, 1e-4),
    "sgd_nesterov": (lambda: SGD(1e-3, momentum=0.9, nesterov=True), 4000, 1e-4),
    "rmsprop": (lambda: RMSprop(lambda t: 1e-2 / (1.0 + t / 100.0)), 5000, 1e-2),
    "adam": (lambda: Adam(2e-2), 4000, 1e-4),
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


@pytest.mark.parametrize(
    "make",
    [
        lambda: SGD(momentum=1.5),
        lambda: SGD(momentum=-0.1),
        lambda: SGD(learning_rate=-0.1),
        lambda: SGD(learning_rate=float("nan")),
        lambda: SGD(learning_rate=float("inf")),
        lambda: SGD(learning_rate="0.1"),
        lambda: SGD(0.1, nesterov=True),
        lambda: RMSprop(rho=1.0),
        lambda: RMSprop(learning_rate=-1e-3),
        lambda: Adam(beta_1=1.0),
        lambda: Adam(beta_2=-0.5),
        lambda: Adam(learning_rate=-1e-3),
    ],
    ids=[
        "momentum_1.5", "momentum_negative", "lr_negative", "lr_nan", "lr_inf", "lr_string",
        "nesterov_without_momentum", "rho_1", "rmsprop_lr_negative", "beta_1_is_1",
        "beta_2_negative", "adam_lr_negative",
    ],
)
def test_invalid_hyperparameters_raise_value_error(make):
    with pytest.raises(ValueError):
        make()


def test_setting_a_negative_learning_rate_raises():
    opt = Adam()
    with pytest.raises(ValueError, match="learning_rate"):
        opt.learning_rate = -0.5


def test_get_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="nope") as info:
        fx.optimizers.get("nope")
    for name in ("adam", "rmsprop", "sgd"):
        assert name in str(info.value)


def test_compile_unknown_optimizer_raises():
    model = fx.Sequential([Dense(1, input_dim=2)])
    with pytest.raises(ValueError, match="valid names"):
        model.compile(optimizer="adamw_typo", loss="mse")


@pytest.mark.parametrize(
    ("identifier", "cls"), [("adam", Adam), ("Adam", Adam), ("sgd", SGD), ("rmsprop", RMSprop)]
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
    with pytest.raises(ValueError):
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
@pytest.mark.parametrize("cls", [fx.optimizers.Adam, fx.optimizers.RMSprop])
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
