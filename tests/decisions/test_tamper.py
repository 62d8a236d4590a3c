"""Tampering through raw SQL: refused by triggers, and caught by verify when forced."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from riskline.decisions import GENESIS_HASH, DecisionLog, open_decision_log
from tests.conftest import PG_CONNINFO, PG_URL
from tests.decisions.samples import FORGED_ROW, SQLITE_TABLE_WITHOUT_CHECK, sample_record

RawSql = Callable[[str, tuple[object, ...]], None]
"""Runs one statement on the backing database, outside the log (``?`` placeholders)."""


def raw_storage(
    request: pytest.FixtureRequest, sqlite_path: Path
) -> tuple[Callable[[], DecisionLog], RawSql, Callable[[], None]]:
    """For the backend of ``request.param``: what opens the test's log, a raw SQL runner on
    its storage, and what closes that runner."""
    if request.param == "sqlite":
        raw = sqlite3.connect(sqlite_path, isolation_level=None)

        def run(statement: str, params: tuple[object, ...]) -> None:
            raw.execute(statement, params)

        return lambda: open_decision_log(f"sqlite:///{sqlite_path}"), run, raw.close
    schema = request.getfixturevalue("pg_schema")
    conn = psycopg.connect(PG_CONNINFO, autocommit=True)
    conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))

    def run_pg(statement: str, params: tuple[object, ...]) -> None:
        conn.execute(statement.replace("?", "%s"), params)

    return lambda: open_decision_log(PG_URL, schema=schema), run_pg, conn.close


@pytest.fixture(params=["sqlite", "postgres"])
def tampered(
    request: pytest.FixtureRequest, sqlite_path: Path
) -> Iterator[tuple[DecisionLog, RawSql]]:
    """A log with 100 records, and a raw SQL runner with the append-only triggers dropped."""
    open_log, run, close = raw_storage(request, sqlite_path)
    log = open_log()
    if request.param == "sqlite":
        drops = ["DROP TRIGGER decisions_no_update", "DROP TRIGGER decisions_no_delete"]
    else:
        drops = ["DROP TRIGGER decisions_no_change ON decisions"]
    log.append_many([sample_record(n) for n in range(1, 101)])
    try:
        with pytest.raises(
            (sqlite3.IntegrityError, psycopg.errors.RaiseException), match="append-only"
        ):
            run("UPDATE decisions SET kind = 'credit' WHERE seq = 5", ())
        with pytest.raises(
            (sqlite3.IntegrityError, psycopg.errors.RaiseException), match="append-only"
        ):
            run("DELETE FROM decisions WHERE seq = 5", ())
        for statement in drops:
            run(statement, ())
        yield log, run
    finally:
        log.close()
        close()


def test_an_edited_body_breaks_its_own_hash(tampered: tuple[DecisionLog, RawSql]) -> None:
    log, run = tampered
    run("UPDATE decisions SET body = ? WHERE seq = 37", (b'{"decision":"approve"}',))
    report = log.verify()
    assert (report.ok, report.reason) == (False, "hash_mismatch")
    assert (report.broken_seq, report.broken_decision_id) == (37, "d37")
    assert (report.checked, report.head_seq) == (37, 36)
    assert report.head_hash == next(iter(log.read(since=35))).hash


def test_a_deleted_row_is_a_gap(tampered: tuple[DecisionLog, RawSql]) -> None:
    log, run = tampered
    run("DELETE FROM decisions WHERE seq = 50", ())
    report = log.verify()
    assert (report.reason, report.broken_seq, report.broken_decision_id) == ("seq_gap", 51, "d51")
    assert report.detail == "expected seq 50, found 51"


def test_a_rehashed_edit_breaks_the_next_link(tampered: tuple[DecisionLog, RawSql]) -> None:
    log, run = tampered
    stored = log.get("d60")
    assert stored is not None
    forged = b'{"decision":"approve"}'
    payload = (
        f'[60,"d60","t60","fraud","{stored.decided_at.isoformat(timespec="microseconds")}",'.encode()
        + forged
        + b"]"
    )
    digest = hashlib.sha256(bytes.fromhex(stored.prev_hash) + payload).digest()
    run("UPDATE decisions SET body = ?, hash = ? WHERE seq = 60", (forged, digest))
    report = log.verify()
    assert (report.reason, report.broken_seq, report.broken_decision_id) == (
        "prev_hash_mismatch",
        61,
        "d61",
    )


def test_a_row_below_seq_1_is_refused(tampered: tuple[DecisionLog, RawSql]) -> None:
    _, run = tampered
    with pytest.raises(
        (sqlite3.IntegrityError, psycopg.errors.CheckViolation), match=r"(?i)check constraint"
    ):
        run("INSERT INTO decisions VALUES (?, ?, ?, ?, ?, ?, ?, ?)", FORGED_ROW)


@pytest.fixture(params=["sqlite", "postgres"])
def unchecked(
    request: pytest.FixtureRequest, sqlite_path: Path
) -> Iterator[tuple[DecisionLog, RawSql]]:
    """A log of 3 records in a table made before ``CHECK (seq >= 1)``, and a raw SQL runner."""
    open_log, run, close = raw_storage(request, sqlite_path)
    if request.param == "sqlite":
        run(SQLITE_TABLE_WITHOUT_CHECK, ())
        log = open_log()
    else:
        log = open_log()
        run("ALTER TABLE decisions DROP CONSTRAINT decisions_seq_check", ())
    log.append_many([sample_record(n) for n in range(1, 4)])
    try:
        yield log, run
    finally:
        log.close()
        close()


def test_a_row_outside_the_chain_is_reported(unchecked: tuple[DecisionLog, RawSql]) -> None:
    # Regression: reads and verify walk seq > 0, so a row forged at seq 0 went unseen while
    # find() served it as the transaction's logged decision.
    log, run = unchecked
    intact = log.verify()
    run("INSERT INTO decisions VALUES (?, ?, ?, ?, ?, ?, ?, ?)", FORGED_ROW)
    forged = log.find("fraud", "t-forged")
    assert forged is not None
    assert forged.decision_id == "forged"  # what a lookup would serve
    report = log.verify()
    assert (report.ok, report.reason) == (False, "outside_chain")
    assert (report.broken_seq, report.broken_decision_id) == (0, "forged")
    assert report.detail == "seq 0 is below 1, where the chain starts: written around the log"
    assert (report.checked, report.head_seq, report.head_hash) == (1, 0, GENESIS_HASH)
    assert (intact.ok, intact.checked) == (True, 3)
    assert [s.seq for s in log.read()] == [1, 2, 3]
