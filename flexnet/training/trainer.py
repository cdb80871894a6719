"""The training engine: ``compile``, ``fit``, ``evaluate``, ``predict`` and open gradients.

A :class:`Trainer` belongs to one model (``model.fit`` calls ``model.trainer.fit``);
it owns the loops, the callbacks and progress display, and runs the
:class:`~flexnet.training.step.TrainStep`. What comes in goes through the
:class:`~flexnet.training.data_adapter.DataAdapter` once per call; what
``compile`` decided lives in the compiled loss and metrics. The model is used
through a small protocol: ``graph``, ``_flat_layers()``, its input and output
names and shapes, ``backend``/``dtype``/``rng``, ``_bind()`` and ``_lazy_build(X)``.
"""

from __future__ import annotations

from flexnet import callbacks as callbacks_module
from flexnet import data
from flexnet.training.compile_utils import CompiledLoss, CompiledMetrics, CompileSpec
from flexnet.training.data_adapter import DEFAULT_BATCH_SIZE, DataAdapter
from flexnet.training.runner import runner_for
from flexnet.training.source import Source
from flexnet.training.step import TrainStep

__all__ = ["Trainer"]


def _batch_size(batch_size) -> int:
    return data.check_batch_size(DEFAULT_BATCH_SIZE if batch_size is None else batch_size)


def _results(logs: dict, return_dict: bool):
    """Keras's return values: the dict, or the loss alone, or ``[loss, *metrics]``."""
    if return_dict:
        return logs
    values = list(logs.values())
    return values[0] if len(values) == 1 else values


