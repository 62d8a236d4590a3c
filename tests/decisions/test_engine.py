"""The decision engine: bands, explicit fallback, and the model deadline."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from riskline.decisions import (
    Fallback,
    ModelRunner,
    Policy,
    Reason,
    Scored,
    Thresholds,
    decide,
    score_rows,
)
from riskline.errors import ConfigError
from riskline.events import PaymentAttempt
from riskline.fraud import FRAUD_RULES
from tests.serving.fakes import VELOCITY, FailingModel, FakeReason, LinearModel, Row, SlowModel

AT = datetime(2026, 3, 1, 12, tzinfo=UTC)
POLICY = Policy(Thresholds(0.1, 0.6), low_confidence=(0.08, 0.1))
EVENT = PaymentAttempt("t1", AT, 2_000, customer_id="c1", card_token="k1")
MODEL = LinearModel("fraud-v1", VELOCITY)


def features(count_5m: int = 0) -> dict[str, float | int | None]:
    return {"count_5m_by_card": count_5m, "value_amount_minor": 2_000, "count_1h_by_customer": 0}


def test_thresholds_band_edges_are_inclusive() -> None:
    t = Thresholds(0.1, 0.6)
    assert [t.band(s) for s in (0.0, 0.0999, 0.1, 0.5999, 0.6, 1.0)] == [
        "approve",
        "approve",
        "review",
        "review",
        "decline",
        "decline",
    ]


def test_thresholds_come_from_the_registry_policy() -> None:
    assert Thresholds.from_policy({"review_at": 0.2, "decline_at": 0.7}) == Thresholds(0.2, 0.7)
    with pytest.raises(ConfigError, match="lacks decline_at"):
        Thresholds.from_policy({"review_at": 0.2})
    with pytest.raises(ConfigError, match=r"review_at=0.8, decline_at=0.7"):
        Thresholds(0.8, 0.7)


def test_policy_rejects_bad_budget_and_band() -> None:
    with pytest.raises(ConfigError, match="budget must be positive"):
        Policy(Thresholds(0.1, 0.6), budget=timedelta(0))
    with pytest.raises(ConfigError, match=r"low < high"):
        Policy(Thresholds(0.1, 0.6), low_confidence=(0.3, 0.2))


def test_model_decides_by_its_bands() -> None:
    reasons = (Reason("count_5m_by_card", "velocity", 3, "model"),)
    d = decide(
        EVENT,
        features(),
        Scored(0.7, reasons),
        "fraud-v1",
        FRAUD_RULES,
        POLICY,
        decision_id="d1",
        decided_at=AT,
        latency_ms=1.5,
    )
    assert (d.action, d.score, d.fallback, d.reasons) == ("decline", 0.7, None, reasons)
    assert d.rules_version == FRAUD_RULES.version
    assert d.to_body()["thresholds"] == {"review_at": 0.1, "decline_at": 0.6}


def test_rules_decide_when_the_model_is_unsure() -> None:
    d = decide(
        EVENT,
        features(count_5m=6),
        Scored(0.09, ()),
        "fraud-v1",
        FRAUD_RULES,
        POLICY,
        decision_id="d1",
        decided_at=AT,
        latency_ms=1.0,
    )
    assert (d.action, d.fallback, d.score, d.rule_score) == ("decline", "low_confidence", 0.09, 0.9)
    assert d.reasons == (Reason("card_velocity_5m", d.reasons[0].text, 6, "rule"),)


@pytest.mark.parametrize("why", ["timeout", "model_error", "no_model", "store_unavailable"])
def test_rules_decide_without_a_model_score(why: Fallback) -> None:
    d = decide(
        EVENT,
        features(count_5m=6),
        why,
        None,
        FRAUD_RULES,
        POLICY,
        decision_id="d1",
        decided_at=AT,
        latency_ms=1.0,
    )
    assert (d.action, d.fallback, d.score, d.rules_fired) == (
        "decline",
        why,
        0.9,
        ("card_velocity_5m",),
    )
    quiet = decide(
        EVENT,
        features(),
        why,
        None,
        FRAUD_RULES,
        POLICY,
        decision_id="d2",
        decided_at=AT,
        latency_ms=1.0,
    )
    assert (quiet.action, quiet.score, quiet.reasons) == ("approve", 0.0, ())


def test_score_rows_explains_only_above_the_review_band() -> None:
    rows = [features(0), features(6)]
    out = score_rows(MODEL, rows, explain_at=0.1, top=2)
    expected = MODEL.score(rows)
    assert [s.score for s in out] == expected
    assert out[0].reasons == ()
    assert [r.code for r in out[1].reasons] == ["count_5m_by_card", "value_amount_minor"]


def test_score_rows_rejects_a_score_that_is_not_a_probability() -> None:
    class Broken(LinearModel):
        def score(self, rows: object) -> list[float]:
            return [math.nan]

    with pytest.raises(ValueError, match=r"score nan; expected a probability in \[0, 1\]"):
        score_rows(Broken("x", VELOCITY), [features()], 0.1, 3)


def test_runner_fallbacks_are_named() -> None:
    budget = timedelta(milliseconds=200)
    assert ModelRunner(None).run([features()], 0.1, 3, budget) == "no_model"
    failing = ModelRunner(FailingModel("x", VELOCITY))
    assert failing.run([features()], 0.1, 3, budget) == "model_error"
    good = ModelRunner(MODEL)
    answer = good.run([features()], 0.1, 3, budget)
    assert isinstance(answer, list)
    assert answer[0].score == MODEL.score([features()])[0]
    for runner in (failing, good):
        runner.close()


def test_slow_model_times_out_within_the_budget() -> None:
    slow = SlowModel(MODEL, delay_s=0.5)
    runner = ModelRunner(slow, workers=1, max_in_flight=2)
    started = time.perf_counter()
    assert runner.run([features()], 0.1, 3, timedelta(milliseconds=30)) == "timeout"
    assert time.perf_counter() - started < 0.2
    # one call runs, one waits: a third is refused at once instead of queueing behind them
    assert runner.run([features()], 0.1, 3, timedelta(milliseconds=1)) == "timeout"
    started = time.perf_counter()
    assert runner.run([features()], 0.1, 3, timedelta(seconds=5)) == "timeout"
    assert time.perf_counter() - started < 0.05
    runner.close()


def test_async_runner_keeps_the_deadline() -> None:
    runner = ModelRunner(SlowModel(MODEL, delay_s=0.3))

    async def main() -> tuple[object, float]:
        started = time.perf_counter()
        answer = await runner.run_async([features()], 0.1, 3, timedelta(milliseconds=20))
        return answer, time.perf_counter() - started

    answer, took = asyncio.run(main())
    assert answer == "timeout"
    assert took < 0.15
    runner.close()


class Bounded(LinearModel):
    """A scorer that declares single rows cheap, and records the thread of each call."""

    bounded = True

    def __init__(self, *args: object, explain_delay_s: float = 0.0, **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.explain_delay_s = explain_delay_s
        self.threads: list[tuple[str, str]] = []

    def score(self, rows: Sequence[Row]) -> list[float]:
        self.threads.append(("score", threading.current_thread().name))
        return super().score(rows)

    def explain(self, rows: Sequence[Row], top: int = 3) -> list[list[FakeReason]]:
        self.threads.append(("explain", threading.current_thread().name))
        time.sleep(self.explain_delay_s)
        return super().explain(rows, top)


def _start(runner: ModelRunner, rows: Sequence[Row], budget_ms: float) -> tuple[object, float]:
    async def main() -> tuple[object, float]:
        started = time.perf_counter()
        answer = await runner.start(rows, 0.1, 3, timedelta(milliseconds=budget_ms))
        return answer, time.perf_counter() - started

    return asyncio.run(main())


def test_a_bounded_scorer_scores_one_row_on_the_loop_and_explains_in_a_worker() -> None:
    model = Bounded("fraud-v1", VELOCITY)
    runner = ModelRunner(model)
    here = threading.current_thread().name
    clear, flagged = [features(0)], [features(6)]

    answer, _ = _start(runner, clear, 200)
    assert answer == score_rows(MODEL, clear, 0.1, 3)
    assert model.threads == [("score", here)]  # no worker, nothing to explain

    model.threads.clear()
    answer, _ = _start(runner, flagged, 200)
    assert answer == score_rows(MODEL, flagged, 0.1, 3)
    assert isinstance(answer, list)
    assert answer[0].reasons  # explained
    assert [call for call, _ in model.threads] == ["score", "explain"]
    assert model.threads[0][1] == here
    assert model.threads[1][1].startswith("riskline-model")

    model.threads.clear()
    answer, _ = _start(runner, [features(0), features(6)], 200)  # a batch: all in a worker
    assert answer == score_rows(MODEL, [features(0), features(6)], 0.1, 3)
    assert all(name.startswith("riskline-model") for _, name in model.threads)
    runner.close()


def test_a_batch_gets_its_scores_before_its_explanations() -> None:
    """start_batch: every score as soon as the model has them, then the flagged rows
    explained by the same worker, which scores once."""
    model = Bounded("fraud-v1", VELOCITY, explain_delay_s=0.3)
    runner = ModelRunner(model)
    rows = [features(0), features(6), features(1), features(7)]

    async def main() -> tuple[object, float, object, float]:
        started = time.perf_counter()
        scores, explained = runner.start_batch(rows, 0.1, 3, timedelta(seconds=2))
        first = await scores
        scored_after = time.perf_counter() - started
        return first, scored_after, await explained, time.perf_counter() - started

    scores, scored_after, explained, explained_after = asyncio.run(main())
    expected = score_rows(MODEL, rows, 0.1, 3)
    assert scores == [x.score for x in expected]
    assert scored_after < 0.2 < 0.3 <= explained_after  # not held back by the explanation
    assert explained == [x for x in expected if x.score >= 0.1]
    assert [x.score >= 0.1 for x in expected] == [False, True, False, True]
    assert all(x.reasons for x in explained)
    assert [call for call, _ in model.threads] == ["score", "explain"]
    assert all(name.startswith("riskline-model") for _, name in model.threads)
    runner.close()


def test_a_batch_of_a_failing_or_slow_model_gets_the_fallback_twice() -> None:
    async def main(runner: ModelRunner) -> tuple[object, object, float]:
        started = time.perf_counter()
        scores, explained = runner.start_batch([features(6)], 0.1, 3, timedelta(milliseconds=30))
        return await scores, await explained, time.perf_counter() - started

    failing = ModelRunner(FailingModel("x", VELOCITY))
    assert asyncio.run(main(failing))[:2] == ("model_error", "model_error")
    slow = ModelRunner(SlowModel(MODEL, delay_s=0.5))
    scores, explained, took = asyncio.run(main(slow))
    assert (scores, explained) == ("timeout", "timeout")
    assert took < 0.2
    assert asyncio.run(main(ModelRunner(None)))[:2] == ("no_model", "no_model")
    for runner in (failing, slow):
        runner.close()


def test_an_unbounded_scorer_scores_even_one_row_in_a_worker() -> None:
    model = Bounded("fraud-v1", VELOCITY)
    model.bounded = False  # the default of a scorer that says nothing
    runner = ModelRunner(model)
    answer, _ = _start(runner, [features(0)], 200)
    assert answer == score_rows(MODEL, [features(0)], 0.1, 3)
    assert len(model.threads) == 1
    assert model.threads[0][1].startswith("riskline-model")
    runner.close()


def test_a_bounded_scorer_still_falls_back_on_errors_and_slow_explanations() -> None:
    class BoundedFailing(Bounded):
        def score(self, rows: Sequence[Row]) -> list[float]:
            raise RuntimeError("model exploded")

    class BoundedBroken(Bounded):
        def score(self, rows: Sequence[Row]) -> list[float]:
            return [1.5]

    for model in (BoundedFailing("x", VELOCITY), BoundedBroken("x", VELOCITY)):
        runner = ModelRunner(model)
        assert _start(runner, [features(0)], 200)[0] == "model_error"
        runner.close()
    runner = ModelRunner(Bounded("x", VELOCITY, explain_delay_s=0.5))
    answer, took = _start(runner, [features(6)], 30)
    assert answer == "timeout"
    assert took < 0.2
    runner.close()
