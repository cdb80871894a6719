"""Activation functions as (function, derivative) pairs, looked up by name.

Each activation has ``forward(xp, Z) -> Y`` and ``backward(xp, Z, Y, dY) -> dZ``,
the vector-Jacobian product of ``Y = f(Z)``. Layers call them with their stored
namespace ``xp``; called directly, ``relu(Z)`` finds the namespace from ``Z``.

Names are Keras's (``"relu"``, ``"leaky_relu"``, ``"gelu"``, ...). Activations with
arguments are objects (``LeakyReLU(negative_slope=0.1)``); their names give the
defaults. :func:`serialize` writes an activation as its name, or as
``{"class_name": "LeakyReLU", "config": {"negative_slope": 0.1}}`` when its
arguments differ from the defaults, and :func:`get` reads either back:

    >>> import flexnet as fx
    >>> spec = fx.activations.serialize(fx.activations.LeakyReLU(0.1))
    >>> spec
    {'class_name': 'LeakyReLU', 'config': {'negative_slope': 0.1}}
    >>> fx.activations.get(spec)
    LeakyReLU(negative_slope=0.1)
    >>> fx.activations.serialize(fx.activations.get("gelu"))
    'gelu'

Your own activation joins the table with :func:`register`, after which its name
works wherever a built-in name does (``Dense(8, activation="mine")``).

The base class is in ``base.py``; the activations in ``elementwise.py`` (sigmoids, tanh,
softsign, ...), ``rectifiers.py`` (the ReLU family and the self-gated SiLU and mish),
``gaussian.py`` (GELU) and ``rowwise.py`` (softmax).
"""

from __future__ import annotations

from flexnet.activations.base import ACTIVATIONS, ActivationFunction
from flexnet.activations.elementwise import (
    Exponential,
    HardSigmoid,
    HardTanh,
    Linear,
    LogSigmoid,
    Sigmoid,
    Sign,
    Softsign,
    Step,
    Tanh,
    exponential,
    hard_sigmoid,
    hard_tanh,
    linear,
    log_sigmoid,
    sigmoid,
    sign,
    softsign,
    step,
    tanh,
)
from flexnet.activations.gaussian import GELU, gelu
from flexnet.activations.rectifiers import (
    CELU,
    ELU,
    SELU,
    HardSiLU,
    LeakyReLU,
    Mish,
    ReLU,
    ReLU6,
    SiLU,
    SmoothReLU,
    Softplus,
    celu,
    elu,
    hard_silu,
    hard_swish,
    leaky_relu,
    mish,
    relu,
    relu6,
    selu,
    silu,
    smooth_relu,
    softplus,
    swish,
)
from flexnet.activations.rowwise import LogSoftmax, Softmax, log_softmax, softmax

__all__ = [
    "ACTIVATIONS",
    "CELU",
    "ELU",
    "GELU",
    "SELU",
    "ActivationFunction",
    "Exponential",
    "HardSiLU",
    "HardSigmoid",
    "HardTanh",
    "LeakyReLU",
    "Linear",
    "LogSigmoid",
    "LogSoftmax",
    "Mish",
    "ReLU",
    "ReLU6",
    "SiLU",
    "Sigmoid",
    "Sign",
    "SmoothReLU",
    "Softmax",
    "Softplus",
    "Softsign",
    "Step",
    "Tanh",
    "celu",
    "elu",
    "exponential",
    "gelu",
    "get",
    "hard_sigmoid",
    "hard_silu",
    "hard_swish",
    "hard_tanh",
    "leaky_relu",
    "linear",
    "log_sigmoid",
    "log_softmax",
    "mish",
    "register",
    "relu",
    "relu6",
    "selu",
    "serialize",
    "sigmoid",
    "sign",
    "silu",
    "smooth_relu",
    "softmax",
    "softplus",
    "softsign",
    "step",
    "swish",
    "tanh",
    "unregister",
]


# -- lookup, serialization, registration -------------------------------------------------------


