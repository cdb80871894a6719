"""A file fuzzer: a saved model with bytes flipped, cut, inserted or deleted anywhere, and
archives of other kinds, either loads as the model that was saved or raises ValueError;
never another exception, never a partly loaded model, never a large allocation."""

from __future__ import annotations

import bz2
import gzip
import io
import tarfile
import tracemalloc
import zipfile

import numpy as np
import pytest
from crafted import Entry, meta_entry, npy_bytes, small_model_meta, zip_bytes
from hypothesis import given, settings
from hypothesis import strategies as st

import flexnet as fx

#: A fuzzed load of a 6 KB file may allocate this much at most (the good file takes ~1 MB).
PEAK = 8 << 20


def _model():
    fx.utils.set_random_seed(3)
    model = fx.Sequential([fx.layers.Dense(4, input_dim=3, activation="relu"),
                           fx.layers.BatchNormalization(), fx.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    model.fit(np.ones((8, 3)), np.ones((8, 1)), epochs=2, verbose=0)
    return model


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    model = _model()
    path = tmp_path_factory.mktemp("fuzz") / "good.flexnet"
    model.save(path)
    return path.read_bytes(), model.get_weights(), model.optimizer.get_state()


def _outcome(data: bytes, path, saved_weights, saved_state) -> str:
    """Load ``data`` both ways; "loaded" (then it is the saved model) or "refused"."""
    path.write_bytes(data)
    tracemalloc.start()
    try:
        model = fx.models.load_model(path)
    except ValueError:
        outcome = "refused"
    else:
        outcome = "loaded"
        assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), saved_weights))
        state = model.optimizer.get_state()
        assert state["iterations"] == saved_state["iterations"]
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < PEAK, peak
    twin = fx.Sequential([fx.layers.Dense(4, input_dim=3, activation="relu"),
                          fx.layers.BatchNormalization(), fx.layers.Dense(1)])
    before = twin.get_weights()
    try:
        twin.load_weights(path)
    except ValueError:
        assert all(np.array_equal(a, b) for a, b in zip(twin.get_weights(), before))
    else:
        assert all(np.array_equal(a, b) for a, b in zip(twin.get_weights(), saved_weights))
    return outcome


@given(st.data())
def test_flipped_bytes_load_the_saved_model_or_are_refused(saved, tmp_path, data):
    good, weights, state = saved
    mutated = bytearray(good)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(good) - 1))
        mutated[at] ^= data.draw(st.integers(1, 255))
    _outcome(bytes(mutated), tmp_path / "m", weights, state)


@given(st.data())
def test_cut_inserted_or_deleted_bytes_are_refused_or_harmless(saved, tmp_path, data):
    good, weights, state = saved
    at = data.draw(st.integers(0, len(good)))
    edit = data.draw(st.sampled_from(["truncate", "insert", "delete"]))
    if edit == "truncate":
        mutated = good[:at]
    elif edit == "insert":
        mutated = good[:at] + data.draw(st.binary(min_size=1, max_size=64)) + good[at:]
    else:
        mutated = good[:at] + good[at + data.draw(st.integers(1, 64)):]
    _outcome(mutated, tmp_path / "m", weights, state)


@pytest.mark.slow
@settings(max_examples=settings.default.max_examples * 10)
@given(st.data())
def test_many_more_flipped_bytes(saved, tmp_path, data):
    test_flipped_bytes_load_the_saved_model_or_are_refused.hypothesis.inner_test(saved, tmp_path, data)


@pytest.mark.slow
def test_every_single_byte_flip_of_the_metadata_and_directory(saved, tmp_path):
    """Exhaustively: each byte of the zip directory and of the JSON metadata, flipped."""
    good, weights, state = saved
    start = good.rindex(b"PK\x01\x02", 0, good.index(b"PK\x05\x06"))  # the last directory entry
    meta_end = good.index(b"weight_0000.npy")
    positions = list(range(start, len(good))) + list(range(0, meta_end, 7))
    outcomes = {_outcome(bytes(good[:at]) + bytes([good[at] ^ 0x20]) + good[at + 1:], tmp_path / "m",
                         weights, state) for at in positions}
    assert outcomes == {"loaded", "refused"}  # some bytes (times, attributes) are never read


