"""The model registry: versions, stages and their audit trail in SQL, artefacts as files.

Safe for several processes: every change runs in one transaction that first locks its
kind's row (a row lock on PostgreSQL, the database write lock on SQLite in WAL mode), so two
promotions of one kind never interleave and readers see either all of a change or none.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Self

import sqlalchemy as sa

from riskline.errors import ConfigError, InvalidRegistrationError, PromotionError
from riskline.registry import _artifacts
from riskline.registry import _queries as q
from riskline.registry._database import build_engine, create_tables
from riskline.registry._gate import PromotionGate
from riskline.registry._rows import to_version
from riskline.registry._tables import events, versions
from riskline.registry._transitions import (
    check_four_eyes,
    check_move,
    check_name,
    check_text,
    previous_champion,
)
from riskline.registry._values import (
    NAME_LENGTH,
    AuditEvent,
    Lineage,
    ModelVersion,
    ParamValue,
    check_kind,
    check_metrics,
    check_params,
    check_policy,
)

_DEFAULT_GATE = PromotionGate()


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Registry:
    """Model versions with lineage, stages, gated four-eyes promotion and an audit trail.

    ``url`` is a SQLAlchemy URL: ``sqlite:///path/registry.db`` or
    ``postgresql+psycopg://user@host/db``; ``schema`` (PostgreSQL only) holds the tables.
    Construction does no I/O; use ``Registry.open`` to create missing tables, and ``close``
    (or ``with``) to release connections.
    """

    def __init__(
        self,
        url: str,
        artifacts_dir: Path,
        gate: PromotionGate = _DEFAULT_GATE,
        *,
        schema: str | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._engine = build_engine(url, schema)
        self._artifacts_dir = artifacts_dir
        self._gate = gate
        self._clock = clock

    @classmethod
    def open(
        cls,
        url: str,
        artifacts_dir: Path,
        gate: PromotionGate = _DEFAULT_GATE,
        *,
        schema: str | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> Self:
        """Build a registry and create its schema, tables and artefact folder if missing.

        Raises RegistryUnavailableError, in one line naming the URL (password hidden) and the
        driver's reason, when the database cannot be reached or opened.
        """
        registry = cls(url, artifacts_dir, gate, schema=schema, clock=clock)
        try:
            artifacts_dir.mkdir(parents=True, exist_ok=True)
            create_tables(registry._engine, schema)
        except BaseException:
            registry.close()
            raise
        return registry

    def close(self) -> None:
        """Release every pooled database connection."""
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def register(
        self,
        kind: str,
        artifact: bytes,
        lineage: Lineage,
        params: Mapping[str, ParamValue],
        metrics: Mapping[str, float],
        decision_policy: Mapping[str, float],
        trained_by: str,
    ) -> ModelVersion:
        """Store a new candidate version ``<kind>-v<n>`` and its artefact bytes.

        ``trained_at`` is the registration time read from the registry clock (UTC).

        Raises InvalidRegistrationError for a bad kind, empty artefact, non-finite metric,
        missing ``test_ece``/``test_pr_auc``, empty decision policy or blank ``trained_by``.
        """
        kind = check_kind(kind)
        if not trained_by.strip():
            raise InvalidRegistrationError(f"trained_by must name a person, got {trained_by!r}.")
        trained_by = trained_by.strip()
        if len(trained_by) > NAME_LENGTH:
            raise InvalidRegistrationError(
                f"trained_by must be at most {NAME_LENGTH} characters, got {len(trained_by)}."
            )
        values = {
            "params": check_params(params),
            "metrics": check_metrics(metrics),
            "decision_policy": check_policy(decision_policy),
        }
        if not artifact:
            raise InvalidRegistrationError("artifact must be non-empty bytes, got b''.")
        sha256 = _artifacts.write(self._artifacts_dir, artifact)
        at = self._now()
        with self._engine.begin() as conn:
            number = q.next_number(conn, kind)
            version = f"{kind}-v{number}"
            conn.execute(
                sa.insert(versions).values(
                    version=version,
                    kind=kind,
                    number=number,
                    stage="candidate",
                    artifact_sha256=sha256,
                    data_sha256=lineage.data_sha256,
                    row_count=lineage.row_count,
                    start_at=lineage.start_at,
                    end_at=lineage.end_at,
                    label_rate=lineage.label_rate,
                    feature_set_version=lineage.feature_set_version,
                    trained_by=trained_by,
                    trained_at=at,
                    **values,
                )
            )
            q.append(conn, version, kind, None, "candidate", trained_by, "registered", None, at)
            return q.fetch(conn, version)

    def get(self, version: str) -> ModelVersion:
        """Return one version; raises UnknownVersionError listing the known versions."""
        with self._engine.connect() as conn:
            return q.fetch(conn, version)

    def list(self, kind: str | None = None) -> builtins.list[ModelVersion]:
        """Return all versions (of one kind if given), ordered by kind then number."""
        query = sa.select(versions).order_by(versions.c.kind, versions.c.number)
        if kind is not None:
            query = query.where(versions.c.kind == kind)
        with self._engine.connect() as conn:
            return [to_version(row) for row in conn.execute(query).mappings()]

    def load_artifact(self, version: str) -> bytes:
        """Return a version's artefact bytes; raises ArtifactIntegrityError if they changed."""
        return _artifacts.read(self._artifacts_dir, version, self.get(version).artifact_sha256)

    def champion(self, kind: str) -> ModelVersion | None:
        """Return the champion of ``kind``, or None when it has none."""
        with self._engine.connect() as conn:
            return q.find_in_stage(conn, kind, "champion")

    def shadow(self, kind: str) -> ModelVersion | None:
        """Return the shadow of ``kind``, or None when it has none."""
        with self._engine.connect() as conn:
            return q.find_in_stage(conn, kind, "shadow")

    def history(self, version: str | None = None) -> builtins.list[AuditEvent]:
        """Return audit events (all, or one version's) in the order they happened."""
        with self._engine.connect() as conn:
            if version is not None:
                q.fetch(conn, version)
            return q.read_events(conn, events.c.version == version if version else None)

    def stage_shadow(self, version: str, actor: str, reason: str) -> ModelVersion:
        """Make a candidate the shadow; the previous shadow goes back to candidate."""
        actor, reason = check_name("actor", actor), check_text("reason", reason)
        with self._locked(version) as (conn, current):
            check_move(current, "shadow")
            at = self._now()
            old = q.find_in_stage(conn, current.kind, "shadow")
            if old is not None:
                note = f"shadow replaced by {version!r}: {reason}"
                q.move(conn, old, "candidate", actor, note, None, at)
            q.move(conn, current, "shadow", actor, reason, None, at)
            return q.fetch(conn, version)

    def promote(
        self, version: str, approver: str, reason: str, override_reason: str | None = None
    ) -> ModelVersion:
        """Make a candidate or shadow the champion; the previous champion is retired.

        Raises PromotionError when the approver trained the version (four eyes), or when
        the gate fails and no non-empty ``override_reason`` is given. A given override
        reason is recorded on the champion event even when the gate passes.
        """
        approver, reason = check_name("approver", approver), check_text("reason", reason)
        if override_reason is not None:
            override_reason = check_text("override_reason", override_reason)
        with self._locked(version) as (conn, current):
            check_move(current, "champion")
            check_four_eyes(current, approver)
            old = q.find_in_stage(conn, current.kind, "champion")
            problems = self._gate.violations(current.metrics, old)
            if problems and override_reason is None:
                raise PromotionError(
                    f"Cannot promote {version!r}: {'; '.join(problems)}. Fix the model or pass "
                    f"a non-empty override_reason, which is recorded in the audit trail."
                )
            at = self._now()
            if old is not None:
                note = f"replaced as champion by {version!r}: {reason}"
                q.move(conn, old, "retired", approver, note, None, at)
            q.move(conn, current, "champion", approver, reason, override_reason, at)
            conn.execute(
                sa.update(versions)
                .where(versions.c.version == version)
                .values(approved_by=approver, approved_at=at)
            )
            return q.fetch(conn, version)

    def retire(self, version: str, actor: str, reason: str) -> ModelVersion:
        """Retire a candidate or shadow (a champion is replaced by promotion or rollback)."""
        actor, reason = check_name("actor", actor), check_text("reason", reason)
        with self._locked(version) as (conn, current):
            check_move(current, "retired")
            q.move(conn, current, "retired", actor, reason, None, self._now())
            return q.fetch(conn, version)

    def rollback(self, kind: str, actor: str, reason: str) -> ModelVersion:
        """Retire the champion of ``kind`` and restore the champion it replaced; return it.

        Repeated rollbacks walk further back. Neither four eyes nor the gate apply: rollback
        is the emergency exit, and both events record actor and reason.
        """
        actor, reason = check_name("actor", actor), check_text("reason", reason)
        with self._engine.begin() as conn:
            q.lock_kind(conn, kind)
            current = q.find_in_stage(conn, kind, "champion")
            if current is None:
                raise PromotionError(f"Cannot roll back {kind!r}: it has no champion.")
            target = previous_champion(q.read_events(conn, events.c.kind == kind))
            if target is None:
                raise PromotionError(
                    f"Cannot roll back {kind!r}: champion {current.version!r} replaced no "
                    f"earlier champion."
                )
            at = self._now()
            q.move(conn, current, "retired", actor, reason, None, at)
            q.move(conn, q.fetch(conn, target), "champion", actor, reason, None, at)
            return q.fetch(conn, target)

    def _now(self) -> datetime:
        at = self._clock()
        if at.tzinfo is None:
            raise ConfigError(f"the registry clock must return tz-aware datetimes, got {at!r}.")
        return at.astimezone(UTC)

    @contextmanager
    def _locked(self, version: str) -> Iterator[tuple[sa.Connection, ModelVersion]]:
        with self._engine.begin() as conn:
            kind = q.fetch(conn, version).kind
            q.lock_kind(conn, kind)
            yield conn, q.fetch(conn, version)
