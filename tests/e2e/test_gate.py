"""The production composition (``riskline serve``): scoring takes the outermost gate, past
the framework's middleware, and is guarded exactly like every other route."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson

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


def chunked(body: object) -> Iterator[bytes]:
    """``body`` as JSON sent in 64 KiB chunks, with no Content-Length (a chunked request)."""
    data = orjson.dumps(body)
    for start in range(0, len(data), 65_536):
        yield data[start : start + 65_536]


def test_a_chunked_body_is_counted_as_it_arrives(home: Path) -> None:
    """A body without a Content-Length passed the size check of every route but scoring: a
    label of any size was read whole (t9)."""
    too_large = {
        "error": "too_large",
        "message": "body: at most 2000000 bytes per request.",
        "fields": [],
    }
    json = {"content-type": "application/json"}
    server = ServerProcess(home, free_port())
    try:
        with httpx.Client(base_url=server.url, timeout=30, headers=json) as http:
            label = {"transaction_id": "t1", "is_fraud": True, "pad": "x" * 3_000_000}
            big = http.post("/v1/fraud/labels", content=chunked(label), headers=SCORER)
            assert big.status_code == 413
            assert big.json() == too_large
            reload = http.post("/v1/admin/reload", content=chunked(label), headers=ADMIN)
            assert reload.status_code == 413
            small = {"transaction_id": "nope", "is_fraud": True}
            unknown = http.post("/v1/fraud/labels", content=chunked(small), headers=SCORER)
            assert unknown.status_code == 404  # read whole and handed on
            assert "'nope' has no logged decision" in unknown.json()["message"]
            scored = http.post("/v1/fraud/score", content=chunked(attempt()), headers=SCORER)
            assert scored.status_code == 200
            padded = {**attempt("t2"), "merchant_id": "m" * 3_000_000}
            big = http.post("/v1/fraud/score", content=chunked(padded), headers=SCORER)
            assert big.status_code == 413
    finally:
        server.stop()
