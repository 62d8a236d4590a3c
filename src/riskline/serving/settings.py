"""Settings of the scoring service, read once by the entrypoint from an injected mapping."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Self

from riskline.config import Settings
from riskline.errors import ConfigError
from riskline.serving.auth import KeyRing


@dataclass(frozen=True, slots=True)
class ServeSettings:
    """Where state lives (``base``), who may call (``keys``), and the decision policy knobs.

    ``budget`` is the end-to-end server-time budget per request; the model gets what is left
    of it minus ``commit_reserve`` (time kept for the durable log write).
    ``low_confidence`` is a band ``[low, high)`` of scores decided by the rules instead.
    ``snapshot_every_mb``: journal growth between two snapshots of the embedded online store
    while it runs (0: only at shutdown), which bounds the replay of a restart after a kill.
    """

    base: Settings
    keys: KeyRing
    kind: str = "fraud"
    budget: timedelta = timedelta(milliseconds=50)
    commit_reserve: timedelta = timedelta(milliseconds=15)
    low_confidence: tuple[float, float] | None = None
    batch_max: int = 1_000
    max_body_bytes: int = 2_000_000
    compromised_terminals: frozenset[str] = field(default_factory=frozenset)
    token_key: bytes | None = None
    store_path: Path | None = None
    model_workers: int = 2
    snapshot_every_mb: float = 32.0

    def __post_init__(self) -> None:
        if self.commit_reserve >= self.budget:
            raise ConfigError(
                f"commit_reserve {self.commit_reserve!r} must be below budget {self.budget!r}."
            )
        band = self.low_confidence
        if band is not None and not 0.0 <= band[0] < band[1] <= 1.0:
            raise ConfigError(
                f"low_confidence band needs 0 <= low < high <= 1, got {band!r} "
                "(RISKLINE_LOW_CONFIDENCE=low,high)."
            )
        if not (math.isfinite(self.snapshot_every_mb) and self.snapshot_every_mb >= 0):
            raise ConfigError(
                f"snapshot_every_mb must be a number >= 0, got {self.snapshot_every_mb!r} "
                "(RISKLINE_SNAPSHOT_EVERY_MB)."
            )
        if not 1 <= self.batch_max <= 100_000:
            raise ConfigError(f"batch_max must be in [1, 100000], got {self.batch_max!r}.")

    @property
    def artifacts_dir(self) -> Path:
        return self.base.home / "artifacts"

    @property
    def online_store_path(self) -> Path:
        return self.store_path or self.base.home / "online" / "state.journal"

    @property
    def snapshot_every_bytes(self) -> int:
        return int(self.snapshot_every_mb * (1 << 20))

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        """``RISKLINE_API_KEYS_FILE`` (JSON) or ``RISKLINE_API_KEYS`` (name:role:sha256,...),
        ``RISKLINE_BUDGET_MS``, ``RISKLINE_LOW_CONFIDENCE`` ("0.08,0.12"),
        ``RISKLINE_BATCH_MAX``, ``RISKLINE_COMPROMISED_TERMINALS`` ("T1,T2"),
        ``RISKLINE_TOKEN_KEY`` (tokenises card numbers), ``RISKLINE_SNAPSHOT_EVERY_MB``,
        plus ``riskline.config.Settings``."""
        base = Settings.from_env(env)
        if env.get("RISKLINE_API_KEYS_FILE"):
            keys = KeyRing.from_file(Path(env["RISKLINE_API_KEYS_FILE"]))
        elif env.get("RISKLINE_API_KEYS"):
            keys = KeyRing.from_spec(env["RISKLINE_API_KEYS"])
        else:
            raise ConfigError(
                "no API keys: set RISKLINE_API_KEYS_FILE (JSON) or RISKLINE_API_KEYS "
                "(name:role:sha256,...); hash keys with riskline.serving.hash_key."
            )
        band = None
        if env.get("RISKLINE_LOW_CONFIDENCE"):
            low, _, high = env["RISKLINE_LOW_CONFIDENCE"].partition(",")
            band = (
                _number("RISKLINE_LOW_CONFIDENCE", low),
                _number("RISKLINE_LOW_CONFIDENCE", high),
            )
        terminals = frozenset(
            t.strip() for t in env.get("RISKLINE_COMPROMISED_TERMINALS", "").split(",") if t.strip()
        )
        token = env.get("RISKLINE_TOKEN_KEY")
        return cls(
            base=base,
            keys=keys,
            budget=timedelta(
                milliseconds=_number("RISKLINE_BUDGET_MS", env.get("RISKLINE_BUDGET_MS", "50"))
            ),
            low_confidence=band,
            batch_max=int(_number("RISKLINE_BATCH_MAX", env.get("RISKLINE_BATCH_MAX", "1000"))),
            compromised_terminals=terminals,
            token_key=token.encode() if token else None,
            snapshot_every_mb=_number(
                "RISKLINE_SNAPSHOT_EVERY_MB", env.get("RISKLINE_SNAPSHOT_EVERY_MB", "32")
            ),
        )


def _number(name: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {text!r}.") from None
