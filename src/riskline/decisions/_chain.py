"""Canonical bytes, chain hashes and chain verification, shared by every backend.

The canonical bytes of a record are ``orjson.dumps([seq, decision_id, transaction_id, kind,
decided_at, body], option=OPT_SORT_KEYS)`` with ``decided_at`` as ISO 8601 UTC text with
microseconds. The body is serialised once, when a record is submitted; the stored body bytes
are exactly the ones hashed, so verification never parses JSON.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

import orjson

from riskline.decisions._records import (
    BreakReason,
    DecisionRecord,
    StoredDecision,
    VerifyReport,
)
from riskline.errors import InvalidDecisionError

Encoded = tuple[str, str, str, str, bytes]
"""A submitted record: decision_id, transaction_id, kind, decided_at text, body bytes."""

Row = tuple[int, str, str, str, str, bytes, bytes, bytes]
"""A stored record: seq, decision_id, transaction_id, kind, decided_at, body, prev_hash, hash.

Hashes are stored as 32 raw bytes: smaller rows and no hex work when verifying.
"""

GENESIS = bytes(32)

_SORT_KEYS = orjson.OPT_SORT_KEYS
_SMALL = 256  # body bytes hashed with the head in one buffer rather than in parts


def encode(record: DecisionRecord) -> Encoded:
    """Serialise ``record`` canonically; raises ``InvalidDecisionError`` if the body is not JSON."""
    body = record.body if type(record.body) is dict else dict(record.body)
    try:
        raw = orjson.dumps(body, option=_SORT_KEYS)
    except TypeError as exc:  # orjson.JSONEncodeError is a TypeError
        raise InvalidDecisionError(
            f"body of decision {record.decision_id!r} is not JSON-able: {exc}. "
            "Allowed: dicts with str keys, lists, str, int, float, bool, None."
        ) from exc
    return (
        record.decision_id,
        record.transaction_id,
        record.kind,
        utc_text(record.decided_at),
        raw,
    )


_last_time: tuple[datetime, str] = (datetime.min.replace(tzinfo=UTC), "")


def utc_text(at: datetime) -> str:
    """ISO 8601 UTC text with microseconds; the records of a batch share one time, so the
    last one is remembered."""
    global _last_time
    last = _last_time
    if last[0] is at:
        return last[1]
    text = at.astimezone(UTC).isoformat(timespec="microseconds")
    _last_time = (at, text)
    return text


def digest(
    prev_hash: bytes,
    seq: int,
    decision_id: str,
    transaction_id: str,
    kind: str,
    at: str,
    body: bytes,
) -> bytes:
    """sha256 of ``prev_hash`` and the record's canonical bytes (``body`` already canonical
    JSON), hashed in parts so the body is never copied; the one recipe that ``chain`` writes
    and ``verify`` checks."""
    head = orjson.dumps((seq, decision_id, transaction_id, kind, at))
    if len(body) < _SMALL:  # one call: a batch's member records are a few dozen bytes
        return hashlib.sha256(b"%b%b,%b]" % (prev_hash, head[:-1], body)).digest()
    hasher = hashlib.sha256(prev_hash + head[:-1] + b",")
    hasher.update(body)
    hasher.update(b"]")
    return hasher.digest()


def chain(seq: int, prev_hash: bytes, batch: Sequence[Encoded]) -> list[Row]:
    """Rows for ``batch`` appended after the record ``(seq, prev_hash)``, in order."""
    rows: list[Row] = []
    for decision_id, transaction_id, kind, at, body in batch:
        seq += 1
        hashed = digest(prev_hash, seq, decision_id, transaction_id, kind, at, body)
        rows.append((seq, decision_id, transaction_id, kind, at, body, prev_hash, hashed))
        prev_hash = hashed
    return rows


def to_stored(row: Row) -> StoredDecision:
    """The public value of a stored row (parses the body)."""
    seq, decision_id, transaction_id, kind, at, body, prev_hash, hashed = row
    return StoredDecision(
        seq=seq,
        decision_id=decision_id,
        transaction_id=transaction_id,
        kind=kind,
        decided_at=datetime.fromisoformat(at),
        body=orjson.loads(body),
        prev_hash=prev_hash.hex(),
        hash=hashed.hex(),
    )


def verify(chunks: Iterable[Sequence[Row]]) -> VerifyReport:
    """Check rows in seq order: none below seq 1, seq has no gap, prev_hash links, hash
    recomputes."""
    expected, prev, checked = 1, GENESIS, 0
    for chunk in chunks:
        for seq, decision_id, transaction_id, kind, at, body, prev_hash, stored in chunk:
            checked += 1
            reason: BreakReason
            if seq < 1:
                reason = "outside_chain"
                detail = f"seq {seq} is below 1, where the chain starts: written around the log"
            elif seq != expected:
                reason, detail = "seq_gap", f"expected seq {expected}, found {seq}"
            elif prev_hash != prev:
                reason = "prev_hash_mismatch"
                detail = f"previous hash is {prev.hex()}, prev_hash stored {prev_hash.hex()}"
            else:
                actual = digest(prev, seq, decision_id, transaction_id, kind, at, body)
                if actual == stored:
                    expected, prev = seq + 1, stored
                    continue
                reason = "hash_mismatch"
                detail = f"recomputed {actual.hex()}, stored {stored.hex()}"
            head_hash = prev.hex()
            return VerifyReport(checked, expected - 1, head_hash, seq, decision_id, reason, detail)
    return VerifyReport(checked, expected - 1, prev.hex())
