"""One declarative feature definition, an offline engine and an online engine that agree."""

from riskline.features._embedded import EmbeddedStore
from riskline.features._memory import MemoryStore
from riskline.features._redis import RedisStore
from riskline.features.check import CheckReport, check
from riskline.features.offline import backfill, compute_offline
from riskline.features.online import OnlineEngine, replay
from riskline.features.rows import FeatureRows, FeatureVector, matrix_of
from riskline.features.spec import (
    ACCOUNT,
    CARD,
    CUSTOMER,
    CUSTOMER_DEVICE,
    DEVICE,
    MERCHANT,
    TERMINAL,
    Entity,
    Feature,
    FeatureSet,
    Filter,
    duration_label,
)
from riskline.features.store import StateStore

__all__ = [
    "ACCOUNT",
    "CARD",
    "CUSTOMER",
    "CUSTOMER_DEVICE",
    "DEVICE",
    "MERCHANT",
    "TERMINAL",
    "CheckReport",
    "EmbeddedStore",
    "Entity",
    "Feature",
    "FeatureRows",
    "FeatureSet",
    "FeatureVector",
    "Filter",
    "MemoryStore",
    "OnlineEngine",
    "RedisStore",
    "StateStore",
    "backfill",
    "check",
    "compute_offline",
    "duration_label",
    "matrix_of",
    "replay",
]
