"""Settings of the scoring service, read once by the entrypoint from an injected mapping."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Self

from riskline.config import Settings
from riskline.errors import ConfigError
from riskline.serving.auth import KeyRing

COMMIT_RESERVE = timedelta(milliseconds=15)
"""Time kept, out of every budget, for the durable decision-log write."""
BUDGET_MAX_MS = 60_000
BATCH_MAX = 100_000
SNAPSHOT_MAX_MB = 1 << 20  # 1 TiB of journal; 0 says "at shutdown only"
SKEW_MAX_S = 86_400


@dataclass(frozen=True, slots=True)
class ServeSettings:
    """Where state lives (``base``), who may call (``keys``), and the decision policy knobs.

    ``budget`` is the end-to-end server-time budget per request; the model gets what is left
    of it minus ``commit_reserve`` (time kept for the durable log write).
    ``low_confidence`` is a band ``[low, high)`` of scores decided by the rules instead.
    ``snapshot_every_mb``: journal growth between two snapshots of the embedded online store
    while it runs (0: only at shutdown), which bounds the replay of a restart after a kill.
    ``max_clock_skew``: how far ahead of the service's clock a request's ``ts`` (or a label's
    ``label_available_at``) may be. The online store's watermark is shared: an attempt dated
    in the future moves it there, later attempts count from it and, once more than the
    allowed lateness (5 min) behind it, not at all (one attempt dated a year ahead stopped
    velocity counting for every card for a year). The default equals that lateness, so
    on-time attempts after one at the bound are still counted.
    """

    base: Settings
    keys: KeyRing
    kind: str = "fraud"
    budget: timedelta = timedelta(milliseconds=50)
    commit_reserve: timedelta = COMMIT_RESERVE
    low_confidence: tuple[float, float] | None = None
    batch_max: int = 1_000
    max_body_bytes: int = 2_000_000
    compromised_terminals: frozenset[str] = field(default_factory=frozenset)
    token_key: bytes | None = None
    store_path: Path | None = None
    model_workers: int = 2
    snapshot_every_mb: float = 32.0
    max_clock_skew: timedelta = timedelta(minutes=5)

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
        if self.max_clock_skew <= timedelta(0):
            raise ConfigError(
                f"max_clock_skew must be positive, got {self.max_clock_skew!r} "
                "(RISKLINE_MAX_CLOCK_SKEW_S)."
            )
        if not 1 <= self.batch_max <= BATCH_MAX:
            raise ConfigError(f"batch_max must be in [1, {BATCH_MAX}], got {self.batch_max!r}.")

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
        ``RISKLINE_MAX_CLOCK_SKEW_S`` (300), plus ``riskline.config.Settings``."""
        base = Settings.from_env(env)
        keys = _keys(env)
        terminals = frozenset(
            t.strip() for t in env.get("RISKLINE_COMPROMISED_TERMINALS", "").split(",") if t.strip()
        )
        token = env.get("RISKLINE_TOKEN_KEY")
        return cls(
            base=base,
            keys=keys,
            budget=_budget(env.get("RISKLINE_BUDGET_MS", "50")),
            low_confidence=_band(env.get("RISKLINE_LOW_CONFIDENCE", "")),
            batch_max=_integer(
                "RISKLINE_BATCH_MAX", env.get("RISKLINE_BATCH_MAX", "1000"), 1, BATCH_MAX
            ),
            compromised_terminals=terminals,
            token_key=token.encode() if token else None,
            snapshot_every_mb=_number(
                "RISKLINE_SNAPSHOT_EVERY_MB",
                env.get("RISKLINE_SNAPSHOT_EVERY_MB", "32"),
                f"a number of MB in [0, {SNAPSHOT_MAX_MB}] (0: snapshot at shutdown only)",
                lambda mb: 0 <= mb <= SNAPSHOT_MAX_MB,
            ),
            max_clock_skew=timedelta(
                seconds=_number(
                    "RISKLINE_MAX_CLOCK_SKEW_S",
                    env.get("RISKLINE_MAX_CLOCK_SKEW_S", "300"),
                    f"a number of seconds above 0 and at most {SKEW_MAX_S}",
                    lambda s: 0 < s <= SKEW_MAX_S,
                )
            ),
        )


def _keys(env: Mapping[str, str]) -> KeyRing:
    """The key ring from ``RISKLINE_API_KEYS_FILE`` or ``RISKLINE_API_KEYS``; an error in it
    names the variable it came from."""
    for name, read in (
        ("RISKLINE_API_KEYS_FILE", lambda text: KeyRing.from_file(Path(text))),
        ("RISKLINE_API_KEYS", KeyRing.from_spec),
    ):
        if env.get(name):
            try:
                return read(env[name])
            except ConfigError as exc:
                raise ConfigError(f"{name}: {exc}") from None
    raise ConfigError(
        "no API keys: set RISKLINE_API_KEYS_FILE (JSON) or RISKLINE_API_KEYS "
        "(name:role:sha256,...); hash keys with riskline.serving.hash_key."
    )


def _number(name: str, text: str, allowed: str, fits: Callable[[float], bool]) -> float:
    """``text`` as a finite number that ``fits``; the error names the variable ``name``
    (``float`` alone would take "nan", "inf" and "1e400", which compare false or overflow
    the durations made of them)."""
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{name} must be {allowed}, got {text!r}.") from None
    if not (math.isfinite(value) and fits(value)):
        raise ConfigError(f"{name} must be {allowed}, got {text!r}.")
    return value


def _integer(name: str, text: str, low: int, high: int) -> int:
    """``text`` as an integer in ``[low, high]`` ("1.9" is refused, not truncated)."""
    allowed = f"an integer in [{low}, {high}]"
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"{name} must be {allowed}, got {text!r}.") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be {allowed}, got {text!r}.")
    return value


def _budget(text: str) -> timedelta:
    """``RISKLINE_BUDGET_MS``: it must leave the model time beyond the commit reserve."""
    reserve_ms = COMMIT_RESERVE / timedelta(milliseconds=1)
    allowed = (
        f"a number of milliseconds above {reserve_ms:g} (the time kept out of every budget "
        f"for the decision log's commit) and at most {BUDGET_MAX_MS}"
    )
    ms = _number("RISKLINE_BUDGET_MS", text, allowed, lambda v: 0 < v <= BUDGET_MAX_MS)
    if timedelta(milliseconds=ms) <= COMMIT_RESERVE:
        raise ConfigError(f"RISKLINE_BUDGET_MS must be {allowed}, got {text!r}.")
    return timedelta(milliseconds=ms)


def _band(text: str) -> tuple[float, float] | None:
    """``RISKLINE_LOW_CONFIDENCE`` ("low,high"), None when unset."""
    if not text:
        return None
    allowed = "two numbers low,high with 0 <= low < high <= 1"
    parts = text.split(",")
    try:
        low, high = (float(part) for part in parts)
    except ValueError:  # not a number, or not two of them
        raise ConfigError(f"RISKLINE_LOW_CONFIDENCE must be {allowed}, got {text!r}.") from None
    if not 0 <= low < high <= 1:  # false for nan too
        raise ConfigError(f"RISKLINE_LOW_CONFIDENCE must be {allowed}, got {text!r}.")
    return low, high
