"""Replay: a decision replays to the same score after the champion has been changed; the
shadow model is scored off the response path and logged beside the champion."""

from __future__ import annotations

import asyncio
from pathlib import Path

from riskline.decisions import open_decision_log, replay
from riskline.registry import Registry
from riskline.serving import create_app
from tests.serving.conftest import ADMIN, SCORER, attempt, register, serve, settings_for
from tests.serving.fakes import VELOCITY, LinearModel

V2 = LinearModel("fraud-lin-2", {**VELOCITY, "value_amount_minor": 0.0002})


def test_replay_after_champion_change_and_shadow_beside(home: Path) -> None:
    app = create_app(settings_for(home), LinearModel.from_bytes)
    ids: list[str] = []

    async def main() -> None:
        async with serve(app) as client:
            r = await client.post("/v1/fraud/score", json=attempt("before"), headers=SCORER)
            ids.append(r.json()["decision_id"])
            v2 = register(home, V2, promote=False)
            with Registry.open(f"sqlite:///{home / 'registry.db'}", home / "artifacts") as reg:
                reg.stage_shadow(v2, "alice", "try it")
            reloaded = await client.post("/v1/admin/reload", headers=ADMIN)
            assert reloaded.json() == {"champion": "fraud-v1", "shadow": v2}
            r = await client.post("/v1/fraud/score", json=attempt("shadowed"), headers=SCORER)
            ids.append(r.json()["decision_id"])
            with Registry.open(f"sqlite:///{home / 'registry.db'}", home / "artifacts") as reg:
                reg.promote(v2, "bob", "better")
            reloaded = await client.post("/v1/admin/reload", headers=ADMIN)
            assert reloaded.json() == {"champion": v2, "shadow": None}
            r = await client.post("/v1/fraud/score", json=attempt("after"), headers=SCORER)
            assert r.json()["model_version"] == v2
            ids.append(r.json()["decision_id"])

    asyncio.run(main())
    with (
        open_decision_log(f"sqlite:///{home / 'decisions.db'}") as log,
        Registry.open(f"sqlite:///{home / 'registry.db'}", home / "artifacts") as registry,
    ):
        results = [replay(log, registry, LinearModel.from_bytes, i) for i in ids]
        assert [r.model_version for r in results] == ["fraud-v1", "fraud-v1", "fraud-v2"]
        assert all(r.matches for r in results)
        shadow = log.find("fraud_shadow", "shadowed")
        assert shadow is not None
        assert shadow.body["champion_decision_id"] == ids[1]
        assert shadow.body["model_version"] == "fraud-v2"
        champion_features = log.get(ids[1]).body["features"]  # type: ignore[union-attr]
        assert isinstance(champion_features, dict)
        assert shadow.body["score"] == V2.score([champion_features])[0]
        assert log.verify().ok
