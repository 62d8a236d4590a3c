"""Registry fixtures: a stepping clock, lineage, and a registry per backend (SQLite, PostgreSQL).

PostgreSQL runs at ``RISKLINE_TEST_PG_URL`` (default: local trust-auth server, database
``test``). Each test gets its own schema ``rl_test_<hex>``, dropped with CASCADE afterwards.
Outside CI an unreachable server skips the PostgreSQL tests; with ``CI`` set they fail.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from riskline.registry import PromotionGate, Registry
from tests.backends import unavailable
from tests.registry.samples import StepClock

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture(scope="session")
def pg_url() -> str:
    """The PostgreSQL URL, after checking the server answers (skip or fail otherwise)."""
    url = os.environ.get("RISKLINE_TEST_PG_URL", DEFAULT_PG_URL)
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        shown = sa.make_url(url).render_as_string(hide_password=True)
        message = f"PostgreSQL is unreachable at {shown}: {exc.orig}"
        unavailable(f"{message}; start it or set RISKLINE_TEST_PG_URL")
    finally:
        engine.dispose()
    return url


@pytest.fixture
def pg_schema(pg_url: str) -> Iterator[str]:
    """A fresh schema name for one test; the schema is dropped with CASCADE afterwards."""
    schema = f"rl_test_{secrets.token_hex(6)}"
    yield schema
    engine = sa.create_engine(pg_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def registry_url(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str | None]:
    """(url, schema) of an empty registry database on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'registry.db'}", None
    return request.getfixturevalue("pg_url"), request.getfixturevalue("pg_schema")


@pytest.fixture
def registry(registry_url: tuple[str, str | None], tmp_path: Path) -> Iterator[Registry]:
    """An opened registry with the default gate and a stepping clock; closed afterwards."""
    url, schema = registry_url
    with Registry.open(
        url, tmp_path / "artifacts", PromotionGate(), schema=schema, clock=StepClock()
    ) as opened:
        yield opened
