"""Benchmark the decision log on SQLite: durable appends/s from many threads, and verify().

Run by hand: ``.venv/bin/python bench/decision_log.py [--n 200000] [--threads 16]``.
Phase 1 appends ``--n`` decisions with ~2 KB bodies to a fresh log in a temp folder, three
ways: from ``--threads`` threads each calling the blocking ``append`` (every call returns only
after its batch is fsynced); from the same threads with ``--in-flight`` submits each; and
from one event loop with ``--loop-in-flight`` requests in flight, each awaiting its own
decision, as the service does. Phase 2 tops the same log up to ``--verify-n`` records with
``append_many`` and times ``verify()`` on a freshly opened log. The last output line is one
JSON object: ``log_decisions_per_s`` is the event-loop figure (the service's way of using
the log), ``log_blocking_threads_per_s`` the blocking one.
"""

from __future__ import annotations

import argparse
import itertools
import random
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path

import orjson

from riskline.decisions import DecisionLog, DecisionRecord, open_decision_log

_FEATURES = [
    f"{agg}_{col}_{win}"
    for agg in ("count", "sum", "mean", "max")
    for col in ("txn", "amount", "declines", "devices", "countries")
    for win in ("1h", "24h", "7d")
]


def body(rng: random.Random, n: int) -> dict[str, object]:
    """A fraud decision as the engine would log it: request, features, versions, outcome."""
    score = rng.random()
    return {
        "request": {
            "transaction_id": f"tx-{n}",
            "amount_minor": rng.randrange(100, 500_000),
            "currency": "EUR",
            "customer_id": f"cust-{rng.randrange(1_000_000):07d}",
            "card_token": f"tok_{rng.getrandbits(96):024x}",
            "device_id": f"dev-{rng.getrandbits(64):016x}",
            "merchant_id": f"m-{rng.randrange(50_000):05d}",
            "mcc": "5411",
            "merchant_country": "DE",
            "ip_country": "DE",
            "channel": "ecom",
        },
        "features": {name: round(rng.random() * 1_000, 4) for name in _FEATURES},
        "versions": {
            "model": "fraud-lgbm-2026.03.1",
            "rules": "fraud-rules-41",
            "features": "fs-7",
        },
        "score": score,
        "thresholds": {"review": 0.6, "decline": 0.9},
        "decision": "decline" if score > 0.9 else "review" if score > 0.6 else "approve",
        "reasons": ["R01_VELOCITY", "R07_NEW_DEVICE"] if score > 0.6 else [],
        "latency_ms": round(rng.uniform(1, 20), 3),
        "fallback": False,
    }


_BODIES = [body(random.Random(7), n) for n in range(2_000)]  # serialised anew on each append


def _records(seed: int, start: int) -> Iterator[DecisionRecord]:
    """Time-ordered decision ids (as an engine would mint them), random transaction ids."""
    rng = random.Random(seed)
    for n in itertools.count(start):
        yield DecisionRecord(
            decision_id=f"{time.time_ns():016x}-{seed:02d}-{n:09d}",
            transaction_id=uuid.UUID(int=rng.getrandbits(128)).hex,
            kind="fraud",
            decided_at=datetime.now(UTC),
            body=_BODIES[(seed * 7_919 + n) % len(_BODIES)],
        )


def _append_from_threads(log: DecisionLog, n: int, threads: int, in_flight: int) -> float:
    """Durable appends/s: each thread logs n/threads records, ``in_flight`` at a time.

    ``in_flight=1`` is the blocking ``append``; more models an asyncio server awaiting
    ``submit`` futures. Either way a record counts once its future has resolved.
    """
    per_thread = n // threads
    seeds = range(in_flight * 1_000, in_flight * 1_000 + threads)  # distinct transaction ids
    batches = [list(itertools.islice(_records(k, 0), per_thread)) for k in seeds]
    go = threading.Barrier(threads + 1)

    def work(batch: list[DecisionRecord]) -> None:
        go.wait()
        if in_flight == 1:
            for record in batch:
                log.append(record)
            return
        pending: deque[Future[int]] = deque()
        for record in batch:
            pending.append(log.submit(record))
            if len(pending) >= in_flight:
                pending.popleft().result()
        for future in pending:
            future.result()

    workers = [threading.Thread(target=work, args=(b,)) for b in batches]
    for w in workers:
        w.start()
    go.wait()
    started = time.perf_counter()
    for w in workers:
        w.join()
    return per_thread * threads / (time.perf_counter() - started)


