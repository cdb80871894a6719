"""Memory-mapped and HDF5 arrays, read a batch at a time on every backend: training on the file is
training on the arrays, bit for bit (shuffle, validation_split, weights); nothing is read whole;
each shard reads only its rows; the checks name the batch's rows."""

from __future__ import annotations

import re
import tracemalloc

import numpy as np
import pytest

import flexnet as fx
from flexnet.training.streams import SlicedArrays

N, D, C = 90, 4, 3


def _arrays(seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, D)).astype(np.float32)
    return X, rng.integers(0, C, size=N), rng.uniform(0.5, 2.0, size=N).astype(np.float32)


def _files(tmp_path, *arrays):
    """Each array saved as .npy and opened memory-mapped, read-only."""
    out = []
    for k, a in enumerate(arrays):
        np.save(tmp_path / f"a{k}.npy", a)
        out.append(np.load(tmp_path / f"a{k}.npy", mmap_mode="r"))
    return out


def _model(case=None):
    fx.utils.set_random_seed(0)
    layers = [fx.layers.Dense(6, activation="relu", input_dim=D), fx.layers.Dense(C, activation="softmax")]
    model = fx.Sequential(layers) if case is None else case.model(layers)
    model.compile(optimizer=fx.optimizers.Adam(0.02), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def _fit_both(case, in_memory, on_file, **kwargs):
    """Train the same model on the arrays and on the files; the two models and histories."""
    runs = []
    for data in (in_memory, on_file):
        model = _model(case)
        history = model.fit(*data, batch_size=16, epochs=3, verbose=0, **kwargs)
        runs.append((model, history))
    return runs


def _assert_bit_for_bit(runs):
    (a, ha), (b, hb) = runs
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wb, wa)
    assert hb.history == ha.history


@pytest.mark.parametrize("shuffle", [True, False])
def test_training_on_a_memory_mapped_file_is_training_on_the_arrays_bit_for_bit(case, tmp_path, shuffle):
    X, y, w = _arrays()
    Xm, ym, wm = _files(tmp_path, X, y, w)
    runs = _fit_both(case, (X, y), (Xm, ym), sample_weight=None, shuffle=shuffle, validation_split=0.2,
                     class_weight={1: 3.0})
    _assert_bit_for_bit(runs)
    runs = _fit_both(case, (X, y), (Xm, ym), sample_weight=w, shuffle=shuffle,
                     validation_data=(X[:30], y[:30]))
    _assert_bit_for_bit(runs)
    _, (model, _) = runs
    np.testing.assert_array_equal(model.predict(Xm, batch_size=16), model.predict(X, batch_size=16))
    assert model.evaluate(Xm, ym, batch_size=16) == model.evaluate(X, y, batch_size=16)
    assert isinstance(model.predict(Xm), np.ndarray)


def test_memory_mapped_validation_data_with_arrays_for_training(tmp_path):
    X, y, w = _arrays()
    Xm, ym, wm = _files(tmp_path, X, y, w)
    histories = [_model().fit(X, y, batch_size=16, epochs=2, verbose=0, validation_data=data).history
                 for data in ((X[:40], y[:40], w[:40]), (Xm[:40], ym[:40], wm[:40]))]
    assert histories[1] == histories[0]


def test_hdf5_datasets_are_read_by_sorted_indices_and_train_as_the_arrays(case, tmp_path):
    h5py = pytest.importorskip("h5py")
    X, y, _ = _arrays()
    with h5py.File(tmp_path / "data.h5", "w") as f:
        f["x"], f["y"] = X, y
    with h5py.File(tmp_path / "data.h5", "r") as f:
        runs = _fit_both(case, (X, y), (f["x"], f["y"]), validation_split=0.25)
        _assert_bit_for_bit(runs)
        np.testing.assert_array_equal(runs[1][0].predict(f["x"]), runs[0][0].predict(X))


