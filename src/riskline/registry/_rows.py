"""Conversion of database rows into registry values."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import RowMapping

from riskline.errors import UnknownVersionError
from riskline.registry._values import STAGES, AuditEvent, Lineage, ModelVersion, Stage


def to_stage(value: str) -> Stage:
    """Return the stored stage name as a ``Stage``."""
    for stage in STAGES:
        if stage == value:
            return stage
    raise ValueError(f"unknown stage {value!r} in the registry database; expected {STAGES}")


def to_version(row: RowMapping) -> ModelVersion:
    """Build a ModelVersion from a ``registry_versions`` row."""
    return ModelVersion(
        version=row["version"],
        kind=row["kind"],
        number=row["number"],
        stage=to_stage(row["stage"]),
        artifact_sha256=row["artifact_sha256"],
        lineage=Lineage(
            data_sha256=row["data_sha256"],
            row_count=row["row_count"],
            start_at=row["start_at"],
            end_at=row["end_at"],
            label_rate=row["label_rate"],
            feature_set_version=row["feature_set_version"],
        ),
        params=dict(row["params"]),
        metrics={key: float(value) for key, value in row["metrics"].items()},
        decision_policy={key: float(value) for key, value in row["decision_policy"].items()},
        trained_by=row["trained_by"],
        trained_at=row["trained_at"],
        approved_by=row["approved_by"],
        approved_at=row["approved_at"],
    )


def to_event(row: RowMapping) -> AuditEvent:
    """Build an AuditEvent from a ``registry_events`` row."""
    from_stage = row["from_stage"]
    return AuditEvent(
        seq=row["seq"],
        version=row["version"],
        kind=row["kind"],
        from_stage=None if from_stage is None else to_stage(from_stage),
        to_stage=to_stage(row["to_stage"]),
        actor=row["actor"],
        reason=row["reason"],
        override_reason=row["override_reason"],
        at=row["at"],
    )


def unknown_version(version: str, known: Sequence[str]) -> UnknownVersionError:
    """Return the error for a missing version, listing the versions that do exist."""
    listing = f"Known versions: {', '.join(known)}." if known else "The registry is empty."
    return UnknownVersionError(f"Model version {version!r} is not in the registry. {listing}")
