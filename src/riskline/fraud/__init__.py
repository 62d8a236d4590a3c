"""The fraud pack: feature set, model configuration and rules for payment fraud."""

from riskline.fraud.features import FRAUD_FEATURES, LABEL_DELAY
from riskline.fraud.model import (
    FRAUD_BOOSTER,
    FRAUD_COSTS,
    RULES_BANDS,
    BaselineScorer,
    TrainResult,
    fingerprint,
    train_fraud,
)
from riskline.fraud.rules import FRAUD_RULES, fraud_rules

__all__ = [
    "FRAUD_BOOSTER",
    "FRAUD_COSTS",
    "FRAUD_FEATURES",
    "FRAUD_RULES",
    "LABEL_DELAY",
    "RULES_BANDS",
    "BaselineScorer",
    "TrainResult",
    "fingerprint",
    "fraud_rules",
    "train_fraud",
]
