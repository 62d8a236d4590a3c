"""The SQLite backend: one file in WAL mode with ``synchronous=FULL``.

WAL with ``synchronous=FULL`` fsyncs the write-ahead log at every commit, so a committed
batch survives a process crash *and* a power loss before its callers hear back. (``NORMAL``
would only fsync at checkpoints: safe against a killed process, not against the machine
losing power, which breaks "durable before the response".) Group commit pays one fsync per
batch, not per record. Triggers refuse ``UPDATE`` and ``DELETE``; ``verify`` catches
anyone who drops them.

Checkpoints (copying the log into the database file) run every second in a background
thread of their own, ``PASSIVE``, so they never stall a commit: run by the committing
connection, a checkpoint of a large log held every waiting request for tens of milliseconds
(bench/serve.py). Such a checkpoint cannot finish under steady traffic, though (commits land
while it copies), and SQLite starts the log over only after one that did; so the writer
thread, between two batches, then checkpoints the few frames appended meanwhile. Without that
last step the log grew by ~28 MB/s at 1,000 single decisions/s, to the 512 MiB
``wal_autocheckpoint`` limit, whose checkpoint in the committing connection then stalled
commits for ~50 ms (``bench/wal.py``).
"""

from __future__ import annotations

import functools
import logging
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import cast

from riskline.decisions._chain import Encoded, Row
from riskline.decisions._grouplog import ConflictError, GroupCommitLog, by_kind, matching
from riskline.decisions._pool import Pool
from riskline.decisions._readlog import ReadOnlyLog
from riskline.decisions._window import Window, within
from riskline.errors import DecisionLogUnavailableError

_DDL = """
CREATE TABLE IF NOT EXISTS decisions (
    seq INTEGER PRIMARY KEY CHECK (seq >= 1),
    decision_id TEXT NOT NULL UNIQUE,
    transaction_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    decided_at TEXT NOT NULL,
    body BLOB NOT NULL,
    prev_hash BLOB NOT NULL,
    hash BLOB NOT NULL,
    UNIQUE (kind, transaction_id)
) STRICT;
CREATE TRIGGER IF NOT EXISTS decisions_no_update BEFORE UPDATE ON decisions
BEGIN SELECT RAISE(ABORT, 'the decision log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS decisions_no_delete BEFORE DELETE ON decisions
BEGIN SELECT RAISE(ABORT, 'the decision log is append-only'); END;
"""
_COLUMNS = "seq, decision_id, transaction_id, kind, decided_at, body, prev_hash, hash"
_ROWS_PER_INSERT = 500  # 4,000 bound values per statement (SQLite allows 32,766)
_SELECT = f"SELECT {_COLUMNS} FROM decisions"
_LOOKUP_CHUNK = 500  # records looked up per query (SQLite binds at most 32,766 values)
_TIMEOUT_S = 30.0  # wait this long for another process's write lock
# 8 KiB pages: a commit writes one WAL frame per page, so a batch of 1,000 ~2 KB decisions
# is ~300 frames instead of ~2,000 with 2 KiB pages (commit 5 ms instead of 16 ms, measured
# by bench/serve.py's batch figure); small group commits measured no slower.
_PAGE_SIZE = 8192
_WAL_LIMIT_PAGES = 65_536  # 512 MiB of log at most
_WAL_KEEP_BYTES = 64 * 1024 * 1024  # a log file that grew past this shrinks when restarted
_CHECKPOINT_EVERY_S = 1.0
_log = logging.getLogger("riskline.decisions")


def _open_read_only(path: Path) -> ReadOnlyLog:
    """The existing log at ``path``, its file opened read-only: nothing is created or
    changed; ``DecisionLogUnavailableError`` if there is no log there."""
    where = repr(str(path))
    if not path.is_file():
        raise DecisionLogUnavailableError(
            f"no decision log at {where}: the file does not exist (a read-only open never "
            "creates one)."
        )
    reader = _SqliteReader(path, read_only=True)
    try:
        found = reader.has_table()
    except sqlite3.Error as exc:
        reader.close()
        raise DecisionLogUnavailableError(
            f"cannot open the decision log at {where} read-only: {exc}."
        ) from exc
    if not found:
        reader.close()
        raise DecisionLogUnavailableError(
            f"no decision log at {where}: the file has no decisions table."
        )
    return ReadOnlyLog(reader, f"at {where}")


