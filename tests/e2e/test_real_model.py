"""The service with a real LightGBM ``riskline.models.Model`` from the registry: scores,
reason codes for flagged attempts, and replay of the logged decision."""

from __future__ import annotations

import asyncio
from pathlib import Path

import lightgbm as lgb
import numpy as np

from riskline.decisions import open_decision_log, replay
from riskline.fraud import FRAUD_FEATURES
from riskline.models import Calibrator, Model
from riskline.registry import Registry
from riskline.serving import create_app
from tests.registry.samples import lineage
from tests.serving.conftest import SCORER, attempt, serve, settings_for


def small_model() -> Model:
    """20 trees; fraud when the amount is high (deterministic, seeded)."""
    names = list(FRAUD_FEATURES.names)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (4_000, len(names)))
    x[:, 0] = rng.uniform(0, 200_000, 4_000)  # value_amount_minor
    y = (x[:, 0] > 150_000).astype(int)
    params = {"objective": "binary", "num_leaves": 7, "verbose": -1, "seed": 0, "num_threads": 1}
    booster = lgb.train(params, lgb.Dataset(x, y, feature_name=names), 20)
    typical = tuple(float(v) for v in np.median(x, axis=0))
    return Model(
        booster, tuple(names), FRAUD_FEATURES.version, Calibrator("platt", (1.0, 0.0)), typical
    )


def test_real_model_scores_explains_and_replays(tmp_path: Path) -> None:
    model = small_model()
    with Registry.open(f"sqlite:///{tmp_path / 'registry.db'}", tmp_path / "artifacts") as reg:
        version = reg.register(
            "fraud",
            model.to_bytes(),
            lineage(),
            {"trees": 20},
            {"test_pr_auc": 0.9, "test_ece": 0.01},
            {"review_at": 0.3, "decline_at": 0.7},
            "alice",
        ).version
        reg.promote(version, "bob", "tests")
    app = create_app(settings_for(tmp_path), Model.from_bytes)
    ids = {}

    async def main() -> None:
        async with serve(app) as client:
            for txid, amount in (("low", 2_000), ("high", 190_000)):
                r = await client.post(
                    "/v1/fraud/score", json=attempt(txid, amount_minor=amount), headers=SCORER
                )
                assert r.status_code == 200
                ids[txid] = r.json()

    asyncio.run(main())
    low, high = ids["low"], ids["high"]
    assert (low["decision"], low["fallback"], low["reasons"]) == ("approve", None, [])
    assert high["decision"] == "decline"
    assert high["reasons"][0]["code"] == "value_amount_minor"
    assert high["reasons"][0]["source"] == "model"
    assert isinstance(high["score"], float)
    assert high["score"] >= 0.7
    with (
        open_decision_log(f"sqlite:///{tmp_path / 'decisions.db'}") as log,
        Registry.open(f"sqlite:///{tmp_path / 'registry.db'}", tmp_path / "artifacts") as reg,
    ):
        for answer in (low, high):
            result = replay(log, reg, Model.from_bytes, str(answer["decision_id"]))
            assert result.matches
            assert result.replayed_score == answer["score"]
