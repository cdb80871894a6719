"""Generate docs/reference.md from flexnet's docstrings.

    python docs/gen_reference.py           # rewrite docs/reference.md
    python docs/gen_reference.py --check   # exit 1 if docs/reference.md is out of date

Every public name of every public module (its ``__all__``) gets a section with
its signature and its docstring, in the order of the source; each module with a
name table (activations, losses, optimizers, ...) gets a table of the names
that ``compile``, ``Dense(activation=...)`` and friends accept. Docstrings are
Google style with reStructuredText inline markup; this script turns them into
Markdown (``code``, ``Args:`` lists, ``::`` blocks, doctests). Edit the
docstrings, not the generated file; ``tests/test_docs.py`` checks that the file
is up to date.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import importlib
import inspect
import pathlib
import re
import sys

import flexnet as fx

OUTPUT = pathlib.Path(__file__).resolve().parent / "reference.md"

#: (section title, module, how users reach it, name table) in the order of the page.
SECTIONS = [
    ("Backends and dtypes", "flexnet.backend", "fx", None),
    ("Models", "flexnet.models", "fx.models", None),
    ("Layers", "flexnet.layers", "fx.layers", None),
    ("Activations", "flexnet.activations", "fx.activations", "ACTIVATIONS"),
    ("Losses", "flexnet.losses", "fx.losses", "LOSSES"),
    ("Optimizers", "flexnet.optimizers", "fx.optimizers", "OPTIMIZERS"),
    ("Learning-rate schedules", "flexnet.schedules", "fx.schedules", "SCHEDULES"),
    ("Initializers", "flexnet.initializers", "fx.initializers", "INITIALIZERS"),
    ("Regularizers", "flexnet.regularizers", "fx.regularizers", "REGULARIZERS"),
    ("Constraints", "flexnet.constraints", "fx.constraints", "CONSTRAINTS"),
    ("Metrics", "flexnet.metrics", "fx.metrics", "METRICS"),
    ("Callbacks", "flexnet.callbacks", "fx.callbacks", None),
    ("Data", "flexnet.data", "fx.data", None),
    ("Utilities: seeds, one-hot labels", "flexnet.utils", "fx.utils", None),
    ("Random generators", "flexnet.random", "fx.random", None),
    ("Gradient checking", "flexnet.gradcheck", "fx.gradcheck", None),
    ("Saving", "flexnet.saving", "fx.saving", None),
    ("Exporting to ONNX", "flexnet.export", "fx.export", None),
    ("scikit-learn estimators", "flexnet.sklearn", "flexnet.sklearn", None),
    ("Training on several processes (MPI)", "flexnet.distributed", "fx.distributed", None),
    ("Registry", "flexnet.registry", "fx.registry", None),
]

#: Methods documented on a class: its own public methods with their own docstrings, plus these.
DUNDERS = {"__call__"}

SECTION_HEADERS = ("Args", "Arguments", "Returns", "Raises", "Attributes", "Yields", "Example",
                   "Examples", "Note", "Notes", "Shapes")
LIST_SECTIONS = {"Args", "Arguments", "Raises", "Attributes"}


# ---------------------------------------------------------------------------
# Docstrings to Markdown.

_ROLE = re.compile(r":(?:class|func|meth|mod|data|attr|obj|exc):`(~?)([^`]+)`")


def inline(text: str) -> str:
    """reST inline markup to Markdown: ``x`` -> `x`, :class:`~a.B` -> `B`, :func:`a.f` -> `a.f`."""

    def role(match):
        tilde, target = match.groups()
        return f"`{target.rsplit('.', 1)[-1] if tilde else target}`"

    text = _ROLE.sub(role, text)
    return re.sub(r"``(.+?)``", lambda m: "`" + " ".join(m.group(1).split()) + "`", text, flags=re.S)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _fence(lines: list[str], language: str | None = None) -> list[str]:
    code = "\n".join(lines).rstrip()
    code = inspect.cleandoc("\n" + code) if code else code
    if language is None:
        try:
            ast.parse(code)
            language = "python"
        except SyntaxError:
            language = "text"
    return [f"```{language}", *code.splitlines(), "```"]


def _block_end(lines: list[str], start: int, base: int) -> int:
    """The index after an indented block starting at ``start`` (deeper than ``base``)."""
    i = start
    while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > base):
        i += 1
    while i > start and not lines[i - 1].strip():
        i -= 1
    return i


def _list_section(lines: list[str]) -> list[str]:
    """``name: text`` entries (continuations indented deeper) as a Markdown list."""
    nonblank = [line for line in lines if line.strip()]
    if not nonblank:
        return []
    base = min(_indent(line) for line in nonblank)
    items: list[list[str]] = []
    for line in lines:
        if not line.strip():
            if items:
                items[-1].append("")
            continue
        if _indent(line) == base:
            items.append([line.strip()])
        else:
            items[-1].append(line)
    out = []
    for item in items:
        head, rest = item[0], item[1:]
        name, sep, text = head.partition(": ")
        if not sep and head.endswith(":"):
            name, sep, text = head[:-1], ":", ""
        if sep and re.fullmatch(r"[\w*., ]+", name):
            label = ", ".join(f"`{n.strip()}`" for n in name.split(",")) + ":"
        else:
            label, text = "", head
        rest_lines = inspect.cleandoc("\n".join(rest)).splitlines() if any(x.strip() for x in rest) else []
        converted = convert_lines([text, *rest_lines]) if text else convert_lines(rest_lines)
        first = converted[0] if converted and text else ""
        out.append(f"- {label} {first}".rstrip() if label else f"- {first}")
        for line in converted[1:] if text else converted:
            out.append(f"  {line}" if line else "")
        while out and not out[-1]:
            out.pop()
    return out


def convert_lines(lines: list[str]) -> list[str]:
    """Markdown lines for a docstring body (already dedented)."""
    lines = inspect.cleandoc("\n".join(lines)).splitlines() if any(x.strip() for x in lines) else []
    out: list[str] = []
    pending: list[str] = []  # plain lines of the current paragraph, converted together

    def flush():
        if pending:
            out.extend(inline("\n".join(pending)).split("\n"))
            pending.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        header = stripped[:-1] if stripped.endswith(":") else None
        plain = not (
            (header in SECTION_HEADERS and _indent(line) == 0)
            or (re.match(r"^(Example|Examples|Note|Notes):(?::|\s+.*)$", stripped) and _indent(line) == 0)
            or stripped.startswith(">>>")
            or stripped.endswith("::")
        )
        if plain:
            if stripped:
                pending.append(line)
            else:
                flush()
                out.append("")
            i += 1
            continue
        flush()
        if header in SECTION_HEADERS and _indent(line) == 0:
            end = _block_end(lines, i + 1, 0)
            body = lines[i + 1:end]
            out += ["", f"**{header}:**", ""]
            out += _list_section(body) if header in LIST_SECTIONS else convert_lines(body)
            out.append("")
            i = end
            continue
        # "Example: a layer that ...::" and other section headers with text after them.
        match = re.match(r"^(Example|Examples|Note|Notes):(?::|\s+(.*))$", stripped)
        if match and _indent(line) == 0:
            text = inline((match.group(2) or "").rstrip(":"))
            colon = ":" if text and stripped.endswith("::") else ""
            out += ["", f"**{match.group(1)}:** {text}{colon}".rstrip()]
            if stripped.endswith("::"):
                end = _block_end(lines, i + 1, 0)
                out += [""] + _fence(lines[i + 1:end]) + [""]
                i = end
            else:
                i += 1
            continue
        if stripped.startswith(">>>"):
            base = _indent(line)
            end = i
            while end < len(lines) and lines[end].strip() and _indent(lines[end]) >= base:
                end += 1
            out += ["", *_fence([x[base:] for x in lines[i:end]], "pycon"), ""]
            i = end
            continue
        if stripped.endswith("::"):
            text = line[:-2].rstrip()
            out.append(inline(text + ":") if text.strip() else "")
            end = _block_end(lines, i + 1, _indent(line))
            out += ["", *_fence(lines[i + 1:end]), ""]
            i = end
            continue
    flush()
    # collapse runs of blank lines
    collapsed: list[str] = []
    for line in out:
        if line == "" and (not collapsed or collapsed[-1] == ""):
            continue
        collapsed.append(line)
    while collapsed and collapsed[-1] == "":
        collapsed.pop()
    return collapsed


def docstring(obj) -> list[str]:
    doc = inspect.getdoc(obj)
    return convert_lines(doc.splitlines()) if doc else []


def _first_sentence(paragraph: str) -> str:
    match = re.search(r"(?<!e\.g)(?<!i\.e)\.\s+(?=[A-Z(`])", paragraph)
    return paragraph[: match.start() + 1] if match else paragraph


def summary(obj) -> str:
    """A docstring's definition on one line, for the name tables: the first paragraph; its
    ``::`` block (a formula) when it ends with ``::``; the first sentence of the second
    paragraph when the first has no formula (no ``=``) but is only a name and a citation."""
    doc = inspect.getdoc(obj) or ""
    paragraphs = [p for p in doc.split("\n\n") if p.strip()]
    if not paragraphs:
        return ""
    first = " ".join(paragraphs[0].split())
    if first.endswith("::") and len(paragraphs) > 1:
        parts = [part for line in paragraphs[1].splitlines() for part in re.split(r"\s{2,}", line.strip())]
        block = ""
        for part in (" ".join(part.split()) for part in parts if part):
            block += part if not block else (" " if block.endswith(",") else "; ") + part
        text = f"{first[:-1]} ``{block}``"
    elif "=" not in first and len(paragraphs) > 1 and paragraphs[1].split(":")[0] not in SECTION_HEADERS:
        text = f"{first} {_first_sentence(' '.join(paragraphs[1].split()))}"
    else:
        text = first
    return inline(text).replace("|", "\\|")


# ---------------------------------------------------------------------------
# Signatures.


def signature(obj, name: str) -> str:
    target = obj
    if inspect.isclass(obj) and obj.__init__ is not object.__init__:
        target = obj.__init__  # not __new__ (Model has one that takes *args, **kwargs)
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):
        return f"{name}(...)"
    params = []
    for p in sig.parameters.values():
        if p.name in ("self", "cls"):
            continue
        params.append(p.replace(annotation=inspect.Parameter.empty))
    sig = sig.replace(parameters=params, return_annotation=inspect.Signature.empty)
    return f"{name}{sig}"


def _line(obj) -> int:
    try:
        return inspect.getsourcelines(obj)[1]
    except (OSError, TypeError):
        return 10**9


#: Reading order of the modules of a package (the rest sort after, by name).
SUBMODULES = [
    "flexnet.models.model", "flexnet.models.sequential", "flexnet.models.functional",
    "flexnet.layers.base", "flexnet.layers.core", "flexnet.layers.activation", "flexnet.layers.normalization",
    "flexnet.layers.input_layer", "flexnet.layers.merging", "flexnet.layers.node",
    "flexnet.activations.base", "flexnet.activations.elementwise", "flexnet.activations.rectifiers",
    "flexnet.activations.gaussian", "flexnet.activations.rowwise",
    "flexnet.losses.base", "flexnet.losses.regression", "flexnet.losses.crossentropy",
    "flexnet.losses.focal", "flexnet.losses.classification",
    "flexnet.metrics.base", "flexnet.metrics.accuracy", "flexnet.metrics.regression",
    "flexnet.metrics.confusion", "flexnet.metrics.fscore",
    "flexnet.initializers.base", "flexnet.initializers.constant", "flexnet.initializers.distributions",
    "flexnet.optimizers.base", "flexnet.optimizers.sgd", "flexnet.optimizers.adaptive",
    "flexnet.optimizers.adam", "flexnet.optimizers.adamax", "flexnet.optimizers.lion",
    "flexnet.optimizers.ftrl",
    "flexnet.schedules.base", "flexnet.schedules.decay", "flexnet.schedules.per_epoch",
    "flexnet.callbacks.base", "flexnet.callbacks.history", "flexnet.callbacks.progress",
    "flexnet.callbacks.monitor", "flexnet.callbacks.checkpoint", "flexnet.callbacks.learning_rate",
    "flexnet.callbacks.logs",
    "flexnet.registry.kinds", "flexnet.registry.user",
]


def _module_order(obj) -> tuple[int, str]:
    module = getattr(obj, "__module__", "") or ""
    return (SUBMODULES.index(module) if module in SUBMODULES else len(SUBMODULES), module)


def public_objects(module) -> list[tuple[str, object]]:
    """The classes and functions of ``module.__all__``, in source order."""
    found = []
    for name in getattr(module, "__all__", []):
        obj = getattr(module, name, None)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue  # instances (fx.activations.relu), tables and constants
        if obj.__name__ != name:  # an alias, e.g. Standardizer = StandardScaler
            continue
        found.append((name, obj))
    return sorted(found, key=lambda item: (_module_order(item[1]), _line(item[1])))


def aliases(module) -> dict[str, list[str]]:
    """``{name: [alias, ...]}`` for names of ``__all__`` bound to another public name's object."""
    out: dict[str, list[str]] = {}
    for name in getattr(module, "__all__", []):
        obj = getattr(module, name, None)
        if (inspect.isclass(obj) or inspect.isfunction(obj)) and obj.__name__ != name:
            out.setdefault(obj.__name__, []).append(name)
    return out


