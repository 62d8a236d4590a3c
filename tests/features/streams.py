"""Hypothesis strategies: small random payment streams with ties, late events and duplicates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
from hypothesis import strategies as st

from riskline.features import (
    CARD,
    CUSTOMER,
    CUSTOMER_DEVICE,
    DEVICE,
    MERCHANT,
    TERMINAL,
    Feature,
    FeatureSet,
    Filter,
)

T0 = datetime(2026, 3, 1, tzinfo=UTC)
_S = timedelta(seconds=1)
_W1, _W5 = timedelta(seconds=60), timedelta(seconds=300)

# Every aggregation, both window kinds, a filter, a pair entity; small windows so they matter.
EVERY_AGG = FeatureSet(
    "every_agg",
    (
        Feature("value", column="amount_minor"),
        Feature("differs", column="ip_country", other="customer_country"),
        Feature("count", CARD, _W1),
        Feature("count", CARD, _W5, filter=Filter("channel", "==", "ecom")),
        Feature("count", CUSTOMER_DEVICE, _W5),
        Feature("sum", CARD, _W5, column="amount_minor"),
        Feature("mean", CUSTOMER, _W5, column="amount_minor"),
        Feature("std", CUSTOMER, _W5, column="amount_minor"),
        Feature("zscore", CUSTOMER, _W5, column="amount_minor"),
        Feature("ratio", CUSTOMER, _W1, column="amount_minor"),
        Feature("min", CARD, _W5, column="amount_minor"),
        Feature("max", CARD, _W1, column="amount_minor", filter=Filter("amount_minor", ">", 50)),
        Feature("distinct", CARD, _W5, column="merchant_id"),
        Feature("distinct", DEVICE, _W1, column="customer_id"),
        Feature("time_since_last", CUSTOMER, _W5),
        Feature("new_value", CUSTOMER, _W5, column="device_id"),
        Feature("new_value", CUSTOMER, _W1, column="ip_country"),
        Feature("count", MERCHANT, _W5, kind="bucketed", bucket=_W1),
        Feature("sum", MERCHANT, _W5, column="amount_minor", kind="bucketed", bucket=_W1),
        Feature("label_rate", MERCHANT, _W5, kind="bucketed", bucket=_W1, label_delay=10 * _S),
        Feature("label_rate", TERMINAL, _W5, kind="bucketed", bucket=_W1, label_delay=10 * _S),
        Feature("count", TERMINAL, 2 * _W1, kind="bucketed", bucket=_W1),
    ),
    allowed_lateness=timedelta(seconds=40),
    dedup_horizon=timedelta(seconds=200),
)


def _maybe(values: list[str]) -> st.SearchStrategy[str | None]:
    return st.one_of(st.none(), st.sampled_from(values))


@st.composite
def _event(draw: st.DrawFn, index: int) -> dict[str, object]:
    # Coarse times (multiples of 10 s) so ties and exact window/lateness boundaries happen.
    ts = T0 + draw(st.integers(0, 90)) * 10 * _S + draw(st.sampled_from([0, 0, 0, 1])) * _S / 2
    fraud = draw(st.booleans())
    return {
        "transaction_id": f"t{index}",
        "ts": ts,
        "amount_minor": draw(st.sampled_from([1, 7, 50, 51, 999, 12_345, 10**9])),
        "customer_id": draw(st.sampled_from(["c1", "c2", "c3"])),
        "card_token": draw(_maybe(["k1", "k2"])),
        "device_id": draw(_maybe(["d1", "d2", "d3"])),
        "merchant_id": draw(_maybe(["m1", "m2"])),
        "terminal_id": draw(_maybe(["x1", "x2"])),
        "ip_country": draw(_maybe(["GB", "FR", "NG"])),
        "customer_country": draw(st.sampled_from(["GB", "FR"])),
        "channel": draw(st.sampled_from(["ecom", "pos"])),
        "is_fraud": fraud,
        "label_available_at": ts + draw(st.integers(0, 40)) * 10 * _S if fraud else None,
    }


@st.composite
def streams(draw: st.DrawFn, max_size: int = 60) -> pl.DataFrame:
    """Events in arrival order: random times (so late events), ties, duplicated ids."""
    size = draw(st.integers(1, max_size))
    rows: list[dict[str, object]] = []
    for i in range(size):
        row = draw(_event(i))
        if rows and draw(st.integers(0, 9)) == 0:  # a duplicate id, maybe sent again later
            earlier = rows[draw(st.integers(0, len(rows) - 1))]
            row = (
                dict(earlier)
                if draw(st.booleans())
                else {**row, "transaction_id": earlier["transaction_id"]}
            )
            if draw(st.booleans()):
                row["ts"] = T0 + draw(st.integers(0, 90)) * 10 * _S
        rows.append(row)
    schema: dict[str, pl.DataType] = {
        "ts": pl.Datetime("us", "UTC"),
        "label_available_at": pl.Datetime("us", "UTC"),
        "amount_minor": pl.Int64(),
    }
    return pl.DataFrame(rows, schema_overrides=schema)
