"""Benchmark the SQLite decision log under steady single-decision traffic: how large its
write-ahead log grows, and what commits cost meanwhile.

Run by hand: ``.venv/bin/python bench/wal.py [--seconds 60] [--rate 1000]``. One thread
submits one decision (~2 KB body, as ``bench/decision_log.py``) every ``1 / --rate`` s,
never pausing, as a busy service does; every 5 s it prints the log's size and how often
SQLite has started it over (the checkpoint sequence number in the WAL header). The last
output line is one JSON object: ``wal_max_mb``, ``wal_restarts``, and the p50/p99/max from
submit to durable in ms.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from decision_log import body
from riskline.decisions import DecisionRecord, open_decision_log


def restarts(wal: Path) -> int:
    """The WAL header's checkpoint sequence number (bytes 12-16)."""
    with wal.open("rb") as f:
        return int.from_bytes(f.read(16)[12:16], "big")


def _lap(laps: list[float], sent: float) -> Callable[[object], None]:
    """A done-callback recording the time from ``sent`` to durable."""
    return lambda _: laps.append(time.perf_counter() - sent)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--rate", type=float, default=1000.0)
    args = p.parse_args()
    rng = random.Random(0)
    bodies = [body(rng, n) for n in range(1_000)]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "decisions.db"
        wal = path.with_name(path.name + "-wal")
        laps: list[float] = []
        largest = 0
        with open_decision_log(f"sqlite:///{path}") as log:
            started = time.perf_counter()
            n, report_at = 0, 5.0
            while (now := time.perf_counter() - started) < args.seconds:
                if now < n / args.rate:
                    time.sleep(n / args.rate - now)
                record = DecisionRecord(
                    f"{n:032x}", f"t{n}", "fraud", datetime.now(UTC), bodies[n % len(bodies)]
                )
                log.submit(record).add_done_callback(_lap(laps, time.perf_counter()))
                n += 1
                largest = max(largest, wal.stat().st_size) if n % 100 == 0 else largest
                if now >= report_at:
                    print(
                        f"{now:5.0f} s: {n:,} decisions, log {wal.stat().st_size / 1e6:6.1f} MB, "
                        f"started over {restarts(wal)} times",
                        flush=True,
                    )
                    report_at += 5.0
            time.sleep(0.5)
            restarted = restarts(wal)
        q = statistics.quantiles(laps, n=100)
        print(
            json.dumps(
                {
                    "decisions": n,
                    "wal_max_mb": round(largest / 1e6, 1),
                    "wal_restarts": restarted,
                    "p50_ms": round(q[49] * 1000, 3),
                    "p99_ms": round(q[98] * 1000, 3),
                    "max_ms": round(max(laps) * 1000, 1),
                }
            )
        )


if __name__ == "__main__":
    main()
