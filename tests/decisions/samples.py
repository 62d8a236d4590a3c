"""Sample decision records for the decision-log tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from riskline.decisions import DecisionRecord

START_AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

SQLITE_TABLE_WITHOUT_CHECK = """
CREATE TABLE decisions (
    seq INTEGER PRIMARY KEY,
    decision_id TEXT NOT NULL UNIQUE,
    transaction_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    decided_at TEXT NOT NULL,
    body BLOB NOT NULL,
    prev_hash BLOB NOT NULL,
    hash BLOB NOT NULL,
    UNIQUE (kind, transaction_id)
) STRICT"""
"""The table as logs made before ``CHECK (seq >= 1)`` have it: it takes a row below seq 1."""

FORGED_ROW = (
    0,
    "forged",
    "t-forged",
    "fraud",
    START_AT.isoformat(timespec="microseconds"),
    b'{"action":"approve"}',
    bytes(32),
    bytes(32),
)
"""A row at seq 0, inserted around the log: what ``find("fraud", "t-forged")`` then returns."""


def sample_record(
    n: int, *, transaction_id: str | None = None, kind: str = "fraud"
) -> DecisionRecord:
    """Decision ``d<n>`` for transaction ``t<n>`` (unless given), a body like the engine's."""
    return DecisionRecord(
        decision_id=f"d{n}",
        transaction_id=f"t{n}" if transaction_id is None else transaction_id,
        kind=kind,
        decided_at=START_AT + timedelta(milliseconds=n),
        body={
            "request": {"amount_minor": 1_000 + n, "currency": "EUR", "customer_id": f"c{n % 7}"},
            "features": {"count_txn_1h": n % 5, "sum_amount_7d": 10 * n},
            "model_version": "fraud-lgbm-3",
            "score": round(n / 1_000, 6),
            "decision": "approve" if n % 3 else "review",
            "reasons": ["velocity"] if n % 3 == 0 else [],
            "latency_ms": 4.5,
            "fallback": False,
        },
    )
