"""Model files: one archive holding JSON metadata and NumPy arrays, written atomically.

A flexnet file is a NumPy ``.npz`` archive (a zip of ``.npy`` arrays) read with
``allow_pickle=False``, so loading executes no code. Its entry ``flexnet.json``
holds the metadata (format name, format version, what the file holds, the
weight names and shapes, and for whole models the JSON config); the other
entries are plain numeric arrays. Files are written beside the target and
renamed over it, so a crash mid-save leaves the previous file intact.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile

import numpy as np

__all__ = ["FORMAT", "FORMAT_VERSION", "load_weights", "read_archive", "save_weights",
           "write_archive"]

FORMAT = "flexnet"
FORMAT_VERSION = 1
_META = "flexnet.json"


def write_archive(path, meta: dict, arrays: dict[str, np.ndarray]) -> None:
    """Write ``meta`` (JSON) and ``arrays`` to ``path`` atomically.

    The archive is built in a temporary file in the target's directory, flushed
    to disk, then renamed over ``path`` (``os.replace`` is atomic on POSIX and
    Windows), so readers see the old file or the new one, never half of one.
    """
    path = os.fspath(path)
    if _META in arrays:
        raise ValueError(f"array name {_META!r} is reserved")
    for key, value in arrays.items():
        if not isinstance(value, np.ndarray) or value.dtype.kind not in "biuf":
            raise TypeError(f"array {key!r} must be a numeric NumPy array, got {type(value).__name__}")
    header = {"format": FORMAT, "version": FORMAT_VERSION, **meta}
    payload = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".flexnet-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **{_META: payload}, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_archive(path, kind: str | None = None) -> tuple[dict, dict[str, np.ndarray]]:
    """Read and check a flexnet archive; returns ``(meta, arrays)``.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: an empty, truncated, corrupted or foreign file, one written by a
            newer format version, or (with ``kind``) one that holds something else.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        raw = f.read()
    if not raw:
        raise ValueError(f"{path!r} is empty, not a flexnet file")
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as archive:
            names = list(archive.files)
            if _META not in names:
                raise ValueError(f"{path!r} is not a flexnet file (no {_META} entry)")
            meta = json.loads(archive[_META].tobytes().decode("utf-8"))
            arrays = {name: archive[name] for name in names if name != _META}
    except (zipfile.BadZipFile, EOFError, OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path!r} is not a readable flexnet file (truncated or corrupted: {exc})") \
            from None
    except ValueError as exc:
        if "flexnet" in str(exc):
            raise
        raise ValueError(f"{path!r} is not a readable flexnet file ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{path!r} is not a flexnet file (format {meta.get('format')!r})"
                         if isinstance(meta, dict) else f"{path!r} is not a flexnet file")
    version = meta.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ValueError(f"{path!r} has no valid format version: {version!r}")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{path!r} was written by a newer flexnet (format version {version}); this flexnet "
            f"reads versions up to {FORMAT_VERSION}: upgrade flexnet to load it"
        )
    if kind is not None and meta.get("kind") != kind and not (kind == "weights" and
                                                              meta.get("kind") == "model"):
        raise ValueError(f"{path!r} holds a {meta.get('kind')!r}, not a {kind!r}")
    return meta, arrays


def _weight_entries(model) -> list[tuple[str, str, object]]:
    """``(layer name, weight name, live array)`` for every weight, in get_weights order."""
    out = []
    for layer in model.layers:
        for store in (layer.params, layer.buffers):
            for key, value in store.items():
                out.append((layer.name, key, value))
    return out


def weights_payload(model) -> tuple[list[dict], dict[str, np.ndarray]]:
    """The weight index (names, shapes, dtypes) and arrays of a built model."""
    index, arrays = [], {}
    for i, (layer, key, value) in enumerate(_weight_entries(model)):
        host = model.backend.to_numpy(value)
        name = f"weight_{i:04d}"
        index.append({"layer": layer, "name": key, "shape": list(host.shape),
                      "dtype": str(host.dtype), "entry": name})
        arrays[name] = host
    return index, arrays


def restore_weights(model, index, arrays, path) -> None:
    """Check a weight index against a built model, then set every weight (all or nothing)."""
    entries = _weight_entries(model)
    if not isinstance(index, list) or len(index) != len(entries):
        count = len(index) if isinstance(index, list) else "no"
        raise ValueError(f"{path!r} holds {count} weights but model {model.name!r} has {len(entries)}")
    values = []
    for spec, (layer, key, live) in zip(index, entries):
        if not isinstance(spec, dict) or spec.get("entry") not in arrays:
            raise ValueError(f"{path!r} is corrupted: weight entry {spec!r} is missing")
        value = arrays[spec["entry"]]
        if tuple(value.shape) != tuple(live.shape) or value.dtype.kind != "f":
            raise ValueError(
                f"{path!r}: weight {spec.get('layer')}/{spec.get('name')} has shape "
                f"{tuple(value.shape)} ({value.dtype}) but layer {layer!r} expects {key} of shape "
                f"{tuple(live.shape)}"
            )
        values.append(value)
    model.set_weights(values)


def save_weights(model, path) -> None:
    """Write a built model's weights (no architecture, no optimizer) to ``path``."""
    model._require_built("save_weights()")
    index, arrays = weights_payload(model)
    write_archive(path, {"kind": "weights", "weights": index}, arrays)


def load_weights(model, path) -> None:
    """Set a built model's weights from a file written by :func:`save_weights` or ``model.save``.

    Weights are matched by position; every shape is checked before any weight
    changes, so a mismatch leaves the model as it was.
    """
    model._require_built("load_weights()")
    meta, arrays = read_archive(path, kind="weights")
    restore_weights(model, meta.get("weights"), arrays, os.fspath(path))
