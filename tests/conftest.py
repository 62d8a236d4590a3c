"""Shared test setup: a derandomised Hypothesis profile for CI, and the Redis server of the
production-backend tests (127.0.0.1:6379 unless ``RISKLINE_TEST_REDIS_URL``): outside CI an
unreachable server skips those tests; with ``CI`` set it fails them."""

from __future__ import annotations

import os

import pytest
import redis
from hypothesis import HealthCheck, settings

from tests.backends import unavailable

settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

REDIS_URL = os.environ.get("RISKLINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="session")
def redis_url() -> str:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        unavailable(f"Redis at {REDIS_URL} is unreachable ({exc})")
    finally:
        client.close()
    return REDIS_URL
