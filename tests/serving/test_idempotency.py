"""The same transaction sent twice concurrently yields one decision; velocity counts once."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from fastapi import FastAPI

from riskline.decisions import open_decision_log
from riskline.serving.answers import new_id, new_ids
from tests.serving.conftest import SCORER, attempt, serve


def test_concurrent_duplicates_get_one_decision_and_count_once(app: FastAPI, home: Path) -> None:
    async def main() -> None:
        async with serve(app) as client:
            same = [
                client.post("/v1/fraud/score", json=attempt("dup"), headers=SCORER)
                for _ in range(8)
            ]
            answers = [r.json() for r in await asyncio.gather(*same)]
            assert {a["decision_id"] for a in answers} == {answers[0]["decision_id"]}
            assert sorted(a["duplicate"] for a in answers) == [False] + [True] * 7
            later = await client.post(
                "/v1/fraud/score", json=attempt("next", ts="2026-03-01T12:01:00Z"), headers=SCORER
            )
            assert later.status_code == 200
            assert (
                await client.post("/v1/fraud/score", json=attempt("dup"), headers=SCORER)
            ).json()["decision_id"] == answers[0]["decision_id"]

    asyncio.run(main())
    with open_decision_log(f"sqlite:///{home / 'decisions.db'}") as log:
        records = list(log.read())
        assert [r.transaction_id for r in records] == ["dup", "next"]
        features = records[1].body["features"]
        assert isinstance(features, dict)
        # the card was seen once before "next", not eight times
        assert features["count_5m_by_card"] == 1
        assert features["count_1h_by_customer"] == 1
        assert log.verify().ok


def test_two_apps_on_one_log_answer_with_the_stored_decision(home: Path) -> None:
    """Across processes (here: two app instances) the log's uniqueness decides."""
    from riskline.serving import create_app
    from tests.serving.conftest import settings_for
    from tests.serving.fakes import LinearModel

    first = create_app(settings_for(home), LinearModel.from_bytes)
    second = create_app(
        settings_for(home, store_path=home / "other.journal"), LinearModel.from_bytes
    )

    async def main() -> None:
        async with serve(first) as a, serve(second) as b:
            ra, rb = await asyncio.gather(
                a.post("/v1/fraud/score", json=attempt("x"), headers=SCORER),
                b.post("/v1/fraud/score", json=attempt("x"), headers=SCORER),
            )
            assert ra.json()["decision_id"] == rb.json()["decision_id"]
            assert sorted([ra.json()["duplicate"], rb.json()["duplicate"]]) == [False, True]

    asyncio.run(main())


def test_decision_ids_are_unique_and_sort_by_creation_time() -> None:
    first = [new_id() for _ in range(2_000)] + new_ids(2_000)
    time.sleep(0.002)  # a later millisecond
    later, batch = new_id(), new_ids(3)
    assert len(set(first)) == len(first)
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in first + batch)
    assert later > max(first)
    assert min(batch) > max(first)
    assert new_ids(0) == []
