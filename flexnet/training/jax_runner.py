"""Training, evaluation and prediction on the jax backend, compiled with ``jax.jit``.

JAX runs a Python function once on abstract values (tracing), compiles what it did
into one XLA program, and runs that program afterwards. :class:`JaxRunner` traces
flexnet's own generic step — the same :class:`~flexnet.training.step.TrainStep`,
layers, losses and optimizer code as every other backend — inside ``lax.scan``
over a chunk of batches, so one call trains many steps:

* the step's state is explicit: the flat parameter vector, the optimizer state, the
  layers' buffers (BatchNormalization's moving statistics) and the random keys
  (dropout) go in as arrays and come out as new arrays (the parameter and optimizer
  buffers are donated, so XLA updates them in place);
* what depends on the step number only — the learning rate of a schedule, the
  optimizer's step constants — is computed on the host for every step of the chunk
  and passed in as arrays, so nothing is retraced as the step count grows;
* batches are gathered on the device from the epoch's permutation inside the
  program; the outputs come back stacked, and the metrics read them once a chunk.

A chunk is one step when a callback needs each batch as it happens (the progress bar
does not: it advances after the chunk). The last, shorter batch of an epoch is a
chunk of its own shape. Each shape is compiled once per model.

Data read a batch at a time (a stream: memory-mapped files, generators, Datasets) has
no arrays to gather from inside a program: each of its batches is one compiled step
(the same program, a chunk of one), while the stream prepares the next.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from flexnet.random import JaxGenerator
from flexnet.training.runner import Runner

__all__ = ["JaxRunner"]

#: Steps per compiled call when no callback needs each batch as it happens (a bound on the
#: outputs kept for the metrics: CHUNK · batch_size rows).
CHUNK = 64


class JaxRunner(Runner):
    """Runs the trainer's compiled parts for a model on the jax backend.

    Args:
        model: the model.
        loss, metrics, step: the trainer's compiled loss and metrics and its train step.
    """

    def __init__(self, model, loss, metrics, step):
        super().__init__(model, loss, metrics, step)
        self.optimizer = step.optimizer
        self.generators = []
        for layer in step.layers:
            rng = layer.rng
            if isinstance(rng, JaxGenerator) and not any(rng is g for g in self.generators):
                self.generators.append(rng)
        self._train = jax.jit(self._train_chunk, static_argnames=("k", "b"), donate_argnums=(0,))
        self._test = jax.jit(self._test_batch)
        self._forward = jax.jit(self._forward_batch)

    # -- the state that goes through a compiled call --------------------------------------
    def state(self) -> dict:
        """The concrete arrays a step reads and writes."""
        step, opt = self.step, self.optimizer
        step.parameters.sync()  # a weight replaced since (set_weights): gather it
        if step.parameters.vector is not None and opt._layout is None:
            opt.build(step.params())
        return {"P": step.parameters.vector, "opt": opt._state,
                "buffers": [dict(layer.buffers) for layer in step.layers],
                "keys": [g.key for g in self.generators]}

    def _bind(self, state: dict) -> None:
        """Point the model, its optimizer and its generators at ``state``'s arrays."""
        if state["P"] is not None:
            self.step.parameters.scatter(state["P"])
        self.optimizer._state = state["opt"]
        for layer, buffers in zip(self.step.layers, state["buffers"]):
            layer.buffers.update(buffers)
        for g, key in zip(self.generators, state["keys"]):
            g.key = key

    def _read(self) -> dict:
        return {"P": self.step.parameters.vector, "opt": self.optimizer._state,
                "buffers": [dict(layer.buffers) for layer in self.step.layers],
                "keys": [g.key for g in self.generators]}

    def _commit(self, tree):
        """Every array on the model's device, committed: the compiled programs (and JAX's
        eager operations) are cached by where their inputs are committed, so arrays made
        on the host side and arrays a program returned would otherwise compile twice."""
        return jax.device_put(tree, self.model.backend.device)

    def _settle(self, state: dict) -> None:
        """After a call: the model holds the new concrete arrays, no tracer stays behind."""
        self._bind(state)
        opt = self.optimizer
        opt._rate_now, opt.constants = None, {}
        for step in self.model.graph.steps:
            step.activity = None
        self.model.graph.clear()

    def _hyper(self, k: int) -> dict:
        """The learning rate and step constants of the next ``k`` steps, computed on the host."""
        opt = self.optimizer
        t0 = opt.iterations
        rates, constants = [], []
        for j in range(k):
            opt.iterations = t0 + j
            rates.append(opt.learning_rate)
            constants.append(opt.step_constants(t0 + j + 1))
        opt.iterations = t0
        dtype = np.dtype(self.model.dtype)  # made on the host: an eager jnp.arange(t0, ...)
        return {"lr": jnp.asarray(np.asarray(rates, dtype=dtype)),  # would compile for each t0
                "t": jnp.asarray(np.arange(t0, t0 + k)),
                "constants": {name: jnp.asarray(np.asarray([c[name] for c in constants], dtype=dtype))
                              for name in constants[0]}}

    # -- training ------------------------------------------------------------------------
    def run_epoch(self, train, batch_size: int, order, cbs) -> list:
        """The epoch in compiled chunks of steps (one step a chunk when a callback needs each
        batch as it happens), then the last, shorter batch."""
        if train.streamed:
            return self._run_streamed(train, batch_size, order, cbs)
        backend, n = self.model.backend, train.n
        if order is None:
            order = backend.xp.arange(n, dtype=backend.dtype(backend.index_dtype))
        data = (train.Xs, train.Ys, train.W)
        full, rest = divmod(n, batch_size)
        chunk = 1 if cbs.needs_each_batch else CHUNK
        totals, index = None, 0
        while index < full + (rest > 0):
            k, b = (min(chunk, full - index), batch_size) if index < full else (1, rest)
            for j in range(index, index + k):
                cbs.on_train_batch_begin(j)
            part = self.train_steps(data, order, index * batch_size, k, b)
            totals = part if totals is None else [t + p for t, p in zip(totals, part)]
            for j in range(index, index + k):
                cbs.on_train_batch_end(j)
            index += k
        return totals

    def _run_streamed(self, train, batch_size: int, order, cbs) -> list:
        """A stream's epoch: one compiled step per batch, as it comes."""
        backend = self.model.backend
        totals = None
        for index, (Xs, Ys, W) in enumerate(train.batches(batch_size, order)):
            cbs.on_train_batch_begin(index)
            b = Xs[0].shape[0]
            rows = backend.xp.arange(b, dtype=backend.dtype(backend.index_dtype))
            part = self.train_steps((Xs, Ys, W), rows, 0, 1, b)
            totals = part if totals is None else [t + p for t, p in zip(totals, part)]
            cbs.on_train_batch_end(index)
        return totals

    def _train_chunk(self, state, data, order, start, hyper, *, k: int, b: int):
        Xs, Ys, W = data
        totals0 = [jnp.zeros((), dtype=Xs[0].dtype) for _ in range(1 + len(Ys) * self.loss.multi)]

        def body(carry, inputs):
            state, totals = carry
            i, lr, t, constants = inputs
            index = lax.dynamic_slice(order, (start + i * b,), (b,))
            Xb = [jnp.take(X, index, axis=0) for X in Xs]
            Yb = [jnp.take(Y, index, axis=0) for Y in Ys]
            Wb = None if W is None else jnp.take(W, index, axis=0)
            self._bind(state)
            opt = self.optimizer
            opt._rate_now, opt.constants, opt.iterations = lr, constants, t
            L, Ls, Ps, grads = self.step.gradients(Xb, Yb, Wb)
            self.step.update(grads)
            totals = self.loss.accumulate(totals, L, Ls, b)
            return (self._read(), totals), (Ps, Yb, Wb)

        inputs = (jnp.arange(k), hyper["lr"], hyper["t"], hyper["constants"])
        (state, totals), seen = lax.scan(body, (state, totals0), inputs)
        # what the metrics read: every step's outputs, targets and weights, as rows
        seen = jax.tree_util.tree_map(lambda a: jnp.reshape(a, (k * b,) + a.shape[2:]), seen)
        return state, totals, seen

    def train_steps(self, data, order, start: int, k: int, b: int):
        """``k`` steps of ``b`` samples from position ``start`` of ``order`` (a device
        permutation); returns the loss totals and updates the metrics."""
        hyper = self._hyper(k)
        t0 = self.optimizer.iterations
        state, data, order, hyper = self._commit((self.state(), data, order, hyper))
        state, totals, (Ps, Ys, W) = self._train(state, data, order, start, hyper, k=k, b=b)
        self._settle(state)
        self.optimizer.iterations = t0 + k
        self.metrics.update(Ys, Ps, W)
        return totals

    # -- evaluation and prediction --------------------------------------------------------
    def _test_batch(self, state, Xs, Ys, W):
        self._bind(state)
        Ps = self.step.graph.forward(Xs, False)
        L, Ls = self.loss(Ys, Ps, W)
        return L, Ls, Ps

    def test(self, Xs, Ys, W):
        """One evaluation batch: ``(L, Ls)``, and the metrics updated."""
        state = self.state()
        L, Ls, Ps = self._test(*self._commit((state, Xs, Ys, W)))
        self._settle(state)
        self.metrics.update(Ys, Ps, W)
        return L, Ls

    def _forward_batch(self, state, Xs):
        self._bind(state)
        return self.step.graph.forward(Xs, False)

    def forward(self, Xs):
        """The outputs for one batch, in inference mode."""
        state = self.state()
        Ps = self._forward(*self._commit((state, Xs)))
        self._settle(state)
        return Ps
