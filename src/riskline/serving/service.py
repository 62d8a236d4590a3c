"""The scoring pipeline: idempotency -> online features -> model within budget -> rules ->
durable decision log -> answer; shadow scoring off the response path; label feedback."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from riskline.decisions import (
    Decision,
    DecisionBatch,
    DecisionLog,
    DecisionRecord,
    EncodedColumn,
    Fallback,
    Policy,
    Scored,
    StoredDecision,
    decide,
)
from riskline.decisions.columns import Decided, decide_columns
from riskline.decisions.engine import Row, watch
from riskline.errors import DuplicateDecisionError, InvalidRequestError, UnknownDecisionError
from riskline.events import PaymentAttempt, PaymentAttempts
from riskline.features import EmbeddedStore, FeatureRows, OnlineEngine
from riskline.fraud import fraud_rules
from riskline.rules import Outcomes, RuleSet, evaluate_many
from riskline.serving.answers import (
    Answer,
    answer,
    answer_from_record,
    answer_of,
    event_from_json,
    label_answer,
    new_id,
    new_ids,
    request_columns,
    request_json,
)
from riskline.serving.champion import Champion, Models
from riskline.serving.metrics import Metrics
from riskline.serving.schemas import LabelRequest, ScoreRequest, attempts_of
from riskline.serving.settings import ServeSettings
from riskline.serving.shadow import shadow_records

_log = logging.getLogger("riskline.serving")


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Service:
    """One scoring service; all methods run on the event loop (the model, the log commit and
    the log reads of labels and lookups run in other threads and are awaited).

    A log read is a database query (a network round trip with PostgreSQL): run on the loop,
    a slow one held up every request meanwhile, scoring included. Reads get no timeout of
    their own: a slow read that succeeds is an answer, and one that fails raises
    ``DecisionLogUnavailableError`` (503) as before; only ``ping_log`` bounds its wait,
    because a probe must answer in time. Scoring itself reads nothing (see ``score``).
    """

    def __init__(
        self,
        settings: ServeSettings,
        engine: OnlineEngine,
        log: DecisionLog,
        models: Models,
        metrics: Metrics,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.log = log
        self.models = models
        self.metrics = metrics
        self.rules = fraud_rules(settings.compromised_terminals)
        self._clock = clock
        self._inflight: dict[str, asyncio.Future[Answer]] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._store_thread = ThreadPoolExecutor(1, thread_name_prefix="riskline-store")
        self._inline_store = isinstance(engine.store, EmbeddedStore)

    def _policy(self, champion: Champion) -> Policy:
        return Policy(champion.thresholds, self.settings.budget, self.settings.low_confidence)

    async def score(self, request: ScoreRequest) -> Answer:
        """Decide one attempt, or answer with the decision already logged for its id."""
        started = time.perf_counter()
        self._not_ahead("ts", request.ts, self._clock())
        event = request.to_event(self.settings.token_key)
        txid = event.transaction_id
        running = self._inflight.get(txid)
        if running is not None:  # a concurrent duplicate: wait for the first one's answer
            return {**(await asyncio.shield(running)), "duplicate": True}
        # No log lookup first: a retry of a committed id is recognised by the online store
        # (seen id: features returned, nothing counted) and by the log, which refuses the
        # second record and hands back the first; unique ids, the common case, pay nothing.
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._inflight[txid] = future
        try:
            answer = (await self._decide([event], started))[0]
            future.set_result(answer)
            return answer
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here; waiters still see it
            raise
        finally:
            del self._inflight[txid]

    async def score_batch(self, requests: list[ScoreRequest]) -> list[Answer]:
        """Decide up to ``batch_max`` attempts with one model call; duplicates are answered
        with their logged decision (features are never counted twice)."""
        started = time.perf_counter()
        limit = self.settings.batch_max
        if len(requests) > limit:
            raise InvalidRequestError(
                f"attempts: at most {limit} per batch, got {len(requests)}; split the batch."
            )
        now, key = self._clock(), self.settings.token_key
        if requests and max(r.ts for r in requests) - now > self.settings.max_clock_skew:
            for i, r in enumerate(requests):  # name the first one
                self._not_ahead(f"attempts[{i}].ts", r.ts, now)
        events = attempts_of(requests, key)
        txids = events.transaction_ids
        if len(set(txids)) != len(txids):
            seen: dict[str, int] = {}
            for i, txid in enumerate(txids):
                if txid in seen:
                    raise InvalidRequestError(
                        f"attempts[{i}].transaction_id: {txid!r} repeats "
                        f"attempts[{seen[txid]}]; ids must be unique in a batch."
                    )
                seen[txid] = i
        answers = await self._decide_batch(events, started)
        _free_later(requests, events)
        return answers

    def _not_ahead(self, field: str, at: datetime, now: datetime) -> None:
        """Refuse a time further ahead of ``now`` than ``max_clock_skew``, before it reaches
        the online state: an attempt from the future would move the shared watermark there
        and stop the counting of later attempts (see ``ServeSettings``), a label from the
        future the labels' own watermark."""
        skew = self.settings.max_clock_skew
        if at - now > skew:
            raise InvalidRequestError(
                f"{field}: {at.isoformat()!r} is more than {skew.total_seconds():g} s ahead of "
                f"the server's clock ({now.isoformat()}); send the time it happened (and "
                "check the sender's clock)."
            )

    async def _decide(self, events: list[PaymentAttempt], started: float) -> list[Answer]:
        """Decide a single attempt (``events`` holds it), log it as one record and answer; a
        batch goes through ``_decide_batch``."""
        champion = self.models.champion
        policy = self._policy(champion)
        budget = self.settings.budget
        observed = await self._observe(events, started, budget)
        rows: Sequence[Row] = observed if observed is not None else [{} for _ in events]
        model: asyncio.Future[list[Scored] | Fallback] | None = None
        if observed is not None:
            left = budget - self.settings.commit_reserve - _since(started)
            model = champion.runner.start(
                rows, champion.thresholds.review_at, policy.top_reasons, left
            )
        # While the model scores (in its thread), the rules run and the request is laid out.
        context = _Context(events, rows, champion, policy, self.rules, self.settings.kind)
        scored = "store_unavailable" if model is None else await model
        decisions, records = context.decide(scored, self._clock(), started)
        committed = await watch(asyncio.get_running_loop(), self.log.submit_many(records))
        answers = self._answers(decisions, committed, started)
        if champion.shadow is not None and observed is not None:
            pairs = [(d.decision_id, d.transaction_id) for d in decisions]
            self._spawn(self._shadow(champion, pairs, rows))
        return answers

    async def _decide_batch(self, events: PaymentAttempts, started: float) -> list[Answer]:
        """Decide a batch as columns (``decide_columns``) and log it as one ``DecisionBatch``:
        no ``Decision``, body or record per row (bench/batch.py). The model scores every row
        in one call and its worker goes on to explain the flagged rows while the rules run
        and the requests and features are laid out as columns."""
        champion = self.models.champion
        policy = self._policy(champion)
        budget = self.settings.budget * max(1, len(events) // 100)
        observed = await self._observe(events, started, budget)
        explain_at = champion.thresholds.review_at
        scoring: asyncio.Future[list[float] | Fallback] | None = None
        model: asyncio.Future[list[Scored] | Fallback] | None = None
        if observed is not None:
            left = budget - self.settings.commit_reserve - _since(started)
            runner = champion.runner
            scoring, model = runner.start_batch(observed, explain_at, policy.top_reasons, left)
        rows: Sequence[Row] = observed if observed is not None else [{}] * len(events)
        outcomes = evaluate_many(self.rules, events, rows)
        columns: dict[str, object] = {  # encoded while the model scores
            "request": EncodedColumn(request_columns(events)),
            "features": EncodedColumn(observed.by_name() if observed is not None else {}),
        }
        ids = new_ids(len(events))
        txids = events.transaction_ids
        versions = champion.version, self.rules.version
        answers: list[Answer] = []

        def answer_all(decided: Decided) -> None:  # while the model explains flagged rows
            answers[:] = _answers_of(decided, ids, txids, versions, range(len(ids)))

        decided, changed = await _decided(outcomes, scoring, model, policy, explain_at, answer_all)
        redone = _answers_of(decided, ids, txids, versions, changed)
        for i, again in zip(changed, redone, strict=True):
            answers[i] = again  # explained, or decided by the rules when it could not be
        latency_ms = round(_since(started) / timedelta(milliseconds=1), 3)
        shared = {
            "model_version": champion.version,
            "rules_version": self.rules.version,
            "thresholds": {"review_at": explain_at, "decline_at": champion.thresholds.decline_at},
            "latency_ms": latency_ms,
        }
        columns.update(decided.columns())
        batch = DecisionBatch(self.settings.kind, self._clock(), ids, txids, shared, columns)
        committed = await watch(asyncio.get_running_loop(), self.log.submit_batch(batch))
        took = _since(started)
        answered_ms = round(took / timedelta(milliseconds=1), 3)
        made: list[tuple[str, str | None]] = []
        for i, outcome in enumerate(committed):
            if isinstance(outcome, DuplicateDecisionError):
                self.metrics.duplicates.inc()
                answers[i] = answer_from_record(outcome.existing, duplicate=True)  # type: ignore[arg-type]
                continue
            answers[i]["latency_ms"] = answered_ms
            made.append((decided.action[i], decided.fallback[i]))
        self.metrics.decided(made, took.total_seconds(), batch=True)
        if champion.shadow is not None and observed is not None:
            self._spawn(self._shadow(champion, list(zip(ids, txids, strict=True)), observed))
        _free_later(events, observed, columns, outcomes, decided, batch)
        return answers

    def _answers(
        self,
        decisions: list[Decision],
        committed: list[int | DuplicateDecisionError],
        started: float,
    ) -> list[Answer]:
        """Each decision's answer once committed (a duplicate's: the logged one), counted."""
        took = _since(started)
        latency_ms = round(took / timedelta(milliseconds=1), 3)
        answers: list[Answer] = []
        made: list[Decision] = []
        for decision, outcome in zip(decisions, committed, strict=True):
            if isinstance(outcome, DuplicateDecisionError):
                self.metrics.duplicates.inc()
                answers.append(answer_from_record(outcome.existing, duplicate=True))  # type: ignore[arg-type]
            else:
                made.append(decision)
                answers.append(answer_of(decision, latency_ms))
        outcomes = ((d.action, d.fallback) for d in made)
        self.metrics.decided(outcomes, took.total_seconds(), batch=False)
        return answers

    async def _observe(
        self, events: Sequence[PaymentAttempt], started: float, budget: timedelta
    ) -> FeatureRows | None:
        """Features of ``events`` from the online store; None when it fails or is too slow.

        The embedded (in-process) store is called inline: it cannot hang and a thread hop
        would cost more than it does. Any other store (Redis) runs in the store's own thread
        under the budget, so a stalled server never blocks the event loop.
        """
        if self._inline_store:
            try:
                return self.engine.observe_many(events)
            except Exception as exc:
                _log.warning("online store failed (%r); deciding by fallback rules", exc)
                self.metrics.errors.labels("store").inc()
                return None
        loop = asyncio.get_running_loop()
        work = loop.run_in_executor(self._store_thread, self.engine.observe_many, events)
        left = budget - self.settings.commit_reserve - _since(started)
        try:
            return await asyncio.wait_for(work, max(left.total_seconds(), 0.0))
        except Exception as exc:  # any store failure or timeout: rules decide, flagged
            _log.warning("online store failed (%r); deciding by fallback rules", exc)
            self.metrics.errors.labels("store").inc()
            return None

    def _spawn(self, work: object) -> None:
        task = asyncio.ensure_future(work)  # type: ignore[call-overload]
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _shadow(
        self,
        champion: Champion,
        decided: list[tuple[str, str]],
        rows: Sequence[Row],
    ) -> None:
        """Score the shadow model and log it beside the champion; never disturbs the answer."""
        shadow = champion.shadow
        if shadow is None:
            return
        try:
            records = await shadow_records(shadow, self.settings.kind, decided, rows, self._clock())
            await watch(asyncio.get_running_loop(), self.log.submit_many(records))
        except Exception:
            _log.exception("shadow scoring failed")
            self.metrics.errors.labels("shadow").inc()

    async def label(self, request: LabelRequest) -> Answer:
        """Log a label once per transaction; a fraud label feeds the label features."""
        kind = self.settings.kind
        txid = request.transaction_id
        if request.label_available_at is not None:
            self._not_ahead("label_available_at", request.label_available_at, self._clock())
        decided, labelled = await asyncio.to_thread(self._logged, txid)
        if decided is None:
            raise UnknownDecisionError(f"transaction_id {txid!r} has no logged decision to label.")
        if labelled is not None:
            await self._count_logged_label(decided.body, labelled.body)
            return label_answer(labelled, duplicate=True)
        at = request.label_available_at or self._clock()
        event = _labelled(decided.body, request.is_fraud, at)
        counted_from = self.engine.label_at(event)
        body = {
            "is_fraud": request.is_fraud,
            "label_available_at": at.isoformat(),
            "counted_from": counted_from.isoformat() if counted_from else None,
            "decision_id": decided.decision_id,
        }
        record = DecisionRecord(new_id(), txid, f"{kind}_label", self._clock(), body)
        try:
            await asyncio.wrap_future(self.log.submit(record))
        except DuplicateDecisionError as exc:
            existing = exc.existing
            assert isinstance(existing, StoredDecision)
            await self._count_logged_label(decided.body, existing.body)
            return label_answer(existing, duplicate=True)
        if counted_from is not None:
            await self._observe_label(event, counted_from)
        return {
            "transaction_id": txid,
            "is_fraud": request.is_fraud,
            "counted_from": body["counted_from"],
            "duplicate": False,
        }

    def _logged(self, txid: str) -> tuple[StoredDecision | None, StoredDecision | None]:
        """The logged decision of ``txid`` and its label, if any; run in a worker thread."""
        kind = self.settings.kind
        decided = self.log.find(kind, txid)
        if decided is None:
            return None, None
        return decided, self.log.find(f"{kind}_label", txid)

    async def decision(self, decision_id: str) -> StoredDecision:
        """The logged record ``decision_id``, read in a worker thread; raises
        ``UnknownDecisionError`` if it is not in the log."""
        record = await asyncio.to_thread(self.log.get, decision_id)
        if record is None:
            raise UnknownDecisionError(f"decision_id {decision_id!r} is not in the decision log.")
        return record

    async def _count_logged_label(
        self, decision: Mapping[str, Any], label: Mapping[str, Any]
    ) -> None:
        """Count a label already in the log, in case the process that logged it died before
        counting it (the store counts a transaction's label once, so normally this changes
        nothing): the retry of such a request is answered as a duplicate, and no label the
        log holds is missing from the label features."""
        counted_from = label.get("counted_from")
        if counted_from is None:
            return
        at = datetime.fromisoformat(label["label_available_at"])
        event = _labelled(decision, bool(label["is_fraud"]), at)
        await self._observe_label(event, datetime.fromisoformat(counted_from))

    async def _observe_label(self, event: PaymentAttempt, at: datetime) -> None:
        """Count a label in the online state. The embedded store is called on the loop, as
        for its events, so one thread alone changes that state (from the store's thread, a
        label could grow an arena while the loop's event was being written to it); any other
        store in its own thread."""
        if self._inline_store:
            self.engine.observe_label(event, at)
            return
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._store_thread, self.engine.observe_label, event, at)

    async def drain(self) -> None:
        """Wait for background shadow work."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    async def close(self) -> None:
        """Finish background work and the store thread (at shutdown, before the store closes)."""
        await self.drain()
        self._store_thread.shutdown(wait=True)

    async def ping_store(self, timeout_s: float = 1.0) -> bool:
        """Whether the online store answers, asked from its own thread and awaited for
        ``timeout_s`` at most: the event loop scores meanwhile (waiting for a stalled store
        on it held up every request for the whole timeout)."""
        loop = asyncio.get_running_loop()
        try:
            ping = loop.run_in_executor(self._store_thread, self.engine.store.ping)
            return bool(await asyncio.wait_for(ping, timeout_s))
        except Exception:  # a failure or the timeout: not ready
            return False

    async def ping_log(self, timeout_s: float = 1.0) -> bool:
        """Whether the decision log answers a read, from a worker thread (like ``ping_store``,
        a stalled database must not hold the event loop), within ``timeout_s``."""
        try:
            read = asyncio.to_thread(self.log.find, "__readyz__", "-")
            await asyncio.wait_for(read, timeout_s)
        except Exception:
            return False
        return True


class _Context:
    """What the decisions of one request share."""

    def __init__(
        self,
        events: list[PaymentAttempt],
        rows: Sequence[Row],
        champion: Champion,
        policy: Policy,
        rules: RuleSet,
        kind: str,
    ) -> None:
        self.events, self.rows, self.champion = events, rows, champion
        self.policy, self.rules, self.kind = policy, rules, kind
        self.outcomes = evaluate_many(rules, events, rows)
        self.requests = [request_json(e) for e in events]

    def decide(
        self, model: list[Scored] | Fallback, at: datetime, started: float
    ) -> tuple[list[Decision], list[DecisionRecord]]:
        """Decide each row with the model's answer for it (``model[i]``), or why there is
        none; the decisions and their log records."""
        events, rows, rules, policy = self.events, self.rows, self.rules, self.policy
        version, outcomes = self.champion.version, self.outcomes
        latency_ms = round(_since(started) / timedelta(milliseconds=1), 3)
        decisions = [
            decide(
                event, rows[i], model if isinstance(model, str) else model[i], version,
                rules, policy, decision_id=new_id(), decided_at=at, latency_ms=latency_ms,
                outcome=outcomes[i],
            )
            for i, event in enumerate(events)
        ]  # fmt: skip
        records = [
            d.to_record(self.kind, request)
            for d, request in zip(decisions, self.requests, strict=True)
        ]
        return decisions, records


async def _decided(
    outcomes: Outcomes,
    scoring: asyncio.Future[list[float] | Fallback] | None,
    model: asyncio.Future[list[Scored] | Fallback] | None,
    policy: Policy,
    explain_at: float,
    early: Callable[[Decided], None],
) -> tuple[Decided, list[int]]:
    """A batch's decisions from the model's two answers (every score, then the flagged rows
    explained): the rows are decided as soon as the scores arrive and handed to ``early``
    while the model's worker explains the flagged ones, whose reasons are added then (the
    rules decide them, flagged, if they cannot be explained). Also the rows that changed
    after ``early``."""
    if scoring is None or model is None:
        decided = decide_columns(outcomes, "store_unavailable", policy)
        early(decided)
        return decided, []
    scores = await scoring
    if isinstance(scores, str):
        decided = decide_columns(outcomes, scores, policy)
        early(decided)
        return decided, []
    decided = decide_columns(outcomes, scores, policy)
    early(decided)
    flagged = [i for i, s in enumerate(scores) if s >= explain_at]
    explained = await model
    if isinstance(explained, str):  # the explanation timed out or failed
        decided.rule(outcomes, dict.fromkeys(flagged, explained))
    else:
        decided.explain({i: e.reasons for i, e in zip(flagged, explained, strict=True)})
    return decided, flagged


def _answers_of(
    decided: Decided,
    ids: Sequence[str],
    txids: Sequence[str],
    versions: tuple[str | None, str],
    rows: Iterable[int],
) -> list[Answer]:
    """The answers of a batch's ``rows`` (their latency is set once the log has them)."""
    a, s, r, f = decided.action, decided.score, decided.reasons, decided.fallback
    return [answer(ids[i], txids[i], a[i], s[i], r[i], *versions, f[i], 0.0) for i in rows]


def _labelled(decision: Mapping[str, Any], is_fraud: bool, at: datetime) -> PaymentAttempt:
    """The attempt a logged decision answered, with its label."""
    request = event_from_json(decision["request"])
    return dataclasses.replace(request, is_fraud=is_fraud, label_available_at=at)


def _free_later(*objects: object) -> None:
    """Keep a batch's objects (a hundred thousand or so) until the event loop's next turn:
    freed when the request's coroutine returns, they held up its answer by ~1.2 ms
    (bench/batch.py); the loop takes them after the answer has gone out."""
    asyncio.get_running_loop().call_soon(_nothing, objects)


def _nothing(objects: tuple[object, ...]) -> None:
    """``call_soon``'s callback: the handle lets go of ``objects`` once it ran."""


def _since(started: float) -> timedelta:
    return timedelta(seconds=time.perf_counter() - started)
