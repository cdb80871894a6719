"""Bounded reading of ``.npz`` archives (zip files of ``.npy`` arrays) that come from elsewhere.

Nothing is read before it is checked: the zip's end record bounds the number of entries
before the central directory is parsed; each entry's ``.npy`` header is read from the
zip stream (a few hundred bytes, whatever the body) and checked against the zip's
declared size and the deflate ratio; a body is read into an array of the size its header
declares, with that size as a hard cap, only when the caller asks for it. Pickled
objects are never read.
"""

from __future__ import annotations

import io
import math
import struct
import zipfile
from dataclasses import dataclass

import numpy as np

__all__ = ["MAX_ENTRIES", "MAX_NPY_HEADER_BYTES", "Member", "NpzReader"]

#: Most entries an archive may hold (the classic zip limit), checked before the directory is read.
MAX_ENTRIES = 65_535
#: Longest ``.npy`` header read (NumPy's own default limit).
MAX_NPY_HEADER_BYTES = 10_000
#: Deflate expands at most about 1032:1; a member declaring more is lying.
_MAX_DEFLATE_RATIO = 1032
#: A directory entry is 46 bytes, the name (``optimizer_0001.npy``) and rare extra fields; zipfile
#: keeps about 500 bytes per entry, so this bounds what parsing the directory costs (~50 MB).
_DIRECTORY_BYTES_PER_ENTRY = 80
_CHUNK = 1 << 20  # bytes decompressed per read into an array
_EOCD, _EOCD64_LOCATOR, _EOCD64 = b"PK\x05\x06", b"PK\x06\x07", b"PK\x06\x06"


@dataclass(frozen=True)
class Member:
    """One ``.npy`` entry, as its header declares it (the body is not read).

    Attributes:
        name: the entry's name without ``.npy`` (the key ``np.load`` gives it).
        dtype: the array's dtype (never an object dtype).
        shape: its shape.
        fortran_order: the body is in column-major order.
        offset: bytes before the body (magic, version, header).
        info: the zip entry.
    """

    name: str
    dtype: np.dtype
    shape: tuple[int, ...]
    fortran_order: bool
    offset: int
    info: zipfile.ZipInfo

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


def _directory_bounds(f, size: int) -> tuple[int, int]:
    """``(entries, directory bytes)`` from the zip's end record (and its zip64 record, which
    ``zipfile`` prefers when present), read before ``zipfile`` parses the directory."""
    tail_size = min(size, 22 + 65_535)  # the end record, then a comment of at most 64 KiB
    f.seek(size - tail_size)
    tail = f.read(tail_size)
    at = tail.rfind(_EOCD)
    if at < 0 or len(tail) - at < 22:
        raise ValueError("truncated or corrupted: no zip end record")
    entries, directory = struct.unpack("<HI", tail[at + 10: at + 16])
    at64 = at - 20 - 56  # zipfile reads a zip64 record right before its locator
    if at >= 20 and tail[at - 20: at - 16] == _EOCD64_LOCATOR:
        if at64 < 0 or tail[at64: at64 + 4] != _EOCD64:
            raise ValueError("truncated or corrupted: a zip64 end record is announced but missing")
        entries, directory = struct.unpack("<QQ", tail[at64 + 32: at64 + 48])
    return entries, directory


def _read_exact(stream, n: int, what: str) -> bytes:
    data = stream.read(n)
    if len(data) != n:
        raise ValueError(f"truncated or corrupted: {what} ends after {len(data)} of {n} bytes")
    return data


