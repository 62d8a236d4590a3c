"""Registry URLs and schemas: validation, PostgreSQL schema placement, SQLite WAL mode."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from riskline.errors import ConfigError, RegistryUnavailableError
from riskline.registry import Registry


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
