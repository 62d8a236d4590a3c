"""The append-only, hash-chained decision log: its protocol and how to open one.

Durability: ``append`` returns only after the record's batch is committed (SQLite: WAL
fsynced, ``synchronous=FULL``; PostgreSQL: commit flushed). Idempotency: the first record per
``(kind, transaction_id)`` wins; a later one (or one reusing a ``decision_id``) is not stored
and its append raises ``DuplicateDecisionError`` carrying the committed record as
``existing``, so concurrent requests for one transaction end with exactly one decision.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from concurrent.futures import Future
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

from riskline.decisions._postgres import open_postgres
from riskline.decisions._records import (
    DecisionBatch,
    DecisionRecord,
    StoredDecision,
    VerifyReport,
)
from riskline.decisions._sqlite import open_sqlite
from riskline.errors import ConfigError, DuplicateDecisionError


class DecisionLog(Protocol):
    """An append-only log of decisions; there is no update or delete."""

    def submit(self, record: DecisionRecord) -> Future[int]:
        """Queue ``record``; the future resolves to its seq once committed.

        The future fails with ``DuplicateDecisionError`` or ``DecisionLogUnavailableError``.
        Raises ``InvalidDecisionError`` (body not JSON) or ``DecisionLogUnavailableError``
        (closed) at once. From asyncio: ``await asyncio.wrap_future(log.submit(record))``.
        """
        ...

    def submit_many(
        self, records: Sequence[DecisionRecord]
    ) -> Future[list[int | DuplicateDecisionError]]:
        """Queue ``records`` in order, at once; one future for all of them, resolving to each
        record's seq, or the ``DuplicateDecisionError`` naming the record kept instead.

        The future fails with ``DecisionLogUnavailableError`` if a commit fails (records
        committed before it stay; a retry gets them back as duplicates). Raises as ``submit``,
        before queueing any of them, if one body is not JSON.
        """
        ...

    def submit_batch(self, batch: DecisionBatch) -> Future[list[int | DuplicateDecisionError]]:
        """Queue the decisions of ``batch`` at once, logged as its columns (see
        ``DecisionBatch``); one future, resolving to each decision's seq or the
        ``DuplicateDecisionError`` naming the decision kept instead (whole, as ``get``
        returns it). Errors as ``submit_many``.
        """
        ...

    def append(self, record: DecisionRecord) -> int:
        """Log ``record`` and return its seq once it is durable; errors as for ``submit``."""
        ...

    def append_many(self, records: Iterable[DecisionRecord]) -> list[int]:
        """Log ``records`` in order (consecutive seqs unless a duplicate is skipped).

        Waits for all; if any failed, raises the first error. Records not named by an
        error are logged; retrying all of them is safe (they come back as duplicates).
        """
        ...

    def get(self, decision_id: str) -> StoredDecision | None:
        """The committed record with ``decision_id``, if any."""
        ...

    def find(self, kind: str, transaction_id: str) -> StoredDecision | None:
        """The committed record for ``(kind, transaction_id)``, if any (idempotency check)."""
        ...

    def read(
        self,
        since: int = 0,
        *,
        kinds: Collection[str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> Iterator[StoredDecision]:
        """Committed records with ``seq > since``, in seq order, read in chunks: only those
        of ``kinds`` (every kind if None) decided in ``[start, end)`` (tz-aware; open ends
        if None). The backend selects them, so a period of a long log is read without
        parsing the records around it. Raises ``InvalidDecisionError`` for a naive bound or
        an empty ``kinds``."""
        ...

    def verify(self) -> VerifyReport:
        """Check the whole chain; the report names the first broken record, if any."""
        ...

    def close(self) -> None:
        """Commit what is queued, then release the writer and connections."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None: ...


def open_decision_log(
    url: str, *, schema: str | None = None, read_only: bool = False
) -> DecisionLog:
    """Open the log at ``url``, creating its table if needed, and resume its chain.

    ``sqlite:///relative/file.db`` or ``sqlite:////absolute/file.db`` for a SQLite file;
    ``postgresql+psycopg://user@host:port/db`` for PostgreSQL, with ``schema`` (default
    ``public``) naming the schema to use, created if missing. Raises ``ConfigError`` for
    another URL, and ``DecisionLogUnavailableError`` if the database cannot be opened.

    ``read_only`` (audits) opens an existing log only: nothing is created (no file, schema
    or table), no writer starts, and appends raise ``DecisionLogUnavailableError``; a log
    that does not exist raises ``DecisionLogUnavailableError`` naming its path or URL (the
    password hidden), rather than verifying as an empty, intact chain.

    Examples:
        >>> import tempfile
        >>> from datetime import UTC, datetime
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     with open_decision_log(f"sqlite:///{folder}/decisions.db") as log:
        ...         at = datetime(2026, 1, 1, tzinfo=UTC)
        ...         log.append(DecisionRecord("d1", "t1", "fraud", at, {"score": 0.12}))
        ...         log.verify().checked
        ...     with open_decision_log(f"sqlite:///{folder}/decisions.db", read_only=True) as log:
        ...         log.verify().checked
        1
        1
        1
    """
    if url.startswith("sqlite:///"):
        if schema is not None:
            raise ConfigError(f"schema applies to PostgreSQL only; got {schema!r} for SQLite.")
        path = url.removeprefix("sqlite:///")
        if not path or path == ":memory:" or "?" in path:
            raise ConfigError(
                f"the decision log needs a SQLite file path without options, got {url!r}."
            )
        return open_sqlite(Path(path), read_only=read_only)
    if url.startswith(("postgresql+psycopg://", "postgresql://")):
        return open_postgres(url, schema, read_only=read_only)
    raise ConfigError(
        f"unsupported decision log URL {url!r}; use sqlite:///path/to/file.db "
        "or postgresql+psycopg://user@host:port/database."
    )
