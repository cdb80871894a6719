"""Batches of a :class:`flexnet.data.Dataset`, read by index, by worker threads or processes.

Every epoch reads ``len(dataset)`` batches, in order or in a permutation drawn from the
model's generator (``fit(shuffle=True)``), or ``steps_per_epoch`` batches on from where
the last epoch stopped. The indices of an epoch are known before it starts, so workers
read ahead (at most ``max_queue_size`` batches) and their batches are used in order.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

from flexnet import transfer
from flexnet.training.streams.base import Stream, note

__all__ = ["DatasetStream"]


# -- worker processes: each holds a copy of the dataset -------------------------------------------
_WORKER_DATASET = None


def _process_context():
    """Where worker processes come from: a fork server where the platform has one (Linux; the
    default from Python 3.14), else the platform's default (spawn on macOS and Windows). Never
    a fork of the training process itself: it runs threads (the prefetch thread, the backend's
    own; JAX warns), and a child forked while one of them holds a lock can deadlock."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else None)


def _install(dataset) -> None:
    global _WORKER_DATASET
    _WORKER_DATASET = dataset


def _read_in_worker(index: int):
    return _WORKER_DATASET[index]


class DatasetStream(Stream):
    """A :class:`flexnet.data.Dataset`'s batches, read in the prefetch thread or by its workers.

    Args:
        adapter, heads, class_weight: as for :class:`~flexnet.training.streams.base.Stream`.
        dataset: the Dataset.
        steps: batches per epoch, or None for ``len(dataset)``.
        steps_name: the argument ``steps`` came from, for messages.
        what: how messages name it.
    """

    def __init__(self, adapter, dataset, heads=None, class_weight=None, steps=None,
                 steps_name: str = "steps", what: str = "x"):
        super().__init__(adapter, heads, class_weight, what)
        self.dataset = dataset
        self.steps = steps
        length = dataset.num_batches
        if length is not None and (isinstance(length, bool) or not isinstance(length, int) or length < 0):
            raise ValueError(f"{what}: len() (num_batches) must be an int >= 0 or None, got {length!r}")
        if length == 0:
            raise ValueError(f"{what} has no batches (its len() is 0)")
        if length is None and steps is None:
            raise ValueError(f"{what} is endless (its num_batches is None): pass {steps_name}, the "
                             "batches of one epoch")
        self.length = length
        self.depth = 0 if dataset.workers == 0 else 2
        self._select = slice(None)  # the positions of each pass this process reads
        self._pass = None  # the indices of the pass being read (with steps), and the next to read
        self._cursor = 0
        self._pool = None
        self._ready()

    @property
    def endless(self) -> bool:
        return self.length is None

    def num_batches(self, batch_size: int) -> int:
        if self.steps is not None:
            return self.steps
        return len(range(self.length)[self._select])

    def shard(self, index: int, count: int) -> DatasetStream:
        """Read only batches ``index, index + count, index + 2·count, ...`` of each pass (of its
        order, shuffled or not): process ``index`` of ``count`` training on its share."""
        if not 0 <= index < count:
            raise ValueError(f"shard index must be in [0, {count}), got {index}")
        if self.length is not None and index >= self.length:
            raise ValueError(f"{self.what} has {self.length} batches: shard {index} of {count} gets none")
        self._select = slice(index, None, count)
        return self

    def block(self, index: int, count: int) -> DatasetStream:
        """Read only the contiguous batches ``[index·L/count, (index+1)·L/count)`` of the ``L`` in
        order: process ``index`` of ``count`` evaluating or predicting its block."""
        if self.endless:
            raise ValueError(f"{self.what} is endless: it cannot be split into blocks of its batches; "
                             "pass shard=False (each rank reads its own steps)")
        lo, hi = index * self.length // count, (index + 1) * self.length // count
        if hi <= lo:
            raise ValueError(f"{self.what} has {self.length} batches: block {index} of {count} gets none")
        self._select = slice(lo, hi)
        return self

    def order(self, rng):
        """A permutation of the batch indices (on the host), or None for an endless Dataset."""
        return None if self.endless else transfer.to_numpy(rng.permutation(self.length))

    def _prime(self) -> None:
        next(self._checked([("dataset[0]", self._read(0))]))

    def _read(self, index: int):
        try:
            return self.dataset[index]
        except Exception as exc:
            note(exc, f"(raised by {self.what} making dataset[{index}])")
            raise

    # -- one epoch ----------------------------------------------------------------------------
    def _indices(self, order) -> list[int]:
        """The dataset indices this epoch reads."""
        if self.endless:  # read on: positions cursor, cursor + 1, ... of this shard
            index, count = self._select.start or 0, self._select.step or 1
            start, self._cursor = self._cursor, self._cursor + self.steps
            return [p * count + index for p in range(start, start + self.steps)]
        whole = (list(range(self.length)) if order is None else [int(i) for i in order])[self._select]
        if self.steps is None:
            return whole
        out = []
        while len(out) < self.steps:  # on from where the last epoch stopped, a new pass when one ends
            if self._pass is None or self._cursor == len(self._pass):
                self._pass, self._cursor = whole, 0
            taken = self._pass[self._cursor:self._cursor + self.steps - len(out)]
            self._cursor += len(taken)
            out += taken
        return out

    def _begin_epoch(self) -> None:
        self.dataset.on_epoch_begin()
        workers = self.dataset.workers
        if self.dataset.use_multiprocessing:  # made here, in the loop's thread
            self._pool = ProcessPoolExecutor(workers, mp_context=_process_context(),
                                             initializer=_install, initargs=(self.dataset,))
            self._pool.submit(int, 0).result()  # the workers start now, not from the prefetch thread
        elif workers > 1:
            self._pool = ThreadPoolExecutor(workers, thread_name_prefix="flexnet-dataset")

    def _end_epoch(self) -> None:
        self.dataset.on_epoch_end()

    def _release(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def _epoch(self, batch_size: int, order):
        indices = self._indices(order)
        pool = self._pool
        if pool is None:
            for i in indices:
                yield f"dataset[{i}]", self._read(i)
            return
        read = _read_in_worker if isinstance(pool, ProcessPoolExecutor) else self.dataset.__getitem__
        ahead = deque()
        todo = iter(indices)
        for i in todo:
            ahead.append((i, pool.submit(read, i)))
            if len(ahead) == self.dataset.max_queue_size:
                break
        while ahead:
            i, future = ahead.popleft()
            try:
                batch = future.result()
            except Exception as exc:
                note(exc, f"(raised by {self.what} making dataset[{i}] in a worker)")
                raise
            for j in todo:  # one more in flight for the one taken
                ahead.append((j, pool.submit(read, j)))
                break
            yield f"dataset[{i}]", batch
