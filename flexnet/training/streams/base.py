"""The part every stream shares: a batch read, unpacked, checked and copied, ahead of the step.

A subclass says how one epoch's batches are read (:meth:`Stream._epoch`, which yields
raw batches as the source gives them); :class:`Stream` does the rest, the same for
every kind of source:

* **unpack** each batch as Keras does: ``x``, ``(x,)``, ``(x, y)`` or
  ``(x, y, sample_weight)`` (a list counts as a tuple);
* **check** it with the array path's own checks
  (:class:`~flexnet.training.data_adapter.DataAdapter`: shapes, dtypes, NaN, labels,
  weights), on the host before the copy when the batch is on the host, so that no check
  reads anything back from the device; an error names the batch;
* **copy** it to the model's device;
* all of this **ahead of the step**, in a background thread
  (:class:`~flexnet.training.streams.prefetch.Prefetcher`) whose work overlaps the
  step's; the loop takes batches from a bounded queue.
"""

from __future__ import annotations

from abc import abstractmethod

import numpy as np

from flexnet import transfer
from flexnet.training.source import Source
from flexnet.training.streams.prefetch import Prefetcher

__all__ = ["Stream", "check_steps", "leaves", "unpack"]

_FORMS = {1: "(x,)", 2: "(x, y)", 3: "(x, y, sample_weight)"}


def unpack(batch) -> tuple:
    """``(x, y, sample_weight, parts)`` of a batch, read as Keras reads one: a tuple (or list)
    of 1 to 3 parts, or anything else as ``x`` alone (``parts`` counts what was given)."""
    if isinstance(batch, list):
        batch = tuple(batch)
    if not isinstance(batch, tuple):
        return batch, None, None, 1
    if not 1 <= len(batch) <= 3:
        raise ValueError(f"a batch must be x, (x,), (x, y) or (x, y, sample_weight), got a tuple of "
                         f"{len(batch)} parts")
    return (*batch, *(None,) * (3 - len(batch)), len(batch))


def check_steps(steps, name: str) -> int | None:
    """``steps`` as a positive int or None, else a ValueError naming ``name``."""
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise ValueError(f"{name} must be a positive int or None, got {steps!r}")
    return steps


def note(exc: BaseException, text: str) -> None:
    """Add ``text`` to the message an exception prints (Python 3.11+; older ones print it as is)."""
    add_note = getattr(exc, "add_note", None)
    if add_note is not None:
        add_note(text)


def leaves(value):
    """The arrays (anything but None) in ``value``: an array, or lists, tuples and dicts of them."""
    if isinstance(value, dict):
        for v in value.values():
            yield from leaves(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from leaves(v)
    elif value is not None:
        yield value


class Stream(Source):
    """Batches read one at a time by a subclass, then checked, copied and prefetched here.

    Args:
        adapter: the model's :class:`~flexnet.training.data_adapter.DataAdapter`.
        heads: the trainer's callable giving the outputs' heads (loss, metrics) once the
            model is built, for ``fit`` and ``evaluate``; None for ``predict`` (batches
            are then inputs only).
        class_weight: ``fit``'s ``{class: weight}``, applied to every batch.
        what: how messages name the source, e.g. ``"x (a generator)"``.
    """

    streamed = True
    #: Batches prepared ahead of the step (0: each is read when the step asks, in its thread).
    depth = 2

    def __init__(self, adapter, heads=None, class_weight=None, what: str = "x"):
        self.adapter = adapter
        self.class_weight = class_weight
        self.what = what
        self._heads = heads
        self._parts = None  # how many parts the first batch had: every batch must have as many
        self._n = None
        self._reader = None

    def _ready(self) -> None:
        """Build the model if it is not (from a first batch, read here: in the caller's thread)
        and resolve the heads, before any batch is read in the background."""
        if not self.adapter.model.built:
            self._prime()
        if self._heads is not None:
            heads = self._heads()
            self._heads = lambda: heads

    @abstractmethod
    def _prime(self) -> None:
        """Read and convert a first batch (which builds a model that builds from its data)."""

    # -- one batch ----------------------------------------------------------------------------
    def convert(self, batch):
        """``(Xs, Ys, W)`` on the device from one raw batch, checked."""
        x, y, sample_weight, parts = unpack(batch)
        if self._parts is None:
            self._parts = parts
        elif parts != self._parts:
            raise ValueError(f"it has {parts} parts {_FORMS[parts]} but the first batch had "
                             f"{self._parts} {_FORMS[self._parts]}; every batch needs the same form")
        adapter = self.adapter.on_host() if self._host_side(x, y, sample_weight) else self.adapter
        if self._heads is None:
            data = adapter.prediction(x)
        else:
            if y is None:
                raise ValueError("it has no targets: fit and evaluate need batches (x, y) or "
                                 "(x, y, sample_weight)")
            data = adapter.arrays(x, y, self._heads, sample_weight, self.class_weight)
        if self.template is None:
            self.template = data.template
        if adapter is self.adapter:
            return data.Xs, data.Ys, data.W
        return [self._copy(X) for X in data.Xs], [self._copy(Y) for Y in data.Ys], \
            None if data.W is None else self._copy(data.W)

    def _host_side(self, *parts) -> bool:
        """Whether a batch is checked on the host and then copied: all of it is NumPy (or
        numbers, or another library's arrays in host memory) and the model is not on NumPy."""
        backend = self.adapter.model._bind()  # resolved on first need
        if backend.name == "numpy":
            return False
        return all(not transfer.is_device_array(a) or (not backend.owns(a) and transfer.on_host(a))
                   for a in leaves(parts))

    def _copy(self, host: np.ndarray):
        backend = self.adapter.backend
        integral = np.issubdtype(host.dtype, np.integer)
        return backend.from_numpy(host, backend.index_dtype if integral else None)

    def _checked(self, raw_batches):
        """Convert each ``(where, batch)``; a check that fails names the batch."""
        for index, (where, batch) in enumerate(raw_batches):
            try:
                yield self.convert(batch)
            except (ValueError, TypeError) as exc:
                place = f"batch {index} of {self.what}" + (f", {where}" if where else "")
                raise type(exc)(f"{place}: {exc}").with_traceback(exc.__traceback__) from None

    # -- one epoch ----------------------------------------------------------------------------
    @property
    def n(self) -> int | None:
        return self._n

    @abstractmethod
    def _epoch(self, batch_size: int, order):
        """The raw batches of one epoch, as ``(where, batch)``; runs in the prefetch thread."""

    def _begin_epoch(self) -> None:
        """Before an epoch's first batch is read, in the loop's thread (worker pools start)."""

    def _end_epoch(self) -> None:
        """After the epoch's last batch was used (the Dataset's ``on_epoch_end``)."""

    def _release(self) -> None:
        """End what :meth:`_begin_epoch` started; also after a failure."""

    def batches(self, batch_size: int, order=None):
        """One epoch of ``(Xs, Ys, W)`` on the device, each prepared while the step before it
        runs; counts the samples (:attr:`n`)."""
        self._begin_epoch()
        count = 0
        try:
            prepared = self._checked(self._epoch(batch_size, order))
            self._reader = Prefetcher(prepared, self.depth) if self.depth else prepared
            for Xs, Ys, W in self._reader:
                count += Xs[0].shape[0]
                yield Xs, Ys, W
        finally:
            self.close()
        self._n = count
        self._end_epoch()

    def close(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.close()
        self._release()
