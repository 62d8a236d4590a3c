"""Input refused before it reaches the online state or the log: times ahead of the service's
clock, card numbers in id fields, control characters; a 422 names the field."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from fastapi import FastAPI

from riskline.serving import create_app
from tests.serving.conftest import ANALYST, SCORER, attempt, serve, settings_for
from tests.serving.fakes import LinearModel

NOW = datetime(2026, 3, 1, 12, 0, 10, tzinfo=UTC)


def at(seconds: float) -> str:
    """``NOW`` plus ``seconds``, as a request writes it."""
    return (NOW + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def clocked(home: Path) -> FastAPI:
    """The app with its clock stopped at ``NOW``."""
    settings = settings_for(home, budget=timedelta(milliseconds=200))
    return create_app(settings, LinearModel.from_bytes, clock=lambda: NOW)


async def card_count(client: httpx.AsyncClient, body: dict[str, object]) -> object:
    """``count_5m_by_card`` as logged for the decision of ``body``."""
    scored = await client.post("/v1/fraud/score", json=body, headers=SCORER)
    assert scored.status_code == 200, scored.text
    logged = await client.get(f"/v1/decisions/{scored.json()['decision_id']}", headers=ANALYST)
    return logged.json()["body"]["features"]["count_5m_by_card"]


def test_an_attempt_from_the_future_is_refused_and_velocity_keeps_counting(home: Path) -> None:
    """An attempt dated 10 minutes ahead used to be scored: it moved the shared watermark,
    and the card's next attempt, "late" behind it, was no longer counted (t2)."""

    async def main() -> None:
        async with serve(clocked(home)) as client:
            assert await card_count(client, attempt("v1", ts=at(-2), card_token="tok_v")) == 0
            ahead = attempt("p1", ts=at(600), card_token="tok_other", customer_id="c9")
            refused = await client.post("/v1/fraud/score", json=ahead, headers=SCORER)
            assert refused.status_code == 422
            assert refused.json() == {
                "error": "invalid_request",
                "message": "ts: '2026-03-01T12:10:10+00:00' is more than 300 s ahead of the "
                "server's clock (2026-03-01T12:00:10+00:00); send the time it happened (and "
                "check the sender's clock).",
                "fields": ["ts"],
            }
            assert await card_count(client, attempt("v2", ts=at(0), card_token="tok_v")) == 1
            edge = attempt("p2", ts=at(300), card_token="tok_other", customer_id="c9")
            assert (await client.post("/v1/fraud/score", json=edge, headers=SCORER)).is_success
            past = attempt("p3", ts=at(301), card_token="tok_other", customer_id="c9")
            beyond = await client.post("/v1/fraud/score", json=past, headers=SCORER)
            assert beyond.json()["fields"] == ["ts"]

    asyncio.run(main())


def test_a_batch_names_the_attempt_from_the_future_and_decides_none(home: Path) -> None:
    async def main() -> None:
        async with serve(clocked(home)) as client:
            batch = {"attempts": [attempt("b0", ts=at(0)), attempt("b1", ts="9999-12-31T23:59Z")]}
            refused = await client.post("/v1/fraud/score:batch", json=batch, headers=SCORER)
            assert refused.status_code == 422
            assert refused.json()["fields"] == ["attempts[1].ts"]
            assert refused.json()["message"].startswith(
                "attempts[1].ts: '9999-12-31T23:59:00+00:00' is more than 300 s ahead"
            )
            first = await client.post("/v1/fraud/score", json=attempt("b0"), headers=SCORER)
            assert first.json()["duplicate"] is False  # b0 was not decided either

    asyncio.run(main())


def test_a_label_from_the_future_is_refused(home: Path) -> None:
    async def main() -> None:
        async with serve(clocked(home)) as client:
            await client.post("/v1/fraud/score", json=attempt("t1", ts=at(0)), headers=SCORER)
            label = {"transaction_id": "t1", "is_fraud": True, "label_available_at": at(3600)}
            refused = await client.post("/v1/fraud/labels", json=label, headers=SCORER)
            assert refused.status_code == 422
            assert refused.json()["fields"] == ["label_available_at"]
            assert refused.json()["message"].startswith(
                "label_available_at: '2026-03-01T13:00:10+00:00' is more than 300 s ahead"
            )
            label["label_available_at"] = at(60)
            accepted = await client.post("/v1/fraud/labels", json=label, headers=SCORER)
            assert accepted.json()["duplicate"] is False

    asyncio.run(main())


def test_a_batch_names_the_attempt_whose_card_number_is_bad(app: FastAPI) -> None:
    """It used to answer ``card_number: ...``, leaving the caller to guess which attempt."""
    bad = attempt("n1", card_token=None, card_number="4111")

    async def main() -> None:
        async with serve(app) as client:
            batch = {"attempts": [attempt("n0"), bad]}
            refused = await client.post("/v1/fraud/score:batch", json=batch, headers=SCORER)
            assert refused.status_code == 422
            assert refused.json() == {
                "error": "invalid_request",
                "message": "attempts[1].card_number: card number must have 12 to 19 digits, "
                "got 4 digits.",
                "fields": ["attempts[1].card_number"],
            }

    asyncio.run(main())


