"""Redis for the online-store tests: the local server at 127.0.0.1:6379, one key prefix per test.

Outside CI an unreachable server skips those tests; with ``CI`` set it fails them.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator

import pytest
import redis

from riskline.features import RedisStore

REDIS_URL = os.environ.get("RISKLINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="session")
def redis_url() -> str:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"Redis at {REDIS_URL} must be reachable in CI: {exc}")
        pytest.skip(f"Redis at {REDIS_URL} is unreachable ({exc}); CI=1 makes this fail")
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture
def redis_stores(redis_url: str) -> Iterator[Callable[[], RedisStore]]:
    """Opens fresh stores, each under its own key prefix; every key is deleted afterwards."""
    opened: list[RedisStore] = []

    def make() -> RedisStore:
        store = RedisStore(redis_url, prefix=f"rl-test-{secrets.token_hex(6)}").open()
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.clear()
        store.close()
