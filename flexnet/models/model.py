"""The base class of models: backend, weights, compile/fit/evaluate/predict, open gradients.

A model maps a list of inputs to a list of outputs (one of each for
:class:`~flexnet.models.Sequential`); subclasses say how with ``_forward`` and
``_backward``. Everything else, the training loop included, lives here once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import array_api_compat
import array_api_compat.numpy as host_xp
import numpy as np

from flexnet import callbacks as callbacks_module
from flexnet import data, losses, optimizers, registry, saving, utils
from flexnet import metrics as metrics_module
from flexnet import random as fxrandom
from flexnet.backend import Backend, check_float_dtype, floatx
from flexnet.layers import Layer
from flexnet.summary import summarize

__all__ = ["Model"]

DEFAULT_BATCH_SIZE = 32


@dataclass
class Head:
    """What training attaches to one output: its loss, weight, metrics and fused twin."""

    name: str
    loss: losses.Loss
    weight: float = 1.0
    metrics: list = field(default_factory=list)
    fused: losses.Loss | None = None  # the loss taking the output layer's logits
    logits_layer: Layer | None = None  # the layer whose ``Z`` feeds ``fused``


class Model(ABC):
    """Base class of models.

    ``fx.models.Model(inputs=..., outputs=...)`` builds a functional model (see
    :class:`~flexnet.models.Functional`); :class:`~flexnet.models.Sequential` is
    a stack of layers. Both share everything below.

    Args:
        name: the model's name (shown by ``summary()``).
        dtype: ``"float32"`` or ``"float64"``; default :func:`flexnet.floatx`.
        backend: ``"numpy"``, ``"cupy"``, ``"torch"``, ``"array_api_strict"`` or a
            namespace module; default :func:`flexnet.get_backend` when the model is built.
        device: a device of that backend.
    """

    def __new__(cls, *args, **kwargs):
        if cls is Model:  # Keras's spelling of a functional model
            from flexnet.models.functional import Functional

            return super().__new__(Functional)
        return super().__new__(cls)

    def __init__(self, name: str | None = None, *, dtype=None, backend=None, device=None):
        self.name = name or "model"
        self._dtype_request = None if dtype is None else check_float_dtype(dtype)
        self._backend_request = (backend, device)
        self.backend: Backend | None = None
        self.dtype: str | None = None
        self.seed: int | None = None
        self.rng = None
        self.built = False
        self.input_shape = None
        self.output_shape = None
        self.optimizer = None
        self.loss = None
        self.loss_weights = None
        self.metrics: list = []
        self._metric_spec = None
        self._heads: list[Head] | None = None
        self.compiled = False
        self.stop_training = False
        self.history = None
        self._nodes: list = []  # calls of this model inside another functional model

    # ------------------------------------------------------------------
    # What subclasses provide.
    layers: list

    @property
    @abstractmethod
    def input_names(self) -> list[str]:
        """One name per input (dict inputs are keyed by them)."""

    @property
    @abstractmethod
    def output_names(self) -> list[str]:
        """One name per output (dict targets, losses and metrics are keyed by them)."""

    @property
    @abstractmethod
    def input_shapes(self) -> list[tuple]:
        """One shape per input, batch axis ``None``."""

    @property
    @abstractmethod
    def output_shapes(self) -> list[tuple]:
        """One shape per output, batch axis ``None``."""

    @abstractmethod
    def _forward(self, Xs: list, training: bool) -> list:
        """The outputs for a list of input batches already on the backend."""

    @abstractmethod
    def _backward(self, dYs: list, logits: list, input_grads: bool = False):
        """Backpropagate one gradient per output, filling every layer's ``grads``.

        ``logits[k]`` is True when ``dYs[k]`` is the gradient at output ``k``'s
        pre-activation (a fused loss). Returns the input gradients when
        ``input_grads`` (a model used as a layer), else None.
        """

    @abstractmethod
    def _logits_layer(self, k: int) -> Layer | None:
        """The layer producing output ``k`` if its loss may be fused with its activation."""

    @abstractmethod
    def _activity_terms(self) -> list:
        """``(regularizer, Y)`` for every activity regularizer in the last forward pass."""

    def _single_io(self) -> bool:
        return len(self.input_names) == 1 and len(self.output_names) == 1

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
        for layer in self._flat_layers():
            if layer.built:
                layer.move(target, rng)
        for model in self._nested_models():
            model.backend, model.rng, model._backend_request = target, rng, (backend, device)
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

    def _flat_layers(self) -> list[Layer]:
        """Every layer that owns weights, nested models expanded, each layer once.

        Cached (the training loop asks twice per step); a Sequential's ``add`` changes
        ``len(layers)``, which renews the cache.
        """
        cached = self.__dict__.get("_flat_cache")
        if cached is not None and cached[0] == len(self.layers):
            return cached[1]
        out, seen = [], set()
        for layer in self.layers:
            inner = layer._flat_layers() if isinstance(layer, Model) else [layer]
            for item in inner:
                if id(item) not in seen:
                    seen.add(id(item))
                    out.append(item)
        self._flat_cache = (len(self.layers), out)
        return out

    def _nested_models(self) -> list:
        out = []
        for layer in self.layers:
            if isinstance(layer, Model):
                out += [layer, *layer._nested_models()]
        return out

    @property
    def weights(self) -> list:
        """All weights (backend arrays, live), layer by layer."""
        return [w for layer in self._flat_layers() for w in layer.weights]

    @property
    def trainable_weights(self) -> list:
        """The weights the optimizer updates, in the order of :meth:`compute_gradients`."""
        return [w for layer in self._flat_layers() for w in layer.trainable_weights]

    @property
    def non_trainable_weights(self) -> list:
        return [w for layer in self._flat_layers() for w in layer.non_trainable_weights]

    def count_params(self) -> int:
        """Total number of scalars in all weights."""
        self._require_built("count_params()")
        return sum(layer.count_params() for layer in self._flat_layers())

    def get_weights(self) -> list[np.ndarray]:
        """Copies of all weights as NumPy arrays, layer by layer (kernel, then bias)."""
        self._require_built("get_weights()")
        return [w for layer in self._flat_layers() for w in layer.get_weights()]

    def set_weights(self, weights) -> None:
        """Set all weights from arrays in :meth:`get_weights` order (copied, shapes checked)."""
        self._require_built("set_weights()")
        weights = list(weights)
        layers = self._flat_layers()
        expected = sum(len(layer.weights) for layer in layers)
        if len(weights) != expected:
            raise ValueError(f"model {self.name!r} has {expected} weights, got {len(weights)}")
        start = 0
        for layer in layers:
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

    def save(self, filepath) -> None:
        """Write the whole model to one file, atomically: its config, weights, compile
        settings and optimizer state. :func:`flexnet.models.load_model` rebuilds it on any
        backend, and ``fit`` on the loaded model continues the run exactly.

        Raises:
            ValueError: the model is not built.
            TypeError: part of the config cannot be written (e.g. a learning rate given
                as a plain function rather than a schedule).
        """
        saving.save_model(self, filepath)

    def summary(self, print_fn=None) -> None:
        """Print Keras's table of layers, output shapes and parameter counts."""
        self._require_built("summary()")
        (print_fn or print)(summarize(self))

    # ------------------------------------------------------------------
    # Compiling.
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None) -> None:
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
        """
        if loss is None:
            raise ValueError("compile() needs a loss, e.g. loss='mse' or 'binary_crossentropy'")
        if isinstance(metrics, (str, metrics_module.Metric)):
            metrics = [metrics]
        self.optimizer = optimizers.get(optimizer)
        self._loss_spec, self._metric_spec, self.loss_weights = loss, metrics, loss_weights
        if isinstance(loss, (list, tuple, dict)):
            self.loss = (
                {k: losses.get(v) for k, v in loss.items()} if isinstance(loss, dict)
                else [losses.get(v) for v in loss]
            )
            first = next(iter(self.loss.values() if isinstance(self.loss, dict) else self.loss), None)
        else:
            self.loss = first = losses.get(loss)
        if first is None:
            raise ValueError("compile() got an empty loss list or dict")
        for identifier in _flat_metric_ids(metrics):  # fail on unknown names now, not at fit
            metrics_module.get(identifier, loss=first)
        self._heads = None
        self.metrics = []
        self.compiled = True
        if self.built:
            self._training_setup()

    def _require_compiled(self, what: str) -> None:
        if not self.compiled:
            raise RuntimeError(
                f"call model.compile(optimizer=..., loss=...) before {what}"
            )

    def _per_output(self, spec, what: str, default=None) -> list:
        """One entry per output from a single value, a list or a dict keyed by output name."""
        names = self.output_names
        if isinstance(spec, dict):
            unknown = sorted(set(spec) - set(names))
            if unknown:
                raise ValueError(f"{what} has keys {unknown} that are not outputs; the outputs are "
                                 f"{names}")
            return [spec.get(name, default) for name in names]
        if isinstance(spec, (list, tuple)):
            if len(spec) != len(names):
                raise ValueError(f"{what} has {len(spec)} entries for {len(names)} outputs {names}")
            return list(spec)
        return [spec] * len(names)

    def _training_setup(self) -> None:
        """Resolve losses, metrics and fused losses once the outputs are known."""
        if self._heads is not None:
            return
        names = self.output_names
        loss_list = self._per_output(self.loss, "loss")
        if any(loss is None for loss in loss_list):
            missing = [n for n, loss in zip(names, loss_list) if loss is None]
            raise ValueError(f"no loss for outputs {missing}")
        weights = self._per_output(self.loss_weights, "loss_weights", 1.0)
        weights = [1.0 if w is None else w for w in weights]
        for w in weights:
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not np.isfinite(w) or w < 0:
                raise ValueError(f"loss_weights must be finite numbers >= 0, got {w!r}")
        spec = self._metric_spec
        if isinstance(spec, dict):
            metric_lists = self._per_output(spec, "metrics", [])
        else:
            metric_lists = [list(spec or [])] * len(names)
        metric_lists = [[m] if isinstance(m, (str, metrics_module.Metric)) else list(m or [])
                        for m in metric_lists]
        heads = []
        for k, (name, loss, weight, ids) in enumerate(zip(names, loss_list, weights, metric_lists)):
            units = self.output_shapes[k][-1]
            head_metrics = [metrics_module.get(m, loss=loss, output_units=units) for m in ids]
            if len(names) > 1:
                for m in head_metrics:  # one object per output, named after it
                    if isinstance(m, metrics_module.Metric) and any(m is o for h in heads for o in h.metrics):
                        raise ValueError(f"metric object {m!r} is given for two outputs; pass names "
                                         "or one object per output")
            head = Head(name, loss, float(weight), head_metrics)
            layer = self._logits_layer(k)
            if layer is not None and layer.activity_regularizer is None:
                head.fused = loss.logits_loss(getattr(layer, "activation", None))
                head.logits_layer = layer if head.fused is not None else None
            heads.append(head)
        self._heads = heads
        self.metrics = [m for h in heads for m in h.metrics]
        flat = self._flat_layers()
        self._has_activity = any(layer.activity_regularizer is not None for layer in flat)
        self._mean_reduced = all(h.loss.reduction == "sum_over_batch_size" for h in heads)
        self._regularized = [layer for layer in flat if layer.regularizers]
        self._constrained = [layer for layer in flat if layer.constraints]

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
        if not xp.isdtype(X.dtype, "real floating"):
            return
        # NaN and ±inf survive a sum, so a finite sum proves every entry finite in one
        # read-only pass; only an infinite sum (or an overflow) needs the exact check,
        # whose boolean temporary is as large as the data.
        if bool(xp.isfinite(xp.sum(X))):
            return
        if not bool(xp.all(xp.isfinite(X))):
            raise ValueError(f"{what} contains NaN or infinity")

    def _per_io(self, value, names: list[str], what: str) -> list:
        """Split ``value`` (an array, a list/tuple or a dict keyed by name) into one per name."""
        if isinstance(value, dict):
            missing = [n for n in names if n not in value]
            unknown = sorted(set(value) - set(names))
            if missing or unknown:
                raise ValueError(f"{what} is a dict with keys {sorted(value)} but the model's "
                                 f"{what} names are {names}")
            return [value[n] for n in names]
        if len(names) == 1:
            if isinstance(value, (list, tuple)) and len(value) == 1 and (
                isinstance(value[0], np.ndarray) or array_api_compat.is_array_api_obj(value[0])
            ):
                return [value[0]]
            return [value]
        if not isinstance(value, (list, tuple)) or len(value) != len(names):
            got = f"a list of {len(value)}" if isinstance(value, (list, tuple)) else type(value).__name__
            raise ValueError(f"the model has {len(names)} {what}s {names}; give a list or a dict of "
                             f"{len(names)} arrays, got {got}")
        return list(value)

    def _check_finite(self, X, what: str) -> None:
        xp = self.backend.xp
        if not xp.isdtype(X.dtype, "real floating"):
            return
        # NaN and ±inf survive a sum, so a finite sum proves every entry finite in one
        # read-only pass; only an infinite sum (or an overflow) needs the exact check,
        # whose boolean temporary is as large as the data.
        if bool(xp.isfinite(xp.sum(X))):
            return
        if not bool(xp.all(xp.isfinite(X))):
            raise ValueError(f"{what} contains NaN or infinity")

    def _lazy_build(self, X) -> None:
        """Build from the first data seen (models that allow it override this)."""
        self._require_built("training or prediction")

    def _prepare_inputs(self, x, what: str = "x"):
        """Move inputs to the backend (building the model if needed) and check their shapes.

        Returns ``(list of arrays, was_host)``.
        """
        self._bind()
        if x is None:
            raise ValueError(f"{what} is required, got None")
        names = self.input_names if self.built else ["input"]  # unbuilt: a Sequential, one input
        parts = self._per_io(x, names, "input")
        Xs, host = [], []
        for k, part in enumerate(parts):
            label = what if len(parts) == 1 else f"{what}[{names[k]!r}]"
            X, was_host = self._to_backend(_as_array(part, label), label, self.dtype)
            if X.ndim < 2:
                raise ValueError(
                    f"{label} must have a batch axis and a feature axis, got shape "
                    f"{tuple(X.shape)}; for a single feature use x.reshape(-1, 1)"
                )
            if X.shape[0] == 0:
                raise ValueError(f"{label} is empty (0 samples)")
            Xs.append(X)
            host.append(was_host)
        if not self.built:
            self._lazy_build(Xs[0])
        for k, (X, shape) in enumerate(zip(Xs, self.input_shapes)):
            label = what if len(Xs) == 1 else f"{what}[{self.input_names[k]!r}]"
            if tuple(X.shape[1:]) != tuple(shape[1:]):
                raise ValueError(
                    f"model {self.name!r} expects {label} of shape (n, "
                    f"{', '.join(map(str, shape[1:]))}), got shape {tuple(X.shape)}"
                )
            if X.shape[0] != Xs[0].shape[0]:
                raise ValueError(f"all inputs need the same number of samples, got "
                                 f"{[int(a.shape[0]) for a in Xs]}")
            self._check_finite(X, label)
        return Xs, all(host)

    def _prepare_targets(self, y, n: int, what: str = "y") -> list:
        """Check one target array per output against its loss and shape; move them."""
        if y is None:
            raise ValueError(f"{what} is required for training and evaluation, got None")
        parts = self._per_io(y, self.output_names, "output")
        out = []
        for k, (part, head) in enumerate(zip(parts, self._heads)):
            label = what if len(parts) == 1 else f"{what}[{head.name!r}]"
            out.append(self._prepare_y(_as_array(part, label), n, head.loss,
                                       self.output_shapes[k], label))
        return out

    def _prepare_y(self, y, n: int, loss, output_shape, what: str):
        if y is None:
            raise ValueError(f"{what} is required for training and evaluation, got None")
        b = self.backend
        is_device = not isinstance(y, np.ndarray) and array_api_compat.is_array_api_obj(y)
        if is_device:
            Y, _ = self._to_backend(y, what, None)
            Y = loss.prepare_targets(b.xp, Y, output_shape, self.dtype)
        else:
            host = np.asarray(y)
            if host.dtype.kind not in "biuf":
                raise TypeError(f"{what} must hold numbers, got dtype {host.dtype}")
            host = loss.prepare_targets(host_xp, host, output_shape, self.dtype)
            integral = np.issubdtype(host.dtype, np.integer)
            Y = b.from_numpy(host, b.index_dtype if integral else None)
        if Y.shape[0] != n:
            raise ValueError(f"x has {n} samples but {what} has {Y.shape[0]}; they must match")
        self._check_finite(Y, what)
        return Y

    def _prepare_xy(self, x, y, suffix: str = ""):
        Xs, _ = self._prepare_inputs(x, "x" + suffix)
        self._training_setup()
        return Xs, self._prepare_targets(y, Xs[0].shape[0], "y" + suffix)

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

    def _sample_weights(self, sample_weight, class_weight, Ys, n: int, suffix: str = ""):
        """Sample weights from ``sample_weight`` times the weight of each sample's class."""
        W = self._prepare_sample_weight(sample_weight, n, "sample_weight" + suffix)
        if class_weight is None:
            return W
        C = self._heads[0].loss.class_sample_weights(self.backend.xp, Ys[0], class_weight, self.dtype)
        return C if W is None else W * C

    # ------------------------------------------------------------------
    # One batch.
    def _loss_and_backward(self, Xs, Ys, training: bool, W=None):
        """Forward, loss, backward on one batch.

        Returns ``(L, Ps, Ls)``: the total loss (penalties included) as a 0-d device
        array, the outputs, and the per-output losses (None for one output).
        ``W`` holds optional per-sample weights, shape ``(n,)``.
        """
        xp = self.backend.xp
        Ps = self._forward(Xs, training)
        weighted = {} if W is None else {"sample_weight": W}
        L, Ls, dYs, logits = None, [], [], []
        for head, Y, P in zip(self._heads, Ys, Ps):
            if head.fused is not None:  # from the logits: exact when P saturates
                Lk = head.fused.value(xp, Y, head.logits_layer.Z, **weighted)
                dY = head.fused.logits_gradient(xp, Y, P, **weighted)
            else:
                Lk = head.loss.value(xp, Y, P, **weighted)
                dY = head.loss.gradient(xp, Y, P, **weighted)
            Ls.append(Lk)
            if head.weight != 1.0:
                Lk, dY = Lk * head.weight, dY * head.weight
            L = Lk if L is None else L + Lk
            dYs.append(dY)
            logits.append(head.fused is not None)
        self._backward(dYs, logits)
        penalty = self._penalty(Xs[0].shape[0])
        if penalty is not None:
            L = L + penalty
            for layer in self._regularized:
                if layer.trainable:
                    layer.add_regularization_gradients()
        return L, Ps, (Ls if len(Ls) > 1 else None)

    def _penalty(self, n: int):
        """Weight penalties plus activity penalties (``R(Y)/n``) of the last forward pass."""
        total = None
        for layer in self._regularized:
            term = layer.regularization_loss()
            total = term if total is None else total + term
        for regularizer, Y in self._activity_terms() if self._has_activity else ():
            term = regularizer.penalty(self.backend.xp, Y) * (1.0 / n)
            total = term if total is None else total + term
        return total

    def _batch_loss(self, Ys, Ps, W=None):
        """The loss of a forward pass already made (evaluation), penalties included."""
        xp = self.backend.xp
        weighted = {} if W is None else {"sample_weight": W}
        L, Ls = None, []
        for head, Y, P in zip(self._heads, Ys, Ps):
            if head.fused is not None:
                Lk = head.fused.value(xp, Y, head.logits_layer.Z, **weighted)
            else:
                Lk = head.loss.value(xp, Y, P, **weighted)
            Ls.append(Lk)
            L = Lk * head.weight if L is None else L + Lk * head.weight
        penalty = self._penalty(Ps[0].shape[0])
        return (L if penalty is None else L + penalty), (Ls if len(Ls) > 1 else None)

    def _grads(self) -> list:
        out = []
        for layer in self._flat_layers():
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

    def _apply_gradients(self) -> None:
        """One optimizer step from the layers' grads, then the weight constraints."""
        self.optimizer.apply(self.trainable_weights, self._grads())
        for layer in self._constrained:
            layer.apply_constraints()

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
        Xs, Ys = self._prepare_xy(x, y)
        W = self._prepare_sample_weight(sample_weight, Xs[0].shape[0])
        layers = self._flat_layers()
        buffers = [dict(layer.buffers) for layer in layers]
        try:
            L, _, _ = self._loss_and_backward(Xs, Ys, training, W)
        finally:
            for layer, saved in zip(layers, buffers):
                layer.buffers.update(saved)
        return L, self._grads()

    def train_on_batch(self, x, y, sample_weight=None, class_weight=None) -> float:
        """One optimizer step on one batch; returns the batch loss as a float."""
        self._require_compiled("train_on_batch()")
        Xs, Ys = self._prepare_xy(x, y)
        W = self._sample_weights(sample_weight, class_weight, Ys, Xs[0].shape[0])
        L, _, _ = self._loss_and_backward(Xs, Ys, True, W)
        self._apply_gradients()
        return float(L)

    # ------------------------------------------------------------------
    # Loops.
    def _reset_metrics(self) -> None:
        for m in self.metrics:
            m.reset()

    def _update_metrics(self, Ys, Ps, W) -> None:
        xp = self.backend.xp
        for head, Y, P in zip(self._heads, Ys, Ps):
            for m in head.metrics:
                if W is None:
                    m.update(xp, Y, P)
                else:
                    m.update(xp, Y, P, sample_weight=W)

    def _accumulate(self, totals, L, Ls, n: int):
        """Running sums of per-sample losses (each loss is reduced over a batch of ``n``)."""
        heads = self._heads
        new = [L * float(n) if self._mean_reduced else L]
        if Ls is not None:
            new += [Lk * (1.0 / h.loss.scale(n)) for Lk, h in zip(Ls, heads)]
        return new if totals is None else [t + v for t, v in zip(totals, new)]

    def _epoch_logs(self, totals, n: int, prefix: str = "") -> dict:
        heads = self._heads
        logs = {prefix + "loss": float(totals[0]) / (n if self._mean_reduced else 1)}
        for head, total in zip(heads, totals[1:]):
            logs[f"{prefix}{head.name}_loss"] = float(total) * head.loss.scale(n)
        multi = len(heads) > 1
        for head in heads:
            for m in head.metrics:
                logs[prefix + (f"{head.name}_{m.name}" if multi else m.name)] = m.result()
        return logs

    def _run_epoch(self, Xs, Ys, W, batch_size: int, shuffle: bool, cbs) -> dict:
        n = Xs[0].shape[0]
        order = self.rng.permutation(n) if shuffle else None
        self._reset_metrics()
        totals = None
        k, m = len(Xs), len(Ys)
        batches = data.batches(*Xs, *Ys, W, batch_size=batch_size, order=order)
        for step, batch in enumerate(batches):
            cbs.on_train_batch_begin(step)
            Xb, Yb, Wb = list(batch[:k]), list(batch[k:k + m]), batch[-1]
            L, Ps, Ls = self._loss_and_backward(Xb, Yb, True, Wb)
            self._apply_gradients()
            totals = self._accumulate(totals, L, Ls, Xb[0].shape[0])
            self._update_metrics(Yb, Ps, Wb)
            cbs.on_train_batch_end(step)
        logs = self._epoch_logs(totals, n)
        if callable(self.optimizer._learning_rate):  # a schedule: show the rate it reached
            logs["learning_rate"] = self.optimizer.learning_rate
        return logs

    def _evaluate_arrays(self, Xs, Ys, W, batch_size: int, prefix: str = "", verbose: int = 0) -> dict:
        self._reset_metrics()
        totals = None
        n = Xs[0].shape[0]
        k, m = len(Xs), len(Ys)
        batches = data.batches(*Xs, *Ys, W, batch_size=batch_size)
        steps = data.num_batches(n, batch_size)
        for batch in callbacks_module.progress(batches, steps, "evaluate", verbose):
            Xb, Yb, Wb = list(batch[:k]), list(batch[k:k + m]), batch[-1]
            Ps = self._forward(Xb, False)
            L, Ls = self._batch_loss(Yb, Ps, Wb)
            totals = self._accumulate(totals, L, Ls, Xb[0].shape[0])
            self._update_metrics(Yb, Ps, Wb)
        return self._epoch_logs(totals, n, prefix)

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
                already on the model's backend; a list or a dict keyed by input name
                for several inputs.
            y: targets (shape of the output, or ``(n,)`` class labels for sparse losses);
                a list or a dict keyed by output name for several outputs.
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
                is the argmax, for a single sigmoid output it is ``y > 0.5``. With several
                outputs it reads the first output's targets.
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
        sample_weight = _as_array(sample_weight, "sample_weight")
        if validation_data is None and validation_split:
            (x, y, sample_weight), validation_data = _split(x, y, sample_weight, validation_split)
        Xs, Ys = self._prepare_xy(x, y)
        n = Xs[0].shape[0]
        W = self._sample_weights(sample_weight, class_weight, Ys, n)
        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise ValueError(
                    "validation_data must be a tuple (x_val, y_val) or (x_val, y_val, sample_weight_val)"
                )
            Xv, Yv = self._prepare_xy(*validation_data[:2], suffix="_val")
            Wv = None
            if len(validation_data) == 3:
                Wv = self._prepare_sample_weight(validation_data[2], Xv[0].shape[0], "sample_weight_val")
            val = (Xv, Yv, Wv)

        history = callbacks_module.History()
        extra = [callbacks_module.ProgressBar(verbose)] if verbose else []
        params = {
            "epochs": epochs, "steps": data.num_batches(n, batch_size),
            "samples": n, "verbose": verbose,
        }
        # the progress bar after the user's callbacks, so it shows the keys they add
        cbs = callbacks_module.CallbackList([*(callbacks or []), *extra, history], self, params)
        self.stop_training = False
        cbs.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            cbs.on_epoch_begin(epoch)
            logs = self._run_epoch(Xs, Ys, W, batch_size, shuffle, cbs)
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
            the loss as a float when there are no metrics (and one output), else
            ``[loss, *per-output losses, *metrics]``; with ``return_dict=True``, a dict.
        """
        self._require_compiled("evaluate()")
        batch_size = data.check_batch_size(DEFAULT_BATCH_SIZE if batch_size is None else batch_size)
        callbacks_module.check_verbose(verbose)
        Xs, Ys = self._prepare_xy(x, y)
        W = self._prepare_sample_weight(sample_weight, Xs[0].shape[0])
        logs = self._evaluate_arrays(Xs, Ys, W, batch_size, verbose=verbose)
        if verbose:
            print(callbacks_module.format_logs(logs))
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def predict(self, x, batch_size: int | None = None, verbose: int = 0):
        """The network's outputs for ``x``, in inference mode.

        Args:
            x: inputs, NumPy (or a list) or arrays on the model's backend; a list or
                dict for several inputs.
            batch_size: samples per forward pass (default 32).
            verbose: 1 shows a progress bar over the batches; 0 and 2 are silent.

        Returns:
            a NumPy array when ``x`` was NumPy (or a list), else an array of the
            model's backend, shape ``(n, *output_shape[1:])``; a list of them for a
            model with several outputs.
        """
        batch_size = data.check_batch_size(DEFAULT_BATCH_SIZE if batch_size is None else batch_size)
        callbacks_module.check_verbose(verbose)
        Xs, was_host = self._prepare_inputs(x)
        n = Xs[0].shape[0]
        batches = data.batches(*Xs, batch_size=batch_size)
        steps = data.num_batches(n, batch_size)
        outputs = [self._forward(list(Xb), False)
                   for Xb in callbacks_module.progress(batches, steps, "predict", verbose)]
        return self._outputs(outputs, was_host)

    def _outputs(self, outputs: list, was_host: bool):
        """Join per-batch outputs; NumPy if the inputs were; one array per output."""
        xp = self.backend.xp
        joined = []
        for k in range(len(outputs[0])):
            parts = [batch[k] for batch in outputs]
            P = parts[0] if len(parts) == 1 else xp.concat(parts, axis=0)
            joined.append(self.backend.to_numpy(P, copy=False) if was_host else P)
        return joined[0] if len(joined) == 1 else joined

    def get_layer(self, name: str | None = None, index: int | None = None):
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
        """On symbolic tensors, use the model as a layer of a functional model; on arrays,
        its outputs for one batch (no batching)."""
        from flexnet.layers.node import is_symbolic

        if is_symbolic(x):
            from flexnet.models.functional import call_model

            return call_model(self, x)
        Xs, was_host = self._prepare_inputs(x)
        return self._outputs([self._forward(Xs, training)], was_host)

    def get_config(self) -> dict:
        """The model's architecture as JSON data (see :meth:`from_config`)."""
        raise NotImplementedError(f"{type(self).__name__} has no get_config()")

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None, *, backend=None,
                    device=None, dtype=None):
        """A new functional model from :meth:`Functional.get_config`'s dict (Keras's
        ``Model.from_config``); ``Sequential.from_config`` reads Sequential configs."""
        from flexnet.models.functional import Functional

        return Functional.from_config(config, custom_objects, backend=backend, device=device,
                                      dtype=dtype)

    # ------------------------------------------------------------------
    # A model used as a layer of another model.
    @property
    def default_name(self) -> str:
        return self.name

    @property
    def trainable(self) -> bool:
        return True

    @property
    def activity_regularizer(self):
        return None

    def _setup_as_layer(self, input_shape, outer) -> tuple:
        """Bind to the outer model's backend, build for ``input_shape``, return the output shape."""
        if self.backend is None:
            self._backend_request = outer._backend_request
            self._dtype_request = outer.dtype
        self._bind()
        if self.backend != outer.backend or self.dtype != outer.dtype:
            raise ValueError(
                f"model {self.name!r} lives on {self.backend.name} ({self.dtype}) but is used inside "
                f"model {outer.name!r} on {outer.backend.name} ({outer.dtype}); move one with .to()"
            )
        if not self.built:
            self._lazy_build_shape(input_shape)
        expected = self.input_shapes if isinstance(input_shape, list) else self.input_shapes[0]
        if (list(map(tuple, input_shape)) if isinstance(input_shape, list) else tuple(input_shape)) != (
            list(map(tuple, expected)) if isinstance(expected, list) else tuple(expected)
        ):
            raise ValueError(f"model {self.name!r} takes inputs of shape {expected}, got {input_shape}")
        shapes = self.output_shapes
        return shapes[0] if len(shapes) == 1 else shapes

    def _lazy_build_shape(self, input_shape) -> None:
        self._require_built("using the model as a layer")


