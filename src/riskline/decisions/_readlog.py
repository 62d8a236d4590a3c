"""The reading half of a database log, and the read-only log that audits open.

An audit opens the log with ``read_only``: no table is created, no writer thread starts and
appends are refused, so a missing log (a deleted file, a mistyped home, a dropped table)
fails at open instead of being replaced by an empty one that verifies as intact.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterable, Iterator, Sequence
from concurrent.futures import Future
from datetime import datetime
from types import TracebackType
from typing import NoReturn, Protocol, Self

from riskline.decisions._batches import Expander
from riskline.decisions._chain import Row, verify
from riskline.decisions._records import (
    DecisionBatch,
    DecisionRecord,
    StoredDecision,
    VerifyReport,
)
from riskline.decisions._window import Window
from riskline.errors import DecisionLogUnavailableError, DuplicateDecisionError

_CHUNK = 20_000  # rows per read query: large enough that query overhead vanishes


class Reader(Protocol):
    """Thread-safe reads of committed rows."""

    def get(self, decision_id: str) -> Row | None: ...
    def find(self, kind: str, transaction_id: str) -> Row | None: ...
    def rows(self, since: int, limit: int) -> list[Row]: ...

    def between(self, after: int, upto: int, window: Window) -> list[Row]:
        """The rows of ``window`` with ``after < seq <= upto``, in seq order: a chunk's
        cost is bounded by its seq range, however few rows the window keeps."""
        ...

    def last_seq(self) -> int:
        """The highest committed seq (0 when empty)."""
        ...

    def below_chain(self) -> Row | None:
        """The lowest row with seq below 1, if any: one that no read of the chain returns."""
        ...

    def close(self) -> None: ...


class ReadLog:
    """The ``DecisionLog`` reads over a ``Reader``, shared by the writing and the read-only
    logs."""

    def __init__(self, reader: Reader) -> None:
        self._reader = reader
        self._expander = Expander(reader.get)

    def close(self) -> None:
        self._reader.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def get(self, decision_id: str) -> StoredDecision | None:
        return self._expander.stored(self._reader.get(decision_id))

    def find(self, kind: str, transaction_id: str) -> StoredDecision | None:
        return self._expander.stored(self._reader.find(kind, transaction_id))

    def read(
        self,
        since: int = 0,
        *,
        kinds: Collection[str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> Iterator[StoredDecision]:
        window = Window.of(kinds, start, end)
        for chunk in self._chunks(since, window):
            yield from self._expander.decisions(chunk)

    def verify(self) -> VerifyReport:
        # A row below seq 1 (a table made before its CHECK, written around the log) is
        # outside every walk of the chain, yet get/find and the duplicate check return it.
        outside = self._reader.below_chain()
        first = [] if outside is None else [[outside]]
        return verify(itertools.chain(first, self._chunks(0)))

    def _chunks(self, since: int, window: Window | None = None) -> Iterator[list[Row]]:
        if window is None:
            while chunk := self._reader.rows(since, _CHUNK):
                yield chunk
                since = chunk[-1][0]
            return
        last = self._reader.last_seq()  # what is committed when the read starts
        while since < last:
            if chunk := self._reader.between(since, min(since + _CHUNK, last), window):
                yield chunk
            since += _CHUNK


class ReadOnlyLog(ReadLog):
    """A ``DecisionLog`` that reads an existing log and refuses every append with
    ``DecisionLogUnavailableError``; ``where`` names the log in that error."""

    def __init__(self, reader: Reader, where: str) -> None:
        super().__init__(reader)
        self._where = where

    def submit(self, record: DecisionRecord) -> Future[int]:
        self._refuse()

    def submit_many(
        self, records: Sequence[DecisionRecord]
    ) -> Future[list[int | DuplicateDecisionError]]:
        self._refuse()

    def append(self, record: DecisionRecord) -> int:
        self._refuse()

    def append_many(self, records: Iterable[DecisionRecord]) -> list[int]:
        self._refuse()

    def submit_batch(self, batch: DecisionBatch) -> Future[list[int | DuplicateDecisionError]]:
        self._refuse()

    def _refuse(self) -> NoReturn:
        raise DecisionLogUnavailableError(
            f"the decision log {self._where} is open read-only; open it without read_only "
            "to append."
        )
