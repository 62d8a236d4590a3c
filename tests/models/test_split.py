"""Time split: bounds, gaps and no label from the future (issue 4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from riskline.errors import InvalidModelError, InvalidSplitError
from riskline.models import TARGET, BoosterParams, SplitSpec, TrainingConfig, split_by_time, train

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def _events(days: int = 30, per_day: int = 40) -> pl.DataFrame:
    n = days * per_day
    ts = [T0 + timedelta(minutes=36 * i) for i in range(n)]
    rng = np.random.default_rng(0)
    x = rng.normal(size=n)
    fraud = x > 1.5
    return pl.DataFrame(
        {
            "transaction_id": [f"t{i}" for i in range(n)],
            "ts": ts,
            "amount_minor": np.full(n, 1_000),
            "card_token": [f"c{i % 50}" for i in range(n)],
            "x": x,
            "is_fraud": fraud,
            "label_available_at": [
                t + 4 * DAY if f else None for t, f in zip(ts, fraud, strict=True)
            ],
        },
        schema_overrides={"label_available_at": pl.Datetime("us", "UTC")},
    )


def test_default_split_has_gaps_of_the_label_delay() -> None:
    split = split_by_time(_events(), SplitSpec(label_delay=3 * DAY))
    assert split.validation_start - split.train_end == 3 * DAY
    assert split.test_start - split.validation_end == 3 * DAY
    assert split.labels_at == split.test_start
    assert split.train["ts"].max() < split.train_end  # type: ignore[operator]
    assert split.validation["ts"].min() >= split.validation_start  # type: ignore[operator]
    assert split.test["ts"].min() >= split.test_start  # type: ignore[operator]


def test_explicit_bounds_are_used() -> None:
    spec = SplitSpec(train_end=T0 + 10 * DAY, test_start=T0 + 20 * DAY, label_delay=2 * DAY)
    split = split_by_time(_events(), spec)
    assert (split.train_end, split.validation_start) == (T0 + 10 * DAY, T0 + 12 * DAY)
    assert (split.validation_end, split.test_start) == (T0 + 18 * DAY, T0 + 20 * DAY)


def test_label_arriving_after_labels_at_is_not_used() -> None:
    """Issue 4: a label that becomes available after the split is treated as genuine."""
    events = _events()
    spec = SplitSpec(train_end=T0 + 10 * DAY, test_start=T0 + 20 * DAY, label_delay=2 * DAY)
    planted = "t100"  # day 2.5, inside train; its chargeback arrives inside the test period
    late = T0 + 25 * DAY
    events = events.with_columns(
        pl.when(pl.col("transaction_id") == planted)
        .then(True)
        .otherwise(pl.col("is_fraud"))
        .alias("is_fraud"),
        pl.when(pl.col("transaction_id") == planted)
        .then(late)
        .otherwise(pl.col("label_available_at"))
        .alias("label_available_at"),
    )
    split = split_by_time(events, spec)
    row = split.train.filter(pl.col("transaction_id") == planted)
    assert row["is_fraud"].to_list() == [True]
    assert row[TARGET].to_list() == [0]
    # every other train label is used: they arrived 4 days after the event, before test_start
    others = split.train.filter(pl.col("transaction_id") != planted)
    assert others[TARGET].sum() == others["is_fraud"].sum()
    # test rows are evaluated on every label in the file, the planted one's kind included
    assert split.test[TARGET].sum() == split.test["is_fraud"].sum()


def test_training_refuses_when_every_label_is_from_the_future() -> None:
    events = _events().with_columns(
        pl.when(pl.col("is_fraud")).then(T0 + 40 * DAY).alias("label_available_at")
    )
    split = split_by_time(events, SplitSpec(label_delay=3 * DAY))
    assert split.train["is_fraud"].sum() > 0
    with pytest.raises(InvalidModelError, match="the train period has no positive label known"):
        train(split, TrainingConfig(("x",), booster=BoosterParams(max_rounds=5)), "v")


def test_labels_at_after_test_start_is_a_leak() -> None:
    spec = SplitSpec(test_start=T0 + 20 * DAY, labels_at=T0 + 21 * DAY)
    with pytest.raises(InvalidSplitError, match=r"labels_at=.* is after test_start"):
        split_by_time(_events(), spec)


def test_bounds_out_of_order_are_refused() -> None:
    spec = SplitSpec(train_end=T0 + 19 * DAY, test_start=T0 + 20 * DAY, label_delay=3 * DAY)
    with pytest.raises(InvalidSplitError, match="is not before"):
        split_by_time(_events(), spec)


def test_naive_bound_is_refused() -> None:
    with pytest.raises(InvalidSplitError, match="train_end must be timezone-aware"):
        SplitSpec(train_end=datetime(2026, 1, 5))  # noqa: DTZ001


def test_missing_label_column_is_refused() -> None:
    with pytest.raises(InvalidSplitError, match="no label column 'is_fraud'"):
        split_by_time(_events().drop("is_fraud"), SplitSpec())
