"""The flexnet file: one NumPy ``.npz`` archive of JSON metadata and numeric arrays.

Written atomically (:mod:`flexnet.io.atomic`: a temporary file beside the target,
renamed over it) and read as a file from elsewhere must be: the metadata first, with
caps on its size and nesting, then each array only when asked for, bounded by the
size its header declares (:mod:`flexnet.io.npz`), never unpickled.
"""

from __future__ import annotations

import io
import json
import os

import numpy as np

from flexnet.io.atomic import atomic_write
from flexnet.io.npz import Member, NpzReader

__all__ = ["FORMAT", "FORMAT_VERSION", "MAX_JSON_DEPTH", "MAX_METADATA_BYTES", "Archive", "archive_bytes",
           "atomic_write", "open_archive", "parse_archive", "read_archive", "write_archive"]

FORMAT = "flexnet"
FORMAT_VERSION = 1
#: Largest metadata entry (the JSON config and weight index) that is read.
MAX_METADATA_BYTES = 16 * 2**20
#: Deepest nesting of JSON lists and dicts in the metadata (a model nested 32 deep needs ~100).
MAX_JSON_DEPTH = 256
_META = "flexnet.json"


def _save_archive(f, meta: dict, arrays: dict[str, np.ndarray]) -> None:
    if _META in arrays:
        raise ValueError(f"array name {_META!r} is reserved")
    for key, value in arrays.items():
        if not isinstance(value, np.ndarray) or value.dtype.kind not in "biuf":
            raise TypeError(f"array {key!r} must be a numeric NumPy array, got {type(value).__name__}")
    header = {"format": FORMAT, "version": FORMAT_VERSION, **meta}
    payload = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    np.savez(f, **{_META: payload}, **arrays)


def write_archive(path, meta: dict, arrays: dict[str, np.ndarray]) -> None:
    """Write ``meta`` (JSON) and ``arrays`` to ``path`` atomically.

    See :func:`flexnet.io.atomic.atomic_write`: readers see the old file or the new one,
    never part of one; a symbolic link is written through.
    """
    atomic_write(path, lambda f: _save_archive(f, meta, arrays))


def archive_bytes(meta: dict, arrays: dict[str, np.ndarray]) -> bytes:
    """The bytes :func:`write_archive` would write (a model kept in memory, e.g. when pickled)."""
    buffer = io.BytesIO()
    _save_archive(buffer, meta, arrays)
    return buffer.getvalue()


