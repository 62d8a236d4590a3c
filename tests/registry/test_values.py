"""Registration inputs validate themselves: lineage, kind, metrics, policy, parameters."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from riskline.errors import InvalidRegistrationError
from riskline.registry import REQUIRED_METRICS, STAGES, Lineage, Registry
from tests.registry.samples import START_AT, lineage


@pytest.fixture
def sqlite_registry(tmp_path: Path) -> Iterator[Registry]:
    """An opened SQLite registry (validation happens before any SQL)."""
    with Registry.open(f"sqlite:///{tmp_path / 'r.db'}", tmp_path / "artifacts") as opened:
        yield opened


def test_stage_and_metric_names() -> None:
    assert STAGES == ("candidate", "shadow", "champion", "retired")
    assert REQUIRED_METRICS == ("test_ece", "test_pr_auc")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda x: replace(x, data_sha256="ABC"), "must be 64 lowercase hex characters, got 'ABC'"),
        (lambda x: replace(x, row_count=-1), "row_count must be >= 0, got -1"),
        (lambda x: replace(x, start_at=datetime(2026, 1, 1)), "start_at must be timezone-aware"),  # noqa: DTZ001
        (lambda x: replace(x, end_at=START_AT - timedelta(1)), "start_at must not be after end_at"),
        (lambda x: replace(x, label_rate=1.5), re.escape("label_rate must be in [0, 1], got 1.5")),
        (lambda x: replace(x, feature_set_version=" "), "feature_set_version must be a non-empty"),
        (lambda x: replace(x, feature_set_version="v" * 129), "feature_set_version must be at"),
    ],
)  # fmt: skip
def test_lineage_rejects_bad_fields(change: Callable[[Lineage], Lineage], message: str) -> None:
    with pytest.raises(InvalidRegistrationError, match=message):
        change(lineage())


def test_lineage_values_compare_by_value() -> None:
    assert lineage(rows=5) == Lineage("ab" * 32, 5, START_AT, START_AT + timedelta(days=30),
                                      0.012, "fraud-fs-v3")  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "artifact", "metrics", "policy", "trained_by", "message"),
    [
        ("Fraud", b"m", {"test_ece": 0.0, "test_pr_auc": 0.5}, {"a": 0.1}, "al", "got 'Fraud'"),
        ("fraud", b"", {"test_ece": 0.0, "test_pr_auc": 0.5}, {"a": 0.1}, "al", "got b''"),
        ("fraud", b"m", {"test_pr_auc": 0.5}, {"a": 0.1}, "al", "metrics are missing test_ece"),
        ("fraud", b"m", {"test_ece": math.nan, "test_pr_auc": 0.5}, {"a": 0.1}, "al",
         "metrics value 'test_ece' must be a finite number, got nan"),
        ("fraud", b"m", {"test_ece": 0.0, "test_pr_auc": 0.5}, {}, "al",
         "decision_policy must not be empty"),
        ("fraud", b"m", {"test_ece": 0.0, "test_pr_auc": 0.5}, {"a": 0.1}, " ",
         "trained_by must name a person, got ' '"),
    ],
)  # fmt: skip
def test_register_rejects_bad_inputs(
    sqlite_registry: Registry,
    kind: str,
    artifact: bytes,
    metrics: dict[str, float],
    policy: dict[str, float],
    trained_by: str,
    message: str,
) -> None:
    with pytest.raises(InvalidRegistrationError, match=message):
        sqlite_registry.register(kind, artifact, lineage(), {}, metrics, policy, trained_by)
    assert sqlite_registry.list() == []


def test_register_rejects_a_non_finite_parameter(sqlite_registry: Registry) -> None:
    with pytest.raises(
        InvalidRegistrationError, match="parameter 'lr' must be a str, int, bool or finite float"
    ):
        sqlite_registry.register(
            "fraud",
            b"m",
            lineage(),
            {"lr": math.inf},
            {"test_ece": 0.0, "test_pr_auc": 0.5},
            {"review_at": 0.1},
            "alice",
        )
