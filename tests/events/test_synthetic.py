"""The planted fraud scenarios are really in the generated payments."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from riskline.errors import InvalidRequestError
from riskline.events import DriftSpec, PaymentsSpec, conform, generate_payments
from tests.values import num, span

START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def payments() -> pl.DataFrame:
    return generate_payments(PaymentsSpec(rows=400_000, seed=11, days=30))


def _scenario(df: pl.DataFrame, name: str) -> pl.DataFrame:
    return df.filter(pl.col("fraud_scenario") == name)


def test_fraud_rate_is_close_to_requested(payments: pl.DataFrame) -> None:
    assert payments.height == 400_000
    assert num(payments["is_fraud"].mean()) == pytest.approx(0.005, abs=0.0005)
    assert set(payments["fraud_scenario"].drop_nulls().unique()) == {
        "card_testing",
        "account_takeover",
        "compromised_terminal",
        "high_amount",
    }


def test_fraud_rate_is_configurable() -> None:
    df = generate_payments(PaymentsSpec(rows=50_000, seed=3, fraud_rate=0.02))
    assert num(df["is_fraud"].mean()) == pytest.approx(0.02, abs=0.002)


def test_card_testing_is_bursts_of_tiny_amounts_within_minutes(payments: pl.DataFrame) -> None:
    ct = _scenario(payments, "card_testing").sort("card_token", "ts")
    assert num(ct["amount_minor"].max()) < 300  # under 3.00
    assert num(payments.filter(~pl.col("is_fraud"))["amount_minor"].median()) > 1_000
    # Each card-testing attempt has at least 4 others on the same card within 10 minutes.
    near = (
        ct.join(ct, on="card_token", suffix="_o")
        .filter(
            (pl.col("transaction_id") != pl.col("transaction_id_o"))
            & ((pl.col("ts") - pl.col("ts_o")).abs() <= timedelta(minutes=10))
        )
        .group_by("transaction_id")
        .agg(pl.len().alias("n"), pl.col("merchant_id_o").n_unique())
    )
    assert near.height == ct.height
    assert num(near["n"].min()) >= 4
    assert num(near["merchant_id_o"].median()) >= 3  # spread across merchants


def test_account_takeover_uses_a_never_seen_device_and_a_foreign_ip(
    payments: pl.DataFrame,
) -> None:
    ato = _scenario(payments, "account_takeover")
    own = payments.filter(~pl.col("is_fraud") & pl.col("device_id").is_not_null())
    overlap = ato.join(own, on=["customer_id", "device_id"], how="inner")
    assert overlap.height == 0
    assert (ato["ip_country"] != ato["customer_country"]).all()
    typical = own.group_by("customer_id").agg(pl.col("amount_minor").median().alias("typ"))
    ratio = ato.join(typical, on="customer_id").select(pl.col("amount_minor") / pl.col("typ"))
    assert num(ratio.to_series().median()) > 5


def test_compromised_terminal_fraud_follows_a_visit_to_that_terminal(
    payments: pl.DataFrame,
) -> None:
    fraud = _scenario(payments, "compromised_terminal").select("transaction_id", "card_token", "ts")
    visits = payments.filter(pl.col("terminal_id").is_not_null() & ~pl.col("is_fraud")).select(
        "card_token", "terminal_id", pl.col("ts").alias("visit_ts")
    )
    followed = fraud.join(visits, on="card_token").filter(
        (pl.col("ts") - pl.col("visit_ts") >= timedelta(days=1))
        & (pl.col("ts") - pl.col("visit_ts") <= timedelta(days=10))
    )
    assert followed["transaction_id"].n_unique() == fraud.height
    # A few terminals explain the fraud: each compromised terminal defrauds several cards.
    per_terminal = followed.group_by("terminal_id").agg(pl.col("card_token").n_unique())
    assert num(per_terminal["card_token"].max()) >= 5


def test_high_amount_fraud_is_far_above_the_customers_usual_spend(
    payments: pl.DataFrame,
) -> None:
    high = _scenario(payments, "high_amount")
    typical = (
        payments.filter(~pl.col("is_fraud"))
        .group_by("customer_id")
        .agg(pl.col("amount_minor").median().alias("typ"))
    )
    ratio = high.join(typical, on="customer_id").select(pl.col("amount_minor") / pl.col("typ"))
    assert num(ratio.to_series().median()) > 20


def test_labels_arrive_after_the_event_and_only_for_fraud(payments: pl.DataFrame) -> None:
    fraud = payments.filter(pl.col("is_fraud"))
    delay = fraud["label_available_at"] - fraud["ts"]
    assert span(delay.min()) >= timedelta(days=2)
    assert span(delay.max()) <= timedelta(days=60)
    assert payments.filter(~pl.col("is_fraud"))["label_available_at"].null_count() == (
        payments.height - fraud.height
    )


def test_background_spend_is_mostly_at_home_and_at_usual_merchants(
    payments: pl.DataFrame,
) -> None:
    genuine = payments.filter(~pl.col("is_fraud"))
    ecom = genuine.filter(pl.col("channel") == "ecom")
    assert num((ecom["ip_country"] == ecom["customer_country"]).mean()) > 0.9
    per_customer = genuine.group_by("customer_id", "merchant_id").len()
    top = per_customer.sort("len", descending=True).group_by("customer_id").head(6)
    assert num(top["len"].sum()) / genuine.height > 0.8
    by_hour = genuine.group_by(pl.col("ts").dt.hour()).len()
    night = num(by_hour.filter(pl.col("ts") == 3)["len"][0])
    noon = num(by_hour.filter(pl.col("ts") == 12)["len"][0])
    assert noon > 5 * night  # daily seasonality


def test_output_follows_the_schema(payments: pl.DataFrame) -> None:
    conformed = conform(payments).collect()
    assert conformed.schema == payments.schema
    assert payments["transaction_id"].is_unique().all()
    assert payments["ts"].is_sorted()
    assert payments["card_token"].str.starts_with("tok_").all()
    assert num(payments["amount_minor"].min()) >= 0


def _digest(df: pl.DataFrame, path: Path) -> str:
    df.write_parquet(path, compression="zstd")
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_seed_gives_identical_bytes_and_another_seed_differs(tmp_path: Path) -> None:
    a = _digest(generate_payments(PaymentsSpec(rows=20_000, seed=5)), tmp_path / "a.parquet")
    b = _digest(generate_payments(PaymentsSpec(rows=20_000, seed=5)), tmp_path / "b.parquet")
    c = _digest(generate_payments(PaymentsSpec(rows=20_000, seed=6)), tmp_path / "c.parquet")
    assert a == b
    assert a != c


def test_drift_inflates_amounts_and_brings_foreign_ips_and_new_devices() -> None:
    at = START + timedelta(days=15)
    base = generate_payments(PaymentsSpec(rows=100_000, seed=2))
    drifted = generate_payments(PaymentsSpec(rows=100_000, seed=2, drift=DriftSpec(starts_at=at)))
    after = pl.col("ts") >= at
    amount_base = num(base.filter(after)["amount_minor"].mean())
    amount_drift = num(drifted.filter(after)["amount_minor"].mean())
    assert amount_drift / amount_base == pytest.approx(1.3, rel=0.02)
    before = drifted.filter(~after)["amount_minor"].mean()
    assert before == base.filter(~after)["amount_minor"].mean()

    def foreign(df: pl.DataFrame) -> float:
        ecom = df.filter(after & (pl.col("channel") == "ecom"))
        return num((ecom["ip_country"] != ecom["customer_country"]).mean())

    assert foreign(drifted) > foreign(base) + 0.15
    assert drifted["device_id"].n_unique() > base["device_id"].n_unique() * 1.5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rows": 0}, "rows must be at least 1, got 0"),
        ({"rows": 10, "days": 0}, "days must be at least 1"),
        ({"rows": 10, "fraud_rate": 0.7}, "fraud_rate must lie in"),
        ({"rows": 10, "seed": -1}, "seed must be >= 0"),
    ],
)
def test_bad_specs_are_rejected(kwargs: dict[str, int | float], message: str) -> None:
    with pytest.raises(InvalidRequestError, match=message):
        PaymentsSpec(**kwargs)  # type: ignore[arg-type]
