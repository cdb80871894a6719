"""What the trainer's loops read: a source of batches, one kind per kind of input.

:class:`~flexnet.training.data_adapter.ArrayData` holds arrays in memory on the device;
:mod:`flexnet.training.streams` reads memory-mapped and HDF5 arrays, generators, torch
DataLoaders and :class:`flexnet.data.Dataset` objects a batch at a time. ``fit``,
``evaluate`` and ``predict`` use this interface only.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator

__all__ = ["Source"]


class Source(ABC):
    """Batches of one ``fit``, ``evaluate`` or ``predict`` call, on the model's device, checked.

    Attributes:
        streamed: batches are read one at a time (not gathered from arrays in memory),
            so a runner that compiles many steps into one program over arrays runs them a
            step at a time.
        template: an input as the caller gave it, for results to go back in its kind (see
            :func:`flexnet.transfer.like`); None for the model's own arrays.
    """

    streamed = False
    template = None

    @property
    @abstractmethod
    def n(self) -> int | None:
        """Samples in one pass: known up front for arrays, counted as a stream is read (the
        count of its last epoch; None before the first)."""

    @abstractmethod
    def num_batches(self, batch_size: int) -> int | None:
        """Batches in one epoch (None while unknown: a generator not yet read through)."""

    def order(self, rng):
        """The order of the next epoch, drawn from ``rng`` (a :class:`flexnet.random.Generator`)
        when ``fit`` shuffles; None for a source that keeps its own order."""
        return None

    @abstractmethod
    def batches(self, batch_size: int, order=None) -> Iterator[tuple[list, list, object]]:
        """One epoch: ``(Xs, Ys, W)`` per batch (``Ys`` empty and ``W`` None for ``predict``)."""

    def close(self) -> None:
        """Stop reading: background threads and worker pools end (a stream does this itself
        when an epoch ends or fails)."""
