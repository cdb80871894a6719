"""Training: one step and one epoch of an MLP 784-width-width-10 (ReLU, softmax
cross-entropy, Adam, float32), flexnet against PyTorch with ``Adam(fused=True)``.

flexnet goes through ``model.train_on_batch`` and ``model.fit(..., verbose=0)`` with the
data already on the device; PyTorch runs the usual hand-written step and epoch loop
(``randperm``, gather, zero_grad, forward, ``cross_entropy``, backward, step).
"""

from __future__ import annotations

import pytest
from benchlib import BATCHES, FULL, WIDTHS, flexnet_mlp, host_data, mlp_sizes, torch_mlp, train_flops

pytest.importorskip("pytest_benchmark")  # the suite needs its fixture

EPOCH_SAMPLES = 60_000 if FULL else 4_096
EPOCH_GFLOP = 150 if FULL else 10  # an epoch is cut to about this much work (whole batches, >= 2)


def _group(benchmark, kind: str, batch: int, width: int, flops: float) -> None:
    benchmark.group = f"{kind} b{batch} w{width}"
    benchmark.extra_info["flops"] = flops


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("batch", BATCHES)
def test_train_step(benchmark, target, batch, width):
    """Forward, loss, backward and Adam on one batch."""
    sizes = mlp_sizes(width)
    flops = batch * train_flops(sizes)
    target.skip_if_too_big(flops)
    _group(benchmark, "train step", batch, width, flops)
    x, y = host_data(batch, sizes[0], sizes[-1])
    if target.library == "torch":
        import torch

        net, opt = torch_mlp(target, sizes)
        X, Y = torch.from_numpy(x).to(target.device), torch.from_numpy(y).to(target.device)

        def step():
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(net(X), Y).backward()
            opt.step()
            target.sync()
    else:
        model = flexnet_mlp(target, sizes)
        X, Y = model.backend.from_numpy(x), model.backend.from_numpy(y)

        def step():
            model.train_on_batch(X, Y)
            target.sync()

    benchmark(step)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("batch", BATCHES)
def test_epoch(benchmark, target, batch, width):
    """One shuffled epoch (60,000 samples in the full grid, fewer for wide networks)."""
    sizes = mlp_sizes(width)
    per_sample = train_flops(sizes)
    n = max(2 * batch, min(EPOCH_SAMPLES, int(EPOCH_GFLOP * 1e9 / per_sample) // batch * batch))
    if benchmark.disabled:  # a smoke test (--benchmark-disable): two batches show that it runs
        n = 2 * batch
    target.skip_if_too_big(n * per_sample / 3)  # an epoch may take three calls' worth of work
    _group(benchmark, "epoch", batch, width, n * per_sample)
    benchmark.extra_info["samples"] = n
    x, y = host_data(n, sizes[0], sizes[-1])
    if target.library == "torch":
        import torch

        net, opt = torch_mlp(target, sizes)
        X, Y = torch.from_numpy(x).to(target.device), torch.from_numpy(y).to(target.device)
        F = torch.nn.functional

        def epoch():
            perm = torch.randperm(n, device=target.device)
            total = torch.zeros((), device=target.device)
            for i in range(0, n, batch):
                index = perm[i : i + batch]
                xb, yb = X.index_select(0, index), Y.index_select(0, index)
                opt.zero_grad(set_to_none=True)
                loss = F.cross_entropy(net(xb), yb)
                loss.backward()
                opt.step()
                total += loss.detach() * xb.shape[0]
            float(total)
            target.sync()
    else:
        model = flexnet_mlp(target, sizes)
        X, Y = model.backend.from_numpy(x), model.backend.from_numpy(y)

        def epoch():
            model.fit(X, Y, batch_size=batch, epochs=1, verbose=0)
            target.sync()

    benchmark.pedantic(epoch, rounds=3, iterations=1, warmup_rounds=1)