def _zip(*names_and_bytes, method=zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=method) as z:
        for name, data in names_and_bytes:
            z.writestr(name, data)
    return buffer.getvalue()


def _tar() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("flexnet.json.npy")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    return buffer.getvalue()


def _flexnet_with(*extra: Entry, first_weight: bytes | None = None) -> bytes:
    """A small model's file plus ``extra`` entries; ``first_weight`` replaces its first weight's
    bytes (a declared entry, so that its header is read)."""
    meta, arrays = small_model_meta()
    entries = [meta_entry(meta)] + [Entry(f"{k}.npy", npy_bytes(v)) for k, v in arrays.items()]
    if first_weight is not None:
        entries[1] = Entry("weight_0000.npy", first_weight)
    return zip_bytes(entries + list(extra))


FOREIGN = {
    "gzip": (gzip.compress(b"PK\x03\x04" * 100), "not a flexnet file: flexnet files are zip"),
    "bzip2": (bz2.compress(b"x" * 100), "not a flexnet file: flexnet files are zip"),
    "tar": (_tar(), "not a flexnet file: flexnet files are zip"),
    "zip of text": (_zip(("readme.txt", b"hi")), r"not a flexnet file \(no flexnet.json entry\)"),
    "docx-like zip": (_zip(("word/", b""), ("word/document.xml", b"<w/>")), "no flexnet.json entry"),
    "empty zip": (_zip(), "not a flexnet file: flexnet files are zip"),
    "bzip2 member": (_zip(("flexnet.json.npy", npy_bytes(np.zeros(3, np.uint8))), method=zipfile.ZIP_BZIP2),
                     "compression method 12"),
    "nested zip": (_zip(("flexnet.json.npy", _zip(("a.npy", b"")))), "not a .npy array"),
    "metadata not bytes": (_zip(("flexnet.json.npy", npy_bytes(np.zeros(3)))), "flexnet.json is not bytes"),
    "metadata not json": (_zip(("flexnet.json.npy", npy_bytes(np.frombuffer(b"{nope", np.uint8)))),
                          "not a readable flexnet file"),
    "metadata a list": (_zip(("flexnet.json.npy", npy_bytes(np.frombuffer(b"[1]", np.uint8)))),
                        "holds a list, not a dict"),
    "text entry in a flexnet file": (_flexnet_with(Entry("notes.txt", b"hello")), r"\['notes.txt'\]"),
    "npy version 3": (_flexnet_with(first_weight=b"\x93NUMPY\x03\x00" + bytes(8)), r"version \(3, 0\)"),
    "structured dtype": (_flexnet_with(first_weight=npy_bytes(np.zeros(2, dtype=[("a", "f4")]))),
                         "not an array of plain numbers"),
    "huge npy header": (_flexnet_with(first_weight=b"\x93NUMPY\x02\x00" + (10**6).to_bytes(4, "little")),
                        "1000000-byte .npy header"),
    "not npy": (_flexnet_with(first_weight=b"PK\x03\x04 a zip inside"), "is not a .npy array"),
    "negative shape": (_flexnet_with(first_weight=npy_bytes(np.zeros((2, 3), "f4")).replace(b"(2, 3)",
                                                                                            b"(2,-3)")),
                       "negative shape"),
    "entry named twice": (_flexnet_with(Entry("weight_0000.npy", npy_bytes(np.zeros((2, 3), "f4")))),
                          "appears twice"),
}


@pytest.mark.parametrize("kind", list(FOREIGN), ids=str)
def test_archives_of_other_kinds_are_refused_clearly(tmp_path, kind):
    data, match = FOREIGN[kind]
    path = tmp_path / "foreign"
    path.write_bytes(data)
    for load in (fx.models.load_model, fx.Sequential([fx.layers.Dense(3, input_dim=2)]).load_weights):
        with pytest.raises(ValueError, match=match):
            load(path)
