"""The open-gradient API on one batch: ``compute_gradients``, ``apply_gradients`` and
``train_on_batch`` (``model.compute_gradients`` calls ``model.trainer.compute_gradients``).

:class:`OneBatch` is a part of :class:`~flexnet.training.trainer.Trainer`, apart from its
loops: each method takes one batch through the data adapter and runs the training step's
halves (gradients, update) directly, as a loop written by hand does.
"""

from __future__ import annotations

__all__ = ["OneBatch"]


class OneBatch:
    """One batch at a time, for loops of your own (mixed into the trainer, whose ``adapter``,
    ``setup()``, ``_heads`` and ``_require_compiled`` it uses)."""

    def compute_gradients(self, x, y, training: bool = True, sample_weight=None):
        """The loss and its gradient with respect to every trainable weight.

        Runs one forward and backward pass over all of ``x`` as one batch; the
        weights do not change (moving statistics that a training-mode forward pass
        updates, as in BatchNormalization, are put back). The loss includes the
        regularization penalties.

        Args:
            x: inputs, NumPy or arrays on the model's backend (a list or dict for
                several inputs).
            y: targets (a list or dict for several outputs).
            training: run layers in training mode (dropout active), as ``fit`` does.
            sample_weight: optional per-sample weights, shape ``(n,)``.

        Returns:
            ``(loss, grads)``: the loss as a 0-d array on the model's backend
            (``float(loss)`` reads it) and a list of gradient arrays in the order
            of :attr:`trainable_weights` (for Dense-only models, the order of
            :meth:`get_weights`).
        """
        self._require_compiled("compute_gradients()")
        batch = self.adapter.arrays(x, y, self._heads, sample_weight)
        step = self.setup()[2]
        saved = [dict(layer.buffers) for layer in step.layers]
        try:
            L, _, _, grads = step.gradients(batch.Xs, batch.Ys, batch.W, training)
        finally:
            for layer, buffers in zip(step.layers, saved):
                layer.buffers.update(buffers)
        return L, grads

    def apply_gradients(self, grads: list) -> None:
        """One optimizer step on the trainable weights from ``grads``, as in a step of ``fit``.

        ``grads`` are in the order of :attr:`trainable_weights`, as :meth:`compute_gradients`
        returns them; the step clips, decays, updates and applies the constraints, on every
        backend (JAX included): ``loss, grads = model.compute_gradients(x, y);
        model.apply_gradients(grads)`` is a training loop of your own.
        """
        self._require_compiled("apply_gradients()")
        step = self.setup()[2]
        grads = list(grads)
        if len(grads) != len(step.parameters.entries):
            raise ValueError(f"model {self.model.name!r} trains {len(step.parameters.entries)} weights, "
                             f"got {len(grads)} gradients")
        step.update(grads)

    def train_on_batch(self, x, y, sample_weight=None, class_weight=None) -> float:
        """One optimizer step on one batch; returns the batch loss as a float."""
        self._require_compiled("train_on_batch()")
        batch = self.adapter.arrays(x, y, self._heads, sample_weight, class_weight)
        step = self.setup()[2]
        L, _, _, grads = step.gradients(batch.Xs, batch.Ys, batch.W)
        step.update(grads)
        return float(L)
