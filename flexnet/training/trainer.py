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

import functools

from flexnet import callbacks as callbacks_module
from flexnet import data
from flexnet.training.compile_utils import CompiledLoss, CompiledMetrics, CompileSpec
from flexnet.training.data_adapter import DEFAULT_BATCH_SIZE, DataAdapter
from flexnet.training.data_parallel import LOCAL, distribution_for
from flexnet.training.one_batch import OneBatch
from flexnet.training.runner import runner_for, step_for
from flexnet.training.source import Source

__all__ = ["Trainer"]


def _batch_size(batch_size) -> int:
    return data.check_batch_size(DEFAULT_BATCH_SIZE if batch_size is None else batch_size)


def _guarded(*names: str):
    """Class decorator: the methods ``names`` run on the model's device (CuPy allocates on the
    current GPU: :meth:`~flexnet.backend.Backend.activate`) and in the trainer's distribution's
    guard, in which an exception on one of several ranks ends them all (the others would wait
    for it)."""

    def guard(method):
        @functools.wraps(method)
        def call(self, *args, **kwargs):
            with self.model._bind().activate(), self.distribution.guard(method.__name__):
                return method(self, *args, **kwargs)

        return call

    def decorate(cls):
        for name in names:
            setattr(cls, name, guard(getattr(cls, name)))
        return cls

    return decorate


def _results(logs: dict, return_dict: bool):
    """Keras's return values: the dict, or the loss alone, or ``[loss, *metrics]``."""
    if return_dict:
        return logs
    values = list(logs.values())
    return values[0] if len(values) == 1 else values


@_guarded("fit", "evaluate", "predict", "test_on_batch", "compute_gradients", "apply_gradients",
          "train_on_batch", "__call__")
