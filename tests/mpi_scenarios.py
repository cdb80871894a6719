"""Scenarios that ``tests/test_distributed_mpi.py`` runs on real ranks:
``mpiexec -n K python tests/mpi_scenarios.py SCENARIO OUT``.

Each rank writes what the test checks into the folder ``OUT`` (``rank<r>.npz`` and
``rank<r>.json``); failures are expected to end the job, and the test reads the exit
status and the output. Importing this module runs nothing (pytest collects its doctests).
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
import sys
import time

import numpy as np

#: (backend, device, dtype) trained in the "equivalence" scenario.
EQUIVALENCE_CASES = [("numpy", None, "float64"), ("numpy", None, "float32"), ("torch", "cpu", "float64"),
                     ("array_api_strict", "device1", "float32")]


def _data(n: int = 31, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = np.argmax(X @ rng.normal(size=(3, 3)), axis=1)
    return X, y


def _model(fx, backend="numpy", device=None, dtype="float64", optimizer=None, seed: int = 7, width: int = 6):
    with fx.utils.seeded(seed):
        model = fx.Sequential([fx.layers.Dense(width, input_dim=3, activation="tanh"),
                               fx.layers.Dense(3, activation="softmax")],
                              backend=backend, device=device, dtype=dtype)
    model.compile(optimizer=optimizer or fx.optimizers.Adam(0.02), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def _arrays(model) -> list:
    return [np.asarray(w, dtype=np.float64) for w in model.get_weights()]


def equivalence(fx, comm, out: pathlib.Path) -> None:
    """Each case: the ranks at batch 3 and (rank 0) one process at batch 3·size, 4 epochs of Adam."""
    X, y = _data()
    arrays, logs = {}, {}
    for k, (backend, device, dtype) in enumerate(EQUIVALENCE_CASES):
        optimizer = fx.distributed.DistributedOptimizer(fx.optimizers.Adam(0.02))
        model = _model(fx, backend, device, dtype, optimizer)
        history = model.fit(X, y, batch_size=3, epochs=4, verbose=0, validation_split=0.25)
        logs[k] = history.history
        arrays.update({f"{k}_w{j}": w for j, w in enumerate(_arrays(model))})
        arrays[f"{k}_predict"] = np.asarray(model.predict(X), dtype=np.float64)
        if comm.rank == 0:
            alone = _model(fx, backend, device, dtype)
            reference = alone.fit(X, y, batch_size=3 * comm.size, epochs=4, verbose=0, validation_split=0.25)
            logs[f"{k}_reference"] = reference.history
            arrays.update({f"{k}_reference_w{j}": w for j, w in enumerate(_arrays(alone))})
            arrays[f"{k}_reference_predict"] = np.asarray(alone.predict(X), dtype=np.float64)
    np.savez(out / f"rank{comm.rank}.npz", **arrays)
    (out / f"rank{comm.rank}.json").write_text(json.dumps(logs))


def memmap(fx, comm, out: pathlib.Path) -> None:
    """A memory-mapped file shared out over the ranks (each reads its rows) at batch 3, and (rank 0)
    one process on the arrays at batch 3·size."""
    X, y = _data()
    if comm.rank == 0:
        np.save(out / "x.npy", X)
    comm.broadcast_object(None)  # the file is written before any rank opens it
    mapped = np.load(out / "x.npy", mmap_mode="r")
    model = _model(fx, optimizer=fx.distributed.DistributedOptimizer(fx.optimizers.Adam(0.02)))
    history = model.fit(mapped, y, batch_size=3, epochs=3, verbose=0, validation_split=0.25)
    arrays = {f"w{j}": w for j, w in enumerate(_arrays(model))}
    arrays["predict"] = np.asarray(model.predict(mapped), dtype=np.float64)
    logs = {"ranks": history.history}
    if comm.rank == 0:
        alone = _model(fx)
        logs["reference"] = alone.fit(X, y, batch_size=3 * comm.size, epochs=3, verbose=0,
                                      validation_split=0.25).history
        arrays.update({f"reference_w{j}": w for j, w in enumerate(_arrays(alone))})
        arrays["reference_predict"] = np.asarray(alone.predict(X), dtype=np.float64)
    np.savez(out / f"rank{comm.rank}.npz", **arrays)
    (out / f"rank{comm.rank}.json").write_text(json.dumps(logs))


def checkpoint(fx, comm, out: pathlib.Path) -> None:
    """ModelCheckpoint and CSVLogger given on every rank: rank 0 alone writes."""
    X, y = _data()
    model = _model(fx, optimizer=fx.distributed.DistributedOptimizer(fx.optimizers.Adam(0.02)))
    callbacks = [fx.callbacks.ModelCheckpoint(str(out / "ckpt-{epoch}.flexnet")),
                 fx.callbacks.CSVLogger(str(out / "log.csv"))]
    model.fit(X, y, batch_size=4, epochs=3, verbose=1, callbacks=callbacks)
    np.savez(out / f"rank{comm.rank}.npz", *_arrays(model))


def fail(fx, comm, out: pathlib.Path) -> None:
    """Rank 1 raises at the end of its second epoch; rank 0 goes on to the next step's allreduce."""
    X, y = _data()

    def boom(epoch, logs):
        if comm.rank == 1 and epoch == 1:
            raise RuntimeError("rank 1 cannot go on")

    model = _model(fx, optimizer=fx.distributed.DistributedOptimizer(fx.optimizers.Adam(0.02)))
    model.fit(X, y, batch_size=4, epochs=5, verbose=0,
              callbacks=[fx.callbacks.LambdaCallback(on_epoch_end=boom)])


