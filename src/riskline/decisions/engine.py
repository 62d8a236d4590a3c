"""Score + rules -> Decision: decision bands, the latency budget and the explicit fallback.

The model runs in worker threads with a deadline (``ModelRunner``), so an answer arrives
within the budget even when the model hangs: a late, failing, missing or unsure model
becomes a rules decision flagged with ``fallback``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import math
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, Protocol, TypeVar

from riskline.decisions._records import DecisionRecord
from riskline.errors import ConfigError
from riskline.events import PaymentAttempt
from riskline.features import FeatureRows
from riskline.rules import FieldValue, Hit, Outcome, RuleSet, Verdict, evaluate

Fallback = Literal["timeout", "model_error", "low_confidence", "store_unavailable", "no_model"]
Row = Mapping[str, float | int | None]


class ReasonLike(Protocol):
    """A model reason code (``riskline.models.Reason``)."""

    @property
    def code(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def value(self) -> float | int | None: ...
    @property
    def contribution(self) -> float: ...


class Scorer(Protocol):
    """The model seam (``riskline.models.Model``): calibrated P(fraud), vectorised."""

    @property
    def version(self) -> str: ...
    @property
    def feature_names(self) -> tuple[str, ...]: ...
    def score(self, rows: Sequence[Row]) -> list[float]: ...
    def explain(self, rows: Sequence[Row], top: int = 3) -> Sequence[Sequence[ReasonLike]]:
        """The ``top`` reasons of each row, in one call (a batch can use every core)."""
        ...


@dataclass(frozen=True, slots=True)
class Reason:
    """Why: a model reason code (``source="model"``) or a fired rule (``"rule"``)."""

    code: str
    text: str
    value: FieldValue
    source: Literal["model", "rule"]


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Decision bands: decline at ``score >= decline_at``, else review at ``>= review_at``."""

    review_at: float
    decline_at: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.review_at <= self.decline_at <= 1.0:
            raise ConfigError(
                "thresholds need 0 <= review_at <= decline_at <= 1, got "
                f"review_at={self.review_at!r}, decline_at={self.decline_at!r}."
            )

    @classmethod
    def from_policy(cls, policy: Mapping[str, float]) -> Thresholds:
        """From a registry ``decision_policy`` ({"review_at": .., "decline_at": ..})."""
        missing = [k for k in ("review_at", "decline_at") if k not in policy]
        if missing:
            raise ConfigError(
                f"decision policy {dict(policy)!r} lacks {', '.join(missing)}; "
                "register the model with review_at and decline_at."
            )
        return cls(float(policy["review_at"]), float(policy["decline_at"]))

    def band(self, score: float) -> Verdict:
        if score >= self.decline_at:
            return "decline"
        return "review" if score >= self.review_at else "approve"


@dataclass(frozen=True, slots=True)
class Policy:
    """How to decide: bands, the end-to-end latency ``budget``, an optional low-confidence
    band ``[low, high)`` of scores decided by the rules instead, and how many reasons."""

    thresholds: Thresholds
    budget: timedelta = timedelta(milliseconds=50)
    low_confidence: tuple[float, float] | None = None
    top_reasons: int = 3

    def __post_init__(self) -> None:
        if self.budget <= timedelta(0):
            raise ConfigError(f"latency budget must be positive, got {self.budget!r}.")
        band = self.low_confidence
        if band is not None and not 0.0 <= band[0] < band[1] <= 1.0:
            raise ConfigError(f"low_confidence band needs 0 <= low < high <= 1, got {band!r}.")


@dataclass(frozen=True, slots=True)
class Scored:
    """The model's answer for one row."""

    score: float
    reasons: tuple[Reason, ...]


