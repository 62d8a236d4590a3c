"""Audit: verify the chain, replay decisions with their logged model, backtest a version."""

from __future__ import annotations

import base64
import re
import tempfile
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskline.decisions import (
    DecisionLog,
    DecisionRecord,
    Fallback,
    Policy,
    Thresholds,
    audit,
    backtest,
    decide,
    open_decision_log,
    replay,
    score_rows,
    verify,
    write_backtest_report,
)
from riskline.errors import InvalidRequestError, UnknownDecisionError
from riskline.events import PaymentAttempt
from riskline.fraud import FRAUD_COSTS, FRAUD_RULES
from riskline.registry import Registry
from tests.registry.samples import lineage
from tests.serving.fakes import VELOCITY, LinearModel

AT = datetime(2026, 3, 1, 12, tzinfo=UTC)
V1 = LinearModel("fraud-v1", VELOCITY)
V2 = LinearModel("fraud-v2", {**VELOCITY, "count_5m_by_card": 2.0})


def register(registry: Registry, model: LinearModel, trained_by: str = "alice") -> str:
    return registry.register(
        "fraud",
        model.to_bytes(),
        lineage(),
        {"trees": 1},
        {"test_pr_auc": 0.5, "test_ece": 0.01},
        {"review_at": 0.1, "decline_at": 0.6},
        trained_by,
    ).version


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    with Registry.open(f"sqlite:///{tmp_path / 'registry.db'}", tmp_path / "artifacts") as r:
        yield r


@pytest.fixture
def log(tmp_path: Path) -> Iterator[DecisionLog]:
    with open_decision_log(f"sqlite:///{tmp_path / 'decisions.db'}") as opened:
        yield opened


def log_decisions(
    log: DecisionLog,
    model: LinearModel,
    version: str,
    n: int,
    fallbacks: Mapping[int, Fallback] | None = None,
) -> list[str]:
    """Decide ``n`` attempts with ``model`` (count_5m_by_card = i % 8) and log them; attempt
    ``i`` in ``fallbacks`` is decided by the rules, for that reason."""
    ids = []
    fallbacks = fallbacks or {}
    for i in range(n):
        reason = fallbacks.get(i)
        unsure = (0.0, 1.0) if reason == "low_confidence" else None  # every score in band
        policy = Policy(Thresholds(0.1, 0.6), low_confidence=unsure)
        event = PaymentAttempt(f"t{i}", AT + timedelta(seconds=i), 1_000 + i, card_token="k")
        x: dict[str, float | int | None] = {
            "count_5m_by_card": i % 8,
            "value_amount_minor": 1_000 + i,
            "count_1h_by_customer": None,
        }
        scored = score_rows(model, [x], 0.1, 3)[0]
        d = decide(
            event,
            x,
            scored if reason in (None, "low_confidence") else reason,
            version,
            FRAUD_RULES,
            policy,
            decision_id=f"d{i}",
            decided_at=AT + timedelta(seconds=i),
            latency_ms=0.5,
        )
        log.append(d.to_record("fraud", {"amount_minor": event.amount_minor}))
        ids.append(d.decision_id)
    return ids


def test_replay_matches_after_the_champion_changed(registry: Registry, log: DecisionLog) -> None:
    v1 = register(registry, V1)
    registry.promote(v1, "bob", "first")
    ids = log_decisions(log, V1, v1, 5)
    v2 = register(registry, V2)
    registry.promote(v2, "bob", "better")
    assert registry.champion("fraud") is not None
    for decision_id in ids:
        result = replay(log, registry, LinearModel.from_bytes, decision_id)
        assert result.model_version == v1
        assert result.matches
        assert result.replayed_score == result.logged_score


