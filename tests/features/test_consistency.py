"""Online replay equals offline backfill, exactly, for any event stream."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import polars as pl
from hypothesis import HealthCheck, given, settings

from riskline.events import PaymentsSpec, generate_payments
from riskline.features import EmbeddedStore, RedisStore, compute_offline
from riskline.features.check import check
from riskline.features.online import OnlineEngine
from riskline.features.store import StateStore
from riskline.fraud import FRAUD_FEATURES
from tests.features.streams import EVERY_AGG, streams


def _mismatches(
    events: pl.DataFrame, store: StateStore | EmbeddedStore, order: str
) -> dict[str, int]:
    report = check(EVERY_AGG, events, OnlineEngine(EVERY_AGG, store), order=order)  # type: ignore[arg-type]
    assert report.events == events.height
    return {k: v for k, v in report.mismatches.items() if v}


@given(events=streams())
def test_online_equals_offline_in_arrival_order(events: pl.DataFrame) -> None:
    """Late events, equal timestamps and duplicate ids, in the order they arrived."""
    assert _mismatches(events, EmbeddedStore().open(), "arrival") == {}


@given(events=streams())
@settings(max_examples=50)
def test_online_equals_offline_in_time_order(events: pl.DataFrame) -> None:
    """Files are processed in time order; rows out of order in the file are normal input."""
    assert _mismatches(events, EmbeddedStore().open(), "ts") == {}


def test_fraud_feature_set_agrees_on_generated_payments() -> None:
    events = generate_payments(PaymentsSpec(rows=20_000, seed=3, days=3))
    report = check(FRAUD_FEATURES, events, OnlineEngine(FRAUD_FEATURES, EmbeddedStore().open()))
    assert report.features == len(FRAUD_FEATURES.features)
    assert report.total == 0, {k: v for k, v in report.mismatches.items() if v}


@given(events=streams(max_size=40))
@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_redis_store_equals_offline_in_arrival_order(
    redis_stores: Callable[[], RedisStore], events: pl.DataFrame
) -> None:
    """The Redis store (a Lua script per event) follows exactly the same rules."""
    assert _mismatches(events, redis_stores(), "arrival") == {}


def test_redis_store_agrees_on_generated_payments(redis_stores: Callable[[], RedisStore]) -> None:
    events = generate_payments(PaymentsSpec(rows=5_000, seed=4, days=2))
    report = check(FRAUD_FEATURES, events, OnlineEngine(FRAUD_FEATURES, redis_stores()))
    assert report.total == 0, {k: v for k, v in report.mismatches.items() if v}


_TEXT = (
    "card_token",
    "device_id",
    "merchant_id",
    "terminal_id",
    "ip_country",
    "customer_country",
    "channel",
)
_AT = datetime(2026, 3, 1, tzinfo=UTC)


def _stream(*events: dict[str, object]) -> pl.DataFrame:
    """Payments in arrival order: ``transaction_id`` and ``ts`` given, the rest defaults."""
    base = {"amount_minor": 1, "customer_id": "c1", "is_fraud": False, "label_available_at": None}
    return pl.DataFrame(
        [base | dict.fromkeys(_TEXT) | e for e in events],
        schema_overrides={"label_available_at": pl.Datetime("us", "UTC")}
        | dict.fromkeys(_TEXT, pl.String),
    )


def test_redis_store_counts_an_id_seen_again_after_its_dedup_horizon(
    redis_stores: Callable[[], RedisStore],
) -> None:
    """An id counted again once its dedup horizon has passed is a second event in the
    windows, not the first one moved (found by the test above: the Redis store's sorted-set
    member was the id and payload, the same for both)."""
    again = EVERY_AGG.dedup_horizon + timedelta(seconds=10)
    events = _stream(
        *({"transaction_id": "t0", "ts": ts} for ts in (_AT, _AT + again, _AT))
    )  # the last one: late, and a duplicate
    assert _mismatches(events, redis_stores(), "arrival") == {}
    assert _mismatches(events, EmbeddedStore().open(), "arrival") == {}


def test_a_late_events_label_never_counts_before_the_event(
    redis_stores: Callable[[], RedisStore],
) -> None:
    """A late fraud whose label was due (``ts + label_delay``) before it arrived: offline
    counted the label in the fraud's own features, which no live store can know (found by
    ``test_online_equals_offline_in_arrival_order``). A label counts from ``eff`` at the
    earliest."""
    minute = timedelta(minutes=1)
    late = _AT + 5 * minute - timedelta(seconds=20)  # within allowed_lateness
    assert EVERY_AGG.allowed_lateness > timedelta(seconds=20)
    events = _stream(
        {"transaction_id": "t0", "ts": _AT, "terminal_id": "x1"},
        {"transaction_id": "t1", "ts": _AT + 5 * minute, "terminal_id": "x1"},
        {
            "transaction_id": "t2",
            "ts": late,
            "terminal_id": "x1",
            "is_fraud": True,
            "label_available_at": late,
        },
        {"transaction_id": "t3", "ts": _AT + 7 * minute, "terminal_id": "x1"},
    )
    assert _mismatches(events, EmbeddedStore().open(), "arrival") == {}
    assert _mismatches(events, redis_stores(), "arrival") == {}
    rates = compute_offline(EVERY_AGG, events, order="arrival")["label_rate_5m_by_terminal"]
    assert rates.to_list()[2:] == [0.0, 0.5]  # its own label: not yet; then 1 of t1, t2
