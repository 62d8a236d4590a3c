"""Rule definitions validate themselves; the version is a hash of the definition."""

from __future__ import annotations

import pytest

import riskline.rules as rules_api
from riskline.errors import InvalidRuleError, UnknownFeatureError
from riskline.rules import Membership, Rule, RuleSet, Threshold

FAST = Threshold("count_5m_by_card", ">=", 5)


def rule(code: str = "fast", severity: float = 0.9) -> Rule:
    return Rule(code, "card velocity", "decline", (FAST,), severity)


def test_rules_public_api() -> None:
    assert rules_api.__all__ == [
        "ACTIONS",
        "OPS",
        "Action",
        "Condition",
        "FieldValue",
        "Hit",
        "Membership",
        "Op",
        "Outcome",
        "Outcomes",
        "Rule",
        "RuleSet",
        "Threshold",
        "Verdict",
        "evaluate",
        "evaluate_frame",
        "evaluate_many",
        "score_frame",
    ]


def test_version_is_stable_and_changes_with_any_detail() -> None:
    base = RuleSet("fraud", (rule(),))
    assert base.version == RuleSet("fraud", (rule(),)).version
    assert base.version.startswith("fraud-")
    assert len(base.version) == len("fraud-") + 12
    assert base.version != RuleSet("fraud", (rule(severity=0.8),)).version
    other = Rule("fast", "card velocity", "decline", (Threshold("count_5m_by_card", ">=", 6),), 0.9)
    assert base.version != RuleSet("fraud", (other,)).version


def test_membership_version_ignores_member_order() -> None:
    a = Rule("t", "bad terminal", "decline", (Membership("terminal_id", frozenset("ab")),), 1)
    b = Rule("t", "bad terminal", "decline", (Membership("terminal_id", frozenset("ba")),), 1)
    assert RuleSet("x", (a,)).version == RuleSet("x", (b,)).version


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Threshold("", ">=", 1), "condition field must be a non-empty string, got ''"),
        (
            lambda: Threshold("n", "=>", 1),  # type: ignore[arg-type]
            "op must be one of <, <=, >, >=, ==, !=, got '=>'",
        ),
        (lambda: Threshold("n", ">=", float("nan")), "value must be a finite number, got nan"),
        (lambda: Threshold("n", ">=", True), "value must be a finite number, got True"),
        (lambda: Membership("t", frozenset({""})), "list members must be non-empty strings"),
        (lambda: Rule("Fast", "x", "decline", (FAST,), 0.5), "rule code must be lowercase"),
        (lambda: Rule("fast", " ", "decline", (FAST,), 0.5), "text must say why it fires"),
        (
            lambda: Rule("fast", "x", "block", (FAST,), 0.5),  # type: ignore[arg-type]
            "action must be one of review, decline, got 'block'",
        ),
        (lambda: Rule("fast", "x", "decline", (), 0.5), "rule 'fast' has no conditions"),
        (lambda: Rule("fast", "x", "decline", (FAST,), 0.0), r"severity must be in \(0, 1\]"),
        (lambda: Rule("fast", "x", "decline", (FAST,), 1.5), "got 1.5"),
        (lambda: RuleSet("fraud", (rule(), rule())), r"repeated: \['fast'\]"),
        (lambda: RuleSet("", (rule(),)), "rule set name must be"),
    ],
)
def test_bad_definitions_are_rejected_with_clear_messages(build: object, message: str) -> None:
    with pytest.raises(InvalidRuleError, match=message):
        build()  # type: ignore[operator]


def test_check_fields_names_the_unknown_field() -> None:
    rs = RuleSet("fraud", (rule(),))
    rs.check_fields({"count_5m_by_card"})
    with pytest.raises(UnknownFeatureError, match=r"unknown field\(s\) 'count_5m_by_card'"):
        rs.check_fields({"count_1h_by_card"})


def test_from_mapping_round_trips_describe() -> None:
    rs = RuleSet(
        "fraud",
        (
            rule(),
            Rule("t", "bad terminal", "review", (Membership("terminal_id", frozenset("ab")),), 1),
        ),
    )
    again = RuleSet.from_mapping(rs.describe())
    assert again == rs
    assert again.version == rs.version


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "x"}, "rule set needs a list 'rules', got None"),
        ({"name": "x", "rules": ["r"]}, "each rule must be a mapping, got 'r'"),
        (
            {"name": "x", "rules": [{"code": "a", "whn": []}]},
            r"rule 'a' has unknown key\(s\) \['whn'\]",
        ),
        (
            {"name": "x", "rules": [{"code": "a", "when": "n > 1"}]},
            "rule 'a': 'when' must be a list",
        ),
        (
            {"name": "x", "rules": [{"code": "a", "when": [{"field": "n", "gt": 1}]}]},
            r"a condition is \{field, op, value\} or \{field, in\}, got keys \['field', 'gt'\]",
        ),
        (
            {"name": "x", "rules": [{"code": "a", "when": [{"field": "t", "in": "T1"}]}]},
            "'in' of 't' must be a list, got 'T1'",
        ),
        (
            {
                "name": "x",
                "rules": [
                    {"code": "a", "text": "t", "action": "review", "when": [FAST.describe()]}
                ],
            },
            "severity must be in",
        ),
    ],
)
def test_from_mapping_rejects_bad_data(data: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidRuleError, match=message):
        RuleSet.from_mapping(data)


def test_restrict_keeps_the_rules_whose_fields_exist() -> None:
    from riskline.fraud import FRAUD_RULES

    kept, notes = FRAUD_RULES.restrict({"count_5m_by_card", "value_amount_minor"})
    assert {r.code for r in kept.rules} <= {r.code for r in FRAUD_RULES.rules}
    assert all(set(r.fields) <= {"count_5m_by_card", "value_amount_minor"} for r in kept.rules)
    assert len(kept.rules) + len(notes) == len(FRAUD_RULES.rules)
    assert all(n.startswith("left out rule ") for n in notes)
    assert kept.version != FRAUD_RULES.version
