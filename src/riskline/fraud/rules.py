"""Default fraud fallback rules over the fraud feature set (``FRAUD_FEATURES``).

They decide when the model is late, failing, missing or unsure: card-testing velocity, a new
device or a foreign IP with a high amount, and a (configurable) compromised-terminal list.
"""

from __future__ import annotations

from collections.abc import Iterable

from riskline.events import PAYMENT_COLUMNS
from riskline.fraud.features import FRAUD_FEATURES
from riskline.rules import Membership, Rule, RuleSet, Threshold

HIGH_AMOUNT_MINOR = 50_000
"""500.00 in the settlement currency: the default "high amount" of the fallback rules."""


def fraud_rules(
    compromised_terminals: Iterable[str] = (), *, high_amount_minor: int = HIGH_AMOUNT_MINOR
) -> RuleSet:
    """The default fraud fallback rule set; its version changes with any argument.

    Examples:
        >>> fraud_rules().version == fraud_rules().version
        True
        >>> fraud_rules(["T1"]).version == fraud_rules().version
        False
    """
    high = Threshold("value_amount_minor", ">=", high_amount_minor)
    rules = (
        Rule(
            "compromised_terminal",
            "terminal is on the compromised-terminal list",
            "decline",
            (Membership("terminal_id", frozenset(compromised_terminals)),),
            0.95,
        ),
        Rule(
            "card_velocity_5m",
            "5 or more attempts on this card in the last 5 minutes (card testing)",
            "decline",
            (Threshold("count_5m_by_card", ">=", 5),),
            0.9,
        ),
        Rule(
            "card_velocity_1h",
            "10 or more attempts on this card in the last hour",
            "review",
            (Threshold("count_1h_by_card", ">=", 10),),
            0.6,
        ),
        Rule(
            "device_many_customers",
            "device used by 3 or more customers in the last day",
            "review",
            (Threshold("distinct_customer_id_1d_by_device", ">=", 3),),
            0.6,
        ),
        Rule(
            "new_device_high_amount",
            "device never seen for this customer (90 days) and a high amount",
            "review",
            (Threshold("new_value_device_id_90d_by_customer", "==", 1), high),
            0.7,
        ),
        Rule(
            "ip_country_mismatch_high_amount",
            "IP country differs from the customer's country and a high amount",
            "review",
            (Threshold("ip_country_differs_customer_country", "==", 1), high),
            0.65,
        ),
        Rule(
            "new_device_foreign_ip_spike",
            "new device, foreign IP and 10x the customer's usual amount (account takeover)",
            "decline",
            (
                Threshold("new_value_device_id_90d_by_customer", "==", 1),
                Threshold("ip_country_differs_customer_country", "==", 1),
                Threshold("ratio_amount_minor_30d_by_customer", ">=", 10),
            ),
            0.85,
        ),
    )
    ruleset = RuleSet("fraud_rules", rules)
    ruleset.check_fields({*FRAUD_FEATURES.names, *(c.name for c in PAYMENT_COLUMNS)})
    return ruleset


FRAUD_RULES = fraud_rules()
"""The default fallback rules with an empty compromised-terminal list."""
