"""The Prefetcher: items in order from a background thread, a bounded queue, errors re-raised in
the reader's thread, and a clean stop (on close, at the end, on a failure, on Ctrl-C)."""

from __future__ import annotations

import threading

import pytest

from flexnet.training.streams.prefetch import Prefetcher


def _alive(name: str = "flexnet-prefetch") -> list:
    return [t for t in threading.enumerate() if t.name == name]


def test_items_come_in_order_from_another_thread():
    made_in = []

    def items():
        for i in range(20):
            made_in.append(threading.current_thread())
            yield i

    with Prefetcher(items(), depth=3) as reader:
        assert list(reader) == list(range(20))
    assert all(t is not threading.main_thread() for t in made_in)
    assert not _alive()


def test_the_thread_runs_at_most_depth_items_ahead():
    made = []
    started = threading.Event()

    def items():
        for i in range(100):
            made.append(i)
            started.set()
            yield i

    reader = Prefetcher(items(), depth=2)
    started.wait(5)
    first = next(reader)
    reader._thread.join(0.2)  # it stays blocked on the full queue: waiting gives it every chance
    assert first == 0
    # taken: 1; queued: 2; one more made and waiting for room
    assert len(made) <= 1 + 2 + 1
    reader.close()
    assert not reader._thread.is_alive()


def test_an_error_is_raised_in_the_reader_with_its_traceback_and_the_thread_ends():
    def items():
        yield 1
        raise KeyError("bad item")

    reader = Prefetcher(items())
    assert next(reader) == 1
    with pytest.raises(KeyError, match="bad item") as info:
        next(reader)
    assert any(frame.name == "items" for frame in info.traceback)  # where it was raised
    assert not reader._thread.is_alive()
    with pytest.raises(StopIteration):
        next(reader)


def test_closing_early_stops_the_thread_and_closes_the_items_in_it():
    closed_in = []

    def items():
        try:
            yield from range(10**6)
        finally:
            closed_in.append(threading.current_thread())

    reader = Prefetcher(items(), depth=1)
    assert next(reader) == 0
    reader.close()
    assert not reader._thread.is_alive()
    assert closed_in and closed_in[0] is not threading.main_thread()


def test_ctrl_c_in_the_reader_stops_the_thread():
    with pytest.raises(KeyboardInterrupt):
        with Prefetcher(iter(range(10**6)), depth=2) as reader:
            for i in reader:
                if i == 3:
                    raise KeyboardInterrupt
    assert not _alive()


def test_busy_and_waited_measure_the_overlap():
    import time

    def slow():
        for i in range(3):
            time.sleep(0.01)
            yield i

    with Prefetcher(slow()) as reader:
        assert list(reader) == [0, 1, 2]
    assert reader.busy > 0.0 and reader.waited > 0.0  # a reader that does nothing waits


@pytest.mark.parametrize("depth", [0, -1, 1.5, True])
def test_depth_must_be_a_positive_int(depth):
    with pytest.raises(ValueError, match="depth must be an int >= 1"):
        Prefetcher(iter([]), depth=depth)
