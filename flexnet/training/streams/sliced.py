"""Arrays too large for memory, read by rows: ``np.memmap`` (``np.load(mmap_mode="r")``) and
HDF5 datasets (``h5py``), and any NumPy arrays given with them.

Nothing is read whole: each batch reads its rows, as a slice when the epoch keeps the
stored order, or as the batch's indices sorted (files read best in order; HDF5
requires it) and put back in the epoch's order afterwards. So a batch holds the same
samples in the same order as the in-memory path gives for the same shuffle, and
training on the file is training on the arrays, bit for bit.
"""

from __future__ import annotations

import mmap

import numpy as np

from flexnet import transfer
from flexnet.training.streams.base import Stream, leaves

__all__ = ["SlicedArrays", "is_out_of_core", "storage"]


def _is_hdf5(a) -> bool:
    return type(a).__module__.startswith("h5py") and hasattr(a, "shape") and hasattr(a, "dtype")


def _is_mapped(a) -> bool:
    """A NumPy array whose memory is a mapped file (a memmap, or a view of one)."""
    while isinstance(a, np.ndarray):
        a = a.base
    return isinstance(a, mmap.mmap)


def is_out_of_core(a) -> bool:
    """Whether ``a`` is read from a file as it is used: memory-mapped, or an HDF5 dataset."""
    return _is_mapped(a) or _is_hdf5(a)


def storage(a) -> str:
    """How an out-of-core array is stored, for messages."""
    return "an HDF5 dataset" if _is_hdf5(a) else "memory-mapped"


def _columns(value, what: str):
    """``value`` (an array, or a list or dict of them) with every array readable by rows."""
    if value is None:
        return None
    if isinstance(value, dict):
        return {k: _columns(v, f"{what}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (list, tuple)) and value and all(_readable(v) for v in value):
        return [_columns(v, f"{what}[{k}]") for k, v in enumerate(value)]
    if transfer.is_device_array(value):
        raise TypeError(f"{what} is {transfer.describe(value)}, but the data it goes with is read from a "
                        "file batch by batch on the host: give it as a NumPy array (or a file) too")
    if _readable(value):
        return value
    return transfer.as_host_array(value, what)  # numbers: in memory anyway


def _readable(a) -> bool:
    return isinstance(a, np.ndarray) or _is_hdf5(a)


def _each(value, fn):
    if value is None:
        return None
    if isinstance(value, dict):
        return {k: _each(v, fn) for k, v in value.items()}
    if isinstance(value, list):
        return [_each(v, fn) for v in value]
    return fn(value)


class SlicedArrays(Stream):
    """Rows ``start..stop`` of arrays read from files, a batch at a time.

    Args:
        adapter, heads, class_weight: as for :class:`~flexnet.training.streams.base.Stream`.
        x, y, sample_weight: arrays (or lists or dicts of them) with the samples on the first
            axis; memory-mapped, HDF5 datasets, or NumPy arrays.
        rows: ``(start, stop)``, the rows read (all by default; ``validation_split`` cuts).
        what: how messages name it.
    """

    def __init__(self, adapter, x, y=None, sample_weight=None, heads=None, class_weight=None,
                 rows: tuple[int, int] | None = None, what: str = "x"):
        super().__init__(adapter, heads, class_weight, what)
        self.x = _columns(x, "x")
        self.y = _columns(y, "y")
        self.sample_weight = _columns(sample_weight, "sample_weight")
        lengths = {int(a.shape[0]) if a.ndim else 0 for a in leaves([self.x, self.y, self.sample_weight])}
        if len(lengths) != 1:
            raise ValueError(f"{what}: x, y and sample_weight need the same number of rows, got "
                             f"{sorted(lengths)}")
        total = lengths.pop()
        self.rows = (0, total) if rows is None else rows
        if self.rows[1] <= self.rows[0]:
            raise ValueError(f"{what} is empty (0 samples)")
        self._shard = (0, 1)  # this process reads positions index, index + count, ... of each order
        self._ready()

    @property
    def n(self) -> int:
        start, stop = self.rows
        index, count = self._shard
        return len(range(index, stop - start, count))

    def num_batches(self, batch_size: int) -> int:
        return -(-self.n // batch_size)

    def shard(self, index: int, count: int) -> SlicedArrays:
        """Read only positions ``index, index + count, ...`` of each epoch's order (shuffled or
        not): process ``index`` of ``count`` training on its share of every batch."""
        if not 0 <= index < count:
            raise ValueError(f"shard index must be in [0, {count}), got {index}")
        self._shard = (index, count)
        return self

    def block(self, index: int, count: int) -> SlicedArrays:
        """Read only the contiguous block ``index`` of ``count`` of the rows (lengths differing by
        at most one): process ``index`` evaluating or predicting its block."""
        start, stop = self.rows
        lo, hi = start + index * (stop - start) // count, start + (index + 1) * (stop - start) // count
        if hi <= lo:
            raise ValueError(f"{self.what} has {stop - start} rows: block {index} of {count} gets none")
        self.rows = (lo, hi)
        return self

    def order(self, rng):
        """A permutation of the rows, on the host (read from the device once per epoch)."""
        start, stop = self.rows
        return transfer.to_numpy(rng.permutation(stop - start))

    def _read(self, rows, inverse=None):
        """``(x, y, sample_weight)`` at ``rows`` (a slice, or sorted indices then put back in
        their order by ``inverse``); just ``(x,)`` for ``predict``."""
        def take(a):
            batch = a[rows]
            return batch if inverse is None else np.take(batch, inverse, axis=0)

        x = _each(self.x, take)
        if self._heads is None:
            return (x,)
        return x, _each(self.y, take), _each(self.sample_weight, take)

    def _prime(self) -> None:
        start = self.rows[0]
        next(self._checked([(f"rows {start}:{start + 1}", self._read(slice(start, start + 1)))]))

    def _epoch(self, batch_size: int, order):
        start, stop = self.rows
        index, count = self._shard
        positions = None if order is None and count == 1 else (
            np.arange(stop - start) if order is None else np.asarray(order))[index::count]
        for first in range(0, self.n, batch_size):
            last = min(first + batch_size, self.n)
            if positions is None:
                yield f"rows {start + first}:{start + last}", self._read(slice(start + first, start + last))
                continue
            chunk = positions[first:last] + start
            sorter = np.argsort(chunk, kind="stable")
            yield "", self._read(chunk[sorter], np.argsort(sorter))
