"""Redis stores for the online-store tests, one key prefix per test (the server: ``redis_url``
in ``tests/conftest.py``)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator

import pytest

from riskline.features import RedisStore


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
