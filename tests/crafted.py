"""Crafted archives for the tests of untrusted files: zip entries written byte by byte, so
that a test can make any field lie (sizes, headers), and deflate bombs made in
milliseconds (a gigabyte of zeros in about a megabyte).
"""

from __future__ import annotations

import io
import json
import struct
import zlib
from dataclasses import dataclass

import numpy as np

import flexnet as fx
from flexnet.io.model_files import weights_payload


def npy_header(dtype, shape, fortran_order: bool = False) -> bytes:
    """The bytes of a ``.npy`` header (magic, version 1.0, dict) for an array of ``shape``."""
    buffer = io.BytesIO()
    descr = np.lib.format.dtype_to_descr(np.dtype(dtype))
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": fortran_order,
                                                  "shape": tuple(shape)})
    return buffer.getvalue()


def npy_bytes(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()


def deflated_zeros(nbytes: int, head: bytes = b"") -> bytes:
    """A raw deflate stream of ``head`` then ``nbytes`` zeros (``nbytes`` a multiple of 16 MiB, or
    small), made from one compressed block repeated: a full flush resets the compressor, so
    each 16 MiB of zeros compresses to the same ~16 KB."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    out = c.compress(head) + c.flush(zlib.Z_FULL_FLUSH)
    block = 1 << 24
    if nbytes >= block:
        assert nbytes % block == 0
        out += (c.compress(bytes(block)) + c.flush(zlib.Z_FULL_FLUSH)) * (nbytes // block)
    else:
        out += c.compress(bytes(nbytes))
    return out + c.flush(zlib.Z_FINISH)


@dataclass
class Entry:
    """One zip entry: ``data`` stored as is, or ``raw`` deflate bytes that expand to ``size``
    bytes. ``crc`` and ``size`` default to the truth; set them to lie."""

    name: str
    data: bytes = b""
    raw: bytes | None = None
    size: int | None = None
    crc: int | None = None


def zip_bytes(entries: list[Entry], count: int | None = None) -> bytes:
    """A zip archive of ``entries``, written field by field (no zip64: entries under 4 GiB);
    its end record says it holds ``count`` entries (default: the truth)."""
    out, central = bytearray(), bytearray()
    for e in entries:
        name = e.name.encode()
        method, payload = (0, e.data) if e.raw is None else (8, e.raw)
        size = len(e.data) if e.size is None else e.size
        crc = (zlib.crc32(e.data) if e.raw is None else 0) if e.crc is None else e.crc
        offset = len(out)
        out += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, method, 0, 0x21, crc, len(payload), size,
                           len(name), 0) + name + payload
        central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, method, 0, 0x21, crc,
                               len(payload), size, len(name), 0, 0, 0, 0, 0, offset) + name
    count = len(entries) if count is None else count
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, len(central), len(out), 0)
    return bytes(out + central + end)


def nested_sequential_json(depth: int) -> str:
    """The JSON text of ``depth`` Sequential models nested in each other around one Dense layer
    (too deep for ``json.dumps``)."""
    dense = '{"class_name": "Dense", "config": {"units": 2, "name": "d", "input_shape": [2]}}'
    return ('{"class_name": "Sequential", "config": {"layers": [' * depth + dense
            + "]}}" * depth)


def meta_entry(meta: dict) -> Entry:
    """The ``flexnet.json`` entry holding ``meta`` (format and version added)."""
    payload = json.dumps({"format": "flexnet", "version": 1, **meta}).encode()
    return Entry("flexnet.json.npy", npy_bytes(np.frombuffer(payload, dtype=np.uint8)))


def small_model_meta(units: int = 3, inputs: int = 2) -> tuple[dict, dict[str, np.ndarray]]:
    """The metadata and arrays of a saved ``Sequential([Dense(units, input_dim=inputs)])``."""
    model = fx.Sequential([fx.layers.Dense(units, input_dim=inputs)])
    index, arrays = weights_payload(model)
    meta = {"kind": "model", "model": fx.saving.serialize_layer(model), "compile": None,
            "optimizer": None, "weights": index, "dtype": "float32"}
    return meta, arrays


def model_file(path, meta: dict, arrays: dict, extra: list[Entry] = ()) -> None:
    """Write a flexnet file of ``meta`` and ``arrays`` (stored entries) plus ``extra`` entries."""
    entries = [meta_entry(meta)] + [Entry(f"{k}.npy", npy_bytes(v)) for k, v in arrays.items()]
    path.write_bytes(zip_bytes(entries + list(extra)))
