"""A reload loads the new champion beside the one serving: requests keep being scored, by
the old champion, until the new one is ready."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

from riskline.serving import create_app
from tests.serving.conftest import ADMIN, SCORER, attempt, register, serve, settings_for
from tests.serving.fakes import VELOCITY, LinearModel

V2 = LinearModel("fraud-lin-2", {**VELOCITY, "value_amount_minor": 0.0002})
LOAD_S = 0.6


def test_requests_are_scored_while_a_reload_loads_the_new_champion(home: Path) -> None:
    loads: list[str] = []
    loading = threading.Event()

    def slow_loader(data: bytes) -> LinearModel:
        """The first load (at startup) is quick; later ones take LOAD_S."""
        model = LinearModel.from_bytes(data)
        loads.append(model.version)
        if len(loads) > 1:
            loading.set()
            time.sleep(LOAD_S)
        return model

    app = create_app(settings_for(home), slow_loader)

    async def main() -> None:
        async with serve(app) as client:
            v2 = register(home, V2)
            reload = asyncio.create_task(client.post("/v1/admin/reload", headers=ADMIN))
            while not loading.is_set():
                await asyncio.sleep(0.005)
            started = time.perf_counter()
            during = await client.post("/v1/fraud/score", json=attempt("during"), headers=SCORER)
            took = time.perf_counter() - started
            assert during.status_code == 200
            assert during.json()["model_version"] == "fraud-v1"
            assert not reload.done()
            assert took < LOAD_S / 2
            assert (await reload).json() == {"champion": v2, "shadow": None}
            after = await client.post("/v1/fraud/score", json=attempt("after"), headers=SCORER)
            assert after.json()["model_version"] == v2

    asyncio.run(main())


def test_a_reload_from_a_broken_registry_is_503_and_the_champion_keeps_serving(
    home: Path,
) -> None:
    app = create_app(settings_for(home), LinearModel.from_bytes)

    async def main() -> None:
        async with serve(app) as client:
            with sqlite3.connect(home / "registry.db") as db:  # the tables go behind its back
                tables = [
                    r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                ]
                for table in tables:
                    db.execute(f'DROP TABLE "{table}"')
            reload = await client.post("/v1/admin/reload", headers=ADMIN)
            assert reload.status_code == 503
            body = reload.json()
            assert body["error"] == "registry_unavailable"
            assert "RISKLINE_REGISTRY_URL" in body["message"]
            scored = await client.post("/v1/fraud/score", json=attempt("kept"), headers=SCORER)
            assert scored.json()["model_version"] == "fraud-v1"

    asyncio.run(main())