def open_sqlite(path: Path, *, read_only: bool = False) -> GroupCommitLog | ReadOnlyLog:
    """Open the log in the SQLite file at ``path``: creating it if needed, or with
    ``read_only`` only if it exists (no writer, no checkpoints, appends refused)."""
    if read_only:
        return _open_read_only(path)
    try:
        conn = _connect(path)
        try:
            conn.execute(f"PRAGMA page_size={_PAGE_SIZE}")  # only takes on a new file
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode != "wal":
                raise DecisionLogUnavailableError(
                    f"{str(path)!r} cannot use WAL mode (got {mode!r}); put it on a local disk."
                )
            conn.execute("PRAGMA synchronous=FULL")
            # A safety net only: the checkpointer thread keeps the log far below this.
            conn.execute(f"PRAGMA wal_autocheckpoint={_WAL_LIMIT_PAGES}")
            conn.execute(f"PRAGMA journal_size_limit={_WAL_KEEP_BYTES}")
            conn.execute("PRAGMA cache_size=-65536")  # KiB: keeps both unique indexes hot
            conn.executescript(_DDL)
        except BaseException:
            conn.close()
            raise
    except sqlite3.Error as exc:
        raise DecisionLogUnavailableError(
            f"cannot open the decision log at {str(path)!r}: {exc}. "
            "The folder must exist and be writable."
        ) from exc
    return GroupCommitLog.start(_SqliteWriter(conn, _Checkpointer(path)), _SqliteReader(path))


def _connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, timeout=_TIMEOUT_S, isolation_level=None, check_same_thread=False)


def checkpoint(conn: sqlite3.Connection) -> bool:
    """A ``PASSIVE`` checkpoint; False if it failed (logged: the next round tries again,
    and commits are unaffected)."""
    try:
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    except sqlite3.Error as exc:
        _log.warning("decision log checkpoint failed: %s", exc)
        return False
    return True


@functools.cache
def _insert_sql(rows: int) -> str:
    """An insert of ``rows`` rows (``sqlite3`` keeps the statement prepared)."""
    values = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?)"] * rows)
    return f"INSERT INTO decisions ({_COLUMNS}) VALUES {values}"


def _marks(n: int) -> str:
    return ",".join("?" * n)


def _one(cursor: sqlite3.Cursor) -> Row | None:
    return cast(Row | None, cursor.fetchone())


class _Checkpointer:
    """A thread with its own connection running ``PRAGMA wal_checkpoint(PASSIVE)`` every
    ``_CHECKPOINT_EVERY_S`` seconds (it never waits for, nor blocks, the writer); after each
    round, ``copied`` is set until the writer has checkpointed the rest (``catch_up``)."""

    def __init__(self, path: Path) -> None:
        self._conn = _connect(path)
        self._stop = threading.Event()
        self.copied = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="decision-log-checkpoint", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(_CHECKPOINT_EVERY_S):
            if self.copied.is_set():
                continue  # the writer has not caught up yet: it has been idle
            if checkpoint(self._conn):
                self.copied.set()

    def catch_up(self, conn: sqlite3.Connection) -> None:
        """Checkpoint, on the writer's connection, what was appended since the last round:
        the log is then copied whole, and the next commit starts it over."""
        if self.copied.is_set():
            checkpoint(conn)
            self.copied.clear()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._conn.close()


