"""Loading a file from elsewhere is bounded in memory and time.

Every weight shape is derived from the config and compared with the archive's index, every
entry the index does not declare is refused, and each entry is read with its declared size
as a hard cap, all before anything large is allocated. Memory is measured with tracemalloc
(NumPy reports its buffers to it), which is deterministic; no test asserts on wall time
except as a generous bound.
"""

from __future__ import annotations

import json
import math
import re
import tracemalloc
import zlib

import numpy as np
import pytest
from crafted import (
    Entry,
    deflated_zeros,
    meta_entry,
    model_file,
    nested_sequential_json,
    npy_bytes,
    npy_header,
    small_model_meta,
    zip_bytes,
)

import flexnet as fx
from flexnet.io import archive as fx_archive
from flexnet.io import model_files, npz
from flexnet.models import config as model_config

MiB = 1 << 20
GiB = 1 << 30
#: What loading may allocate besides twice the weights: the metadata, the zip directory, Python.
OVERHEAD = 4 * MiB


def _load_peak(path, load=None):
    """``(exception or None, peak bytes allocated)`` while loading ``path``."""
    load = load or fx.models.load_model
    tracemalloc.start()
    try:
        load(path)
        error = None
    except Exception as exc:  # the tests check the type and message
        error = exc
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return error, peak


def _weights_bytes(meta) -> int:
    return sum(math.prod(w["shape"]) * np.dtype(w["dtype"]).itemsize for w in meta["weights"])


# -- bombs ------------------------------------------------------------------------------------


