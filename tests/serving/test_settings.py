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
        )
    )
    assert settings.budget == timedelta(milliseconds=25)
    assert settings.low_confidence == (0.08, 0.12)
    assert settings.batch_max == 500
    assert settings.compromised_terminals == frozenset({"T1", "T2"})
    assert settings.token_key == b"secret"
    assert settings.snapshot_every_mb == 0.5
    assert (settings.base.redis_url, settings.base.redis_prefix) == (
        "redis://cache:6379/2",
        "fraud-eu",
    )
    assert settings.keys.check("k", "score").name == "checkout"
    assert settings.artifacts_dir == tmp_path / "artifacts"


def test_from_env_errors_say_what_to_set(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no API keys: set RISKLINE_API_KEYS_FILE"):
        ServeSettings.from_env({"RISKLINE_HOME": str(tmp_path)})
    with pytest.raises(ConfigError, match="RISKLINE_BUDGET_MS must be a number, got 'fast'"):
        ServeSettings.from_env(env(tmp_path, RISKLINE_BUDGET_MS="fast"))
    with pytest.raises(ConfigError, match="commit_reserve"):
        ServeSettings.from_env(env(tmp_path, RISKLINE_BUDGET_MS="10"))
    with pytest.raises(ConfigError, match=r"low_confidence band needs 0 <= low < high <= 1"):
        ServeSettings.from_env(env(tmp_path, RISKLINE_LOW_CONFIDENCE="0.5,0.2"))
    with pytest.raises(ConfigError, match=r"batch_max must be in \[1, 100000\], got 0"):
        ServeSettings.from_env(env(tmp_path, RISKLINE_BATCH_MAX="0"))
    with pytest.raises(ConfigError, match=r"RISKLINE_REDIS_URL must be a redis://"):
        ServeSettings.from_env(env(tmp_path, RISKLINE_REDIS_URL="cache:6379"))
    with pytest.raises(ConfigError, match=r"RISKLINE_REDIS_PREFIX must be .* got 'a:b'"):
        ServeSettings.from_env(env(tmp_path, RISKLINE_REDIS_PREFIX="a:b"))
    for bad in ("-1", "inf", "nan"):
        with pytest.raises(ConfigError, match=r"RISKLINE_SNAPSHOT_EVERY_MB"):
            ServeSettings.from_env(env(tmp_path, RISKLINE_SNAPSHOT_EVERY_MB=bad))
