"""Data-parallel training in one process: the communicator API, DistributedOptimizer, the
shards, the metrics' sums, and fit/evaluate/predict over several ranks on every backend.

Several ranks run here as threads of one process, joined by :class:`ThreadCommunicator`
(a real implementation of the collective operations, on host copies), so that every
backend of the matrix trains data-parallel within the suite's budget. Real processes
under ``mpiexec`` are tested in ``tests/test_distributed_mpi.py``.
"""

from __future__ import annotations

import copy
import pickle
import sys
import threading

import numpy as np
import pytest
from conftest import Case

import flexnet as fx
from flexnet.distributed import DataParallelError
from flexnet.distributed import communicator as communicator_module
from flexnet.training.data_adapter import ArrayData, Shard
from flexnet.training.data_parallel import LOCAL, DataParallel, _Buffers
from flexnet.transfer import to_device_like, to_numpy, writable

_REDUCE = {"sum": np.add, "max": np.maximum, "min": np.minimum}


class ThreadGroup:
    """``size`` ranks as threads: each collective puts every rank's value in a slot, waits for
    all of them, reads the slots, and waits again before the slots are reused."""

    def __init__(self, size: int):
        self.size = size
        self.barrier = threading.Barrier(size, timeout=60)
        self.slots: list = [None] * size
        self.aborted: list = []

    def communicators(self) -> list:
        return [ThreadCommunicator(self, rank) for rank in range(self.size)]


class ThreadCommunicator(fx.distributed.Communicator):
    """One rank of a :class:`ThreadGroup`."""

    def __init__(self, group: ThreadGroup, rank: int):
        self.group, self.rank, self.size = group, rank, group.size

    def _exchange(self, value) -> list:
        g = self.group
        g.slots[self.rank] = value
        g.barrier.wait()
        values = list(g.slots)
        g.barrier.wait()
        return values

    @staticmethod
    def _result(host, x):
        new = to_device_like(host, x)
        if not writable(x):
            return new
        x[...] = new
        return x

    def allreduce(self, x, op="sum"):
        values = self._exchange(to_numpy(x))
        total = values[0]
        for v in values[1:]:
            total = _REDUCE[op](total, v)
        return self._result(total, x)

    def broadcast(self, x, root=0):
        return self._result(self._exchange(to_numpy(x))[root], x)

    def allgather(self, x):
        return [to_device_like(v, x) for v in self._exchange(to_numpy(x))]

    def broadcast_object(self, obj, root=0):
        return copy.deepcopy(self._exchange(obj)[root])

    def allgather_object(self, obj):
        return copy.deepcopy(self._exchange(obj))

    def abort(self, code=1):
        self.group.aborted.append(self.rank)
        self.group.barrier.abort()


def run_ranks(comms: list, work) -> list:
    """``work(comm)`` on each of ``comms`` in its own thread; returns each rank's result (or
    the exception it raised)."""
    results: list = [None] * len(comms)

    def target(comm):
        try:
            results[comm.rank] = work(comm)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            results[comm.rank] = exc

    threads = [threading.Thread(target=target, args=(c,)) for c in comms]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "a rank hangs"
    return results


def _data(n: int = 31, features: int = 3, classes: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, features))
    y = np.argmax(X @ rng.normal(size=(features, classes)), axis=1)
    return X, y


