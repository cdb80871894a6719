"""``Lambda``: a function of arrays used as a layer, with the derivative its user gives.

flexnet computes gradients with each layer's ``backward``, not by automatic
differentiation, so a Lambda that trains needs its backward from its user: the
derivative of an elementwise function, or a vector-Jacobian product for any other.
"""

from __future__ import annotations

import inspect
import warnings

import array_api_compat.numpy as host_xp
import numpy as np

from flexnet.layers.base import LAYERS, Layer, normalize_shape

__all__ = ["Lambda"]


def _parameters(fn) -> set[str]:
    try:
        return set(inspect.signature(fn).parameters)
    except (TypeError, ValueError):  # a builtin without a signature
        return set()


def _describe(fn) -> str:
    return getattr(fn, "__qualname__", None) or type(fn).__name__


@LAYERS.register()
class Lambda(Layer):
    """Wraps a function of arrays as a layer (``keras.layers.Lambda``), for quick computations
    in a Sequential or functional model.

    ``function(x)`` receives the input batch and returns the output batch; it must use
    operations every backend has: Python operators (``x * 2``, ``x ** 2``) or the Array
    API namespace, which it receives as ``xp`` when it has a parameter of that name
    (``lambda x, xp: xp.exp(x)``). A ``training`` parameter receives the mode, and
    ``arguments`` are passed as keywords, as in Keras.

    Backward needs one of (flexnet has no automatic differentiation):

    * ``derivative``: for an elementwise ``function``, its derivative ``f'(x)``;
      ``dX = dY ⊙ f'(X)``;
    * ``vjp``: for any other, ``vjp(x, y, dy) -> dx``, the gradient with respect to
      the input given the input, the output and the output's gradient.

    A Lambda with neither predicts, and trains as a model's first layer (whose input
    gradient nobody needs); anywhere else ``fit`` stops with a ``TypeError`` at the first
    backward pass, before any weight changes.

    A Lambda cannot be saved in a model file: the file holds no code (Keras writes the
    function's bytecode and refuses to load it in safe mode), so ``model.save`` raises a
    ``TypeError`` that says what to do instead; ``save_weights`` works.

    Args:
        function: ``f(x)`` (optionally with ``xp``, ``training`` and the ``arguments``).
        derivative: ``f'(x)`` of an elementwise ``f`` (optionally with ``xp``).
        vjp: ``vjp(x, y, dy) -> dx`` (optionally with ``xp``); not with ``derivative``.
        output_shape: the output shape without the batch axis, or a function of the input
            shape (batch axis ``None``) returning the whole output shape; by default it is
            found by calling ``function`` on NumPy ones of the input's shape.
        arguments: keyword arguments passed to ``function``.
        name, input_shape, trainable, activity_regularizer: see :class:`Layer`.

    Example:
        >>> import numpy as np
        >>> import flexnet as fx
        >>> softplus = fx.layers.Lambda(lambda x, xp: xp.log1p(xp.exp(x)),
        ...                             derivative=lambda x, xp: 1.0 / (1.0 + xp.exp(-x)))
        >>> model = fx.Sequential([fx.layers.Dense(4, input_dim=3), softplus, fx.layers.Dense(1)])
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> history = model.fit(np.ones((8, 3)), np.ones((8, 1)), epochs=2, verbose=0)
    """

    def __init__(self, function, derivative=None, *, vjp=None, output_shape=None, arguments=None,
                 **kwargs):
        super().__init__(**kwargs)
        if not callable(function):
            raise TypeError(f"Lambda takes a function, got {type(function).__name__}")
        if derivative is not None and not callable(derivative):
            raise TypeError(
                f"Lambda's second argument is the derivative of the function (a callable), got "
                f"{derivative!r}; give Keras's output_shape by keyword: Lambda(f, output_shape=...)"
            )
        if vjp is not None and not callable(vjp):
            raise TypeError(f"vjp must be a function vjp(x, y, dy) -> dx, got {type(vjp).__name__}")
        if derivative is not None and vjp is not None:
            raise ValueError("give derivative (for an elementwise function) or vjp, not both")
        if arguments is not None and not isinstance(arguments, dict):
            raise TypeError(f"arguments must be a dict of keyword arguments, got {type(arguments).__name__}")
        if output_shape is not None and not callable(output_shape):
            output_shape = normalize_shape(output_shape, "output_shape")
        self.function, self.derivative, self.vjp = function, derivative, vjp
        self.arguments = dict(arguments or {})
        self.output_shape_spec = output_shape
        self._params = {id(fn): _parameters(fn) for fn in (function, derivative, vjp) if fn is not None}

    def _call(self, fn, xp, *args, **kwargs):
        """``fn(*args, **kwargs)``, with ``xp=xp`` when ``fn`` takes it."""
        if "xp" in self._params[id(fn)]:
            kwargs["xp"] = xp
        return fn(*args, **kwargs)

    def _apply(self, xp, X, training: bool):
        extra = dict(self.arguments)
        if "training" in self._params[id(self.function)]:
            extra["training"] = training
        return self._call(self.function, xp, X, **extra)

    def compute_output_shape(self, input_shape):
        spec = self.output_shape_spec
        if callable(spec):
            return tuple(spec(tuple(input_shape)))
        if spec is not None:
            return (input_shape[0], *spec)
        probe = np.ones((2, *input_shape[1:]))
        try:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                Y = self._apply(host_xp, probe, False)
            shape = tuple(Y.shape)
        except Exception as exc:  # the user's function: any failure means "tell me the shape"
            raise ValueError(
                f"Lambda {self.name or self.default_name!r} could not find its output shape by calling "
                f"{_describe(self.function)} on NumPy ones of shape {probe.shape} ({type(exc).__name__}: "
                f"{exc}); pass output_shape=..."
            ) from None
        if len(shape) < 1 or shape[0] != 2:
            raise ValueError(f"Lambda {self.name or self.default_name!r}: {_describe(self.function)} turned "
                             f"a batch of shape {probe.shape} into shape {shape}; it must keep the batch "
                             "axis")
        return (input_shape[0], *shape[1:])

    def forward(self, X, training=False):
        Y = self._apply(self.xp, X, training)
        if self.derivative is not None or self.vjp is not None:
            self.cache.X, self.cache.Y = X, Y
        return Y

    def backward(self, dY):
        if self.derivative is not None:
            return dY * self._call(self.derivative, self.xp, self.cache.X)
        if self.vjp is not None:
            return self._call(self.vjp, self.xp, self.cache.X, self.cache.Y, dY)
        if not self.input_grad_needed:  # the first layer: no gradient to pass on
            return None
        raise TypeError(
            f"Lambda layer {self.name!r} ({_describe(self.function)}) has no derivative, so no gradient "
            "can pass through it: flexnet computes gradients with each layer's backward, not by "
            "automatic differentiation. Give Lambda(f, derivative=df) for an elementwise f, or "
            "Lambda(f, vjp=lambda x, y, dy: ...), or write a Layer with forward and backward"
        )

    def get_config(self):
        raise TypeError(
            f"Lambda layer {self.name!r} wraps the Python function {_describe(self.function)}, which "
            "flexnet does not write to files: a model file holds no code (Keras writes the function's "
            "bytecode and refuses to load it in safe mode). Write the computation as a Layer subclass "
            "registered with fx.saving.register_serializable, or save the weights only with "
            "model.save_weights(path)"
        )
