"""The training step on NumPy, fused: no array is allocated per step once buffers exist.

The generic step (:class:`~flexnet.training.step.TrainStep`) allocates every
intermediate array afresh, and on NumPy each large temporary is a fresh allocation,
often with page faults. :class:`NumpyStep` runs the same computation for the
models that courses and benchmarks train most — a stack of ``Dense`` layers (ReLU,
tanh, sigmoid or linear) with optional ``Dropout``, ending in softmax or sigmoid
fused with its cross-entropy, or in a linear layer with the mean squared error — as
NumPy calls that write into buffers kept per batch size (``out=``): activations,
their gradients, the parameter gradients (straight into the flat gradient vector
whose views are the layers' gradients), and the optimizer's scratch. The optimizer
updates the flat parameter vector with a NumPy kernel of its rule
(:mod:`flexnet.optimizers.kernels`) or, for a rule without one, with its own
``update``.

Everything else — other layers, regularizers, constraints, activity penalties,
sample and class weights, several outputs — runs the generic step, which stays
the reference: ``tests/test_numpy_step.py`` checks the two agree to a few units in
the last place, step after step.
"""

from __future__ import annotations

import numpy as np

from flexnet.activations import Linear, ReLU, Sigmoid, Softmax, Tanh
from flexnet.layers.core import Dense, Dropout
from flexnet.losses import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    MeanSquaredError,
    SparseCategoricalCrossentropy,
)
from flexnet.optimizers.kernels import numpy_kernel
from flexnet.training.step import TrainStep

__all__ = ["NumpyStep", "fused_plan"]

_HIDDEN = (Linear, ReLU, Tanh, Sigmoid)
#: output activation -> the losses it fuses with here
_OUTPUTS = {Softmax: (SparseCategoricalCrossentropy, CategoricalCrossentropy),
            Sigmoid: (BinaryCrossentropy,), Linear: (MeanSquaredError,)}


def _default(obj, *, ignore=("name",)) -> bool:
    """``obj`` is exactly its class with the default arguments (``name`` aside)."""
    try:
        default = type(obj)().get_config()
    except TypeError:
        return False
    mine = obj.get_config()
    return {k: v for k, v in mine.items() if k not in ignore} == \
        {k: v for k, v in default.items() if k not in ignore}


def fused_plan(model, loss) -> list | None:
    """The layers of ``model`` as ``[(dense, dropout or None), ...]`` when the fused step can
    train it with ``loss`` (see the module docstring), else None."""
    graph = model.graph
    if not graph.is_chain or loss.multi or len(model.input_names) != 1:
        return None
    head = loss.heads[0]
    if head.weight != 1.0 or not _default(head.loss, ignore=("name", "from_logits")) or \
            head.loss.reduction != "sum_over_batch_size":
        return None
    plan, ops = [], [step.op for step in graph.steps]
    for op in ops:
        if type(op) is Dense:
            if op.regularizers or op.constraints or op.activity_regularizer is not None \
                    or not op.trainable or not op.use_bias:
                return None
            plan.append([op, None])
        elif type(op) is Dropout and plan and plan[-1][1] is None and op.activity_regularizer is None:
            plan[-1][1] = op
        else:
            return None
    if not plan or plan[-1][1] is not None:
        return None
    for dense, _ in plan[:-1]:
        if type(dense.activation) not in _HIDDEN or not _default(dense.activation):
            return None
    last = plan[-1][0].activation
    losses = _OUTPUTS.get(type(last), ())
    if type(head.loss) not in losses or not _default(last):
        return None
    if type(last) is not Linear and (head.fused is None or head.loss.from_logits):
        return None
    if model.dtype not in ("float32", "float64"):
        return None
    return [tuple(p) for p in plan]


class _Buffers:
    """The arrays one batch size needs, made once."""

    def __init__(self, plan, n: int, dtype, out_units: int):
        self.Y = [np.empty((n, d.units), dtype) for d, _ in plan]  # activations (after f)
        self.D = [None if drop is None else np.empty((n, d.units), dtype) for d, drop in plan]
        self.M = [None if drop is None else np.empty((n, d.units), dtype) for d, drop in plan]
        self.U = [None if drop is None else np.empty((n, d.units), dtype) for d, drop in plan]
        self.keep = [None if drop is None else np.empty((n, d.units), bool) for d, drop in plan]
        self.dA = [np.empty((n, d.units), dtype) for d, _ in plan]  # gradient at each output
        self.T = [np.empty((n, d.units), dtype) for d, _ in plan]  # scratch of the same shape
        self.mask = [np.empty((n, d.units), bool) for d, _ in plan]
        self.out = np.empty((n, out_units), dtype)  # scratch shaped like the output
        self.m = np.empty((n, 1), dtype)
        self.s = np.empty((n, 1), dtype)
        self.v = np.empty((n,), dtype)
        self.index = np.empty((n,), np.int64)
        self.rows = np.arange(n, dtype=np.int64) * out_units


