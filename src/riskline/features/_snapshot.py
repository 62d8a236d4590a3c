"""Snapshots of the embedded store: restart from the last one instead of the whole journal.

A restart replays the journal at about 62,000 events/s, so its cost grew with every event
ever seen. ``EmbeddedStore.close`` also writes the state (the arenas, key and value tables,
and the admission state) with the journal's length at that moment, and so does a forked
child every ``snapshot_every_bytes`` of journal while the store runs (``PeriodicSnapshots``:
a restart after a kill replays only what came after the last one); ``bind`` loads it and
replays only the journal after that length. A snapshot is used only if it was made
for the same feature set (version and columns) and the journal still reaches its length;
any other, or an unreadable one, is ignored and the whole journal is replayed, as before.
The journal is recognised by the hash of its last bytes before that length, so a journal
moved aside and replaced by another as long is never mistaken for it. It is an ``.npz``
file read without pickle, written to a temporary name, ``fsync``ed and renamed, so a crash
while writing leaves the previous snapshot whole (still good: it holds a shorter prefix of
the same journal); a snapshot that cannot be written is logged, never an error.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import signal
import threading
import time
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

if TYPE_CHECKING:
    from riskline.features._local import LocalState

_FORMAT = 2  # 2: the labels counted (``labelled``)
_FINGERPRINT_BYTES = 4096
_PARTIAL = ".partial."
_SYNC_BYTES = 1 << 20
_POLL_S = 0.05
_CAN_FORK = hasattr(os, "fork")
SNAPSHOT_EVERY_BYTES = 32 << 20
"""The default journal growth between two snapshots while running: about 390,000 events,
which a restart after a kill replays in about 6 s."""
_log = logging.getLogger("riskline.features")


def snapshot_path(journal: Path) -> Path:
    return journal.with_name(journal.name + ".snapshot")


def write_snapshot(journal: Path, state: LocalState, journal_bytes: int) -> None:
    """Save ``state``, which holds the journal's first ``journal_bytes`` bytes (a failure is
    logged: the next restart replays more of the journal, that is all)."""
    try:
        save_snapshot(journal, state, journal_bytes)
    except OSError as exc:
        _log.warning("could not write the online store snapshot of %s: %s", journal, exc)


def save_snapshot(
    journal: Path, state: LocalState, journal_bytes: int, fingerprint: str | None = None
) -> None:
    """``write_snapshot``, raising ``OSError``. A forked child runs it, with the journal's
    ``fingerprint`` (``_fingerprint``) taken before the fork: then it neither logs, imports
    nor hashes (a lock that another thread of the parent held at the fork, in logging or in
    OpenSSL, would never be released in the child). Its temporary file is its process's own."""
    target = snapshot_path(journal)
    partial = target.with_name(f"{target.name}{_PARTIAL}{os.getpid()}")
    try:
        arrays, tables = state.export()
        head = {
            "format": _FORMAT,
            "feature_set": state.plan.fs.version,
            "columns": list(state.columns),
            "journal_bytes": journal_bytes,
            "journal_tail_sha256": fingerprint or _fingerprint(journal, journal_bytes),
        }
        doc = orjson.dumps({"head": head, "tables": tables})
        contents: dict[str, Any] = {"doc": np.frombuffer(doc, np.uint8), **arrays}
        partial.unlink(missing_ok=True)  # a dead process's, with the same pid
        with _Trickle(partial) as f:
            np.savez(f, **contents)
            os.fsync(f.fileno())
        os.replace(partial, target)
        folder = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