def _model(case, seed: int, optimizer, *, metrics=("accuracy", "auc"), batchnorm: bool = False,
           jit_compile="auto"):
    with fx.utils.seeded(seed):
        layers = [fx.layers.Dense(6, input_dim=3, activation="tanh")]
        if batchnorm:
            layers.append(fx.layers.BatchNormalization())
        model = case.model([*layers, fx.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=list(metrics),
                  jit_compile=jit_compile)
    return model


def _adam(rate: float = 0.02):
    return fx.optimizers.Adam(rate)


NUMPY64 = Case("numpy", None, "float64")


def _ranks(size: int, seed: int = 6, case=NUMPY64, rates=None, **kwargs) -> list:
    """One model per thread-rank, built alike, each compiled with its rank's communicator."""
    return [_model(case, seed, fx.distributed.DistributedOptimizer(_adam(rate), communicator=c), **kwargs)
            for c, rate in zip(ThreadGroup(size).communicators(), rates or [0.02] * size)]


def _on_ranks(models: list, work) -> list:
    """``work(model, comm)`` on each rank's model, in threads."""
    return run_ranks([m.optimizer.communicator for m in models],
                     lambda comm: work(models[comm.rank], comm))


# -- the communicator -----------------------------------------------------------------------


def test_initialize_without_a_launcher_is_one_rank_that_returns_its_inputs(monkeypatch):
    for name in communicator_module._LAUNCHER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(communicator_module, "_WORLD", None)
    monkeypatch.delitem(sys.modules, "mpi4py.MPI", raising=False)  # imported: MPI is wanted
    comm = fx.distributed.initialize()
    assert isinstance(comm, fx.distributed.LocalCommunicator)
    assert (comm.rank, comm.size, comm.primary) == (0, 1, True)
    assert fx.distributed.initialize() is comm
    x = np.arange(3.0)
    assert comm.allreduce(x) is x and comm.broadcast(x) is x and comm.allgather(x)[0] is x
    assert comm.broadcast_object({"a": 1}) == {"a": 1} and comm.allgather_object(2) == [2]
    with pytest.raises(ValueError, match="op must be one of"):
        comm.allreduce(x, op="mean")
    with pytest.raises(ValueError, match=r"root must be a rank in \[0, 1\), got 1"):
        comm.broadcast(x, root=1)
    with pytest.raises(ValueError, match="already called with"):
        fx.distributed.initialize(timeout=5)


def test_launchers_are_recognised_by_their_variables():
    assert fx.distributed.launched_by_mpi({"PMI_RANK": "0"})
    assert fx.distributed.launched_by_mpi({"OMPI_COMM_WORLD_SIZE": "4"})
    assert not fx.distributed.launched_by_mpi({"HOME": "/root"})


# -- DistributedOptimizer -----------------------------------------------------------------


def test_distributed_optimizer_keeps_class_config_and_state():
    inner = fx.optimizers.Adam(0.003, clipnorm=1.0)
    opt = fx.distributed.DistributedOptimizer(inner, communicator=fx.distributed.LocalCommunicator())
    assert isinstance(opt, fx.optimizers.Adam) and isinstance(opt, fx.distributed.DistributedOptimizer)
    assert type(opt).__name__ == "Adam"
    assert opt.get_config() == inner.get_config()
    assert fx.registry.serialize(opt)["class_name"] == "Adam"
    assert repr(opt) == f"DistributedOptimizer({inner!r}, ranks=1)"
    again = fx.distributed.DistributedOptimizer(opt)
    assert type(again) is type(opt)
    by_name = fx.distributed.DistributedOptimizer("sgd")
    assert isinstance(by_name, fx.optimizers.SGD) and by_name.communicator.size == 1
    loaded = pickle.loads(pickle.dumps(opt))
    assert isinstance(loaded, fx.distributed.DistributedOptimizer) and loaded.get_config() == opt.get_config()
    class Momentum(fx.optimizers.Optimizer):  # a user's rule, constructor and all
        def __init__(self, learning_rate=0.01, beta=0.9, **kwargs):
            super().__init__(learning_rate, **kwargs)
            self.beta = beta

        def init(self, param):
            return {"v": param * 0.0}

        def update(self, grad, state, param):
            v = self.beta * state["v"] + grad
            return -self.learning_rate * v, {"v": v}

    mine = fx.distributed.DistributedOptimizer(Momentum(0.05, beta=0.8))
    spec = fx.registry.serialize(mine)
    assert spec["class_name"] == "Momentum" and spec["config"]["beta"] == 0.8
    rebuilt = type(mine).from_config(spec["config"])
    assert isinstance(rebuilt, fx.distributed.DistributedOptimizer) and rebuilt.beta == 0.8
    with pytest.raises(TypeError, match="needs the optimizer to wrap"):
        fx.distributed.DistributedOptimizer()
    with pytest.raises(TypeError, match="communicator must be a flexnet.distributed.Communicator"):
        fx.distributed.DistributedOptimizer(inner, communicator=object())


def test_distributed_optimizer_of_one_rank_trains_exactly_as_the_plain_one(case):
    X, y = _data()
    local = fx.distributed.LocalCommunicator()
    plain = _model(case, 3, _adam())
    wrapped = _model(case, 3, fx.distributed.DistributedOptimizer(_adam(), communicator=local))
    assert wrapped._trainer.distribution is LOCAL
    h1 = plain.fit(X, y, batch_size=4, epochs=2, verbose=0)
    h2 = wrapped.fit(X, y, batch_size=4, epochs=2, verbose=0)
    assert h1.history == h2.history
    for a, b in zip(plain.get_weights(), wrapped.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_model_file_holds_the_plain_optimizer(tmp_path):
    X, y = _data()
    model = _model(Case("numpy", None, "float64"), 1, fx.distributed.DistributedOptimizer(_adam()))
    model.fit(X, y, epochs=1, verbose=0)
    model.save(tmp_path / "m.flexnet")
    loaded = fx.models.load_model(tmp_path / "m.flexnet")
    assert type(loaded.optimizer) is fx.optimizers.Adam
    assert loaded.optimizer.iterations == model.optimizer.iterations


# -- shards -------------------------------------------------------------------------------


def test_strided_shards_walk_the_batches_of_one_process_at_size_times_the_batch():
    n, size, b = 7, 3, 2
    data = ArrayData([np.arange(n)[:, None]], [np.arange(n)])
    order = np.random.default_rng(0).permutation(n)
    counts = [len(range(r, n, size)) for r in range(size)]
    steps = [list(Shard(data, r, size, counts, strided=True).steps(b, order)) for r in range(size)]
    assert {len(s) for s in steps} == {2}  # ceil(7 / 6) steps on every rank, some of them empty
    for j in range(2):
        rows = sorted(int(v) for r in range(size) if steps[r][j][0] is not None for v in steps[r][j][1][0])
        assert rows == sorted(order[j * size * b:(j + 1) * size * b])
        assert sum(steps[r][j][3] for r in range(size)) == pytest.approx(1.0)
    assert steps[2][1] == (None, None, None, 0.0)  # rank 2 has positions 2 and 5 only
    assert [s[3] for s in steps[0]] == [pytest.approx(1 / 3), 1.0]


def test_own_shards_of_different_lengths_run_the_same_number_of_steps():
    parts = [ArrayData([np.zeros((n, 1))], [np.zeros(n)]) for n in (5, 2)]
    counts = [5, 2]
    steps = [list(Shard(p, r, 2, counts, strided=False).steps(2, None)) for r, p in enumerate(parts)]
    assert [len(s) for s in steps] == [3, 3]
    assert [s[3] for s in steps[0]] == [0.5, 1.0, 1.0] and [s[3] for s in steps[1]] == [0.5, 0.0, 0.0]
    assert Shard(parts[0], 0, 2, counts, strided=False).n == 7


def test_blocks_cover_the_rows_once_in_order():
    data = ArrayData([np.arange(7)[:, None]], [np.arange(7)], np.ones(7))
    blocks = [data.block(r, 3) for r in range(3)]
    assert [b.n for b in blocks] == [2, 2, 3]
    assert np.concatenate([b.Xs[0][:, 0] for b in blocks]).tolist() == list(range(7))
    assert ArrayData([np.zeros((1, 1))], []).block(0, 2).n == 0


# -- the metrics' sums ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["accuracy", "mse", "auc", "precision", "rmse", "f1_score", "r2_score",
                                  "binary_crossentropy"])
