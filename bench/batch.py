"""Where a batch of 1,000 attempts spends its time, in process; the last output line is JSON.

Run by hand: ``.venv/bin/python bench/batch.py [--batches 40]``.

The service of ``bench/serve.py`` (same model, same traffic, embedded store, SQLite log,
the server's garbage-collection policy, uvloop), without HTTP:

1. End to end: the batch handler of ``POST /v1/fraud/score:batch`` from the raw body to
   the answers, durable (``batch_ms``: median and best), and the CPU time of the event
   loop's thread over it (``loop_cpu_ms``): the rest of the wall time is waiting for the
   model's worker and the log's writer.
2. Step by step, on fresh batches: each step of the pipeline called on its own, in order
   (``steps``: best and median ms per step). The model's scoring and the log's chaining
   (``plan``) run on worker threads in the service; here they run in line.

The best of many runs is the figure to compare between two commits: the machine is shared,
and a neighbour slows medians by 1.5x while best runs move by a few percent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import orjson
import uvloop

from riskline.decisions import DecisionBatch
from riskline.decisions._batches import encode_batch
from riskline.decisions._chain import GENESIS
from riskline.decisions._grouplog import plan
from riskline.decisions.columns import decide_columns
from riskline.models import Model
from riskline.rules import evaluate_many
from riskline.serving import ServeSettings, hash_key
from riskline.serving.answers import new_ids, request_columns
from riskline.serving.app import create_app, quiet_gc
from riskline.serving.fastpath import HANDLERS
from riskline.serving.schemas import BatchRequest, attempts_of
from riskline.serving.service import Service

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve import KEY, bodies, machine_ms, make_model, setup_home

_BATCH = "/v1/fraud/score:batch"


def raw_batches(count: int, first: int) -> list[bytes]:
    """``count`` request bodies of 1,000 attempts each, with ids never used before."""
    return [
        orjson.dumps({"attempts": [orjson.loads(b) for b in bodies(1000, 1000 + k, f"b{k}")]})
        for k in range(first, first + count)
    ]


async def end_to_end(service: Service, raws: list[bytes]) -> tuple[list[float], list[float]]:
    """Wall and loop-thread CPU ms of each batch through the HTTP handler's body."""
    handle = HANDLERS[_BATCH]
    wall: list[float] = []
    cpu: list[float] = []
    for raw in raws:
        await asyncio.sleep(0.02)  # the writer and the model's worker are idle again
        c0, t0 = time.thread_time(), time.perf_counter()
        await handle(service, raw, t0)
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.thread_time() - c0) * 1000)
    return wall, cpu


def by_step(service: Service, raws: list[bytes]) -> dict[str, list[float]]:
    """Each step of the batch pipeline timed on its own, batch after batch."""
    laps: dict[str, list[float]] = {}

    @contextmanager
    def lap(name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        yield
        laps.setdefault(name, []).append((time.perf_counter() - t0) * 1000)

    champion = service.models.champion
    scorer = champion.runner.scorer
    assert scorer is not None, "bench/serve.py's home has a champion"
    policy = service._policy(champion)
    for raw in raws:
        with lap("validate"):
            requests = BatchRequest.model_validate_json(raw).attempts
        with lap("attempts as columns"):
            events = attempts_of(requests, None)
        with lap("features"):
            rows = service.engine.observe_many(events)
        with lap("model score (worker)"):
            scores = scorer.score(rows)
        with lap("rules"):
            outcomes = evaluate_many(service.rules, events, rows)
        with lap("requests and features as columns"):
            columns: dict[str, object] = {
                "request": request_columns(events),
                "features": rows.by_name(),
            }
        with lap("decide as columns"):
            decided = decide_columns(outcomes, scores, policy)
            columns.update(decided.columns())
            ids = new_ids(len(events))
            txids = events.transaction_ids
            shared = {"model_version": champion.version, "latency_ms": 1.0}
            batch = DecisionBatch("fraud", datetime.now(UTC), ids, txids, shared, columns)
        with lap("encode for the log"):
            encoded = encode_batch(batch)
        with lap("chain (writer)"):
            plan(encoded, 0, GENESIS, {})
        with lap("answers"):
            answers = [
                {"decision_id": d, "transaction_id": t, "decision": a, "score": s, "reasons": r}
                for d, t, a, s, r in zip(
                    ids, txids, decided.action, decided.score, decided.reasons, strict=True
                )
            ]
        with lap("answer json"):
            orjson.dumps({"decisions": answers})
    return laps


async def measure(home: Path, batches: int) -> dict[str, object]:
    env = {
        "RISKLINE_HOME": str(home),
        "RISKLINE_API_KEYS": f"bench:scorer:{hash_key(KEY)}",
        "RISKLINE_BATCH_MAX": "1000",
    }
    app = create_app(ServeSettings.from_env(env), Model.from_bytes)
    async with app.router.lifespan_context(app):
        service: Service = app.state.service
        warm = 5
        print(f"end to end: {batches} batches ({warm} more to warm up)", file=sys.stderr)
        wall, cpu = await end_to_end(service, raw_batches(batches + warm, 0))
        wall, cpu = wall[warm:], cpu[warm:]
        print(f"step by step: {batches} batches", file=sys.stderr)
        laps = by_step(service, raw_batches(batches, batches + warm))
    steps = {
        name: {"best": round(min(v), 2), "median": round(statistics.median(v), 2)}
        for name, v in laps.items()
    }
    for name, s in steps.items():
        print(
            f"  {name:24s} best {s['best']:6.2f} ms  median {s['median']:6.2f} ms", file=sys.stderr
        )
    return {
        "batch_ms": round(statistics.median(wall), 2),
        "batch_best_ms": round(min(wall), 2),
        "loop_cpu_ms": round(statistics.median(cpu), 2),
        "steps_best_sum_ms": round(sum(s["best"] for s in steps.values()), 2),
        "steps": steps,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--batches", type=int, default=40)
    args = p.parse_args()
    speed = machine_ms()
    print(f"machine: sum(range(10**6)) {speed} ms", file=sys.stderr)
    folder = Path(tempfile.mkdtemp(prefix="riskline-batch-"))
    try:
        make_model(folder / "model.txt")
        setup_home(folder, folder / "model.txt")
        quiet_gc()
        uvloop.install()
        result = asyncio.run(measure(folder, args.batches))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps({**result, "machine_sum_1m_ms": speed}))


if __name__ == "__main__":
    main()
