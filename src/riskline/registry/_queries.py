"""SQL statements of the registry, each run on a caller's connection (inside its transaction).

Writers call ``lock_kind`` first: a no-op UPDATE of the kind's row takes a row lock on
PostgreSQL and the database write lock on SQLite, so changes to one kind are serialised and
every read after it sees the latest committed state.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from riskline.registry._rows import to_event, to_version, unknown_version
from riskline.registry._tables import events, kinds, versions
from riskline.registry._values import AuditEvent, ModelVersion, Stage


def next_number(conn: sa.Connection, kind: str) -> int:
    """Lock ``kind`` (creating it on first use) and reserve its next version number."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(
        dialect.insert(kinds)
        .values(kind=kind, last_number=0)
        .on_conflict_do_nothing(index_elements=[kinds.c.kind])
    )
    number: int = conn.execute(
        sa.update(kinds)
        .where(kinds.c.kind == kind)
        .values(last_number=kinds.c.last_number + 1)
        .returning(kinds.c.last_number)
    ).scalar_one()
    return number


def lock_kind(conn: sa.Connection, kind: str) -> None:
    """Serialise writers of ``kind`` until the transaction ends."""
    conn.execute(
        sa.update(kinds).where(kinds.c.kind == kind).values(last_number=kinds.c.last_number)
    )


def fetch(conn: sa.Connection, version: str) -> ModelVersion:
    """Return one version; raises UnknownVersionError listing the known versions."""
    query = sa.select(versions).where(versions.c.version == version)
    found = conn.execute(query).mappings().one_or_none()
    if found is None:
        known = sa.select(versions.c.version).order_by(versions.c.kind, versions.c.number)
        raise unknown_version(version, conn.execute(known).scalars().all())
    return to_version(found)


def find_in_stage(conn: sa.Connection, kind: str, stage: Stage) -> ModelVersion | None:
    """Return the version of ``kind`` in ``stage`` (champion or shadow), if any."""
    query = sa.select(versions).where(versions.c.kind == kind, versions.c.stage == stage)
    found = conn.execute(query).mappings().one_or_none()
    return None if found is None else to_version(found)


def read_events(conn: sa.Connection, where: sa.ColumnElement[bool] | None) -> list[AuditEvent]:
    """Return audit events matching ``where`` (all when None) in the order they happened."""
    query = sa.select(events).order_by(events.c.seq)
    if where is not None:
        query = query.where(where)
    return [to_event(row) for row in conn.execute(query).mappings()]


def move(
    conn: sa.Connection,
    current: ModelVersion,
    to: Stage,
    actor: str,
    reason: str,
    override_reason: str | None,
    at: datetime,
) -> None:
    """Set a version's stage and append the matching audit event."""
    changed = conn.execute(
        sa.update(versions)
        .where(versions.c.version == current.version, versions.c.stage == current.stage)
        .values(stage=to)
    )
    if changed.rowcount != 1:  # callers hold the kind lock, so this means a foreign writer
        raise RuntimeError(f"{current.version!r} left stage {current.stage} during the move")
    append(
        conn, current.version, current.kind, current.stage, to, actor, reason, override_reason, at
    )


def append(
    conn: sa.Connection,
    version: str,
    kind: str,
    from_stage: Stage | None,
    to_stage: Stage,
    actor: str,
    reason: str,
    override_reason: str | None,
    at: datetime,
) -> None:
    """Append one audit event row; rows are never updated or deleted."""
    conn.execute(
        sa.insert(events).values(
            version=version,
            kind=kind,
            from_stage=from_stage,
            to_stage=to_stage,
            actor=actor,
            reason=reason,
            override_reason=override_reason,
            at=at,
        )
    )