def _json_depth(value) -> int:
    """How deeply lists and dicts nest in ``value`` (iteratively: any depth is safe)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (dict, list)):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return deepest


class Archive:
    """A flexnet file open for reading: its checked metadata, and its arrays read one at a
    time when asked for, each bounded by its header.

    Use it as a context manager (:func:`open_archive`). Opening reads the zip directory
    (bounded by :data:`~flexnet.io.npz.MAX_ENTRIES`) and the metadata (at most
    :data:`MAX_METADATA_BYTES`, nested at most :data:`MAX_JSON_DEPTH` deep) and nothing else.

    Args:
        path: the file (with ``data``: the name the bytes go by in messages).
        kind: ``"model"`` or ``"weights"`` to refuse a file holding something else (a whole
            model file also serves as a weights file).
        data: the archive's bytes, read instead of a file (a model a pickle carries).

    Attributes:
        path: the path, as given (for messages).
        meta: the metadata dict (``format``, ``version``, ``kind``, ...).
        names: the array entries (the metadata excluded), in archive order.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: an empty, truncated, corrupted or foreign file, one over the caps, one
            written by a newer format version, or (with ``kind``) one holding something else.
    """

    def __init__(self, path, kind: str | None = None, data: bytes | None = None):
        self.path = os.fspath(path)
        self._file = open(self.path, "rb") if data is None else io.BytesIO(data)
        self._npz = None
        try:
            self._open(kind)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._npz is not None:
            self._npz.close()
        self._file.close()

    def _unreadable(self, exc: Exception) -> ValueError:
        if isinstance(exc, ValueError):
            return ValueError(f"{self.path!r} is not a readable flexnet file ({exc})")
        # zipfile and zlib raise BadZipFile, zlib.error, EOFError, OSError, ... on damaged bytes.
        return ValueError(f"{self.path!r} is not a readable flexnet file (truncated or corrupted: "
                          f"{type(exc).__name__}: {exc})")

    def _guarded(self, fn, *args):
        try:
            return fn(*args)
        except (KeyError, RecursionError):
            raise
        except Exception as exc:  # any failure to parse untrusted bytes
            raise self._unreadable(exc) from None

    def _open(self, kind) -> None:
        path = self.path
        size = self._file.seek(0, os.SEEK_END)
        self._file.seek(0)
        head = self._file.read(4)
        if not head:
            raise ValueError(f"{path!r} is empty, not a flexnet file")
        if head != b"PK\x03\x04":  # np.load would try other formats, pickle included
            raise ValueError(f"{path!r} is not a flexnet file: flexnet files are zip (.npz) archives, "
                             f"this one starts with {head + self._file.read(4)!r}")
        self._npz = self._guarded(NpzReader, self._file, size)
        if _META not in self._npz:
            raise ValueError(f"{path!r} is not a flexnet file (no {_META} entry)")
        self.names = [n for n in self._npz.names if n != _META]
        self.meta = self._read_meta()
        meta = self.meta
        if meta.get("format") != FORMAT:
            raise ValueError(f"{path!r} is not a flexnet file (format {meta.get('format')!r})")
        version = meta.get("version")
        if not isinstance(version, int) or isinstance(version, bool):
            raise ValueError(f"{path!r} has no valid format version: {version!r}")
        if version > FORMAT_VERSION:
            raise ValueError(
                f"{path!r} was written by a newer flexnet (format version {version}); this flexnet "
                f"reads versions up to {FORMAT_VERSION}: upgrade flexnet to load it"
            )
        found = meta.get("kind")
        if kind is not None and found != kind and not (kind == "weights" and found == "model"):
            if kind == "model" and found == "weights":
                raise ValueError(f"{path!r} holds only weights (written by save_weights), not a model: "
                                 "build the model in code and call model.load_weights(path)")
            raise ValueError(f"{path!r} holds a {found!r}, not a {kind!r}")

    def _read_meta(self) -> dict:
        member = self.member(_META)
        if member.dtype != np.uint8 or len(member.shape) != 1:
            raise ValueError(f"{self.path!r} is not a flexnet file ({_META} is not bytes)")
        if member.nbytes > MAX_METADATA_BYTES:
            raise ValueError(f"{self.path!r}: its metadata is {member.nbytes} bytes; flexnet reads at most "
                             f"{MAX_METADATA_BYTES} (fx.io.archive.MAX_METADATA_BYTES)")
        too_deep = ValueError(f"{self.path!r}: its metadata nests lists and dicts more than "
                              f"{MAX_JSON_DEPTH} levels deep; flexnet reads at most {MAX_JSON_DEPTH}")
        text = self.read(_META).tobytes()
        try:
            meta = self._guarded(lambda: json.loads(text.decode("utf-8")))
        except RecursionError:  # far deeper than the cap: the parser ran out of stack
            raise too_deep from None
        if not isinstance(meta, dict):
            raise ValueError(f"{self.path!r} is not a flexnet file ({_META} holds a "
                             f"{type(meta).__name__}, not a dict)")
        if _json_depth(meta) > MAX_JSON_DEPTH:
            raise too_deep
        return meta

    # -- entries ---------------------------------------------------------------------------
    def __contains__(self, name: str) -> bool:
        return name != _META and name in self._npz

    def member(self, name: str) -> Member:
        """An entry's header (dtype, shape), read and checked; its body is not read.

        Raises:
            ValueError: no such entry, or a header that is malformed, oversized, holds
                Python objects, or disagrees with the zip entry's size.
        """
        if name not in self._npz:
            raise ValueError(f"{self.path!r} is corrupted: it has no entry {name!r}")
        return self._guarded(self._npz.member, name)

    def read(self, name: str) -> np.ndarray:
        """An entry's array, read with the size its header declares as a hard cap."""
        self.member(name)
        return self._guarded(self._npz.read, name)

    def check_entries(self, declared) -> None:
        """Refuse entries the metadata does not declare (before any is read), and declared
        entries that are missing.

        Raises:
            ValueError: naming the entries.
        """
        declared = set(declared)
        present = set(self.names)
        unknown = sorted(present - declared) + self._npz.others
        if unknown:
            raise ValueError(f"{self.path!r} holds entries {unknown[:10]} that its index does not "
                             "declare; flexnet refuses files with undeclared contents")
        missing = sorted(declared - present)
        if missing:
            raise ValueError(f"{self.path!r} is corrupted: its index names entries {missing[:10]} "
                             "that it does not hold")


def open_archive(path, kind: str | None = None, data: bytes | None = None) -> Archive:
    """Open a flexnet file (or its bytes) for reading (see :class:`Archive`); use it in a
    ``with`` block."""
    return Archive(path, kind, data)


def read_archive(path, kind: str | None = None) -> tuple[dict, dict[str, np.ndarray]]:
    """Read and check a whole flexnet archive; returns ``(meta, arrays)``.

    Every array is read, each bounded by its header (``load_model`` and ``load_weights``
    read only the entries the metadata declares, after checking them against the model).

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: an empty, truncated, corrupted or foreign file, one over the caps, one
            written by a newer format version, or (with ``kind``) one that holds something else.
    """
    with open_archive(path, kind) as archive:
        return archive.meta, {name: archive.read(name) for name in archive.names}


def parse_archive(raw: bytes, path: str = "<bytes>", kind: str | None = None
                  ) -> tuple[dict, dict[str, np.ndarray]]:
    """Check and read the bytes of a flexnet archive (``path`` names them in messages); see
    :func:`read_archive`."""
    with open_archive(path, kind, data=raw) as archive:
        return archive.meta, {name: archive.read(name) for name in archive.names}
