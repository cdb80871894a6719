"""Data-parallel training on real ranks: ``mpiexec -n 2`` and ``-n 3`` started from pytest.

Each test runs a scenario of ``tests/mpi_scenarios.py`` under ``mpiexec`` in its own
process group, with a timeout after which the whole group is killed (a hang fails the
test, it never stalls the suite). Skipped where mpi4py or ``mpiexec`` is missing
(``pip install flexnet[mpi]`` brings both).
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip("mpi4py", reason="mpi4py not installed (pip install flexnet[mpi])")
MPIEXEC = shutil.which("mpiexec")
pytestmark = pytest.mark.skipif(MPIEXEC is None, reason="mpiexec not found")

HERE = pathlib.Path(__file__).resolve().parent
SCENARIOS = HERE / "mpi_scenarios.py"


def mpiexec(ranks: int, *command: str, timeout: float = 90.0) -> subprocess.CompletedProcess:
    """Run ``command`` on ``ranks`` ranks; kill the whole process group past ``timeout`` seconds."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    env["PYTHONPATH"] = os.pathsep.join([str(HERE.parent), env.get("PYTHONPATH", "")])
    process = subprocess.Popen([MPIEXEC, "-n", str(ranks), *command], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        pytest.fail(f"mpiexec -n {ranks} {' '.join(command)} ran past {timeout} s:\n"
                    f"{out[-2000:]}\n{err[-3000:]}")
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def scenario(ranks: int, name: str, out: pathlib.Path, timeout: float = 90.0):
    return mpiexec(ranks, sys.executable, str(SCENARIOS), name, str(out), timeout=timeout)


def _ok(result) -> None:
    assert result.returncode == 0, (f"exit status {result.returncode}:\n{result.stdout[-2000:]}\n"
                                    f"{result.stderr[-4000:]}")


@pytest.mark.parametrize("ranks", [2, 3])
def test_ranks_at_batch_b_equal_one_process_at_ranks_times_b_and_each_other(tmp_path, ranks):
    from mpi_scenarios import EQUIVALENCE_CASES

    _ok(scenario(ranks, "equivalence", tmp_path, timeout=150))
    arrays = [np.load(tmp_path / f"rank{r}.npz") for r in range(ranks)]
    logs = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(ranks)]
    for k, (backend, _device, dtype) in enumerate(EQUIVALENCE_CASES):
        tol = 1e-12 if dtype == "float64" else 3e-6
        names = sorted(key for key in arrays[0] if key.startswith(f"{k}_w"))
        for name in names:  # the same weights on every rank, bit for bit
            for r in range(1, ranks):
                np.testing.assert_array_equal(arrays[r][name], arrays[0][name], err_msg=f"{backend} {name}")
            reference = arrays[0][name.replace(f"{k}_", f"{k}_reference_")]
            np.testing.assert_allclose(arrays[0][name], reference, rtol=tol, atol=tol,
                                       err_msg=f"{backend} {name}")
        np.testing.assert_allclose(arrays[0][f"{k}_predict"], arrays[0][f"{k}_reference_predict"],
                                   rtol=tol, atol=tol)
        for key, values in logs[0][str(k)].items():
            np.testing.assert_allclose(values, logs[0][f"{k}_reference"][key], rtol=tol, atol=tol,
                                       err_msg=f"{backend} {dtype} {key}")
            for r in range(1, ranks):
                assert logs[r][str(k)][key] == values


def test_ranks_on_a_memory_mapped_file_equal_one_process_on_the_arrays(tmp_path):
    _ok(scenario(2, "memmap", tmp_path))
    arrays = [np.load(tmp_path / f"rank{r}.npz") for r in range(2)]
    logs = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    for name in [key for key in arrays[0] if not key.startswith("reference")]:
        np.testing.assert_array_equal(arrays[1][name], arrays[0][name], err_msg=name)
        np.testing.assert_allclose(arrays[0][name], arrays[0][f"reference_{name}"], rtol=1e-12, atol=1e-12,
                                   err_msg=name)
    assert logs[1]["ranks"] == logs[0]["ranks"]
    for key, values in logs[0]["ranks"].items():
        np.testing.assert_allclose(values, logs[0]["reference"][key], rtol=1e-12, atol=1e-12, err_msg=key)


def test_rank_0_alone_writes_checkpoints_logs_and_progress(tmp_path):
    import flexnet as fx

    result = scenario(2, "checkpoint", tmp_path)
    _ok(result)
    files = sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".npz"))
    assert files == ["ckpt-1.flexnet", "ckpt-2.flexnet", "ckpt-3.flexnet", "log.csv"]
    assert len((tmp_path / "log.csv").read_text().splitlines()) == 4
    assert result.stdout.count("loss:") == 3  # one line of results per epoch: rank 0 alone prints
    loaded = fx.models.load_model(tmp_path / "ckpt-3.flexnet")
    for a, b in zip(loaded.get_weights(), np.load(tmp_path / "rank1.npz").values()):
        np.testing.assert_array_equal(a, b)


def test_an_exception_on_one_rank_ends_the_job_with_its_message(tmp_path):
    start = time.monotonic()
    result = scenario(2, "fail", tmp_path)
    assert result.returncode != 0
    assert "RuntimeError: rank 1 cannot go on" in result.stderr
    assert "rank 1 of 2 failed in fit" in result.stderr
    assert time.monotonic() - start < 60


def test_a_rank_that_hangs_is_ended_by_the_others_timeout(tmp_path):
    result = scenario(2, "hang", tmp_path)
    assert result.returncode != 0
    assert "rank 0 of 2 has waited more than 2 s in" in result.stderr, result.stderr[-3000:]


def test_ranks_with_different_settings_stop_at_the_start_with_the_difference(tmp_path):
    result = scenario(2, "mismatch", tmp_path)
    assert result.returncode != 0
    assert "DataParallelError: the ranks of a data-parallel fit must run the same model" in result.stderr
    assert "rank 1 differs from rank 0: model.weight_shapes: [[3, 6], [6], [6, 3], [3]] on rank 0, " \
        "[[3, 5], [5], [5, 3], [3]] on rank 1; optimizer.config.learning_rate: 0.02 on rank 0, " \
        "0.05 on rank 1" \
        in result.stderr


def test_a_killed_job_leaves_its_last_complete_checkpoint(tmp_path):
    import flexnet as fx

    result = scenario(2, "killed", tmp_path)
    assert result.returncode != 0
    model = fx.models.load_model(tmp_path / "last.flexnet")
    assert model.optimizer.iterations in (150, 200)  # epoch 3 (or 4, if it was written before the kill)
    assert model.predict(np.zeros((1, 3))).shape == (1, 3)


def test_the_data_parallel_example_runs_on_two_ranks(tmp_path):
    pytest.importorskip("matplotlib")
    result = mpiexec(2, sys.executable, str(HERE.parent / "examples" / "data_parallel.py"), "--fast",
                     "--out", str(tmp_path))
    _ok(result)
    assert "Warning" not in result.stderr
    assert [p.name for p in tmp_path.glob("*.png")] == ["data_parallel.png"]
    assert result.stdout.count("trained on 2 ranks") == 1
