"""Evaluating rules on one event; the vectorised evaluation agrees row by row."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import hypothesis.strategies as st
import numpy as np
import polars as pl
import pytest
from hypothesis import given

from riskline.errors import UnknownFeatureError
from riskline.events import PaymentAttempt, PaymentAttempts
from riskline.features import FeatureRows, FeatureVector
from riskline.rules import (
    FieldValue,
    Membership,
    Outcome,
    Outcomes,
    Rule,
    RuleSet,
    Threshold,
    evaluate,
    evaluate_frame,
    evaluate_many,
    score_frame,
)

AT = datetime(2026, 3, 1, tzinfo=UTC)
RULES = RuleSet(
    "test",
    (
        Rule("fast", "card velocity", "decline", (Threshold("n", ">=", 5),), 0.9),
        Rule(
            "big_new",
            "new device, big amount",
            "review",
            (Threshold("new", "==", 1), Threshold("amount", ">", 100.5)),
            0.6,
        ),
        Rule(
            "bad_terminal", "listed", "decline", (Membership("terminal_id", frozenset({"T9"})),), 1
        ),
        Rule("not_one", "x", "review", (Threshold("new", "!=", 1),), 0.2),
    ),
)


def event(terminal_id: str | None = None) -> PaymentAttempt:
    return PaymentAttempt("t1", AT, 100, card_token="c1", terminal_id=terminal_id)


def test_nothing_fires_approve_with_zero_score() -> None:
    out = evaluate(RULES, event(), {"n": 1, "new": 1, "amount": 50})
    assert (out.action, out.fired, out.score) == ("approve", (), 0.0)
    assert out.rules_version == RULES.version


def test_strongest_action_and_highest_severity_win() -> None:
    out = evaluate(RULES, event("T9"), {"n": 1, "new": 1, "amount": 101})
    assert out.action == "decline"
    assert [h.code for h in out.fired] == ["big_new", "bad_terminal"]
    assert out.score == 1.0
    assert out.fired[0].values == {"new": 1, "amount": 101}
    assert out.fired[1].values == {"terminal_id": "T9"}


def test_review_only() -> None:
    out = evaluate(RULES, event(), {"n": 4, "new": 1, "amount": 1000})
    assert (out.action, out.score) == ("review", 0.6)


def test_missing_values_never_fire() -> None:
    out = evaluate(RULES, event(None), {"n": None, "new": None, "amount": None})
    assert out.fired == ()


def test_frame_requires_every_field() -> None:
    with pytest.raises(UnknownFeatureError, match=r"unknown field.*'terminal_id'"):
        score_frame(RULES, pl.DataFrame({"n": [1], "new": [0], "amount": [1.0]}))


def test_empty_ruleset_scores_zero() -> None:
    out = evaluate_frame(RuleSet("none", ()), pl.DataFrame({"n": [1, 2]}))
    assert out["rule_action"].to_list() == ["approve", "approve"]
    assert out["rule_score"].to_list() == [0.0, 0.0]


rows = st.lists(
    st.fixed_dictionaries(
        {
            "n": st.one_of(st.none(), st.integers(0, 8)),
            "new": st.one_of(st.none(), st.integers(0, 1)),
            "amount": st.one_of(st.none(), st.floats(0, 200, allow_nan=False)),
            "terminal_id": st.one_of(st.none(), st.sampled_from(["T1", "T9"])),
        }
    ),
    min_size=1,
    max_size=30,
)


@given(rows=rows)
def test_frame_equals_row_by_row(rows: list[dict[str, FieldValue]]) -> None:
    frame = pl.DataFrame(
        rows,
        schema={"n": pl.Int64, "new": pl.Int64, "amount": pl.Float64, "terminal_id": pl.String},
    )
    table = evaluate_frame(RULES, frame)
    scores = score_frame(RULES, frame)
    assert scores.dtype == np.float64
    for i, row in enumerate(rows):
        features = {k: v for k, v in row.items() if k != "terminal_id"}
        tid = row["terminal_id"]
        one = evaluate(RULES, event(tid if isinstance(tid, str) else None), features)
        assert table["rule_action"][i] == one.action
        assert math.isclose(scores[i], one.score)
        fired = {r.code for r in RULES.rules if table[f"rule_{r.code}"][i]}
        assert fired == {h.code for h in one.fired}


BIG = 2**60  # past float64's exact integers: compared value by value
batch_rows = st.lists(
    st.fixed_dictionaries(
        {
            "n": st.one_of(st.none(), st.integers(0, 8), st.sampled_from([BIG, BIG + 1])),
            "new": st.one_of(st.none(), st.integers(0, 1)),
            "amount": st.one_of(st.none(), st.floats(0, 200, allow_nan=False)),
            "terminal_id": st.one_of(st.none(), st.sampled_from(["T1", "T9"])),
        }
    ),
    min_size=1,
    max_size=30,
)
WIDE = RuleSet(  # plus a condition on an event field, a big bound and a list on a feature
    "wide",
    (
        *RULES.rules,
        Rule("big_amount", "x", "review", (Threshold("amount_minor", ">=", 100),), 0.3),
        Rule("huge_n", "x", "decline", (Threshold("n", ">", BIG),), 0.8),
        Rule("listed_n", "x", "review", (Membership("n", frozenset({"5"})),), 0.4),
    ),
)


@given(rows=batch_rows, repeat=st.sampled_from([1, 40]))
def test_a_batch_is_evaluated_exactly_as_row_by_row(
    rows: list[dict[str, FieldValue]], repeat: int
) -> None:
    rows = rows * repeat  # short batches go row by row, longer ones by columns
    events = [
        PaymentAttempt(f"t{i}", AT, 50 * i, card_token="c", terminal_id=r["terminal_id"])  # type: ignore[arg-type]
        for i, r in enumerate(rows)
    ]
    values = [{k: v for k, v in r.items() if k != "terminal_id"} for r in rows]
    vectors = [
        FeatureVector(e.transaction_id, v, 0, True)  # type: ignore[arg-type]  # numbers only
        for e, v in zip(events, values, strict=True)
    ]
    as_rows = FeatureRows.of(("amount", "n", "new"), vectors)
    expected = [evaluate(WIDE, e, v) for e, v in zip(events, values, strict=True)]
    assert _whole(evaluate_many(WIDE, events, as_rows)) == expected  # over the matrix's columns
    as_columns = PaymentAttempts.of(events)  # events as columns, as the API's batches are
    assert _whole(evaluate_many(WIDE, as_columns, as_rows)) == expected
    assert _whole(evaluate_many(WIDE, events, values)) == expected  # over plain mappings


def test_a_rule_after_the_64th_fires_in_a_batch_as_alone() -> None:
    """With 65 rules the batch used to drop every rule past the 64th (its bit shifted out of
    a 64-bit word): the decline of rule 65 came back as an approve."""
    never = [
        Rule(f"r{k}", "x", "review", (Threshold("amount_minor", ">=", 10**9 + k),), 0.1)
        for k in range(64)
    ]
    big = Rule("big", "huge amount", "decline", (Threshold("amount_minor", ">=", 500),), 0.9)
    many = RuleSet("many", (*never, big))
    events = [PaymentAttempt(f"t{i}", AT, 1_000, card_token="c") for i in range(40)]
    outcomes = _whole(evaluate_many(many, events, [{}] * 40))
    assert outcomes == [evaluate(many, e, {}) for e in events]
    assert {(o.action, o.score, tuple(h.code for h in o.fired)) for o in outcomes} == {
        ("decline", 0.9, ("big",))
    }


rule_specs = st.tuples(
    st.sampled_from(["amount_minor", "n"]),
    st.sampled_from(["<", "<=", ">", ">=", "==", "!="]),
    st.integers(0, 10),
    st.sampled_from(["review", "decline"]),
    st.integers(1, 10),
)
long_rulesets = st.one_of(  # short sets, and sets past one and two 64-bit words
    st.lists(rule_specs, max_size=8), st.lists(rule_specs, min_size=60, max_size=140)
)


@given(
    specs=long_rulesets,
    amounts=st.lists(st.integers(0, 10), min_size=40, max_size=40),
    ns=st.lists(st.one_of(st.none(), st.integers(0, 10)), min_size=40, max_size=40),
)
def test_a_batch_agrees_with_row_by_row_for_any_number_of_rules(
    specs: list[tuple[str, str, int, str, int]], amounts: list[int], ns: list[int | None]
) -> None:
    ruleset = RuleSet(
        "any",
        tuple(
            Rule(f"r{k}", "x", action, (Threshold(field, op, bound),), severity / 10)  # type: ignore[arg-type]
            for k, (field, op, bound, action, severity) in enumerate(specs)
        ),
    )
    events = [PaymentAttempt(f"t{i}", AT, a, card_token="c") for i, a in enumerate(amounts)]
    values: list[dict[str, FieldValue]] = [{"n": n} for n in ns]
    expected = [evaluate(ruleset, e, v) for e, v in zip(events, values, strict=True)]
    assert _whole(evaluate_many(ruleset, events, values)) == expected


def _whole(outcomes: Outcomes) -> list[Outcome]:
    """Each row's whole outcome, checked against the columns the batch gives at once."""
    rows = list(outcomes)
    assert outcomes.action == [o.action for o in rows]
    assert outcomes.score == [o.score for o in rows]
    assert outcomes.codes == [[h.code for h in o.fired] for o in rows]
    assert outcomes[-1] == rows[-1]
    assert outcomes[1:3] == rows[1:3]
    return rows