def _has_section(cls) -> bool:
    """Whether a class has a section of its own: it is public in a module of the page."""
    for _, module_name, _, _ in SECTIONS:
        module = importlib.import_module(module_name)
        if any(getattr(module, name, None) is cls for name in getattr(module, "__all__", [])):
            return True
    return False


def members(cls) -> list[tuple[str, object, str]]:
    """``(name, function or property, kind)`` of the methods a class documents itself, then
    those of its mixins (bases without a section of their own, e.g. ``LayerLike`` of
    ``Model``), each in the order the class defines them."""
    out, seen = [], set()
    for owner in cls.__mro__:
        # not the standard library's abstract bases (collections.abc.Mapping under Kind): they
        # document themselves, and an import may change their docstrings (keras sets
        # Mapping.get's), which made this page depend on what the process imported
        if owner is not cls and (owner.__module__ in ("builtins", "abc", "collections.abc")
                                 or _has_section(owner)):
            break
        own = []
        for name, value in owner.__dict__.items():
            if name in seen or (name.startswith("_") and name not in DUNDERS):
                continue
            seen.add(name)
            if isinstance(value, (staticmethod, classmethod)):
                value = value.__func__
            if isinstance(value, property):
                if value.fget is not None and value.fget.__doc__:
                    own.append((name, value.fget, "property"))
            elif inspect.isfunction(value) and value.__doc__:
                own.append((name, value, "method"))
        out += own
    return out


