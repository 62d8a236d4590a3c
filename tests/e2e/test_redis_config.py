"""``RISKLINE_REDIS_URL`` puts the service's online state in Redis: two servers with their
own homes (logs, journals) count each other's attempts, because they share that state."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from riskline.features import RedisStore
from tests.e2e.process import ServerProcess, free_port
from tests.serving.conftest import ANALYST, MODEL, SCORER, attempt, register


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    name = f"rl-test-{secrets.token_hex(6)}"
    yield name
    store = RedisStore(redis_url, prefix=name).open()
    store.clear()
    store.close()


def _features(server: ServerProcess, txid: str, minute: int) -> dict[str, object]:
    """The logged features of an attempt on the one card, ``minute`` past noon."""
    with httpx.Client(base_url=server.url) as http:
        body = attempt(txid, ts=f"2026-03-01T12:{minute:02d}:00Z")
        r = http.post("/v1/fraud/score", json=body, headers=SCORER)
        assert r.status_code == 200, r.text
        assert r.json()["fallback"] is None
        logged = http.get(f"/v1/decisions/{r.json()['decision_id']}", headers=ANALYST)
        features: dict[str, object] = logged.json()["body"]["features"]
        return features


@pytest.mark.slow
def test_two_servers_share_their_online_state_through_redis(
    tmp_path: Path,
    redis_url: str,
    prefix: str,
) -> None:
    homes = [tmp_path / "a", tmp_path / "b"]
    for home in homes:
        register(home, MODEL)
    env = {"RISKLINE_REDIS_URL": redis_url, "RISKLINE_REDIS_PREFIX": prefix}
    servers = [ServerProcess(home, free_port(), env) for home in homes]
    try:
        with httpx.Client(base_url=servers[0].url) as http:
            ready = http.get("/readyz").json()
            assert ready["checks"]["store"] is True, ready
        first = _features(servers[0], "shared-1", 0)
        second = _features(servers[1], "shared-2", 1)  # the other server
        third = _features(servers[0], "shared-3", 2)
    finally:
        for server in servers:
            server.stop()
    assert [f["count_1h_by_card"] for f in (first, second, third)] == [0, 1, 2]
    assert not any((home / "online").exists() for home in homes)  # no embedded journal
    store = RedisStore(redis_url, prefix=prefix).open()
    try:
        assert store.clear() > 0  # the state was in Redis, under this prefix
    finally:
        store.close()
