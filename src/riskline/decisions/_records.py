"""The values of the decision log: what goes in, what is stored, what ``verify`` finds."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from riskline.errors import InvalidDecisionError

GENESIS_HASH = "0" * 64
"""``prev_hash`` of the first record (seq 1): 32 zero bytes, shown as 64 hex zeros."""

BreakReason = Literal["hash_mismatch", "prev_hash_mismatch", "seq_gap", "outside_chain"]
"""Why ``verify`` stopped; ``outside_chain``: a row below seq 1, where the chain starts, which
no walk of the chain reads but ``get`` and ``find`` return (a table made before its
``CHECK (seq >= 1)``, written around the log)."""


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """One decision to log, for any domain (``kind`` is e.g. ``"fraud"``, ``"credit"``).

    ``transaction_id`` is the idempotency key: unique per ``kind``. The three ids are
    non-empty text without NUL characters or lone surrogates (what every backend stores and
    hashes); others raise ``InvalidDecisionError`` when the record is built. ``decided_at`` is a
    tz-aware time, stored in UTC with microseconds. ``body`` is a JSON-able mapping (request,
    feature values, model and rules versions, score, thresholds, decision, reasons, latency,
    fallback); it is stored as canonical JSON (sorted keys), so it reads back with JSON types:
    tuples become lists, datetimes RFC 3339 strings, NaN and infinities ``None``.
    """

    decision_id: str
    transaction_id: str
    kind: str
    decided_at: datetime
    body: Mapping[str, object]

    def __post_init__(self) -> None:
        for name, value in (
            ("decision_id", self.decision_id),
            ("transaction_id", self.transaction_id),
            ("kind", self.kind),
        ):
            if not isinstance(value, str) or not value:
                raise InvalidDecisionError(f"{name} must be a non-empty string, got {value!r}.")
            _check_text(name, value)
        if self.decided_at.utcoffset() is None:
            raise InvalidDecisionError(
                f"decided_at must be timezone-aware (UTC), got {self.decided_at!r}."
            )
        if type(self.body) is not dict and not isinstance(self.body, Mapping):
            raise InvalidDecisionError(
                f"body must be a mapping with string keys, got {type(self.body).__name__}."
            )


def _check_text(name: str, value: str) -> None:
    """Refuse what a backend cannot store, here rather than in the writer: there it would
    fail the whole group commit, every request sharing its fsync. PostgreSQL text holds no
    NUL, and a lone surrogate has no UTF-8 bytes to hash or store. ``isascii`` first: ids
    are ASCII almost always, and a batch checks thousands of them."""
    if "\x00" in value:
        raise InvalidDecisionError(f"{name} must not contain NUL characters, got {value!r}.")
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError as exc:
            raise InvalidDecisionError(
                f"{name} must be valid Unicode text (no lone surrogates), got {value!r}."
            ) from exc


@dataclass(frozen=True, slots=True)
class StoredDecision:
    """A committed record: ``seq`` counts from 1 without gaps; hashes are 64 hex characters.

    ``hash = sha256(prev_hash || canonical bytes of (seq, decision_id, transaction_id, kind,
    decided_at, body))`` over the 32 raw bytes of ``prev_hash``, which is the previous
    record's hash, or ``GENESIS_HASH``.
    """

    seq: int
    decision_id: str
    transaction_id: str
    kind: str
    decided_at: datetime
    body: Mapping[str, object]
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """What ``verify`` found, reading the rows in seq order and stopping at the first break:
    any row below seq 1 first (outside the chain), then the chain from seq 1.

    ``checked`` counts the records read, the broken one included. ``head_seq``/``head_hash``
    belong to the last intact record (``0``/``GENESIS_HASH`` when there is none); publishing
    the head hash elsewhere also guards against truncation of the tail, which the chain alone
    cannot see.
    """

    checked: int
    head_seq: int
    head_hash: str
    broken_seq: int | None = None
    broken_decision_id: str | None = None
    reason: BreakReason | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.reason is None
