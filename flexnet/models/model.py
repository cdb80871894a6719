"""The base class of models: backend, weights, the layer graph, and Keras's public methods.

A model maps a list of inputs to a list of outputs through its
:class:`~flexnet.models.graph.Graph`; :class:`~flexnet.models.Sequential` builds a
chain, :class:`~flexnet.models.Functional` any graph. Training lives in
:mod:`flexnet.training`: ``compile``, ``fit``, ``evaluate``, ``predict``,
``train_on_batch`` and ``compute_gradients`` delegate to the model's
:class:`~flexnet.training.Trainer`.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod

from flexnet import random as fxrandom
from flexnet import utils
from flexnet.backend import Backend, check_float_dtype, floatx
from flexnet.layers import Layer
from flexnet.layers.base import LAYERS
from flexnet.layers.node import is_symbolic
from flexnet.models.nesting import LayerLike, call_model
from flexnet.summary import print_summary
from flexnet.training import Trainer

__all__ = ["Model"]


def unique_name(base: str, taken, counters: dict) -> str:
    """The first of ``base``, ``base_1``, ``base_2``, ... not in ``taken``; ``counters`` (base ->
    the suffix reached) lets n calls take O(n) in all instead of O(n²)."""
    i = counters.get(base, 0)
    name = base if i == 0 else f"{base}_{i}"
    while name in taken:
        i += 1
        name = f"{base}_{i}"
    counters[base] = i
    return name


def _delegate(name: str):
    """A method (or property) of the model that calls its trainer's of that name (same signature
    and docstring: the behaviour and its documentation live in :class:`~flexnet.training.Trainer`)."""
    method = getattr(Trainer, name)
    if isinstance(method, property):

        @functools.wraps(method.fget)
        def get(self):
            return getattr(self._trainer, name)

        return property(get)

    @functools.wraps(method)
    def call(self, *args, **kwargs):
        return getattr(self._trainer, name)(*args, **kwargs)

    return call


class Model(LayerLike, ABC):
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
        self.graph = None  # the layers' Graph, once built
        self.input_shape = self.output_shape = None
        self.inputs = self.outputs = None  # the symbolic tensors, once built
        self.optimizer = self.loss = self.loss_weights = self._metric_spec = None
        self._weighted_metric_spec = None
        self.metrics: list = []
        self.compiled = False
        self.stop_training = False
        self.history = None
        self._nodes: list = []  # calls of this model inside another functional model
        self._trainer = Trainer(self)

    # ------------------------------------------------------------------
    # What subclasses provide (and ``layers``, and ``graph`` once built).
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

    def _lazy_build(self, X) -> None:
        """Build from the first data seen (models that allow it override this)."""
        self._require_built("training or prediction")

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
                hint = "; or first jax.config.update('jax_enable_x64', True)" if backend.name == "jax" else ""
                raise ValueError(
                    f"device {backend.device!r} of backend {backend.name!r} has no {dtype}; "
                    f"build the model with dtype='float32'{hint}"
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
        for model in [self, *self._nested_models()]:
            model.backend, model.rng, model._backend_request = target, rng, (backend, device)
            if model.graph is not None:
                model.graph.clear()
        if self.optimizer is not None:
            self.optimizer.map_state(lambda a: target.from_numpy(source.to_numpy(a)))
        self._trainer.reset()  # its compiled parts hold the old namespace
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

    def _structure(self) -> tuple:
        """The identity of every layer, nested models' layers included: equal while
        ``layers`` holds the same objects (``add``, ``pop`` and nested changes alter it)."""
        return tuple(id(layer) if isinstance(layer, Layer) else (id(layer), layer._structure())
                     for layer in self.layers)

    def _flat_layers(self) -> list[Layer]:
        """Every layer that owns weights, nested models expanded, each layer once.

        Cached until the layers change (see :meth:`_structure`).
        """
        key = self._structure()
        cached = self.__dict__.get("_flat_cache")
        if cached is not None and cached[0] == key:
            return cached[1]
        out, seen = [], set()
        for layer in self.layers:
            for item in [layer] if isinstance(layer, Layer) else layer._flat_layers():
                if id(item) not in seen:
                    seen.add(id(item))
                    out.append(item)
        self._flat_cache = (key, out)
        return out

    def _nested_models(self) -> list:
        out = []
        for layer in self.layers:
            if not isinstance(layer, Layer):
                out += [layer, *layer._nested_models()]
        return out

    def save_weights(self, filepath) -> None:
        """Write the weights to one file, atomically (see :mod:`flexnet.saving`)."""
        from flexnet.io import model_files  # io sits above the models

        model_files.save_weights(self, filepath)

    def load_weights(self, filepath) -> None:
        """Load weights written by :meth:`save_weights` (or a whole-model file), checking
        every shape before changing anything."""
        from flexnet.io import model_files

        model_files.load_weights(self, filepath)

    def save(self, filepath) -> None:
        """Write the whole model to one file, atomically: its config, weights, compile
        settings and optimizer state. :func:`flexnet.models.load_model` rebuilds it on any
        backend, and ``fit`` on the loaded model continues the run exactly.

        Raises:
            ValueError: the model is not built.
            TypeError: part of the config cannot be written (e.g. a learning rate given
                as a plain function rather than a schedule).
        """
        from flexnet.io import model_files

        model_files.save_model(self, filepath)

    def export(self, filepath, format: str = "onnx", **kwargs) -> None:
        """Write the model for another runtime, atomically (Keras's ``Model.export``).

        Args:
            filepath: the file to write.
            format: ``"onnx"``, the one format flexnet exports (see :func:`flexnet.export.to_onnx`).
            **kwargs: passed to the exporter (``opset=``, ``dtype=`` for ONNX).

        Raises:
            ValueError: another format, an unbuilt model, or a layer the format cannot
                represent (named).
        """
        from flexnet.io import onnx_export  # io sits above the models

        onnx_export.export(self, filepath, format, **kwargs)

    def summary(self, line_length: int | None = None, positions=None, print_fn=None,
                expand_nested: bool = False, show_trainable: bool = False) -> None:
        self._require_built("summary()")
        print_summary(self, line_length, positions, print_fn, expand_nested, show_trainable)

    summary.__doc__ = print_summary.__doc__

    # ------------------------------------------------------------------
    # Training, evaluation and prediction: the trainer's, under Keras's names.
    compile = _delegate("compile")
    fit = _delegate("fit")
    evaluate = _delegate("evaluate")
    predict = _delegate("predict")
    train_on_batch = _delegate("train_on_batch")
    test_on_batch = _delegate("test_on_batch")
    compute_gradients = _delegate("compute_gradients")
    apply_gradients = _delegate("apply_gradients")

    def predict_on_batch(self, x):
        """The outputs for ``x`` as one batch, in inference mode (no batching; NumPy in,
        NumPy out), as ``model(x)``."""
        return self._trainer(x)

    metrics_names = _delegate("metrics_names")

    # ------------------------------------------------------------------
    # Computing on arrays already on the backend.
    def forward(self, X, training: bool = False):
        """The outputs for input batches already on the backend (an array, or a list of
        arrays for several inputs); one array, or a list for several outputs."""
        self._require_built("forward()")
        Ps = self.graph.forward(list(X) if isinstance(X, (list, tuple)) else [X], training)
        return Ps[0] if len(Ps) == 1 else Ps

    def backward(self, dY, from_logits: bool = False, input_grad: bool = False):
        """Backpropagate ``dY = ∂L/∂output`` (a list for several outputs; ``∂L/∂Z`` of the
        output layers when ``from_logits``), filling every layer's ``grads``.

        Returns ``∂L/∂X`` (a list for several inputs) when ``input_grad``, else None (the
        first layers then skip computing it).
        """
        dYs = list(dY) if isinstance(dY, (list, tuple)) else [dY]
        dXs = self.graph.backward(dYs, [from_logits] * len(dYs), input_grads=input_grad)
        if dXs is None:
            return None
        return dXs[0] if len(dXs) == 1 else dXs

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
        if is_symbolic(x):
            return call_model(self, x)
        return self._trainer(x, training)

    @abstractmethod
    def get_config(self) -> dict:
        """The model's architecture as JSON data (see :meth:`from_config`)."""

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None, *, backend=None,
                    device=None, dtype=None):
        """A new functional model from :meth:`Functional.get_config`'s dict (Keras's
        ``Model.from_config``); ``Sequential.from_config`` reads Sequential configs."""
        from flexnet.models.functional import Functional

        return Functional.from_config(config, custom_objects, backend=backend, device=device,
                                      dtype=dtype)


LAYERS.add_base(Model)
