"""A ``DecisionBatch`` as log records, and its decisions read back whole.

A batch of ``n`` decisions becomes ``n + 1`` chained records in one group commit: first the
batch's *columns record* (``kind`` + ``BATCH_MARK``, both ids a fresh batch id, the body
``{"columns", "decision_ids", "shared", "transaction_ids"}``), then one *member record* per
decision with the decision's own ids and kind and the body ``{"$batch": id, "$row": i}``.
Every record is chained and verified as any other; the members carry the idempotency keys
(the log's unique constraints refuse a duplicate decision by decision, batch or not), and
the columns are encoded and hashed once for the whole batch, which a body per decision cost
a thousand times (``bench/log_layout.py``).

Reads turn a member back into the decision as a caller sees it: ``expand`` reads the columns
record (a few recent ones stay parsed), checks that it names this decision at this row, and
rebuilds the body; the record's own seq and hashes stay the member's. Columns records are
not decisions: reads skip them.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

import orjson

from riskline.decisions._chain import Encoded, Row, to_stored, utc_text
from riskline.decisions._records import (
    BATCH_MARK,
    COLUMN_OPTIONS,
    DecisionBatch,
    StoredDecision,
    column_default,
)
from riskline.errors import DecisionLogUnavailableError, InvalidDecisionError

_ROW = "$row"
_POINTER = b'{"' + BATCH_MARK.encode() + b'":'
_KEEP = 8  # columns records kept parsed: the batches a read or a few labels are in


def encode_batch(batch: DecisionBatch) -> list[Encoded]:
    """The columns record, then one member record per decision, all canonical JSON.

    Raises ``InvalidDecisionError`` if a value is not JSON-able.
    """
    batch_id = uuid.uuid4().hex
    content = {
        "columns": batch.columns,
        "decision_ids": batch.decision_ids,
        "shared": batch.shared,
        "transaction_ids": batch.transaction_ids,
    }
    try:
        raw = orjson.dumps(content, default=column_default, option=COLUMN_OPTIONS)
    except TypeError as exc:  # orjson.JSONEncodeError is a TypeError
        raise InvalidDecisionError(
            f"a batch of {len(batch)} {batch.kind!r} decisions is not JSON-able: {exc}. "
            "Allowed: dicts with str keys, lists, one-dimensional numpy arrays, str, int, "
            "float, bool, None."
        ) from exc
    at, kind = utc_text(batch.decided_at), batch.kind
    head = _POINTER + orjson.dumps(batch_id) + b',"' + _ROW.encode() + b'":'
    records: list[Encoded] = [(batch_id, batch_id, kind + BATCH_MARK, at, raw)]
    records += [
        (decision_id, transaction_id, kind, at, b"%b%d}" % (head, i))
        for i, (decision_id, transaction_id) in enumerate(
            zip(batch.decision_ids, batch.transaction_ids, strict=True)
        )
    ]
    return records


def is_columns(row: Row) -> bool:
    """Whether ``row`` is a batch's columns record (not a decision)."""
    return row[3].endswith(BATCH_MARK)


def _member(row: Row) -> tuple[str, int] | None:
    """The batch id and row a member record points at; None for any other record."""
    body = row[5]
    if bytes(body[: len(_POINTER)]) != _POINTER:
        return None
    pointer = orjson.loads(body)
    return str(pointer[BATCH_MARK]), int(pointer[_ROW])


class Expander:
    """Stored decisions from rows: a member gets its decision's body from its batch's
    columns record, read through ``fetch`` (a row by decision_id) and kept parsed for the
    next members of the same batch. Thread-safe."""

    def __init__(self, fetch: Callable[[str], Row | None]) -> None:
        self._fetch = fetch
        self._parsed: OrderedDict[str, tuple[Row, dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()

    def stored(self, row: Row | None) -> StoredDecision | None:
        """The decision of ``row`` (a member's whole), None for none or a columns record."""
        if row is None or is_columns(row):
            return None
        return self.expand(row)

    def expand(self, row: Row) -> StoredDecision:
        """``row`` as a ``StoredDecision``; a member with its decision's body."""
        member = _member(row)
        if member is None:
            return to_stored(row)
        batch_id, i = member
        seq, decision_id, transaction_id, kind, at, _, prev_hash, hashed = row
        body = self._body(batch_id, i, seq, decision_id, transaction_id, kind)
        return StoredDecision(
            seq,
            decision_id,
            transaction_id,
            kind,
            datetime.fromisoformat(at),
            body,
            prev_hash.hex(),
            hashed.hex(),
        )

    def _body(
        self, batch_id: str, i: int, seq: int, decision_id: str, transaction_id: str, kind: str
    ) -> dict[str, object]:
        """The body of the decision at row ``i`` of batch ``batch_id``, once its columns
        record is found to hold that decision there."""
        columns_row, content = self._content(batch_id)
        ids, txids = content["decision_ids"], content["transaction_ids"]
        if (
            columns_row[3] != kind + BATCH_MARK
            or not 0 <= i < len(ids)
            or ids[i] != decision_id
            or txids[i] != transaction_id
        ):
            raise DecisionLogUnavailableError(
                f"decision {decision_id!r} (seq {seq}) points at row {i} of batch "
                f"{batch_id!r}, which does not hold it: the log was written around riskline."
            )
        return body_of(content, i)

    def decisions(self, rows: Iterable[Row]) -> Iterator[StoredDecision]:
        """The decisions among ``rows`` (in order), members whole; columns records, which
        come just before their members, are parsed as they pass."""
        for row in rows:
            if is_columns(row):
                self._keep(row[1], row)
            else:
                yield self.expand(row)

    def expand_duplicate(self, existing: object) -> object:
        """A duplicate's ``existing`` decision, whole if it is a member (the writer builds
        it from the raw row, whose body only points at its batch): its batch's columns are
        read once for all its members."""
        if not isinstance(existing, StoredDecision) or BATCH_MARK not in existing.body:
            return existing
        e, pointer = existing, existing.body
        at = str(pointer[BATCH_MARK]), int(pointer[_ROW])  # type: ignore[call-overload]
        body = self._body(*at, e.seq, e.decision_id, e.transaction_id, e.kind)
        return StoredDecision(
            e.seq, e.decision_id, e.transaction_id, e.kind, e.decided_at, body, e.prev_hash, e.hash
        )

    def _content(self, batch_id: str) -> tuple[Row, dict[str, Any]]:
        with self._lock:
            hit = self._parsed.get(batch_id)
            if hit is not None:
                self._parsed.move_to_end(batch_id)
                return hit
        row = self._fetch(batch_id)
        if row is None or not is_columns(row):
            raise DecisionLogUnavailableError(
                f"batch {batch_id!r} has no columns record in the decision log: the log was "
                "written around riskline."
            )
        return self._keep(batch_id, row)

    def _keep(self, batch_id: str, row: Row) -> tuple[Row, dict[str, Any]]:
        parsed = (row, orjson.loads(row[5]))
        with self._lock:
            self._parsed[batch_id] = parsed
            self._parsed.move_to_end(batch_id)
            while len(self._parsed) > _KEEP:
                self._parsed.popitem(last=False)
        return parsed


def body_of(content: Mapping[str, Any], i: int) -> dict[str, object]:
    """Decision ``i``'s body from a batch's parsed columns record."""
    body = dict(content["shared"])
    for name, column in content["columns"].items():
        body[name] = {k: c[i] for k, c in column.items()} if type(column) is dict else column[i]
    return body
