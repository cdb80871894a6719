"""Shared pieces of the pytest-benchmark suite: targets, grid, data and networks (see conftest.py)."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass

import numpy as np
import pytest
from compare import train_flops  # noqa: F401 - the FLOP count, shared with compare.py

FULL = os.environ.get("FLEXNET_BENCH_FULL", "") not in ("", "0")
BATCHES = (1, 32, 128, 1024, 8192) if FULL else (32, 1024)
WIDTHS = (64, 300, 1024, 4096) if FULL else (64, 300)
ACTIVATIONS = ("relu", "sigmoid", "tanh", "softmax") if FULL else ("relu", "softmax")
#: Work allowed in one benchmarked call, in GFLOP (a CPU core does some tens per second).
MAX_GFLOP = float(os.environ.get("FLEXNET_BENCH_MAX_GFLOP", "100" if FULL else "20"))
GPU_FACTOR = 100  # a GPU is allowed this much more work per call


@dataclass(frozen=True)
class Target:
    """Where a benchmark runs: ``flexnet`` on a backend and device, or ``torch`` itself."""

    name: str
    library: str  # "flexnet" or "torch"
    backend: str | None  # flexnet's backend name
    device: object

    @property
    def gpu(self) -> bool:
        return self.backend == "cupy" or str(self.device).startswith("cuda")

    def sync(self) -> None:
        """Wait for the device's queued work, so that timings include it."""
        if self.backend == "cupy":
            import cupy

            cupy.cuda.get_current_stream().synchronize()
        elif self.gpu:
            import torch

            torch.cuda.synchronize()

    def skip_if_too_big(self, flops: float) -> None:
        limit = MAX_GFLOP * 1e9 * (GPU_FACTOR if self.gpu else 1)
        if flops > limit:
            pytest.skip(f"{flops / 1e9:.0f} GFLOP per call exceeds {limit / 1e9:.0f} on {self.name}")


def _targets() -> list[Target]:
    targets = [Target("flexnet-numpy", "flexnet", "numpy", None)]
    if importlib.util.find_spec("torch"):
        import torch

        targets += [Target("flexnet-torch", "flexnet", "torch", "cpu"), Target("torch", "torch", None, "cpu")]
        if torch.cuda.is_available():
            targets += [Target("flexnet-torch-cuda", "flexnet", "torch", "cuda:0"),
                        Target("torch-cuda", "torch", None, "cuda:0")]
    if importlib.util.find_spec("cupy"):
        try:
            import cupy

            if cupy.cuda.runtime.getDeviceCount() > 0:
                targets.append(Target("flexnet-cupy", "flexnet", "cupy", 0))
        except Exception:  # noqa: BLE001 - CuPy without a driver or a GPU
            pass
    return targets


TARGETS = _targets()


def host_data(batch: int, features: int, classes: int | None = None, seed: int = 0):
    """Standard-normal float32 inputs and, with ``classes``, integer labels."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, features), dtype=np.float32)
    return x if classes is None else (x, rng.integers(0, classes, size=batch))


def mlp_sizes(width: int) -> tuple[int, ...]:
    """The benchmark network for a hidden width: 784-width-width-10."""
    return (784, width, width, 10)


def flexnet_mlp(target: Target, sizes):
    """A compiled flexnet MLP (ReLU, softmax + sparse cross-entropy, Adam) on the target."""
    import flexnet as fx

    fx.utils.set_random_seed(0)
    layers = [fx.layers.Dense(sizes[1], input_dim=sizes[0], activation="relu")]
    layers += [fx.layers.Dense(units, activation="relu") for units in sizes[2:-1]]
    layers.append(fx.layers.Dense(sizes[-1], activation="softmax"))
    model = fx.Sequential(layers, backend=target.backend, device=target.device)
    model.compile(optimizer=fx.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    return model


def torch_mlp(target: Target, sizes):
    """The same network in PyTorch, with ``Adam(fused=True)``."""
    import torch

    torch.manual_seed(0)
    modules = []
    for i, o in zip(sizes[:-1], sizes[1:]):
        modules += [torch.nn.Linear(i, o), torch.nn.ReLU()]
    net = torch.nn.Sequential(*modules[:-1]).to(target.device)
    return net, torch.optim.Adam(net.parameters(), lr=1e-3, fused=True)
