"""``riskline.serving.client`` against the served app: the replay the demo and the benchmark
rely on gets every answer, in order, with its status."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson

from riskline.serving.client import post_request, replay
from tests.e2e.process import ServerProcess, free_port
from tests.serving.conftest import KEYS, SCORER, attempt


def test_replay_gets_every_answer_in_request_order(home: Path) -> None:
    server = ServerProcess(home, free_port())
    try:
        path = "/v1/fraud/score"
        requests = [post_request(path, orjson.dumps(attempt(f"r{i}")), SCORER) for i in range(60)]
        requests[7] = post_request(path, orjson.dumps(attempt("r7")), {"X-API-Key": "nope"})
        requests[9] = post_request(path, orjson.dumps(attempt("r7")), SCORER)  # r7 again
        seen: list[int] = []
        closed = asyncio.run(
            replay(server.port, requests, connections=4, done=lambda: seen.append(1))
        )
        opened = asyncio.run(
            replay(server.port, requests[:20], connections=2, rate=400.0)  # all logged by now
        )
    finally:
        server.stop()
    assert len(seen) == len(closed) == 60
    assert [r.status for r in closed].count(200) == 59
    assert closed[7].status == 401
    assert KEYS["scorer"] not in closed[7].body.decode()
    answers = [orjson.loads(r.body) for r in closed]
    assert [a["transaction_id"] for i, a in enumerate(answers) if i != 7] == [
        "r7" if i == 9 else f"r{i}" for i in range(60) if i != 7
    ]
    assert all(r.ms > 0 for r in closed)
    assert [r.status for r in opened] == [401 if i == 7 else 200 for i in range(20)]
    again = {i: orjson.loads(r.body) for i, r in enumerate(opened) if i != 7}
    assert all(a["duplicate"] for a in again.values())
    assert {i: a["decision_id"] for i, a in again.items()} == {
        i: answers[i]["decision_id"] for i in again
    }
