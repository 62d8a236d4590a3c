"""Engines for the registry database: URL checks, SQLite pragmas, schema and table creation."""

from __future__ import annotations

import re
from functools import partial
from typing import Any

import sqlalchemy as sa

from riskline.errors import ConfigError, RegistryUnavailableError
from riskline.registry._tables import metadata

_SCHEMA = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_DDL_LOCK_KEY = 0x726C_7265_6769  # serialises concurrent table creation on PostgreSQL


def build_engine(url: str, schema: str | None) -> sa.Engine:
    """Return an engine for a sqlite or postgresql ``url`` (no connection is opened yet).

    Raises ConfigError for an unparsable URL, another backend, or a ``schema`` that is not
    a lowercase PostgreSQL identifier or is given with a SQLite URL. The engine raises
    RegistryUnavailableError for the driver's errors (see ``_unavailable``).
    """
    try:
        engine_url = sa.make_url(url)
    except sa.exc.ArgumentError:
        raise ConfigError(
            f"registry url {url!r} is not a database URL; use e.g. "
            f"'sqlite:///registry.db' or 'postgresql+psycopg://user@host/db'."
        ) from None
    backend = engine_url.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ConfigError(f"registry url backend must be sqlite or postgresql, got {backend!r}.")
    if schema is not None and (backend != "postgresql" or not _SCHEMA.fullmatch(schema)):
        raise ConfigError(
            f"schema must be a lowercase PostgreSQL identifier and needs a postgresql url, "
            f"got schema {schema!r} with backend {backend!r}."
        )
    options = {"schema_translate_map": {None: schema}} if schema else {}
    engine = sa.create_engine(engine_url, execution_options=options)
    if backend == "sqlite":
        sa.event.listen(engine, "connect", _on_sqlite_connect)
    sa.event.listen(engine, "handle_error", partial(_unavailable, engine_url))
    return engine


def _unavailable(
    url: sa.URL, context: sa.engine.ExceptionContext
) -> RegistryUnavailableError | None:
    """The error to raise instead of a driver's: one line naming where (``url`` without its
    password) and the driver's own reason (the first line of it: psycopg adds hints).

    Every statement and connection of the engine ends here, so no caller meets a raw
    driver error: not opening the database ("cannot open"), nor a query once it is open
    (its server gone, a lock not granted, its tables dropped or changed under it). A
    constraint or a value the database refused (IntegrityError, DataError) is left as it
    is: the registry is there, and the statement or its input is wrong.
    """
    exc = context.sqlalchemy_exception
    if not isinstance(exc, sa.exc.DBAPIError) or isinstance(
        exc, sa.exc.IntegrityError | sa.exc.DataError
    ):
        return None
    reason = str(exc.orig if exc.orig is not None else exc).strip().splitlines()
    why = reason[0] if reason else type(exc.orig).__name__
    where = url.render_as_string(hide_password=True)
    if context.connection is None:  # no connection could be made
        return RegistryUnavailableError(
            f"cannot open the model registry at RISKLINE_REGISTRY_URL={where!r}: {why}. "
            "Check that its server is up (or its folder exists) and that the URL names it."
        )
    return RegistryUnavailableError(
        f"the model registry at RISKLINE_REGISTRY_URL={where!r} failed: {why}. Check that "
        "its server is up and that its tables are as riskline created them."
    )


def create_tables(engine: sa.Engine, schema: str | None) -> None:
    """Create the schema (if given) and any missing registry tables; safe to repeat."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_DDL_LOCK_KEY)))
        if schema is not None:
            conn.execute(sa.schema.CreateSchema(schema, if_not_exists=True))
        metadata.create_all(conn)


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers (the service) run while a writer (the CLI) commits.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
