"""Reads of the decision log (``GET /v1/decisions/{id}``, ``POST /v1/fraud/labels``) run in
worker threads: a slow database holds up only the request that reads it, and a log that
cannot be read still answers 503."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from riskline.decisions import InMemoryDecisionLog, StoredDecision
from riskline.fraud.features import LABEL_DELAY
from riskline.serving import create_app
from tests.serving.conftest import ANALYST, SCORER, attempt, serve, settings_for, until
from tests.serving.fakes import LinearModel

BUDGET = timedelta(milliseconds=100)
STALL_S = 2.0  # a stalled read gives up after this (it held the whole loop before the fix)
DECIDED_TS = datetime(2026, 3, 1, 12, tzinfo=UTC)  # attempt()'s ts
LABEL = {"transaction_id": "t1", "is_fraud": True, "label_available_at": "2026-03-01T13:00:00Z"}


class StalledReads(InMemoryDecisionLog):
    """An in-memory log whose reads wait until ``released`` is set (or ``STALL_S``), like a
    PostgreSQL log whose queries wait on a lock or a failover; appends are not held up.
    ``waiting`` counts the reads that started waiting."""

    def __init__(self) -> None:
        super().__init__()
        self.released = threading.Event()
        self.released.set()
        self.waiting = 0
        self._count = threading.Lock()

    def get(self, decision_id: str) -> StoredDecision | None:
        self._wait()
        return super().get(decision_id)

    def find(self, kind: str, transaction_id: str) -> StoredDecision | None:
        self._wait()
        return super().find(kind, transaction_id)

    def _wait(self) -> None:
        if self.released.is_set():
            return
        with self._count:
            self.waiting += 1
        self.released.wait(STALL_S)


def test_stalled_log_reads_never_hold_up_health_or_scoring(home: Path) -> None:
    """The label and decision routes read the log on the event loop: while a slow database
    answered one of those reads, no other request (a score, /healthz) was answered."""
    log = StalledReads()
    app = create_app(settings_for(home, budget=BUDGET), LinearModel.from_bytes, log=log)

    async def main() -> None:
        async with serve(app) as client:
            first = await client.post("/v1/fraud/score", json=attempt("t1"), headers=SCORER)
            decision_id = first.json()["decision_id"]
            log.released.clear()
            try:
                path = f"/v1/decisions/{decision_id}"
                reading = asyncio.create_task(client.get(path, headers=ANALYST))
                labelling = asyncio.create_task(
                    client.post("/v1/fraud/labels", json=LABEL, headers=SCORER)
                )
                await until(lambda: log.waiting == 2)  # both reads wait on the database
                started = time.perf_counter()
                health = await client.get("/healthz")
                scored = await client.post("/v1/fraud/score", json=attempt("t2"), headers=SCORER)
                took = time.perf_counter() - started
                assert (health.status_code, scored.status_code) == (200, 200)
                assert took < BUDGET.total_seconds() + 0.4, took
                assert not reading.done()
                assert not labelling.done()
            finally:
                log.released.set()
            read, labelled = await reading, await labelling
            assert (read.status_code, read.json()["transaction_id"]) == (200, "t1")
            assert read.json()["decision_id"] == decision_id
            assert labelled.json() == {
                "transaction_id": "t1",
                "is_fraud": True,
                "counted_from": (DECIDED_TS + LABEL_DELAY).isoformat(),
                "duplicate": False,
            }
            logged = [(r.kind, r.transaction_id) for r in log.read()]
            assert logged == [("fraud", "t1"), ("fraud", "t2"), ("fraud_label", "t1")]

    asyncio.run(main())


def test_a_log_that_cannot_be_read_answers_503(home: Path) -> None:
    log = InMemoryDecisionLog()
    app = create_app(settings_for(home, budget=BUDGET), LinearModel.from_bytes, log=log)
    closed = {
        "error": "log_unavailable",
        "message": "the decision log is closed; open a new InMemoryDecisionLog.",
        "fields": [],
    }

    async def main() -> None:
        async with serve(app) as client:
            first = await client.post("/v1/fraud/score", json=attempt("t1"), headers=SCORER)
            log.close()  # every read now raises DecisionLogUnavailableError
            path = f"/v1/decisions/{first.json()['decision_id']}"
            read = await client.get(path, headers=ANALYST)
            labelled = await client.post("/v1/fraud/labels", json=LABEL, headers=SCORER)
            assert (read.status_code, read.json()) == (503, closed)
            assert (labelled.status_code, labelled.json()) == (503, closed)

    asyncio.run(main())