def test_replay_errors_name_the_problem(registry: Registry, log: DecisionLog) -> None:
    with pytest.raises(UnknownDecisionError, match="decision 'nope' is not in the decision log"):
        replay(log, registry, LinearModel.from_bytes, "nope")
    event = PaymentAttempt("t1", AT, 10, card_token="k")
    d = decide(
        event,
        {},
        "no_model",
        None,
        FRAUD_RULES,
        Policy(Thresholds(0.1, 0.6)),
        decision_id="d1",
        decided_at=AT,
        latency_ms=0.1,
    )
    log.append(d.to_record("fraud", {}))
    with pytest.raises(InvalidRequestError, match="without a model \\(fallback 'no_model'\\)"):
        replay(log, registry, LinearModel.from_bytes, "d1")


def test_backtest_counts_moves_costs_and_flips(registry: Registry, log: DecisionLog) -> None:
    v1 = register(registry, V1)
    v2 = register(registry, V2)
    log_decisions(log, V1, v1, 40)
    result = backtest(
        log, registry, LinearModel.from_bytes, v2, AT + timedelta(seconds=8), costs=FRAUD_COSTS
    )
    assert result.decisions == 32
    # oracle: recompute both sides independently, costs from the matrix's documented formulas
    t = Thresholds(0.1, 0.6)
    c = FRAUD_COSTS
    expected: dict[tuple[str, str], int] = {}
    costs = [0.0, 0.0]
    for i in range(8, 40):
        x = {"count_5m_by_card": i % 8, "value_amount_minor": 1_000 + i}
        p_old, p_new = V1.score([x])[0], V2.score([x])[0]
        old, new = t.band(p_old), t.band(p_new)
        for side, (p, action) in enumerate(((p_old, old), (p_new, new))):
            amount = 1_000 + i
            costs[side] += {
                "approve": p * (amount + c.chargeback_fee_minor),
                "review": float(c.review_minor),
                "decline": (1 - p) * (c.margin_share * amount + c.friction_minor),
            }[action]
        if old != new:
            expected[(old, new)] = expected.get((old, new), 0) + 1
    assert result.logged_cost_minor == pytest.approx(costs[0], rel=1e-9)
    assert result.new_cost_minor == pytest.approx(costs[1], rel=1e-9)
    assert expected  # the weights differ enough to move some decisions
    assert result.moved == expected
    assert len(result.flips) == sum(expected.values())
    assert all(f.logged_action != f.new_action for f in result.flips)
    assert sum(b for _, b in result.by_action.values()) == 32
    assert result.cost_delta_minor == result.new_cost_minor - result.logged_cost_minor


def test_backtest_prices_a_fallback_with_the_new_score_on_both_sides(
    registry: Registry, log: DecisionLog, tmp_path: Path
) -> None:
    # Regression: the logged side of a fallback was priced with its logged score, the rules'
    # severity (0.9 for card velocity), as if it were a probability.
    v1 = register(registry, V1)
    v2 = register(registry, V2)
    fallbacks: dict[int, Fallback] = dict.fromkeys(range(8, 40, 3), "timeout")
    fallbacks |= {10: "no_model", 15: "model_error", 22: "store_unavailable"}
    fallbacks |= {9: "low_confidence", 13: "low_confidence"}  # these log the model's score
    log_decisions(log, V1, v1, 40, fallbacks)
    log_labels(log, {"t14": True, "t13": False})  # a timeout and a low-confidence decision
    result = backtest(
        log, registry, LinearModel.from_bytes, v2, AT + timedelta(seconds=8), costs=FRAUD_COSTS
    )
    t, c = Thresholds(0.1, 0.6), FRAUD_COSTS
    costs = [0.0, 0.0]
    for i in range(8, 40):
        x = {"count_5m_by_card": i % 8, "value_amount_minor": 1_000 + i}
        p_new = V2.score([x])[0]
        by_rules = fallbacks.get(i) not in (None, "low_confidence")
        p_logged = p_new if by_rules else V1.score([x])[0]
        label = {14: 1.0, 13: 0.0}.get(i)
        stored = log.get(f"d{i}")
        assert stored is not None
        logged_action = str(stored.body["action"])  # the rules' action for a fallback
        for side, (p, action) in enumerate(((p_logged, logged_action), (p_new, t.band(p_new)))):
            p = p if label is None else label
            amount = 1_000 + i
            costs[side] += {
                "approve": p * (amount + c.chargeback_fee_minor),
                "review": float(c.review_minor),
                "decline": (1 - p) * (c.margin_share * amount + c.friction_minor),
            }[action]
    assert result.logged_cost_minor == pytest.approx(costs[0], rel=1e-9)
    assert result.new_cost_minor == pytest.approx(costs[1], rel=1e-9)
    assert result.fallbacks_repriced == 13  # 11 timeouts and 3 others, less t14 (labelled)
    assert result.logged_scores[23 - 8] == 0.9  # as logged: the card-velocity rule's severity
    page = write_backtest_report(result, tmp_path / "bt.html").read_text()
    assert (
        " ".join(page.split()).count(
            f"but 13 unlabelled decisions the rules made without a model score (fallbacks), whose "
            f"logged score is a rule severity rather than a probability, are priced with {v2}'s "
            "score on both sides."
        )
        == 1
    )


