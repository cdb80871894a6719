"""Training-step timings: flexnet on each available backend against PyTorch.

    pip install -e ".[bench]" && python -m pytest benchmarks/ --benchmark-columns=median,ops

MLP 784-300-100-10, ReLU, softmax cross-entropy, Adam, float32. Run as a smoke
test with ``--benchmark-disable``.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import flexnet as fx

pytest.importorskip("pytest_benchmark")

SIZES = (784, 300, 100, 10)
BACKENDS = ["numpy"] + [b for b in ("torch",) if importlib.util.find_spec(b)]


def _data(batch: int):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, SIZES[0]), dtype=np.float32)
    y = rng.integers(0, SIZES[-1], size=batch)
    return x, y


def _model(backend: str):
    model = fx.Sequential(
        [fx.layers.Dense(SIZES[1], input_dim=SIZES[0], activation="relu"),
         fx.layers.Dense(SIZES[2], activation="relu"),
         fx.layers.Dense(SIZES[3], activation="softmax")],
        backend=backend,
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


@pytest.mark.parametrize("batch", [32, 128, 1024])
@pytest.mark.parametrize("backend", BACKENDS)
def test_flexnet_train_step(benchmark, backend, batch):
    model = _model(backend)
    x, y = _data(batch)
    X, Y = model._prepare_xy(x, y)
    params = model.trainable_weights

    def step():
        model._loss_and_backward(X, Y, True)
        model.optimizer.apply(params, model._grads())

    benchmark(step)


@pytest.mark.parametrize("batch", [32, 128, 1024])
def test_torch_train_step(benchmark, batch):
    torch = pytest.importorskip("torch")
    net = torch.nn.Sequential(
        torch.nn.Linear(SIZES[0], SIZES[1]), torch.nn.ReLU(),
        torch.nn.Linear(SIZES[1], SIZES[2]), torch.nn.ReLU(),
        torch.nn.Linear(SIZES[2], SIZES[3]),
    )
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, fused=True)
    x, y = _data(batch)
    X, Y = torch.from_numpy(x), torch.from_numpy(y)

    def step():
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(net(X), Y).backward()
        opt.step()

    benchmark(step)