class NpzReader:
    """An open ``.npz`` archive whose entries are read one at a time, each bounded.

    Args:
        f: the archive, a binary file open for reading (seekable).
        size: its size in bytes.

    Raises:
        ValueError: not a zip archive, too many entries, a ``.npy`` entry that is
            encrypted, compressed other than by deflate, named twice, or declares more bytes
            than its compressed data can hold. Bytes that zipfile cannot parse raise what
            zipfile raises (``BadZipFile``, ...).
    """

    def __init__(self, f, size: int):
        entries, directory = _directory_bounds(f, size)
        if entries > MAX_ENTRIES or directory > MAX_ENTRIES * _DIRECTORY_BYTES_PER_ENTRY:
            raise ValueError(f"the archive declares {entries} entries in a {directory}-byte directory; "
                             f"flexnet reads at most {MAX_ENTRIES} entries")
        f.seek(0)
        self._zip = zipfile.ZipFile(f)
        if len(self._zip.infolist()) > MAX_ENTRIES:
            raise ValueError(f"the archive holds {len(self._zip.infolist())} entries; flexnet reads at "
                             f"most {MAX_ENTRIES}")
        self._members: dict[str, Member] = {}
        self._infos: dict[str, zipfile.ZipInfo] = {}
        #: Entries that are not ``.npy`` arrays (never read).
        self.others: list[str] = []
        for info in self._zip.infolist():
            name = info.filename
            if not name.endswith(".npy"):
                self.others.append(name)
                continue
            key = name[: -len(".npy")]
            if key in self._infos:
                raise ValueError(f"entry {key!r} appears twice")
            if info.flag_bits & 0x1:
                raise ValueError(f"entry {key!r} is encrypted")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise ValueError(f"entry {key!r} uses zip compression method {info.compress_type}; "
                                 "flexnet reads stored or deflated entries")
            if info.header_offset + info.compress_size > size:
                raise ValueError(f"truncated or corrupted: entry {key!r} ends past the end of the file")
            ratio = 1 if info.compress_type == zipfile.ZIP_STORED else _MAX_DEFLATE_RATIO
            if info.file_size > info.compress_size * ratio + 1024:
                raise ValueError(f"entry {key!r} declares {info.file_size} bytes from "
                                 f"{info.compress_size} compressed ones, more than deflate can give")
            self._infos[key] = info

    @property
    def names(self) -> list[str]:
        """The entries' names, without ``.npy``, in archive order."""
        return list(self._infos)

    def __contains__(self, name: str) -> bool:
        return name in self._infos

    def close(self) -> None:
        self._zip.close()

    def member(self, name: str) -> Member:
        """The entry's header, read and checked (cached); its body is not read.

        Raises:
            KeyError: no such entry.
            ValueError: a malformed or oversized header, a dtype that is not a plain
                number (objects would need pickle), or a body size that disagrees with the
                zip entry's.
        """
        if name in self._members:
            return self._members[name]
        info = self._infos[name]
        with self._zip.open(info) as stream:
            magic = _read_exact(stream, 8, f"entry {name!r}")
            try:
                version = np.lib.format.read_magic(io.BytesIO(magic))
            except ValueError:
                raise ValueError(f"entry {name!r} is not a .npy array (starts with {magic!r})") from None
            if version not in ((1, 0), (2, 0)):
                raise ValueError(f"entry {name!r} is a .npy file of version {version}; flexnet reads 1.0 "
                                 "and 2.0")
            width = 2 if version == (1, 0) else 4
            length_bytes = _read_exact(stream, width, f"entry {name!r}")
            length = int.from_bytes(length_bytes, "little")
            if length > MAX_NPY_HEADER_BYTES:
                raise ValueError(f"entry {name!r} has a {length}-byte .npy header; at most "
                                 f"{MAX_NPY_HEADER_BYTES} are read")
            header = io.BytesIO(length_bytes + _read_exact(stream, length, f"entry {name!r}"))
        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                       else np.lib.format.read_array_header_2_0)
        try:
            shape, fortran_order, dtype = read_header(header, max_header_size=MAX_NPY_HEADER_BYTES)
        except (ValueError, TypeError, SyntaxError) as exc:
            raise ValueError(f"entry {name!r} has a malformed .npy header ({exc})") from None
        if dtype.hasobject:
            raise ValueError(f"entry {name!r} holds Python objects (dtype object), which would need "
                             "unpickling; flexnet reads files with allow_pickle=False")
        if dtype.kind not in "biuf" or dtype.shape != ():
            raise ValueError(f"entry {name!r} is not an array of plain numbers (dtype {dtype})")
        if any(d < 0 for d in shape):
            raise ValueError(f"entry {name!r} has the negative shape {shape}")
        member = Member(name, dtype, tuple(shape), bool(fortran_order), 8 + width + length, info)
        if member.offset + member.nbytes != info.file_size:
            raise ValueError(
                f"entry {name!r} declares a {dtype} array of shape {member.shape} "
                f"({member.nbytes} bytes) but the zip entry holds {info.file_size - member.offset} bytes"
            )
        self._members[name] = member
        return member

    def read(self, name: str) -> np.ndarray:
        """The entry's array: the header is checked first, then exactly the bytes it declares
        are decompressed into a new array (zipfile stops at the entry's declared size and
        checks the CRC when it gets there)."""
        member = self.member(name)
        shape = member.shape[::-1] if member.fortran_order else member.shape
        array = np.empty(shape, dtype=member.dtype)
        view = memoryview(array.reshape(-1).view(np.uint8))
        with self._zip.open(member.info) as stream:
            _read_exact(stream, member.offset, f"entry {name!r}")
            done = 0
            while done < member.nbytes:
                chunk = stream.read(min(_CHUNK, member.nbytes - done))
                if not chunk:
                    raise ValueError(f"truncated or corrupted: entry {name!r} ends after {done} of "
                                     f"{member.nbytes} bytes")
                view[done: done + len(chunk)] = chunk
                done += len(chunk)
        return array.T if member.fortran_order else array
