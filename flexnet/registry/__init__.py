"""One registry for every named kind of object: activations, losses, optimizers, metrics,
initializers, regularizers, constraints, schedules, layers and callbacks.

Each base class makes its :class:`Kind` (``LOSSES = Kind("loss", Loss)``), and every
built-in class registers itself where it is defined::

    @LOSSES.register("mean_squared_error", "mse")
    class MeanSquaredError(Loss): ...

A kind finds a class by any of its names or its class name, ignoring case and
underscores (``"MSE"``, ``"mean_squared_error"``, ``"MeanSquaredError"``); turns a name,
a class, an instance or a config dict into an instance (:meth:`Kind.resolve`); and writes
and reads configs ``{"class_name": ..., "config": {...}}`` (:meth:`Kind.serialize`,
:meth:`Kind.deserialize`). It is also a read-only mapping from its names to its classes.

User classes of any kind join with :func:`register_serializable`, which finds the kind
from the base class. A class defined outside flexnet that adds constructor arguments
but no ``get_config`` is written with a config read from its ``__init__`` signature,
and every class defined outside flexnet is rebuilt from the config it writes, so that
a config that would not load again is refused when it is written, not when it is read.
"""

from flexnet.registry.kinds import (
    Kind,
    deserialize,
    get_registered_name,
    get_registered_object,
    kind,
    kind_of,
    kind_of_key,
    loose,
    serialize,
)
from flexnet.registry.user import (
    register_keras_serializable,
    register_serializable,
    unregister_serializable,
)

__all__ = [
    "Kind",
    "deserialize",
    "get_registered_name",
    "get_registered_object",
    "kind",
    "kind_of",
    "kind_of_key",
    "loose",
    "register_keras_serializable",
    "register_serializable",
    "serialize",
    "unregister_serializable",
]
