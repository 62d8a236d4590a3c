"""The promotion gate: absolute bounds and "no worse than the champion"."""

from __future__ import annotations

import re

import pytest

from riskline.errors import ConfigError
from riskline.registry import ModelVersion, PromotionGate
from tests.registry.samples import START_AT, lineage


def champion(pr_auc: float, ece: float) -> ModelVersion:
    """A champion with the given test metrics."""
    return ModelVersion(
        version="fraud-v7",
        kind="fraud",
        number=7,
        stage="champion",
        artifact_sha256="cd" * 32,
        lineage=lineage(),
        params={},
        metrics={"test_pr_auc": pr_auc, "test_ece": ece},
        decision_policy={"review_at": 0.1},
        trained_by="alice",
        trained_at=START_AT,
    )


def test_a_model_within_bounds_and_no_worse_passes() -> None:
    gate = PromotionGate(max_ece=0.02, min_pr_auc=0.3)
    assert gate.violations({"test_ece": 0.02, "test_pr_auc": 0.3}, None) == []
    assert gate.violations({"test_ece": 0.01, "test_pr_auc": 0.6}, champion(0.6, 0.01)) == []


def test_every_broken_bound_is_named_with_value_and_bound() -> None:
    gate = PromotionGate(max_ece=0.02, min_pr_auc=0.3)
    assert gate.violations({"test_ece": 0.05, "test_pr_auc": 0.2}, champion(0.4, 0.01)) == [
        "test_ece=0.05 is above the bound max_ece=0.02",
        "test_pr_auc=0.2 is below the bound min_pr_auc=0.3",
        "test_pr_auc=0.2 is below the champion 'fraud-v7' bound test_pr_auc=0.4",
        "test_ece=0.05 is above the champion 'fraud-v7' bound test_ece=0.01",
    ]


@pytest.mark.parametrize(("max_ece", "min_pr_auc"), [(-0.1, 0.0), (0.02, 1.5), (float("nan"), 0)])
def test_gate_bounds_must_be_probabilities(max_ece: float, min_pr_auc: float) -> None:
    with pytest.raises(ConfigError, match=re.escape("must be in [0, 1]")):
        PromotionGate(max_ece=max_ece, min_pr_auc=min_pr_auc)
