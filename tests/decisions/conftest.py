"""Backends for the decision-log tests: in-memory, a SQLite file, a fresh PostgreSQL schema.

PostgreSQL runs at 127.0.0.1:5432 (trust auth, user ``postgres``, database ``test``). Each
test gets its own schema ``rl_test_<hex>``, dropped with CASCADE afterwards. Outside CI an
unreachable server skips those tests; with ``CI`` set it fails them.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from riskline.decisions import DecisionLog, InMemoryDecisionLog, open_decision_log
from tests.backends import unavailable

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PG_CONNINFO = "postgresql://postgres@127.0.0.1:5432/test"

Opener = Callable[[], DecisionLog]
"""Opens the test's log; calling it again opens the same storage anew (a restart)."""


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


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    return tmp_path / "decisions.db"


def _opener(
    request: pytest.FixtureRequest, backend: str, path: Path
) -> tuple[Opener, list[DecisionLog]]:
    opened: list[DecisionLog] = []
    if backend == "memory":
        memory = InMemoryDecisionLog()
        opened.append(memory)
        return (lambda: memory), opened
    if backend == "sqlite":
        url, schema = f"sqlite:///{path}", None
    else:
        url, schema = PG_URL, request.getfixturevalue("pg_schema")

    def make() -> DecisionLog:
        log = open_decision_log(url, schema=schema)
        opened.append(log)
        return log

    return make, opened


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def open_log(request: pytest.FixtureRequest, sqlite_path: Path) -> Iterator[Opener]:
    make, opened = _opener(request, request.param, sqlite_path)
    yield make
    for log in opened:
        log.close()


@pytest.fixture(params=["sqlite", "postgres"])
def open_durable_log(request: pytest.FixtureRequest, sqlite_path: Path) -> Iterator[Opener]:
    make, opened = _opener(request, request.param, sqlite_path)
    yield make
    for log in opened:
        log.close()
