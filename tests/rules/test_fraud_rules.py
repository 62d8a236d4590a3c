"""The default fraud fallback rules on the fraud feature set."""

from __future__ import annotations

from datetime import UTC, datetime

from riskline.events import PaymentAttempt
from riskline.fraud import FRAUD_FEATURES, FRAUD_RULES, fraud_rules
from riskline.rules import FieldValue, evaluate

AT = datetime(2026, 3, 1, tzinfo=UTC)


def quiet() -> dict[str, FieldValue]:
    """A genuine-looking feature vector: nothing fires."""
    values: dict[str, FieldValue] = dict.fromkeys(FRAUD_FEATURES.names, 0)
    values["value_amount_minor"] = 2_000
    values["ratio_amount_minor_30d_by_customer"] = 1.0
    return values


def attempt(terminal_id: str | None = None) -> PaymentAttempt:
    return PaymentAttempt(
        "t1", AT, 2_000, customer_id="c1", card_token="k1", terminal_id=terminal_id
    )


def test_rules_read_only_fraud_features_and_event_fields() -> None:
    assert set(FRAUD_RULES.fields) - set(FRAUD_FEATURES.names) == {"terminal_id"}


def test_quiet_payment_is_approved() -> None:
    assert evaluate(FRAUD_RULES, attempt("T1"), quiet()).action == "approve"


def test_card_testing_velocity_declines() -> None:
    x = quiet() | {"count_5m_by_card": 5}
    out = evaluate(FRAUD_RULES, attempt(), x)
    assert (out.action, [h.code for h in out.fired]) == ("decline", ["card_velocity_5m"])


def test_new_device_high_amount_reviews() -> None:
    x = quiet() | {"new_value_device_id_90d_by_customer": 1, "value_amount_minor": 50_000}
    out = evaluate(FRAUD_RULES, attempt(), x)
    assert (out.action, [h.code for h in out.fired]) == ("review", ["new_device_high_amount"])


def test_ip_mismatch_high_amount_reviews() -> None:
    x = quiet() | {"ip_country_differs_customer_country": 1, "value_amount_minor": 80_000}
    out = evaluate(FRAUD_RULES, attempt(), x)
    assert [h.code for h in out.fired] == ["ip_country_mismatch_high_amount"]


def test_compromised_terminal_list_is_configurable() -> None:
    assert evaluate(FRAUD_RULES, attempt("T7"), quiet()).action == "approve"
    listed = fraud_rules(["T7"])
    assert listed.version != FRAUD_RULES.version
    out = evaluate(listed, attempt("T7"), quiet())
    assert (out.action, out.score) == ("decline", 0.95)


def test_high_amount_is_configurable() -> None:
    x = quiet() | {"new_value_device_id_90d_by_customer": 1, "value_amount_minor": 10_000}
    assert evaluate(FRAUD_RULES, attempt(), x).action == "approve"
    assert evaluate(fraud_rules(high_amount_minor=10_000), attempt(), x).action == "review"