def test_metric_sums_of_two_halves_make_the_metric_of_the_whole(case, name):
    rng = np.random.default_rng(1)
    P = case.asarray(rng.uniform(size=(10, 1)))
    Y = case.asarray((rng.uniform(size=(10, 1)) > 0.5).astype(float))
    W = case.asarray(rng.uniform(size=10))
    xp = case.resolve().xp
    whole, halves = fx.metrics.get(name, output_units=1), [fx.metrics.get(name, output_units=1) for _ in "ab"]
    whole.update(xp, Y, P, sample_weight=W)
    halves[0].update(xp, Y[:4, ...], P[:4, ...], sample_weight=W[:4])
    halves[1].update(xp, Y[4:, ...], P[4:, ...])  # unweighted: counts samples
    whole.update(xp, Y[4:, ...], P[4:, ...])
    halves[0].update(xp, Y[4:, ...], P[4:, ...], sample_weight=W[4:])
    (a0, i0), (a1, i1) = (h.sums(P[0, 0]) for h in halves)
    merged = fx.metrics.get(name, output_units=1)
    merged.set_sums([x + y for x, y in zip(a0, a1)], [x + y for x, y in zip(i0, i1)])
    assert merged.result() == pytest.approx(whole.result(), rel=case.rtol)
    empty = fx.metrics.get(name, output_units=1)
    arrays, ints = empty.sums(P[0, 0])
    empty.set_sums(arrays, ints)
    assert np.isnan(empty.result())


