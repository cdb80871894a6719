"""The backend x dtype matrix every test runs on, reset of flexnet's global settings, a check
that tests leave no files behind, and the skips reported once per reason.

Cases: NumPy float32/float64; array-api-strict on its CPU device (float64), on
``device1`` (float32, catches arrays created on the wrong device) and on
``no_float64`` (float32); PyTorch CPU float32/float64 when installed; CuPy
float32/float64 when a GPU is present; JAX float32/float64 with ``FLEXNET_TEST_JAX=1``.

JAX compiles every new program and every new shape of an eager operation (about a
second per model on 2 cores), so the whole matrix on JAX takes most of an hour;
``tests/test_jax.py`` covers every public feature on JAX within the suite's budget,
and ``FLEXNET_TEST_JAX=1 python -m pytest`` runs everything on JAX too.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir

import flexnet as fx
from flexnet import backend as fx_backend
from flexnet import utils as fx_utils

# Property-based tests are repeatable: examples derive from each test's name, no example
# database, no per-example deadline (CI machines vary). The "thorough" profile
# (FLEXNET_HYPOTHESIS=thorough) runs ten times as many examples. What hypothesis writes (its
# cache, patches of failing examples) goes to the temporary folder, not the repository.
if "HYPOTHESIS_STORAGE_DIRECTORY" not in os.environ:
    set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "flexnet-hypothesis")
_HYPOTHESIS = {"derandomize": True, "database": None, "deadline": None, "print_blob": True,
               "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]}
settings.register_profile("flexnet", max_examples=60, **_HYPOTHESIS)
settings.register_profile("thorough", max_examples=600, **_HYPOTHESIS)
settings.load_profile(os.environ.get("FLEXNET_HYPOTHESIS", "flexnet"))


def _single_threaded_torch() -> None:
    """Tests use tiny tensors: torch's thread pool only adds overhead (and contention
    with the other process on a 2-core machine)."""
    if importlib.util.find_spec("torch") is not None:
        import torch

        torch.set_num_threads(1)


_single_threaded_torch()


def _jax_with_float64() -> None:
    """JAX holds float64 only with x64 enabled; the float64 cases need it. It is a global
    switch, so the float32 cases run with it too (tests/test_backend.py checks a float32
    model without it in a fresh process)."""
    if importlib.util.find_spec("jax") is not None:
        import jax

        jax.config.update("jax_enable_x64", True)


_jax_with_float64()


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _gpu_count() -> int:
    if not _has("cupy"):
        return 0
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount()
    except Exception:  # no driver, no device
        return 0


@dataclass(frozen=True)
class Case:
    """One cell of the matrix: where a model lives and in which float dtype."""

    backend: str
    device: Any
    dtype: str

    @property
    def id(self) -> str:
        dev = "" if self.device is None else f"-{self.device}"
        return f"{self.backend}{dev}-{self.dtype}"

    def model(self, layers, **kwargs) -> fx.Sequential:
        return fx.Sequential(layers, backend=self.backend, device=self.device, dtype=self.dtype,
                             **kwargs)

    def resolve(self) -> fx.Backend:
        return fx.Backend.resolve(self.backend, self.device)

    def asarray(self, a, dtype: str | None = None):
        """A host array on this case's backend and device (dtype defaults to the case's)."""
        return self.resolve().from_numpy(np.asarray(a), dtype or self.dtype)

    def to_numpy(self, a) -> np.ndarray:
        return self.resolve().to_numpy(a)

    @property
    def rtol(self) -> float:
        return 1e-4 if self.dtype == "float32" else 1e-10

    def assert_close(self, actual, expected) -> None:
        """Compare host arrays at this dtype's tolerance, relative to the largest entry."""
        expected = np.asarray(expected)
        scale = max(1.0, float(np.max(np.abs(expected))))
        np.testing.assert_allclose(actual, expected, rtol=self.rtol, atol=self.rtol * scale)



def _cases() -> list:
    cases = [Case("numpy", None, "float32"), Case("numpy", None, "float64")]
    strict = pytest.mark.skipif(not _has("array_api_strict"), reason="array-api-strict missing")
    cases += [
        pytest.param(Case("array_api_strict", "CPU_DEVICE", "float64"), marks=strict),
        pytest.param(Case("array_api_strict", "device1", "float32"), marks=strict),
        pytest.param(Case("array_api_strict", "no_float64", "float32"), marks=strict),
    ]
    torch = pytest.mark.skipif(not _has("torch"), reason="torch not installed")
    cases += [pytest.param(Case("torch", "cpu", d), marks=torch) for d in ("float32", "float64")]
    if os.environ.get("FLEXNET_TEST_JAX") == "1":  # the whole matrix on JAX: slow (see above)
        jax = pytest.mark.skipif(not _has("jax"), reason="jax not installed")
        cases += [pytest.param(Case("jax", None, d), marks=jax) for d in ("float32", "float64")]
    gpu = pytest.mark.skipif(_gpu_count() == 0, reason="CuPy with a CUDA GPU not available")
    cases += [pytest.param(Case("cupy", None, d), marks=gpu) for d in ("float32", "float64")]
    return cases


CASES = _cases()


def _case_id(case) -> str:
    return case.id


@pytest.fixture(params=CASES, ids=_case_id)
def case(request) -> Case:
    """Every backend x dtype of the matrix."""
    return request.param


@pytest.fixture(params=[c for c in CASES if (getattr(c, "values", [c])[0]).dtype == "float64"],
                ids=_case_id)
def case64(request) -> Case:
    """The float64 cases, for central-difference gradient checks."""
    return request.param


@pytest.fixture(autouse=True)
def _reset_flexnet_globals(monkeypatch):
    """Each test starts with NumPy, float32, a fixed seed and no FLEXNET_BACKEND."""
    monkeypatch.delenv("FLEXNET_BACKEND", raising=False)
    fx.set_backend(None)
    fx.set_floatx("float32")
    fx_utils.set_random_seed(1234)
    yield
    fx.set_backend(None)
    fx.set_floatx("float32")
    assert fx_backend.floatx() == "float32"


@pytest.fixture(scope="session", autouse=True)
def _nothing_left_in_the_working_directory():
    """Tests write under ``tmp_path``: a file or folder left where pytest runs is a bug."""
    before = set(os.listdir())
    yield
    left = sorted(set(os.listdir()) - before)
    assert not left, f"tests left {left} in {os.getcwd()}; write them under tmp_path"


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return reason.removeprefix("Skipped: ")


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """One line per distinct skip reason with its count (``-ra`` would print one per test:
    about 190 for CuPy alone on a machine without a GPU)."""
    skipped = terminalreporter.stats.get("skipped", [])
    if not skipped:
        return
    terminalreporter.write_sep("-", "skipped, by reason")
    for reason, count in Counter(map(_skip_reason, skipped)).most_common():
        terminalreporter.write_line(f"{count:6d}  {reason}")


@pytest.fixture
def host_reads(monkeypatch) -> list:
    """A list that gets one entry per conversion of an array-api-strict array to a Python
    scalar (``float``, ``int``, ``bool``, ``index``): each is a device-to-host read."""
    xps = pytest.importorskip("array_api_strict")
    reads: list = []
    array_type = type(xps.asarray(0.0))
    for method in ("__float__", "__int__", "__bool__", "__index__"):
        original = getattr(array_type, method)

        def counted(self, _original=original):
            reads.append(1)
            return _original(self)

        monkeypatch.setattr(array_type, method, counted)
    return reads
