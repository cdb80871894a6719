"""Weight initializers, drawn on the model's device by its own generator.

Layers call an initializer as ``init(shape, dtype, rng)`` where ``rng`` is a
:class:`flexnet.random.Generator` (which knows the backend and device) and
``dtype`` a name such as ``"float32"``. Called as Keras's are, ``init(shape=(3, 2))`` or
``init((3, 2), dtype="float64")``, it returns an array on the default backend
(:func:`flexnet.get_backend`) in :func:`flexnet.floatx` unless given a dtype. Fans follow
Keras: for a kernel of shape ``(fan_in, fan_out)``; for a vector, both are its length.

Names are Keras's (``"glorot_uniform"``, ``"orthogonal"``, ...; class names such
as ``"GlorotUniform"`` work too), and every initializer round-trips through
``serialize`` / ``get``:

    >>> import flexnet as fx
    >>> init = fx.initializers.RandomNormal(stddev=0.01)    # the course's randn(...) * 0.01
    >>> config = fx.initializers.serialize(init)
    >>> config
    {'class_name': 'RandomNormal', 'config': {'mean': 0.0, 'stddev': 0.01, 'seed': None}}
    >>> fx.initializers.get(config)
    RandomNormal(mean=0.0, stddev=0.01, seed=None)
"""

from __future__ import annotations

from flexnet.initializers.base import INITIALIZERS, Initializer, RandomInitializer, compute_fans
from flexnet.initializers.constant import Constant, Identity, Ones, Zeros
from flexnet.initializers.distributions import (
    GlorotNormal,
    GlorotUniform,
    HeNormal,
    HeUniform,
    LecunNormal,
    LecunUniform,
    Orthogonal,
    RandomNormal,
    RandomUniform,
    TruncatedNormal,
    VarianceScaling,
)

__all__ = [
    "INITIALIZERS",
    "Constant",
    "GlorotNormal",
    "GlorotUniform",
    "HeNormal",
    "HeUniform",
    "Identity",
    "Initializer",
    "LecunNormal",
    "LecunUniform",
    "Ones",
    "Orthogonal",
    "RandomInitializer",
    "RandomNormal",
    "RandomUniform",
    "TruncatedNormal",
    "VarianceScaling",
    "Zeros",
    "compute_fans",
    "deserialize",
    "get",
    "serialize",
]


def serialize(initializer: Initializer) -> dict:
    """``{"class_name": ..., "config": ...}``, which :func:`deserialize` and :func:`get` rebuild."""
    return INITIALIZERS.serialize(initializer)


def deserialize(config: dict, custom_objects: dict | None = None) -> Initializer:
    """An initializer from :func:`serialize`'s dict.

    Args:
        config: ``{"class_name": name, "config": {...}}``; the class name may be a
            registered name (``"glorot_uniform"``) or a class name (``"GlorotUniform"``).
        custom_objects: name -> class, for initializers written outside flexnet.

    Raises:
        ValueError: a malformed dict or an unknown class name.
    """
    return INITIALIZERS.deserialize(config, custom_objects)


def get(identifier) -> Initializer:
    """An initializer from a name, a config dict, a class or an instance.

    Raises:
        ValueError: unknown name, listing the valid ones.
        TypeError: anything else.
    """
    return INITIALIZERS.resolve(identifier)