# ---------------------------------------------------------------------------
# The page.


def anchor(text: str) -> str:
    """GitHub's anchor for a heading."""
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def name_table(module, table_name: str, prefix: str) -> list[str]:
    table = getattr(module, table_name)
    names: dict[type, list[str]] = {}
    for key, cls in table.items():
        names.setdefault(cls, []).append(key)
    out = ["| names | class | definition |", "|---|---|---|"]
    for cls, keys in sorted(names.items(), key=lambda item: (_module_order(item[0]), _line(item[0]))):
        key_text = ", ".join(f"`{k}`" for k in keys)
        out.append(f"| {key_text} | [`{cls.__name__}`](#{anchor(f'{prefix}.{cls.__name__}')}) "
                   f"| {summary(cls)} |")
    if table_name == "METRICS":  # resolved from the loss by fx.metrics.get, not a table entry
        out.append("| `accuracy`, `acc` | | binary, categorical or sparse categorical accuracy, chosen "
                   "from the loss |")
    return out


def render_object(prefix: str, name: str, obj, alias_names: list[str]) -> list[str]:
    title = f"{prefix}.{name}"
    out = [f"### {title}", ""]
    out += ["```python", signature(obj, name), "```", ""]
    if alias_names:
        out += [f"Also available as {', '.join(f'`{prefix}.{a}`' for a in alias_names)}.", ""]
    if inspect.isclass(obj):
        bases = [b for b in obj.__bases__ if b is not object and not b.__name__.startswith("_")
                 and b.__module__.startswith("flexnet")]
        if bases:
            out += ["Subclass of " + ", ".join(f"`{b.__name__}`" for b in bases) + ".", ""]
    body = docstring(obj)
    out += (body if body else ["*(no docstring)*"]) + [""]
    if inspect.isclass(obj):
        for member, function, kind in members(obj):
            label = f"{name}.{member}"
            out += [f"#### {label}", ""]
            if kind == "property":
                out += [f"Property `{member}`.", ""]
            else:
                out += ["```python", signature(function, member), "```", ""]
            out += docstring(function) + [""]
    return out


