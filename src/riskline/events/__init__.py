"""Typed event schemas and seeded synthetic generators."""

from riskline.events._columns import PaymentAttempts, event_columns
from riskline.events._schemas import (
    PAYMENT_COLUMNS,
    REQUIRED_COLUMNS,
    Column,
    PaymentAttempt,
    conform,
    tokenize_pan,
)
from riskline.events._synthetic import DriftSpec, PaymentsSpec, generate_payments

__all__ = [
    "PAYMENT_COLUMNS",
    "REQUIRED_COLUMNS",
    "Column",
    "DriftSpec",
    "PaymentAttempt",
    "PaymentAttempts",
    "PaymentsSpec",
    "conform",
    "event_columns",
    "generate_payments",
    "tokenize_pan",
]