@dataclass(frozen=True, slots=True)
class Decision:
    """One decision as answered and logged. ``score`` is the model's calibrated probability,
    or the rule score when the model gave none; ``latency_ms`` is server time to decide."""

    decision_id: str
    transaction_id: str
    decided_at: datetime
    action: Verdict
    score: float
    rule_score: float
    reasons: tuple[Reason, ...]
    model_version: str | None
    rules_version: str
    fallback: Fallback | None
    thresholds: Thresholds
    features: Mapping[str, FieldValue]
    latency_ms: float
    rules_fired: tuple[str, ...] = field(default=())

    def to_body(self) -> dict[str, object]:
        """The JSON-able body for the decision log (without ids and time). A ``features``
        dict is shared, not copied (a batch's thousand copies cost 1 ms): the log encodes it
        when the record is submitted."""
        return {
            "action": self.action,
            "score": self.score,
            "rule_score": self.rule_score,
            "reasons": self.reasons_json(),
            "model_version": self.model_version,
            "rules_version": self.rules_version,
            "fallback": self.fallback,
            "thresholds": {
                "review_at": self.thresholds.review_at,
                "decline_at": self.thresholds.decline_at,
            },
            "features": _as_dict(self.features),
            "latency_ms": self.latency_ms,
            "rules_fired": list(self.rules_fired),
        }

    def reasons_json(self) -> list[dict[str, FieldValue]]:
        return [reason_json(r) for r in self.reasons] if self.reasons else []

    def to_record(self, kind: str, request: Mapping[str, object]) -> DecisionRecord:
        """The log record: the body plus the (tokenised) ``request`` it answered."""
        body = self.to_body()
        body["request"] = _as_dict(request)
        return DecisionRecord(self.decision_id, self.transaction_id, kind, self.decided_at, body)


def decide(
    event: PaymentAttempt,
    features: Mapping[str, FieldValue],
    model: Scored | Fallback,
    model_version: str | None,
    rules: RuleSet,
    policy: Policy,
    *,
    decision_id: str,
    decided_at: datetime,
    latency_ms: float,
    outcome: Outcome | None = None,
) -> Decision:
    """Turn the model's answer (or why there is none) and the rules into a Decision.

    The model decides by ``policy.thresholds`` unless ``model`` is a fallback reason or its
    score falls in the low-confidence band; then the rules decide and ``fallback`` says why.
    ``outcome`` is the rules' outcome when already known (``evaluate_many`` of a batch).
    """
    if outcome is None:
        outcome = evaluate(rules, event, features)
    fallback: Fallback | None
    if isinstance(model, Scored):
        band = policy.low_confidence
        fallback = "low_confidence" if band and band[0] <= model.score < band[1] else None
        score, reasons = model.score, model.reasons
    else:
        fallback, score, reasons = model, outcome.score, ()
    if fallback is None:
        action = policy.thresholds.band(score)
    else:
        action = outcome.action
        reasons = tuple(rule_reason(h) for h in outcome.fired)
    fired = outcome.fired
    return Decision(  # positionally: a batch makes a thousand of them
        decision_id,
        event.transaction_id,
        decided_at,
        action,
        score,
        outcome.score,
        reasons,
        model_version,
        rules.version,
        fallback,
        policy.thresholds,
        features,
        latency_ms,
        tuple([h.code for h in fired]) if fired else (),
    )


def _as_dict(values: Mapping[str, object]) -> dict[str, object]:
    return values if type(values) is dict else dict(values)


def rule_reason(hit: Hit) -> Reason:
    """A fired rule as a reason: its code, text and the first value it read."""
    return Reason(hit.code, hit.text, next(iter(hit.values.values()), None), "rule")


def reason_json(reason: Reason) -> dict[str, FieldValue]:
    """A reason as answered and logged."""
    return {
        "code": reason.code,
        "text": reason.text,
        "value": reason.value,
        "source": reason.source,
    }


def score_rows(scorer: Scorer, rows: Sequence[Row], explain_at: float, top: int) -> list[Scored]:
    """Score rows in one vectorised call; explain those at or above ``explain_at``.

    Raises ``ValueError`` if the model returns the wrong count or a score outside [0, 1].
    """
    return explain_rows(scorer, rows, checked_scores(scorer, rows), explain_at, top)


def checked_scores(scorer: Scorer, rows: Sequence[Row]) -> list[float]:
    """The scorer's scores of ``rows``; ``ValueError`` unless one probability per row."""
    scores = scorer.score(rows)
    if len(scores) != len(rows):
        raise ValueError(f"model returned {len(scores)} scores for {len(rows)} rows.")
    for s in scores:
        if not (isinstance(s, int | float) and math.isfinite(s) and 0.0 <= s <= 1.0):
            raise ValueError(f"model returned score {s!r}; expected a probability in [0, 1].")
    return scores


