"""Hand-written baselines for the velocity and amount windows of the fraud feature set.

The same windows as riskline's engine ([t - w, t), strictly before the event), written
directly in DuckDB SQL (RANGE windows) and in Polars (rolling by group), to measure how close
riskline's general engine comes to a hand-tuned query. Used by bench/features.py.
"""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import polars as pl

ENTITIES = {"card": "card_token", "customer": "customer_id", "device": "device_id"}
VELOCITY_S = {"5m": 300, "1h": 3_600, "1d": 86_400}
AMOUNT_S = {"7d": 7 * 86_400, "30d": 30 * 86_400}


def duckdb_seconds(path: Path) -> float:
    """Counts per entity and window, plus customer amount mean/std over 7 and 30 days."""
    selects = []
    for entity, column in ENTITIES.items():
        for label, seconds in VELOCITY_S.items():
            selects.append(
                f"count(*) OVER (PARTITION BY {column} ORDER BY t RANGE BETWEEN "
                f"{seconds * 1_000_000} PRECEDING AND 1 PRECEDING) AS count_{label}_by_{entity}"
            )
    for label, seconds in AMOUNT_S.items():
        window = (
            f"OVER (PARTITION BY customer_id ORDER BY t RANGE BETWEEN "
            f"{seconds * 1_000_000} PRECEDING AND 1 PRECEDING)"
        )
        selects.append(f"avg(amount_minor) {window} AS mean_{label}")
        selects.append(f"stddev_pop(amount_minor) {window} AS std_{label}")
    query = (
        f"SELECT transaction_id, {', '.join(selects)} FROM "
        f"(SELECT *, epoch_us(ts) AS t FROM read_parquet('{path}'))"
    )
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    started = time.perf_counter()
    con.execute(f"CREATE TABLE out AS {query}")
    seconds = time.perf_counter() - started
    con.close()
    return seconds


def polars_seconds(path: Path) -> float:
    """The same windows as ``duckdb_seconds`` with Polars rolling expressions."""
    frame = pl.read_parquet(path)
    started = time.perf_counter()
    frame = frame.with_columns(pl.lit(1, pl.Int64).alias("one"))
    exprs = []
    one = pl.col("one")
    for entity, column in ENTITIES.items():
        for label, seconds in VELOCITY_S.items():
            exprs.append(
                one.repeat_by(1)
                .list.first()
                .rolling_sum_by("ts", f"{seconds}s", closed="left")
                .over(column)
                .alias(f"count_{label}_by_{entity}")
            )
    for label, seconds in AMOUNT_S.items():
        amount = pl.col("amount_minor").cast(pl.Float64)
        exprs.append(
            amount.rolling_mean_by("ts", f"{seconds}s", closed="left")
            .over("customer_id")
            .alias(f"mean_{label}")
        )
        exprs.append(
            amount.rolling_std_by("ts", f"{seconds}s", closed="left", ddof=0)
            .over("customer_id")
            .alias(f"std_{label}")
        )
    frame.lazy().select("transaction_id", *exprs).collect()
    return time.perf_counter() - started