class Trainer(OneBatch):
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
        self.distribution = LOCAL  # one process, or data-parallel over ranks (training.data_parallel)

    # -- compile --------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None,
                weighted_metrics=None, jit_compile="auto") -> None:
        """Choose the optimizer, loss and metrics for training.

        Args:
            optimizer: a name (``"sgd"``, ``"rmsprop"``, ``"adam"``, ...) or an
                :class:`~flexnet.optimizers.Optimizer` (your own included).
            loss: a name (``"mse"``, ``"binary_crossentropy"``, ...) or a
                :class:`~flexnet.losses.Loss`; for several outputs, one loss for all,
                a list (one per output) or a dict keyed by output name.
            metrics: names or :class:`~flexnet.metrics.Metric` objects (``"accuracy"``
                is chosen from the loss; a loss or its name gives that loss's mean); for
                several outputs a list applies to each output and a dict keys lists by
                output name. They ignore sample and class weights, as in Keras 3.
            loss_weights: for several outputs, a list or dict of factors: the total
                loss is ``Σ_k w_k L_k``.
            weighted_metrics: as ``metrics``, but weighted by the sample and class
                weights; logged as ``weighted_<name>`` where a metric has that name.
            jit_compile: ``"auto"`` (default) runs the backend's compiled or fused training
                step where it has one (``jax.jit`` on JAX, the fused step on NumPy); ``False``
                always runs the generic step, the reference the others are tested against.
        """
        spec = CompileSpec(optimizer, loss, metrics, loss_weights, weighted_metrics, jit_compile)
        model = self.model
        parts = self._make_parts(spec) if model.built else None  # checks it all: nothing changes on error
        self.spec, self._parts = spec, None
        model.optimizer, model.loss, model.loss_weights = spec.optimizer, spec.loss, loss_weights
        model._metric_spec, model.metrics, model.compiled = spec.metrics, [], True
        model._weighted_metric_spec = spec.weighted_metrics
        self.distribution = distribution_for(spec.optimizer, model)
        if parts is not None:
            self.setup(parts)

    def reset(self) -> None:
        """Forget the compiled parts (the model's layers changed); made again when needed."""
        self._parts = self._runner = None

    def setup(self, parts=None):
        """``(CompiledLoss, CompiledMetrics, TrainStep)`` of the built, compiled model (``parts``
        when given: ``compile`` made them to check its arguments)."""
        if self._parts is None:
            self._parts = parts or self._make_parts(self.spec)
            self.model.metrics = self._parts[1].metrics
            self._runner = runner_for(self.spec, self.model, *self._parts)
        return self._parts

    def _make_parts(self, spec: CompileSpec):
        model = self.model
        loss = CompiledLoss(spec, model)
        metrics = CompiledMetrics(spec, loss, model)
        return loss, metrics, step_for(spec, model, loss, metrics)

    def _heads(self):
        return self.setup()[0].heads

    def _require_compiled(self, what: str) -> None:
        if self.spec is None:
            raise RuntimeError(f"call model.compile(optimizer=..., loss=...) before {what}")

    # -- loops -------------------------------------------------------------------------------
    def _run_epoch(self, train: Source, batch_size: int, shuffle: bool, cbs) -> dict:
        loss, metrics, _ = self.setup()
        metrics.reset()
        totals, n = self.distribution.run_epoch(self._runner, train, batch_size, shuffle, cbs)
        logs = {**loss.logs(totals, n), **metrics.logs()}
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
        totals, n = self.distribution.combine(totals, batches.n, loss, metrics)
        return {**loss.logs(totals, n, prefix), **metrics.logs(prefix)}

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
        shard: bool = True,
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
            callbacks: a list of :class:`~flexnet.callbacks.Callback` (or one).
            validation_split: fraction of the data, taken from the end, held out for validation.
            validation_data: ``(x_val, y_val)`` or ``(x_val, y_val, sample_weight_val)``,
                or data that makes its own batches as ``x`` can; overrides ``validation_split``.
            shuffle: reshuffle the training samples (a Dataset's batches) every epoch.
            class_weight: ``{class_index: weight}``; each sample's loss is multiplied by its
                class's weight (classes not listed weigh 1). For one-hot targets the class
                is the argmax, for a single sigmoid output it is ``y > 0.5``. With several
                outputs it reads the first output's targets. A key that is not a class of
                that output (``0..C-1``; 0 and 1 for one unit) is an error.
            sample_weight: ``(n,)`` weights, one per sample; the loss becomes
                ``Σ w_i ℓ_i / n`` (Keras's rule) and ``weighted_metrics`` are weighted means.
            initial_epoch: epoch to start from (to resume a run).
            shard: with several ranks (docs/distributed.md), True when all pass the same data, else False.
            steps_per_epoch, validation_steps: batches per epoch of data that makes them, read on
                from the last epoch's; None: a whole pass (a generator serves a single epoch).

        Returns:
            a :class:`~flexnet.callbacks.History` whose ``.history`` maps ``loss``, each
            metric and their ``val_`` twins to per-epoch lists (and ``learning_rate`` when
            the optimizer follows a schedule).
        """
        self._require_compiled("fit()")
        batch_size, given_batch_size = _batch_size(batch_size), batch_size
        epochs, initial_epoch = data.check_count(epochs, "epochs"), data.check_count(initial_epoch,
                                                                                    "initial_epoch")
        verbose = callbacks_module.check_verbose(verbose)
        callbacks = callbacks_module.as_callback_list(callbacks)
        train, val = self.adapter.training(x, y, self._heads, sample_weight, class_weight,
                                           validation_split, validation_data, steps_per_epoch,
                                           validation_steps, given_batch_size, epochs - initial_epoch)
        model, dist = self.model, self.distribution
        train, val = dist.start_fit(self, train, val, shard, batch_size=batch_size, epochs=epochs,
                                    shuffle=shuffle, initial_epoch=initial_epoch, class_weight=class_weight)
        history = callbacks_module.History()
        extra = [callbacks_module.ProgressBar(verbose)] if verbose else []
        params = {"epochs": epochs, "steps": train.num_batches(batch_size), "samples": train.n,
                  "verbose": verbose}
        # the progress bar after the user's callbacks, so it shows the keys they add
        cbs = callbacks_module.CallbackList([*callbacks, *extra, history], model, params,
                                            primary=dist.primary)
        model.stop_training = False
        cbs.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            cbs.on_epoch_begin(epoch)
            logs = self._run_epoch(train, batch_size, shuffle, cbs)
            if val is not None:
                logs.update(self._evaluate(val, batch_size, prefix="val_"))
            cbs.on_epoch_end(epoch, logs)
            if dist.stop(model.stop_training):
                break
        cbs.on_train_end()
        model.history = history
        return history

    def evaluate(self, x=None, y=None, batch_size: int | None = None, verbose: int | str = 0,
                 sample_weight=None, return_dict: bool = False, shard: bool = True, steps: int | None = None):
        """Loss and metrics on ``(x, y)``, in inference mode.

        Args:
            x, y: inputs and targets, as for :meth:`fit` (or data that makes its own batches).
            batch_size: samples per forward pass (default 32).
            verbose: 0 silent, 1 (or ``"auto"``) a progress bar and the results, 2 the
                results only.
            sample_weight: optional ``(n,)`` weights, as for :meth:`fit`.
            return_dict: return ``{"loss": ..., "accuracy": ...}``.
            shard: as for :meth:`fit`; on several ranks the results cover every rank's data.
            steps: batches read of data that makes them (None: a whole pass).

        Returns:
            the loss as a float when there are no metrics (and one output), else
            ``[loss, *per-output losses, *metrics]``; with ``return_dict=True``, a dict.
        """
        self._require_compiled("evaluate()")
        batch_size, given_batch_size = _batch_size(batch_size), batch_size
        verbose = self.distribution.verbose(callbacks_module.check_verbose(verbose))
        data = self.adapter.evaluation(x, y, self._heads, sample_weight, steps, given_batch_size)
        logs = self._evaluate(self.distribution.data(data, shard, "evaluate"), batch_size, verbose=verbose)
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
        return loss.names() + list(metrics.names)

    def predict(self, x, batch_size: int | None = None, verbose: int | str = 0, shard: bool = True,
                steps: int | None = None):
        """The network's outputs for ``x``, in inference mode.

        Args:
            x: inputs, as for :meth:`fit`: NumPy (or a list), arrays of the model's
                backend, or another library's arrays on its device; a list or dict for
                several inputs; or data that makes its own batches (targets are ignored).
            batch_size: samples per forward pass (default 32).
            verbose: 1 (or ``"auto"``) shows a progress bar over the batches; 0 and 2
                are silent.
            shard: as for :meth:`fit`; with ``True`` every rank returns the outputs for all of ``x``.
            steps: batches read of data that makes them (None: a whole pass).

        Returns:
            an array of the caller's kind, shape ``(n, *output_shape[1:])`` (a list of
            them for a model with several outputs): NumPy when ``x`` was NumPy (or a
            list), an array of the model's backend when ``x`` was one, and for another
            library's arrays (a PyTorch tensor into a NumPy model, a JAX array, ...) an
            array of that library, shared through DLPack.
        """
        batch_size, given_batch_size, dist = _batch_size(batch_size), batch_size, self.distribution
        verbose = dist.verbose(callbacks_module.check_verbose(verbose))
        inputs = self.adapter.inference(x, steps, given_batch_size)
        forward, local = self._forward(), dist.data(inputs, shard, "predict")
        steps = local.num_batches(batch_size)
        outputs = [forward(Xs) for Xs, _, _ in
                   callbacks_module.progress(local.batches(batch_size), steps, "predict", verbose)]
        return self.adapter.outputs(dist.gather(outputs, local, shard), inputs.template)

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
