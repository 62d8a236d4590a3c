"""Shared model fixtures: a small generated payment set backfilled once per session."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest

from riskline.events import PaymentsSpec, generate_payments
from riskline.features import compute_offline
from riskline.fraud import FRAUD_FEATURES
from riskline.models import (
    BoosterParams,
    SplitSpec,
    TrainedModel,
    TrainingConfig,
    split_by_time,
    train,
)

SMALL = BoosterParams(max_rounds=60, early_stopping_rounds=15, num_threads=2)


def mature_events(rows: int, seed: int) -> pl.DataFrame:
    """Generated payments whose fraud labels arrive 3 days and 1 hour after the event."""
    events = generate_payments(PaymentsSpec(rows=rows, seed=seed, days=20))
    arrives = pl.when(pl.col("is_fraud")).then(pl.col("ts") + timedelta(days=3, hours=1))
    return events.with_columns(arrives.alias("label_available_at"))


@pytest.fixture(scope="session")
def backfilled() -> pl.DataFrame:
    return compute_offline(FRAUD_FEATURES, mature_events(40_000, seed=11))


@pytest.fixture(scope="session")
def trained(backfilled: pl.DataFrame) -> TrainedModel:
    split = split_by_time(backfilled, SplitSpec(label_delay=timedelta(days=3)))
    config = TrainingConfig(FRAUD_FEATURES.names, booster=SMALL)
    return train(split, config, FRAUD_FEATURES.version)
