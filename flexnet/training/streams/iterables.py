"""Batches from Python iterables: generators, iterators, torch DataLoaders, any re-iterable.

An iterator (a generator) can be read once: without ``steps_per_epoch`` it is one
epoch, read until it stops; with it, every epoch reads that many batches on from where
the last one stopped, and a generator that stops first is an error, never a short
epoch. A re-iterable (a DataLoader, or any object whose ``iter()`` starts a new pass)
is read a whole pass per epoch, or ``steps_per_epoch`` batches on from where the last
epoch stopped, starting a new pass when one ends (as Keras does).
"""

from __future__ import annotations

import types

from flexnet.training.streams.base import Stream, note

__all__ = ["IterableStream", "describe", "is_torch_data_loader"]

_END = object()


def is_torch_data_loader(x) -> bool:
    """Whether ``x`` is a ``torch.utils.data.DataLoader`` (without importing torch)."""
    return any(c.__name__ == "DataLoader" and c.__module__.startswith("torch.utils.data")
               for c in type(x).__mro__)


def describe(x) -> str:
    """``"a generator"``, ``"an iterator"``, ``"a torch DataLoader"``, ``"a Batches object"``, for
    messages."""
    if is_torch_data_loader(x):
        return "a torch DataLoader"
    if isinstance(x, types.GeneratorType):
        return "a generator"
    if hasattr(x, "__next__"):
        return "an iterator"
    return f"a {type(x).__name__} object"


def _length(x) -> int | None:
    """``len(x)`` where ``x`` knows it (a DataLoader over a map-style dataset), else None."""
    try:
        return int(len(x))
    except TypeError:  # no __len__, or a DataLoader over an IterableDataset without one
        return None


class IterableStream(Stream):
    """The batches an iterable yields, read in the prefetch thread.

    Args:
        adapter, heads, class_weight: as for :class:`~flexnet.training.streams.base.Stream`.
        source: the iterable.
        steps: batches per epoch, or None for one whole pass per epoch.
        steps_name: the argument ``steps`` came from, for messages (``"steps_per_epoch"``).
        passes: how many epochs will read it (a generator without ``steps`` serves one).
        what: how messages name it.
    """

    def __init__(self, adapter, source, heads=None, class_weight=None, steps=None,
                 steps_name: str = "steps", passes: int = 1, what: str = "x"):
        super().__init__(adapter, heads, class_weight, what)
        self.source = source
        self.steps = steps
        self.steps_name = steps_name
        self.one_shot = hasattr(source, "__next__")  # an iterator is its own single pass
        self.length = _length(source)
        if self.one_shot and steps is None and passes > 1:
            raise ValueError(
                f"{what} can be read once, but {passes} epochs need it {passes} times: pass "
                f"{steps_name} (the batches of one epoch) with a generator that never stops "
                "(while True: ...), or a flexnet.data.Dataset, which can be read again"
            )
        self._current = None  # the iterator of the pass being read
        self._pending = _END  # a batch read by _prime, the first the next pass yields
        self._read_count = 0  # batches read from the pass being read
        self._last_pass = None  # batches in the last whole pass
        self._ready()

    def num_batches(self, batch_size: int) -> int | None:
        return self.steps or self.length or self._last_pass

    def _prime(self) -> None:
        self._start_pass()
        batch = self._next()
        if batch is _END:
            raise ValueError(f"{self.what} yielded no batches")
        self._pending, self._read_count = batch, 0  # counted when the pass yields it
        next(self._checked([("", batch)]))

    # -- reading, in the prefetch thread ------------------------------------------------------
    def _start_pass(self) -> None:
        self._current = iter(self.source)
        self._read_count = 0

    def _next(self):
        """The next batch of the pass being read, or ``_END``."""
        if self._pending is not _END:
            batch, self._pending = self._pending, _END
            self._read_count += 1
            return batch
        try:
            batch = next(self._current, _END)
        except Exception as exc:
            note(exc, f"(raised by {self.what} making its batch {self._read_count} of the pass)")
            raise
        self._read_count += batch is not _END
        return batch

    def _epoch(self, batch_size: int, order):
        if self.steps is None:
            yield from self._whole_pass()
            return
        for step in range(self.steps):
            batch = self._next() if self._current is not None else _END
            if batch is _END:
                if self.one_shot and self._current is not None:
                    raise ValueError(
                        f"{self.what} stopped after {self._read_count} batches, at batch {step} of an "
                        f"epoch of {self.steps_name}={self.steps}: the epoch would be cut short. Make it "
                        f"endless (while True: ...), or give {self.steps_name} a count it reaches"
                    )
                self._start_pass()
                batch = self._next()
                if batch is _END:
                    raise ValueError(f"{self.what} yielded no batches (a pass of it is empty)")
            yield "", batch

    def _whole_pass(self):
        if self._pending is _END:
            self._start_pass()
        while (batch := self._next()) is not _END:
            yield "", batch
        count = self._read_count
        if count == 0:
            used = (" A generator can be read once, and this one was used up by an earlier epoch or "
                    "call.") if self.one_shot else ""
            raise ValueError(f"{self.what} yielded no batches.{used}")
        if self.length is not None and count < self.length:
            raise ValueError(f"{self.what} yielded {count} batches but its len() is {self.length}: "
                             "the epoch would be cut short")
        self._last_pass = count