class NumpyStep(TrainStep):
    """The fused NumPy train step for a model :func:`fused_plan` accepts.

    Args:
        model, loss, metrics, optimizer: as :class:`~flexnet.training.step.TrainStep`.
        plan: what :func:`fused_plan` returned.
    """

    def __init__(self, model, loss, metrics, optimizer, plan):
        super().__init__(model, loss, metrics, optimizer)
        self.plan = plan
        self.head = loss.heads[0]
        self.dtype = np.dtype(model.dtype)
        self._buffers: dict[int, _Buffers] = {}
        self._G = None
        self._grad_views = None
        self._scratch: dict = {}
        self._kernel = numpy_kernel(optimizer)

    def _buffers_for(self, n: int) -> _Buffers:
        buffers = self._buffers.get(n)
        if buffers is None:
            buffers = self._buffers[n] = _Buffers(self.plan, n, self.dtype, self.plan[-1][0].units)
        return buffers

    def _gradient_views(self):
        """The flat gradient vector, and for each Dense its (kernel, bias) gradient views."""
        layout = self.parameters.layout
        if self._G is None or self._G.shape != (layout.total,):
            self._G = np.empty((layout.total,), self.dtype)
            views = layout.split(self._G)
            self._grad_views = [(views[2 * i], views[2 * i + 1]) for i in range(len(self.plan))]
        return self._G, self._grad_views

    def __call__(self, Xs, Ys, W=None):
        if W is not None or Xs[0].ndim != 2:
            return super().__call__(Xs, Ys, W)
        self.parameters.sync()
        X, Y = Xs[0], Ys[0]
        n = X.shape[0]
        b = self._buffers_for(n)
        outputs = self._forward(X, b)
        L, dZ = self._loss(Y, outputs, b)
        self._backward(X, dZ, b)
        params = self.params()
        self.optimizer._check(params, params)  # its state fits these weights (made at the first step)
        kernel = None if self._kernel is None else self._run_kernel
        self.parameters.updated(self.optimizer.step(self.parameters.vector, self._G, kernel=kernel))
        self.metrics.update(Ys, [outputs], None)
        return L, None

    def _run_kernel(self, optimizer, P, G, state):
        self._kernel(optimizer, P, G, state, self._scratch)

    # -- forward --------------------------------------------------------------------------
    def _forward(self, X, b):
        A = X
        last = len(self.plan) - 1
        for i, (dense, drop) in enumerate(self.plan):
            Z = b.Y[i]
            np.matmul(A, dense.params["kernel"], out=Z)
            Z += dense.params["bias"]
            if i == last:
                return self._output(Z, b)
            _activate(dense.activation, Z, b.T[i], b.mask[i])
            A = Z
            if drop is not None and drop.rate > 0.0:
                drop.rng._host.random(out=b.U[i], dtype=self.dtype)
                np.greater_equal(b.U[i], drop.rate, out=b.keep[i])
                np.multiply(b.keep[i], 1.0 / (1.0 - drop.rate), out=b.M[i])
                A = np.multiply(Z, b.M[i], out=b.D[i])
        return None

    def _output(self, Z, b):
        """The network's output from the last logits ``Z`` (kept in ``b.T[-1]``)."""
        act, T = self.plan[-1][0].activation, b.T[-1]
        np.copyto(T, Z)  # the logits, for the loss
        if type(act) is Softmax:
            np.max(T, axis=1, keepdims=True, out=b.m)
            np.subtract(T, b.m, out=T)  # S = Z - max Z
            np.exp(T, out=Z)
            np.sum(Z, axis=1, keepdims=True, out=b.s)
            Z /= b.s
        elif type(act) is Sigmoid:
            _sigmoid(Z, b.dA[-1], b.mask[-1])
        return Z

    # -- loss -----------------------------------------------------------------------------
    def _loss(self, y, P, b):
        """``(L, dZ)``: the batch loss (0-d) and the gradient at the last logits."""
        loss, n, k = self.head.loss, P.shape[0], P.shape[1]
        dZ, S = b.dA[-1], b.T[-1]
        if isinstance(loss, SparseCategoricalCrossentropy):
            np.add(b.rows, y, out=b.index)
            np.log(b.s, out=b.s)
            np.subtract(b.s[:, 0], np.take(S.reshape(-1), b.index), out=b.v)  # log Σe^S - S_y
            L = np.sum(b.v) * (1.0 / n)
            np.copyto(dZ, P)
            dZ.reshape(-1)[b.index] -= 1.0
        elif isinstance(loss, CategoricalCrossentropy):
            np.log(b.s, out=b.s)
            S -= b.s  # log softmax
            S *= y
            np.sum(S, axis=1, out=b.v)
            L = -np.sum(b.v) * (1.0 / n)
            np.sum(y, axis=1, keepdims=True, out=b.s)
            np.multiply(P, b.s, out=dZ)
            dZ -= y
        elif isinstance(loss, BinaryCrossentropy):  # from the logits S: max(S,0) - S y + log1p(e^-|S|)
            U, V = b.out, dZ
            np.abs(S, out=U)
            np.negative(U, out=U)
            np.exp(U, out=U)
            np.log1p(U, out=U)
            np.maximum(S, 0.0, out=V)
            S *= y
            V -= S
            V += U
            np.mean(V, axis=1, out=b.v)
            L = np.sum(b.v) * (1.0 / n)
            np.subtract(P, y, out=dZ)
            dZ *= 1.0 / k
        else:  # mean squared error, linear output
            np.subtract(P, y, out=dZ)
            np.multiply(dZ, dZ, out=S)
            np.mean(S, axis=1, out=b.v)
            L = np.sum(b.v) * (1.0 / n)
            dZ *= 2.0 / k
        dZ *= 1.0 / n
        return np.asarray(L, dtype=self.dtype), dZ

    # -- backward -------------------------------------------------------------------------
    def _backward(self, X, dZ, b):
        _, views = self._gradient_views()
        for i in range(len(self.plan) - 1, -1, -1):
            dense = self.plan[i][0]
            below = X if i == 0 else (b.Y[i - 1] if self.plan[i - 1][1] is None
                                      or self.plan[i - 1][1].rate == 0.0 else b.D[i - 1])
            gW, gb = views[i]
            np.matmul(below.T, dZ, out=gW)
            np.sum(dZ, axis=0, out=gb)
            if i == 0:
                return
            dA = b.dA[i - 1]
            np.matmul(dZ, dense.params["kernel"].T, out=dA)
            prev, drop = self.plan[i - 1]
            if drop is not None and drop.rate > 0.0:
                dA *= b.M[i - 1]
            _activation_backward(prev.activation, b.Y[i - 1], dA, b.T[i - 1], b.mask[i - 1])
            dZ = dA


