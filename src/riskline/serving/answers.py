"""The JSON shapes the service answers with and logs: requests, answers, label answers."""

from __future__ import annotations

import dataclasses
import os
import random
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from operator import attrgetter

from riskline.decisions import Decision, StoredDecision
from riskline.errors import InvalidRequestError
from riskline.events import PaymentAttempt, event_columns
from riskline.rules import FieldValue

Answer = dict[str, object]
_ids = random.Random(os.urandom(32))  # decision ids: unique, not secrets (reads need a key)


def new_id() -> str:
    """A 128-bit id as 32 hex characters: 48 bits of Unix milliseconds, then 80 random bits
    (the layout of a UUIDv7, without its version bits). Ids made later sort later, so the
    log's decision_id index grows at its right edge: a commit dirties a few index pages
    instead of one per record (a batch of 1,000 commits ~35% faster)."""
    return f"{time.time_ns() // 1_000_000:012x}{_ids.getrandbits(80):020x}"


def new_ids(n: int) -> list[str]:
    """``n`` ids as ``new_id`` makes them, at once (a batch's: 0.1 ms for 1,000 instead of
    1.6)."""
    now = f"{time.time_ns() // 1_000_000:012x}"
    tails = f"{_ids.getrandbits(80 * n):0{20 * n}x}"
    return [now + tails[i : i + 20] for i in range(0, 20 * n, 20)]


_FIELDS = tuple(f.name for f in dataclasses.fields(PaymentAttempt))
_values = attrgetter(*_FIELDS)


def request_json(event: PaymentAttempt) -> dict[str, object]:
    """The logged request: the attempt's set fields (tokens only). Times stay datetimes: the
    log renders them as RFC 3339 text (orjson writes what ``isoformat`` does for the
    whole-minute offsets a request can carry, at a fraction of its cost)."""
    return {n: v for n, v in zip(_FIELDS, _values(event), strict=True) if v is not None}


def request_columns(events: Sequence[PaymentAttempt]) -> dict[str, list[object]]:
    """The logged requests of a batch as columns (``request_json`` of each, a field set in
    none of them left out; a field some of them set is None in the others)."""
    if not events:
        return {}
    columns = event_columns(events, _FIELDS)
    return {n: v for n, v in zip(_FIELDS, columns, strict=True) if v.count(None) != len(v)}


def event_from_json(data: object) -> PaymentAttempt:
    if not isinstance(data, Mapping):
        raise InvalidRequestError("the logged decision has no request to label.")
    fields = dict(data)
    for name in ("ts", "label_available_at"):
        if isinstance(fields.get(name), str):
            fields[name] = datetime.fromisoformat(fields[name])
    return PaymentAttempt(**fields)


def answer_of(decision: Decision, latency_ms: float) -> Answer:
    """The answer to a decision just made (``latency_ms``: server time until answered)."""
    return answer(
        decision.decision_id, decision.transaction_id, decision.action, decision.score,
        decision.reasons_json(), decision.model_version, decision.rules_version,
        decision.fallback, latency_ms,
    )  # fmt: skip


def answer(
    decision_id: str,
    transaction_id: str,
    action: str,
    score: float,
    reasons: list[dict[str, object]] | list[dict[str, FieldValue]],
    model_version: str | None,
    rules_version: str,
    fallback: str | None,
    latency_ms: float,
) -> Answer:
    """The answer to a decision just made, from its parts (a batch's come from columns)."""
    return {
        "decision_id": decision_id,
        "transaction_id": transaction_id,
        "decision": action,
        "score": score,
        "reasons": reasons,
        "model_version": model_version,
        "rules_version": rules_version,
        "fallback": fallback,
        "latency_ms": latency_ms,
        "duplicate": False,
    }


def answer_from_record(record: StoredDecision, *, duplicate: bool) -> Answer:
    """The answer a logged decision was given (a retried transaction gets it again)."""
    body = record.body
    return {
        "decision_id": record.decision_id,
        "transaction_id": record.transaction_id,
        "decision": body["action"],
        "score": body["score"],
        "reasons": body["reasons"],
        "model_version": body["model_version"],
        "rules_version": body["rules_version"],
        "fallback": body["fallback"],
        "latency_ms": body["latency_ms"],
        "duplicate": duplicate,
    }


def label_answer(record: StoredDecision, *, duplicate: bool) -> Answer:
    return {
        "transaction_id": record.transaction_id,
        "is_fraud": record.body["is_fraud"],
        "counted_from": record.body["counted_from"],
        "duplicate": duplicate,
    }