class Trainer:
    """Compiles, trains, evaluates and runs one model.

    Args:
        model: the model it trains.
    """

    def __init__(self, model):
        self.model = model
        self.adapter = DataAdapter(model)
        self.spec: CompileSpec | None = None
        self._parts = None  # (CompiledLoss, CompiledMetrics, TrainStep), made when first needed
        self._runner = None  # runs the steps: generic, or the backend's compiled runner

    # -- compile --------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None,
                jit_compile="auto") -> None:
        """Choose the optimizer, loss and metrics for training.

        Args:
            optimizer: a name (``"sgd"``, ``"rmsprop"``, ``"adam"``, ...) or an
                :class:`~flexnet.optimizers.Optimizer` (your own included).
            loss: a name (``"mse"``, ``"binary_crossentropy"``, ...) or a
                :class:`~flexnet.losses.Loss`; for several outputs, one loss for all,
                a list (one per output) or a dict keyed by output name.
            metrics: names or :class:`~flexnet.metrics.Metric` objects (``"accuracy"``
                is chosen from the loss); for several outputs a list applies to each
                output and a dict keys lists by output name.
            loss_weights: for several outputs, a list or dict of factors: the total
                loss is ``Σ_k w_k L_k``.
            jit_compile: ``"auto"`` (default) runs the backend's compiled training step
                where it has one (``jax.jit`` on the jax backend); ``False`` always runs
                the generic step, the reference the compiled ones are tested against.
        """
        spec = CompileSpec(optimizer, loss, metrics, loss_weights, jit_compile)
        model = self.model
        self.spec, self._parts = spec, None
        model.optimizer, model.loss, model.loss_weights = spec.optimizer, spec.loss, loss_weights
        model._metric_spec, model.metrics, model.compiled = spec.metrics, [], True
        if model.built:
            self.setup()

    def reset(self) -> None:
        """Forget the compiled parts (the model's layers changed); made again when needed."""
        self._parts = self._runner = None

    def setup(self):
        """``(CompiledLoss, CompiledMetrics, TrainStep)`` of the built, compiled model."""
        if self._parts is None:
            model = self.model
            loss = CompiledLoss(self.spec, model)
            metrics = CompiledMetrics(self.spec, loss, model)
            self._parts = (loss, metrics, TrainStep(model, loss, metrics, self.spec.optimizer))
            model.metrics = metrics.metrics
            self._runner = runner_for(self.spec, model, *self._parts)
        return self._parts

    def _heads(self):
        return self.setup()[0].heads

    def _require_compiled(self, what: str) -> None:
        if self.spec is None:
            raise RuntimeError(f"call model.compile(optimizer=..., loss=...) before {what}")

    # -- one batch ------------------------------------------------------------------------
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

    # -- loops -------------------------------------------------------------------------------
    def _run_epoch(self, train: Source, batch_size: int, shuffle: bool, cbs) -> dict:
        loss, metrics, _ = self.setup()
        order = train.order(self.model.rng) if shuffle else None
        metrics.reset()
        totals = self._runner.run_epoch(train, batch_size, order, cbs)
        logs = {**loss.logs(totals, train.n), **metrics.logs()}
        optimizer = self.spec.optimizer
        if callable(optimizer._learning_rate):  # a schedule: show the rate it reached
            logs["learning_rate"] = optimizer.learning_rate
        return logs

    def _evaluate(self, batches: Source, batch_size: int, prefix: str = "", verbose: int = 0) -> dict:
        loss, metrics, step = self.setup()
        metrics.reset()
        totals = None
        steps = batches.num_batches(batch_size)
        test = self._runner.test
        for Xs, Ys, W in callbacks_module.progress(batches.batches(batch_size), steps, "evaluate",
                                                   verbose):
            L, Ls = test(Xs, Ys, W)
            totals = loss.accumulate(totals, L, Ls, Xs[0].shape[0])
        return {**loss.logs(totals, batches.n, prefix), **metrics.logs(prefix)}

    def fit(
        self,
        x=None,
        y=None,
        batch_size: int | None = None,
        epochs: int = 1,
        verbose: int | str = "auto",
        callbacks=None,
        validation_split: float = 0.0,
        validation_data=None,
        shuffle: bool = True,
        class_weight: dict | None = None,
        sample_weight=None,
        initial_epoch: int = 0,
        steps_per_epoch: int | None = None, validation_steps: int | None = None,
    ):
        """Train for ``epochs`` passes over ``(x, y)`` in mini-batches.

        Args:
            x: inputs, shape ``(n, ...)``: NumPy (moved to the device once), arrays
                already on the model's backend, or any other library's arrays on the
                model's device (a PyTorch tensor, a JAX array: shared through DLPack, not
                copied); a list or a dict keyed by input name for several inputs.
                Read a batch at a time: memory-mapped and HDF5 arrays, a Dataset, a generator, a DataLoader.
            y: targets (shape of the output, or ``(n,)`` class labels for sparse losses);
                a list or a dict keyed by output name for several outputs.
            batch_size: samples per step (default 32).
            epochs: index of the last epoch (training runs from ``initial_epoch``).
            verbose: 0 silent, 1 a progress bar per epoch, 2 one line per epoch;
                ``"auto"`` (the default) is 1, as in Keras 3.
            callbacks: list of :class:`~flexnet.callbacks.Callback`.
            validation_split: fraction of the data, taken from the end, held out for validation.
            validation_data: ``(x_val, y_val)`` or ``(x_val, y_val, sample_weight_val)``,
                or data that makes its own batches as ``x`` can; overrides ``validation_split``.
            shuffle: reshuffle the training samples (a Dataset's batches) every epoch.
            class_weight: ``{class_index: weight}``; each sample's loss is multiplied by its
                class's weight (classes not listed weigh 1). For one-hot targets the class
                is the argmax, for a single sigmoid output it is ``y > 0.5``. With several
                outputs it reads the first output's targets.
            sample_weight: ``(n,)`` weights, one per sample; the loss becomes
                ``Σ w_i ℓ_i / n`` (Keras's rule) and metrics are weighted means.
            initial_epoch: epoch to start from (to resume a run).
            steps_per_epoch, validation_steps: batches per epoch of data that makes them, read on
                from the last epoch's; None: a whole pass (a generator serves a single epoch).

        Returns:
            a :class:`~flexnet.callbacks.History` whose ``.history`` maps ``loss``, each
            metric and their ``val_`` twins to per-epoch lists (and ``learning_rate`` when
            the optimizer follows a schedule).
        """
        self._require_compiled("fit()")
        batch_size, given_batch_size = _batch_size(batch_size), batch_size
        for label, value in (("epochs", epochs), ("initial_epoch", initial_epoch)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{label} must be an int >= 0, got {value!r}")
        verbose = callbacks_module.check_verbose(verbose)
        train, val = self.adapter.training(x, y, self._heads, sample_weight, class_weight,
                                           validation_split, validation_data, steps_per_epoch,
                                           validation_steps, given_batch_size, epochs - initial_epoch)
        model = self.model
        history = callbacks_module.History()
        extra = [callbacks_module.ProgressBar(verbose)] if verbose else []
        params = {"epochs": epochs, "steps": train.num_batches(batch_size), "samples": train.n,
                  "verbose": verbose}
        # the progress bar after the user's callbacks, so it shows the keys they add
        cbs = callbacks_module.CallbackList([*(callbacks or []), *extra, history], model, params)
        model.stop_training = False
        cbs.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            cbs.on_epoch_begin(epoch)
            logs = self._run_epoch(train, batch_size, shuffle, cbs)
            if val is not None:
                logs.update(self._evaluate(val, batch_size, prefix="val_"))
            cbs.on_epoch_end(epoch, logs)
            if model.stop_training:
                break
        cbs.on_train_end()
        model.history = history
        return history

    def evaluate(self, x=None, y=None, batch_size: int | None = None, verbose: int | str = 0,
                 sample_weight=None, return_dict: bool = False, steps: int | None = None):
        """Loss and metrics on ``(x, y)``, in inference mode.

        Args:
            x, y: inputs and targets, as for :meth:`fit` (or data that makes its own batches).
            batch_size: samples per forward pass (default 32).
            verbose: 0 silent, 1 (or ``"auto"``) a progress bar and the results, 2 the
                results only.
            sample_weight: optional ``(n,)`` weights, as for :meth:`fit`.
            return_dict: return ``{"loss": ..., "accuracy": ...}``.
            steps: batches read of data that makes them (None: a whole pass).

        Returns:
            the loss as a float when there are no metrics (and one output), else
            ``[loss, *per-output losses, *metrics]``; with ``return_dict=True``, a dict.
        """
        self._require_compiled("evaluate()")
        batch_size, given_batch_size = _batch_size(batch_size), batch_size
        verbose = callbacks_module.check_verbose(verbose)
        data = self.adapter.evaluation(x, y, self._heads, sample_weight, steps, given_batch_size)
        logs = self._evaluate(data, batch_size, verbose=verbose)
        if verbose:
            print(callbacks_module.format_logs(logs))
        return _results(logs, return_dict)

    def test_on_batch(self, x, y, sample_weight=None, return_dict: bool = False):
        """Loss and metrics on ``(x, y)`` taken as one batch, in inference mode: ``evaluate``
        without batching, with its return values (the metrics start afresh at each call)."""
        self._require_compiled("test_on_batch()")
        batch = self.adapter.arrays(x, y, self._heads, sample_weight)
        return _results(self._evaluate(batch, batch.n), return_dict)

    @property
    def metrics_names(self) -> list[str]:
        """The names of the values ``evaluate`` returns, in its order: ``loss``, each output's
        loss when there are several, then the metrics; empty before ``compile`` and build."""
        if self.spec is None or not self.model.built:
            return []
        loss, metrics, _ = self.setup()
        return loss.names() + metrics.names()

    def predict(self, x, batch_size: int | None = None, verbose: int | str = 0, steps: int | None = None):
        """The network's outputs for ``x``, in inference mode.

        Args:
            x: inputs, as for :meth:`fit`: NumPy (or a list), arrays of the model's
                backend, or another library's arrays on its device; a list or dict for
                several inputs; or data that makes its own batches (targets are ignored).
            batch_size: samples per forward pass (default 32).
            verbose: 1 (or ``"auto"``) shows a progress bar over the batches; 0 and 2
                are silent.
            steps: batches read of data that makes them (None: a whole pass).

        Returns:
            an array of the caller's kind, shape ``(n, *output_shape[1:])`` (a list of
            them for a model with several outputs): NumPy when ``x`` was NumPy (or a
            list), an array of the model's backend when ``x`` was one, and for another
            library's arrays (a PyTorch tensor into a NumPy model, a JAX array, ...) an
            array of that library, shared through DLPack.
        """
        batch_size, given_batch_size = _batch_size(batch_size), batch_size
        verbose = callbacks_module.check_verbose(verbose)
        inputs = self.adapter.inference(x, steps, given_batch_size)
        forward = self._forward()
        steps = inputs.num_batches(batch_size)
        outputs = [forward(Xs) for Xs, _, _ in
                   callbacks_module.progress(inputs.batches(batch_size), steps, "predict", verbose)]
        return self.adapter.outputs(outputs, inputs.template)

    def __call__(self, x, training: bool = False):
        """The outputs for one batch, without batching (``model(x)`` on arrays)."""
        inputs = self.adapter.prediction(x)
        if training:
            return self.adapter.outputs([self.model.graph.forward(inputs.Xs, True)], inputs.template)
        return self.adapter.outputs([self._forward()(inputs.Xs)], inputs.template)

    def _forward(self):
        """The inference forward pass (compiled where the model's runner is)."""
        if self.spec is not None and self.model.built:
            self.setup()
            return self._runner.forward
        graph = self.model.graph
        return lambda Xs: graph.forward(Xs, False)
