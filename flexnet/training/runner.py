"""How a trainer runs its steps: one batch at a time (the generic runner), or compiled.

A runner trains one epoch, evaluates one batch and runs one inference batch for the
trainer. :class:`Runner` calls the train step once per batch, on every backend;
:func:`runner_for` picks the backend's compiled runner instead where there is one and
``compile(jit_compile=...)`` allows it (``jax.jit`` on the jax backend,
:mod:`flexnet.training.jax_runner`), and :func:`step_for` the backend's fused step
(NumPy, :mod:`flexnet.training.numpy_step`) or the generic one.
"""

from __future__ import annotations

from flexnet.training.step import TrainStep

__all__ = ["Runner", "runner_for", "step_for"]


class Runner:
    """The generic runner: the train step once per batch, in Python.

    Args:
        model: the model.
        loss, metrics, step: the trainer's compiled loss and metrics and its train step.
    """

    def __init__(self, model, loss, metrics, step):
        self.model, self.loss, self.metrics, self.step = model, loss, metrics, step

    def run_epoch(self, train, batch_size: int, order, cbs) -> list:
        """Train on every batch of ``train`` in ``order`` (None: as stored); returns the
        loss totals (device arrays) and leaves the metrics updated."""
        totals = None
        for index, (Xs, Ys, W) in enumerate(train.batches(batch_size, order)):
            cbs.on_train_batch_begin(index)
            L, Ls = self.step(Xs, Ys, W)
            totals = self.loss.accumulate(totals, L, Ls, Xs[0].shape[0])
            cbs.on_train_batch_end(index)
        return totals

    def test(self, Xs, Ys, W):
        """One evaluation batch: ``(L, Ls)``, and the metrics updated."""
        return self.step.test(Xs, Ys, W)

    def forward(self, Xs):
        """The outputs for one batch, in inference mode."""
        return self.step.graph.forward(Xs, False)


def step_for(spec, model, loss, metrics) -> TrainStep:
    """The backend's fused train step when there is one for this model and
    ``spec.jit_compile`` allows it (NumPy: :mod:`flexnet.training.numpy_step`), else the
    generic :class:`~flexnet.training.step.TrainStep`."""
    if spec.jit_compile is not False and model.backend.name == "numpy":
        from flexnet.training.numpy_step import NumpyStep, fused_plan

        plan = fused_plan(model, loss)
        if plan is not None:
            return NumpyStep(model, loss, metrics, spec.optimizer, plan)
    return TrainStep(model, loss, metrics, spec.optimizer)


def runner_for(spec, model, loss, metrics, step) -> Runner:
    """The backend's compiled runner when there is one and ``spec.jit_compile`` allows it,
    else the generic :class:`Runner`."""
    if spec.jit_compile is not False and model.backend.name == "jax":
        from flexnet.training.jax_runner import JaxRunner  # JAX is optional

        return JaxRunner(model, loss, metrics, step)
    return Runner(model, loss, metrics, step)