class _SqliteWriter:
    def __init__(self, conn: sqlite3.Connection, checkpointer: _Checkpointer) -> None:
        self._conn = conn
        self._checkpointer = checkpointer

    def begin(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def tail(self) -> tuple[int, bytes] | None:
        row = self._conn.execute("SELECT seq, hash FROM decisions ORDER BY seq DESC LIMIT 1")
        return cast(tuple[int, bytes] | None, row.fetchone())

    def insert(self, rows: Sequence[Row]) -> None:
        """Up to ``_ROWS_PER_INSERT`` rows per statement: one statement per row cost ~1 us
        more per row in ``sqlite3``'s own loop (a batch's 1,000 rows 4.6 -> 3.7 ms; one
        row as fast either way)."""
        try:
            for at in range(0, len(rows), _ROWS_PER_INSERT):
                part = rows[at : at + _ROWS_PER_INSERT]
                values = part[0] if len(part) == 1 else [v for row in part for v in row]
                self._conn.execute(_insert_sql(len(part)), values)
        except sqlite3.IntegrityError as exc:
            if "UNIQUE" in str(exc):
                raise ConflictError(str(exc)) from exc
            raise

    def lookup_many(self, records: Sequence[Encoded]) -> list[Row | None]:
        found: list[Row] = []
        for at in range(0, len(records), _LOOKUP_CHUNK):
            part = records[at : at + _LOOKUP_CHUNK]
            ids = [r[0] for r in part]
            found += self._select(f"decision_id IN ({_marks(len(ids))})", ids)
            for kind, txids in by_kind(part).items():
                where = f"kind = ? AND transaction_id IN ({_marks(len(txids))})"
                found += self._select(where, [kind, *txids])
        return matching(records, found)

    def _select(self, where: str, params: Sequence[str]) -> list[Row]:
        return cast(list[Row], self._conn.execute(f"{_SELECT} WHERE {where}", params).fetchall())

    def commit(self) -> None:
        self._conn.execute("COMMIT")

    def rollback(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    def maintain(self) -> None:
        self._checkpointer.catch_up(self._conn)

    def close(self) -> None:
        self._checkpointer.close()
        self._conn.close()


class _SqliteReader:
    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self._pool = Pool(lambda: _reader(path, read_only), sqlite3.Connection.close)

    def has_table(self) -> bool:
        """Whether the file holds the log's table (a read-only open checks it once)."""
        sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'decisions'"
        with self._pool.borrow() as conn:
            return conn.execute(sql).fetchone() is not None

    def get(self, decision_id: str) -> Row | None:
        with self._pool.borrow() as conn:
            return _one(conn.execute(f"{_SELECT} WHERE decision_id = ?", (decision_id,)))

    def find(self, kind: str, transaction_id: str) -> Row | None:
        sql = f"{_SELECT} WHERE kind = ? AND transaction_id = ?"
        with self._pool.borrow() as conn:
            return _one(conn.execute(sql, (kind, transaction_id)))

    def rows(self, since: int, limit: int) -> list[Row]:
        sql = f"{_SELECT} WHERE seq > ? ORDER BY seq LIMIT ?"
        with self._pool.borrow() as conn:
            return cast(list[Row], conn.execute(sql, (since, limit)).fetchall())

    def between(self, after: int, upto: int, window: Window) -> list[Row]:
        where, params = within(window, "?")
        # By seq alone: offered the (kind, transaction_id) index for a kind, SQLite walked
        # all of that kind and sorted it for every chunk (a whole 500,000-record log read in
        # 17.5 s instead of 3.6 s).
        sql = f"{_SELECT} NOT INDEXED WHERE seq > ? AND seq <= ?{where} ORDER BY seq"
        with self._pool.borrow() as conn:
            return cast(list[Row], conn.execute(sql, (after, upto, *params)).fetchall())

    def last_seq(self) -> int:
        with self._pool.borrow() as conn:
            return int(conn.execute("SELECT coalesce(max(seq), 0) FROM decisions").fetchone()[0])

    def below_chain(self) -> Row | None:
        with self._pool.borrow() as conn:
            return _one(conn.execute(f"{_SELECT} WHERE seq < 1 ORDER BY seq LIMIT 1"))

    def close(self) -> None:
        self._pool.close()


def _reader(path: Path, read_only: bool) -> sqlite3.Connection:
    if read_only:  # mode=ro: a missing file is an error, not a new empty database
        uri = f"{path.absolute().as_uri()}?mode=ro"
        conn = sqlite3.connect(
            uri, uri=True, timeout=_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
    else:
        conn = _connect(path)
    conn.execute("PRAGMA query_only=ON")
    return conn
