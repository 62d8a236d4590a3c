"""Registry values: stages, lineage, model versions and audit events.

Every value validates itself when built, so a version that reaches the database is complete.
Times are tz-aware UTC ``datetime``; artefact and data hashes are lowercase SHA-256 hex.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from riskline.errors import InvalidRegistrationError

NAME_LENGTH = 128
"""At most this many characters in a person's name (``trained_by``, an actor, an approver)
and a feature-set version: the width of their registry columns."""

Stage = Literal["candidate", "shadow", "champion", "retired"]
ParamValue = str | int | float | bool

STAGES: tuple[Stage, ...] = ("candidate", "shadow", "champion", "retired")
REQUIRED_METRICS = ("test_ece", "test_pr_auc")

_SHA256 = re.compile(r"[0-9a-f]{64}")
_KIND = re.compile(r"[a-z][a-z0-9_]{0,31}")


@dataclass(frozen=True, slots=True)
class Lineage:
    """Where a model came from: its training-data fingerprint and feature-set version.

    ``start_at`` and ``end_at`` bound the event times of the training rows (both inclusive);
    ``label_rate`` is the share of positive labels, in [0, 1].
    """

    data_sha256: str
    row_count: int
    start_at: datetime
    end_at: datetime
    label_rate: float
    feature_set_version: str

    def __post_init__(self) -> None:
        if not _SHA256.fullmatch(self.data_sha256):
            raise InvalidRegistrationError(
                f"data_sha256 must be 64 lowercase hex characters, got {self.data_sha256!r}."
            )
        if isinstance(self.row_count, bool) or self.row_count < 0:
            raise InvalidRegistrationError(f"row_count must be >= 0, got {self.row_count!r}.")
        for name, at in (("start_at", self.start_at), ("end_at", self.end_at)):
            if at.tzinfo is None:
                raise InvalidRegistrationError(f"{name} must be timezone-aware (UTC), got {at!r}.")
        if self.start_at > self.end_at:
            raise InvalidRegistrationError(
                f"start_at must not be after end_at, got {self.start_at!r} > {self.end_at!r}."
            )
        if not 0.0 <= self.label_rate <= 1.0:
            raise InvalidRegistrationError(
                f"label_rate must be in [0, 1], got {self.label_rate!r}."
            )
        if not self.feature_set_version.strip():
            raise InvalidRegistrationError("feature_set_version must be a non-empty string.")
        if len(self.feature_set_version) > NAME_LENGTH:
            raise InvalidRegistrationError(
                f"feature_set_version must be at most {NAME_LENGTH} characters, got "
                f"{len(self.feature_set_version)}."
            )


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """One registered model version, its lineage and its current stage.

    ``approved_by`` and ``approved_at`` are set by the promotion that made it champion.
    """

    version: str
    kind: str
    number: int
    stage: Stage
    artifact_sha256: str
    lineage: Lineage
    params: Mapping[str, ParamValue]
    metrics: Mapping[str, float]
    decision_policy: Mapping[str, float]
    trained_by: str
    trained_at: datetime
    approved_by: str | None = None
    approved_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One append-only registry event: a registration (``from_stage`` None) or a transition.

    ``seq`` orders events across the whole registry; ``at`` is when it happened (UTC).
    """

    seq: int
    version: str
    kind: str
    from_stage: Stage | None
    to_stage: Stage
    actor: str
    reason: str
    override_reason: str | None
    at: datetime


def check_kind(kind: str) -> str:
    """Return ``kind`` if it is a valid model kind; raise InvalidRegistrationError otherwise."""
    if not _KIND.fullmatch(kind):
        raise InvalidRegistrationError(
            f"kind must be lowercase letters, digits or '_' starting with a letter "
            f"(at most 32 characters), e.g. 'fraud', got {kind!r}."
        )
    return kind


def check_params(params: Mapping[str, ParamValue]) -> dict[str, ParamValue]:
    """Copy training parameters after checking they are JSON scalars (finite numbers)."""
    out: dict[str, ParamValue] = {}
    for key, value in params.items():
        if not isinstance(value, str | int | float | bool) or (
            isinstance(value, float) and not math.isfinite(value)
        ):
            raise InvalidRegistrationError(
                f"parameter {key!r} must be a str, int, bool or finite float, got {value!r}."
            )
        out[key] = value
    return out


def check_numbers(name: str, values: Mapping[str, float]) -> dict[str, float]:
    """Copy a mapping of finite floats (metrics, decision policy); reject anything else."""
    out: dict[str, float] = {}
    for key, value in values.items():
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise InvalidRegistrationError(
                f"{name} value {key!r} must be a finite number, got {value!r}."
            )
        out[key] = float(value)
    return out


def check_metrics(metrics: Mapping[str, float]) -> dict[str, float]:
    """Copy metrics after checking they are finite and include the gated ones."""
    out = check_numbers("metrics", metrics)
    missing = [name for name in REQUIRED_METRICS if name not in out]
    if missing:
        raise InvalidRegistrationError(
            f"metrics are missing {', '.join(missing)}; "
            f"required for gated promotion: {', '.join(REQUIRED_METRICS)}."
        )
    return out


def check_policy(decision_policy: Mapping[str, float]) -> dict[str, float]:
    """Copy a decision policy (cost-band thresholds) after checking it is non-empty."""
    if not decision_policy:
        raise InvalidRegistrationError(
            "decision_policy must not be empty; give the thresholds versioned with the model, "
            "e.g. {'review_at': 0.1, 'decline_at': 0.6}."
        )
    return check_numbers("decision_policy", decision_policy)
