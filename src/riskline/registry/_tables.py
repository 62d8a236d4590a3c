"""SQLAlchemy Core tables of the registry (SQLite or PostgreSQL).

Tables carry no schema; a PostgreSQL schema is applied per engine with
``schema_translate_map``. Partial unique indexes back the "one champion, one shadow per
kind" rule in the database itself, so even a buggy writer cannot break it.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from riskline.registry._values import NAME_LENGTH


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """A timestamp stored as UTC and read back tz-aware (SQLite keeps no offset)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert an aware datetime to UTC before storing it."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} cannot be stored; use tz-aware UTC")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return the stored timestamp as a tz-aware UTC datetime."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


metadata = sa.MetaData()

kinds = sa.Table(
    "registry_kinds",
    metadata,
    sa.Column("kind", sa.String(32), primary_key=True),
    sa.Column("last_number", sa.Integer, nullable=False),
)

versions = sa.Table(
    "registry_versions",
    metadata,
    sa.Column("version", sa.String(48), primary_key=True),
    sa.Column("kind", sa.String(32), sa.ForeignKey(kinds.c.kind), nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("stage", sa.String(16), nullable=False),
    sa.Column("artifact_sha256", sa.String(64), nullable=False),
    sa.Column("data_sha256", sa.String(64), nullable=False),
    sa.Column("row_count", sa.BigInteger, nullable=False),
    sa.Column("start_at", UtcDateTime, nullable=False),
    sa.Column("end_at", UtcDateTime, nullable=False),
    sa.Column("label_rate", sa.Float, nullable=False),
    sa.Column("feature_set_version", sa.String(NAME_LENGTH), nullable=False),
    sa.Column("params", sa.JSON, nullable=False),
    sa.Column("metrics", sa.JSON, nullable=False),
    sa.Column("decision_policy", sa.JSON, nullable=False),
    sa.Column("trained_by", sa.String(NAME_LENGTH), nullable=False),
    sa.Column("trained_at", UtcDateTime, nullable=False),
    sa.Column("approved_by", sa.String(NAME_LENGTH)),
    sa.Column("approved_at", UtcDateTime),
    sa.UniqueConstraint("kind", "number", name="uq_registry_versions_kind_number"),
    sa.CheckConstraint(
        "stage IN ('candidate', 'shadow', 'champion', 'retired')",
        name="ck_registry_versions_stage",
    ),
)

for _stage in ("champion", "shadow"):
    _only_stage = versions.c.stage == _stage
    sa.Index(
        f"uq_registry_versions_one_{_stage}",
        versions.c.kind,
        unique=True,
        sqlite_where=_only_stage,
        postgresql_where=_only_stage,
    )

events = sa.Table(
    "registry_events",
    metadata,
    sa.Column("seq", sa.Integer, sa.Identity(), primary_key=True),
    sa.Column("version", sa.String(48), sa.ForeignKey(versions.c.version), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("from_stage", sa.String(16)),
    sa.Column("to_stage", sa.String(16), nullable=False),
    sa.Column("actor", sa.String(NAME_LENGTH), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("override_reason", sa.Text),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Index("ix_registry_events_version", "version"),
    sa.Index("ix_registry_events_kind", "kind"),
)
