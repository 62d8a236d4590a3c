"""The embedded store's journal file: appended to the operating system on every event,
``fsync``ed by a background thread.

An append is one ``write`` system call of a few hundred bytes into the page cache. Through
``os.write`` it released the GIL, and the event loop then waited for whichever thread took
it (the decision log's writer) to hand it back; calling the C library's ``write`` through
``ctypes.PyDLL`` keeps the GIL for those microseconds (a stalled disk stalls the event loop
either way: it waits for the append before answering). Where that function cannot be found,
``os.write`` does the same job.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from riskline.errors import StoreUnavailableError

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX
    fcntl = None  # type: ignore[assignment]

_SCAN_BYTES = 4096
_log = logging.getLogger("riskline.features")


def _holding_write() -> Callable[[int, bytes], int]:
    """``write(fd, data)`` keeping the GIL (the C library's), else ``os.write``."""
    try:
        libc = ctypes.PyDLL(None, use_errno=True)
        write = libc.write
    except (OSError, AttributeError):
        return os.write
    write.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t)
    write.restype = ctypes.c_ssize_t

    def holding(fd: int, data: bytes) -> int:
        n: int = write(fd, data, len(data))
        if n < 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code))
        return n

    return holding


_write = _holding_write()


def _lock(fd: int, path: Path) -> None:
    """Hold ``path`` for this open file alone, or raise ``StoreUnavailableError``."""
    if fcntl is None:  # no flock here (Windows): one writer is up to the operator
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise StoreUnavailableError(
            f"the online store journal {str(path)!r} is open in another process (or store): "
            "one process keeps one embedded store. Stop the other one, give each server its "
            "own RISKLINE_HOME, or share state through the Redis store (RISKLINE_REDIS_URL)."
        ) from None


def _cut_torn_tail(fd: int, path: Path) -> int:
    """Cut the file off after its last newline (``fsync``ed); its length then.

    A process killed or a machine cut off mid-write can leave part of a record at the end.
    A replay skips it, but the next append would glue a whole record onto it, making a
    line that no later replay can read, and no restart get past. Records are whole lines,
    so what follows the last newline was never acknowledged, and a snapshot, which records
    the journal's length between two appends, never ends inside it.
    """
    size = os.fstat(fd).st_size
    whole, end = 0, size
    while end > 0:
        start = max(0, end - _SCAN_BYTES)
        os.lseek(fd, start, os.SEEK_SET)  # appends go to the end whatever the offset
        at = os.read(fd, end - start).rfind(b"\n")
        if at >= 0:
            whole = start + at + 1
            break
        end = start
    if whole < size:
        os.ftruncate(fd, whole)
        os.fsync(fd)  # durable before anything is appended after it
        _log.warning(
            "online store journal %s: cut off %d bytes of a torn last write", path, size - whole
        )
    return whole


class Journal:
    """An append-only file: ``append`` hands bytes to the operating system (a killed process
    loses nothing appended); a thread ``fsync``s every ``fsync_every_s`` seconds and
    ``close`` once more (a power cut loses at most that much).

    An append is all or nothing: one that fails part-way (a full disk) is cut off again, so
    the next one starts a whole line and a replay reads past it; and a file whose last
    line was torn (by a kill or a power cut) is cut back to its last newline when opened.

    One journal has one writer: it is locked (``flock``) while open, so a second server, or
    a second worker, on the same ``RISKLINE_HOME`` fails at startup with
    ``StoreUnavailableError`` instead of keeping a state that sees only its own half of the
    events. The lock goes with the process, however it ends.
    """

    def __init__(self, path: Path, fsync_every_s: float) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            _lock(fd, path)  # before the cut: the tail may be another writer's
            size = _cut_torn_tail(fd, path)
        except BaseException:
            os.close(fd)
            raise
        self._fd: int | None = fd
        self._size = size  # this process is the file's only writer
        self._every = fsync_every_s
        self._stop = threading.Event()
        self._syncer = threading.Thread(target=self._sync, name="journal-fsync", daemon=True)
        self._syncer.start()

    @property
    def size(self) -> int:
        """Bytes in the file: what this process appended, after what was there."""
        return self._size

    def append(self, data: bytes) -> None:
        """Write all of ``data`` at the end of the file; raises ``OSError`` if it cannot."""
        fd = self._fd
        if fd is None:
            raise OSError(errno.EBADF, "the journal is closed")
        done = 0
        try:
            while done < len(data):  # a short write (a signal, a full disk) goes on
                try:
                    done += _write(fd, data[done:] if done else data)
                except InterruptedError:
                    continue
        except OSError:
            if done:
                os.ftruncate(fd, self._size)
            raise
        self._size += done

    def _sync(self) -> None:
        while not self._stop.wait(self._every):
            fd = self._fd
            if fd is not None:
                os.fsync(fd)

    def close(self) -> None:
        """Stop the syncing thread, ``fsync`` and close."""
        self._stop.set()
        self._syncer.join()
        if self._fd is not None:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
