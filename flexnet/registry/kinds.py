"""The kinds: :class:`Kind`, made by each base class, and the lookups across kinds.

A kind holds its classes by name and turns names, classes, instances and configs into
objects and back; :func:`kind_of` finds the kind of a class from its base class.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from flexnet.registry.derived import config_of, differences, in_flexnet
from flexnet.specs import check_custom_objects, is_spec, short, split_spec

__all__ = ["Kind", "all_kinds", "deserialize", "get_registered_name", "get_registered_object", "kind",
           "kind_of", "kind_of_key", "kinds_text", "loose", "serialize"]

#: Kind name -> kind, in the order the base classes made them.
_KINDS: dict[str, Kind] = {}


def loose(name: str) -> str:
    """The default spelling rule: ``"MeanSquaredError"``, ``"mean_squared_error"`` ->
    ``"meansquarederror"``."""
    return name.replace("_", "").lower()


def _a(word: str) -> str:
    return f"an {word}" if word[:1].lower() in "aeiou" else f"a {word}"


class _UnknownName(ValueError):
    """No class answers to a name (a ValueError; the round-trip check tells it apart)."""


class Kind(Mapping):
    """The classes of one base class, by name: a read-only mapping ``name -> class``.

    Its names are those the built-in classes register with :meth:`register`, then
    those added with :meth:`add` (a user name may replace a built-in one; removing it
    brings the built-in back). User classes registered for configs with
    :func:`register_serializable` are found by their registered name and class name
    too, but are not listed.

    Args:
        name: the kind's name, used in messages (``"loss"``, ``"layer"``, ...).
        base: the base class (or classes) every member subclasses.
        normalize: the spelling rule for lookups; by default (:func:`loose`) case and
            underscores do not matter.
        aliases: extra spellings that lookups accept and the mapping does not list,
            ``{alias: name}`` (e.g. Keras 3's ``"IdentityInitializer"``).
        special_names: names the kind's module resolves itself (``"accuracy"``), listed
            among the valid names in messages.

    Example:
        >>> import flexnet as fx
        >>> fx.losses.LOSSES.find("MSE") is fx.losses.MeanSquaredError
        True
        >>> fx.losses.LOSSES.serialize(fx.losses.Huber(delta=2.0))["config"]["delta"]
        2.0
        >>> fx.losses.LOSSES["mae"].__name__
        'MeanAbsoluteError'
    """

    def __init__(self, name: str, base: type | tuple[type, ...], *,
                 normalize: Callable[[str], str] | None = None, aliases: dict[str, str] | None = None,
                 special_names: tuple[str, ...] = ()):
        self.name = name
        self.bases = tuple(base) if isinstance(base, tuple) else (base,)
        self.normalize = normalize or loose
        self.aliases = {self.normalize(k): v for k, v in (aliases or {}).items()}
        self.special_names = tuple(special_names)
        self._builtin: dict[str, type] = {}  # names registered by flexnet's classes
        self._user: dict[str, type] = {}  # names added with add()
        #: Config name -> user class, kept by :func:`~flexnet.registry.register_serializable`.
        self.registered: dict[str, type] = {}
        _KINDS[name] = self

    # -- the mapping ------------------------------------------------------------------------
    def __getitem__(self, name: str) -> type:
        return self._user[name] if name in self._user else self._builtin[name]

    def __iter__(self) -> Iterator[str]:
        yield from self._builtin
        yield from (k for k in self._user if k not in self._builtin)

    def __len__(self) -> int:
        return len(self._builtin.keys() | self._user.keys())

    def __repr__(self) -> str:
        return f"<Kind {self.name!r}: {len(self)} names>"

    # -- registration -------------------------------------------------------------------------
    def register(self, *names: str) -> Callable[[type], type]:
        """A class decorator that gives a built-in class its names (default: its class name).

        Raises:
            TypeError: the class is not of this kind.
            ValueError: a name already names another class.
        """

        def decorate(cls: type) -> type:
            self._check_member(cls)
            for name in names or (cls.__name__,):
                other = self.builtin_class(name)
                if other is not None and other is not cls:
                    raise ValueError(f"{self.name} name {name!r} already names {other.__name__}")
                self._builtin[name] = cls
            return cls

        return decorate

    def add_base(self, base: type) -> None:
        """Accept subclasses of ``base`` too (models join the layers this way)."""
        if base not in self.bases:
            self.bases = (*self.bases, base)

    def add(self, name: str, cls: type, *, overwrite: bool = False) -> None:
        """Add a user name for ``cls``; listed by the mapping until :meth:`remove`.

        Raises:
            ValueError: a bad name, or one in use and ``overwrite`` is False.
            TypeError: ``cls`` is not of this kind.
        """
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"{_a(self.name)} name must be a non-empty string, got {name!r}")
        self._check_member(cls)
        key = self.normalize(name)
        user = [k for k in self._user if self.normalize(k) == key]
        builtin = [k for k in self._builtin if self.normalize(k) == key]
        if (user or builtin) and not overwrite:
            what = "a built-in" if builtin else "an already registered"
            raise ValueError(f"{name!r} is {what} {self.name}; pass overwrite=True to replace it")
        for k in user:
            del self._user[k]
        self._user[builtin[0] if builtin else name] = cls

    def remove(self, name: str) -> None:
        """Remove a name added with :meth:`add` (a replaced built-in name comes back).

        Raises:
            ValueError: the name was not added, or is a built-in name not replaced.
        """
        key = self.normalize(name) if isinstance(name, str) else None
        user = [k for k in self._user if self.normalize(k) == key]
        if not user:
            if any(self.normalize(k) == key for k in self._builtin):
                raise ValueError(f"{name!r} is a built-in {self.name}; it cannot be unregistered")
            raise ValueError(f"{self.name} {name!r} is not registered")
        for k in user:
            del self._user[k]

    # -- lookups --------------------------------------------------------------------------------
    def find(self, name: str, custom_objects: dict | None = None) -> type | None:
        """The class ``name`` names, or None.

        In order: ``custom_objects`` (by key, class name or the class's own ``name``
        attribute), classes registered with :func:`register_serializable` (the same),
        then this kind's names and class names and aliases, compared with
        :attr:`normalize`.
        """
        if not isinstance(name, str):
            return None
        cls = self._find_exact(name, custom_objects or {})
        if cls is not None:
            return cls
        wanted = self.normalize(name)
        for table in (self._user, self._builtin):
            cls = next((c for k, c in table.items() if self.normalize(k) == wanted), None)
            if cls is not None:
                return cls
        cls = next((c for c in self.values() if self.normalize(c.__name__) == wanted), None)
        if cls is None and wanted in self.aliases:
            cls = self.find(self.aliases[wanted])
        return cls

    def lookup(self, name: str, custom_objects: dict | None = None, where: str | None = None, *,
               class_name: bool = False) -> type:
        """The class ``name`` names (see :meth:`find`).

        Args:
            name: the name.
            custom_objects: class name -> class, for user classes not registered.
            where: where the name was read, prefixed to the message.
            class_name: the name is a config's ``class_name`` (the message then lists
                class names and says how to make a user class known).

        Raises:
            ValueError: no class answers to ``name``; the message lists the valid names.
        """
        cls = self.find(name, custom_objects)
        if cls is not None:
            return cls
        prefix = f"{where}: " if where else ""
        if not class_name:
            valid = sorted([*self, *self.special_names])
            raise _UnknownName(f"{prefix}unknown {self.name} {name!r}; valid names are {valid}")
        known = sorted({c.__name__ for c in self._builtin.values()})
        registered = f", registered: {sorted(self.registered)}" if self.registered else ""
        raise _UnknownName(
            f"{prefix}unknown {self.name} class {name!r}; flexnet's are {known}{registered}; "
            f"register yours with fx.saving.register_serializable or pass "
            f"custom_objects={{{name!r}: cls}}"
        )

    def builtin_class(self, name: str) -> type | None:
        """The built-in class ``name`` names (by a name or its class name), or None."""
        wanted = self.normalize(name)
        for key, cls in self._builtin.items():
            if wanted in (self.normalize(key), self.normalize(cls.__name__)):
                return cls
        return None

    def names_of(self, cls: type) -> list[str]:
        """The names that lead to ``cls``: its listed names, then its registered names."""
        listed = [k for k in self if self[k] is cls]
        return listed + [k for k, c in self.registered.items() if c is cls]

    # -- objects and configs ----------------------------------------------------------------------
    def resolve(self, identifier):
        """An instance from a name, a config dict, a class or an instance (returned as is):
        what the kind's module's ``get`` does (``fx.losses.get``). (The mapping's own
        ``get(name, default)`` returns a class, as a dict's does.)

        Raises:
            ValueError: an unknown name, listing the valid ones; a malformed config.
            TypeError: anything else, or a config the class does not take.
        """
        if isinstance(identifier, self.bases):
            return identifier
        if isinstance(identifier, type) and issubclass(identifier, self.bases):
            return identifier()
        if isinstance(identifier, str):
            return self.lookup(identifier)()
        if isinstance(identifier, dict):
            return self.deserialize(identifier)
        raise TypeError(f"{self.name} must be a name, a config dict or {_a(self._base_names)}, "
                        f"got {type(identifier).__name__}")

    def serialize(self, obj) -> dict:
        """``{"class_name": <registered or class name>, "config": <its constructor arguments>}``.

        The config is ``obj.get_config()``, or for a class defined outside flexnet that
        adds constructor arguments without a ``get_config``, one read from its
        ``__init__``; such classes are rebuilt from it to check that it loads again.

        Raises:
            TypeError: ``obj`` is not of this kind, or its config does not rebuild it.
        """
        if not isinstance(obj, self.bases):
            raise TypeError(f"serialize() needs {_a(self._base_names)}, got {type(obj).__name__}")
        cls = type(obj)
        spec = {"class_name": get_registered_name(cls), "config": config_of(obj, _plain)}
        if not in_flexnet(cls):
            self._check_round_trip(obj, spec["config"])
        return spec

    def deserialize(self, spec, custom_objects: dict | None = None, where: str | None = None):
        """An instance from :meth:`serialize`'s dict (its ``config`` may be left out).

        ``class_name`` may be any name :meth:`find` knows. Config values that name user
        classes (registered, or in ``custom_objects``) are made first and passed as objects.

        Args:
            spec: ``{"class_name": ..., "config": {...}}``.
            custom_objects: class name -> class, for user classes not registered.
            where: where the config was read (a file): prefixed to messages, and a config
                the class refuses is then a ValueError (bad data) rather than a TypeError.

        Raises:
            ValueError: a malformed dict or an unknown class name.
            TypeError: a config the class does not take (without ``where``).
        """
        custom_objects = check_custom_objects(custom_objects)
        name, config = split_spec(spec, self.name, where)
        cls = self.lookup(name, custom_objects, where, class_name=True)
        return self._build(cls, config, custom_objects, where)

    # -- helpers ----------------------------------------------------------------------------------
    @property
    def _base_names(self) -> str:
        return " or ".join(b.__name__ for b in self.bases)

    def _accepts(self, cls) -> bool:
        return isinstance(cls, type) and issubclass(cls, self.bases)

    def _check_member(self, cls) -> None:
        if not self._accepts(cls):
            raise TypeError(f"{_a(self.name)} class must subclass {self._base_names}, got {cls!r}")

    def _find_exact(self, name: str, custom_objects: dict) -> type | None:
        """A user class (``custom_objects`` first, then registered) answering to ``name``."""
        for tables in (custom_objects, self.registered):
            for key, cls in tables.items():
                if self._accepts(cls) and name in (key, cls.__name__, vars(cls).get("name")):
                    return cls
        return None

    def _build(self, cls: type, config: dict, custom_objects: dict | None = None, where: str | None = None):
        """``cls.from_config(config)`` (or ``cls(**config)``), user classes in it made first."""
        config = _make_user_values(config, custom_objects or {}, where)
        make = getattr(cls, "from_config", None)
        try:
            return make(config) if make is not None else cls(**config)
        except (TypeError, ValueError) as exc:
            if where is not None:
                raise ValueError(f"{where}: cannot rebuild {cls.__name__} from its config: {exc}") from None
            if isinstance(exc, ValueError):
                raise
            raise TypeError(f"{self.name} {cls.__name__!r} does not take config {short(config)}: "
                            f"{exc}") from None

    def _check_round_trip(self, obj, config: dict) -> None:
        """Refuse a config that does not rebuild ``obj``: the rebuilt object must give the same
        config, and keep the value of each argument of a user-written ``__init__`` that the
        config leaves out but ``obj`` keeps as an attribute (plain data or a flexnet object)."""
        cls = type(obj)
        try:
            rebuilt = self._build(cls, dict(config))
        except _UnknownName:
            return  # it names a class that is not registered: that one loads with custom_objects
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"cannot serialize {cls.__name__}: rebuilding it from the config it writes fails "
                f"({exc}); define get_config() returning its constructor arguments (and "
                "from_config() if __init__ does not take them as they are)"
            ) from None
        changed = differences(obj, config, rebuilt, config_of(rebuilt, _plain), _plain)
        if changed:
            text = "; ".join(f"{k}: {short(a)} comes back as {short(b)}" for k, a, b in changed)
            raise TypeError(
                f"cannot serialize {cls.__name__}: {[k for k, _, _ in changed]} do not survive a "
                f"round trip through from_config ({text}); make {cls.__name__}.get_config() "
                "return them as __init__ takes them"
            )


def _plain(value):
    """A value for a derived config: flexnet objects (in lists too) as their specs."""
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    return serialize(value) if kind_of(type(value)) is not None else value


def _make_user_values(config: dict, custom_objects: dict, where: str | None) -> dict:
    """Config values naming user classes (registered, or in ``custom_objects``) made into
    objects; flexnet's own are left to the constructors, which read configs. A string under
    a key that ends with a kind's name (``"activation"``) may name a custom class too."""
    out = {}
    for key, value in config.items():
        by_key = kind_of_key(key)
        if is_spec(value):
            name, args = value["class_name"], value["config"]
            cls = get_registered_object(name, custom_objects)
            if cls is None and by_key is not None:
                cls = by_key._find_exact(name, custom_objects)
        elif isinstance(value, str) and by_key is not None and custom_objects:
            name, args, cls = value, {}, by_key._find_exact(value, custom_objects)
        else:
            cls = None
        owner = None if cls is None else kind_of(cls)
        if owner is not None:
            value = owner._build(cls, args, custom_objects, f"{where}, {key}" if where else None)
        out[key] = value
    return out


# ---------------------------------------------------------------------------
# The kinds.


def kind(name: str) -> Kind:
    """The kind called ``name`` (``"loss"``, ``"layer"``, ...).

    Raises:
        ValueError: no such kind.
    """
    if name not in _KINDS:
        raise ValueError(f"unknown kind {name!r}; the kinds are {sorted(_KINDS)}")
    return _KINDS[name]


def kind_of(cls: type) -> Kind | None:
    """The kind whose base class ``cls`` subclasses, or None."""
    return next((k for k in _KINDS.values() if k._accepts(cls)), None)


def kind_of_key(key: str) -> Kind | None:
    """The kind a config key holds by its ending (``"kernel_initializer"``: initializer)."""
    return next((k for k in _KINDS.values() if key.endswith(k.name)), None)


def serialize(obj) -> dict:
    """``{"class_name": ..., "config": ...}`` for an object of any kind (see :meth:`Kind.serialize`).

    Raises:
        TypeError: ``obj`` is of no kind, or its config does not rebuild it.
    """
    owner = kind_of(type(obj))
    if owner is None:
        raise TypeError(f"serialize() takes an object of a named kind ({kinds_text()}), got "
                        f"{type(obj).__name__}")
    return owner.serialize(obj)


def deserialize(kind_name: str, spec, custom_objects: dict | None = None, where: str | None = None):
    """An object of kind ``kind_name`` from a ``{"class_name", "config"}`` dict (see
    :meth:`Kind.deserialize`)."""
    return kind(kind_name).deserialize(spec, custom_objects, where)


def all_kinds() -> list[Kind]:
    """Every kind, in the order the base classes made them."""
    return list(_KINDS.values())


def kinds_text() -> str:
    """``"activation (subclass of ActivationFunction), ..."`` for messages."""
    return ", ".join(f"{k.name} (subclass of {k._base_names})" for k in _KINDS.values())


def get_registered_name(cls: type) -> str:
    """The name configs use for ``cls``: its registered name, else its class name."""
    for k in _KINDS.values():
        for key, value in k.registered.items():
            if value is cls:
                return key
    return cls.__name__


def get_registered_object(name: str, custom_objects: dict | None = None, base: type | None = None):
    """The user class a config's ``class_name`` names, in ``custom_objects`` (by key) or among
    the registered classes (by registered name or class name), of type ``base`` if given;
    None if none."""
    candidates = [custom_objects[name]] if custom_objects and name in custom_objects else []
    for k in _KINDS.values():
        candidates += [c for key, c in k.registered.items() if name in (key, c.__name__)]
    return next((c for c in candidates if base is None or issubclass(c, base)), None)