def _append_from_loop(log: DecisionLog, n: int, in_flight: int, seed: int = 500) -> float:
    """Durable appends/s as the service makes them: one event loop (uvloop), ``in_flight``
    requests at a time, each submitting its decision and awaiting that it is durable."""
    import asyncio

    import uvloop

    from riskline.decisions.engine import watch

    records = list(itertools.islice(_records(seed, 0), n))
    shares = [records[k::in_flight] for k in range(in_flight)]

    async def main() -> float:
        loop = asyncio.get_running_loop()

        async def requests(share: list[DecisionRecord]) -> None:  # one after another
            for record in share:
                await watch(loop, log.submit_many([record]))

        started = time.perf_counter()
        await asyncio.gather(*(requests(share) for share in shares))
        return n / (time.perf_counter() - started)

    return uvloop.run(main())


def _top_up(log: DecisionLog, have: int, want: int) -> None:
    records = _records(99, 0)
    while have < want:
        chunk = list(itertools.islice(records, min(10_000, want - have)))
        log.append_many(chunk)
        have += len(chunk)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000, help="decisions appended by threads")
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--verify-n", type=int, default=1_000_000, help="records verified")
    parser.add_argument(
        "--in-flight", type=int, default=8, help="submits per thread for the pipelined figure"
    )
    parser.add_argument(
        "--loop-in-flight", type=int, default=64, help="requests in flight on the event loop"
    )
    args = parser.parse_args()
    sample = next(_records(0, 0))
    print(f"body size: {len(orjson.dumps(sample.body))} bytes")
    with tempfile.TemporaryDirectory(prefix="riskline-bench-") as folder:
        url = f"sqlite:///{Path(folder) / 'decisions.db'}"
        with open_decision_log(url) as log:
            rate = _append_from_threads(log, args.n, args.threads, 1)
            print(f"{args.threads} threads, blocking append: {rate:,.0f} durable decisions/s")
            have = args.n // args.threads * args.threads
        with open_decision_log(url) as log:  # a reopen, which also resumes the chain
            piped = _append_from_threads(log, args.n, args.threads, args.in_flight)
            print(
                f"{args.threads} threads x {args.in_flight} submits in flight: "
                f"{piped:,.0f} durable decisions/s"
            )
            have *= 2
            looped = _append_from_loop(log, args.n, args.loop_in_flight)
            print(
                f"one event loop, {args.loop_in_flight} requests in flight (as the service "
                f"submits): {looped:,.0f} durable decisions/s"
            )
            have += args.n
            started = time.perf_counter()
            _top_up(log, have, args.verify_n)
            print(
                f"topped up to {args.verify_n:,} records in {time.perf_counter() - started:.1f} s"
            )
        with open_decision_log(url) as log:
            started = time.perf_counter()
            report = log.verify()
            seconds = time.perf_counter() - started
        size = (Path(folder) / "decisions.db").stat().st_size
        print(
            f"verify: {report.checked:,} records ok={report.ok} in {seconds:.2f} s; file {size:,} B"
        )
    print(
        orjson.dumps(
            {
                "log_decisions_per_s": round(looped),
                "log_blocking_threads_per_s": round(rate),
                "verify_1m_seconds": round(seconds, 2),
            }
        ).decode()
    )


if __name__ == "__main__":
    main()
