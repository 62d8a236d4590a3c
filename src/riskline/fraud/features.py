"""The fraud feature set shipped with riskline."""

from __future__ import annotations

from datetime import timedelta

from riskline.features import CARD, CUSTOMER, DEVICE, MERCHANT, TERMINAL, Feature, FeatureSet

_M5, _H1, _H24 = timedelta(minutes=5), timedelta(hours=1), timedelta(hours=24)
_D7, _D30, _D90 = timedelta(days=7), timedelta(days=30), timedelta(days=90)
_DAY = timedelta(days=1)
LABEL_DELAY = timedelta(days=3)
"""No chargeback is known sooner than this after the payment (used when a file has none)."""


def _velocity() -> list[Feature]:
    return [
        Feature("count", entity, window)
        for entity in (CARD, CUSTOMER, DEVICE)
        for window in (_M5, _H1, _H24)
    ]


def _amounts() -> list[Feature]:
    out = [
        Feature(agg, CUSTOMER, window, column="amount_minor")
        for window in (_D7, _D30)
        for agg in ("mean", "std", "zscore")
    ]
    out += [
        Feature("ratio", CUSTOMER, _D30, column="amount_minor"),
        Feature("max", CUSTOMER, _D30, column="amount_minor"),
        Feature("sum", CARD, _H24, column="amount_minor"),
        Feature("min", CARD, _H1, column="amount_minor"),
    ]
    return out


def _novelty() -> list[Feature]:
    return [
        Feature("time_since_last", CARD, _D30),
        Feature("time_since_last", CUSTOMER, _D30),
        Feature("new_value", CUSTOMER, _D90, column="device_id"),
        Feature("new_value", CUSTOMER, _D90, column="merchant_id"),
        Feature("new_value", CUSTOMER, _D90, column="ip_country"),
        Feature("differs", column="ip_country", other="customer_country"),
        Feature("distinct", CARD, _H24, column="merchant_id"),
        Feature("distinct", DEVICE, _H24, column="customer_id"),
    ]


def _reputation() -> list[Feature]:
    return [
        Feature(
            "label_rate", MERCHANT, _D30, kind="bucketed", bucket=_DAY, label_delay=LABEL_DELAY
        ),
        Feature(
            "label_rate", TERMINAL, _D30, kind="bucketed", bucket=_DAY, label_delay=LABEL_DELAY
        ),
        Feature("count", MERCHANT, _D30, kind="bucketed", bucket=_DAY),
        Feature("count", MERCHANT, _DAY, kind="bucketed", bucket=_DAY),
    ]


FRAUD_FEATURES = FeatureSet(
    "fraud",
    (
        Feature("value", column="amount_minor"),
        *_velocity(),
        *_amounts(),
        *_novelty(),
        *_reputation(),
    ),
)
"""35 features: velocity, amount profile and anomaly, novelty, merchant/terminal reputation."""
