"""The fraud pack: feature set, model configuration and rules for payment fraud."""

from riskline.fraud.features import FRAUD_FEATURES, LABEL_DELAY

__all__ = ["FRAUD_FEATURES", "LABEL_DELAY"]
