"""The examples run end to end (in a fast mode) and print their results."""

from __future__ import annotations

import importlib.util
import pathlib

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_quickstart_trains_and_reports_test_accuracy(capsys):
    pytest.importorskip("sklearn")
    accuracy = _load("quickstart").main(epochs=40, verbose=0)
    out = capsys.readouterr().out
    assert "test accuracy" in out and "Total params: 1,933" in out
    assert accuracy >= 0.95