def _activate(f, Z, T, mask) -> None:
    """``Z ← f(Z)`` in place, for the hidden activations the fused step runs."""
    if type(f) is ReLU:
        np.maximum(Z, 0.0, out=Z)
    elif type(f) is Tanh:
        np.tanh(Z, out=Z)
    elif type(f) is Sigmoid:
        _sigmoid(Z, T, mask)


def _sigmoid(Z, T, mask) -> None:
    """``Z ← σ(Z)`` in place, by :class:`~flexnet.activations.Sigmoid`'s stable formula."""
    np.abs(Z, out=T)
    np.negative(T, out=T)
    np.exp(T, out=T)  # E = e^{-|z|}
    np.greater_equal(Z, 0.0, out=mask)
    np.add(T, 1.0, out=Z)
    np.divide(T, Z, out=T)  # negative branch E / (1 + E)
    np.reciprocal(Z, out=Z)  # positive branch 1 / (1 + E)
    Z -= T
    Z *= mask
    Z += T


def _activation_backward(f, Y, dA, T, mask) -> None:
    """``dA ← dA ⊙ f'`` in place from the activation's output ``Y``."""
    if type(f) is ReLU:
        np.greater(Y, 0.0, out=mask)  # ReLU'(z) = 1 exactly where max(z, 0) > 0
        dA *= mask
    elif type(f) is Tanh:
        np.multiply(Y, Y, out=T)
        np.subtract(1.0, T, out=T)
        dA *= T
    elif type(f) is Sigmoid:
        np.subtract(1.0, Y, out=T)
        dA *= Y
        dA *= T
