"""The PostgreSQL log against a real server: its writer outlives its connection."""

from __future__ import annotations

import time
from concurrent.futures import Future

import psycopg
from psycopg import sql

from riskline.decisions import DecisionLog, open_decision_log
from tests.decisions.conftest import PG_CONNINFO, PG_URL
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