class _Trickle(io.FileIO):
    """A new private file (mode 0600, as the journal: it holds the same keys and ids) that
    goes to the disk as it is written: every ``_SYNC_BYTES`` are ``fdatasync``ed before more
    are written. Written at once, a snapshot of 1M events (264 MB) left the kernel so much
    to write back that the decision log's own fsyncs queued behind it. At 1,000 req/s over
    a store of 1M events snapshotting every MB of journal (/tmp A/B, two rounds): p99
    35-73 ms written at once, 9.2-9.6 ms in pieces of 4 MB, 7.8-8.2 ms in pieces of 1 MB,
    4.7-6.2 ms with no snapshot; a child that only exported the state, writing nothing,
    5.8-8.1 ms: the fork and the child's CPU cost the service little, its writes a lot."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, "xb", opener=lambda name, flags: os.open(name, flags, 0o600))
        self._unsynced = 0

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        done = 0
        while done < len(view):
            wrote = super().write(view[done : done + _SYNC_BYTES - self._unsynced]) or 0
            done += wrote
            self._unsynced += wrote
            if self._unsynced >= _SYNC_BYTES:
                os.fdatasync(self.fileno())
                self._unsynced = 0
        return done


def remove_leftovers(journal: Path) -> None:
    """Delete the temporary files of snapshots that crashed part-way (at startup: a writer
    still alive then only fails to rename its file, and the snapshot in place stays good)."""
    for leftover in journal.parent.glob(f"{snapshot_path(journal).name}{_PARTIAL}*"):
        leftover.unlink(missing_ok=True)


class PeriodicSnapshots:
    """Snapshots while the store runs, so that a restart after a kill replays at most about
    ``every_bytes`` of journal rather than everything since the last graceful stop.

    When the journal has grown by ``every_bytes`` since the last snapshot, ``maybe`` forks:
    the child process writes its copy-on-write view of the state (``save_snapshot``) and
    exits, while this process goes on at once (a fork costs milliseconds; writing costs
    seconds of CPU, which a thread would take from the event loop under the GIL). A thread
    waits for the child and logs how it ended, and kills it past ``deadline_s`` (a child
    stuck on a lock inherited from another thread would otherwise stop every later snapshot
    and hang the shutdown). One child at a time; ``wait`` at close. Where ``os.fork`` does
    not exist, only graceful stops snapshot.
    """

    def __init__(
        self, journal: Path, every_bytes: int, written_at: int, deadline_s: float = 600.0
    ) -> None:
        self._journal = journal
        self._every = every_bytes
        self._next = written_at + every_bytes
        self._deadline_s = deadline_s
        self._reaper: threading.Thread | None = None

    def maybe(self, state: LocalState, journal_bytes: int) -> None:
        """Start a snapshot of ``state`` (holding the journal's first ``journal_bytes``
        bytes) if one is due and none is running; never raises."""
        if journal_bytes < self._next or not _CAN_FORK:
            return
        if self._reaper is not None and self._reaper.is_alive():
            return
        self._next = journal_bytes + self._every
        started = time.perf_counter()
        try:
            fingerprint = _fingerprint(self._journal, journal_bytes)
            pid = os.fork()
        except OSError as exc:
            _log.warning("could not start an online store snapshot: %s", exc)
            return
        if pid == 0:  # the child: write and leave, running nothing of the parent's
            code = 1
            try:
                _leave_the_parents_things()
                save_snapshot(self._journal, state, journal_bytes, fingerprint)
                code = 0
            finally:
                os._exit(code)
        _log.info(
            "online store: snapshot at %d journal bytes started (pid %d, fork %.1f ms)",
            journal_bytes,
            pid,
            (time.perf_counter() - started) * 1000,
        )
        self._reaper = threading.Thread(
            target=self._reap, args=(pid, journal_bytes), name="snapshot-reaper", daemon=True
        )
        self._reaper.start()

    def _reap(self, pid: int, journal_bytes: int) -> None:
        deadline = time.monotonic() + self._deadline_s
        while not (ended := os.waitpid(pid, os.WNOHANG))[0]:
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                _log.warning(
                    "the online store snapshot at %d journal bytes took over %.0f s; its "
                    "child was killed and the previous snapshot stays in place",
                    journal_bytes,
                    self._deadline_s,
                )
                return
            time.sleep(_POLL_S)
        code = os.waitstatus_to_exitcode(ended[1])
        if code:
            _log.warning(
                "the online store snapshot at %d journal bytes failed (child exit %d); the "
                "previous one stays in place",
                journal_bytes,
                code,
            )
        else:
            _log.info("online store: snapshot written at %d journal bytes", journal_bytes)

    def wait(self) -> None:
        """Wait for the running snapshot, if any."""
        if self._reaper is not None:
            self._reaper.join()


def _leave_the_parents_things() -> None:
    """In a forked child: close every inherited descriptor but the standard three (a child
    that outlives a killed parent must not hold its listening socket, so a restart can bind
    it), take the default action on SIGINT and SIGTERM (the parent's handlers wake an
    event loop that does not run here), and yield the CPU to the parent, which serves."""
    os.closerange(3, os.sysconf("SC_OPEN_MAX") if hasattr(os, "sysconf") else 65536)
    for name in ("SIGINT", "SIGTERM"):
        signal.signal(getattr(signal, name), signal.SIG_DFL)
    os.nice(10)


def _fingerprint(journal: Path, length: int) -> str:
    """The sha256 of the journal's last ``_FINGERPRINT_BYTES`` bytes before ``length``."""
    start = max(0, length - _FINGERPRINT_BYTES)
    with journal.open("rb") as f:
        f.seek(start)
        return hashlib.sha256(f.read(length - start)).hexdigest()


def read_snapshot(journal: Path, state: LocalState) -> int:
    """Load the journal's snapshot into the fresh ``state`` if it fits; how many bytes of the
    journal it holds (0: none was loaded, replay it all)."""
    path = snapshot_path(journal)
    if not path.exists():
        return 0
    try:
        with np.load(path, allow_pickle=False) as data:
            doc = orjson.loads(data["doc"].tobytes())
            head = doc["head"]
            fits = (
                head["format"] == _FORMAT
                and head["feature_set"] == state.plan.fs.version
                and head["columns"] == list(state.columns)
                and journal.stat().st_size >= head["journal_bytes"]
                and _fingerprint(journal, head["journal_bytes"]) == head["journal_tail_sha256"]
            )
            if not fits:
                _log.info("online store snapshot %s does not fit; replaying the journal", path)
                return 0
            arrays = {name: data[name] for name in data.files if name != "doc"}
            state.restore(arrays, doc["tables"])
            _log.info(
                "online store: restored from its snapshot; replaying the journal after %d bytes",
                head["journal_bytes"],
            )
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
        _log.warning("online store snapshot %s is unreadable (%r); replaying it all", path, exc)
        return 0
    return int(head["journal_bytes"])
