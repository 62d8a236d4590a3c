"""Sample registry inputs for tests: a stepping clock, a lineage, a one-call register."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from riskline.registry import Lineage, Registry

START_AT = datetime(2026, 1, 1, tzinfo=UTC)


class StepClock:
    """A fake clock: starts at 2026-03-01 UTC and moves one second per reading."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def lineage(rows: int = 1000) -> Lineage:
    """A valid lineage for a fraud training set of ``rows`` rows."""
    return Lineage(
        data_sha256="ab" * 32,
        row_count=rows,
        start_at=START_AT,
        end_at=START_AT + timedelta(days=30),
        label_rate=0.012,
        feature_set_version="fraud-fs-v3",
    )


def register(
    registry: Registry,
    pr_auc: float = 0.5,
    ece: float = 0.01,
    artifact: bytes = b"model",
    trained_by: str = "alice",
    kind: str = "fraud",
) -> str:
    """Register a model with the given test metrics and return its version id."""
    return registry.register(
        kind,
        artifact,
        lineage(),
        {"num_leaves": 31, "learning_rate": 0.05, "objective": "binary", "balanced": True},
        {"test_pr_auc": pr_auc, "test_ece": ece},
        {"review_at": 0.1, "decline_at": 0.6},
        trained_by,
    ).version
