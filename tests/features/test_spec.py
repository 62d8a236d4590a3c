"""Feature definitions: bad ones are refused when built, with a message naming the problem."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest

from riskline.errors import InvalidFeatureError
from riskline.features import (
    ACCOUNT,
    CARD,
    CUSTOMER,
    MERCHANT,
    Entity,
    Feature,
    FeatureSet,
    Filter,
)
from riskline.fraud import FRAUD_FEATURES

_H = timedelta(hours=1)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Feature("median", CARD, _H), "unknown aggregation 'median'"),  # type: ignore[arg-type]
        (lambda: Feature("count", CARD, timedelta(0)), "window must be positive"),
        (lambda: Feature("count", CARD, timedelta(days=91)), "at most 90 days"),
        (lambda: Feature("count", CARD, timedelta(milliseconds=1500)), "whole seconds"),
        (lambda: Feature("count", window=_H), "needs an entity"),
        (lambda: Feature("mean", CARD, _H), "needs a column"),
        (lambda: Feature("mean", CARD, _H, column="merchant_id"), "needs a numeric column"),
        (lambda: Feature("count", CARD, _H, column="amount_minor"), "takes no column"),
        (lambda: Filter("shoe_size", "==", "9"), "unknown column 'shoe_size'"),
        (lambda: Filter("channel", "<", "pos"), "compares with == or != only"),
        (lambda: Filter("amount_minor", ">", "100"), "needs an int value"),
        (lambda: Entity("who", ("nobody_id",)), "unknown column 'nobody_id'"),
        (
            lambda: Feature("label_rate", MERCHANT, _H, label_delay=_H),
            "needs kind='bucketed'",
        ),
        (
            lambda: Feature("count", MERCHANT, _H, kind="bucketed", bucket=timedelta(minutes=7)),
            "whole number of buckets",
        ),
        (
            lambda: Feature(
                "mean", MERCHANT, _H, column="amount_minor", kind="bucketed", bucket=_H
            ),
            "bucketed windows support count, sum and label_rate",
        ),
        (
            lambda: FeatureSet("twice", (Feature("count", CARD, _H), Feature("count", CARD, _H))),
            "must be unique",
        ),
    ],
)
def test_bad_definitions_are_rejected_with_clear_messages(
    build: Callable[[], object], message: str
) -> None:
    with pytest.raises(InvalidFeatureError, match=re.escape(message)):
        build()


def test_version_is_a_hash_of_the_definitions() -> None:
    one = FeatureSet("s", (Feature("count", CARD, _H),))
    assert one.version == FeatureSet("s", (Feature("count", CARD, _H),)).version
    assert one.version != FeatureSet("s", (Feature("count", CUSTOMER, _H),)).version
    assert one.version != FeatureSet("s", (Feature("count", CARD, 2 * _H),)).version
    assert FRAUD_FEATURES.version.startswith("fraud-")


_D = timedelta(days=3)
_HALF_S = timedelta(milliseconds=500)


@pytest.mark.parametrize(
    ("a", "b"),
    [  # each pair shared one version while bucket and label_delay were cut to whole
        # seconds and the entity's name was left out of the hash
        (Feature("count", CUSTOMER, _H), Feature("count", ACCOUNT, _H)),
        (
            Feature("count", MERCHANT, _H, kind="bucketed", bucket=timedelta(seconds=1)),
            Feature("count", MERCHANT, _H, kind="bucketed", bucket=3 * _HALF_S),
        ),
        (
            Feature("label_rate", MERCHANT, _D, kind="bucketed", bucket=_H, label_delay=_D),
            Feature(
                "label_rate", MERCHANT, _D, kind="bucketed", bucket=_H, label_delay=_D + _HALF_S
            ),
        ),
    ],
)
def test_different_definitions_have_different_versions(a: Feature, b: Feature) -> None:
    assert FeatureSet("s", (a,)).version != FeatureSet("s", (b,)).version


def test_the_fraud_feature_set_version_is_pinned() -> None:
    """Model artefacts, registry lineage and embedded-store snapshots keep this string: a
    change makes ``riskline score`` refuse the models trained before it, and the first
    restart replay the whole journal, so it must never change unnoticed."""
    assert FRAUD_FEATURES.version == "fraud-df2aec739c9e"


def test_restrict_leaves_out_what_the_columns_cannot_feed_and_says_why() -> None:
    kept, notes = FRAUD_FEATURES.restrict(
        frozenset({"transaction_id", "ts", "amount_minor", "customer_id"})
    )
    assert "count_1h_by_customer" in kept.names
    assert "count_1h_by_card" not in kept.names
    assert "left out count_1h_by_card: the events have no card_token column" in notes
    with pytest.raises(InvalidFeatureError, match="no feature of 'fraud'"):
        FRAUD_FEATURES.restrict(frozenset({"transaction_id", "ts"}))
