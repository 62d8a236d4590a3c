"""A batch of payment attempts as columns reads back as the attempts it holds."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from riskline.errors import SchemaError
from riskline.events import PaymentAttempt, PaymentAttempts, event_columns

AT = datetime(2026, 3, 1, tzinfo=UTC)


def _attempts(n: int) -> list[PaymentAttempt]:
    return [
        PaymentAttempt(
            f"t{i}",
            AT + timedelta(seconds=i),
            100 * i,
            customer_id=f"c{i}" if i % 2 else None,
            card_token=f"tok{i}",
            ip_country="FR" if i % 3 else None,
            channel="ecom",
        )
        for i in range(n)
    ]


def test_attempts_as_columns_read_back_whole() -> None:
    events = _attempts(5)
    batch = PaymentAttempts.of(events)
    assert len(batch) == 5
    assert list(batch) == events
    assert batch[-1] == events[-1]
    assert batch[1:3] == events[1:3]
    assert batch.transaction_ids == ["t0", "t1", "t2", "t3", "t4"]
    assert batch.column("ip_country") == [None, "FR", "FR", None, "FR"]
    with pytest.raises(IndexError):
        batch[5]


def test_fields_left_out_are_none_and_unknown_ones_refused() -> None:
    batch = PaymentAttempts(
        {"transaction_id": ["a"], "ts": [AT], "amount_minor": [1], "card_token": ["k"]}
    )
    assert batch[0] == PaymentAttempt("a", AT, 1, card_token="k")
    with pytest.raises(TypeError, match="no field 'amount'"):
        PaymentAttempts({"transaction_id": ["a"], "amount": [1]})
    with pytest.raises(ValueError, match=re.escape("different lengths: [1, 2]")):
        PaymentAttempts({"transaction_id": ["a"], "ts": [AT, AT]})


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("transaction_id", "", "transaction_id must be a non-empty string"),
        ("ts", AT.replace(tzinfo=None), "ts must be a timezone-aware"),
        ("amount_minor", -1, "amount_minor must be >= 0"),
        ("amount_minor", 1.0, "amount_minor must be an int"),
        ("card_token", None, "needs a customer_id or a card_token"),
    ],
)
def test_columns_are_checked_as_each_attempt_checks_itself(
    field: str, value: object, message: str
) -> None:
    """The first attempt that would fail on its own raises its error."""
    columns = {
        n: event_columns(_attempts(4), [n])[0]
        for n in ("transaction_id", "ts", "amount_minor", "customer_id", "card_token")
    }
    columns[field][2] = value
    columns["customer_id"][2] = None
    with pytest.raises(SchemaError, match=re.escape(message)):
        PaymentAttempts(columns)


def test_event_columns_read_lists_and_columns_alike() -> None:
    events = _attempts(4)
    names = ["amount_minor", "customer_id", "not_a_field"]
    assert event_columns(events, names) == event_columns(PaymentAttempts.of(events), names)
    assert event_columns(events, names)[2] == [None] * 4
