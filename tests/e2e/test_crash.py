"""Crash safety: kill -9 the server under load, restart it: every decision acknowledged to
the client is in the log, the chain verifies, and nothing is half-written."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from riskline.decisions import open_decision_log
from tests.e2e.process import ServerProcess, free_port
from tests.serving.conftest import SCORER, attempt


async def load(
    url: str, acked: dict[str, str], seconds: float, clients: int = 16
) -> dict[str, str]:
    """Send unique attempts until the server dies; fill acknowledged txid -> decision_id."""
    stop_at = time.monotonic() + seconds

    async def client(n: int) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=2.0) as http:
            i = 0
            while time.monotonic() < stop_at:
                txid = f"c{n}-{i}"
                i += 1
                try:
                    r = await http.post("/v1/fraud/score", json=attempt(txid), headers=SCORER)
                except httpx.TransportError:
                    return  # the server is gone; nothing more is acknowledged
                if r.status_code == 200:
                    acked[txid] = r.json()["decision_id"]

    await asyncio.gather(*(client(n) for n in range(clients)))
    return acked


@pytest.mark.slow
def test_kill9_under_load_loses_no_acknowledged_decision(home: Path) -> None:
    port = free_port()
    # The online store snapshots every 20 KB of journal, i.e. several times under this load,
    # from forked children, one of which may still be writing when the server is killed.
    snapshots = {"RISKLINE_SNAPSHOT_EVERY_MB": "0.02"}
    server = ServerProcess(home, port, snapshots)
    try:

        async def run() -> dict[str, str]:
            acked: dict[str, str] = {}
            loading = asyncio.create_task(load(server.url, acked, seconds=20.0))
            deadline = time.monotonic() + 15.0
            while len(acked) < 300 and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            server.kill9()  # mid-load: requests are in flight
            return await loading

        acked = asyncio.run(run())
    finally:
        server.stop()
    assert len(acked) >= 300
    with open_decision_log(f"sqlite:///{home / 'decisions.db'}") as log:
        report = log.verify()
        assert report.ok, report
        logged = {r.transaction_id: r.decision_id for r in log.read() if r.kind == "fraud"}
        assert report.checked == report.head_seq >= len(acked)
    missing = {t for t in acked if logged.get(t) != acked[t]}
    assert not missing, f"{len(missing)} acknowledged decisions are not in the log"
    assert (home / "online" / "state.journal.snapshot").exists()  # written while serving

    # The same port: no snapshot child may hold the dead server's listening socket.
    again = ServerProcess(home, port, snapshots)
    try:
        some = sorted(acked)[:20]
        with httpx.Client(base_url=again.url) as http:
            for txid in some:
                r = http.post("/v1/fraud/score", json=attempt(txid), headers=SCORER)
                assert (r.json()["decision_id"], r.json()["duplicate"]) == (acked[txid], True)
            fresh = http.post("/v1/fraud/score", json=attempt("after-restart"), headers=SCORER)
            assert fresh.json()["duplicate"] is False
    finally:
        again.stop()
    with open_decision_log(f"sqlite:///{home / 'decisions.db'}") as log:
        assert log.verify().ok
