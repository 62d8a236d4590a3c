"""Shared test setup: a derandomised Hypothesis profile for CI, and the servers of the
production-backend tests: Redis (127.0.0.1:6379 unless ``RISKLINE_TEST_REDIS_URL``) and the
PostgreSQL of the decision-log tests (127.0.0.1:5432, trust auth, user ``postgres``, database
``test``; each test gets its own schema ``rl_test_<hex>``, dropped with CASCADE afterwards).
Outside CI an unreachable server skips those tests; with ``CI`` set it fails them."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import psycopg
import pytest
import redis
from hypothesis import HealthCheck, settings
from psycopg import sql

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


PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PG_CONNINFO = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    try:
        conn = psycopg.connect(PG_CONNINFO, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        unavailable(f"PostgreSQL at {PG_CONNINFO} is unreachable ({exc})")
    yield conn
    conn.close()


@pytest.fixture
def pg_schema(pg_admin: psycopg.Connection[tuple[object, ...]]) -> Iterator[str]:
    schema = f"rl_test_{secrets.token_hex(6)}"
    yield schema
    pg_admin.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
