"""One declarative feature definition, an offline engine and an online engine that agree."""

from riskline.features.offline import compute_offline
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
)

__all__ = [
    "ACCOUNT",
    "CARD",
    "CUSTOMER",
    "CUSTOMER_DEVICE",
    "DEVICE",
    "MERCHANT",
    "TERMINAL",
    "Entity",
    "Feature",
    "FeatureSet",
    "Filter",
    "compute_offline",
]
