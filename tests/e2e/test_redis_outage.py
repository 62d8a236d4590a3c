"""Redis online store stopped during load: the service keeps answering with flagged
fallbacks within the budget and recovers when Redis is back. The test runs its own
``redis-server`` on a free port, so stopping it disturbs nothing else."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis

from riskline.features import RedisStore
from riskline.serving import create_app
from tests.backends import unavailable
from tests.e2e.process import free_port
from tests.serving.conftest import SCORER, attempt, serve, settings_for
from tests.serving.fakes import LinearModel

BUDGET = timedelta(
    milliseconds=300
)  # roomy: a loaded CI runner; a refused connection fails at once


class RedisServer:
    def __init__(self, port: int) -> None:
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            unavailable("redis-server is not on PATH")
        self.proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if client.ping():
                    client.close()
                    return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server on port {self.port} did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer(free_port())
    server.start()
    yield server
    server.stop()


@pytest.mark.slow
def test_redis_outage_gives_flagged_fallbacks_and_recovers(
    home: Path, redis_server: RedisServer
) -> None:
    store = RedisStore(f"redis://127.0.0.1:{redis_server.port}/0").open()
    app = create_app(settings_for(home, budget=BUDGET), LinearModel.from_bytes, store=store)

    async def burst(client: object, prefix: str, n: int) -> list[dict[str, object]]:
        answers = []
        for i in range(n):
            started = time.perf_counter()
            r = await client.post(  # type: ignore[attr-defined]
                "/v1/fraud/score", json=attempt(f"{prefix}{i}"), headers=SCORER
            )
            assert r.status_code == 200
            assert time.perf_counter() - started < BUDGET.total_seconds() + 0.4
            answers.append(r.json())
        return answers

    async def main() -> None:
        async with serve(app) as client:
            before = await burst(client, "a", 20)
            assert {a["fallback"] for a in before} == {None}
            redis_server.stop()
            during = await burst(client, "b", 20)
            assert {a["fallback"] for a in during} == {"store_unavailable"}
            assert all(
                a["latency_ms"] <= BUDGET / timedelta(milliseconds=1)  # type: ignore[operator]
                for a in during
            )
            assert (await client.get("/readyz")).status_code == 503
            redis_server.start()
            after = await burst(client, "c", 20)
            assert {a["fallback"] for a in after[1:]} == {None}
            assert (await client.get("/readyz")).status_code == 200

    asyncio.run(main())
