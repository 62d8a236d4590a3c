"""The service over a real PostgreSQL decision log in the schema named by
``RISKLINE_DECISION_LOG_SCHEMA``: scores, lookups and labels land there in one intact chain,
and a lookup waiting on the database holds up nothing else."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from riskline.config import Settings
from riskline.decisions import open_decision_log
from riskline.serving import ServeSettings, create_app
from tests.conftest import PG_CONNINFO, PG_URL
from tests.serving.conftest import ANALYST, SCORER, attempt, serve, settings_for, until
from tests.serving.fakes import LinearModel

BUDGET = timedelta(milliseconds=300)  # roomy: each answer waits for a PostgreSQL commit
LABEL = {"transaction_id": "t0", "is_fraud": True, "label_available_at": "2026-03-01T13:00:00Z"}
Admin = psycopg.Connection[tuple[object, ...]]


def settings_in(home: Path, schema: str) -> ServeSettings:
    """Settings whose decision log is the test's PostgreSQL schema, read from the variables
    an operator sets."""
    base = Settings.from_env(
        {
            "RISKLINE_HOME": str(home),
            "RISKLINE_DECISION_LOG_URL": PG_URL,
            "RISKLINE_DECISION_LOG_SCHEMA": schema,
        }
    )
    return settings_for(home, base=base, budget=BUDGET)


def test_the_service_logs_scores_and_labels_in_the_configured_schema(
    home: Path, pg_schema: str, pg_admin: Admin
) -> None:
    app = create_app(settings_in(home, pg_schema), LinearModel.from_bytes)

    async def main() -> tuple[list[str], dict[str, Any]]:
        async with serve(app) as client:
            ids = []
            for i in range(3):
                body = attempt(f"t{i}", amount_minor=2_500 + 1_000 * i)
                scored = await client.post("/v1/fraud/score", json=body, headers=SCORER)
                assert scored.status_code == 200, scored.text
                ids.append(scored.json()["decision_id"])
            batch = {"attempts": [attempt("t3"), attempt("t4")]}
            batched = await client.post("/v1/fraud/score:batch", json=batch, headers=SCORER)
            ids += [d["decision_id"] for d in batched.json()["decisions"]]
            looked_up = await client.get(f"/v1/decisions/{ids[0]}", headers=ANALYST)
            assert looked_up.status_code == 200, looked_up.text
            labelled = await client.post("/v1/fraud/labels", json=LABEL, headers=SCORER)
            assert (labelled.status_code, labelled.json()["duplicate"]) == (200, False)
            again = await client.post("/v1/fraud/labels", json=LABEL, headers=SCORER)
            assert (again.status_code, again.json()["duplicate"]) == (200, True)
            unknown = await client.get("/v1/decisions/nope", headers=ANALYST)
            assert (unknown.status_code, unknown.json()["error"]) == (404, "not_found")
            stray = {**LABEL, "transaction_id": "never-scored"}
            unlabelled = await client.post("/v1/fraud/labels", json=stray, headers=SCORER)
            assert (unlabelled.status_code, unlabelled.json()["error"]) == (404, "not_found")
            ready = await client.get("/readyz")
            assert ready.json()["checks"]["decision_log"] is True
            return ids, looked_up.json()

    ids, looked_up = asyncio.run(main())
    with open_decision_log(PG_URL, schema=pg_schema, read_only=True) as log:
        report = log.verify()
        records = list(log.read())
    assert (report.ok, report.checked) == (True, 7)  # the batch's columns record too
    assert [(r.kind, r.transaction_id) for r in records] == [
        *(("fraud", f"t{i}") for i in range(5)),
        ("fraud_label", "t0"),
    ]
    assert [r.decision_id for r in records[:5]] == ids
    first = records[0]
    assert looked_up == {
        "seq": first.seq,
        "decision_id": first.decision_id,
        "transaction_id": "t0",
        "kind": "fraud",
        "decided_at": first.decided_at.isoformat(),
        "body": first.body,
        "prev_hash": first.prev_hash,
        "hash": first.hash,
    }
    assert (records[-1].body["decision_id"], records[-1].body["is_fraud"]) == (ids[0], True)
    tables = pg_admin.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (pg_schema,)
    ).fetchall()
    assert tables == [("decisions",)]


@contextmanager
def locked(schema: str) -> Iterator[None]:
    """An ACCESS EXCLUSIVE lock on the schema's log table, held by another session for the
    block: every read of the table waits. The server ends that session after 5 s, so a read
    stuck on the event loop fails the test instead of hanging it."""
    options = "-c idle_in_transaction_session_timeout=5000"
    with psycopg.connect(PG_CONNINFO, options=options) as conn:
        table = sql.Identifier(schema, "decisions")
        conn.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(table))
        yield
        conn.rollback()


def waiting_reads(admin: Admin, schema: str) -> int:
    """How many queries of the schema's log table wait for a lock."""
    row = admin.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE %s",
        (f'%"{schema}"."decisions"%',),
    ).fetchone()
    count = row[0] if row else None
    assert isinstance(count, int)
    return count


def test_a_lookup_waiting_on_the_database_holds_up_nothing_else(
    home: Path, pg_schema: str, pg_admin: Admin
) -> None:
    """Lookups read the log on the event loop: while one waited on PostgreSQL (here a lock;
    in production a slow query or a failover), no other request was answered."""
    app = create_app(settings_in(home, pg_schema), LinearModel.from_bytes)

    async def main() -> None:
        async with serve(app) as client:
            first = await client.post("/v1/fraud/score", json=attempt("t0"), headers=SCORER)
            decision_id = first.json()["decision_id"]
            path = f"/v1/decisions/{decision_id}"
            with locked(pg_schema):
                reading = asyncio.create_task(client.get(path, headers=ANALYST))
                await until(lambda: waiting_reads(pg_admin, pg_schema) == 1)
                started = time.perf_counter()
                health = await client.get("/healthz")
                took = time.perf_counter() - started
                assert (health.status_code, health.json()) == (200, {"status": "ok"})
                assert took < 0.2, took
                assert not reading.done()
            read = await reading
            assert (read.status_code, read.json()["decision_id"]) == (200, decision_id)

    asyncio.run(main())