PANS = [
    ("card_token", "4111.1111.1111.1111"),
    ("card_token", "4111/1111/1111/1111"),
    ("card_token", "4111_1111_1111_1111"),
    ("card_token", "(4111) 1111-1111-1111"),
    # the same in fullwidth digits
    ("card_token", "4111111111111111".translate({c: c + 0xFEE0 for c in range(48, 58)})),
    ("customer_id", "4111 1111 1111 1111"),
    ("device_id", "4111.1111.1111.1111"),
    ("device_id", "4111 1111 1111"),  # 12 digits
]
IDS = [
    ("card_token", "tok_4111111111111111"),  # a token may hold digits
    ("customer_id", "41111111111"),  # 11 digits
    ("device_id", "4111.1111.1111.1111.1111"),  # 20 digits
    # merchant and terminal ids are not checked: acquirers' ids are often all digits
    ("merchant_id", "411111111111111"),
    ("merchant_id", "000000123456789"),  # a 15-digit merchant id (ISO 8583 field 42)
    ("terminal_id", "4111 1111 1111"),
    ("terminal_id", "1234567890123456"),
]
CONTROLS = [
    ("transaction_id", "t\x00"),
    ("card_token", "\t4111111111111111"),
    ("card_token", "tok_1\n"),
    ("merchant_id", "m\x1b[2J"),
    ("terminal_id", "T\x7f"),
    ("customer_id", "c\r"),
    ("device_id", "d\x1f"),
    # C1 controls: terminals read U+009B as CSI, the 8-bit ESC [
    ("merchant_id", "m\x9b2J"),
    ("transaction_id", "t\x80"),
    ("customer_id", "c\x85"),  # NEL, a line break
    ("device_id", "d\x9f"),
]
PRINTABLE = [
    ("customer_id", "c\xa0"),  # the first code point after the C1 block
    ("merchant_id", "café ~"),
]


async def _scored(
    client: httpx.AsyncClient, prefix: str, cases: list[tuple[str, str]]
) -> AsyncIterator[tuple[str, str, httpx.Response]]:
    """Each ``(field, value)`` of ``cases`` scored in an attempt of its own, with the answer."""
    for i, (field, value) in enumerate(cases):
        body = attempt(f"{prefix}{i}", **{field: value})
        yield field, value, await client.post("/v1/fraud/score", json=body, headers=SCORER)


def test_card_numbers_in_id_fields_are_refused_however_separated(app: FastAPI) -> None:
    """Dots, slashes and underscores used to let a card number through into the log (t6)."""

    async def main() -> None:
        async with serve(app) as client:
            async for field, value, r in _scored(client, "pan", PANS):
                assert r.status_code == 422, (field, value)
                assert r.json()["fields"] == [f"body.{field}"], (field, value)
                assert "looks like a card number" in r.json()["message"]
            async for field, value, r in _scored(client, "id", IDS):
                assert r.status_code == 200, (field, value, r.text)

    asyncio.run(main())


def test_ids_with_control_characters_are_refused_naming_the_field(app: FastAPI) -> None:
    async def main() -> None:
        async with serve(app) as client:
            async for field, value, r in _scored(client, "ctl", CONTROLS):
                assert r.status_code == 422, (field, value)
                assert r.json()["fields"] == [f"body.{field}"], (field, value)
                assert r.json()["message"].startswith(f"body.{field}: String should match")
            async for field, value, r in _scored(client, "ok", PRINTABLE):
                assert r.status_code == 200, (field, value, r.text)
            for txid in ("t\n1", "t\x9b1"):
                label = {"transaction_id": txid, "is_fraud": True}
                r = await client.post("/v1/fraud/labels", json=label, headers=SCORER)
                assert (r.status_code, r.json()["fields"]) == (422, ["body.transaction_id"])

    asyncio.run(main())


def test_a_batch_names_the_attempt_whose_id_holds_a_c1_control(app: FastAPI) -> None:
    """U+0080-U+009F passed the id pattern, which refused only C0 controls and DEL."""

    async def main() -> None:
        async with serve(app) as client:
            attempts = [attempt(f"c{i}") for i in range(3)] + [attempt("c3\x9b[2J")]
            batch = {"attempts": attempts}
            r = await client.post("/v1/fraud/score:batch", json=batch, headers=SCORER)
            assert r.status_code == 422, r.text
            assert r.json()["fields"] == ["body.attempts[3].transaction_id"]
            assert r.json()["message"].startswith(
                "body.attempts[3].transaction_id: String should match"
            )
            first = await client.post("/v1/fraud/score", json=attempt("c0"), headers=SCORER)
            assert first.json()["duplicate"] is False  # c0 was not decided either

    asyncio.run(main())
