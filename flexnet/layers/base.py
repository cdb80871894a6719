"""The base class of layers: a forward/backward pair that owns its parameters and gradients.

A layer is built once its input shape is known (``build(input_shape)`` makes
the weights with :meth:`Layer.add_weight`); ``forward(X, training)`` returns
``Y`` and keeps what ``backward`` needs in ``self.cache``; ``backward(dY)`` fills
``self.grads`` (one entry per entry of ``self.params``) and returns ``dX``.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import numbers
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np

from flexnet import constraints, initializers, regularizers
from flexnet.layers.call import eager_call, only_node, symbolic_call
from flexnet.layers.node import is_symbolic
from flexnet.registry import Kind
from flexnet.transfer import as_host_array, writable

__all__ = ["Cache", "Layer", "WeightSpec", "deferred_weights", "normalize_axes", "normalize_shape"]


class Cache(SimpleNamespace):
    """What one call of a layer's ``forward`` keeps for its ``backward`` (``cache.X = X``).

    A model gives each call of a layer its own cache (a layer shared between two
    places of a functional model is called twice per step) and sets ``layer.cache``
    to it before the call's ``forward`` and again before its ``backward``; a layer
    used on its own keeps one.
    """


@dataclass(frozen=True)
class WeightSpec:
    """A weight declared by :meth:`Layer.add_weight` but not made (see :func:`deferred_weights`).

    Attributes:
        shape: its shape.
        dtype: its dtype name.
    """

    shape: tuple[int, ...]
    dtype: str


_DEFERRED = contextvars.ContextVar("flexnet_deferred_weights", default=False)


@contextlib.contextmanager
def deferred_weights():
    """Within this block, :meth:`Layer.add_weight` draws no initial values and allocates
    nothing: it records a :class:`WeightSpec` in the weight's place.

    Loading a model builds it this way, compares every weight's shape with the file's
    index, then puts the file's arrays in those places; a layer built here is not usable
    until every weight is set.
    """
    token = _DEFERRED.set(True)
    try:
        yield
    finally:
        _DEFERRED.reset(token)


def _snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def normalize_shape(shape, what: str = "input_shape") -> tuple[int, ...]:
    """A shape without its batch axis, as a tuple of positive ints."""
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    try:
        shape = tuple(shape)
    except TypeError:
        raise TypeError(f"{what} must be a tuple of ints, got {shape!r}") from None
    if not shape or any(
        isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d <= 0 for d in shape
    ):
        raise ValueError(f"{what} must be a non-empty tuple of positive ints, got {shape!r}")
    return tuple(int(d) for d in shape)


def normalize_axes(axes, what: str) -> tuple[int, ...]:
    """Axes given as None (none), an int or a sequence of ints, as a tuple of ints."""
    if axes is None:
        return ()
    items = (axes,) if isinstance(axes, numbers.Integral) else axes
    try:
        items = tuple(items)
    except TypeError:
        raise TypeError(f"{what} must be None, an int or a list of ints, got {axes!r}") from None
    if any(isinstance(a, bool) or not isinstance(a, numbers.Integral) for a in items):
        raise TypeError(f"{what} must be None, an int or a list of ints, got {axes!r}")
    return tuple(int(a) for a in items)


class Layer(ABC):
    """Base class of all layers.

    Subclasses implement :meth:`forward` and :meth:`backward`, and :meth:`build`
    and :meth:`compute_output_shape` when they have weights or change the shape.

    Attributes:
        params: trainable weights by name (``{"kernel": W, "bias": b}``).
        grads: gradients of the loss, same keys as ``params``, filled by ``backward``.
        buffers: non-trainable weights by name (e.g. moving statistics).
        xp, backend, dtype, rng: the namespace, backend, float dtype name and
            random generator the layer was built with.

    Args:
        name: unique name within a model; defaults to the snake-cased class name.
        input_shape: the input shape without the batch axis, for a first layer.
        trainable: whether the optimizer updates this layer's ``params``.
        activity_regularizer: a penalty on the layer's output ``R(Y)``, averaged over
            the batch (``R(Y)/n``, as tf.keras), added to the loss; its gradient
            ``∂R/∂Y / n`` is added to the ``dY`` the layer's ``backward`` receives.

    Example: a layer that scales each feature by a learned factor::

        class Scale(Layer):
            def build(self, input_shape):
                self.add_weight("scale", (input_shape[-1],), initializer="ones")

            def forward(self, X, training=False):
                self.cache.X = X
                return X * self.params["scale"]

            def backward(self, dY):
                self.grads["scale"] = self.xp.sum(dY * self.cache.X, axis=0)
                return dY * self.params["scale"]

    Keep what ``backward`` needs in ``self.cache`` (see :class:`Cache`): each call of
    a layer gets its own, so the layer can be shared in a functional model.
    """

    #: False while a model runs backward on a layer whose input gradient nobody reads
    #: (the first layer); ``backward`` may then skip computing ``dX`` and return None.
    input_grad_needed = True

    def __init__(self, *, name: str | None = None, input_shape=None, trainable: bool = True,
                 activity_regularizer=None):
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(f"name must be a non-empty string, got {name!r}")
        self.name = name
        self.trainable = bool(trainable)
        self.input_shape = None if input_shape is None else normalize_shape(input_shape)
        self.params: dict[str, Any] = {}
        self.grads: dict[str, Any] = {}
        self.buffers: dict[str, Any] = {}
        self.regularizers: dict[str, regularizers.Regularizer] = {}
        self.constraints: dict[str, constraints.Constraint] = {}
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.cache = Cache()
        self._nodes: list = []  # calls in the functional API
        self.built = False
        self.output_shape: tuple | None = None
        self.backend = None
        self.xp = None
        self.dtype: str | None = None
        self.rng = None

    # -- building -----------------------------------------------------------
    @property
    def default_name(self) -> str:
        return _snake_case(type(self).__name__)

    def setup(self, input_shape: tuple, backend, dtype: str, rng) -> tuple:
        """Bind the layer to a backend, build its weights, return its output shape.

        Called by the model; ``input_shape`` includes the batch axis as ``None``.
        """
        if self.input_shape is not None and tuple(input_shape[1:]) != self.input_shape:
            raise ValueError(
                f"layer {self.name or self.default_name!r} was declared with input_shape={self.input_shape} "
                f"but receives inputs of shape {tuple(input_shape[1:])}"
            )
        if self.built and (self.backend != backend or self.dtype != dtype):
            raise ValueError(
                f"layer {self.name!r} is already built on {self.backend!r} in {self.dtype}; "
                f"it cannot join a model on {backend!r} in {dtype}"
            )
        self.backend, self.xp, self.dtype, self.rng = backend, backend.xp, dtype, rng
        if not self.built:
            self.build(tuple(input_shape))
            self.built = True
        return self.compute_output_shape(tuple(input_shape))

    def build(self, input_shape: tuple) -> None:
        """Create the weights for inputs of ``input_shape`` (batch axis ``None``).

        Layers without weights need not override it.
        """

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        """The output shape (batch axis ``None``) for inputs of ``input_shape``."""
        return input_shape

    def add_weight(self, name: str, shape, initializer="zeros", trainable: bool = True,
                   regularizer=None, constraint=None):
        """Create a weight on the layer's device with an initializer; returns it.

        Trainable weights go to ``params`` (and get a ``grads`` entry from
        ``backward``); others go to ``buffers``. A ``regularizer`` adds ``R(W)`` to the
        loss and ``∂R/∂W`` to ``grads[name]``; a ``constraint`` projects the weight
        after every optimizer step.

        Within :func:`deferred_weights` (while a model is loaded from a file) it returns a
        :class:`WeightSpec` and draws nothing; the file's values take its place.
        """
        if self.backend is None:
            raise RuntimeError(f"layer {self.name!r}: add_weight is called from build()")
        shape = tuple(shape)
        if _DEFERRED.get():
            value = WeightSpec(shape, self.dtype)
        else:
            value = initializers.get(initializer)(shape, self.dtype, self.rng)
        (self.params if trainable else self.buffers)[name] = value
        if regularizer is not None:
            self.regularizers[name] = regularizers.get(regularizer)
        if constraint is not None:
            self.constraints[name] = constraints.get(constraint)
        return value

    # -- regularization -------------------------------------------------------
    def regularization_loss(self):
        """``Σ R(W)`` over this layer's regularized weights (a 0-d array), or None."""
        total = None
        for key, reg in self.regularizers.items():
            W = self.params[key] if key in self.params else self.buffers[key]
            term = reg.penalty(self.xp, W)
            total = term if total is None else total + term
        return total

    def add_regularization_gradients(self) -> None:
        """Add ``∂R/∂W`` to ``grads`` for every regularized trainable weight (after backward)."""
        for key, reg in self.regularizers.items():
            if key in self.params:
                self.grads[key] = self.grads[key] + reg.gradient(self.xp, self.params[key])

    def apply_constraints(self) -> None:
        """Project constrained weights in place (models call it after each optimizer step)."""
        for key, constraint in self.constraints.items():
            store = self.params if key in self.params else self.buffers
            W = store[key]
            if writable(W):
                W[...] = constraint.project(self.xp, W)  # in place: a view of the flat vector stays one
            else:
                store[key] = constraint.project(self.xp, W)

    def move(self, backend, rng) -> None:
        """Move weights to another backend (``model.to`` calls this). Gradients are dropped."""
        dtype = self.dtype
        for store in (self.params, self.buffers):
            for key, value in store.items():
                store[key] = backend.from_numpy(self.backend.to_numpy(value), dtype)
        self.grads = {}
        self.backend, self.xp, self.rng = backend, backend.xp, rng
        self.clear_cache()

    def clear_cache(self) -> None:
        """Forget what forward kept for backward (it holds memory and a device)."""
        self.cache = Cache()

    # -- calling: the functional API, or arrays ----------------------------------
    def __call__(self, inputs, training: bool = False):
        """On symbolic tensors, record the call (functional API) and return a symbolic tensor;
        on arrays, compute the layer's output (Keras's eager call).

        ``Dense(30, activation="relu")(input_)`` records the call; a
        :class:`~flexnet.models.Model` built from the inputs and outputs runs it. Calling
        one layer on several tensors shares its weights between the calls.

        ``Dense(2)(np.ones((1, 3)))`` builds the layer for inputs of 3 features (on the
        backend of the arrays; NumPy arrays and lists use the default backend, in
        :func:`flexnet.floatx`) and returns its output: NumPy for NumPy, an array of the
        backend for one. ``training=True`` runs it in training mode (dropout, noise).
        """
        if is_symbolic(inputs):
            return symbolic_call(self, inputs)
        return eager_call(self, inputs, training)

    @property
    def input(self):
        """The symbolic tensor (a list for merge layers) of this layer's one call: in a
        functional model, or in the graph a built Sequential gives its layers."""
        node = only_node(self, "input")
        if not node.inputs:  # an InputLayer: its tensor is its input and its output
            return node.output
        return list(node.inputs) if node.takes_list else node.inputs[0]

    @property
    def output(self):
        """The symbolic tensor this layer's one call produced, e.g. for a feature extractor
        ``Model(model.input, model.get_layer("dense").output)``."""
        return only_node(self, "output").output

    #: True for layers whose forward takes a list of arrays (merge layers).
    accepts_list = False

    def check_input_shape(self, input_shape) -> None:
        """Raise ValueError if the layer cannot take inputs of ``input_shape`` (batch axis
        ``None``); called when the layer is called in the functional API, before build."""

    # -- computing ----------------------------------------------------------
    @abstractmethod
    def forward(self, X, training: bool = False):
        """``Y`` for a batch ``X``; keep what :meth:`backward` needs."""

    @abstractmethod
    def backward(self, dY):
        """Given ``dY = ∂L/∂Y``, set ``self.grads`` and return ``dX = ∂L/∂X``."""

    def backward_without_input_grad(self, backward, dY) -> None:
        """Call ``backward(dY)`` (this layer's ``backward`` or ``backward_logits``) telling
        the layer that ``dX`` is not needed; models use it for their first layer."""
        self.input_grad_needed = False
        try:
            backward(dY)
        finally:
            del self.input_grad_needed  # back to the class default, True

    # -- weights ------------------------------------------------------------
    @property
    def weights(self) -> list:
        """All weights: trainable ``params`` then ``buffers``, in creation order."""
        return list(self.params.values()) + list(self.buffers.values())

    @property
    def trainable_weights(self) -> list:
        return list(self.params.values()) if self.trainable else []

    @property
    def non_trainable_weights(self) -> list:
        frozen = [] if self.trainable else list(self.params.values())
        return frozen + list(self.buffers.values())

    def count_params(self) -> int:
        """Number of scalars in all weights."""
        return sum(math.prod(w.shape) for w in self.weights)

    def get_weights(self) -> list[np.ndarray]:
        """Copies of the weights as NumPy arrays (``params`` then ``buffers``)."""
        return [self.backend.to_numpy(w) for w in self.weights]

    def set_weights(self, weights) -> None:
        """Replace the weights from arrays of the same shapes (copied, never shared).

        Every array is checked (count, shape, real numbers) before any weight changes.

        Raises:
            ValueError: a wrong count or shape. TypeError: an array that does not hold
                real numbers (strings, complex numbers, objects).
        """
        self._assign_weights(self._checked_weights(weights))

    def _weight_slots(self) -> list[tuple[dict, str]]:
        """``(store, key)`` of every weight, in :attr:`weights` order."""
        return [(self.params, k) for k in self.params] + [(self.buffers, k) for k in self.buffers]

    def _checked_weights(self, weights) -> list[np.ndarray]:
        """``weights`` as fresh host arrays of the layer's dtype, each checked; nothing is set."""
        slots = self._weight_slots()
        hosts = [as_host_array(w, f"weight {i} of layer {self.name!r}") for i, w in enumerate(weights)]
        expected = [tuple(store[k].shape) for store, k in slots]
        given = [tuple(h.shape) for h in hosts]
        if given != expected:
            raise ValueError(
                f"layer {self.name!r} expects weights of shapes {expected}, got {given}"
            )
        for (_, key), host in zip(slots, hosts):
            if host.dtype.kind not in "iuf":
                raise TypeError(f"layer {self.name!r}: weight {key!r} must hold real numbers (float or "
                                f"int), got dtype {host.dtype}")
        return [np.array(h, dtype=np.dtype(self.dtype), copy=True) for h in hosts]

    def _assign_weights(self, hosts: list[np.ndarray]) -> None:
        """Put checked host arrays (from :meth:`_checked_weights`) in place of the weights."""
        for (store, key), host in zip(self._weight_slots(), hosts):
            store[key] = self.backend.from_numpy(host)

    def get_config(self) -> dict:
        """The constructor arguments, JSON-serializable: ``cls.from_config(config)`` rebuilds
        an equivalent (unbuilt) layer. Subclasses with arguments of their own add them to
        ``super().get_config()``."""
        config = {"name": self.name, "trainable": self.trainable}
        if self.input_shape is not None:
            config["input_shape"] = list(self.input_shape)
        if self.activity_regularizer is not None:
            config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        return config

    @classmethod
    def from_config(cls, config: dict) -> Layer:
        """A new, unbuilt layer from :meth:`get_config`'s dict: ``cls(**config)``."""
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} built={self.built}>"


#: Class name -> layer class (models join with ``LAYERS.add_base(Model)``).
LAYERS = Kind("layer", Layer)
