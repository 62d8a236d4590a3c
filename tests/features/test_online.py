"""The embedded store survives a restart; future events and labels never change a feature."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from riskline.errors import InvalidFeatureError, StoreUnavailableError
from riskline.events import PaymentAttempt, PaymentAttempts, PaymentsSpec, generate_payments
from riskline.features import (
    CARD,
    EmbeddedStore,
    Feature,
    FeatureRows,
    FeatureSet,
    FeatureVector,
    MemoryStore,
    OnlineEngine,
    RedisStore,
    compute_offline,
    replay,
)
from riskline.features.check import attempts, check
from riskline.fraud import FRAUD_FEATURES


def _events(days: int = 2) -> pl.DataFrame:
    return generate_payments(PaymentsSpec(rows=3_000 * days, seed=9, days=days))


def test_restart_of_the_embedded_store_loses_nothing(tmp_path: Path) -> None:
    events = list(attempts(_events()))
    half = len(events) // 2
    straight = [
        v.values for v in replay(OnlineEngine(FRAUD_FEATURES, EmbeddedStore().open()), events)
    ]
    journal = tmp_path / "state.journal"
    first = EmbeddedStore(journal).open()
    before = [v.values for v in replay(OnlineEngine(FRAUD_FEATURES, first), events[:half])]
    first.close()  # the process stops; state lives only in the journal now
    second = EmbeddedStore(journal).open()
    after = [v.values for v in replay(OnlineEngine(FRAUD_FEATURES, second), events[half:])]
    second.close()
    assert before + after == straight[:half] + straight[half:]
    assert any(v["count_1d_by_card"] for v in after)  # state from before the restart is used


def test_future_events_and_labels_never_change_earlier_features() -> None:
    events = _events()
    cut = events["ts"].min() + timedelta(days=1)  # type: ignore[operator]
    past = events.filter(pl.col("ts") < cut)
    base = compute_offline(FRAUD_FEATURES, past)
    # Labels of past fraud that arrive after the cut, and all future events, are added.
    everything = compute_offline(FRAUD_FEATURES, events).filter(pl.col("ts") < cut)
    assert base.select(FRAUD_FEATURES.names).equals(everything.select(FRAUD_FEATURES.names))


def test_a_label_is_used_only_once_it_has_arrived() -> None:
    events = _events(days=6).with_columns(
        pl.lit(False).alias("is_fraud"),
        pl.lit(None, pl.Datetime("us", "UTC")).alias("label_available_at"),
    )
    first = events.row(0, named=True)
    late = first["ts"] + timedelta(days=3, hours=1)  # after the 3-day minimum delay
    labelled = events.with_columns(
        pl.when(pl.col("transaction_id") == first["transaction_id"])
        .then(True)
        .otherwise(pl.col("is_fraud"))
        .alias("is_fraud"),
        pl.when(pl.col("transaction_id") == first["transaction_id"])
        .then(pl.lit(late))
        .otherwise(pl.col("label_available_at"))
        .alias("label_available_at"),
    )
    name = "label_rate_30d_by_merchant"
    without = compute_offline(FRAUD_FEATURES, events)[name]
    with_label = compute_offline(FRAUD_FEATURES, labelled)
    merchant = with_label.filter(pl.col("merchant_id") == first["merchant_id"])
    # The label's bucket (its day) is never used before the next day starts.
    before = merchant.filter(
        pl.col("ts") < late.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    )
    after = merchant.filter(pl.col("ts") >= before["ts"].max())
    assert (before[name].fill_null(0) == 0).all()
    assert before.height > 0
    assert (after.tail(10)[name] > 0).all()  # from the next day on, the label counts
    assert without.fill_null(0).max() == 0


def test_unreachable_redis_is_a_clear_store_error() -> None:
    store = RedisStore("redis://127.0.0.1:1/0").open()  # nothing listens on port 1
    engine = OnlineEngine(FRAUD_FEATURES, store)
    event = next(attempts(_events()))
    with pytest.raises(StoreUnavailableError, match=re.escape("Redis at 'redis://127.0.0.1:1/0'")):
        engine.observe(event)
    assert store.ping() is False
    store.close()


def test_redis_state_is_shared_by_a_new_connection(
    redis_stores: Callable[[], RedisStore],
) -> None:
    events = list(attempts(_events()))[:400]
    first = redis_stores()
    straight = [v.values for v in replay(OnlineEngine(FRAUD_FEATURES, first), events)]
    again = RedisStore(first._url, prefix=first._prefix).open()  # a restarted process
    repeat = OnlineEngine(FRAUD_FEATURES, again).observe(events[-1])
    again.close()
    assert repeat.counted is False  # already seen: a duplicate never counts twice
    assert repeat.values["count_1d_by_card"] == straight[-1]["count_1d_by_card"]


def test_the_journal_rebuilds_state_for_a_changed_feature_set(tmp_path: Path) -> None:
    """The journal keeps raw column values, so a new feature set starts from what was seen."""
    events = list(attempts(_events()))
    half = len(events) // 2
    cards = FeatureSet(
        "cards", tuple(f for f in FRAUD_FEATURES.features if f.entity in (None, CARD))
    )
    straight = [v.values for v in replay(OnlineEngine(cards, EmbeddedStore().open()), events)]
    journal = tmp_path / "state.journal"
    first = EmbeddedStore(journal).open()
    list(replay(OnlineEngine(FRAUD_FEATURES, first), events[:half]))
    first.close()
    second = EmbeddedStore(journal).open()
    after = [v.values for v in replay(OnlineEngine(cards, second), events[half:])]
    second.close()
    assert after == straight[half:]


def test_one_embedded_store_serves_one_feature_set() -> None:
    store = EmbeddedStore().open()
    OnlineEngine(FRAUD_FEATURES, store)
    OnlineEngine(FRAUD_FEATURES, store)  # the same set again: the same state
    other = FeatureSet("other", (Feature("count", CARD, timedelta(hours=1)),))
    with pytest.raises(InvalidFeatureError, match="open a store per feature set"):
        OnlineEngine(other, store)


def test_a_journal_from_an_older_format_is_a_clear_error(tmp_path: Path) -> None:
    journal = tmp_path / "state.journal"
    journal.write_bytes(b'["e","t1",1,300000000,7776000000000,[],[]]\n')
    store = EmbeddedStore(journal).open()
    with pytest.raises(StoreUnavailableError, match="older riskline"):
        OnlineEngine(FRAUD_FEATURES, store)
    store.close()


@pytest.mark.parametrize(
    "features",
    [
        (Feature("value", column="amount_minor"),),  # row-level only: no state at all
        (Feature("count", CARD, timedelta(hours=1)),),  # one key column, nothing else
    ],
)
def test_the_smallest_feature_sets_agree_online_and_offline(features: tuple[Feature, ...]) -> None:
    fs = FeatureSet("small", features)
    report = check(fs, _events(1), OnlineEngine(fs, EmbeddedStore().open()))
    assert report.total == 0


def test_a_batch_is_observed_exactly_as_its_events_one_by_one(tmp_path: Path) -> None:
    """In batches of events or of columns (``PaymentAttempts``), as one by one."""
    events = list(attempts(_events()))
    events[100:100] = events[40:60]  # retries of seen ids: scored, never counted twice
    one_by_one = OnlineEngine(FRAUD_FEATURES, EmbeddedStore().open())
    expected = [one_by_one.observe(e) for e in events]
    journal = tmp_path / "state.journal"
    store = EmbeddedStore(journal).open()
    batched = OnlineEngine(FRAUD_FEATURES, store)
    got: list[FeatureVector] = []
    sizes = iter([1, 7, 500, 64, 2_000] * 100)  # the arenas grow inside some batches
    columns = iter([False, True] * 300)  # half the batches as columns, as the API's are
    while len(got) < len(events):
        part = events[len(got) : len(got) + next(sizes)]
        rows = batched.observe_many(PaymentAttempts.of(part) if next(columns) else part)
        assert np.array_equal(rows.matrix, FeatureRows.of(rows.names, rows.vectors).matrix, True)
        got += rows.vectors
    assert [(v.values, v.counted, v.eff_us) for v in got] == [
        (v.values, v.counted, v.eff_us) for v in expected
    ]
    assert sum(not v.counted for v in got) >= 20
    store.close()  # the batches' journal rebuilds the same state
    again = OnlineEngine(FRAUD_FEATURES, EmbeddedStore(journal).open())
    probe = events[-1]
    assert again.observe(probe).values == one_by_one.observe(probe).values


def _attempt(txid: str, ts: datetime) -> PaymentAttempt:
    return PaymentAttempt(txid, ts, 1_000, "c1", "tok1", merchant_id="m1", terminal_id="T1")


@pytest.mark.parametrize("kind", ["embedded", "memory", "redis"])
def test_a_label_delivered_again_counts_once(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A label retried (after a crash between the decision log and the store, or by a
    client) is counted once; the embedded store remembers it across a restart."""
    journal = tmp_path / "state.journal"

    def engine() -> OnlineEngine:
        if kind == "embedded":
            return OnlineEngine(FRAUD_FEATURES, EmbeddedStore(journal).open())
        if kind == "memory":
            return OnlineEngine(FRAUD_FEATURES, MemoryStore().open())
        stores: Callable[[], RedisStore] = request.getfixturevalue("redis_stores")
        return OnlineEngine(FRAUD_FEATURES, stores())

    start = datetime(2026, 3, 1, 12, tzinfo=UTC)
    fraud = _attempt("f1", start)
    labelled_at = start + timedelta(days=4)
    live = engine()
    live.observe(fraud)
    assert live.observe_label(fraud, labelled_at) is True
    if kind == "embedded":
        live.store.close()  # a restart between the two deliveries
        live = engine()
    assert live.observe_label(fraud, labelled_at) is False
    later = live.observe(_attempt("l1", start + timedelta(days=5)))
    assert later.values["label_rate_30d_by_merchant"] == 1.0  # one label, one earlier attempt
    # The same id again past its dedup horizon is another event, with a label of its own.
    again = _attempt("f1", start + FRAUD_FEATURES.dedup_horizon + timedelta(days=1))
    assert live.observe(again).counted
    assert live.observe_label(again, again.ts + timedelta(days=4)) is True
    if kind != "redis":  # the fixture deletes a Redis store's keys, then closes it
        live.store.close()