# -- several ranks, as threads --------------------------------------------------------------


def _fit_ranks(case, size, *, epochs=3, batch_size=3, shard=True, seed=5, split=0.25, **fit):
    X, y = _data()

    def work(model, comm):
        assert isinstance(model._trainer.distribution, DataParallel)
        Xr, yr = (X, y) if shard else (X[comm.rank::size], y[comm.rank::size])
        history = model.fit(Xr, yr, batch_size=batch_size, epochs=epochs, verbose=0, shard=shard,
                            validation_split=split, **fit)
        return history.history, model.get_weights(), model.evaluate(X, y, return_dict=True), model.predict(X)

    results = _on_ranks(_ranks(size, seed, case), work)
    for r in results:
        if isinstance(r, BaseException):
            raise r
    return results


def _reference(case, size, *, epochs=3, batch_size=3, seed=5, split=0.25, jit_compile="auto", **fit):
    X, y = _data()
    model = _model(case, seed, _adam(), jit_compile=jit_compile)
    history = model.fit(X, y, batch_size=size * batch_size, epochs=epochs, verbose=0, validation_split=split,
                        **fit)
    return history.history, model.get_weights(), model.evaluate(X, y, return_dict=True), model.predict(X)


def _assert_same_run(case, got, expected):
    tol = 1e-12 if case.dtype == "float64" else 2e-5
    (h, w, e, p), (h0, w0, e0, p0) = got, expected
    assert h.keys() == h0.keys()
    for key in h0:
        np.testing.assert_allclose(h[key], h0[key], rtol=tol, atol=tol, err_msg=key)
    for a, b in zip(w, w0):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
    for key in e0:
        assert e[key] == pytest.approx(e0[key], rel=tol, abs=tol)
    np.testing.assert_allclose(p, p0, rtol=tol, atol=tol)


@pytest.mark.parametrize("size", [2, 3])
def test_ranks_at_batch_b_train_as_one_process_at_size_times_b(case, size):
    # 23 training samples: the last step holds 5, shared out unevenly (3 + 2, or 2 + 2 + 1)
    results = _fit_ranks(case, size)
    expected = _reference(case, size)
    for got in results:
        _assert_same_run(case, got, expected)
    for got in results[1:]:  # the same values on every rank, bit for bit
        for a, b in zip(got[1], results[0][1]):
            np.testing.assert_array_equal(a, b)


def test_ranks_with_their_own_parts_train_as_their_union(case):
    # rank r holds rows r, r + 2, ...: without shuffling, step j of the two ranks covers the
    # rows of batch j of one process at twice the batch size (rank 1's last step is empty)
    results = _fit_ranks(case, 2, shard=False, shuffle=False, split=0.0)
    expected = _reference(case, 2, shuffle=False, split=0.0)
    for got in results:
        _assert_same_run(case, got, expected)


def test_more_ranks_than_samples_leave_some_ranks_without_data():
    X, y = _data(n=2)
    results = _on_ranks(_ranks(3, seed=2), lambda model, comm: (
        model.fit(X, y, batch_size=1, epochs=2, verbose=0).history, model.predict(X)))
    reference = _model(NUMPY64, 2, _adam())
    history = reference.fit(X, y, batch_size=3, epochs=2, verbose=0).history
    for got in results:
        assert not isinstance(got, BaseException), got
        np.testing.assert_allclose(got[0]["loss"], history["loss"], rtol=1e-12)
        np.testing.assert_allclose(got[1], reference.predict(X), rtol=1e-12)


def test_moving_statistics_are_averaged_over_the_ranks():
    X, y = _data()
    models = _ranks(2, seed=4, batchnorm=True)
    results = _on_ranks(models, lambda model, comm: model.fit(X, y, batch_size=4, epochs=2, verbose=0))
    assert not any(isinstance(r, BaseException) for r in results), results
    stats = [m.layers[1].get_weights()[2:] for m in models]
    for a, b in zip(*stats):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(stats[0][0], 0.0)  # they moved


def test_buffer_changes_are_averaged_and_unchanged_buffers_kept_exactly():
    class Holder:
        xp = fx.get_backend().xp

        def __init__(self):
            self.buffers = {"moved": np.array([1.0]), "fixed": np.array([0.1])}

    layer = Holder()
    buffers = _Buffers([layer])
    layer.buffers["moved"] = np.array([4.0])
    changes = buffers.changes()  # this rank moved it by 3; say the two others by 6 together
    buffers.average([changes[0] + 6.0, changes[1] * 3], size=3)
    assert layer.buffers["moved"][0] == pytest.approx(1.0 + 9.0 / 3)
    assert layer.buffers["fixed"][0] == 0.1


