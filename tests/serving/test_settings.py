"""Service settings are read once from an injected mapping, with clear errors."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from riskline.errors import ConfigError
from riskline.serving import ServeSettings, hash_key


def env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "RISKLINE_HOME": str(tmp_path),
        "RISKLINE_API_KEYS": f"checkout:scorer:{hash_key('k')}",
        **extra,
    }


def test_from_env_reads_every_knob(tmp_path: Path) -> None:
    settings = ServeSettings.from_env(
        env(
            tmp_path,
            RISKLINE_BUDGET_MS="25",
            RISKLINE_LOW_CONFIDENCE="0.08,0.12",
            RISKLINE_BATCH_MAX="500",
            RISKLINE_COMPROMISED_TERMINALS="T1, T2,",
            RISKLINE_TOKEN_KEY="secret",
            RISKLINE_SNAPSHOT_EVERY_MB="0.5",
            RISKLINE_REDIS_URL="redis://cache:6379/2",
            RISKLINE_REDIS_PREFIX="fraud-eu",
            RISKLINE_MAX_CLOCK_SKEW_S="2.5",
        )
    )
    assert settings.budget == timedelta(milliseconds=25)
    assert settings.low_confidence == (0.08, 0.12)
    assert settings.batch_max == 500
    assert settings.compromised_terminals == frozenset({"T1", "T2"})
    assert settings.token_key == b"secret"
    assert settings.snapshot_every_mb == 0.5
    assert settings.max_clock_skew == timedelta(seconds=2.5)
    assert (settings.base.redis_url, settings.base.redis_prefix) == (
        "redis://cache:6379/2",
        "fraud-eu",
    )
    assert settings.keys.check("k", "score").name == "checkout"
    assert settings.artifacts_dir == tmp_path / "artifacts"


def test_from_env_errors_say_what_to_set(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no API keys: set RISKLINE_API_KEYS_FILE"):
        ServeSettings.from_env({"RISKLINE_HOME": str(tmp_path)})
    with pytest.raises(ConfigError, match="RISKLINE_BUDGET_MS must be a number of millis"):
        ServeSettings.from_env(env(tmp_path, RISKLINE_BUDGET_MS="fast"))
    with pytest.raises(ConfigError, match=r"RISKLINE_REDIS_URL must be a redis://"):
        ServeSettings.from_env(env(tmp_path, RISKLINE_REDIS_URL="cache:6379"))
    with pytest.raises(ConfigError, match=r"RISKLINE_REDIS_PREFIX must be .* got 'a:b'"):
        ServeSettings.from_env(env(tmp_path, RISKLINE_REDIS_PREFIX="a:b"))
    for bad in ("-1", "inf", "nan"):
        with pytest.raises(ConfigError, match=r"RISKLINE_SNAPSHOT_EVERY_MB"):
            ServeSettings.from_env(env(tmp_path, RISKLINE_SNAPSHOT_EVERY_MB=bad))


ALLOWED = {
    "RISKLINE_BUDGET_MS": "a number of milliseconds above 15 (the time kept out of every "
    "budget for the decision log's commit) and at most 60000",
    "RISKLINE_BATCH_MAX": "an integer in [1, 100000]",
    "RISKLINE_LOW_CONFIDENCE": "two numbers low,high with 0 <= low < high <= 1",
    "RISKLINE_SNAPSHOT_EVERY_MB": "a number of MB in [0, 1048576] (0: snapshot at shutdown only)",
    "RISKLINE_MAX_CLOCK_SKEW_S": "a number of seconds above 0 and at most 86400",
}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        # each once a traceback (OverflowError, ValueError) or a value silently truncated
        *(("RISKLINE_BUDGET_MS", v) for v in ("nan", "inf", "1e20", "-5", "0", "10", "15")),
        *(("RISKLINE_BATCH_MAX", v) for v in ("nan", "inf", "1.9", "0", "100001")),
        *(("RISKLINE_LOW_CONFIDENCE", v) for v in ("0.2", "nan,0.5", "0.1,0.2,0.3", "0.5,0.2")),
        *(("RISKLINE_SNAPSHOT_EVERY_MB", v) for v in ("1e300", "-1", "nan")),
        *(("RISKLINE_MAX_CLOCK_SKEW_S", v) for v in ("0", "-1", "nan", "inf", "1e20", "soon")),
    ],
)
def test_numbers_must_be_finite_and_in_range(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(ConfigError) as raised:
        ServeSettings.from_env(env(tmp_path, **{name: value}))
    assert str(raised.value) == f"{name} must be {ALLOWED[name]}, got {value!r}."


def test_the_budget_may_be_just_above_the_commit_reserve(tmp_path: Path) -> None:
    settings = ServeSettings.from_env(env(tmp_path, RISKLINE_BUDGET_MS="15.5"))
    assert settings.budget == timedelta(microseconds=15_500)


PG_LOG = "postgresql+psycopg://riskline@db:5432/risk"


def test_the_decision_log_schema_is_read_for_a_postgres_log(tmp_path: Path) -> None:
    def schema(**extra: str) -> str | None:
        return ServeSettings.from_env(env(tmp_path, **extra)).base.decision_log_schema

    with_pg = {"RISKLINE_DECISION_LOG_URL": PG_LOG}
    assert schema(**with_pg, RISKLINE_DECISION_LOG_SCHEMA="Fraud_eu_2") == "Fraud_eu_2"
    assert schema(**with_pg, RISKLINE_DECISION_LOG_SCHEMA="_" + "a" * 62) == "_" + "a" * 62
    assert schema(**with_pg) is None  # the log's default: public
    assert schema(**with_pg, RISKLINE_DECISION_LOG_SCHEMA="") is None
    assert schema(RISKLINE_DECISION_LOG_SCHEMA="") is None  # SQLite: empty is unset


@pytest.mark.parametrize(
    "value", ["fraud-eu", "1fraud", "fraud eu", 'a"b', "public;drop", "é", "a" * 64, "pg_log"]
)
def test_the_decision_log_schema_must_be_a_plain_identifier(tmp_path: Path, value: str) -> None:
    extra = {"RISKLINE_DECISION_LOG_URL": PG_LOG, "RISKLINE_DECISION_LOG_SCHEMA": value}
    with pytest.raises(ConfigError) as raised:
        ServeSettings.from_env(env(tmp_path, **extra))
    assert str(raised.value) == (
        "RISKLINE_DECISION_LOG_SCHEMA must be a plain PostgreSQL identifier (a letter or _, "
        f"then letters, digits or _; at most 63; not starting with pg_), got {value!r}."
    )


def test_the_decision_log_schema_is_refused_for_a_sqlite_log(tmp_path: Path) -> None:
    # A SQLite file has no schemas: ignoring the setting would hide that the URL is not
    # the PostgreSQL log it was meant for.
    url = f"sqlite:///{tmp_path / 'decisions.db'}"
    with pytest.raises(ConfigError) as raised:
        ServeSettings.from_env(env(tmp_path, RISKLINE_DECISION_LOG_SCHEMA="fraud"))
    assert str(raised.value) == (
        "RISKLINE_DECISION_LOG_SCHEMA applies to a PostgreSQL decision log only, got 'fraud' "
        f"with RISKLINE_DECISION_LOG_URL {url!r}; unset it, or set a postgresql:// URL."
    )
