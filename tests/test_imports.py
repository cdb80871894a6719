"""flexnet's modules import each other without a cycle, and none is longer than about 500 lines.

The graph has an edge from a module to each flexnet module it imports, at module level
and inside functions. An import inside a function is the one way a module may reach a
module that sits above it; each must be listed in ``LAZY`` with its reason, and only
those are left out of the cycle check. Importing ``a.b.c`` runs the packages ``a`` and
``a.b`` first, but the edge goes to the module named: ``flexnet/__init__.py`` imports
every module, so counting the packages a module sits in would make everything a cycle.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent / "flexnet"
MAX_LINES = 520

#: (importer, imported) -> why the import is inside a function.
LAZY = {
    ("flexnet.models.model", "flexnet.models.functional"):
        "Model(inputs=..., outputs=...) builds a Functional, a subclass of Model defined in a module "
        "that imports model.py",
    ("flexnet.models.model", "flexnet.io.model_files"):
        "Model.save, save_weights and load_weights: the model files sit above the models",
    ("flexnet.training.runner", "flexnet.training.numpy_step"):
        "the fused NumPy step imports the layers, losses and kernels it specializes; loaded for "
        "NumPy models only",
    ("flexnet.training.runner", "flexnet.training.jax_runner"):
        "JAX is optional: its compiled runner (which imports jax) is loaded for jax models only",
    ("flexnet.models", "flexnet.io.model_files"):
        "fx.models.load_model and save_model: the model files sit above the models",
    ("flexnet.utils", "flexnet.data"):
        "fx.utils.to_categorical (Keras's name) is flexnet.data's, and data draws its seeds "
        "from utils",
    ("flexnet.distributed.communicator", "flexnet.distributed.mpi"):
        "MPI is optional: mpi4py is imported only when the process was started by an MPI launcher",
    ("flexnet.models.model", "flexnet.io.onnx_export"):
        "Model.export (Keras's name for writing ONNX): the exporters sit above the models",
}

#: module -> why it may be longer than MAX_LINES.
LONG: dict[str, str] = {}


def _module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _imports(name: str) -> list[tuple[str, bool, int]]:
    """``(imported module, inside a function, line)`` for each flexnet import of ``name``."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []

    def target(module: str, member: str | None) -> str | None:
        if member is not None and f"{module}.{member}" in MODULES:
            return f"{module}.{member}"
        return module if module in MODULES else None

    def visit(node, in_function: bool):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append((target(alias.name, None), in_function, node.lineno))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            for alias in node.names:
                found.append((target(base, alias.name), in_function, node.lineno))
        inner = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(ast.parse(path.read_text(encoding="utf-8"), str(path)), False)
    return [(module, lazy, line) for module, lazy, line in found if module is not None and module != name]


GRAPH = {name: _imports(name) for name in MODULES}


def test_the_graph_sees_the_modules_and_their_imports():
    assert "flexnet.registry.kinds" in MODULES and "flexnet.optimizers" in MODULES
    assert ("flexnet.specs", False) in {(m, lazy) for m, lazy, _ in GRAPH["flexnet.registry.kinds"]}
    assert ("flexnet.io.model_files", True) in {(m, lazy) for m, lazy, _ in GRAPH["flexnet.models"]}


def test_every_import_inside_a_function_is_listed_with_its_reason():
    lazy = {(name, module): line for name, edges in GRAPH.items() for module, inside, line in edges if inside}
    unlisted = sorted(f"{MODULES[a].relative_to(ROOT.parent)}:{line} imports {b} inside a function"
                      for (a, b), line in lazy.items() if (a, b) not in LAZY)
    assert not unlisted, ("import at module level, or list the import in LAZY with the reason it "
                          "cannot be:\n" + "\n".join(unlisted))
    stale = sorted(set(LAZY) - set(lazy))
    assert not stale, f"LAZY lists imports that are gone: {stale}"


def test_no_import_cycle():
    edges = {name: sorted({m for m, inside, _ in imports if not inside or (name, m) not in LAZY})
             for name, imports in GRAPH.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(name: str):
        state[name] = 1
        path.append(name)
        for module in edges[name]:
            if state.get(module) == 1:
                cycle = path[path.index(module):] + [module]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if module not in state:
                visit(module)
        path.pop()
        state[name] = 2

    for name in sorted(edges):
        if name not in state:
            visit(name)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_is_longer_than_about_500_lines(name):
    lines = len(MODULES[name].read_text(encoding="utf-8").splitlines())
    if name in LONG:
        assert lines > MAX_LINES, f"{name} is {lines} lines now: remove it from LONG"
        pytest.skip(f"{name}: {LONG[name]}")
    assert lines <= MAX_LINES, f"{name} is {lines} lines; split it (one family a module)"


#: The layers of the package, bottom first: a module imports only from its own layer or
#: those below it (lazy imports listed in LAZY excepted). docs/architecture.md draws this.
LAYERING = [
    ("base", ["flexnet.version", "flexnet.transfer", "flexnet.ops", "flexnet.specs", "flexnet.registry",
              "flexnet.utils"]),
    ("backend", ["flexnet.backend", "flexnet.random"]),
    ("components", ["flexnet.activations", "flexnet.initializers",
                    "flexnet.regularizers", "flexnet.constraints", "flexnet.schedules"]),
    ("blocks", ["flexnet.layers", "flexnet.losses", "flexnet.metrics", "flexnet.optimizers",
                "flexnet.data", "flexnet.callbacks", "flexnet.summary", "flexnet.gradcheck"]),
    ("distributed", ["flexnet.distributed"]),
    ("training", ["flexnet.training"]),
    ("models", ["flexnet.models"]),
    ("io", ["flexnet.io", "flexnet.saving", "flexnet.export"]),
    ("integrations", ["flexnet.sklearn"]),
    ("package", ["flexnet"]),
]


def _layer_of(name: str) -> int:
    best = None
    for rank, (_, prefixes) in enumerate(LAYERING):
        for prefix in prefixes:
            if name == prefix or name.startswith(prefix + "."):
                if best is None or len(prefix) > best[1]:
                    best = (rank, len(prefix))
    assert best is not None, f"{name} is in no layer of LAYERING: add it"
    return best[0]


def test_every_import_points_down_the_layers():
    upward = []
    for name, imports in GRAPH.items():
        for module, inside, line in imports:
            if inside and (name, module) in LAZY:
                continue
            low, high = _layer_of(name), _layer_of(module)
            if high > low:
                upward.append(f"{MODULES[name].relative_to(ROOT.parent)}:{line} ({LAYERING[low][0]}) "
                              f"imports {module} ({LAYERING[high][0]})")
    assert not upward, "imports pointing up the layers:\n" + "\n".join(sorted(upward))


def _classes():
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                yield f"{name}.{node.name}", node.end_lineno - node.lineno + 1


def test_no_class_is_longer_than_about_300_lines():
    long = sorted(f"{name}: {lines} lines" for name, lines in _classes() if lines > 310)
    assert not long, "split these classes by concern:\n" + "\n".join(long)
