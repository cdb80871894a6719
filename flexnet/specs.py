"""Config dicts and the ``{"class_name": ..., "config": {...}}`` specs that name classes in them.

Small checks shared by the registry, the model configs and the model files, so that
each reports a malformed config the same way: what was expected, what was found, where.
"""

from __future__ import annotations

__all__ = ["check_custom_objects", "check_keys", "is_spec", "short", "split_spec"]


def short(value) -> str:
    """``repr(value)``, cut to 120 characters for an error message."""
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def is_spec(value) -> bool:
    """Whether ``value`` is exactly ``{"class_name": str, "config": dict}``."""
    return (isinstance(value, dict) and set(value) == {"class_name", "config"}
            and isinstance(value["class_name"], str) and isinstance(value["config"], dict))


def split_spec(spec, what: str, where: str | None = None) -> tuple[str, dict]:
    """``(class_name, config)`` of a spec; ``config`` may be left out (then ``{}``).

    Args:
        spec: the spec to check.
        what: what it describes, for the message (``"loss"``, ``"layer"``, ...).
        where: where it was read, prefixed to the message.

    Raises:
        ValueError: not a dict with a string ``class_name`` and a dict ``config``.
    """
    config = spec.get("config", {}) if isinstance(spec, dict) else None
    if (not isinstance(spec, dict) or set(spec) - {"class_name", "config"}
            or not isinstance(spec.get("class_name"), str) or not isinstance(config, dict)):
        prefix = f"{where}: " if where else ""
        raise ValueError(f"{prefix}a {what} config must be a dict with 'class_name' and 'config' "
                         f"({{'class_name': str, 'config': dict}}), got {short(spec)}")
    return spec["class_name"], config


def check_keys(config: dict, required: set, optional: set, where: str) -> None:
    """Raise ValueError naming the keys of ``config`` that are missing or unknown."""
    missing = sorted(required - set(config))
    unknown = sorted(set(config) - required - optional)
    if missing:
        raise ValueError(f"{where} has no {missing}")
    if unknown:
        raise ValueError(f"{where} has unknown keys {unknown}; it takes {sorted(required | optional)}")


def check_custom_objects(custom_objects) -> dict:
    """``custom_objects`` checked to map class names to classes (``{}`` for None).

    Raises:
        TypeError: anything else.
    """
    if custom_objects is None:
        return {}
    if not isinstance(custom_objects, dict) or not all(
        isinstance(k, str) and isinstance(v, type) for k, v in custom_objects.items()
    ):
        raise TypeError(
            "custom_objects must map class names to classes, e.g. {'MyLayer': MyLayer}, "
            f"got {custom_objects!r:.200}"
        )
    return custom_objects
