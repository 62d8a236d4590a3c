"""Registry URLs and schemas: validation, PostgreSQL schema placement, SQLite WAL mode."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from riskline.errors import ConfigError, RegistryUnavailableError
from riskline.registry import Registry
from tests.registry.samples import lineage


@pytest.mark.parametrize(
    ("url", "schema", "message"),
    [
        ("not a url", None, "registry url 'not a url' is not a database URL"),
        ("mysql://u@h/db", None, "backend must be sqlite or postgresql, got 'mysql'"),
        ("sqlite:///x.db", "rl", "needs a postgresql url, got schema 'rl' with backend 'sqlite'"),
        ("postgresql+psycopg://u@h/db", "Bad-Name", "got schema 'Bad-Name'"),
    ],
)
def test_bad_url_or_schema_is_a_config_error(
    url: str, schema: str | None, message: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=message):
        Registry(url, tmp_path, schema=schema)


def test_a_database_that_cannot_be_opened_is_a_registry_error(tmp_path: Path) -> None:
    """Not the driver's exception: callers (the CLI) turn riskline errors into one line."""
    missing = tmp_path / "missing" / "registry.db"
    with pytest.raises(
        RegistryUnavailableError,
        match=rf"^cannot open the model registry at RISKLINE_REGISTRY_URL='sqlite:///{missing}': "
        r"unable to open database file\. ",
    ):
        Registry.open(f"sqlite:///{missing}", tmp_path / "artifacts")
    with pytest.raises(RegistryUnavailableError, match=r"'postgresql\+psycopg://u:\*\*\*@"):
        Registry.open("postgresql+psycopg://u:pw@127.0.0.1:1/db", tmp_path / "artifacts")


def drop_tables(url: str, schema: str | None) -> None:
    """Take the registry's tables away behind its back (its whole schema on PostgreSQL)."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            if schema is not None:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            else:
                conn.execute(sa.text("DROP TABLE registry_events"))
                conn.execute(sa.text("DROP TABLE registry_versions"))
    finally:
        engine.dispose()


def test_a_database_failing_after_it_was_opened_is_a_registry_error(
    registry_url: tuple[str, str | None], tmp_path: Path
) -> None:
    """Once open, a query's driver error escaped as it was (a traceback on the CLI)."""
    url, schema = registry_url
    shown = re.escape(sa.make_url(url).render_as_string(hide_password=True))
    message = rf"^the model registry at RISKLINE_REGISTRY_URL='{shown}' failed: .*registry_"
    with Registry.open(url, tmp_path / "artifacts", schema=schema) as registry:
        drop_tables(url, schema)
        with pytest.raises(RegistryUnavailableError, match=message):
            registry.list()
        with pytest.raises(RegistryUnavailableError, match=message):
            registry.champion("fraud")
        with pytest.raises(RegistryUnavailableError, match=message):
            registry.register(
                "fraud",
                b"model",
                lineage(),
                {},
                {"test_ece": 0.01, "test_pr_auc": 0.5},
                {"review_at": 0.1, "decline_at": 0.6},
                "alice",
            )


def test_a_database_that_cannot_be_reached_after_opening_is_a_registry_error(
    tmp_path: Path,
) -> None:
    """Each query takes a pooled connection, opened anew after ``close``."""
    folder = tmp_path / "db"
    folder.mkdir()
    with Registry.open(f"sqlite:///{folder / 'registry.db'}", tmp_path / "artifacts") as registry:
        registry.close()  # the pool's connection goes; the next query opens the file again
        shutil.rmtree(folder)
        with pytest.raises(
            RegistryUnavailableError,
            match=r"^cannot open the model registry at RISKLINE_REGISTRY_URL='sqlite:///"
            rf"{re.escape(str(folder))}/registry\.db': unable to open database file\. ",
        ):
            registry.history()


def test_postgres_tables_live_in_their_own_schema(
    pg_url: str, pg_schema: str, tmp_path: Path
) -> None:
    Registry.open(pg_url, tmp_path, schema=pg_schema).close()
    Registry.open(pg_url, tmp_path, schema=pg_schema).close()  # idempotent
    engine = sa.create_engine(pg_url)
    try:
        with engine.connect() as conn:
            query = sa.text(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = :schema ORDER BY table_name"
            )
            tables = conn.execute(query, {"schema": pg_schema}).scalars().all()
    finally:
        engine.dispose()
    assert tables == ["registry_events", "registry_kinds", "registry_versions"]


def test_sqlite_registry_uses_wal_for_concurrent_readers(tmp_path: Path) -> None:
    db = tmp_path / "registry.db"
    Registry.open(f"sqlite:///{db}", tmp_path / "artifacts").close()
    engine = sa.create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            mode = conn.execute(sa.text("PRAGMA journal_mode")).scalar_one()
    finally:
        engine.dispose()
    assert mode == "wal"