def hang(fx, comm, out: pathlib.Path) -> None:
    """Rank 1 stops answering in its second epoch; the others' watchdog (timeout 2 s) ends the job."""
    X, y = _data()

    def stall(epoch, logs):
        if comm.rank == 1 and epoch == 1:
            time.sleep(120)

    model = _model(fx, optimizer=fx.distributed.DistributedOptimizer(fx.optimizers.Adam(0.02)))
    model.fit(X, y, batch_size=4, epochs=3, verbose=0,
              callbacks=[fx.callbacks.LambdaCallback(on_epoch_begin=stall)])


def mismatch(fx, comm, out: pathlib.Path) -> None:
    """Rank 1 was given another learning rate and another hidden width."""
    X, y = _data()
    rate, width = (0.02, 6) if comm.rank == 0 else (0.05, 5)
    model = _model(fx, optimizer=fx.distributed.DistributedOptimizer(fx.optimizers.Adam(rate)), width=width)
    model.fit(X, y, batch_size=4, epochs=2, verbose=0)


def killed(fx, comm, out: pathlib.Path) -> None:
    """Rank 0 saves a checkpoint after every epoch; rank 1 is killed (SIGKILL) during epoch 4."""
    X, y = _data(n=400)

    def die(batch, logs):
        if comm.rank == 1 and model.optimizer.iterations >= 3 * 50 + 20:
            os.kill(os.getpid(), signal.SIGKILL)

    model = _model(fx, optimizer=fx.distributed.DistributedOptimizer(fx.optimizers.Adam(0.02)))
    model.fit(X, y, batch_size=4, epochs=20, verbose=0,
              callbacks=[fx.callbacks.ModelCheckpoint(str(out / "last.flexnet")),
                         fx.callbacks.LambdaCallback(on_train_batch_end=die)])


SCENARIOS = {f.__name__: f for f in (equivalence, memmap, checkpoint, fail, hang, mismatch, killed)}


def main(argv: list[str]) -> None:
    scenario, out = argv[0], pathlib.Path(argv[1])
    import flexnet as fx

    comm = fx.distributed.initialize(timeout=2.0 if scenario == "hang" else 60.0)
    SCENARIOS[scenario](fx, comm, out)


if __name__ == "__main__":
    main(sys.argv[1:])