registry.kind("layer").add_base(Model)


def _as_array(a, what: str):
    """Lists, tuples and other array-likes as NumPy; arrays pass through untouched."""
    if a is None or isinstance(a, (np.ndarray, dict)) or array_api_compat.is_array_api_obj(a):
        return a
    try:
        return np.asarray(a)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} must be an array, got {type(a).__name__}: {exc}") from None


def _split(x, y, sample_weight, validation_split: float):
    """Keras's ``validation_split`` for arrays, lists and dicts of arrays: the last fraction."""
    def first(v):
        if isinstance(v, dict):
            return first(next(iter(v.values())))
        if isinstance(v, (list, tuple)) and not hasattr(v, "shape"):
            return first(v[0])
        return _as_array(v, "x")

    n = first(x).shape[0]
    cut = data.validation_cut(n, validation_split)

    def part(v, sl):
        if v is None:
            return None
        if isinstance(v, dict):
            return {k: part(a, sl) for k, a in v.items()}
        if isinstance(v, (list, tuple)) and not hasattr(v, "shape"):
            if all(isinstance(a, np.ndarray) or array_api_compat.is_array_api_obj(a) for a in v):
                return [part(a, sl) for a in v]
        a = _as_array(v, "x")
        return a[sl, ...]

    train, val = slice(0, cut), slice(cut, n)
    val_data = (part(x, val), part(y, val))
    if sample_weight is not None:
        val_data = (*val_data, part(sample_weight, val))
    return (part(x, train), part(y, train), part(sample_weight, train)), val_data


def _flat_metric_ids(metrics) -> list:
    if metrics is None:
        return []
    if isinstance(metrics, dict):
        out = []
        for value in metrics.values():
            out += _flat_metric_ids(value)
        return out
    if isinstance(metrics, (str, metrics_module.Metric)):
        return [metrics]
    out = []
    for m in metrics:
        out += _flat_metric_ids(m) if isinstance(m, (list, tuple, dict)) else [m]
    return out
