"""Settings read once by entrypoints from an injected mapping (normally ``os.environ``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from riskline.errors import ConfigError

__all__ = ["Settings"]


_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
# The decision log's own rule for a schema name (quoted as given, so case counts); "pg_" is
# reserved by PostgreSQL for its system schemas.
_PG_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


@dataclass(frozen=True, slots=True)
class Settings:
    """Where riskline keeps its state, by URL or path.

    ``home`` holds the embedded defaults: the registry and decision log SQLite files,
    model artefacts and the embedded online store. With ``redis_url``, the online store is
    Redis instead, its keys under ``redis_prefix`` (one prefix per deployment).
    ``decision_log_schema`` is the PostgreSQL schema of the decision log (None: ``public``).
    """

    home: Path
    registry_url: str
    decision_log_url: str
    decision_log_schema: str | None = None
    redis_url: str | None = None
    redis_prefix: str = "riskline"
    mlflow_uri: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        home = Path(env.get("RISKLINE_HOME", ".riskline"))
        if not str(home).strip():
            raise ConfigError("RISKLINE_HOME is empty; point it at a writable folder.")
        registry_url = env.get("RISKLINE_REGISTRY_URL", f"sqlite:///{home / 'registry.db'}")
        log_url = env.get("RISKLINE_DECISION_LOG_URL", f"sqlite:///{home / 'decisions.db'}")
        for name, url in (
            ("RISKLINE_REGISTRY_URL", registry_url),
            ("RISKLINE_DECISION_LOG_URL", log_url),
        ):
            if not url.startswith(("sqlite:///", "postgresql")):
                raise ConfigError(f"{name} must be a sqlite:/// or postgresql:// URL, got {url!r}.")
        log_schema = _log_schema(env.get("RISKLINE_DECISION_LOG_SCHEMA") or None, log_url)
        redis_url = env.get("RISKLINE_REDIS_URL") or None
        if redis_url is not None and not redis_url.startswith(_REDIS_SCHEMES):
            raise ConfigError(
                f"RISKLINE_REDIS_URL must be a redis://, rediss:// or unix:// URL, got "
                f"{redis_url!r}."
            )
        prefix = env.get("RISKLINE_REDIS_PREFIX", "riskline")
        if not prefix or ":" in prefix or "*" in prefix:
            raise ConfigError(
                f"RISKLINE_REDIS_PREFIX must be a non-empty key prefix without ':' or '*', "
                f"got {prefix!r}."
            )
        return cls(
            home=home,
            registry_url=registry_url,
            decision_log_url=log_url,
            decision_log_schema=log_schema,
            redis_url=redis_url,
            redis_prefix=prefix,
            mlflow_uri=env.get("RISKLINE_MLFLOW_URI") or None,
        )


def _log_schema(schema: str | None, log_url: str) -> str | None:
    """``RISKLINE_DECISION_LOG_SCHEMA``: a PostgreSQL schema name, for a PostgreSQL log only
    (a SQLite file has no schemas; ignoring the setting would hide a mistyped URL)."""
    if schema is None:
        return None
    if not log_url.startswith("postgresql"):
        raise ConfigError(
            f"RISKLINE_DECISION_LOG_SCHEMA applies to a PostgreSQL decision log only, got "
            f"{schema!r} with RISKLINE_DECISION_LOG_URL {log_url!r}; unset it, or set a "
            "postgresql:// URL."
        )
    if not _PG_IDENTIFIER.fullmatch(schema) or schema.startswith("pg_"):
        raise ConfigError(
            "RISKLINE_DECISION_LOG_SCHEMA must be a plain PostgreSQL identifier (a letter or _, "
            "then letters, digits or _; at most 63; not starting with pg_), got "
            f"{schema!r}."
        )
    return schema