def test_a_stop_on_one_rank_stops_every_rank():
    X, y = _data()

    def work(model, comm):
        stop = fx.callbacks.LambdaCallback(
            on_epoch_end=lambda epoch, logs: setattr(model, "stop_training", comm.rank == 1 and epoch == 1))
        return len(model.fit(X, y, epochs=5, verbose=0, callbacks=[stop]).epoch)

    assert _on_ranks(_ranks(2), work) == [2, 2]


def test_only_rank_0_runs_the_callbacks_that_print_or_write(tmp_path, capsys):
    X, y = _data()

    def work(model, comm):
        path = tmp_path / f"rank{comm.rank}"
        callbacks = [fx.callbacks.CSVLogger(f"{path}.csv"),
                     fx.callbacks.ModelCheckpoint(f"{path}.weights", save_weights_only=True)]
        model.fit(X, y, epochs=2, verbose=2 if comm.rank else 0, callbacks=callbacks)
        return model.evaluate(X, y, verbose=2 if comm.rank else 0)

    results = _on_ranks(_ranks(2), work)
    assert results[0] == results[1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rank0.csv", "rank0.weights"]
    assert capsys.readouterr().out == ""  # rank 1 asked to print, but only rank 0 prints


def test_ranks_that_disagree_are_told_so_on_every_rank():
    X, y = _data()
    models = _ranks(2, rates=[0.01, 0.02])
    for r in _on_ranks(models, lambda model, comm: model.fit(X, y, epochs=1, verbose=0)):
        assert isinstance(r, DataParallelError)
        assert ("rank 1 differs from rank 0: optimizer.config.learning_rate: 0.01 on rank 0, 0.02 on rank 1"
                in str(r))
    models[1].optimizer.learning_rate = 0.01
    different = _on_ranks(models, lambda model, comm: model.fit(X[comm.rank:], y[comm.rank:], verbose=0))
    for r in different:
        assert isinstance(r, DataParallelError) and "shares one data set out over the ranks" in str(r)


def test_a_custom_metric_without_sums_and_a_summed_loss_are_refused():
    class Peak(fx.metrics.Metric):  # keeps a sum of its own, and does not name it
        def values(self, xp, y, P):
            return xp.max(P, axis=-1)

        def reset(self):
            super().reset()
            self._peak = None

        def update(self, xp, y, P, sample_weight=None):
            super().update(xp, y, P, sample_weight)
            self._peak = xp.max(P)

    X, y = _data()
    models = _ranks(2, metrics=[Peak()])
    for r in _on_ranks(models, lambda model, comm: model.fit(X, y, epochs=1, verbose=0)):
        assert isinstance(r, DataParallelError) and "overrides reset() but not _sum_shapes()" in str(r)
    for m in models:
        m.compile(optimizer=m.optimizer, loss=fx.losses.SparseCategoricalCrossentropy(reduction="sum"))
    for r in _on_ranks(models, lambda model, comm: model.fit(X, y, epochs=1, verbose=0)):
        assert isinstance(r, DataParallelError) and "reduction='sum_over_batch_size'" in str(r)


def test_an_exception_on_one_rank_ends_every_rank():
    X, y = _data()
    models = _ranks(2)

    def fail(batch, logs):
        raise RuntimeError("rank 1 broke")

    def work(model, comm):
        callbacks = [fx.callbacks.LambdaCallback(on_train_batch_end=fail)] if comm.rank == 1 else []
        return model.fit(X, y, epochs=2, verbose=0, callbacks=callbacks)

    results = _on_ranks(models, work)
    assert isinstance(results[1], RuntimeError) and models[1].optimizer.communicator.group.aborted[0] == 1
    assert isinstance(results[0], threading.BrokenBarrierError)


def test_ranks_on_jax_train_as_one_process_at_twice_the_batch():
    pytest.importorskip("jax")
    case = Case("jax", None, "float64")
    results = _fit_ranks(case, 2, epochs=1, split=0.0, batch_size=8)
    expected = _reference(case, 2, epochs=1, split=0.0, batch_size=8, jit_compile=False)
    for got in results:
        _assert_same_run(case, got, expected)
