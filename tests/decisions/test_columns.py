"""``decide_columns`` makes, row for row, the decisions ``decide`` makes."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from riskline.decisions import Fallback, Policy, Reason, Scored, Thresholds, decide
from riskline.decisions.columns import decide_columns
from riskline.events import PaymentAttempt
from riskline.fraud import FRAUD_RULES
from riskline.rules import Outcome, Outcomes
from riskline.rules.outcome import Hit

AT = datetime(2026, 3, 1, 12, tzinfo=UTC)
EVENT = PaymentAttempt("t1", AT, 2_000, card_token="k1")
FALLBACKS: list[Fallback] = ["timeout", "model_error", "store_unavailable", "no_model"]
HITS = [
    Hit("velocity", "too many", "review", 0.5, {"count_5m_by_card": 7}),
    Hit("terminal", "compromised", "decline", 0.9, {"terminal_id": "T9"}),
    Hit("empty", "no values", "review", 0.4, {}),
]

outcomes = st.lists(st.sampled_from(HITS), max_size=2, unique_by=lambda h: h.code).map(
    lambda fired: Outcome(
        "decline"
        if any(h.action == "decline" for h in fired)
        else ("review" if fired else "approve"),
        tuple(fired),
        max((h.severity for h in fired), default=0.0),
        FRAUD_RULES.version,
    )
)
rows = st.tuples(
    outcomes,
    st.floats(0.0, 1.0),
    st.booleans(),  # explained
    st.sampled_from([None, *FALLBACKS]),  # its explanation failed
)


def _decide(outcome: Outcome, model: Scored | Fallback, policy: Policy) -> dict[str, object]:
    made = decide(
        EVENT, {}, model, "m1", FRAUD_RULES, policy,
        decision_id="d", decided_at=AT, latency_ms=1.0, outcome=outcome,
    )  # fmt: skip
    body = made.to_body()
    keys = ("action", "score", "rule_score", "reasons", "fallback", "rules_fired")
    return orjson.loads(orjson.dumps({k: body[k] for k in keys}))  # type: ignore[no-any-return]


@settings(max_examples=60, deadline=None)
@given(
    batch=st.lists(rows, min_size=1, max_size=40),
    band=st.sampled_from([None, (0.05, 0.2), (0.0, 1.0)]),
    whole=st.sampled_from([None, *FALLBACKS]),
)
def test_every_row_is_decided_as_decide_does(
    batch: list[tuple[Outcome, float, bool, Fallback | None]],
    band: tuple[float, float] | None,
    whole: Fallback | None,
) -> None:
    policy = Policy(Thresholds(0.1, 0.6), low_confidence=band)
    outs = [o for o, _, _, _ in batch]
    scores = [s for _, s, _, _ in batch]
    why = {
        i: (Reason("amount", "high amount", s, "model"),)
        for i, (_, s, x, _) in enumerate(batch)
        if x
    }
    failed = {i: f for i, (_, _, _, f) in enumerate(batch) if f is not None}
    if whole is not None:
        decided = decide_columns(Outcomes.of(outs), whole, policy)
        expected = [_decide(o, whole, policy) for o in outs]
    else:
        decided = decide_columns(Outcomes.of(outs), scores, policy, reasons=why, failed=failed)
        expected = [
            _decide(o, failed[i] if i in failed else Scored(s, why.get(i, ())), policy)
            for i, (o, s) in enumerate(zip(outs, scores, strict=True))
        ]
    columns = orjson.loads(orjson.dumps(decided.columns()))
    got = [{k: v[i] for k, v in columns.items()} for i in range(len(batch))]
    assert got == expected