def get(identifier) -> ActivationFunction:
    """An activation from a name, a :func:`serialize` dict, an instance or class, or ``None``.

    Names are case-insensitive (``"ReLU"`` is ``"relu"``); ``None`` is linear. A dict
    ``{"class_name": ..., "config": {...}}`` names a class by its Python name
    (``"LeakyReLU"``) or its registered name (``"leaky_relu"``) and gives its arguments.

    Raises:
        ValueError: unknown name, listing the valid ones; a malformed dict.
        TypeError: anything else, or a config the class does not take.
    """
    return Linear() if identifier is None else ACTIVATIONS.resolve(identifier)


def serialize(activation) -> str | dict:
    """The activation as its registered name when it has its default arguments, else as
    ``{"class_name": <class name>, "config": <get_config()>}``; :func:`get` reads both back.

    A user class that was never registered is written the same way; reading it back
    needs it registered (:func:`register`) under that name first.
    """
    act = get(activation)
    cls = type(act)
    try:
        default = cls().get_config()
    except TypeError:  # a user class with required arguments
        default = None
    if act.get_config() == default:
        for name in (act.name, *ACTIVATIONS.names_of(cls)):
            if ACTIVATIONS.find(name) is cls:
                return name
    return ACTIVATIONS.serialize(act)


def register(name: str, function, derivative=None, *, overwrite: bool = False):
    """Register a user activation under ``name``; then ``get(name)`` and
    ``Dense(..., activation=name)`` use it.

    Two forms:

    - ``register(name, f, df)``: ``f(Z) -> Y`` and ``df(Z) -> f'(Z)``, elementwise
      functions of an array ``Z`` returning arrays of its shape and dtype. Write
      them with array operators (``Z * Z``, ``abs(Z)``) or with the namespace
      ``xp = array_api_compat.array_namespace(Z)`` (``xp.exp(Z)``), so that they
      run on every backend. The backward pass is ``dZ = dY ⊙ df(Z)``.
    - ``register(name, cls)``: an :class:`ActivationFunction` subclass (for
      row-wise functions, arguments, or a backward that reuses ``Y``).

    Args:
        name: the name, case-insensitive.
        function: ``f``, or an ActivationFunction subclass.
        derivative: ``df`` (the pair form only).
        overwrite: allow replacing an existing name, built-in or not.

    Returns:
        The registered class.

    Raises:
        ValueError: the name exists and ``overwrite`` is False; a bad name.
        TypeError: ``function``/``derivative`` of the wrong kind.

    Example:
        >>> import flexnet as fx
        >>> cls = fx.activations.register("bent_identity",
        ...                               lambda Z: ((Z * Z + 1.0) ** 0.5 - 1.0) / 2.0 + Z,
        ...                               lambda Z: Z / (2.0 * (Z * Z + 1.0) ** 0.5) + 1.0)
        >>> layer = fx.layers.Dense(4, activation="bent_identity")
        >>> fx.activations.unregister("bent_identity")
    """
    key = name.lower() if isinstance(name, str) else name
    if isinstance(function, type):
        if not issubclass(function, ActivationFunction):
            raise TypeError(f"a class to register must subclass ActivationFunction, got {function!r}")
        if derivative is not None:
            raise TypeError("register(name, cls) takes no derivative: the class has its backward")
        cls = function
    else:
        if not callable(function) or not callable(derivative):
            raise TypeError(
                "register(name, f, df) takes two callables f(Z) -> Y and df(Z) -> f'(Z), "
                f"got {type(function).__name__} and {type(derivative).__name__}"
            )
        cls = _pair_class(str(key), function, derivative)
    ACTIVATIONS.add(key, cls, overwrite=overwrite)
    return cls


def _pair_class(name: str, function, derivative) -> type[ActivationFunction]:
    def forward(self, xp, Z):
        return function(Z)

    def backward(self, xp, Z, Y, dY):
        return dY * derivative(Z)

    doc = f"User activation {name!r}: ``Y = f(Z)``, ``dZ = dY ⊙ f'(Z)`` (see :func:`register`)."
    return type(name, (ActivationFunction,),
                {"name": name, "forward": forward, "backward": backward, "__doc__": doc})


def unregister(name: str) -> None:
    """Remove a name added by :func:`register`; a built-in name that was overwritten
    gets its built-in back.

    Raises:
        ValueError: the name is not registered, or is a built-in that was not overwritten.
    """
    ACTIVATIONS.remove(name)
