"""Building blocks, one call each: Dense forward and backward, activation forward+backward,
the softmax cross-entropy, and one Adam step, for flexnet against PyTorch on each target.

flexnet goes through its public layer, activation, loss and optimizer objects; PyTorch
through ``nn.Linear``, its functions and autograd (``torch.autograd.grad``), the way a
PyTorch user runs them. Shapes: inputs ``(batch, width)``, a ``width x width`` Dense layer.
"""

from __future__ import annotations

import pytest
from benchlib import ACTIVATIONS, BATCHES, WIDTHS, host_data

import flexnet as fx

pytest.importorskip("pytest_benchmark")  # the suite needs its fixture


def _dense(target, width: int):
    model = fx.Sequential([fx.layers.Dense(width, input_dim=width)], backend=target.backend,
                          device=target.device)
    return model.layers[0], model.backend


def _torch_linear(target, width: int, batch: int):
    import torch

    linear = torch.nn.Linear(width, width).to(target.device)
    X = torch.from_numpy(host_data(batch, width)).to(target.device).requires_grad_(True)
    return torch, linear, X


def _run(benchmark, target, group: str, flops: float, fn):
    """Benchmark ``fn`` followed by a device synchronisation, in a group shared by all targets."""
    target.skip_if_too_big(flops)
    benchmark.group = group
    benchmark.extra_info["flops"] = flops

    def call():
        fn()
        target.sync()

    benchmark(call)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("batch", BATCHES)
def test_dense_forward(benchmark, target, batch, width):
    """``Y = X W + b``, in training mode (the layer keeps what backward needs)."""
    flops = 2 * batch * width * width
    group = f"dense forward b{batch} w{width}"
    if target.library == "torch":
        torch, linear, X = _torch_linear(target, width, batch)
        _run(benchmark, target, group, flops, lambda: linear(X))
        return
    layer, backend = _dense(target, width)
    X = backend.from_numpy(host_data(batch, width))
    _run(benchmark, target, group, flops, lambda: layer.forward(X, training=True))


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("batch", BATCHES)
def test_dense_backward(benchmark, target, batch, width):
    """``db = Σ dY``, ``dW = Xᵀ dY``, ``dX = dY Wᵀ`` after one forward pass."""
    flops = 4 * batch * width * width
    group = f"dense backward b{batch} w{width}"
    dY_host = host_data(batch, width, seed=1)
    if target.library == "torch":
        torch, linear, X = _torch_linear(target, width, batch)
        Y, dY = linear(X), torch.from_numpy(dY_host).to(target.device)
        inputs = [X, linear.weight, linear.bias]
        _run(benchmark, target, group, flops,
             lambda: torch.autograd.grad(Y, inputs, dY, retain_graph=True))
        return
    layer, backend = _dense(target, width)
    layer.forward(backend.from_numpy(host_data(batch, width)), training=True)
    dY = backend.from_numpy(dY_host)
    _run(benchmark, target, group, flops, lambda: layer.backward(dY))


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("batch", BATCHES)
def test_activation(benchmark, target, batch, width, activation):
    """``Y = f(Z)`` and ``dZ = dY · f'(Z)`` on a ``(batch, width)`` array."""
    group = f"activation {activation} b{batch} w{width}"
    Z_host, dY_host = host_data(batch, width), host_data(batch, width, seed=1)
    if target.library == "torch":
        import torch

        f = {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
             "softmax": lambda z: torch.softmax(z, dim=-1)}[activation]
        Z = torch.from_numpy(Z_host).to(target.device).requires_grad_(True)
        dY = torch.from_numpy(dY_host).to(target.device)
        _run(benchmark, target, group, 0, lambda: torch.autograd.grad(f(Z), Z, dY))
        return
    backend = fx.Backend.resolve(target.backend, target.device)
    f, xp = fx.activations.get(activation), backend.xp
    Z, dY = backend.from_numpy(Z_host), backend.from_numpy(dY_host)
    _run(benchmark, target, group, 0, lambda: f.backward(xp, Z, f.forward(xp, Z), dY))


@pytest.mark.parametrize("classes", WIDTHS)
@pytest.mark.parametrize("batch", BATCHES)
def test_softmax_crossentropy(benchmark, target, batch, classes):
    """Softmax, the sparse cross-entropy from the logits, and its gradient ``(P - y) / n``
    (flexnet's fused output path; ``F.cross_entropy`` forward and backward in PyTorch)."""
    group = f"softmax cross-entropy b{batch} c{classes}"
    Z_host, y_host = host_data(batch, classes, classes)
    if target.library == "torch":
        import torch

        Z = torch.from_numpy(Z_host).to(target.device).requires_grad_(True)
        y = torch.from_numpy(y_host).to(target.device)

        def step():
            loss = torch.nn.functional.cross_entropy(Z, y)
            return loss.detach(), torch.autograd.grad(loss, Z)

        _run(benchmark, target, group, 0, step)
        return
    backend = fx.Backend.resolve(target.backend, target.device)
    xp, softmax = backend.xp, fx.activations.get("softmax")
    loss = fx.losses.get("sparse_categorical_crossentropy").logits_loss(softmax)
    Z, y = backend.from_numpy(Z_host), backend.from_numpy(y_host, backend.index_dtype)

    def step():
        P = softmax.forward(xp, Z)
        return loss.value(xp, y, Z), loss.logits_gradient(xp, y, P)

    _run(benchmark, target, group, 0, step)


@pytest.mark.parametrize("width", WIDTHS)
def test_adam_step(benchmark, target, width):
    """One Adam step on the kernel and bias of a ``width x width`` Dense layer
    (``torch.optim.Adam(fused=True)`` for PyTorch)."""
    group = f"adam step w{width}"
    host = [host_data(width, width), host_data(1, width)[0]]
    grads = [host_data(width, width, seed=1) * 1e-2, host_data(1, width, seed=2)[0] * 1e-2]
    if target.library == "torch":
        import torch

        params = [torch.nn.Parameter(torch.from_numpy(h).to(target.device)) for h in host]
        for p, g in zip(params, grads):
            p.grad = torch.from_numpy(g).to(target.device)
        opt = torch.optim.Adam(params, lr=1e-3, fused=True)
        _run(benchmark, target, group, 0, opt.step)
        return
    backend = fx.Backend.resolve(target.backend, target.device)
    params = [backend.from_numpy(h.copy()) for h in host]  # apply() writes into them
    dparams = [backend.from_numpy(g) for g in grads]
    opt = fx.optimizers.Adam(1e-3)
    _run(benchmark, target, group, 0, lambda: opt.apply(params, dparams))
