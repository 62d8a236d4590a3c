"""The payment schema: required and optional columns, casting, tokenisation."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import polars as pl
import pytest

from riskline.errors import SchemaError
from riskline.events import (
    PAYMENT_COLUMNS,
    REQUIRED_COLUMNS,
    PaymentAttempt,
    conform,
    tokenize_pan,
)

AT = datetime(2026, 1, 1, tzinfo=UTC)


def test_dataclass_and_column_table_describe_the_same_fields() -> None:
    assert [f.name for f in dataclasses.fields(PaymentAttempt)][:3] == [
        "transaction_id",
        "ts",
        "amount_minor",
    ]
    assert {f.name for f in dataclasses.fields(PaymentAttempt)} == {c.name for c in PAYMENT_COLUMNS}
    assert REQUIRED_COLUMNS == ("transaction_id", "ts", "amount_minor")


def test_minimal_frame_with_only_required_columns_is_accepted_and_cast() -> None:
    raw = pl.DataFrame(
        {
            "transaction_id": ["a", "b"],
            "ts": [datetime(2026, 1, 1, 12), datetime(2026, 1, 1, 13)],  # noqa: DTZ001 (naive = UTC)
            "amount_minor": pl.Series([100, 250], dtype=pl.Int32),
            "card_token": ["tok_1", "tok_1"],
            "extra": [1, 2],
        }
    )
    out = conform(raw).collect()
    assert out.schema["ts"] == pl.Datetime("us", "UTC")
    assert out.schema["amount_minor"] == pl.Int64
    assert out["ts"][0] == datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert "extra" in out.columns


def test_missing_required_column_is_named() -> None:
    raw = pl.DataFrame({"transaction_id": ["a"], "amount_minor": [1], "card_token": ["t"]})
    with pytest.raises(SchemaError, match="missing required column\\(s\\) ts"):
        conform(raw)


def test_a_customer_or_card_key_is_required() -> None:
    raw = pl.DataFrame(
        {"transaction_id": ["a"], "ts": [datetime(2026, 1, 1, tzinfo=UTC)], "amount_minor": [1]}
    )
    with pytest.raises(SchemaError, match="customer_id or a card_token"):
        conform(raw)


def test_wrongly_typed_column_is_named() -> None:
    raw = pl.DataFrame(
        {
            "transaction_id": ["a"],
            "ts": [datetime(2026, 1, 1, tzinfo=UTC)],
            "amount_minor": [1.5],
            "card_token": ["t"],
        }
    )
    with pytest.raises(SchemaError, match="column 'amount_minor' has type Float64"):
        conform(raw)


@pytest.mark.parametrize("lazy", [False, True])
def test_nulls_in_required_columns_are_named_with_their_count(lazy: bool) -> None:
    """A row with no time used to get features in backfill and crash ``features check``."""
    at = datetime(2026, 1, 1, tzinfo=UTC)
    raw = pl.DataFrame(
        {
            "transaction_id": ["a", None, "c", "d"],
            "ts": [at, None, None, at],
            "amount_minor": [1, 2, 3, 4],
            "card_token": ["t", "t", None, None],  # optional: nulls allowed
        }
    )
    with pytest.raises(
        SchemaError,
        match=r"^required column\(s\) with nulls: transaction_id \(1 of 4 rows\), "
        r"ts \(2 of 4 rows\); every event needs a value in each of transaction_id, ts, "
        r"amount_minor\.$",
    ):
        conform(raw.lazy() if lazy else raw)
    no_amount = pl.DataFrame(
        {
            "transaction_id": ["a", "b"],
            "ts": [at, at],
            "amount_minor": pl.Series([None, 2], dtype=pl.Int32),  # cast to Int64 after
            "customer_id": ["c", "c"],
        }
    )
    with pytest.raises(SchemaError, match=r": amount_minor \(1 of 2 rows\); "):
        conform(no_amount)


def test_payment_attempt_validates_its_fields() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(SchemaError, match="amount_minor must be >= 0"):
        PaymentAttempt("t1", at, -5, card_token="tok")
    with pytest.raises(SchemaError, match="timezone-aware"):
        PaymentAttempt("t1", datetime(2026, 1, 1), 5, card_token="tok")  # noqa: DTZ001
    with pytest.raises(SchemaError, match="transaction_id must be a non-empty string, got None"):
        PaymentAttempt(None, at, 5, card_token="tok")  # type: ignore[arg-type]
    with pytest.raises(SchemaError, match="needs a customer_id or a card_token"):
        PaymentAttempt("t1", at, 5)


@pytest.mark.parametrize(
    ("ts", "amount", "message"),
    [
        (None, 5, "ts must be a timezone-aware (UTC) datetime, got None."),
        ("2026-01-01T00:00:00Z", 5, "ts must be a timezone-aware (UTC) datetime, got '2026-"),
        (AT, None, "amount_minor must be an int (minor units), got None."),
        (AT, 5.0, "amount_minor must be an int (minor units), got 5.0."),
        (AT, True, "amount_minor must be an int (minor units), got True."),
    ],
)
def test_a_payment_attempt_names_a_missing_or_mistyped_time_or_amount(
    ts: object, amount: object, message: str
) -> None:
    """Not an AttributeError or TypeError from deep in the feature engine."""
    with pytest.raises(SchemaError) as raised:
        PaymentAttempt("t1", ts, amount, card_token="tok")  # type: ignore[arg-type]
    assert str(raised.value).startswith(message)


def test_tokenisation_is_keyed_stable_and_hides_the_number() -> None:
    token = tokenize_pan("4111 1111 1111 1111", b"secret")
    assert token == tokenize_pan("4111111111111111", b"secret")
    assert token != tokenize_pan("4111111111111111", b"other")
    assert "4111" not in token
    with pytest.raises(SchemaError, match="12 to 19 digits"):
        tokenize_pan("1234", b"secret")
