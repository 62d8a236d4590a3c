"""Serving fixtures: a real registry with a champion, a SQLite log and embedded store in
``tmp_path``, API keys per role, and an in-process client that runs the app's lifespan."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from riskline.config import Settings
from riskline.registry import Registry
from riskline.serving import ApiKey, KeyRing, ServeSettings, create_app, hash_key
from riskline.serving.app import quiet_gc
from tests.registry.samples import lineage
from tests.serving.fakes import VELOCITY, LinearModel

KEYS = {"scorer": "sk-scorer", "analyst": "sk-analyst", "admin": "sk-admin"}
SCORER = {"X-API-Key": KEYS["scorer"]}
ANALYST = {"X-API-Key": KEYS["analyst"]}
ADMIN = {"X-API-Key": KEYS["admin"]}
MODEL = LinearModel("fraud-lin-1", VELOCITY)


def keyring() -> KeyRing:
    return KeyRing(ApiKey(f"{role}-key", role, hash_key(k)) for role, k in KEYS.items())  # type: ignore[arg-type]


def register(
    home: Path, model: LinearModel, *, promote: bool = True, trained_by: str = "alice"
) -> str:
    """Register ``model`` in the registry under ``home`` and (by default) make it champion."""
    with Registry.open(f"sqlite:///{home / 'registry.db'}", home / "artifacts") as registry:
        version = registry.register(
            "fraud",
            model.to_bytes(),
            lineage(),
            {"kind": "linear"},
            {"test_pr_auc": 0.5, "test_ece": 0.01},
            {"review_at": 0.1, "decline_at": 0.6},
            trained_by,
        ).version
        if promote:
            registry.promote(version, "bob", "tests")
    return version


def settings_for(home: Path, **overrides: object) -> ServeSettings:
    base = Settings.from_env({"RISKLINE_HOME": str(home)})
    values: dict[str, object] = {"base": base, "keys": keyring(), "token_key": b"test-key"}
    values.update(overrides)
    return ServeSettings(**values)  # type: ignore[arg-type]


Client = Callable[..., "AsyncIterator[httpx.AsyncClient]"]


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's startup and shutdown around an in-process HTTP client, under the
    service's garbage-collection policy (``quiet_gc``): without it, a full collection of
    the test process (150-200 ms) could land inside a request whose latency is checked."""
    previous = quiet_gc()
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://riskline") as client:
                yield client
    finally:
        gc.unfreeze()
        gc.set_threshold(*previous)


async def until(done: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Wait, yielding to the event loop, until ``done()``; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, f"not done after {timeout_s} s"
        await asyncio.sleep(0.01)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A riskline home whose registry has ``MODEL`` as champion."""
    register(tmp_path, MODEL)
    return tmp_path


@pytest.fixture
def app(home: Path) -> FastAPI:
    return create_app(
        settings_for(home, budget=timedelta(milliseconds=200)), LinearModel.from_bytes
    )


def attempt(txid: str = "t1", **fields: object) -> dict[str, object]:
    """A valid score request body."""
    body: dict[str, object] = {
        "transaction_id": txid,
        "ts": "2026-03-01T12:00:00Z",
        "amount_minor": 2_500,
        "customer_id": "c1",
        "card_token": "tok_card1",
        "currency": "EUR",
        "device_id": "dev1",
        "merchant_id": "m1",
        "terminal_id": "T1",
        "ip_country": "FR",
        "customer_country": "FR",
        "channel": "ecom",
    }
    body.update(fields)
    return body