def explain_rows(
    scorer: Scorer, rows: Sequence[Row], scores: list[float], explain_at: float, top: int
) -> list[Scored]:
    """``scores`` as ``Scored``, with the reasons of those at or above ``explain_at``."""
    flagged = [i for i, s in enumerate(scores) if s >= explain_at]
    explained = scorer.explain([rows[i] for i in flagged], top) if flagged else []
    reasons: dict[int, tuple[Reason, ...]] = {
        i: tuple(Reason(r.code, r.text, r.value, "model") for r in why)
        for i, why in zip(flagged, explained, strict=True)
    }
    return [Scored(float(s), reasons.get(i, ())) for i, s in enumerate(scores)]


T = TypeVar("T")


class ModelRunner:
    """Runs a scorer in worker threads with a deadline; at most ``max_in_flight`` calls wait
    or run at once (more are answered at once with ``"timeout"``), so a hung model cannot
    queue unbounded work.

    A scorer whose ``bounded`` attribute is true (``riskline.models.Model``: a single row
    is a fixed walk of its trees, in memory) scores a single row on the caller's thread
    from ``start``; only its explanation, when the score reaches ``explain_at``, goes to a
    worker under the deadline. The hop to a worker and back cost more than the score
    itself (bench/serve.py: server CPU per request -15%). Any other scorer always runs in
    a worker, so a slow one cannot hold up the event loop.
    """

    def __init__(self, scorer: Scorer | None, *, workers: int = 2, max_in_flight: int = 8) -> None:
        self.scorer = scorer
        self._pool = cf.ThreadPoolExecutor(workers, thread_name_prefix="riskline-model")
        self._slots = threading.BoundedSemaphore(max_in_flight)

    def _submit(self, work: Callable[..., T], *args: object) -> cf.Future[T] | Fallback:
        """``work(scorer, *args)`` in a worker, if a slot is free."""
        if self.scorer is None:
            return "no_model"
        if not self._slots.acquire(blocking=False):
            return "timeout"
        try:
            future = self._pool.submit(work, self.scorer, *args)
        except RuntimeError:  # closed: the model was replaced while this request ran
            self._slots.release()
            return "model_error"
        future.add_done_callback(lambda _: self._slots.release())
        return future

    def run(
        self, rows: Sequence[Row], explain_at: float, top: int, timeout: timedelta
    ) -> list[Scored] | Fallback:
        """The model's answers, or why there are none (``no_model``/``timeout``/``model_error``)."""
        future = self._submit(score_rows, rows, explain_at, top)
        if isinstance(future, str):
            return future
        try:
            return future.result(max(timeout.total_seconds(), 0.0))
        except cf.TimeoutError:
            return "timeout"
        except Exception:
            return "model_error"

    def start(
        self, rows: Sequence[Row], explain_at: float, top: int, timeout: timedelta
    ) -> asyncio.Future[list[Scored] | Fallback]:
        """As ``run``, from the event loop: submits now (the caller can work meanwhile) and
        returns a future of the answer, which never raises (the deadline makes it
        ``"timeout"``, an error ``"model_error"``)."""
        loop = asyncio.get_running_loop()
        if len(rows) == 1 and getattr(self.scorer, "bounded", False):
            assert self.scorer is not None
            try:
                scores = checked_scores(self.scorer, rows)
            except Exception:
                return _done(loop, "model_error")
            if scores[0] < explain_at:  # nothing to explain: answered here
                return _done(loop, [Scored(float(scores[0]), ())])
            future = self._submit(explain_rows, rows, scores, explain_at, top)
        else:
            future = self._submit(score_rows, rows, explain_at, top)
        return _done(loop, future) if isinstance(future, str) else _answer(loop, future, timeout)

    def start_batch(
        self, rows: Sequence[Row], explain_at: float, top: int, timeout: timedelta
    ) -> tuple[asyncio.Future[list[float] | Fallback], asyncio.Future[list[Scored] | Fallback]]:
        """As ``start``, answered in two parts under one deadline: every row's score as soon
        as the model has them, then the ``Scored`` of the rows at or above ``explain_at``
        (in row order), explained. The worker goes on to the explanation at once, while the
        caller decides the other rows: handed back to the event loop first, it waited up to a
        GIL switch interval (5 ms) to start (bench/serve.py batch figure)."""
        loop = asyncio.get_running_loop()
        scores: cf.Future[list[float]] = cf.Future()
        future = self._submit(_score_then_explain, rows, explain_at, top, scores)
        if isinstance(future, str):
            return _done(loop, future), _done(loop, future)
        return _answer(loop, scores, timeout), _answer(loop, future, timeout)

    async def run_async(
        self, rows: Sequence[Row], explain_at: float, top: int, timeout: timedelta
    ) -> list[Scored] | Fallback:
        """As ``run``, awaiting the worker without blocking the event loop."""
        return await self.start(rows, explain_at, top, timeout)

    def close(self) -> None:
        """Stop accepting work; does not wait for a hung model."""
        self._pool.shutdown(wait=False, cancel_futures=True)