def test_the_file_is_never_read_whole(tmp_path):
    """Allocated memory (tracemalloc sees NumPy's) stays far below the file's size."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4000, 256)).astype(np.float32)  # 4 MB
    (Xm,) = _files(tmp_path, X)
    y = rng.integers(0, 2, size=4000)
    model = fx.Sequential([fx.layers.Dense(2, activation="softmax", input_dim=256)])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model.fit(Xm[:64], y[:64], verbose=0)  # the first step's one-off allocations
    tracemalloc.start()
    try:
        model.fit(Xm, y, batch_size=32, epochs=1, verbose=0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < X.nbytes / 10, f"{peak / 1e6:.2f} MB allocated for a {X.nbytes / 1e6:.1f} MB file"


class _Logged(np.ndarray):
    """A view of a memory-mapped array that logs how many rows each read takes."""

    reads: list = []

    def __getitem__(self, key):
        out = super().__getitem__(key)
        if isinstance(out, np.ndarray) and out.ndim == self.ndim:
            _Logged.reads.append(out.shape[0])
        return out.view(np.ndarray)


def test_every_backend_reads_the_file_a_batch_at_a_time(case, tmp_path):
    X, y, _ = _arrays()
    Xm, ym = _files(tmp_path, X, y)
    _Logged.reads = []
    model = _model(case)
    model.fit(Xm.view(_Logged), ym, batch_size=16, epochs=2, verbose=0)
    model.predict(Xm.view(_Logged), batch_size=32)
    assert max(_Logged.reads) <= 32 and sum(_Logged.reads) == 3 * N  # two epochs, one prediction


def test_each_shard_reads_only_its_positions_of_the_order(tmp_path):
    X = np.arange(40, dtype=np.float32).reshape(-1, 1) * np.ones((1, D), np.float32)
    (Xm,) = _files(tmp_path, X)
    model = _model()
    order = np.random.default_rng(3).permutation(40)
    seen = []
    for index in range(3):
        stream = SlicedArrays(model._trainer.adapter, Xm).shard(index, 3)
        rows = [np.asarray(Xs[0])[:, 0].astype(int) for Xs, _, _ in stream.batches(4, order)]
        assert stream.n == len(range(index, 40, 3)) and stream.num_batches(4) == len(rows)
        np.testing.assert_array_equal(np.concatenate(rows), order[index::3])
        seen.append(np.concatenate(rows))
    assert sorted(np.concatenate(seen).tolist()) == list(range(40))


def test_the_checks_name_the_rows_of_the_batch(tmp_path):
    X, y, _ = _arrays()
    X[37, 2] = np.nan
    Xm, ym = _files(tmp_path, X, y)
    with pytest.raises(ValueError, match=re.escape("batch 2 of x (memory-mapped), rows 32:48: x contains")):
        _model().fit(Xm, ym, batch_size=16, shuffle=False, verbose=0)
    with pytest.raises(ValueError, match=re.escape("x (memory-mapped): x, y and sample_weight need the same "
                                                   "number of rows, got [89, 90]")):
        _model().fit(Xm, ym[:-1], verbose=0)
    with pytest.raises(ValueError, match="class labels must be in"):
        _model().fit(Xm, ym + C, verbose=0)


def test_data_on_a_device_does_not_go_with_a_file(tmp_path):
    torch = pytest.importorskip("torch")
    X, y, _ = _arrays()
    (Xm,) = _files(tmp_path, X)
    with pytest.raises(TypeError, match=r"y is a torch array on device 'cpu', but the data it goes with is "
                                        "read from a file batch by batch on the host"):
        _model().fit(Xm, torch.from_numpy(y), verbose=0)


def test_step_counts_do_not_apply_to_files(tmp_path):
    X, y, _ = _arrays()
    Xm, ym = _files(tmp_path, X, y)
    with pytest.raises(ValueError, match="steps_per_epoch counts the batches of data read a batch at a time"):
        _model().fit(Xm, ym, steps_per_epoch=2, verbose=0)