def log_labels(log: DecisionLog, frauds: dict[str, bool]) -> None:
    """Log labels as ``POST /v1/fraud/labels`` does (a ``fraud_label`` record each)."""
    for txid, is_fraud in frauds.items():
        body = {"is_fraud": is_fraud, "label_available_at": AT.isoformat()}
        log.append(DecisionRecord(f"label-{txid}", txid, "fraud_label", AT, body))


def test_backtest_prices_decisions_with_their_logged_labels(
    registry: Registry, log: DecisionLog
) -> None:
    v1 = register(registry, V1)
    v2 = register(registry, V2)
    log_decisions(log, V1, v1, 40)
    labels = {f"t{i}": i % 3 == 0 for i in range(8, 40, 2)}  # in the period
    labels["t1"] = True  # a label outside the period: not counted
    log_labels(log, labels)
    since = AT + timedelta(seconds=8)
    result = backtest(log, registry, LinearModel.from_bytes, v2, since, costs=FRAUD_COSTS)
    given = backtest(
        log, registry, LinearModel.from_bytes, v2, since, costs=FRAUD_COSTS, labels=labels
    )
    unlabelled = backtest(
        log, registry, LinearModel.from_bytes, v2, since, costs=FRAUD_COSTS, labels={}
    )
    assert result.labelled == 16
    assert (result.logged_cost_minor, result.new_cost_minor) == (
        given.logged_cost_minor,
        given.new_cost_minor,
    )
    assert result.logged_cost_minor != unlabelled.logged_cost_minor  # the labels were used
    frauds = [i for i in range(8, 40, 2) if i % 3 == 0]
    t = Thresholds(0.1, 0.6)
    stopped = [
        sum(t.band(m.score([{"count_5m_by_card": i % 8, "value_amount_minor": 1_000 + i}])[0])
            != "approve" for i in frauds)
        for m in (V1, V2)
    ]  # fmt: skip
    assert result.fraud_stopped == (len(frauds), *stopped)


def test_backtest_report_shows_moves_scores_costs_and_flips(
    registry: Registry, log: DecisionLog, tmp_path: Path
) -> None:
    v1 = register(registry, V1)
    v2 = register(registry, V2)
    log_decisions(log, V1, v1, 40)
    log_labels(log, {"t9": True, "t10": False})
    result = backtest(log, registry, LinearModel.from_bytes, v2, AT, costs=FRAUD_COSTS)
    assert result.flips  # V2 weighs velocity twice: some decisions move
    page = write_backtest_report(result, tmp_path / "reports" / "bt.html", flips=3).read_text()
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 3
    assert all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    assert f"<h1>Backtest of {v2}</h1>" in page
    assert f"{result.decisions:,} logged decisions from {AT.isoformat()}" in page
    for action, (logged, new) in result.by_action.items():
        assert f"<tr><td>{action}</td><td>{logged:,}</td><td>{new:,}</td>" in page
    assert f"{result.cost_delta_minor:+,.0f}" in page
    assert page.count("<tr><td>t") == 3  # the three largest score changes
    largest = max(result.flips, key=lambda f: abs(f.new_score - f.logged_score))
    assert f"<tr><td>{largest.transaction_id}</td>" in page
    assert "(2 of 40)" in page


