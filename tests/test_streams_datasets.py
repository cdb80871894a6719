"""flexnet.data.Dataset (Keras's PyDataset) in fit, evaluate and predict on every backend: the same
training as its batches given as arrays, read by worker threads or processes, shuffled by batch
from the model's generator, epoch hooks, steps_per_epoch and endless Datasets, shards, errors."""

from __future__ import annotations

import os
import re
import threading

import numpy as np
import pytest

import flexnet as fx
from flexnet.training.streams import DatasetStream

N, D, C, B = 48, 3, 3, 8


def _arrays():
    rng = np.random.default_rng(0)
    return rng.normal(size=(N, D)), rng.integers(0, C, size=N)


class Rows(fx.data.Dataset):
    """Batch i is rows B·i..B·(i+1) of X and y; logs each index it is asked for, and where."""

    def __init__(self, X, y, parent=None, **kwargs):
        super().__init__(**kwargs)
        self.X, self.y, self.parent = X, y, parent
        self.asked, self.threads, self.events = [], set(), []

    def __len__(self):
        return -(-len(self.X) // B)

    def __getitem__(self, index):
        if self.parent is not None and os.getpid() == self.parent:
            raise RuntimeError("read in the parent process")
        self.asked.append(index)
        self.threads.add(threading.current_thread().name)
        rows = slice(B * index, B * (index + 1))
        return self.X[rows], self.y[rows]

    def on_epoch_begin(self):
        self.events.append("begin")

    def on_epoch_end(self):
        self.events.append("end")


class Endless(fx.data.Dataset):
    def __init__(self, X, y):
        super().__init__()
        self.X, self.y = X, y

    @property
    def num_batches(self):
        return None

    def __getitem__(self, index):
        rows = slice(B * (index % 6), B * (index % 6 + 1))
        return self.X[rows], self.y[rows]


def _model(case=None):
    fx.utils.set_random_seed(0)
    layers = [fx.layers.Dense(4, activation="tanh", input_dim=D), fx.layers.Dense(C, activation="softmax")]
    model = fx.Sequential(layers) if case is None else case.model(layers)
    model.compile(optimizer=fx.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


@pytest.mark.parametrize("kwargs", [dict(workers=0), dict(), dict(workers=2)])
def test_a_dataset_trains_as_its_batches_given_as_arrays(case, kwargs):
    X, y = _arrays()
    reference, streamed = _model(case), _model(case)
    expected = reference.fit(X, y, batch_size=B, epochs=2, shuffle=False, verbose=0,
                             validation_data=(X[:16], y[:16]))
    data = Rows(X, y, **kwargs)
    got = streamed.fit(data, epochs=2, shuffle=False, verbose=0,
                       validation_data=Rows(X[:16], y[:16], **kwargs))
    for a, b in zip(reference.get_weights(), streamed.get_weights()):
        case.assert_close(b, a)
    for key in expected.history:
        np.testing.assert_allclose(got.history[key], expected.history[key], rtol=case.rtol)
    assert data.asked == list(range(6)) * 2 and data.events == ["begin", "end"] * 2
    readers = {"flexnet-dataset" if name.startswith("flexnet-dataset") else name for name in data.threads}
    assert readers == {{0: "MainThread", 1: "flexnet-prefetch", 2: "flexnet-dataset"}[data.workers]}
    case.assert_close(streamed.predict(Rows(X, y, **kwargs)), reference.predict(X))
    np.testing.assert_allclose(streamed.evaluate(Rows(X, y, **kwargs)),
                               reference.evaluate(X, y, batch_size=B), rtol=case.rtol)


def test_worker_processes_read_the_batches(case):
    X, y = _arrays()
    reference = _model(case)
    reference.fit(Rows(X, y, workers=0), epochs=2, shuffle=False, verbose=0)
    model = _model(case)
    model.fit(Rows(X, y, parent=os.getpid(), workers=2, use_multiprocessing=True), epochs=2, shuffle=False,
              verbose=0)
    for a, b in zip(reference.get_weights(), model.get_weights()):
        case.assert_close(b, a)


def test_shuffle_reads_the_batches_in_a_new_order_every_epoch_from_the_models_seed():
    X, y = _arrays()
    orders = []
    for _ in range(2):
        data = Rows(X, y)
        _model().fit(data, epochs=3, verbose=0)
        orders.append(data.asked)
    assert orders[0] == orders[1]  # the model's seed decides
    epochs = [orders[0][6 * e:6 * (e + 1)] for e in range(3)]
    assert all(sorted(e) == list(range(6)) for e in epochs) and len({tuple(e) for e in epochs}) > 1


def test_steps_per_epoch_reads_on_across_epochs_and_an_endless_dataset_needs_it():
    X, y = _arrays()
    data = Rows(X, y, workers=0)
    _model().fit(data, epochs=3, steps_per_epoch=4, shuffle=False, verbose=0)
    assert data.asked == [0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5]
    history = _model().fit(Endless(X, y), epochs=2, steps_per_epoch=5, verbose=0)
    assert len(history.history["loss"]) == 2
    with pytest.raises(ValueError, match=r"x \(Endless\) is endless \(its num_batches is None\): pass "
                                         "steps_per_epoch"):
        _model().fit(Endless(X, y), verbose=0)
    with pytest.raises(ValueError, match=r"validation_data \(Endless\) is endless .* pass validation_steps"):
        _model().fit(Rows(X, y), validation_data=Endless(X, y), verbose=0)


def test_each_shard_reads_only_its_batches():
    X, y = _arrays()
    model = _model()
    order = np.array([5, 2, 0, 4, 1, 3])
    read = []
    for index in range(2):
        data = Rows(X, y, workers=0)
        stream = DatasetStream(model._trainer.adapter, data, model._trainer._heads).shard(index, 2)
        assert stream.num_batches(B) == 3
        assert len(list(stream.batches(B, order))) == 3
        assert data.asked == order[index::2].tolist()
        read += data.asked
    assert sorted(read) == list(range(6))
    with pytest.raises(ValueError, match="has 6 batches: shard 7 of 8 gets none"):
        DatasetStream(model._trainer.adapter, Rows(X, y), model._trainer._heads).shard(7, 8)


class Broken(Rows):
    """Rows whose batch 3 cannot be read (at the top of the module: worker processes unpickle it)."""

    def __getitem__(self, index):
        if index == 3:
            raise OSError("corrupt image")
        return super().__getitem__(index)


def test_an_error_in_getitem_keeps_its_type_and_names_the_batch():
    X, y = _arrays()
    for kwargs in (dict(workers=0), dict(), dict(workers=2), dict(workers=2, use_multiprocessing=True)):
        with pytest.raises(OSError, match="corrupt image") as info:
            _model().fit(Broken(X, y, **kwargs), shuffle=False, verbose=0)
        notes = "".join(getattr(info.value, "__notes__", []))
        assert "dataset[3]" in notes or not hasattr(info.value, "add_note")
    names = [t.name for t in threading.enumerate()]
    assert not [name for name in names if name.startswith(("flexnet-prefetch", "flexnet-dataset"))]


def test_a_bad_batch_is_named_by_its_index():
    X, y = _arrays()
    X[20, 1] = np.inf
    with pytest.raises(ValueError, match=re.escape("batch 2 of x (Rows), dataset[2]: x contains NaN")):
        _model().fit(Rows(X, y), shuffle=False, verbose=0)


@pytest.mark.parametrize("kwargs, match", [
    (dict(workers=-1), "workers must be an int >= 0, got -1"),
    (dict(workers=0, use_multiprocessing=True), "use_multiprocessing=True needs workers >= 1"),
    (dict(max_queue_size=0), "max_queue_size must be an int >= 1, got 0"),
    (dict(use_multiprocessing=1), "use_multiprocessing must be True or False"),
])
def test_dataset_arguments_are_checked(kwargs, match):
    with pytest.raises(ValueError, match=re.escape(match)):
        Rows(*_arrays(), **kwargs)


def test_an_empty_dataset_and_a_bad_length_are_refused():
    class Empty(Rows):
        def __len__(self):
            return 0

    with pytest.raises(ValueError, match=r"x \(Empty\) has no batches"):
        _model().fit(Empty(*_arrays()), verbose=0)


def test_a_subclass_without_super_init_gets_the_defaults_and_pydataset_is_keras_name():
    class Bare(fx.data.PyDataset):
        def __init__(self, X, y):
            self.X, self.y = X, y

        def __len__(self):
            return 2

        def __getitem__(self, index):
            return self.X[index * B:(index + 1) * B], self.y[index * B:(index + 1) * B]

    data = Bare(*_arrays())
    assert (data.workers, data.use_multiprocessing, data.max_queue_size) == (1, False, 10)
    assert [xb.shape for xb, _ in data] == [(B, D), (B, D)]
    assert len(_model().fit(data, epochs=2, verbose=0).history["loss"]) == 2
    with pytest.raises(TypeError, match="abstract"):
        fx.data.Dataset()
