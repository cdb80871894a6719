"""The training step as one unit: forward, loss, backward, update, on one batch.

:class:`TrainStep` is built once per compile from the model's graph, its
compiled loss and metrics, and the optimizer; calling it on a batch runs the
whole step and returns the loss as a 0-d device array, reading nothing back to
the host. Its parts are explicit: the parameters it updates (:meth:`params`),
their gradients (:meth:`gradients`) and the optimizer that holds the state, so
that a backend can replace the step with a compiled or fused one that takes
and returns the same things.
"""

from __future__ import annotations

import warnings
import weakref

from flexnet.training.parameters import FlatParameters

__all__ = ["TrainStep"]


class TrainStep:
    """Forward, loss, backward and update for a model compiled with ``loss``.

    Args:
        model: the built model (its graph and layers).
        loss: the model's :class:`~flexnet.training.compile_utils.CompiledLoss`.
        metrics: its :class:`~flexnet.training.compile_utils.CompiledMetrics`.
        optimizer: the optimizer, which holds the state.

    Attributes:
        parameters: the trained weights as one flat vector
            (:class:`~flexnet.training.parameters.FlatParameters`), fixed when the step
            is made (at ``compile``).
    """

    def __init__(self, model, loss, metrics, optimizer):
        self.graph = model.graph
        self.loss = loss
        self.metrics = metrics
        self.optimizer = optimizer
        self.layers = model._flat_layers()
        self.constrained = [layer for layer in self.layers if layer.constraints]
        self.parameters = FlatParameters(self.layers)
        self._claim_optimizer(model)

    def _claim_optimizer(self, model) -> None:
        """An optimizer serves one model; when this model's trained weights changed since its
        state was made (layers added, ``trainable`` changed, then ``compile``), it starts afresh."""
        opt, layout = self.optimizer, self.parameters.layout
        owner = getattr(opt, "_model", None)
        if owner is not None and owner() is model and opt._layout is not None and (
                layout is None or opt._layout.shapes != layout.shapes):
            warnings.warn(
                f"the weights that model {model.name!r} trains changed since its {type(opt).__name__}'s "
                f"state was made ({len(opt._layout.shapes)} arrays, now "
                f"{0 if layout is None else len(layout.shapes)}); the optimizer starts afresh",
                stacklevel=5,
            )
            opt.reset()
        opt._model = weakref.ref(model)

    def params(self) -> list:
        """The arrays the optimizer updates, in the order of :meth:`gradients`."""
        return self.parameters.arrays()

    def _collect_gradients(self) -> list:
        out = []
        for layer, key in self.parameters.entries:
            grad = layer.grads.get(key)
            if grad is None:
                raise RuntimeError(f"layer {layer.name!r} did not set grads[{key!r}] in backward()")
            out.append(grad)
        return out

    def gradients(self, Xs, Ys, W=None, training: bool = True):
        """``(L, Ls, Ps, grads)`` for one batch: the total loss (penalties included), the
        per-output losses (None for one output), the outputs, and one gradient per array
        of :meth:`params`. Nothing is updated but the layers' ``grads`` (and, in training
        mode, moving statistics such as BatchNormalization's)."""
        self.parameters.sync()
        Ps = self.graph.forward(Xs, training)
        L, Ls, dYs, logits = self.loss.value_and_gradients(Ys, Ps, W)
        self.graph.backward(dYs, logits)
        penalty = self.loss.penalty(Xs[0].shape[0])
        if penalty is not None:
            L = L + penalty
            self.loss.add_penalty_gradients()
        return L, Ls, Ps, self._collect_gradients()

    def update(self, grads: list) -> None:
        """One optimizer step from ``grads`` over all trained weights as one vector, then
        the weight constraints."""
        parameters = self.parameters
        if parameters.vector is None:
            return
        self.optimizer._check(self.params(), grads)
        parameters.updated(self.optimizer.step(parameters.vector, parameters.gradients(grads)))
        for layer in self.constrained:
            layer.apply_constraints()
        if self.constrained:
            parameters.sync()  # a constraint that could not write in place replaced its weight

    def __call__(self, Xs, Ys, W=None):
        """Train on one batch; returns ``(L, Ls)`` as device arrays and updates the metrics."""
        L, Ls, Ps, grads = self.gradients(Xs, Ys, W)
        self.update(grads)
        self.metrics.update(Ys, Ps, W)
        return L, Ls

    def test(self, Xs, Ys, W=None):
        """Evaluate one batch in inference mode; returns ``(L, Ls)`` and updates the metrics."""
        Ps = self.graph.forward(Xs, False)
        L, Ls = self.loss(Ys, Ps, W)
        self.metrics.update(Ys, Ps, W)
        return L, Ls
