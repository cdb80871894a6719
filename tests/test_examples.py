"""Every example runs end to end (in its fast mode), writes its figures and prints its results.

The convention every example follows (``examples/_common.py`` implements it); a new
example is tested simply by adding its file:

* every ``examples/*.py`` whose name does not start with ``_`` is an example script;
* ``python examples/NAME.py --fast --out DIR`` runs a tiny version (seconds), writes
  at least one PNG into ``DIR``, prints its results and exits with status 0 without
  printing any warning;
* without ``--fast`` it runs the full version (under a minute on 2 CPU cores).

Each script runs in a subprocess with ``MPLBACKEND=Agg``, inheriting ``FLEXNET_BACKEND``,
so ``FLEXNET_BACKEND=torch python -m pytest tests/test_examples.py`` runs them on PyTorch.
``KEY_LINES`` lists, per example, patterns its output must contain; ``CHECKS`` holds
further checks of an example's output.
"""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"
SCRIPTS = sorted(p for p in EXAMPLES.glob("*.py") if not p.name.startswith("_"))

#: Patterns each example's standard output must match (examples not listed: none).
KEY_LINES = {
    "quickstart": [r"test accuracy: \d+\.\d+%"],
    "from_scratch": [r"largest loss difference between the three runs: ", r"final loss: \d"],
    "deep_network": [r"cost after iteration", r"He initialization: train accuracy \d"],
    "optimizers_compared": [r"AdaMax, custom .* \d+\.\d+%"],
    "regularization": [r"early stopping +\d+ ", r"batch norm +\d+ "],
    "data_parallel": [r"trained on 1 rank at 32 samples", r"test accuracy: \d+\.\d+%"],
    "train_on_memmap": [r"memory-mapped", r"peak allocated while training", r"test accuracy: \d+\.\d+%"],
    "grid_search_digits": [r"best settings: \{", r"test accuracy of the refitted best pipeline: \d+\.\d+%"],
}


def _three_ways_agree(stdout: str) -> None:
    """from_scratch: by hand, with ``fit`` and with ``compute_gradients``, the same losses (float64)."""
    gap = float(re.search(r"three runs: (\S+)", stdout).group(1))
    assert gap < 1e-9, f"the three from-scratch runs differ by {gap}"


def _holds_a_fraction_of_the_file(stdout: str) -> None:
    """train_on_memmap: training allocates less than half the file it reads (it reads by batch)."""
    fraction = float(re.search(r"MiB \((\S+) of the file", stdout).group(1))
    assert fraction < 0.5, f"training on the memory-mapped file allocated {fraction} of its size"


#: Further checks of an example's standard output (examples not listed: none).
CHECKS = {"from_scratch": _three_ways_agree, "train_on_memmap": _holds_a_fraction_of_the_file}


def run_example(script: pathlib.Path, out: pathlib.Path, *args: str, timeout: float = 180):
    """Run ``script`` with ``--out out`` and ``args`` in a subprocess; return the CompletedProcess."""
    env = {**os.environ, "MPLBACKEND": "Agg"}
    # Tiny matrices: BLAS threads only compete with each other (and with other tests) on 2 cores.
    env.setdefault("OMP_NUM_THREADS", "1")
    return subprocess.run(
        [sys.executable, str(script), *args, "--out", str(out)],
        capture_output=True, text=True, timeout=timeout, env=env, cwd=EXAMPLES.parent,
    )


def test_examples_are_found():
    assert "quickstart" in [p.stem for p in SCRIPTS]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_example_runs_in_fast_mode(script, tmp_path):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    result = run_example(script, tmp_path, "--fast")
    assert result.returncode == 0, f"{script.name} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    assert "Warning" not in result.stderr, f"{script.name} printed a warning:\n{result.stderr[-4000:]}"
    assert list(tmp_path.glob("*.png")), f"{script.name} wrote no PNG into {tmp_path}"
    for pattern in KEY_LINES.get(script.stem, []):
        assert re.search(pattern, result.stdout), f"{script.name}: no match for {pattern!r}:\n{result.stdout}"
    if script.stem in CHECKS:
        CHECKS[script.stem](result.stdout)


@pytest.mark.slow
def test_quickstart_reaches_95_percent_test_accuracy(tmp_path):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    result = run_example(EXAMPLES / "quickstart.py", tmp_path, "--verbose", "0")
    assert result.returncode == 0, result.stderr[-4000:]
    assert "Total params: 1,933" in result.stdout
    accuracy = float(re.search(r"test accuracy: (\d+\.\d+)%", result.stdout).group(1))
    assert accuracy >= 95.0
    assert (tmp_path / "quickstart.png").is_file()
