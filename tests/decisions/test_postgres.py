"""The PostgreSQL log against a real server: its writer outlives its connection."""

from __future__ import annotations

import time
from concurrent.futures import Future

import psycopg
from psycopg import sql

from riskline.decisions import DecisionLog, open_decision_log
from tests.conftest import PG_CONNINFO, PG_URL
from tests.decisions.samples import sample_record

Admin = psycopg.Connection[tuple[object, ...]]


def submit_blocked(
    log: DecisionLog, admin: Admin, schema: str, n: int
) -> tuple[int, Future[int], Admin]:
    """Submit ``sample_record(n)`` while another session holds the table's write lock; the
    backend pid of the writer waiting for it (seen by ``admin``: a session in a transaction
    sees pg_stat_activity as it was when the transaction began), its future and the
    blocking session (close it to let the writer through)."""
    blocker: Admin = psycopg.connect(PG_CONNINFO)
    table = sql.Identifier(schema, "decisions")
    blocker.execute(sql.SQL("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE").format(table))
    future = log.submit(sample_record(n))
    waiting = f'LOCK TABLE "{schema}".%'
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        row = admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE %s",
            (waiting,),
        ).fetchone()
        if row is not None:
            return int(str(row[0])), future, blocker
        time.sleep(0.02)
    blocker.close()
    raise AssertionError("the writer never waited for the table lock")


def test_the_writer_connects_again_after_its_backend_is_terminated(
    pg_admin: Admin, pg_schema: str
) -> None:
    # Regression: the writer kept its first connection; once it dropped (server restart,
    # pg_terminate_backend) every later batch failed until the process restarted.
    with open_decision_log(PG_URL, schema=pg_schema) as log:
        assert log.append(sample_record(1)) == 1
        pid, committed, blocker = submit_blocked(log, pg_admin, pg_schema, 2)
        blocker.close()
        assert committed.result(10) == 2
        pg_admin.execute("SELECT pg_terminate_backend(%s)", (pid,))  # the writer is idle
        assert [log.append(sample_record(n)) for n in (3, 4)] == [3, 4]
        pid, in_flight, blocker = submit_blocked(log, pg_admin, pg_schema, 5)
        pg_admin.execute("SELECT pg_terminate_backend(%s)", (pid,))  # while it waits
        blocker.close()
        assert in_flight.result(10) == 5  # nothing of it was sent: retried on a new connection
        assert log.append(sample_record(6)) == 6
        report = log.verify()
        assert (report.ok, report.checked) == (True, 6)
        assert [s.decision_id for s in log.read()] == [f"d{n}" for n in range(1, 7)]


def test_reads_go_on_after_the_server_drops_every_connection(
    pg_admin: Admin, pg_schema: str
) -> None:
    # Regression: after a server restart each pooled reader connection failed once with a
    # raw psycopg.OperationalError (a 500 from GET /v1/decisions) before the pool dropped it.
    with open_decision_log(PG_URL, schema=pg_schema) as log:
        log.append_many([sample_record(n) for n in range(1, 4)])
        assert log.get("d1") is not None
        assert log.find("fraud", "t2") is not None
        assert log.verify().ok
        pg_admin.execute(  # as a restart would: every connection of this log's table
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE pid <> pg_backend_pid() AND query LIKE %s",
            (f'%"{pg_schema}"."decisions"%',),
        )
        stored = log.get("d1")
        assert stored is not None
        assert stored.transaction_id == "t1"
        found = log.find("fraud", "t3")
        assert found is not None
        assert found.decision_id == "d3"
        assert [s.seq for s in log.read()] == [1, 2, 3]
        assert log.append(sample_record(4)) == 4
        assert (log.verify().ok, log.verify().checked) == (True, 4)
