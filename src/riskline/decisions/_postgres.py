"""The PostgreSQL backend: one table per schema, written with binary ``COPY``.

Each batch runs in one transaction that first takes ``SHARE ROW EXCLUSIVE`` on the table
(writers queue, readers do not), reads the tail, copies the rows in and commits; with the
default ``synchronous_commit = on`` the commit returns once the WAL is flushed. Triggers
refuse ``UPDATE``, ``DELETE`` and ``TRUNCATE``. The writer connects again when its
connection was lost, so a server restart costs at most the batch in flight.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import cast

import psycopg
from psycopg import sql

from riskline.decisions._chain import Encoded, Row
from riskline.decisions._grouplog import ConflictError, GroupCommitLog, by_kind, matching
from riskline.decisions._pool import Pool
from riskline.decisions._readlog import ReadOnlyLog
from riskline.decisions._window import Window, within
from riskline.errors import ConfigError, DecisionLogUnavailableError

_SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_COLUMNS = sql.SQL("seq, decision_id, transaction_id, kind, decided_at, body, prev_hash, hash")
_TYPES = ["int8", "text", "text", "text", "text", "bytea", "bytea", "bytea"]
_DDL = (
    "CREATE SCHEMA IF NOT EXISTS {schema}",
    """CREATE TABLE IF NOT EXISTS {table} (
        seq bigint PRIMARY KEY CHECK (seq >= 1),
        decision_id text NOT NULL UNIQUE,
        transaction_id text NOT NULL,
        kind text NOT NULL,
        decided_at text NOT NULL,
        body bytea NOT NULL,
        prev_hash bytea NOT NULL,
        hash bytea NOT NULL,
        UNIQUE (kind, transaction_id))""",
    """CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS
        $$ BEGIN RAISE EXCEPTION 'the decision log is append-only'; END $$""",
    """CREATE OR REPLACE TRIGGER decisions_no_change BEFORE UPDATE OR DELETE ON {table}
        FOR EACH ROW EXECUTE FUNCTION {function}()""",
    """CREATE OR REPLACE TRIGGER decisions_no_truncate BEFORE TRUNCATE ON {table}
        FOR EACH STATEMENT EXECUTE FUNCTION {function}()""",
)


def open_postgres(
    url: str, schema: str | None, *, read_only: bool = False
) -> GroupCommitLog | ReadOnlyLog:
    """Open the log in ``schema`` (default ``public``) at ``url``: creating its table if
    needed, or with ``read_only`` only if it exists (no DDL, no writer, appends refused)."""
    name = "public" if schema is None else schema
    if not _SCHEMA_NAME.fullmatch(name):
        raise ConfigError(
            f"schema must be a plain identifier (letters, digits, _; at most 63), got {name!r}."
        )
    conninfo = "postgresql://" + url.split("://", 1)[1]
    where = f"in schema {name!r} at {_redact(url)!r}"
    names = {
        "schema": sql.Identifier(name),
        "table": sql.Identifier(name, "decisions"),
        "function": sql.Identifier(name, "decisions_append_only"),
    }
    table = names["table"]
    try:
        conn = psycopg.connect(conninfo, autocommit=read_only)
        try:
            if read_only:
                found = conn.execute(_EXISTS, (name,)).fetchone()
            else:
                for statement in _DDL:
                    conn.execute(sql.SQL(statement).format(**names))
                conn.commit()
        except BaseException:
            conn.close()
            raise
    except psycopg.Error as exc:
        message = " ".join(str(exc).split())  # libpq's messages span lines
        raise DecisionLogUnavailableError(
            f"cannot open the decision log {where}: {message}"
        ) from exc
    if not read_only:
        return GroupCommitLog.start(_PgWriter(conninfo, conn, table), _PgReader(conninfo, table))
    conn.close()
    if found is None:
        raise DecisionLogUnavailableError(
            f"no decision log {where}: table {name}.decisions does not exist (a read-only "
            "open never creates one)."
        )
    return ReadOnlyLog(_PgReader(conninfo, table), where)


_EXISTS = "SELECT 1 FROM pg_tables WHERE schemaname = %s AND tablename = 'decisions'"


def _redact(url: str) -> str:
    return re.sub(r"://([^:@/]*):[^@/]*@", r"://\1:***@", url)


class _PgWriter:
    """The writer's one connection, made again when it was lost (a server restart, a
    terminated backend): otherwise every later batch would fail until the process restarts.
    """

    def __init__(
        self, conninfo: str, conn: psycopg.Connection[tuple[object, ...]], table: sql.Identifier
    ) -> None:
        self._conninfo = conninfo
        self._conn = conn
        self._lock = sql.SQL("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE").format(table)
        self._tail = sql.SQL("SELECT seq, hash FROM {} ORDER BY seq DESC LIMIT 1").format(table)
        self._copy = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(table, _COLUMNS)
        self._by_ids = sql.SQL("SELECT {} FROM {} WHERE decision_id = ANY(%s)").format(
            _COLUMNS, table
        )
        self._by_keys = sql.SQL(
            "SELECT {} FROM {} WHERE kind = %s AND transaction_id = ANY(%s)"
        ).format(_COLUMNS, table)

    def begin(self) -> None:
        """Lock the table for this batch, on a new connection if the last one was lost.

        A connection that died while idle says so only when used: its lock statement fails
        with the connection closed. Nothing of the batch was sent yet, so it is retried
        once on a new connection; a connection lost later fails its batch (unacknowledged),
        and the next batch starts on a new one.
        """
        if self._conn.closed:
            self._conn = psycopg.connect(self._conninfo)
        try:
            self._conn.execute(self._lock)
        except psycopg.OperationalError:
            if not self._conn.closed:
                raise  # e.g. a lock timeout: the connection is fine
            self._conn = psycopg.connect(self._conninfo)
            self._conn.execute(self._lock)

    def tail(self) -> tuple[int, bytes] | None:
        row = self._conn.execute(self._tail, binary=True).fetchone()
        return cast(tuple[int, bytes] | None, row)

    def insert(self, rows: Sequence[Row]) -> None:
        try:
            with self._conn.cursor() as cur, cur.copy(self._copy) as copy:
                copy.set_types(_TYPES)
                for row in rows:
                    copy.write_row(row)
        except psycopg.errors.UniqueViolation as exc:
            raise ConflictError(str(exc)) from exc

    def lookup_many(self, records: Sequence[Encoded]) -> list[Row | None]:
        ids = [r[0] for r in records]
        found = self._conn.execute(self._by_ids, (ids,), binary=True).fetchall()
        for kind, txids in by_kind(records).items():
            found += self._conn.execute(self._by_keys, (kind, txids), binary=True).fetchall()
        return matching(records, cast(list[Row], found))

    def commit(self) -> None:
        self._conn.commit()

    def rollback(self) -> None:
        if not self._conn.closed:
            self._conn.rollback()

    def maintain(self) -> None:
        pass  # the server vacuums and checkpoints

    def close(self) -> None:
        self._conn.close()


class _PgReader:
    def __init__(self, conninfo: str, table: sql.Identifier) -> None:
        self._pool = Pool(
            lambda: psycopg.connect(conninfo, autocommit=True), psycopg.Connection.close
        )
        select = sql.SQL("SELECT {} FROM {} ").format(_COLUMNS, table)
        self._get = select + sql.SQL("WHERE decision_id = %s")
        self._find = select + sql.SQL("WHERE kind = %s AND transaction_id = %s")
        self._select = select
        self._rows = select + sql.SQL("WHERE seq > %s ORDER BY seq LIMIT %s")
        self._last = sql.SQL("SELECT coalesce(max(seq), 0) FROM {}").format(table)
        self._below = select + sql.SQL("WHERE seq < 1 ORDER BY seq LIMIT 1")

    def get(self, decision_id: str) -> Row | None:
        return self._one(self._get, (decision_id,))

    def find(self, kind: str, transaction_id: str) -> Row | None:
        return self._one(self._find, (kind, transaction_id))

    def rows(self, since: int, limit: int) -> list[Row]:
        return self._all(self._rows, (since, limit))

    def between(self, after: int, upto: int, window: Window) -> list[Row]:
        # By seq alone: without statistics, the planner took the (kind, transaction_id)
        # index for a kind and sorted all of it; ``kind || ''`` is not indexed. Sorted here:
        # its plan for a seq range (a bitmap scan) sorted the bodies on disk (149 ms per
        # 20,000 rows), while they arrive nearly in order, which Python sorts in one pass.
        where, params = within(window, "%s", "(kind || '')", 'decided_at COLLATE "C"')
        query = self._select + sql.SQL(f"WHERE seq > %s AND seq <= %s{where}")
        rows = self._all(query, (after, upto, *params))
        rows.sort(key=itemgetter(0))
        return rows

    def last_seq(self) -> int:
        row = self._one(self._last, ())
        return int(row[0]) if row else 0

    def below_chain(self) -> Row | None:
        return self._one(self._below, ())

    def close(self) -> None:
        self._pool.close()

    def _one(self, query: sql.Composed, params: tuple[object, ...]) -> Row | None:
        return cast(Row | None, self._run(query, params, lambda cur: cur.fetchone()))

    def _all(self, query: sql.Composed, params: tuple[object, ...]) -> list[Row]:
        return cast(list[Row], self._run(query, params, lambda cur: cur.fetchall()))

    def _run(
        self,
        query: sql.Composed,
        params: tuple[object, ...],
        fetch: Callable[[psycopg.Cursor[tuple[object, ...]]], object],
    ) -> object:
        """``fetch`` of ``query`` on a pooled connection. The idle connections of a server
        that restarted or failed over are all dead: on a connection error they are dropped
        and the read (which can be repeated) runs once more on a new one; a second failure
        is ``DecisionLogUnavailableError``."""
        for last in (False, True):
            try:
                with self._pool.borrow() as conn:
                    return fetch(conn.execute(query, params, binary=True))
            except psycopg.OperationalError as exc:
                self._pool.drop_idle()
                if last:
                    reason = " ".join(str(exc).split())
                    raise DecisionLogUnavailableError(
                        f"cannot read the decision log: {reason}"
                    ) from exc
        raise AssertionError("unreachable: the second attempt returns or raises")
