"""Saves are atomic and leave nothing behind: temporary files are named after the target and
removed on error, on SIGTERM, or (after SIGKILL) by the next save; errors name the user's
path; a symbolic link is written through."""

from __future__ import annotations

import os
import random
import re
import signal
import stat
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import flexnet as fx
from flexnet.io import atomic

POSIX = pytest.mark.skipif(atomic.fcntl is None, reason="file locks are POSIX")
TEMP = re.compile(r"\.model\.flexnet\.[0-9a-f]{8}\.flexnet-tmp")


def _model(seed: int = 0):
    fx.utils.set_random_seed(seed)
    return fx.Sequential([fx.layers.Dense(8, input_dim=4), fx.layers.Dense(1)])


def _same(model, path) -> bool:
    return all(np.array_equal(a, b) for a, b in zip(fx.models.load_model(path).get_weights(),
                                                    model.get_weights()))


def test_the_temporary_file_is_named_after_the_target_and_removed_on_error(tmp_path, monkeypatch):
    path = tmp_path / "model.flexnet"
    _model(0).save(path)
    seen = []

    def crash(file, **arrays):
        seen.extend(os.listdir(tmp_path))
        file.write(b"half an archive")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        _model(1).save(path)
    assert [name for name in seen if TEMP.fullmatch(name)], seen
    assert os.listdir(tmp_path) == ["model.flexnet"]
    monkeypatch.undo()
    assert _same(_model(0), path)


def _stale(tmp_path, name="model.flexnet"):
    stale = tmp_path / f".{name}.0123abcd.flexnet-tmp"
    stale.write_bytes(b"left by a killed save")
    return stale


def test_the_next_save_removes_stale_temporary_files_of_its_target_only(tmp_path):
    stale = _stale(tmp_path)
    other = _stale(tmp_path, "other.flexnet")
    unrelated = tmp_path / ".model.flexnet.notmine.tmp"
    unrelated.write_bytes(b"someone else's")
    _model().save(tmp_path / "model.flexnet")
    assert not stale.exists()
    assert other.exists() and unrelated.exists()
    assert atomic.temp_files(tmp_path / "other.flexnet") == [str(other)]


@POSIX
def test_a_temporary_file_locked_by_a_live_writer_is_kept(tmp_path):
    held = _stale(tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import fcntl, sys
            f = open({str(held)!r}, "rb")
            fcntl.flock(f, fcntl.LOCK_EX)
            print("locked", flush=True)
            sys.stdin.read()
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        _model().save(tmp_path / "model.flexnet")
        assert held.exists()  # another save of the same file is under way: not ours to remove
    finally:
        holder.communicate("", timeout=30)
    _model().save(tmp_path / "model.flexnet")
    assert not held.exists()


@POSIX
def test_on_a_file_system_without_locks_saves_work_and_leave_others_files_alone(tmp_path, monkeypatch):
    import errno

    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(atomic.fcntl, "flock", no_locks)
    stale = _stale(tmp_path)
    model = _model(1)
    model.save(tmp_path / "model.flexnet")
    assert _same(model, tmp_path / "model.flexnet")
    assert stale.exists()  # it may be a live save's: without locks nobody can tell


def test_a_stale_name_that_is_a_link_or_a_folder_is_left_alone(tmp_path):
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep me")
    link = tmp_path / ".model.flexnet.0123abcd.flexnet-tmp"
    link.symlink_to(victim)
    folder = tmp_path / ".model.flexnet.4567abcd.flexnet-tmp"
    folder.mkdir()
    _model().save(tmp_path / "model.flexnet")
    assert victim.read_bytes() == b"keep me" and link.is_symlink() and folder.is_dir()


def test_errors_name_the_path_not_the_temporary_file(tmp_path):
    missing = tmp_path / "no such folder" / "model.flexnet"
    with pytest.raises(FileNotFoundError) as info:
        _model().save(missing)
    assert str(missing) in str(info.value) and "does not exist" in str(info.value)
    assert "flexnet-tmp" not in str(info.value) and info.value.filename == str(missing)
    folder = tmp_path / "model.flexnet"
    folder.mkdir()
    with pytest.raises(IsADirectoryError, match="it is a folder") as info:
        _model().save(folder)
    assert "flexnet-tmp" not in str(info.value)
    assert os.listdir(tmp_path) == ["model.flexnet"] and os.listdir(folder) == []


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root may write anywhere")
def test_an_unwritable_folder_names_the_path(tmp_path):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(PermissionError, match="no permission to write in the folder") as info:
            _model().save(folder / "model.flexnet")
        assert "flexnet-tmp" not in str(info.value)
    finally:
        folder.chmod(0o700)


@pytest.mark.parametrize("relative", [False, True], ids=["absolute", "relative"])
def test_saving_through_a_symbolic_link_replaces_the_file_it_points_to(tmp_path, relative):
    (tmp_path / "store").mkdir()
    target = tmp_path / "store" / "model.flexnet"
    _model(0).save(target)
    link = tmp_path / "current.flexnet"
    link.symlink_to(os.path.relpath(target, tmp_path) if relative else target)
    model = _model(1)
    model.save(link)
    assert link.is_symlink() and os.readlink(link) == (os.path.relpath(target, tmp_path) if relative
                                                       else str(target))
    assert _same(model, target) and _same(model, link)
    assert sorted(os.listdir(tmp_path / "store")) == ["model.flexnet"]
    dangling = tmp_path / "next.flexnet"
    dangling.symlink_to(tmp_path / "store" / "next.flexnet")
    model.save(dangling)
    assert dangling.is_symlink() and _same(model, tmp_path / "store" / "next.flexnet")


@pytest.mark.skipif(not hasattr(os, "fchmod"), reason="POSIX permissions")
def test_permissions_of_the_file_are_kept_and_new_files_follow_the_umask(tmp_path):
    path = tmp_path / "model.flexnet"
    _model().save(path)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    path.chmod(0o640)
    _model().save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_sigterm_during_a_save_removes_the_temporary_file_then_reaches_the_previous_handler(
        tmp_path, monkeypatch):
    path = tmp_path / "model.flexnet"
    _model(0).save(path)
    received = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: received.append(signum))
    savez = np.savez

    def terminated_halfway(file, **arrays):
        file.write(b"PK\x03\x04 half")
        os.kill(os.getpid(), signal.SIGTERM)
        savez(file, **arrays)  # not reached: the handler raises at the next bytecode

    try:
        monkeypatch.setattr(np, "savez", terminated_halfway)
        with pytest.raises(InterruptedError, match="interrupted by SIGTERM; the file is as it was"):
            _model(1).save(path)
        assert received == [signal.SIGTERM]  # delivered, not swallowed
        assert signal.getsignal(signal.SIGTERM) is not atomic  # the recording handler is back
        handler = signal.getsignal(signal.SIGTERM)
        assert callable(handler) and handler.__name__ == "<lambda>"
        assert os.listdir(tmp_path) == ["model.flexnet"]
        monkeypatch.undo()
        assert _same(_model(0), path)
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_the_sigterm_handler_is_installed_only_during_the_write(tmp_path, monkeypatch):
    before = signal.getsignal(signal.SIGTERM)
    during = []
    savez = np.savez

    def spy(file, **arrays):
        during.append(signal.getsignal(signal.SIGTERM))
        savez(file, **arrays)

    monkeypatch.setattr(np, "savez", spy)
    _model().save(tmp_path / "model.flexnet")
    assert during[0] is not before and signal.getsignal(signal.SIGTERM) is before
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # an ignored SIGTERM stays ignored
    try:
        _model().save(tmp_path / "model.flexnet")
        assert during[1] is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, before)
    thread = threading.Thread(target=_model().save, args=(tmp_path / "model.flexnet",))
    thread.start()
    thread.join()
    assert during[2] is before  # signal handlers belong to the main thread: left alone


