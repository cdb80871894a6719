"""Atomic file replacement: a new file is written beside the target and renamed over it.

The temporary file is named after the target (``.model.flexnet.3f9a1c2b.flexnet-tmp``
beside ``model.flexnet``) and locked while it is written. A process killed mid-save
(SIGKILL, a power cut) leaves one behind: the next save to the same target removes
every such file that no process holds locked. SIGTERM during a write removes the
temporary file, then reaches the handler that was installed before (by default it
ends the process). A path that is a symbolic link is written through: the file it
points to is replaced, and the link stays.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import signal
import stat
import threading

try:  # POSIX; on Windows an open file cannot be deleted, which protects a live temp file
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

__all__ = ["TEMP_SUFFIX", "atomic_write", "temp_files"]

TEMP_SUFFIX = ".flexnet-tmp"
_NAME_ROOM = 200  # bytes of the target's name kept in the temporary name (NAME_MAX is 255)


class _Terminated(BaseException):
    """SIGTERM arrived while a file was being written."""


def _temp_pattern(base: str) -> re.Pattern:
    return re.compile(rf"\.{re.escape(base[:_NAME_ROOM])}\.[0-9a-f]{{8}}{re.escape(TEMP_SUFFIX)}")


def temp_files(path) -> list[str]:
    """The temporary files of saves to ``path`` (its target, if a link) that exist now."""
    directory, base = os.path.split(os.path.realpath(os.fspath(path)))
    pattern = _temp_pattern(base)
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    return sorted(os.path.join(directory, n) for n in names if pattern.fullmatch(n))


def _lock(fd: int) -> bool | None:
    """Take an exclusive lock on ``fd`` without waiting: True when taken, False when another
    process holds one, None when the file system has no locks."""
    if fcntl is None:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:
        return None
    return True


def _remove_stale(path: str) -> None:
    """Delete a temporary file whose writer is gone (nobody holds its lock)."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return
        if fcntl is None:  # Windows: a file still open in its writer cannot be deleted
            os.unlink(path)
            return
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return
    try:
        if _lock(fd) is True and os.path.samestat(os.fstat(fd), os.lstat(path)):
            os.unlink(path)  # without locks, a file may be a live save's: left alone
    except OSError:  # gone meanwhile, or (Windows) still open in its writer
        pass
    finally:
        os.close(fd)


def _reason(exc: OSError, path: str, what: str) -> OSError:
    """``exc`` again, said about the user's ``path`` rather than the temporary file."""
    folder = os.path.dirname(os.path.abspath(path)) or "."
    if isinstance(exc, FileNotFoundError):
        text = f"cannot save {path!r}: the folder {folder!r} does not exist"
    elif isinstance(exc, PermissionError):
        text = f"cannot save {path!r}: no permission to write in the folder {folder!r}"
    elif isinstance(exc, IsADirectoryError):
        text = f"cannot save {path!r}: it is a folder"
    else:
        text = f"cannot save {path!r}: {what} failed: {exc.strerror or exc}"
    named = type(exc)(exc.errno, text)
    named.filename = path
    return named


def _create_temp(directory: str, base: str, path: str) -> tuple[int, str]:
    """A new temporary file beside the target, locked; ``(fd, name)``."""
    mode = 0o666  # the umask applies, as for any new file
    for _ in range(8):
        tmp = os.path.join(directory, f".{base[:_NAME_ROOM]}.{secrets.token_hex(4)}{TEMP_SUFFIX}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), mode)
        except FileExistsError:
            continue
        except OSError as exc:
            raise _reason(exc, path, "creating a temporary file") from None
        try:
            if _lock(fd) is not False and os.fstat(fd).st_nlink > 0:
                return fd, tmp
        except BaseException:  # SIGTERM (see atomic_write) or an error: leave nothing behind
            os.close(fd)
            _unlink(tmp)
            raise
        os.close(fd)  # a cleaner took it for stale between our create and lock: try again
    raise FileExistsError(errno.EEXIST, f"cannot save {path!r}: no free temporary name in {directory!r}")


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _sync_directory(directory: str) -> None:
    """Make the rename durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _sigterm_handler_to_replace():
    """The current SIGTERM handler if ours may stand in for it during a write: only in the
    main thread, and not when SIGTERM is ignored or handled outside Python."""
    if not hasattr(signal, "SIGTERM") or threading.current_thread() is not threading.main_thread():
        return None
    previous = signal.getsignal(signal.SIGTERM)
    return None if previous in (None, signal.SIG_IGN) else previous


def atomic_write(path, write) -> None:
    """Call ``write(f)`` on a new temporary file beside ``path``, then rename it over ``path``.

    Readers see the old file or the new one, never part of one. The temporary file is
    removed on any error (and on SIGTERM, which then reaches the handler installed before:
    by default the process ends). Stale temporary files of earlier saves to the same path,
    left by a killed process, are removed first.

    Args:
        path: the file to write; a symbolic link is followed and its target replaced.
        write: called with the binary file object open for writing.

    Raises:
        OSError: the folder is missing or not writable, the disk is full, ...; the message
            names ``path``.
        InterruptedError: SIGTERM arrived and its previous handler did not end the process.
    """
    path = os.fspath(path)
    target = os.path.realpath(path)
    directory, base = os.path.split(target)
    previous = _sigterm_handler_to_replace()

    def on_sigterm(signum, frame):
        signal.signal(signal.SIGTERM, previous)  # a second SIGTERM goes where it always went
        raise _Terminated

    fd = tmp = None
    replaced = False
    try:
        if previous is not None:  # before the temporary file exists: no moment leaves one behind
            signal.signal(signal.SIGTERM, on_sigterm)
        try:
            for stale in temp_files(target):
                _remove_stale(stale)
            fd, tmp = _create_temp(directory, base, path)
            try:
                existing = os.stat(target).st_mode
            except FileNotFoundError:
                pass
            else:
                if hasattr(os, "fchmod"):
                    os.fchmod(fd, stat.S_IMODE(existing))
            with os.fdopen(os.dup(fd), "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            try:
                os.replace(tmp, target)
                replaced = True
            except OSError as exc:
                raise _reason(exc, path, "renaming the temporary file over it") from None
        except BaseException:
            if tmp is not None and not replaced:
                _unlink(tmp)
            raise
        finally:
            if fd is not None:
                os.close(fd)  # releases the lock, after the rename
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
    except _Terminated:
        if tmp is not None and not replaced:
            _unlink(tmp)
        signal.raise_signal(signal.SIGTERM)  # the previous handler's turn: by default, exit
        state = "was written before it came" if replaced else "is as it was before"
        raise InterruptedError(errno.EINTR, f"saving {path!r} was interrupted by SIGTERM; the file "
                                            f"{state}") from None
    _sync_directory(directory)
