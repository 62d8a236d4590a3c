"""Backends for the decision-log tests: in-memory, a SQLite file, a fresh PostgreSQL schema
(``pg_schema``, from ``tests/conftest.py``: skipped outside CI when the server is absent)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from riskline.decisions import DecisionLog, InMemoryDecisionLog, open_decision_log
from tests.conftest import PG_URL

Opener = Callable[[], DecisionLog]
"""Opens the test's log; calling it again opens the same storage anew (a restart)."""


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
