"""A read-only open (what audits use): it reads a log that exists, creates nothing, and
names the log that is missing instead of auditing an empty one."""

from __future__ import annotations

import re
import secrets
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from riskline.decisions import DecisionLog, open_decision_log
from riskline.errors import DecisionLogUnavailableError
from tests.conftest import PG_URL
from tests.decisions.samples import sample_record

PG_SECRET_URL = "postgresql+psycopg://postgres:s3cret@127.0.0.1:5432/test"  # trust: ignored
PG_SHOWN_URL = "postgresql+psycopg://postgres:***@127.0.0.1:5432/test"

Admin = psycopg.Connection[tuple[object, ...]]


@pytest.fixture(params=["sqlite", "postgres"])
def url_and_schema(request: pytest.FixtureRequest, sqlite_path: Path) -> tuple[str, str | None]:
    if request.param == "sqlite":
        return f"sqlite:///{sqlite_path}", None
    return PG_URL, request.getfixturevalue("pg_schema")


@pytest.fixture
def writer(url_and_schema: tuple[str, str | None]) -> Iterator[DecisionLog]:
    url, schema = url_and_schema
    with open_decision_log(url, schema=schema) as log:
        yield log


def test_a_read_only_log_reads_what_is_committed_and_refuses_appends(
    url_and_schema: tuple[str, str | None], writer: DecisionLog
) -> None:
    url, schema = url_and_schema
    writer.append_many([sample_record(n) for n in range(1, 4)])
    with open_decision_log(url, schema=schema, read_only=True) as audit:
        assert (audit.verify().ok, audit.verify().checked) == (True, 3)
        assert audit.get("d2") == writer.get("d2")
        with pytest.raises(DecisionLogUnavailableError, match="is open read-only"):
            audit.append(sample_record(4))
        with pytest.raises(DecisionLogUnavailableError, match="is open read-only"):
            audit.submit_many([sample_record(4)])
        writer.append(sample_record(5))  # an audit beside a running service sees it
        assert [s.decision_id for s in audit.read()] == ["d1", "d2", "d3", "d5"]
    assert writer.verify().checked == 4


def test_a_missing_sqlite_log_is_named_and_not_created(tmp_path: Path) -> None:
    # Regression: an audit of a deleted decisions.db (or a mistyped RISKLINE_HOME) created
    # an empty log and reported "chain intact: 0 records".
    path = tmp_path / "decisions.db"
    with pytest.raises(
        DecisionLogUnavailableError,
        match=re.escape(f"no decision log at {str(path)!r}: the file does not exist"),
    ):
        open_decision_log(f"sqlite:///{path}", read_only=True)
    assert list(tmp_path.iterdir()) == []
    sqlite3.connect(path).close()  # a file, but not a log
    with pytest.raises(DecisionLogUnavailableError, match="the file has no decisions table"):
        open_decision_log(f"sqlite:///{path}", read_only=True)
    assert [p.name for p in tmp_path.iterdir()] == ["decisions.db"]


def test_a_missing_postgres_log_is_named_without_its_password_and_not_created(
    pg_admin: Admin, pg_schema: str
) -> None:
    with pytest.raises(DecisionLogUnavailableError) as missing:
        open_decision_log(PG_SECRET_URL, schema=pg_schema, read_only=True)
    assert str(missing.value) == (
        f"no decision log in schema {pg_schema!r} at {PG_SHOWN_URL!r}: table "
        f"{pg_schema}.decisions does not exist (a read-only open never creates one)."
    )
    created = pg_admin.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (pg_schema,))
    assert created.fetchone() is None
    database = f"rl_missing_{secrets.token_hex(4)}"
    with pytest.raises(DecisionLogUnavailableError) as unreachable:
        open_decision_log(PG_SECRET_URL.replace("/test", f"/{database}"), read_only=True)
    message = str(unreachable.value)
    assert message.startswith("cannot open the decision log in schema 'public' at ")
    assert PG_SHOWN_URL.replace("/test", f"/{database}") in message
    assert f'database "{database}" does not exist' in message
    assert "s3cret" not in message
    assert "\n" not in message
