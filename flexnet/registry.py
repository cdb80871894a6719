"""Name lookup shared by activations, initializers, losses, optimizers and metrics.

Each module keeps a dict from Keras names to classes; :func:`resolve` turns a
name, a class or an instance into an instance, or says which names exist.
"""

from __future__ import annotations

__all__ = ["resolve"]


def resolve(identifier, registry: dict[str, type], base: type, kind: str):
    """An instance of ``base`` from a registered name, a subclass, or an instance.

    Args:
        identifier: a name (case-insensitive), a subclass of ``base``, or an instance.
        registry: name -> class.
        base: the base class instances must have.
        kind: what is looked up, for error messages ("activation", "loss", ...).

    Raises:
        ValueError: unknown name, listing the valid ones.
        TypeError: anything else.
    """
    if isinstance(identifier, base):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, base):
        return identifier()
    if isinstance(identifier, str):
        cls = registry.get(identifier.lower())
        if cls is None:
            raise ValueError(f"unknown {kind} {identifier!r}; valid names are {sorted(registry)}")
        return cls()
    raise TypeError(
        f"{kind} must be a name or a {base.__name__}, got {type(identifier).__name__}"
    )
