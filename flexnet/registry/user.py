"""User classes of any kind: :func:`register_serializable` and its kin.

A registered class is found by its registered name (and class name) wherever its kind
looks names up, configs and files included; the kind comes from its base class.
"""

from __future__ import annotations

from flexnet.registry.kinds import all_kinds, kind_of, kinds_text

__all__ = ["register_keras_serializable", "register_serializable", "unregister_serializable"]


def _same_definition(a: type, b: type) -> bool:
    """The same class defined again (a re-run notebook cell, a reloaded module)."""
    return (a.__module__, a.__qualname__) == (b.__module__, b.__qualname__)


def register_serializable(cls=None, *, name: str | None = None):
    """Register a user class so that configs and files naming it load; usable as a decorator.

    The kind (layer, activation, loss, optimizer, schedule, initializer, regularizer,
    constraint, metric, callback) is found from the base class. The class should have
    ``get_config()`` returning its constructor arguments (and may override
    ``from_config``); without one, its config is read from its ``__init__`` (see
    :meth:`Kind.serialize`).

    Args:
        cls: the class (omit it to get a decorator, e.g. ``@register_serializable(name="X")``).
        name: the name configs use; default the class name.

    Returns:
        the class (or, without ``cls``, a decorator).

    Raises:
        TypeError: not a class of a named kind.
        ValueError: the name is a built-in class's or already names another class.

    Example:
        >>> import flexnet as fx
        >>> @fx.saving.register_serializable
        ... class TimesFactor(fx.layers.Layer):
        ...     def __init__(self, factor=2.0, **kwargs):
        ...         super().__init__(**kwargs)
        ...         self.factor = factor
        ...     def forward(self, X, training=False):
        ...         return X * self.factor
        ...     def backward(self, dY):
        ...         return dY * self.factor
        ...     def get_config(self):
        ...         return {**super().get_config(), "factor": self.factor}
        >>> fx.saving.get_registered_object("TimesFactor") is TimesFactor
        True
        >>> fx.registry.serialize(TimesFactor(3.0, name="times"))
        {'class_name': 'TimesFactor', 'config': {'name': 'times', 'trainable': True, 'factor': 3.0}}
        >>> fx.saving.unregister_serializable(TimesFactor)
    """

    def register(obj):
        if not isinstance(obj, type):
            raise TypeError(f"register_serializable takes a class, got {type(obj).__name__}")
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(f"name must be a non-empty string, got {name!r}")
        owner = kind_of(obj)
        if owner is None:
            raise TypeError(f"register_serializable takes a class of a named kind: {kinds_text()}; "
                            f"got {obj!r}")
        key = name or obj.__name__
        builtin = owner.builtin_class(key)
        if builtin is not None and builtin is not obj:
            raise ValueError(f"{key!r} names a built-in {owner.name} class ({builtin.__name__}); "
                             "register yours under another name: register_serializable(cls, name=...)")
        for k in all_kinds():
            existing = k.registered.get(key)
            if existing is not None and existing is not obj and not _same_definition(existing, obj):
                raise ValueError(f"{key!r} is already registered to {existing!r}; call "
                                 "unregister_serializable first to replace it")
            k.registered.pop(key, None)
        owner.registered[key] = obj
        return obj

    return register if cls is None else register(cls)


def register_keras_serializable(package: str = "Custom", name: str | None = None):
    """Keras's spelling of :func:`register_serializable`: ``@register_keras_serializable()``.

    ``package`` is accepted for compatibility and not used: flexnet's names are global.
    """
    if isinstance(package, type):  # used without parentheses
        return register_serializable(package, name=name)
    return register_serializable(name=name)


def unregister_serializable(cls_or_name) -> None:
    """Forget a class (or name) registered by :func:`register_serializable`.

    Raises:
        ValueError: nothing is registered under it.
    """
    found = False
    for k in all_kinds():
        for key in [key for key, c in k.registered.items() if cls_or_name in (key, c)]:
            del k.registered[key]
            found = True
    if not found:
        raise ValueError(f"{cls_or_name!r} is not registered")
