"""Models: layers composed into a network, with Keras's compile/fit/evaluate/predict.

:class:`Model` holds what every model shares (backend, weights, training loop,
open gradients); :class:`Sequential` is a stack of layers whose forward pass
is a loop over ``layers`` and whose backward pass is a loop over
``reversed(layers)``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import array_api_compat
import array_api_compat.numpy as host_xp
import numpy as np

from flexnet import callbacks as callbacks_module
from flexnet import data, losses, optimizers, saving, utils
from flexnet import metrics as metrics_module
from flexnet import random as fxrandom
from flexnet.backend import Backend, check_float_dtype, floatx
from flexnet.layers import Layer, normalize_shape
from flexnet.summary import summarize

__all__ = ["Model", "Sequential"]

DEFAULT_BATCH_SIZE = 32


class Model(ABC):
    """Base class of models: backend, weights, compile/fit/evaluate/predict, gradients.

    Subclasses define ``layers``, :meth:`build`, :meth:`forward` and
    :meth:`backward`.

    Args:
        name: the model's name (shown by ``summary()``).
        dtype: ``"float32"`` or ``"float64"``; default :func:`flexnet.floatx`.
        backend: ``"numpy"``, ``"cupy"``, ``"torch"``, ``"array_api_strict"`` or a
            namespace module; default :func:`flexnet.get_backend` when the model is built.
        device: a device of that backend.
    """

    def __init__(self, name: str | None = None, *, dtype=None, backend=None, device=None):
        self.name = name or "model"
        self._dtype_request = None if dtype is None else check_float_dtype(dtype)
        self._backend_request = (backend, device)
        self.backend: Backend | None = None
        self.dtype: str | None = None
        self.seed: int | None = None
        self.rng = None
        self.built = False
        self.input_shape: tuple | None = None
        self.output_shape: tuple | None = None
        self.optimizer = None
        self.loss = None
        self.metrics: list = []
        self._metric_ids: list = []
        self.compiled = False
        self.stop_training = False
        self.history = None

    # ------------------------------------------------------------------
    # What subclasses provide.
    layers: list[Layer]

    @abstractmethod
    def build(self, input_shape) -> None:
        """Create every layer's weights for inputs of ``input_shape`` (batch axis included)."""

    @abstractmethod
    def forward(self, X, training: bool = False):
        """The network's output for a batch ``X`` already on the model's backend."""

    @abstractmethod
    def backward(self, dY, from_logits: bool = False) -> None:
        """Backpropagate ``dY = ∂L/∂output`` (or ``∂L/∂logits`` when ``from_logits``)
        through every layer, filling their ``grads``."""

    # ------------------------------------------------------------------
    # Backend binding.
    def _bind(self) -> Backend:
        """Resolve backend, dtype and generator on first need (at build)."""
        if self.backend is None:
            backend = Backend.resolve(*self._backend_request)
            dtype = self._dtype_request or floatx()
            if not backend.supports(dtype):
                raise ValueError(
                    f"device {backend.device!r} of backend {backend.name!r} has no {dtype}; "
                    "build the model with dtype='float32'"
                )
            self.backend, self.dtype = backend, dtype
            self.seed = utils.next_seed()
            self.rng = fxrandom.generator(backend, self.seed)
        return self.backend

    def to(self, backend, device=None):
        """Move the model (weights, optimizer state, generator) to another backend or device.

        Args:
            backend: a backend name or namespace module (see :func:`flexnet.set_backend`).
            device: a device of that backend; ``None`` for its default.

        Returns:
            the model itself.
        """
        target = Backend.resolve(backend, device)
        self._backend_request = (backend, device)
        if self.backend is None or target == self.backend:
            return self
        if not target.supports(self.dtype):
            raise ValueError(f"device {target.device!r} of {target.name!r} has no {self.dtype}")
        source = self.backend
        rng = fxrandom.generator(target, utils.derive_seed(self.rng.seed))
        for layer in self.layers:
            if layer.built:
                layer.move(target, rng)
        if self.optimizer is not None:
            self.optimizer.map_state(lambda a: target.from_numpy(source.to_numpy(a)))
        self.backend, self.rng = target, rng
        return self

    # ------------------------------------------------------------------
    # Weights.
    def _require_built(self, what: str) -> None:
        if not self.built:
            raise ValueError(
                f"{what} needs a built model: give the first layer an input shape "
                "(e.g. Dense(16, input_dim=30)), call model.build((None, n_features)), "
                "or fit/predict on data first"
            )

    @property
    def weights(self) -> list:
        """All weights (backend arrays, live), layer by layer."""
        return [w for layer in self.layers for w in layer.weights]

    @property
    def trainable_weights(self) -> list:
        """The weights the optimizer updates, in the order of :meth:`compute_gradients`."""
        return [w for layer in self.layers for w in layer.trainable_weights]

    @property
    def non_trainable_weights(self) -> list:
        return [w for layer in self.layers for w in layer.non_trainable_weights]

    def count_params(self) -> int:
        """Total number of scalars in all weights."""
        self._require_built("count_params()")
        return sum(layer.count_params() for layer in self.layers)

    def get_weights(self) -> list[np.ndarray]:
        """Copies of all weights as NumPy arrays, layer by layer (kernel, then bias)."""
        self._require_built("get_weights()")
        return [w for layer in self.layers for w in layer.get_weights()]

    def set_weights(self, weights) -> None:
        """Set all weights from arrays in :meth:`get_weights` order (copied, shapes checked)."""
        self._require_built("set_weights()")
        weights = list(weights)
        expected = len(self.weights)
        if len(weights) != expected:
            raise ValueError(f"model {self.name!r} has {expected} weights, got {len(weights)}")
        start = 0
        for layer in self.layers:
            count = len(layer.weights)
            layer.set_weights(weights[start : start + count])
            start += count

    def save_weights(self, filepath) -> None:
        """Write the weights to one file, atomically (see :mod:`flexnet.saving`)."""
        saving.save_weights(self, filepath)

    def load_weights(self, filepath) -> None:
        """Load weights written by :meth:`save_weights` (or a whole-model file), checking
        every shape before changing anything."""
        saving.load_weights(self, filepath)

    def summary(self, print_fn=None) -> None:
        """Print Keras's table of layers, output shapes and parameter counts."""
        self._require_built("summary()")
        (print_fn or print)(summarize(self))

    # ------------------------------------------------------------------
    # Compiling.
    def compile(self, optimizer="rmsprop", loss=None, metrics=None) -> None:
        """Choose the optimizer, loss and metrics for training.

        Args:
            optimizer: a name (``"sgd"``, ``"rmsprop"``, ``"adam"``) or an
                :class:`~flexnet.optimizers.Optimizer` (your own included).
            loss: a name (``"mse"``, ``"binary_crossentropy"``, ...) or a
                :class:`~flexnet.losses.Loss`.
            metrics: names or :class:`~flexnet.metrics.Metric` objects; ``"accuracy"``
                is chosen from the loss.
        """
        if loss is None:
            raise ValueError("compile() needs a loss, e.g. loss='mse' or 'binary_crossentropy'")
        if isinstance(metrics, (str, metrics_module.Metric)):
            metrics = [metrics]
        self.optimizer = optimizers.get(optimizer)
        self.loss = losses.get(loss)
        self._metric_ids = list(metrics or [])
        for identifier in self._metric_ids:  # fail on unknown names now, not at fit
            metrics_module.get(identifier, loss=self.loss)
        self.metrics = []
        self.compiled = True

    def _require_compiled(self, what: str) -> None:
        if not self.compiled:
            raise RuntimeError(
                f"call model.compile(optimizer=..., loss=...) before {what}"
            )

    def _training_setup(self) -> None:
        """Resolve metrics and the (possibly fused) training loss once the output is known."""
        units = self.output_shape[-1]
        if not self.metrics and self._metric_ids:
            self.metrics = [
                metrics_module.get(m, loss=self.loss, output_units=units) for m in self._metric_ids
            ]
        last = self.layers[-1]
        fused = None
        if hasattr(last, "backward_logits") and last.activity_regularizer is None:
            fused = self.loss.logits_loss(getattr(last, "activation", None))
        self._fused_loss = fused
        self._regularized = [layer for layer in self.layers if layer.regularizers]
        self._active = [layer for layer in self.layers if layer.activity_regularizer is not None]
        self._constrained = [layer for layer in self.layers if layer.constraints]

    # ------------------------------------------------------------------
    # Data in and out.
    def _to_backend(self, a, what: str, dtype: str | None):
        """Return ``(array on the model's backend, was_host)``; never modifies ``a``."""
        b = self.backend
        if a is None:
            raise ValueError(f"{what} is required, got None")
        if not isinstance(a, np.ndarray) and array_api_compat.is_array_api_obj(a):
            if not b.owns(a):
                raise TypeError(
                    f"{what} is {b.describe(a)} but the model lives on backend {b.name!r} "
                    f"(device {b.device!r}); pass a NumPy array or move the model with "
                    f"model.to(...)"
                )
            dev = array_api_compat.device(a)
            if str(dev) != str(b.device):
                raise ValueError(
                    f"{what} is on device {dev!r} but the model is on device {b.device!r}; "
                    "move one of them"
                )
            if dtype is not None and a.dtype != b.dtype(dtype):
                a = b.xp.astype(a, b.dtype(dtype))
            return a, False
        host = np.asarray(a)
        if host.dtype.kind not in "biuf":
            raise TypeError(f"{what} must hold numbers, got dtype {host.dtype}")
        return b.from_numpy(host, dtype), True

    def _check_finite(self, X, what: str) -> None:
        xp = self.backend.xp
        if xp.isdtype(X.dtype, "real floating") and not bool(xp.all(xp.isfinite(X))):
            raise ValueError(f"{what} contains NaN or infinity")

    def _prepare_x(self, x, what: str = "x"):
        """Move inputs to the backend, build the model if needed, check their shape."""
        self._bind()
        X, was_host = self._to_backend(x, what, self.dtype)
        if X.ndim < 2:
            raise ValueError(
                f"{what} must have a batch axis and a feature axis, got shape {tuple(X.shape)}; "
                "for a single feature use x.reshape(-1, 1)"
            )
        if X.shape[0] == 0:
            raise ValueError(f"{what} is empty (0 samples)")
        if not self.built:
            self.build((None, *X.shape[1:]))
        if tuple(X.shape[1:]) != tuple(self.input_shape[1:]):
            raise ValueError(
                f"model {self.name!r} expects {what} of shape (n, "
                f"{', '.join(map(str, self.input_shape[1:]))}), got shape {tuple(X.shape)}"
            )
        self._check_finite(X, what)
        return X, was_host

    def _prepare_y(self, y, n: int, what: str = "y"):
        """Check targets against the loss and output shape, then move them to the backend."""
        if y is None:
            raise ValueError(f"{what} is required for training and evaluation, got None")
        b = self.backend
        is_device = not isinstance(y, np.ndarray) and array_api_compat.is_array_api_obj(y)
        if is_device:
            Y, _ = self._to_backend(y, what, None)
            Y = self.loss.prepare_targets(b.xp, Y, self.output_shape, self.dtype)
        else:
            host = np.asarray(y)
            if host.dtype.kind not in "biuf":
                raise TypeError(f"{what} must hold numbers, got dtype {host.dtype}")
            host = self.loss.prepare_targets(host_xp, host, self.output_shape, self.dtype)
            integral = np.issubdtype(host.dtype, np.integer)
            Y = b.from_numpy(host, b.index_dtype if integral else None)
        if Y.shape[0] != n:
            raise ValueError(f"x has {n} samples but {what} has {Y.shape[0]}; they must match")
        self._check_finite(Y, what)
        return Y

    def _prepare_xy(self, x, y, suffix: str = ""):
        X, _ = self._prepare_x(x, "x" + suffix)
        self._training_setup()
        return X, self._prepare_y(y, X.shape[0], "y" + suffix)

    def _prepare_sample_weight(self, sample_weight, n: int, what: str = "sample_weight"):
        """Per-sample weights as a ``(n,)`` array of the model's dtype, or None."""
        if sample_weight is None:
            return None
        W, _ = self._to_backend(_as_array(sample_weight, what), what, self.dtype)
        if tuple(W.shape) != (n,):
            raise ValueError(f"{what} must have shape ({n},), one weight per sample, got "
                             f"{tuple(W.shape)}")
        xp = self.backend.xp
        if not bool(xp.all(xp.isfinite(W))) or bool(xp.any(W < 0)):
            raise ValueError(f"{what} must be finite and non-negative")
        return W

    def _sample_weights(self, sample_weight, class_weight, Y, n: int, suffix: str = ""):
        """Sample weights from ``sample_weight`` times the weight of each sample's class."""
        W = self._prepare_sample_weight(sample_weight, n, "sample_weight" + suffix)
        if class_weight is None:
            return W
        C = self._class_weights(class_weight, Y)
        return C if W is None else W * C

    def _class_weights(self, class_weight, Y):
        """``class_weight[label_i]`` per sample (1 for classes not in the dict, as Keras)."""
        if not isinstance(class_weight, dict):
            raise TypeError(f"class_weight must be a dict {{class: weight}}, got "
                            f"{type(class_weight).__name__}")
        for key, value in class_weight.items():
            if isinstance(key, bool) or not isinstance(key, (int, np.integer)) or key < 0:
                raise ValueError(f"class_weight keys must be class indices >= 0, got {key!r}")
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not (
                np.isfinite(value) and value >= 0
            ):
                raise ValueError(f"class_weight[{key}] must be a finite number >= 0, got {value!r}")
        b = self.backend
        xp = b.xp
        units = self.output_shape[-1]
        if self.loss.sparse_targets:
            labels = Y
        elif units == 1:
            labels = xp.astype(xp.reshape(Y, (-1,)) > 0.5, b.index_dtype)
        else:
            labels = xp.astype(xp.argmax(Y, axis=-1), b.index_dtype)
        size = max(max(2, units), max(class_weight, default=0) + 1)
        table = np.ones(size, dtype=np.dtype(self.dtype))
        for key, value in class_weight.items():
            table[int(key)] = value
        return xp.take(b.from_numpy(table, self.dtype), labels, axis=0)

    # ------------------------------------------------------------------
    # One batch.
    def _loss_and_backward(self, X, Y, training: bool, W=None):
        """Forward, loss, backward on one batch; returns ``(L, P)`` as device arrays.

        ``W`` holds optional per-sample weights, shape ``(n,)``. ``L`` includes the
        regularization penalties, and the gradients their derivatives.
        """
        xp = self.backend.xp
        P = self.forward(X, training=training)
        fused = self._fused_loss
        weighted = {} if W is None else {"sample_weight": W}
        if fused is not None:
            # from the logits: exact when P saturates
            L = fused.value(xp, Y, self.layers[-1].Z, **weighted)
            self.backward(fused.logits_gradient(xp, Y, P, **weighted), from_logits=True)
        else:
            L = self.loss.value(xp, Y, P, **weighted)
            self.backward(self.loss.gradient(xp, Y, P, **weighted))
        penalty = self._penalty(X.shape[0])
        if penalty is not None:
            L = L + penalty
            for layer in self._regularized:
                if layer.trainable:
                    layer.add_regularization_gradients()
        return L, P

    def _penalty(self, n: int):
        """Weight penalties plus activity penalties (``R(Y)/n``) of the last forward pass."""
        total = None
        for layer in self._regularized:
            term = layer.regularization_loss()
            total = term if total is None else total + term
        for layer in self._active:
            term = layer.activity_regularizer.penalty(self.backend.xp, layer.activity_output) * (1.0 / n)
            total = term if total is None else total + term
        return total

    def _batch_loss(self, Y, P, W=None):
        """The loss of a forward pass already made (evaluation), penalties included."""
        xp = self.backend.xp
        weighted = {} if W is None else {"sample_weight": W}
        if self._fused_loss is not None:
            L = self._fused_loss.value(xp, Y, self.layers[-1].Z, **weighted)
        else:
            L = self.loss.value(xp, Y, P, **weighted)
        penalty = self._penalty(P.shape[0])
        return L if penalty is None else L + penalty

    def _apply_gradients(self) -> None:
        """One optimizer step from the layers' grads, then the weight constraints."""
        self.optimizer.apply(self.trainable_weights, self._grads())
        for layer in self._constrained:
            layer.apply_constraints()

    def _grads(self) -> list:
        out = []
        for layer in self.layers:
            if not layer.trainable:
                continue
            for key in layer.params:
                grad = layer.grads.get(key)
                if grad is None:
                    raise RuntimeError(
                        f"layer {layer.name!r} did not set grads[{key!r}] in backward()"
                    )
                out.append(grad)
        return out

    def compute_gradients(self, x, y, training: bool = True, sample_weight=None):
        """The loss and its gradient with respect to every trainable weight.

        Runs one forward and backward pass over all of ``x`` as one batch; the
        weights do not change (moving statistics that a training-mode forward pass
        updates, as in BatchNormalization, are put back). The loss includes the
        regularization penalties.

        Args:
            x: inputs, NumPy or arrays on the model's backend.
            y: targets.
            training: run layers in training mode (dropout active), as ``fit`` does.
            sample_weight: optional per-sample weights, shape ``(n,)``.

        Returns:
            ``(loss, grads)``: the loss as a 0-d array on the model's backend
            (``float(loss)`` reads it) and a list of gradient arrays in the order
            of :attr:`trainable_weights` (for Dense-only models, the order of
            :meth:`get_weights`).
        """
        self._require_compiled("compute_gradients()")
        X, Y = self._prepare_xy(x, y)
        W = self._prepare_sample_weight(sample_weight, X.shape[0])
        buffers = [dict(layer.buffers) for layer in self.layers]
        try:
            L, _ = self._loss_and_backward(X, Y, training, W)
        finally:
            for layer, saved in zip(self.layers, buffers):
                layer.buffers.update(saved)
        return L, self._grads()

    def train_on_batch(self, x, y, sample_weight=None, class_weight=None) -> float:
        """One optimizer step on one batch; returns the batch loss as a float."""
        self._require_compiled("train_on_batch()")
        X, Y = self._prepare_xy(x, y)
        W = self._sample_weights(sample_weight, class_weight, Y, X.shape[0])
        L, _ = self._loss_and_backward(X, Y, True, W)
        self._apply_gradients()
        return float(L)

    # ------------------------------------------------------------------
    # Loops.
    def _accumulate(self, total, L, n: int):
        """Running sum of per-sample losses (``L`` is reduced over a batch of ``n``)."""
        summed = L * (1.0 / self.loss.scale(n))
        return summed if total is None else total + summed

    def _epoch_logs(self, total, n: int, prefix: str = "") -> dict:
        logs = {prefix + "loss": float(total) * self.loss.scale(n)}
        for m in self.metrics:
            logs[prefix + m.name] = m.result()
        return logs

    def _update_metrics(self, Y, P, W) -> None:
        xp = self.backend.xp
        for m in self.metrics:
            if W is None:
                m.update(xp, Y, P)
            else:
                m.update(xp, Y, P, sample_weight=W)

    def _run_epoch(self, X, Y, W, batch_size: int, shuffle: bool, cbs) -> dict:
        order = self.rng.permutation(X.shape[0]) if shuffle else None
        for m in self.metrics:
            m.reset()
        total = None
        batches = data.batches(X, Y, W, batch_size=batch_size, order=order)
        for step, (Xb, Yb, Wb) in enumerate(batches):
            cbs.on_train_batch_begin(step)
            L, P = self._loss_and_backward(Xb, Yb, True, Wb)
            self._apply_gradients()
            total = self._accumulate(total, L, Xb.shape[0])
            self._update_metrics(Yb, P, Wb)
            cbs.on_train_batch_end(step)
        logs = self._epoch_logs(total, X.shape[0])
        if callable(self.optimizer._learning_rate):  # a schedule: show the rate it reached
            logs["learning_rate"] = self.optimizer.learning_rate
        return logs

    def _evaluate_arrays(self, X, Y, W, batch_size: int, prefix: str = "", verbose: int = 0) -> dict:
        for m in self.metrics:
            m.reset()
        total = None
        batches = data.batches(X, Y, W, batch_size=batch_size)
        steps = data.num_batches(X.shape[0], batch_size)
        for Xb, Yb, Wb in callbacks_module.progress(batches, steps, "evaluate", verbose):
            P = self.forward(Xb, training=False)
            total = self._accumulate(total, self._batch_loss(Yb, P, Wb), Xb.shape[0])
            self._update_metrics(Yb, P, Wb)
        return self._epoch_logs(total, X.shape[0], prefix)

    def fit(
        self,
        x=None,
        y=None,
        batch_size: int | None = None,
        epochs: int = 1,
        verbose: int = 1,
        callbacks=None,
        validation_split: float = 0.0,
        validation_data=None,
        shuffle: bool = True,
        class_weight: dict | None = None,
        sample_weight=None,
        initial_epoch: int = 0,
    ):
        """Train for ``epochs`` passes over ``(x, y)`` in mini-batches.

        Args:
            x: inputs, shape ``(n, ...)``: NumPy (moved to the device once) or arrays
                already on the model's backend.
            y: targets (shape of the output, or ``(n,)`` class labels for sparse losses).
            batch_size: samples per step (default 32).
            epochs: index of the last epoch (training runs from ``initial_epoch``).
            verbose: 0 silent, 1 progress bar per epoch, 2 one line per epoch.
            callbacks: list of :class:`~flexnet.callbacks.Callback`.
            validation_split: fraction of the data, taken from the end, held out for validation.
            validation_data: ``(x_val, y_val)`` or ``(x_val, y_val, sample_weight_val)``;
                overrides ``validation_split``.
            shuffle: reshuffle the training samples every epoch (on the device).
            class_weight: ``{class_index: weight}``; each sample's loss is multiplied by its
                class's weight (classes not listed weigh 1). For one-hot targets the class
                is the argmax, for a single sigmoid output it is ``y > 0.5``.
            sample_weight: ``(n,)`` weights, one per sample; the loss becomes
                ``Σ w_i ℓ_i / n`` (Keras's rule) and metrics are weighted means.
            initial_epoch: epoch to start from (to resume a run).

        Returns:
            a :class:`~flexnet.callbacks.History` whose ``.history`` maps ``loss``, each
            metric and their ``val_`` twins to per-epoch lists (and ``learning_rate`` when
            the optimizer follows a schedule).
        """
        self._require_compiled("fit()")
        batch_size = data.check_batch_size(DEFAULT_BATCH_SIZE if batch_size is None else batch_size)
        for label, value, low in (("epochs", epochs, 0), ("initial_epoch", initial_epoch, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{label} must be an int >= {low}, got {value!r}")
        callbacks_module.check_verbose(verbose)
        x, y = _as_array(x, "x"), _as_array(y, "y")
        sample_weight = _as_array(sample_weight, "sample_weight")
        if validation_data is None and validation_split:
            (x, y), validation_data = data.split_validation(x, y, validation_split)
            if sample_weight is not None:
                cut = x.shape[0]
                sample_weight, val_weight = sample_weight[:cut, ...], sample_weight[cut:, ...]
                validation_data = (*validation_data, val_weight)
        X, Y = self._prepare_xy(x, y)
        W = self._sample_weights(sample_weight, class_weight, Y, X.shape[0])
        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise ValueError(
                    "validation_data must be a tuple (x_val, y_val) or (x_val, y_val, sample_weight_val)"
                )
            X_val, Y_val = self._prepare_xy(*validation_data[:2], suffix="_val")
            W_val = None
            if len(validation_data) == 3:
                W_val = self._prepare_sample_weight(validation_data[2], X_val.shape[0],
                                                    "sample_weight_val")
            val = (X_val, Y_val, W_val)

        history = callbacks_module.History()
        extra = [callbacks_module.ProgressBar(verbose)] if verbose else []
        params = {
            "epochs": epochs, "steps": data.num_batches(X.shape[0], batch_size),
            "samples": X.shape[0], "verbose": verbose,
        }
        cbs = callbacks_module.CallbackList([*extra, *(callbacks or []), history], self, params)
        self.stop_training = False
        cbs.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            cbs.on_epoch_begin(epoch)
            logs = self._run_epoch(X, Y, W, batch_size, shuffle, cbs)
            if val is not None:
                logs.update(self._evaluate_arrays(*val, batch_size, prefix="val_"))
            cbs.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        cbs.on_train_end()
        self.history = history
        return history

    def evaluate(self, x=None, y=None, batch_size: int | None = None, verbose: int = 0,
                 sample_weight=None, return_dict: bool = False):
        """Loss and metrics on ``(x, y)``, in inference mode.

        Args:
            x, y: inputs and targets, as for :meth:`fit`.
            batch_size: samples per forward pass (default 32).
            verbose: 0 silent, 1 a progress bar and the results, 2 the results only.
            sample_weight: optional ``(n,)`` weights, as for :meth:`fit`.
            return_dict: return ``{"loss": ..., "accuracy": ...}``.

        Returns:
            the loss as a float when there are no metrics, else ``[loss, *metrics]``;
            with ``return_dict=True``, a dict.
        """
        self._require_compiled("evaluate()")
        batch_size = data.check_batch_size(DEFAULT_BATCH_SIZE if batch_size is None else batch_size)
        callbacks_module.check_verbose(verbose)
        X, Y = self._prepare_xy(_as_array(x, "x"), _as_array(y, "y"))
        W = self._prepare_sample_weight(sample_weight, X.shape[0])
        logs = self._evaluate_arrays(X, Y, W, batch_size, verbose=verbose)
        if verbose:
            print(callbacks_module.format_logs(logs))
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def predict(self, x, batch_size: int | None = None, verbose: int = 0):
        """The network's outputs for ``x``, in inference mode.

        Args:
            x: inputs, NumPy (or a list) or arrays on the model's backend.
            batch_size: samples per forward pass (default 32).
            verbose: 1 shows a progress bar over the batches; 0 and 2 are silent.

        Returns:
            a NumPy array when ``x`` was NumPy (or a list), else an array of the
            model's backend, shape ``(n, *output_shape[1:])``.
        """
        batch_size = data.check_batch_size(DEFAULT_BATCH_SIZE if batch_size is None else batch_size)
        callbacks_module.check_verbose(verbose)
        X, was_host = self._prepare_x(_as_array(x, "x"))
        batches = data.batches(X, batch_size=batch_size)
        steps = data.num_batches(X.shape[0], batch_size)
        outputs = [self.forward(Xb, training=False)
                   for (Xb,) in callbacks_module.progress(batches, steps, "predict", verbose)]
        P = outputs[0] if len(outputs) == 1 else self.backend.xp.concat(outputs, axis=0)
        return self.backend.to_numpy(P, copy=False) if was_host else P

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """A layer by its name or its position in ``layers``."""
        if (name is None) == (index is None):
            raise ValueError("get_layer needs a name or an index, not both")
        if index is not None:
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(
            f"no layer named {name!r}; the layers are {[layer.name for layer in self.layers]}"
        )

    def __call__(self, x, training: bool = False):
        """``predict`` on one batch (no batching)."""
        X, was_host = self._prepare_x(_as_array(x, "x"))
        P = self.forward(X, training=training)
        return self.backend.to_numpy(P, copy=False) if was_host else P

    def get_config(self) -> dict:
        return {"name": self.name, "layers": [layer.get_config() for layer in self.layers]}


def _as_array(a, what: str):
    """Lists, tuples and other array-likes as NumPy; arrays pass through untouched."""
    if a is None or isinstance(a, np.ndarray) or array_api_compat.is_array_api_obj(a):
        return a
    try:
        return np.asarray(a)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} must be an array, got {type(a).__name__}: {exc}") from None


class Sequential(Model):
    """A linear stack of layers.

    Args:
        layers: layers in order; the first may declare ``input_shape``/``input_dim``,
            in which case the model is built at once.
        name: model name.
        dtype, backend, device: see :class:`Model`.

    Example:
        >>> import flexnet as fx
        >>> model = fx.models.Sequential([
        ...     fx.layers.Dense(16, input_dim=30, activation="relu"),
        ...     fx.layers.Dense(1, activation="sigmoid"),
        ... ])
        >>> model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
        >>> model.count_params()
        513
    """

    def __init__(self, layers=None, name: str | None = None, *, dtype=None, backend=None,
                 device=None):
        super().__init__(name or "sequential", dtype=dtype, backend=backend, device=device)
        self.layers: list[Layer] = []
        for layer in layers or []:
            self.add(layer)

    def add(self, layer: Layer) -> None:
        """Append a layer (built at once if the model already is, or if it is the
        first layer and declares its input shape)."""
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential takes Layer objects, got {type(layer).__name__}")
        if any(layer is other for other in self.layers):
            raise ValueError(f"layer {layer.name!r} is already in this model")
        if self.layers and layer.input_shape is not None and not self.built:
            raise ValueError(
                f"only the first layer may declare an input shape; layer {layer.name or ''!r} "
                f"declares {layer.input_shape}"
            )
        taken = {other.name for other in self.layers}
        if layer.name is None:
            base, i = layer.default_name, 0
            layer.name = base
            while layer.name in taken:
                i += 1
                layer.name = f"{base}_{i}"
        elif layer.name in taken:
            raise ValueError(f"layer name {layer.name!r} is already used in this model")
        self.layers.append(layer)
        if self.built:
            self._bind()
            self.output_shape = layer.setup(self.output_shape, self.backend, self.dtype, self.rng)
            layer.output_shape = self.output_shape
        elif len(self.layers) == 1 and layer.input_shape is not None:
            self.build((None, *layer.input_shape))

    def build(self, input_shape=None) -> None:
        """Build every layer for inputs of ``input_shape`` = ``(None, features...)``.

        Without an argument, uses the first layer's declared input shape.
        """
        if not self.layers:
            raise ValueError("a Sequential model needs at least one layer before it is built")
        if input_shape is None:
            if self.layers[0].input_shape is None:
                raise ValueError("build() needs an input shape such as (None, 30)")
            input_shape = (None, *self.layers[0].input_shape)
        input_shape = tuple(input_shape)
        if input_shape and input_shape[0] is not None:
            input_shape = (None, *input_shape[1:])
        input_shape = (None, *normalize_shape(input_shape[1:]))
        self._bind()
        shape = input_shape
        for layer in self.layers:
            shape = layer.setup(shape, self.backend, self.dtype, self.rng)
            layer.output_shape = shape
        self.input_shape, self.output_shape = input_shape, shape
        self.built = True

    def forward(self, X, training=False):
        for layer in self.layers:
            X = layer.forward(X, training=training)
            if layer.activity_regularizer is not None:
                layer.activity_output = X
        return X

    def backward(self, dY, from_logits=False):
        last = len(self.layers) - 1
        for i in range(last, -1, -1):
            layer = self.layers[i]
            if layer.activity_regularizer is not None:
                Y = layer.activity_output
                dY = dY + layer.activity_regularizer.gradient(self.backend.xp, Y) * (1.0 / Y.shape[0])
            step = layer.backward_logits if from_logits and i == last else layer.backward
            if i == 0:
                layer.backward_without_input_grad(step, dY)  # the input needs no gradient
            else:
                dY = step(dY)
