"""Data read a batch at a time under data-parallel training (ranks as threads, as in
tests/test_distributed.py): each rank reads only its own rows or batches, and the ranks
train as one process would."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from test_distributed import NUMPY64, _assert_same_run, _data, _on_ranks, _ranks, _reference

import flexnet as fx
from flexnet.distributed import DataParallelError
from flexnet.training.streams import SlicedArrays


def _raise_any(results: list) -> list:
    for r in results:
        if isinstance(r, BaseException):
            raise r
    return results


@pytest.fixture
def reads(monkeypatch):
    """``{stream id: (shard, [rows read by index])}``: the shuffled reads of every file stream."""
    seen, lock, read = {}, threading.Lock(), SlicedArrays._read

    def spy(self, rows, inverse=None):
        if isinstance(rows, np.ndarray):
            with lock:
                seen.setdefault(id(self), (self._shard, []))[1].append(rows.copy())
        return read(self, rows, inverse)

    monkeypatch.setattr(SlicedArrays, "_read", spy)
    return seen


@pytest.mark.parametrize("size", [2, 3])
def test_ranks_on_a_memory_mapped_file_train_as_one_process_and_read_only_their_rows(case, size, tmp_path,
                                                                                      reads):
    X, y = _data()
    np.save(tmp_path / "x.npy", X)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")

    def work(model, comm):
        history = model.fit(mapped, y, batch_size=3, epochs=3, verbose=0, validation_split=0.25)
        return (history.history, model.get_weights(), model.evaluate(mapped, y, return_dict=True),
                model.predict(mapped))

    results = _raise_any(_on_ranks(_ranks(size, 5, case), work))
    expected = _reference(case, size)
    for got in results:
        _assert_same_run(case, got, expected)
    # the training streams: each rank read its positions of each epoch's order, and no other row
    training = sorted(((shard, rows) for shard, rows in reads.values() if shard[1] == size),
                      key=lambda item: item[0][0])
    assert sorted(shard[0] for shard, _ in training) == list(range(size))
    per_rank = [np.concatenate(rows) for _, rows in training]
    assert sum(len(r) for r in per_rank) == 3 * 23  # three epochs of the 23 training rows
    for epoch in range(3):
        # the ranks' reads of one epoch are disjoint and cover the training rows
        counts = [len(range(r, 23, size)) for r in range(size)]
        parts = [rows[epoch * c:(epoch + 1) * c] for rows, c in zip(per_rank, counts)]
        together = np.concatenate(parts)
        assert sorted(together.tolist()) == list(range(23))


class _Batches(fx.data.Dataset):
    """Batch i: rows ``[3i, 3i + 3)`` of X; records the indices read."""

    def __init__(self, X, y, **kwargs):
        super().__init__(**kwargs)
        self.X, self.y, self.read = X, y, []

    def __len__(self):
        return -(-len(self.X) // 3)

    def __getitem__(self, i):
        self.read.append(i)
        return self.X[3 * i:3 * i + 3], self.y[3 * i:3 * i + 3]


def test_ranks_on_a_dataset_read_only_their_batches_and_train_as_one_process():
    # without shuffling, step j of two ranks takes batches 2j and 2j + 1: rows [6j, 6j + 6),
    # batch j of one process at batch size 6
    X, y = _data()
    datasets = [_Batches(X, y, workers=w) for w in (0, 2)]

    def work(model, comm):
        history = model.fit(datasets[comm.rank], epochs=3, verbose=0, shuffle=False)
        return history.history, model.get_weights(), model.evaluate(X, y, return_dict=True), model.predict(X)

    results = _raise_any(_on_ranks(_ranks(2, 5), work))
    expected = _reference(NUMPY64, 2, shuffle=False, split=0.0)
    for got in results:
        _assert_same_run(NUMPY64, got, expected)
    # the models are built: each rank reads its own batches and no other
    assert datasets[0].read == [0, 2, 4, 6, 8, 10] * 3 and datasets[1].read == [1, 3, 5, 7, 9] * 3


def test_a_shuffled_dataset_is_shared_out_by_rank_0s_order():
    X, y = _data()
    datasets = [_Batches(X, y) for _ in range(2)]
    results = _raise_any(_on_ranks(_ranks(2, 5), lambda model, comm: (
        model.fit(datasets[comm.rank], epochs=2, verbose=0).history, model.get_weights())))
    for a, b in zip(results[0][1], results[1][1]):
        np.testing.assert_array_equal(a, b)
    assert results[0][0] == results[1][0]
    for epoch in range(2):  # each epoch, the two ranks read every batch once between them
        mine = datasets[0].read[6 * epoch:6 * (epoch + 1)]
        theirs = datasets[1].read[5 * epoch:5 * (epoch + 1)]
        assert sorted(mine + theirs) == list(range(11))


class _Own:
    """A re-iterable of this rank's rows ``rank::size`` in batches of 3 (a generator per epoch)."""

    def __init__(self, X, y, rank, size):
        self.X, self.y = X[rank::size], y[rank::size]

    def __iter__(self):
        return ((self.X[i:i + 3], self.y[i:i + 3]) for i in range(0, len(self.X), 3))


def test_ranks_with_their_own_generators_of_different_lengths_train_as_their_union():
    X, y = _data()  # rank 0 makes 6 batches, rank 1 5: its last step is empty

    def work(model, comm):
        history = model.fit(_Own(X, y, comm.rank, 2), epochs=3, verbose=0, shard=False)
        return history.history, model.get_weights(), model.evaluate(X, y, return_dict=True), model.predict(X)

    results = _raise_any(_on_ranks(_ranks(2, 5), work))
    expected = _reference(NUMPY64, 2, shuffle=False, split=0.0)
    for got in results:
        _assert_same_run(NUMPY64, got, expected)


def test_a_generator_cannot_be_shared_out_and_ranks_with_other_files_are_told():
    X, y = _data()
    results = _on_ranks(_ranks(2, 5), lambda model, comm: model.fit(_Own(X, y, 0, 1), epochs=1, verbose=0))
    for r in results:
        assert isinstance(r, DataParallelError)
        assert "cannot do (each rank would read every batch): pass shard=False" in str(r)
    datasets = [_Batches(X, y), _Batches(X[:20], y[:20])]
    results = _on_ranks(_ranks(2, 5), lambda model, comm: model.fit(datasets[comm.rank], epochs=1, verbose=0))
    for r in results:
        assert isinstance(r, DataParallelError) and "the ranks hold different ones" in str(r)
