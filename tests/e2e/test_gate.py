"""The production composition (``riskline serve``): scoring takes the outermost gate, past
the framework's middleware, and is guarded exactly like every other route."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.e2e.process import ServerProcess, free_port
from tests.serving.conftest import ADMIN, ANALYST, SCORER, attempt


def test_the_served_app_guards_and_answers_every_route(home: Path) -> None:
    server = ServerProcess(home, free_port())
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            url = "/v1/fraud/score"
            assert http.post(url, json=attempt()).status_code == 401
            assert http.post(url, json=attempt(), headers=ANALYST).status_code == 403
            too_big = {**attempt(), "merchant_id": "m" * 3_000_000}
            assert http.post(url, json=too_big, headers=SCORER).status_code == 413
            bad = http.post(url, json={**attempt(), "amount_minor": "ten"}, headers=SCORER)
            assert bad.status_code == 422
            assert "amount_minor" in bad.text
            scored = http.post(url, json=attempt(), headers=SCORER)
            assert scored.status_code == 200, scored.text
            decision_id = scored.json()["decision_id"]
            logged = http.get(f"/v1/decisions/{decision_id}", headers=ANALYST)
            assert logged.status_code == 200
            assert http.get(f"/v1/decisions/{decision_id}").status_code == 401
            assert http.get("/metrics", headers=ADMIN).status_code == 200
            assert http.get("/openapi.json").json()["paths"][url]["post"]
    finally:
        server.stop()