def test_backtest_in_small_scoring_chunks_equals_one_call(
    registry: Registry, log: DecisionLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    v2 = register(registry, V2)
    log_decisions(log, V1, register(registry, V1), 40)
    log_labels(log, {"t12": True, "t30": False})
    whole = backtest(log, registry, LinearModel.from_bytes, v2, AT, costs=FRAUD_COSTS)
    monkeypatch.setattr(audit, "_SCORE_CHUNK", 7)
    chunked = backtest(log, registry, LinearModel.from_bytes, v2, AT, costs=FRAUD_COSTS)
    assert chunked == whole
    assert whole.decisions == 40


def test_backtest_refuses_a_period_it_cannot_mean(registry: Registry, log: DecisionLog) -> None:
    v2 = register(registry, V2)
    run = partial(backtest, log, registry, LinearModel.from_bytes, v2, costs=FRAUD_COSTS)
    with pytest.raises(InvalidRequestError, match="since must be timezone-aware"):
        run(datetime(2026, 3, 1))  # noqa: DTZ001
    with pytest.raises(InvalidRequestError, match="until must be timezone-aware"):
        run(AT, until=datetime(2026, 3, 2))  # noqa: DTZ001
    with pytest.raises(
        InvalidRequestError, match=r"until \(2026-03-01T12:00:00\+00:00\) must be after"
    ):
        run(AT, until=AT)


def test_verify_reports_an_intact_chain(log: DecisionLog, registry: Registry) -> None:
    log_decisions(log, V1, "fraud-v1", 3)
    report = verify(log)
    assert (report.ok, report.checked, report.head_seq) == (True, 3, 3)


_FEATURE = st.one_of(st.none(), st.integers(0, 200), st.floats(-500.0, 500.0, allow_nan=False))


@given(
    rows=st.lists(st.fixed_dictionaries(dict.fromkeys(VELOCITY, _FEATURE)), min_size=1, max_size=8)
)
@settings(max_examples=30, deadline=None)
def test_any_logged_decision_replays_to_its_score_after_the_champion_changed(
    rows: list[dict[str, float | int | None]],
) -> None:
    """Property: whatever the features, replay rebuilds the logged score bit for bit from
    the logged features and the logged version, though another version is now champion."""
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        with (
            Registry.open(f"sqlite:///{home / 'registry.db'}", home / "artifacts") as registry,
            open_decision_log(f"sqlite:///{home / 'decisions.db'}") as log,
        ):
            v1 = register(registry, V1)
            registry.promote(v1, "bob", "first")
            for i, x in enumerate(rows):
                event = PaymentAttempt(f"t{i}", AT + timedelta(seconds=i), 100, card_token="k")
                scored = score_rows(V1, [x], 0.1, 3)[0]
                policy = Policy(Thresholds(0.1, 0.6))
                d = decide(
                    event, x, scored, v1, FRAUD_RULES, policy,
                    decision_id=f"d{i}", decided_at=AT, latency_ms=0.1,
                )  # fmt: skip
                log.append(d.to_record("fraud", {}))
            registry.promote(register(registry, V2), "bob", "better")
            for i in range(len(rows)):
                result = replay(log, registry, LinearModel.from_bytes, f"d{i}")
                assert result.model_version == v1
                assert result.replayed_score == result.logged_score