_SAVER = """
import sys
import numpy as np
import flexnet as fx

path = sys.argv[1]
fx.utils.set_random_seed(0)
model = fx.Sequential([fx.layers.Dense(512, input_dim=512), fx.layers.Dense(512)])
states = [model.get_weights(), [w + 1.0 for w in model.get_weights()]]
model.save(path)
print("ready", flush=True)
i = 0
while True:
    i += 1
    model.set_weights(states[i % 2])
    model.save(path)
"""


def _kill_during_save(tmp_path, sig, delay: float) -> int:
    script = tmp_path / "saver.py"
    script.write_text(_SAVER)
    path = tmp_path / "model.flexnet"
    with subprocess.Popen([sys.executable, str(script), str(path)], stdout=subprocess.PIPE,
                          text=True) as child:
        assert child.stdout.readline().strip() == "ready"
        threading.Event().wait(delay)
        child.send_signal(sig)
        return child.wait(timeout=60)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_save_killed_at_a_random_point_leaves_a_whole_file_and_no_orphans(tmp_path, sig):
    """A process saving in a loop is killed at random points (seeded): the file always loads
    and holds one of the two states; SIGTERM leaves no temporary file and still ends the
    process; a SIGKILL leaves at most one, which the next save removes."""
    fx.utils.set_random_seed(0)
    model = fx.Sequential([fx.layers.Dense(512, input_dim=512), fx.layers.Dense(512)])
    states = [model.get_weights(), [w + 1.0 for w in model.get_weights()]]
    rng = random.Random(15)
    for trial in range(3):
        folder = tmp_path / f"trial{trial}"
        folder.mkdir()
        code = _kill_during_save(folder, sig, rng.uniform(0.0, 0.3))
        assert code == -sig  # SIGTERM reached the default handler: the process ended
        path = folder / "model.flexnet"
        loaded = fx.models.load_model(path).get_weights()
        assert any(all(np.array_equal(a, b) for a, b in zip(loaded, state)) for state in states)
        left = atomic.temp_files(path)
        assert len(left) <= (1 if sig == signal.SIGKILL else 0), left
        fx.models.load_model(path).save(path)
        assert atomic.temp_files(path) == []
        assert sorted(os.listdir(folder)) == ["model.flexnet", "saver.py"]
