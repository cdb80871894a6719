"""The guide in docs/ and the README: their Python snippets run, and the generated reference
is up to date.

Each page's ```python blocks run in order as one script (a snippet may use what an
earlier one defined), in a fresh process with matplotlib headless, in a temporary
folder. A block right after the line ``<!-- no-test: reason -->`` is skipped (e.g.
one that needs a GPU, or a fragment).
"""

from __future__ import annotations

import importlib.util
import os
import pathlib
import re
import subprocess
import sys

import pytest

import flexnet as fx

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"
#: Page name -> file: the guide's pages (not the generated reference) and the README.
PAGES = {**{p.name: p for p in sorted(DOCS.glob("*.md")) if p.name != "reference.md"},
         "README.md": DOCS.parent / "README.md"}
#: Libraries a page's snippets import besides flexnet's own dependencies.
REQUIRES = {"backends.md": ["torch", "array_api_strict", "jax"], "index.md": ["matplotlib"],
            "saving.md": ["torch"], "data.md": ["h5py", "torch"], "extending.md": ["matplotlib"],
            "README.md": ["sklearn"],
            "interop.md": ["sklearn", "onnx", "onnxruntime", "h5py", "keras", "torch", "jax"]}
_BLOCK = re.compile(r"^(<!-- no-test:[^\n]*-->\n)?```python\n(.*?)^```\s*$", re.S | re.M)


def python_blocks(text: str) -> list[str]:
    """The ```python blocks of a Markdown page, without those marked ``<!-- no-test: ... -->``."""
    return [m.group(2) for m in _BLOCK.finditer(text) if not m.group(1)]


def test_blocks_are_found_and_skips_are_honoured():
    page = ("x\n```python\na = 1\n```\n<!-- no-test: needs a GPU -->\n```python\nb = 2\n```\n"
            "```bash\nls\n```\n")
    assert python_blocks(page) == ["a = 1\n"]


@pytest.mark.slow
@pytest.mark.parametrize("page", list(PAGES))
def test_page_snippets_run(page, tmp_path):
    for module in REQUIRES.get(page, []):  # found, not imported: Keras picks its backend at import
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{page} needs {module}")
    blocks = python_blocks(PAGES[page].read_text(encoding="utf-8"))
    if not blocks:
        pytest.skip(f"{page} has no python blocks")
    script = tmp_path / "snippets.py"
    script.write_text("\n\n".join(blocks), encoding="utf-8")
    env = {**os.environ, "MPLBACKEND": "Agg"}
    env.pop("FLEXNET_BACKEND", None)
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, (
        f"{page}: a snippet failed\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    )


def test_reference_is_up_to_date():
    """docs/reference.md is what docs/gen_reference.py generates from the current docstrings."""
    sys.path.insert(0, str(DOCS))
    try:
        import gen_reference
    finally:
        sys.path.remove(str(DOCS))
    current = (DOCS / "reference.md").read_text(encoding="utf-8")
    assert current == gen_reference.render(), (
        "docs/reference.md is out of date: run python docs/gen_reference.py"
    )


@pytest.mark.parametrize("module, table", [
    (fx.activations, "ACTIVATIONS"), (fx.losses, "LOSSES"), (fx.optimizers, "OPTIMIZERS"),
    (fx.schedules, "SCHEDULES"), (fx.initializers, "INITIALIZERS"), (fx.regularizers, "REGULARIZERS"),
    (fx.constraints, "CONSTRAINTS"), (fx.metrics, "METRICS"),
])
def test_every_named_component_is_in_the_reference(module, table):
    reference = (DOCS / "reference.md").read_text(encoding="utf-8")
    prefix = "fx." + module.__name__.rsplit(".", 1)[-1]
    for name, cls in getattr(module, table).items():
        assert f"`{name}`" in reference, f"{prefix} name {name!r} is not in docs/reference.md"
        assert f"### {prefix}.{cls.__name__}\n" in reference, f"{prefix}.{cls.__name__} has no section"


@pytest.mark.parametrize("module", [fx.layers, fx.callbacks, fx.data, fx.models])
def test_every_public_class_is_in_the_reference(module):
    reference = (DOCS / "reference.md").read_text(encoding="utf-8")
    prefix = "fx." + module.__name__.rsplit(".", 1)[-1]
    for name in module.__all__:
        obj = getattr(module, name)
        if isinstance(obj, type) and obj.__name__ == name:
            assert f"### {prefix}.{name}\n" in reference, f"{prefix}.{name} has no section"


def test_guide_links_point_to_files_that_exist():
    for page in DOCS.glob("*.md"):
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            if target.startswith(("http://", "https://")):
                continue
            assert (page.parent / target).exists(), f"{page.name} links to {target}, which does not exist"
