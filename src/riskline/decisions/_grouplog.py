"""Group commit: one writer thread chains and commits queued records in batches.

Callers enqueue records and wait on a ``Future`` (one per call, whatever its size). The
writer takes everything queued, in whole calls (up to ``max_batch`` records, or one larger
call alone), opens an exclusive write transaction, reads the chain tail from the database
(so a restart, or another process appending between batches, is picked up), assigns seqs and
hashes, inserts, commits, and only then resolves the futures. A failed batch resolves every
future in it with ``DecisionLogUnavailableError``: nothing uncommitted is acknowledged.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from typing import Protocol, Self

from riskline.decisions._batches import encode_batch
from riskline.decisions._chain import GENESIS, Encoded, Row, chain, encode, to_stored
from riskline.decisions._readlog import Reader, ReadLog
from riskline.decisions._records import BATCH_MARK, DecisionBatch, DecisionRecord
from riskline.errors import (
    DecisionLogUnavailableError,
    DuplicateDecisionError,
    InvalidDecisionError,
)

# After a commit that took at least _CROWD records, the writer waits up to _COALESCE_S for
# as many to queue again (the callers it woke), so that they share one fsync. A service's
# requests arrive one or two per commit, at random: waiting for the second cost more than
# sharing its fsync saved (at 1,000 req/s, p50 from submit to durable 1.0-1.2 -> 0.57-0.60
# ms in process), while blocked threads, which do wake in a crowd, still wait for each other.
_COALESCE_S = 0.0005
_CROWD = 4


class ConflictError(Exception):
    """Raised by ``Writer.insert`` when a row breaks a unique constraint."""


class Writer(Protocol):
    """The backend connection used by the writer thread only."""

    def begin(self) -> None:
        """Start a write transaction that excludes other writers."""
        ...

    def tail(self) -> tuple[int, bytes] | None:
        """The last stored ``(seq, hash)``, if any."""
        ...

    def insert(self, rows: Sequence[Row]) -> None: ...

    def lookup_many(self, records: Sequence[Encoded]) -> list[Row | None]:
        """Each record's stored row, by its ``(kind, transaction_id)`` or ``decision_id``
        (``matching``), in a few queries whatever the number of records."""
        ...

    def commit(self) -> None: ...
    def rollback(self) -> None: ...

    def maintain(self) -> None:
        """Housekeeping between two batches, once their callers have been answered."""
        ...

    def close(self) -> None: ...


Outcome = int | DuplicateDecisionError


class GroupCommitLog(ReadLog):
    """A ``DecisionLog`` over a ``Writer`` and a ``Reader``; build it with ``start``."""

    def __init__(self, writer: Writer, reader: Reader, max_batch: int) -> None:
        super().__init__(reader)
        self._writer = writer
        self._max_batch = max_batch
        self._cond = threading.Condition()
        self._pending: deque[_Group] = deque()
        self._queued = 0  # records in self._pending
        self._closed = False
        self._tail: tuple[int, bytes] | None = None  # None: read it from the database
        self._thread = threading.Thread(target=self._run, name="decision-log-writer", daemon=True)

    @classmethod
    def start(cls, writer: Writer, reader: Reader, max_batch: int = 4_096) -> Self:
        log = cls(writer, reader, max_batch)
        log._thread.start()
        return log

    def submit(self, record: DecisionRecord) -> Future[int]:
        group = _Group([encode(record)], single=True)
        self._enqueue(group)
        return group.future  # type: ignore[return-value]  # single: the seq itself

    def submit_many(self, records: Sequence[DecisionRecord]) -> Future[list[Outcome]]:
        group = _Group([encode(r) for r in records], single=False)
        self._enqueue(group)
        return group.future

    def submit_batch(self, batch: DecisionBatch) -> Future[list[Outcome]]:
        group = _Group(encode_batch(batch), single=False, columns=True)
        self._enqueue(group)
        return group.future

    def append(self, record: DecisionRecord) -> int:
        return self.submit(record).result()

    def append_many(self, records: Iterable[DecisionRecord]) -> list[int]:
        return seqs_or_raise(self.submit_many(list(records)).result())

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join()
        self._writer.close()
        super().close()

    def _enqueue(self, group: _Group) -> None:
        if not group.records:
            group.future.set_result([])
            return
        with self._cond:
            if self._closed:
                raise DecisionLogUnavailableError(
                    "the decision log is closed; open it again to append."
                )
            self._pending.append(group)
            self._queued += len(group.records)
            self._cond.notify()

    def _run(self) -> None:
        expect = 1  # records likely queued soon: the last batch plus what queued meanwhile
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if not self._pending:
                    return
                if expect >= _CROWD and self._queued < expect:  # one fsync for all of them
                    self._cond.wait_for(self._enough(expect), _COALESCE_S)
                batch = [self._pending.popleft()]  # whole groups, up to max_batch records
                take = len(batch[0].records)
                while self._pending and take + len(self._pending[0].records) <= self._max_batch:
                    batch.append(self._pending.popleft())
                    take += len(batch[-1].records)
                self._queued -= take
            # A group cancelled before this point is dropped; after it, it cannot be.
            live = [group for group in batch if group.future.set_running_or_notify_cancel()]
            if live:
                self._commit(live)
            self._writer.maintain()
            with self._cond:
                expect = min(take + self._queued, self._max_batch)

    def _enough(self, expect: int) -> Callable[[], bool]:
        return lambda: self._queued >= expect or self._closed

    def _commit(self, live: list[_Group]) -> None:
        records = live[0].records if len(live) == 1 else [e for g in live for e in g.records]
        try:
            outcomes = self._write(records)
        except Exception as exc:
            error = DecisionLogUnavailableError(
                f"the decision log could not commit a batch of {len(records)} record(s): "
                f"{exc!r}. None of them was acknowledged; retry with the same transaction_id."
            )
            error.__cause__ = exc
            for group in live:
                group.future.set_exception(error)
            return
        done = 0
        for group in live:
            group.settle(self._whole(outcomes[done : done + len(group.records)]))
            done += len(group.records)

    def _whole(self, outcomes: list[Outcome]) -> list[Outcome]:
        """``outcomes`` with each duplicate's ``existing`` decision whole (a batch member's
        row, as the writer found it, only points at its batch)."""
        for outcome in outcomes:
            if isinstance(outcome, DuplicateDecisionError):
                outcome.existing = self._expander.expand_duplicate(outcome.existing)
        return outcomes

    def _write(self, batch: list[Encoded]) -> list[Outcome]:
        writer = self._writer
        writer.begin()
        try:
            try:
                tail = self._tail or writer.tail() or (0, GENESIS)
                rows, outcomes = plan(batch, *tail, {})
                writer.insert(rows)
            except ConflictError:  # rare: a retried decision, or another process appended
                writer.rollback()
                writer.begin()
                tail = writer.tail() or (0, GENESIS)
                found = writer.lookup_many(batch)
                known = {i: row for i, row in enumerate(found) if row is not None}
                rows, outcomes = plan(batch, *tail, known)
                writer.insert(rows)
            writer.commit()
        except BaseException:
            self._tail = None  # a failed commit may or may not have landed
            writer.rollback()
            raise
        self._tail = (rows[-1][0], rows[-1][7]) if rows else tail
        return outcomes


def matching(records: Sequence[Encoded], rows: Iterable[Row]) -> list[Row | None]:
    """For each record, the row among ``rows`` holding its ``(kind, transaction_id)``, else
    the one holding its ``decision_id``, else None."""
    by_key: dict[tuple[str, str], Row] = {}
    by_id: dict[str, Row] = {}
    for row in rows:
        by_key[row[3], row[2]] = by_id[row[1]] = row
    return [by_key.get((r[2], r[1])) or by_id.get(r[0]) for r in records]


def by_kind(records: Sequence[Encoded]) -> dict[str, list[str]]:
    """The records' transaction ids, by kind (lookups by the unique ``(kind,
    transaction_id)``)."""
    kinds: dict[str, list[str]] = {}
    for record in records:
        kinds.setdefault(record[2], []).append(record[1])
    return kinds


def seqs_or_raise(outcomes: list[Outcome]) -> list[int]:
    """The seqs of a committed batch; raises its first duplicate (the rest are logged)."""
    first = next((o for o in outcomes if not isinstance(o, int)), None)
    if first is not None:
        raise first
    return outcomes  # type: ignore[return-value]  # no duplicate: all ints


class _Group:
    """The records of one ``submit``/``submit_many`` call, committed together (in one
    transaction, perhaps beside other groups) and answered by one future: each record's seq
    or ``DuplicateDecisionError`` (``submit``: the seq itself, or the error raised)."""

    __slots__ = ("_columns", "_single", "future", "records")

    def __init__(self, records: list[Encoded], *, single: bool, columns: bool = False) -> None:
        self.records = records
        self.future: Future[list[Outcome]] = Future()
        self._single = single
        self._columns = columns  # a batch: records[0] is its columns record

    def settle(self, outcomes: list[Outcome]) -> None:
        if self._columns:  # the members' outcomes (plan made the columns record new)
            self.future.set_result(outcomes[1:])
        elif not self._single:
            self.future.set_result(outcomes)
        elif isinstance(outcome := outcomes[0], int):
            self.future.set_result(outcome)  # type: ignore[arg-type]  # submit: Future[int]
        else:
            self.future.set_exception(outcome)


def plan(
    batch: list[Encoded], seq: int, prev: bytes, known: dict[int, Row]
) -> tuple[list[Row], list[Outcome]]:
    """Rows to insert and each record's outcome; the first record per key wins."""
    if not known and _distinct(batch):  # the common case, a batch's thousand at once
        rows = chain(seq, prev, batch)
        return rows, [row[0] for row in rows]
    by_id: dict[str, int] = {}
    by_key: dict[tuple[str, str], int] = {}
    fresh: list[Encoded] = []
    target: list[int | Row] = []  # index into fresh if new or a duplicate of one, else the row
    is_new: list[bool] = []
    for i, record in enumerate(batch):
        hit: int | Row | None = known.get(i)
        if hit is None:
            hit = by_id.get(record[0])
        if hit is None:
            hit = by_key.get((record[2], record[1]))
        if hit is not None:
            if record[2].endswith(BATCH_MARK):  # a fresh uuid4 met before: never in practice
                raise InvalidDecisionError(f"batch id {record[0]!r} is already logged.")
            target.append(hit)
            is_new.append(False)
            continue
        j = len(fresh)
        fresh.append(record)
        by_id[record[0]] = by_key[(record[2], record[1])] = j
        target.append(j)
        is_new.append(True)
    rows = chain(seq, prev, fresh)
    outcomes: list[Outcome] = []
    for record, t, new in zip(batch, target, is_new, strict=True):
        row = rows[t] if isinstance(t, int) else t
        outcomes.append(row[0] if new else _duplicate(record, row))
    return rows, outcomes


def _distinct(batch: list[Encoded]) -> bool:
    """Whether no two records share a decision_id or a (kind, transaction_id)."""
    n = len(batch)
    return n == 1 or (len({r[0] for r in batch}) == n and len({(r[2], r[1]) for r in batch}) == n)


def _duplicate(record: Encoded, row: Row) -> DuplicateDecisionError:
    decision_id, transaction_id, kind = record[:3]
    if row[2] == transaction_id and row[3] == kind:
        what = f"kind {kind!r} and transaction_id {transaction_id!r}"
    else:
        what = f"decision_id {decision_id!r}"
    return DuplicateDecisionError(
        f"a decision for {what} is already logged as seq {row[0]} "
        f"(decision_id {row[1]!r}); the log keeps the first one, answer with it.",
        to_stored(row),
    )
