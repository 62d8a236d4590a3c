"""End to end on small generated payments: train_fraud registers a candidate; batch scoring."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from riskline.fraud import FRAUD_FEATURES, train_fraud
from riskline.models import Bands, Model, score_events
from riskline.registry import Registry
from tests.models.conftest import SMALL, mature_events


@pytest.fixture(scope="module")
def events() -> pl.DataFrame:
    return mature_events(40_000, seed=11)


def _stand_in_rules(frame: pl.DataFrame) -> np.ndarray:
    return (frame["count_5m_by_card"].fill_null(0) >= 3).cast(pl.Float64).to_numpy() * 0.9


@pytest.mark.slow
def test_train_fraud_registers_a_candidate(events: pl.DataFrame, tmp_path: Path) -> None:
    with Registry.open(f"sqlite:///{tmp_path}/r.db", tmp_path / "artifacts") as registry:
        result = train_fraud(events, registry, "alice", baseline=_stand_in_rules, booster=SMALL)
        stored = registry.get(result.version.version)
        loaded = Model.from_bytes(registry.load_artifact(stored.version), stored.version)
    assert stored.stage == "candidate"
    assert stored.trained_by == "alice"
    assert stored.metrics["test_pr_auc"] == result.evaluation.model.pr_auc_score
    assert stored.metrics["test_ece"] == result.evaluation.model.ece_loss
    assert dict(stored.decision_policy) == result.decision_policy
    assert set(result.decision_policy) == {"review_at", "decline_at"}
    assert stored.lineage.row_count == events.height
    assert stored.lineage.feature_set_version == FRAUD_FEATURES.version
    assert stored.lineage.end_at < result.split.test_start
    assert loaded.to_bytes() == result.artifact
    assert result.evaluation.model.pr_auc_score > result.evaluation.baselines[0].pr_auc_score
    assert (
        result.evaluation.cost_per_1000["bands"] <= result.evaluation.cost_per_1000["threshold_05"]
    )


@pytest.mark.slow
def test_score_events_writes_score_decision_and_reasons(
    events: pl.DataFrame, tmp_path: Path
) -> None:
    with Registry.open(f"sqlite:///{tmp_path}/r.db", tmp_path / "artifacts") as registry:
        result = train_fraud(events, registry, "alice", booster=SMALL)
    sample = events.tail(3_000)
    bands = Bands(**result.decision_policy)
    out = score_events(result.model, FRAUD_FEATURES, sample, bands)
    assert out.columns == ["transaction_id", "ts", "score", "decision", "reasons", "reason_texts"]
    assert out.height == sample.height
    assert set(out["decision"].unique()) <= {"approve", "review", "decline"}
    expected = np.asarray(["approve", "review", "decline"])[bands.actions(out["score"].to_numpy())]
    assert out["decision"].to_list() == expected.tolist()
    top = out.sort("score", descending=True).row(0, named=True)
    assert 1 <= len(top["reasons"]) <= 3
    assert len(top["reason_texts"]) == len(top["reasons"])
