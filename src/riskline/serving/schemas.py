"""HTTP request and response bodies (pydantic lives only at this boundary).

``ScoreRequest`` is the payment schema (``riskline.events.PAYMENT_COLUMNS``) minus the
label columns; a ``card_number`` is accepted only to be tokenised and is never stored.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from operator import attrgetter
from typing import Annotated, Literal, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    field_validator,
    model_validator,
)

from riskline.errors import InvalidRequestError, SchemaError
from riskline.events import PAYMENT_COLUMNS, PaymentAttempt, PaymentAttempts, tokenize_pan

_DOC = {c.name: c.doc for c in PAYMENT_COLUMNS}
_PAN = re.compile(r"(?:[\W_]*\d){12,19}[\W_]*")
"""A card number however it is written: 12 to 19 digits and nothing else but separators,
whitespace or punctuation ("4111.1111.1111.1111", "4111/1111/...", "4111_1111_...")."""
LABEL_COLUMNS = ("is_fraud", "fraud_scenario", "label_available_at")

Key = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f-\x9f]*$")]
"""An id: no control characters, C0, DEL or C1 (a NUL, a newline or a terminal escape in an
id would reach the decision log, log lines and the screens that show them; terminals also
read C1 codes, U+009B as ESC [). The pattern's hex escapes name code points both in
pydantic's regex engine and in the ECMA-262 regex that OpenAPI publishes."""
Country = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]


def _doc(name: str) -> str:
    return _DOC[name]


class ScoreRequest(BaseModel):
    """One payment attempt to score."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    transaction_id: Key = Field(description=_doc("transaction_id"))
    ts: AwareDatetime = Field(description=_doc("ts"))
    amount_minor: StrictInt = Field(ge=0, le=10**13, description=_doc("amount_minor"))
    customer_id: Key | None = Field(None, description=_doc("customer_id"))
    card_token: Key | None = Field(None, description=_doc("card_token"))
    card_number: str | None = Field(
        None,
        max_length=32,
        description="card number (PAN): tokenised with the server key and never stored",
    )
    currency: str | None = Field(None, pattern=r"^[A-Z]{3}$", description=_doc("currency"))
    device_id: Key | None = Field(None, description=_doc("device_id"))
    merchant_id: Key | None = Field(None, description=_doc("merchant_id"))
    terminal_id: Key | None = Field(None, description=_doc("terminal_id"))
    mcc: str | None = Field(None, pattern=r"^\d{4}$", description=_doc("mcc"))
    merchant_country: Country | None = Field(None, description=_doc("merchant_country"))
    ip_country: Country | None = Field(None, description=_doc("ip_country"))
    customer_country: Country | None = Field(None, description=_doc("customer_country"))
    channel: Literal["ecom", "pos"] | None = Field(None, description=_doc("channel"))

    # Not merchant_id or terminal_id: acquirers' ids are often 12-19 digits (a merchant id,
    # ISO 8583 field 42, is commonly 15), and refusing one refuses all of a merchant's traffic.
    @field_validator("card_token", "customer_id", "device_id")
    @classmethod
    def _no_card_numbers(cls, value: str | None) -> str | None:
        if value is not None and _PAN.fullmatch(value):
            raise ValueError(
                "looks like a card number; send a token (riskline.events.tokenize_pan) "
                "or use card_number, which is tokenised and never stored"
            )
        return value

    @model_validator(mode="after")
    def _needs_an_entity(self) -> Self:
        if self.customer_id is None and self.card_token is None and self.card_number is None:
            raise ValueError("needs customer_id, card_token or card_number; got none of them")
        return self

    def to_event(self, token_key: bytes | None) -> PaymentAttempt:
        """The payment attempt, with ``card_number`` replaced by its token.

        Raises ``InvalidRequestError`` via ``tokenize`` when a card number cannot be
        tokenised (no key configured, wrong length).
        """
        if self.card_number is None:  # by position: a batch builds a thousand
            return PaymentAttempt(*_event_fields(self))
        fields = dict(self.__dict__)  # the validated fields (model_dump costs 3x as much)
        fields["card_token"] = tokenize(fields.pop("card_number"), token_key)
        return PaymentAttempt(**fields)


_EVENT_FIELDS = tuple(f.name for f in dataclasses.fields(PaymentAttempt))[
    : len(ScoreRequest.model_fields) - 1
]
if set(_EVENT_FIELDS) != set(ScoreRequest.model_fields) - {"card_number"}:  # pragma: no cover
    raise AssertionError("ScoreRequest's fields must be PaymentAttempt's first ones")
_event_fields = attrgetter(*_EVENT_FIELDS)


def attempts_of(requests: Sequence[ScoreRequest], token_key: bytes | None) -> PaymentAttempts:
    """The attempts of a batch, as columns: ``to_event`` of each request, without making a
    ``PaymentAttempt`` per request. Raises ``InvalidRequestError`` naming the attempt whose
    card number cannot be tokenised."""
    columns = {n: list(map(attrgetter(n), requests)) for n in _EVENT_FIELDS}
    numbers = [r.card_number for r in requests]
    if numbers.count(None) != len(numbers):
        tokens = columns["card_token"]
        for i, number in enumerate(numbers):
            if number is None:
                continue
            try:
                tokens[i] = tokenize(number, token_key)
            except InvalidRequestError as exc:  # "card_number: why": name the attempt too
                raise InvalidRequestError(f"attempts[{i}].{exc}") from None
    return PaymentAttempts(columns)


def tokenize(card_number: str, key: bytes | None) -> str:
    if key is None:
        raise InvalidRequestError(
            "card_number: this server has no tokenisation key; send card_token instead."
        )
    try:
        return tokenize_pan(card_number, key)
    except SchemaError as exc:
        raise InvalidRequestError(f"card_number: {exc}") from None


class BatchRequest(BaseModel):
    """Several payment attempts scored with one model call (at most the configured size)."""

    model_config = ConfigDict(extra="forbid")

    attempts: list[ScoreRequest] = Field(min_length=1, max_length=100_000)


class LabelRequest(BaseModel):
    """Chargeback / confirmed-fraud feedback for a scored transaction."""

    model_config = ConfigDict(extra="forbid")

    transaction_id: Key
    is_fraud: StrictBool = Field(description="true: confirmed fraud; false: confirmed genuine")
    label_available_at: AwareDatetime | None = Field(
        None, description="when the label reached us (default: now), UTC"
    )


class ReasonBody(BaseModel):
    code: str
    text: str
    value: float | int | str | bool | None
    source: Literal["model", "rule"]


class ScoreResponse(BaseModel):
    """The decision for one attempt (the same answer for a repeated ``transaction_id``)."""

    decision_id: str
    transaction_id: str
    decision: Literal["approve", "review", "decline"]
    score: float
    reasons: list[ReasonBody]
    model_version: str | None
    rules_version: str
    fallback: (
        Literal["timeout", "model_error", "low_confidence", "store_unavailable", "no_model"] | None
    )
    latency_ms: float
    duplicate: bool = Field(description="true when this transaction was already decided")


class BatchResponse(BaseModel):
    decisions: list[ScoreResponse]
    server_ms: float


class LabelResponse(BaseModel):
    transaction_id: str
    is_fraud: bool
    counted_from: AwareDatetime | None
    duplicate: bool


class DecisionBody(BaseModel):
    """The full logged record of a decision."""

    seq: int
    decision_id: str
    transaction_id: str
    kind: str
    decided_at: AwareDatetime
    body: dict[str, object]
    prev_hash: str
    hash: str


class ErrorBody(BaseModel):
    error: str
    message: str
    fields: list[str] = Field(default_factory=list)
