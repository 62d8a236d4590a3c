"""A synthetic feature frame where one feature (``count_5m_by_card``) decides the label."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from riskline.models import (
    BoosterParams,
    SplitSpec,
    TrainedModel,
    TrainingConfig,
    split_by_time,
    train,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
FEATURES = ("count_5m_by_card", "value_amount_minor", "time_since_last_30d_by_card")
SMALL = BoosterParams(max_rounds=40, early_stopping_rounds=10, min_child_samples=20, num_threads=2)


def planted_frame(rows: int = 30_000, seed: int = 5) -> pl.DataFrame:
    """Fraud iff ``count_5m_by_card >= 4`` (plus 1% label noise); the others are noise."""
    rng = np.random.default_rng(seed)
    count = rng.poisson(0.3, rows) + np.where(rng.random(rows) < 0.02, 5, 0)
    fraud = (count >= 4) ^ (rng.random(rows) < 0.01)
    ts = [T0 + timedelta(seconds=int(s)) for s in np.sort(rng.integers(0, 30 * 86_400, rows))]
    since = np.where(rng.random(rows) < 0.1, np.nan, rng.exponential(3_600, rows))
    return pl.DataFrame(
        {
            "transaction_id": [f"t{i}" for i in range(rows)],
            "ts": ts,
            "amount_minor": rng.integers(100, 20_000, rows),
            "card_token": [f"c{i}" for i in rng.integers(0, 3_000, rows)],
            "is_fraud": fraud,
            "count_5m_by_card": count,
            "time_since_last_30d_by_card": since,
        }
    ).with_columns(pl.col("amount_minor").alias("value_amount_minor"))


def planted_model(frame: pl.DataFrame) -> TrainedModel:
    split = split_by_time(frame, SplitSpec(label_delay=timedelta(days=1)))
    return train(split, TrainingConfig(FEATURES, booster=SMALL), "planted-v1")
