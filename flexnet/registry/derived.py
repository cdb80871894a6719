"""Configs of user classes without ``get_config``, read from ``__init__``, and the comparison
that tells whether an object rebuilt from its config is the same.

A class defined outside flexnet that adds constructor arguments but no ``get_config``
gets a config from its ``__init__`` signature: each argument from the base class's
config, else from the attribute of the same name (or with a leading underscore).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

__all__ = ["config_of", "differences", "in_flexnet"]


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING = _Missing()  # a key or attribute that is not there


def in_flexnet(cls: type) -> bool:
    """Whether ``cls`` is one of flexnet's classes (by the module that defines it)."""
    return cls.__module__ == "flexnet" or cls.__module__.startswith("flexnet.")


def config_of(obj, plain: Callable) -> dict:
    """``obj.get_config()``; for a class defined outside flexnet whose ``__init__`` is below
    its ``get_config`` in the MRO, the config read from ``__init__`` (see the module).

    Args:
        obj: the object.
        plain: turns an attribute's value into a config value (flexnet objects into specs).

    Raises:
        TypeError: an ``__init__`` argument that is neither in the base config nor kept.
    """
    cls = type(obj)
    if in_flexnet(cls) or not _init_below_get_config(cls):
        return obj.get_config()
    try:
        base = obj.get_config()
    except NotImplementedError:  # a base class that leaves get_config to subclasses
        base = {}
    named = _init_arguments(cls)
    takes_any = any(p.kind is p.VAR_KEYWORD for p in inspect.signature(cls.__init__).parameters.values())
    config = dict(base) if takes_any else {k: v for k, v in base.items() if k in named}
    for name in named:
        if name in base:
            continue
        attr = _attribute_of(obj, name)
        if attr is None:
            raise TypeError(
                f"cannot serialize {cls.__name__}: its __init__ takes {name!r}, which is not "
                f"in the base class's get_config() and not kept as an attribute; store it as "
                f"self.{name} in __init__ or define get_config()"
            )
        config[name] = plain(getattr(obj, attr))
    return config


def differences(obj, config: dict, rebuilt, again: dict, plain: Callable) -> list[tuple]:
    """``(key, before, after)`` for what changes from ``obj`` (config ``config``) to
    ``rebuilt`` (config ``again``): config entries, and the arguments of a user-written
    ``__init__`` that the config leaves out but ``obj`` keeps as an attribute whose value
    is plain data or a flexnet object."""
    changed = [(k, config.get(k, _MISSING), again.get(k, _MISSING)) for k in config.keys() | again.keys()]
    cls = type(obj)
    for name in [] if in_flexnet(_init_owner(cls)) else _init_arguments(cls):
        attr = _attribute_of(obj, name)
        if name not in config and attr is not None:
            before = plain(getattr(obj, attr))
            if _is_data(before):
                changed.append((name, before, plain(getattr(rebuilt, attr, _MISSING))))
    return sorted(((k, a, b) for k, a, b in changed if not _same(a, b)), key=lambda item: item[0])


def _same(a, b) -> bool:
    """Equal as configs are: lists and tuples alike, arrays compared without raising."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    try:
        return bool(a == b)
    except (TypeError, ValueError):  # e.g. arrays of several elements: no telling
        return True


def _is_data(value) -> bool:
    """Plain data (what a JSON config holds, specs included), whose changes a round trip can tell."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_data(v) for v in value)
    return isinstance(value, dict) and all(isinstance(k, str) and _is_data(v) for k, v in value.items())


def _init_owner(cls: type) -> type:
    """The class of ``cls``'s MRO that defines the ``__init__`` it runs."""
    return next(c for c in cls.__mro__ if "__init__" in vars(c))


def _init_below_get_config(cls: type) -> bool:
    """Whether ``cls`` defines ``__init__`` lower in its MRO than ``get_config``."""
    mro = cls.__mro__
    config = next((i for i, c in enumerate(mro) if "get_config" in vars(c)), len(mro))
    return mro.index(_init_owner(cls)) < config


def _init_arguments(cls: type) -> list[str]:
    """The names of ``cls.__init__``'s arguments, without ``self``, ``*args`` and ``**kwargs``."""
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    return [p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def _attribute_of(obj, name: str) -> str | None:
    """The attribute an argument is kept in: ``name`` or ``_name``; None if neither."""
    return next((a for a in (name, "_" + name) if hasattr(obj, a)), None)
