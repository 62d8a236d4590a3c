"""An in-memory ``DecisionLog`` for tests of other components: a real chain, no database."""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterable, Iterator, Sequence
from concurrent.futures import Future
from datetime import datetime
from types import TracebackType
from typing import Self

from riskline.decisions._batches import Expander, encode_batch
from riskline.decisions._chain import GENESIS, Encoded, Row, encode, verify
from riskline.decisions._grouplog import Outcome, plan, seqs_or_raise
from riskline.decisions._records import DecisionBatch, DecisionRecord, StoredDecision, VerifyReport
from riskline.decisions._window import Window
from riskline.errors import DecisionLogUnavailableError, DuplicateDecisionError


class InMemoryDecisionLog:
    """The ``DecisionLog`` protocol over a list; appends are "durable" when they return.

    Same chain, same duplicate rule and same errors as the database logs; ``submit`` returns
    an already-resolved future.

    Examples:
        >>> from datetime import UTC, datetime
        >>> log = InMemoryDecisionLog()
        >>> at = datetime(2026, 1, 1, tzinfo=UTC)
        >>> log.append(DecisionRecord("d1", "t1", "fraud", at, {"decision": "approve"}))
        1
        >>> log.verify().ok
        True
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: list[Row] = []
        self._by_id: dict[str, Row] = {}
        self._by_key: dict[tuple[str, str], Row] = {}
        self._closed = False
        self._expander = Expander(self._by_id.get)

    def submit(self, record: DecisionRecord) -> Future[int]:
        future: Future[int] = Future()
        outcome = self._add([encode(record)])[0]
        if isinstance(outcome, int):
            future.set_result(outcome)
        else:
            future.set_exception(outcome)
        return future

    def submit_many(self, records: Sequence[DecisionRecord]) -> Future[list[Outcome]]:
        future: Future[list[Outcome]] = Future()
        future.set_result(self._add([encode(r) for r in records]))
        return future

    def submit_batch(self, batch: DecisionBatch) -> Future[list[Outcome]]:
        future: Future[list[Outcome]] = Future()
        future.set_result(self._add(encode_batch(batch))[1:])
        return future

    def append(self, record: DecisionRecord) -> int:
        return self.submit(record).result()

    def append_many(self, records: Iterable[DecisionRecord]) -> list[int]:
        return seqs_or_raise(self._add([encode(r) for r in records]))

    def get(self, decision_id: str) -> StoredDecision | None:
        with self._lock:
            self._check_open()
            row = self._by_id.get(decision_id)
        return self._expander.stored(row)

    def find(self, kind: str, transaction_id: str) -> StoredDecision | None:
        with self._lock:
            self._check_open()
            row = self._by_key.get((kind, transaction_id))
        return self._expander.stored(row)

    def read(
        self,
        since: int = 0,
        *,
        kinds: Collection[str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> Iterator[StoredDecision]:
        window = Window.of(kinds, start, end)
        with self._lock:
            self._check_open()
            rows = self._rows[max(since, 0) :]
        return self._expander.decisions(rows if window is None else filter(window.holds, rows))

    def verify(self) -> VerifyReport:
        with self._lock:
            self._check_open()
            rows = list(self._rows)
        return verify([rows])

    def close(self) -> None:
        with self._lock:
            self._closed = True

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _add(self, batch: list[Encoded]) -> list[Outcome]:
        with self._lock:
            self._check_open()
            known = {i: row for i, e in enumerate(batch) if (row := self._existing(e)) is not None}
            tail = self._rows[-1] if self._rows else None
            seq, prev = (0, GENESIS) if tail is None else (tail[0], tail[7])
            rows, outcomes = plan(batch, seq, prev, known)
            for row in rows:
                self._rows.append(row)
                self._by_id[row[1]] = self._by_key[(row[3], row[2])] = row
        for outcome in outcomes:
            if isinstance(outcome, DuplicateDecisionError):
                outcome.existing = self._expander.expand_duplicate(outcome.existing)
        return outcomes

    def _existing(self, record: Encoded) -> Row | None:
        row = self._by_id.get(record[0])
        return row if row is not None else self._by_key.get((record[2], record[1]))

    def _check_open(self) -> None:
        if self._closed:
            raise DecisionLogUnavailableError(
                "the decision log is closed; open a new InMemoryDecisionLog."
            )
