"""The flexnet file: one NumPy ``.npz`` archive of JSON metadata and numeric arrays.

Written atomically (a temporary file beside the target, renamed over it) and read
with ``allow_pickle=False`` and every check a file from elsewhere needs.
"""

from __future__ import annotations

import io
import json
import os
import tempfile

import numpy as np

__all__ = ["FORMAT", "FORMAT_VERSION", "archive_bytes", "atomic_write", "parse_archive", "read_archive",
           "write_archive"]

FORMAT = "flexnet"
FORMAT_VERSION = 1
_META = "flexnet.json"


def atomic_write(path, write) -> None:
    """Call ``write(f)`` on a binary file that becomes ``path`` only once it is complete.

    The file is written as a temporary file in the target's directory, flushed to
    disk, then renamed over ``path`` (``os.replace`` is atomic on POSIX and Windows),
    so readers see the old file or the new one, never half of one; if ``write``
    raises, ``path`` is untouched and the temporary file is removed.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".flexnet-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


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
    """Write ``meta`` (JSON) and ``arrays`` to ``path`` atomically (see :func:`atomic_write`)."""
    atomic_write(path, lambda f: _save_archive(f, meta, arrays))


def archive_bytes(meta: dict, arrays: dict[str, np.ndarray]) -> bytes:
    """The bytes :func:`write_archive` would write (a model kept in memory, e.g. when pickled)."""
    buffer = io.BytesIO()
    _save_archive(buffer, meta, arrays)
    return buffer.getvalue()


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
    return parse_archive(raw, path, kind)


def parse_archive(raw: bytes, path: str = "<bytes>", kind: str | None = None
                  ) -> tuple[dict, dict[str, np.ndarray]]:
    """Check and read the bytes of a flexnet archive (``path`` names them in messages); see
    :func:`read_archive`."""
    if not raw:
        raise ValueError(f"{path!r} is empty, not a flexnet file")
    if not raw.startswith(b"PK\x03\x04"):  # np.load would try other formats, pickle included
        raise ValueError(f"{path!r} is not a flexnet file: flexnet files are zip (.npz) archives, "
                         f"this one starts with {raw[:8]!r}")
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as archive:
            names = list(archive.files)
            if _META not in names:
                raise ValueError(f"{path!r} is not a flexnet file (no {_META} entry)")
            meta = json.loads(archive[_META].tobytes().decode("utf-8"))
            arrays = {name: archive[name] for name in names if name != _META}
    except ValueError as exc:
        if "flexnet" in str(exc):
            raise
        raise ValueError(f"{path!r} is not a readable flexnet file ({exc})") from None
    except Exception as exc:  # any failure to parse untrusted bytes means a bad file
        # zipfile and np.load raise BadZipFile, EOFError, OSError, NotImplementedError
        # (a mangled compression flag), RuntimeError ("encrypted"), MemoryError (a header
        # claiming a huge array), ... on damaged bytes.
        raise ValueError(f"{path!r} is not a readable flexnet file (truncated or corrupted: "
                         f"{type(exc).__name__}: {exc})") from None
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
        if kind == "model" and meta.get("kind") == "weights":
            raise ValueError(f"{path!r} holds only weights (written by save_weights), not a model: "
                             "build the model in code and call model.load_weights(path)")
        raise ValueError(f"{path!r} holds a {meta.get('kind')!r}, not a {kind!r}")
    return meta, arrays
