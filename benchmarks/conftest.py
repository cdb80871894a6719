"""pytest-benchmark suite: flexnet's building blocks and training on every available backend.

    pip install -e ".[bench]"
    python -m pytest benchmarks --benchmark-columns=median,ops,rounds    # the quick subset
    FLEXNET_BENCH_FULL=1 python -m pytest benchmarks                      # the whole grid
    python -m pytest benchmarks --benchmark-disable -q                    # smoke test (CI)

Every test runs over the targets found here: flexnet on NumPy and on PyTorch (CPU),
PyTorch itself as the reference framework, and on a GPU flexnet on CuPy and on
PyTorch CUDA plus PyTorch CUDA. The quick subset takes batch sizes 32 and 1024 and
widths 64 and 300; ``FLEXNET_BENCH_FULL=1`` takes batch sizes 1, 32, 128, 1024,
8192 and widths 64, 300, 1024, 4096, and skips what would take too long on the
device (the work of one call above ``FLEXNET_BENCH_MAX_GFLOP``). Benchmarks of the
same operation and shape share a pytest-benchmark group, so flexnet and PyTorch
sit side by side; ``extra_info["flops"]`` gives the FLOPs of one call.
"""

from __future__ import annotations

import pytest
from benchlib import TARGETS, Target


@pytest.fixture(params=TARGETS, ids=lambda t: t.name)
def target(request) -> Target:
    """Each available target: flexnet on a backend and device, or PyTorch itself."""
    return request.param