def test_an_undeclared_gigabyte_member_is_refused_unread(tmp_path):
    meta, arrays = small_model_meta()
    bomb = Entry("extra.npy", raw=deflated_zeros(GiB, npy_header("<f4", (GiB // 4,))),
                 size=GiB + len(npy_header("<f4", (GiB // 4,))))
    path = tmp_path / "bomb.flexnet"
    model_file(path, meta, arrays, extra=[bomb])
    assert path.stat().st_size < 2 * MiB
    error, peak = _load_peak(path)
    assert isinstance(error, ValueError)
    assert "['extra']" in str(error) and "does not declare" in str(error)
    assert peak < OVERHEAD
    error, peak = _load_peak(path, fx.Sequential([fx.layers.Dense(3, input_dim=2)]).load_weights)
    assert isinstance(error, ValueError) and "does not declare" in str(error)
    assert peak < OVERHEAD


def _bomb_weight(meta, arrays, shape, index_shape=None, zip_size=None):
    """The file of ``meta`` whose first weight entry is a deflate bomb of ``shape`` float32 (its
    index entry says ``index_shape``; the zip entry declares ``zip_size`` bytes)."""
    header = npy_header("<f4", shape)
    nbytes = math.prod(shape) * 4
    meta["weights"][0]["shape"] = list(index_shape or shape)
    entry = meta["weights"][0]["entry"]
    if zip_size is None:
        bomb = Entry(f"{entry}.npy", raw=deflated_zeros(nbytes, header), size=len(header) + nbytes)
    else:  # the first zip_size bytes, with their true CRC: zipfile reads them without complaint
        bomb = Entry(f"{entry}.npy", raw=deflated_zeros(nbytes, header), size=zip_size,
                     crc=zlib.crc32((header + bytes(zip_size))[:zip_size]))
    rest = {k: v for k, v in arrays.items() if k != entry}
    entries = [meta_entry(meta), bomb] + [Entry(f"{k}.npy", npy_bytes(v)) for k, v in rest.items()]
    return zip_bytes(entries)


@pytest.mark.parametrize(("problem", "match"), [
    ("header disagrees with the index", r"index gives weight dense/kernel the shape \[2, 3\].*holds "
                                        r"\[268435456\]"),
    ("index and header agree, the config does not", r"weight dense/kernel has shape \(268435456,\).*"
                                                    r"expects kernel of shape \(2, 3\)"),
    ("the zip entry says fewer bytes than the header", "declares a float32 array of shape"),
])
def test_a_weight_bomb_is_refused_before_it_is_decompressed(tmp_path, problem, match):
    meta, arrays = small_model_meta()
    shape = (GiB // 4,)
    if problem == "header disagrees with the index":
        data = _bomb_weight(meta, arrays, shape, index_shape=(2, 3))
    elif problem == "index and header agree, the config does not":
        data = _bomb_weight(meta, arrays, shape)
    else:
        data = _bomb_weight(meta, arrays, shape, zip_size=200)
    path = tmp_path / "bomb.flexnet"
    path.write_bytes(data)
    error, peak = _load_peak(path)
    assert isinstance(error, ValueError), error
    assert re.search(match, str(error)), str(error)
    assert peak < OVERHEAD


def test_a_member_claiming_more_than_deflate_can_give_is_refused(tmp_path):
    meta, arrays = small_model_meta()
    payload = npy_bytes(arrays["weight_0000"])
    entry = Entry("weight_0000.npy", raw=deflated_zeros(0, payload), size=GiB)
    rest = [Entry("weight_0001.npy", npy_bytes(arrays["weight_0001"]))]
    path = tmp_path / "liar.flexnet"
    path.write_bytes(zip_bytes([meta_entry(meta), entry, *rest]))
    with pytest.raises(ValueError, match="more than deflate can give"):
        fx.models.load_model(path)


def test_a_member_longer_than_its_zip_size_is_cut_at_the_declared_size(tmp_path):
    """The zip entry declares the right size but its deflate stream goes on for a gigabyte:
    the read stops at the declared size (and the CRC, computed on that, fails)."""
    meta, arrays = small_model_meta()
    payload = npy_bytes(arrays["weight_0000"])
    entry = Entry("weight_0000.npy", raw=deflated_zeros(GiB, payload), size=len(payload))
    path = tmp_path / "long.flexnet"
    path.write_bytes(zip_bytes([meta_entry(meta), entry,
                                Entry("weight_0001.npy", npy_bytes(arrays["weight_0001"]))]))
    error, peak = _load_peak(path)
    assert isinstance(error, ValueError) and "Bad CRC" in str(error)
    assert peak < OVERHEAD


def test_a_directory_of_too_many_entries_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(npz, "MAX_ENTRIES", 1000)
    entries = [Entry(f"{i}.npy") for i in range(1001)]
    path = tmp_path / "many.flexnet"
    path.write_bytes(zip_bytes(entries))
    with pytest.raises(ValueError, match="declares 1001 entries.*at most 1000 entries"):
        fx.models.load_model(path)
    path.write_bytes(zip_bytes(entries, count=2))  # the end record lies: zipfile reads them all
    with pytest.raises(ValueError, match="holds 1001 entries; flexnet reads at most 1000"):
        fx.models.load_model(path)
    path.write_bytes(zip_bytes([Entry(f"{i:0100d}.npy") for i in range(1000)], count=2))
    with pytest.raises(ValueError, match="in a 150000-byte directory"):  # too big to be parsed
        fx.models.load_model(path)


def test_oversized_metadata_and_deep_json_are_refused(tmp_path, monkeypatch):
    meta, arrays = small_model_meta()
    path = tmp_path / "meta.flexnet"
    model_file(path, {**meta, "padding": "x" * 2000}, arrays)
    monkeypatch.setattr(fx_archive, "MAX_METADATA_BYTES", 1000)
    with pytest.raises(ValueError, match="metadata is .* bytes; flexnet reads at most 1000"):
        fx.models.load_model(path)
    monkeypatch.undo()
    payload = b'{"format": "flexnet", "version": 1, "x": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    path.write_bytes(zip_bytes([Entry("flexnet.json.npy", npy_bytes(np.frombuffer(payload, np.uint8)))]))
    with pytest.raises(ValueError, match="metadata nests lists and dicts more than 256 levels deep"):
        fx.models.load_model(path)
    deep = []
    for _ in range(fx_archive.MAX_JSON_DEPTH + 10):
        deep = [deep]
    model_file(path, {**meta, "x": deep}, arrays)
    with pytest.raises(ValueError, match=f"more than {fx_archive.MAX_JSON_DEPTH} levels deep"):
        fx.models.load_model(path)


# -- configs that would allocate or take long -------------------------------------------------


@pytest.mark.parametrize("units", [5 * 10**6, 10**12])
def test_a_huge_units_in_the_config_allocates_nothing(tmp_path, units):
    meta, arrays = small_model_meta()
    meta["model"]["config"]["layers"][0]["config"]["units"] = units
    path = tmp_path / "units.flexnet"
    model_file(path, meta, arrays)
    error, peak = _load_peak(path)
    assert isinstance(error, ValueError)
    assert f"expects kernel of shape (2, {units})" in str(error)
    assert peak < OVERHEAD


def test_a_huge_input_shape_in_the_config_allocates_nothing(tmp_path):
    meta, arrays = small_model_meta()
    layer = meta["model"]["config"]["layers"][0]["config"]
    layer["input_shape"] = [10**7]
    meta["model"]["config"]["build_input_shape"] = [None, 10**7]
    path = tmp_path / "input.flexnet"
    model_file(path, meta, arrays)
    error, peak = _load_peak(path)
    assert isinstance(error, ValueError)
    assert "expects kernel of shape (10000000, 3)" in str(error)
    assert peak < OVERHEAD


def test_loading_draws_no_initial_values(tmp_path, monkeypatch):
    model = fx.Sequential([fx.layers.Dense(4, input_dim=3), fx.layers.BatchNormalization()])
    model.save(tmp_path / "m.flexnet")
    drawn = []
    original = fx.initializers.GlorotUniform.__call__
    monkeypatch.setattr(fx.initializers.GlorotUniform, "__call__",
                        lambda self, *a, **k: drawn.append(a) or original(self, *a, **k))
    loaded = fx.models.load_model(tmp_path / "m.flexnet")
    assert drawn == []
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def _sequential_config(n: int, units: int = 2) -> dict:
    layers = [{"class_name": "Dense", "config": {"units": units, "name": f"d{i}"}} for i in range(n)]
    layers[0]["config"]["input_shape"] = [units]
    return {"class_name": "Sequential", "config": {"name": "deep", "layers": layers}}


def _nested_config(depth: int) -> dict:
    spec = _sequential_config(1)
    for i in range(depth - 1):
        spec = {"class_name": "Sequential", "config": {"name": f"s{i}", "layers": [spec]}}
    return spec


def test_more_layers_than_the_cap_are_refused_before_anything_is_built(tmp_path):
    meta, arrays = small_model_meta()
    meta["model"] = _sequential_config(20_000)
    path = tmp_path / "wide.flexnet"
    model_file(path, meta, arrays)
    assert path.stat().st_size > MiB
    error, peak = _load_peak(path)
    assert isinstance(error, ValueError)
    assert f"holds more than {model_config.MAX_LAYERS} layers" in str(error)
    assert peak < 40 * MiB  # the parsed JSON of 1.4 MB
    with pytest.raises(ValueError, match="more than 10000 layers"):
        fx.Sequential.from_config(meta["model"]["config"])


def test_models_nested_deeper_than_the_cap_are_refused(tmp_path):
    meta, arrays = small_model_meta()
    text = json.dumps({**meta, "format": "flexnet", "version": 1, "model": "MODEL"})
    text = text.replace('"MODEL"', nested_sequential_json(320))
    path = tmp_path / "nested.flexnet"
    entries = [Entry("flexnet.json.npy", npy_bytes(np.frombuffer(text.encode(), np.uint8)))]
    path.write_bytes(zip_bytes(entries + [Entry(f"{k}.npy", npy_bytes(v)) for k, v in arrays.items()]))
    with pytest.raises(ValueError, match="metadata nests lists and dicts more than"):  # JSON's cap first
        fx.models.load_model(path)
    for depth in (model_config.MAX_NESTING + 1, 320, 5000):  # in memory: no recursion either
        with pytest.raises(ValueError, match=f"nests models more than {model_config.MAX_NESTING} deep"):
            fx.Sequential.from_config(_nested_config(depth)["config"])


def test_models_nested_as_deep_as_the_cap_load_and_round_trip(tmp_path):
    model = fx.Sequential.from_config(_nested_config(model_config.MAX_NESTING)["config"])
    model.save(tmp_path / "deep.flexnet")
    loaded = fx.models.load_model(tmp_path / "deep.flexnet")
    x = np.ones((1, 2), dtype="float32")
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_saving_refuses_a_model_that_loading_would_refuse(tmp_path, monkeypatch):
    model = fx.Sequential([fx.layers.Dense(2, input_dim=2), fx.layers.Dense(2), fx.layers.Dense(2)])
    monkeypatch.setattr(model_config, "MAX_LAYERS", 2)
    with pytest.raises(ValueError, match="more than 2 layers"):
        model.save(tmp_path / "m.flexnet")
    assert list(tmp_path.iterdir()) == []


# -- the bound itself --------------------------------------------------------------------------


@pytest.mark.parametrize("compiled", [False, True], ids=["weights", "weights+adam"])
def test_loading_allocates_at_most_twice_the_declared_weights(tmp_path, compiled):
    model = fx.Sequential([fx.layers.Dense(1024, input_dim=512), fx.layers.Dense(512)])
    if compiled:
        model.compile(optimizer="adam", loss="mse")
        model.train_on_batch(np.ones((2, 512), "float32"), np.ones((2, 512), "float32"))
    path = tmp_path / "m.flexnet"
    model.save(path)
    meta, _ = fx.saving.read_archive(path)
    declared = _weights_bytes(meta) * (3 if compiled else 1)  # Adam keeps m and v
    error, peak = _load_peak(path)
    assert error is None
    assert peak <= 2 * declared + OVERHEAD, (peak, declared)
    twin = fx.Sequential([fx.layers.Dense(1024, input_dim=512), fx.layers.Dense(512)])
    error, peak = _load_peak(path, twin.load_weights)
    assert error is None
    assert peak <= 2 * _weights_bytes(meta) + OVERHEAD
    for a, b in zip(twin.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_optimizer_state_larger_than_the_weights_allow_is_refused(tmp_path):
    meta, arrays = small_model_meta()
    big = np.zeros((model_files.MAX_STATE_PER_WEIGHT * 9,), "float32")  # the model has 9 values
    meta["compile"] = {"optimizer": {"class_name": "SGD", "config": {}},
                       "loss": {"class_name": "MeanSquaredError", "config": {}}}
    meta["optimizer"] = {"iterations": 1, "state": {"list": [{"array": "optimizer_0002"}]}}
    path = tmp_path / "state.flexnet"
    model_file(path, meta, {**arrays, "optimizer_0002": big})
    with pytest.raises(ValueError, match="more numbers than an optimizer keeps for 9 weight values"):
        fx.models.load_model(path)


def test_a_file_whose_weights_are_not_floats_or_named_twice_is_refused(tmp_path):
    meta, arrays = small_model_meta()
    path = tmp_path / "ints.flexnet"
    meta["weights"][0]["dtype"] = "int32"
    model_file(path, meta, {**arrays, "weight_0000": arrays["weight_0000"].astype("int32")})
    with pytest.raises(ValueError, match="dense/kernel is not a float array"):
        fx.models.load_model(path)
    meta, arrays = small_model_meta()
    meta["weights"][1]["entry"] = "weight_0000"
    model_file(path, meta, {"weight_0000": arrays["weight_0000"]})
    with pytest.raises(ValueError, match="names entry 'weight_0000' twice"):
        fx.models.load_model(path)


# -- building is linear in the number of layers ------------------------------------------------


class _NameCounting(fx.layers.Dense):
    """Counts how often anything reads its name."""

    reads = 0

    @property
    def name(self):
        type(self).reads += 1
        return self._name

    @name.setter
    def name(self, value):
        self._name = value


def test_adding_n_layers_to_a_sequential_reads_each_name_a_bounded_number_of_times():
    _NameCounting.reads = 0
    n = 2000
    model = fx.Sequential([_NameCounting(2, input_dim=2)] + [_NameCounting(2) for _ in range(n - 1)])
    assert len(model.layers) == n
    assert _NameCounting.reads < 20 * n  # the quadratic build read each name n/2 times on average


@pytest.mark.slow
@pytest.mark.parametrize("order", ["forward", "reversed"])
def test_a_config_of_the_largest_allowed_size_builds_in_linear_time(order):
    """Ten thousand layers: seconds when linear, an hour when quadratic (the bound is generous)."""
    import time

    n = model_config.MAX_LAYERS
    entries = [{"class_name": "InputLayer", "config": {"shape": [2], "name": "in"}, "name": "in",
                "inbound_nodes": []}]
    entries += [{"class_name": "Dense", "config": {"units": 2, "name": f"d{i}"}, "name": f"d{i}",
                 "inbound_nodes": [[[f"d{i - 1}" if i else "in", 0, 0]]]} for i in range(n - 1)]
    if order == "reversed":  # every pass of a naive replay makes one call
        entries = entries[:1] + entries[:0:-1]
    config = {"name": "chain", "layers": entries, "input_layers": [["in", 0, 0]],
              "output_layers": [[f"d{n - 2}", 0, 0]]}
    start = time.perf_counter()
    model = fx.models.Model.from_config(config)
    assert time.perf_counter() - start < 120
    assert len(model.layers) == n and model.predict(np.ones((1, 2))).shape == (1, 2)