def _documented_in(obj, name: str, here: str) -> str | None:
    """The prefix of another section that documents ``obj`` as ``name`` (its home module's
    section, when that one exports it), or None: then it is documented here."""
    home = obj.__module__
    for _, module_name, prefix, _ in SECTIONS:
        if prefix == here or not (home == module_name or home.startswith(module_name + ".")):
            continue
        module = importlib.import_module(module_name)
        if name in getattr(module, "__all__", []) and getattr(module, name, None) is obj:
            return prefix
    return None


def render() -> str:
    lines = [
        "# Reference",
        "",
        "<!-- Generated by `python docs/gen_reference.py` from the docstrings: edit those, "
        "then run it again. -->",
        "",
        "Every public class and function of flexnet, module by module, with its signature and "
        "docstring (formulas included), generated from the source by "
        "[`docs/gen_reference.py`](gen_reference.py). `fx` is `import flexnet as fx`; the "
        "[guide](index.md) explains how the pieces fit together.",
        "",
        "## Contents",
        "",
    ]
    for title, _, prefix, _ in SECTIONS:
        lines.append(f"- [{title}](#{anchor(title)}) (`{prefix}`)")
    lines.append("")
    for title, module_name, prefix, table in SECTIONS:
        module = importlib.import_module(module_name)
        lines += [f"## {title}", ""]
        lines += docstring(module) + [""]
        if prefix == "fx" and module_name == "flexnet.backend":
            lines += ["These are also reached as `fx.set_backend`, `fx.get_backend`, `fx.set_floatx`, "
                      "`fx.floatx` and `fx.Backend`.", ""]
        if table:
            lines += ["Names accepted wherever a name is (case-insensitive):", ""]
            lines += name_table(module, table, prefix) + [""]
        alias_map = aliases(module)
        for name, obj in public_objects(module):
            other = _documented_in(obj, name, prefix)
            if other is not None:
                lines += [f"### {prefix}.{name}", "", f"The same as [`{other}.{name}`]"
                          f"(#{anchor(f'{other}.{name}')}).", ""]
                continue
            lines += render_object(prefix, name, obj, alias_map.get(name, []))
    text = "\n".join(lines)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.rstrip() + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the file is out of date")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if current != text:
            diff = difflib.unified_diff(current.splitlines(), text.splitlines(), "docs/reference.md",
                                        "generated", lineterm="", n=1)
            print("\n".join(list(diff)[:60]))
            print("docs/reference.md is out of date: run python docs/gen_reference.py")
            return 1
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT} ({len(text.splitlines())} lines, flexnet {fx.__version__})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
