"""Preparing the next batch while the current step runs: :class:`Prefetcher`.

One background thread pulls items from an iterator (for a stream: read a batch, check
it, copy it to the device) into a bounded queue that the training loop takes them from.
NumPy, the array libraries' copies and file reads release Python's lock, so the
thread's work overlaps the step's.
"""

from __future__ import annotations

import queue
import threading
import time

__all__ = ["Prefetcher"]

_ITEM, _END, _ERROR = "item", "end", "error"
#: How often a thread blocked on a full queue looks whether it should stop (seconds).
_POLL = 0.05
#: How long :meth:`Prefetcher.close` waits for the thread (seconds) before leaving it, as a
#: daemon, to finish the read it is in.
_JOIN = 10.0


class Prefetcher:
    """Iterates ``items`` in a background thread, at most ``depth`` items ahead of the reader.

    The reader takes the items in order; an exception raised by ``items`` is raised in the
    reader's thread, with its traceback, when the reader reaches it. :meth:`close` (or
    leaving a ``with`` block, or the end of the items) stops the thread: a thread blocked
    on the full queue returns within :data:`_POLL` seconds, and ``items`` is closed in the
    thread (a generator's ``finally`` blocks run there).

    Args:
        items: an iterator; its ``__next__`` runs in the background thread only.
        depth: the most items prepared and not yet taken (a bound on the memory they hold).
        name: the thread's name.

    Attributes:
        busy: seconds the thread spent producing items.
        waited: seconds the reader spent waiting for an item that was not ready. With
            perfect overlap ``waited`` is about 0; without any (a reader that does nothing
            between items) it is about ``busy``.

    Example:
        >>> with Prefetcher(iter(range(5)), depth=2) as items:
        ...     list(items)
        [0, 1, 2, 3, 4]
    """

    def __init__(self, items, depth: int = 2, name: str = "flexnet-prefetch"):
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
            raise ValueError(f"depth must be an int >= 1, got {depth!r}")
        self._items = items
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._finished = False
        self.busy = 0.0
        self.waited = 0.0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    # -- the background thread -----------------------------------------------------------
    def _run(self) -> None:
        items = self._items
        try:
            while not self._stop.is_set():
                start = time.perf_counter()
                try:
                    item = next(items)
                except StopIteration:
                    self._put(_END, None)
                    return
                finally:
                    self.busy += time.perf_counter() - start
                if not self._put(_ITEM, item):
                    return
        except BaseException as exc:  # noqa: BLE001 - every failure goes to the reader
            self._put(_ERROR, exc)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                try:
                    close()
                except BaseException as exc:  # noqa: BLE001 - the reader hears of it, if it still listens
                    self._put(_ERROR, exc)

    def _put(self, kind: str, value) -> bool:
        """Queue an entry, waiting for room; False when asked to stop meanwhile."""
        while not self._stop.is_set():
            try:
                self._queue.put((kind, value), timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    # -- the reader ------------------------------------------------------------------------
    def __iter__(self):
        return self

    def __next__(self):
        if self._finished:
            raise StopIteration
        start = time.perf_counter()
        kind, value = self._queue.get()
        self.waited += time.perf_counter() - start
        if kind == _ITEM:
            return value
        self.close()
        if kind == _END:
            raise StopIteration
        raise value

    def close(self) -> None:
        """Stop the thread and wait for it (at most :data:`_JOIN` seconds: a read it is in
        cannot be interrupted); the items not taken are dropped."""
        self._finished = True
        self._stop.set()
        while True:  # room for a thread blocked on put, so it sees the stop at once
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        if self._thread is not threading.current_thread():
            self._thread.join(_JOIN)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