def _score_then_explain(
    scorer: Scorer, rows: Sequence[Row], explain_at: float, top: int, scores: cf.Future[list[float]]
) -> list[Scored]:
    """Score ``rows``, hand the scores over through ``scores``, then explain the rows at or
    above ``explain_at``."""
    try:
        known = checked_scores(scorer, rows)
    except BaseException as exc:
        scores.set_exception(exc)
        raise
    scores.set_result(known)
    flagged = [i for i, s in enumerate(known) if s >= explain_at]
    return explain_rows(scorer, _take(rows, flagged), [known[i] for i in flagged], explain_at, top)


def _take(rows: Sequence[Row], indices: Sequence[int]) -> Sequence[Row]:
    """The rows at ``indices`` (``FeatureRows`` stay ``FeatureRows``: the model reads their
    matrix)."""
    return rows.take(indices) if isinstance(rows, FeatureRows) else [rows[i] for i in indices]


def _done(loop: asyncio.AbstractEventLoop, answer: T) -> asyncio.Future[T]:
    future: asyncio.Future[T] = loop.create_future()
    future.set_result(answer)
    return future


def _answer(
    loop: asyncio.AbstractEventLoop, future: cf.Future[T], timeout: timedelta
) -> asyncio.Future[T | Fallback]:
    """The worker's answer on the loop, ``"timeout"`` past ``timeout``, ``"model_error"`` if
    it raised; never raises. One timer and one wake-up: lighter than
    ``wait_for(wrap_future())``."""
    answer: asyncio.Future[T | Fallback] = loop.create_future()
    waiter = watch(loop, future)
    timer = loop.call_later(max(timeout.total_seconds(), 0.0), _expire, waiter)

    def settle(done: asyncio.Future[T]) -> None:
        timer.cancel()
        if answer.cancelled():
            return
        error = done.exception()
        if error is None:
            answer.set_result(done.result())
        else:
            answer.set_result("timeout" if isinstance(error, _DeadlineError) else "model_error")

    waiter.add_done_callback(settle)
    return answer


def watch(loop: asyncio.AbstractEventLoop, future: cf.Future[T]) -> asyncio.Future[T]:
    """An awaitable for a worker thread's future: one wake-up of the loop when it resolves
    (``asyncio.wrap_future`` chains state both ways and cost the service ~10% of its rate).
    A cancelled worker future becomes a ``RuntimeError``."""
    waiter: asyncio.Future[T] = loop.create_future()

    def wake(done: cf.Future[T]) -> None:
        if not loop.is_closed():
            loop.call_soon_threadsafe(_copy, waiter, done)

    future.add_done_callback(wake)
    return waiter


def _copy(waiter: asyncio.Future[T], done: cf.Future[T]) -> None:
    if waiter.done():  # a deadline answered first
        return
    if done.cancelled():
        waiter.set_exception(RuntimeError("the worker's future was cancelled"))
        return
    error = done.exception()
    if error is not None:
        waiter.set_exception(error)
    else:
        waiter.set_result(done.result())


class _DeadlineError(Exception):
    """The budget ran out before the worker answered."""


def _expire(waiter: asyncio.Future[T]) -> None:
    if not waiter.done():
        waiter.set_exception(_DeadlineError())
