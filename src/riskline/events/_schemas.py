"""The payment attempt: one definition shared by the generator, the API and the feature engine.

Money is an integer number of minor units (``amount_minor``: cents, pence) plus an ISO 4217
``currency``; times are tz-aware UTC. Card numbers never appear: ``card_token`` is a token.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import polars as pl

from riskline.errors import SchemaError

Channel = Literal["ecom", "pos"]


@dataclass(frozen=True, slots=True)
class Column:
    """One column of an event schema."""

    name: str
    dtype: pl.DataType
    required: bool
    doc: str


@dataclass(frozen=True, slots=True)
class PaymentAttempt:
    """One payment attempt as riskline sees it (a row of an events file, a scoring request)."""

    transaction_id: str
    ts: datetime
    amount_minor: int
    customer_id: str | None = None
    card_token: str | None = None
    currency: str | None = None
    device_id: str | None = None
    merchant_id: str | None = None
    terminal_id: str | None = None
    mcc: str | None = None
    merchant_country: str | None = None
    ip_country: str | None = None
    customer_country: str | None = None
    channel: Channel | None = None
    is_fraud: bool | None = None
    fraud_scenario: str | None = None
    label_available_at: datetime | None = None

    def __post_init__(self) -> None:
        # Cheap on purpose (every scoring request builds one): a null from a file read
        # without ``conform`` is named here, not met later as an AttributeError.
        if not self.transaction_id:
            raise SchemaError(
                f"transaction_id must be a non-empty string, got {self.transaction_id!r}."
            )
        ts = self.ts
        if not isinstance(ts, datetime) or ts.tzinfo is None:
            raise SchemaError(f"ts must be a timezone-aware (UTC) datetime, got {ts!r}.")
        amount = self.amount_minor
        if type(amount) is not int or amount < 0:  # not a bool, a float or a numpy integer
            must = ">= 0" if type(amount) is int else "an int"
            raise SchemaError(f"amount_minor must be {must} (minor units), got {amount!r}.")
        if self.customer_id is None and self.card_token is None:
            raise SchemaError(
                f"transaction {self.transaction_id!r} needs a customer_id or a card_token."
            )


_UTC = pl.Datetime("us", "UTC")

PAYMENT_COLUMNS: tuple[Column, ...] = (
    Column("transaction_id", pl.String(), True, "unique id of the attempt; duplicates count once"),
    Column("ts", _UTC, True, "when the attempt happened, UTC"),
    Column("amount_minor", pl.Int64(), True, "amount in integer minor units (cents), >= 0"),
    Column("customer_id", pl.String(), False, "customer key; required unless card_token given"),
    Column("card_token", pl.String(), False, "card token (never a card number)"),
    Column("currency", pl.String(), False, "ISO 4217 code of amount_minor"),
    Column("device_id", pl.String(), False, "device fingerprint (ecom)"),
    Column("merchant_id", pl.String(), False, "merchant key"),
    Column("terminal_id", pl.String(), False, "terminal key (pos)"),
    Column("mcc", pl.String(), False, "merchant category code"),
    Column("merchant_country", pl.String(), False, "ISO 3166 alpha-2"),
    Column("ip_country", pl.String(), False, "ISO 3166 alpha-2 of the client IP (ecom)"),
    Column("customer_country", pl.String(), False, "customer's home country, alpha-2"),
    Column("channel", pl.String(), False, "'ecom' or 'pos'"),
    Column("is_fraud", pl.Boolean(), False, "label: confirmed fraud"),
    Column("fraud_scenario", pl.String(), False, "planted scenario (synthetic data only)"),
    Column("label_available_at", _UTC, False, "when the fraud label reached us, UTC"),
)

REQUIRED_COLUMNS = tuple(c.name for c in PAYMENT_COLUMNS if c.required)
_BY_NAME = {c.name: c for c in PAYMENT_COLUMNS}


def conform(frame: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    """Check a frame against the payment schema and cast known columns to their types.

    Unknown columns are kept as they are. Raises ``SchemaError`` naming the column when a
    required column is missing or has nulls (counted in one pass over the three required
    columns), neither ``customer_id`` nor ``card_token`` is present, or a column cannot be
    read as its documented type.
    """
    lf = frame.lazy()
    schema = lf.collect_schema()
    missing = [name for name in REQUIRED_COLUMNS if name not in schema]
    if missing:
        raise SchemaError(
            f"events are missing required column(s) {', '.join(missing)}; "
            f"required: {', '.join(REQUIRED_COLUMNS)}."
        )
    if "customer_id" not in schema and "card_token" not in schema:
        raise SchemaError("events need a customer_id or a card_token column; found neither.")
    casts: list[pl.Expr] = []
    for name, dtype in schema.items():
        col = _BY_NAME.get(name)
        if col is None or dtype == col.dtype:
            continue
        if isinstance(col.dtype, pl.Datetime) and isinstance(dtype, pl.Datetime):
            if dtype.time_zone is None:
                casts.append(pl.col(name).dt.replace_time_zone("UTC").dt.cast_time_unit("us"))
            else:
                casts.append(pl.col(name).dt.convert_time_zone("UTC").dt.cast_time_unit("us"))
        elif isinstance(col.dtype, pl.String) or _castable(dtype, col.dtype):
            casts.append(pl.col(name).cast(col.dtype, strict=True))
        else:
            raise SchemaError(
                f"column {name!r} has type {dtype}, expected {col.dtype} ({col.doc})."
            )
    _check_required_values(lf)  # before the casts, which keep nulls and cost a pass
    return lf.with_columns(casts) if casts else lf


def _check_required_values(lf: pl.LazyFrame) -> None:
    """Refuse nulls in the required columns: a row with no time, id or amount cannot be
    placed in any window (backfill gave it features anyway; the replay crashed on it)."""
    counts = lf.select(
        pl.len().alias("_rows"), *(pl.col(c).null_count() for c in REQUIRED_COLUMNS)
    ).collect()
    rows = counts.item(0, "_rows")
    nulls = [
        f"{c} ({counts.item(0, c):,} of {rows:,} rows)"
        for c in REQUIRED_COLUMNS
        if counts.item(0, c)
    ]
    if nulls:
        raise SchemaError(
            f"required column(s) with nulls: {', '.join(nulls)}; every event needs a value "
            f"in each of {', '.join(REQUIRED_COLUMNS)}."
        )


def _castable(got: pl.DataType, want: pl.DataType) -> bool:
    if want == pl.Int64():
        return got.is_integer()
    if want == pl.Boolean():
        return got.is_integer() or got == pl.Boolean()
    return False


def tokenize_pan(pan: str, key: bytes) -> str:
    """Turn a card number into a stable token (keyed HMAC-SHA256); the number is not kept.

    Examples:
        >>> tokenize_pan("4111 1111 1111 1111", b"k")[:4]
        'tok_'
        >>> tokenize_pan("4111111111111111", b"k") == tokenize_pan("4111 1111 1111 1111", b"k")
        True
    """
    digits = "".join(ch for ch in pan if ch.isdigit())
    if not 12 <= len(digits) <= 19:
        raise SchemaError(f"card number must have 12 to 19 digits, got {len(digits)} digits.")
    if not key:
        raise SchemaError("tokenisation key must not be empty.")
    return "tok_" + hmac.new(key, digits.encode(), hashlib.sha256).hexdigest()[:24]
