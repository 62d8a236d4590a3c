"""The values of the decision log: what goes in, what is stored, what ``verify`` finds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import numpy as np
import orjson

from riskline.errors import InvalidDecisionError

BATCH_MARK = "$batch"
"""Reserved: a kind holding it names a batch's record of columns (``DecisionBatch``), and a
body key of that name points a decision at its batch's record; a ``DecisionRecord`` can use
neither, so no record a caller logs is ever read as part of a batch."""

GENESIS_HASH = "0" * 64
"""``prev_hash`` of the first record (seq 1): 32 zero bytes, shown as 64 hex zeros."""

BreakReason = Literal["hash_mismatch", "prev_hash_mismatch", "seq_gap", "outside_chain"]
"""Why ``verify`` stopped; ``outside_chain``: a row below seq 1, where the chain starts, which
no walk of the chain reads but ``get`` and ``find`` return (a table made before its
``CHECK (seq >= 1)``, written around the log)."""


COLUMN_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY
"""How a batch's columns are encoded: canonical JSON (sorted keys), numpy arrays as lists."""


class EncodedColumn:
    """A column of a ``DecisionBatch`` encoded now, before its batch is made: the batch's
    large columns (requests, features) are encoded while the caller waits anyway (for the
    model), and logging the batch only copies their bytes. Raises ``InvalidDecisionError``
    if the column is not JSON-able or its parts differ in length."""

    __slots__ = ("json", "sizes")

    def __init__(self, column: Sequence[object] | Mapping[str, Sequence[object]]) -> None:
        self.sizes = column_sizes(column)
        try:
            raw = orjson.dumps(column, default=column_default, option=COLUMN_OPTIONS)
        except TypeError as exc:  # orjson.JSONEncodeError is a TypeError
            raise InvalidDecisionError(f"a column is not JSON-able: {exc}.") from exc
        self.json = orjson.Fragment(raw)


def column_sizes(column: object) -> list[tuple[str | None, int]]:
    """How many values each part of a column holds (a sequence: one part, named None)."""
    if isinstance(column, EncodedColumn):
        return column.sizes
    if isinstance(column, Mapping):
        return [(part, len(values)) for part, values in column.items()]
    return [(None, len(column))]  # type: ignore[arg-type]


def column_default(value: object) -> object:
    """``orjson``'s ``default`` for columns: an ``EncodedColumn``'s JSON as it is, and a
    column sliced out of a matrix as an array orjson reads (C order)."""
    if isinstance(value, EncodedColumn):
        return value.json
    if isinstance(value, np.ndarray) and not value.flags.c_contiguous:
        return np.ascontiguousarray(value)
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


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
        _check_kind(self.kind)
        _check_time(self.decided_at)
        if type(self.body) is not dict and not isinstance(self.body, Mapping):
            raise InvalidDecisionError(
                f"body must be a mapping with string keys, got {type(self.body).__name__}."
            )
        if BATCH_MARK in self.body:
            raise InvalidDecisionError(f"body key {BATCH_MARK!r} is reserved for batches.")


@dataclass(frozen=True, slots=True)
class DecisionBatch:
    """Many decisions of one ``kind``, decided together at ``decided_at``, logged as columns.

    Decision ``i`` has ids ``decision_ids[i]`` and ``transaction_ids[i]`` (as in a
    ``DecisionRecord``: the idempotency key is unique per kind, and a duplicate is refused
    decision by decision) and the body ``shared`` updated with ``columns``: each column is a
    sequence holding one value per decision (a list, or a one-dimensional numpy array), or a
    mapping of such sequences, which becomes a nested mapping, or either encoded ahead
    (``EncodedColumn``). With ``shared={"model": "m1"}``
    and ``columns={"score": [0.1, 0.9], "features": {"amount": [5, 7]}}``, decision 1 reads
    back as ``{"model": "m1", "score": 0.9, "features": {"amount": 7}}``.

    The log keeps the columns in one record and each decision in a small record of its own,
    pointing at it, so reads (``get``, ``find``, ``read``) return each decision with its body
    whole, as if logged alone, while a batch of a thousand is encoded and hashed once rather
    than a thousand times. ``shared`` and ``columns`` must not name the same key.
    """

    kind: str
    decided_at: datetime
    decision_ids: Sequence[str]
    transaction_ids: Sequence[str]
    shared: Mapping[str, object]
    columns: Mapping[str, object]

    def __post_init__(self) -> None:
        if not isinstance(self.kind, str) or not self.kind:
            raise InvalidDecisionError(f"kind must be a non-empty string, got {self.kind!r}.")
        _check_text("kind", self.kind)
        _check_kind(self.kind)
        _check_time(self.decided_at)
        n = len(self.decision_ids)
        if len(self.transaction_ids) != n:
            raise InvalidDecisionError(
                f"transaction_ids has {len(self.transaction_ids)} ids for {n} decision_ids."
            )
        for name, ids in (
            ("decision_ids", self.decision_ids),
            ("transaction_ids", self.transaction_ids),
        ):
            _check_ids(name, ids)
        for name, column in self.columns.items():
            for part, size in column_sizes(column):
                if size != n:
                    where = name if part is None else f"{name}.{part}"
                    raise InvalidDecisionError(
                        f"column {where!r} has {size} values for {n} decisions."
                    )
        both = self.shared.keys() & self.columns.keys()
        if both:
            raise InvalidDecisionError(f"shared and columns both name {sorted(both)!r}.")
        if BATCH_MARK in self.shared or BATCH_MARK in self.columns:
            raise InvalidDecisionError(f"body key {BATCH_MARK!r} is reserved for batches.")

    def __len__(self) -> int:
        return len(self.decision_ids)


def _check_ids(name: str, ids: Sequence[str]) -> None:
    """Every id a non-empty string that a backend can store (``_check_text``), checked for
    the whole column at once: a batch has thousands."""
    if not all(type(i) is str and i for i in ids):
        bad = next(i for i in ids if type(i) is not str or not i)
        raise InvalidDecisionError(f"{name} must hold non-empty strings, got {bad!r}.")
    joined = "".join(ids)
    if "\x00" in joined or not joined.isascii():
        for i in ids:
            _check_text(name, i)


def _check_kind(kind: str) -> None:
    if BATCH_MARK in kind:
        raise InvalidDecisionError(f"kind must not contain {BATCH_MARK!r}, got {kind!r}.")


def _check_time(at: datetime) -> None:
    if not isinstance(at, datetime) or at.utcoffset() is None:
        raise InvalidDecisionError(f"decided_at must be timezone-aware (UTC), got {at!r}.")


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
