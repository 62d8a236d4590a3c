"""Offline backfill and online engine figures for the fraud feature set.

Run by hand: ``.venv/bin/python bench/features.py --rows 1000000``. The last output line is one
JSON object with the keys the feature-engine issue names; peers not measured in this run are
null (see bench/peers/README.md for Feast).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

from riskline.events import PaymentsSpec, generate_payments
from riskline.features import EmbeddedStore, OnlineEngine
from riskline.features.check import attempts
from riskline.features.offline import prepare
from riskline.fraud import FRAUD_FEATURES

_OFFLINE = """
import json, resource, sys, time, polars as pl
from riskline.features import compute_offline
from riskline.fraud import FRAUD_FEATURES
frame = pl.read_parquet(sys.argv[1])
t = time.perf_counter()
out = compute_offline(FRAUD_FEATURES, frame)
print(json.dumps({"seconds": time.perf_counter() - t,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--online-events", type=int, default=50_000)
    args = parser.parse_args()
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "payments.parquet"
        frame = generate_payments(PaymentsSpec(rows=args.rows, seed=7))
        frame.write_parquet(path)
        print(f"generated {frame.height:,} payments", flush=True)
        # Offline in a fresh process so peak RSS is the backfill's own.
        run = subprocess.run(
            [sys.executable, "-c", _OFFLINE, str(path)], check=True, capture_output=True, text=True
        )
        offline = json.loads(run.stdout.strip().splitlines()[-1])
        print(
            f"offline backfill: {offline['seconds']:.1f} s, peak {offline['peak_rss_mb']:.0f} MB",
            flush=True,
        )
    sample = frame.head(args.online_events)
    ordered = prepare(FRAUD_FEATURES, sample, "ts").collect()
    events = list(attempts(ordered))
    engine = OnlineEngine(FRAUD_FEATURES, EmbeddedStore().open())
    latencies = []
    started = time.perf_counter()
    for event in events:
        t = time.perf_counter_ns()
        engine.observe(event)
        latencies.append((time.perf_counter_ns() - t) / 1000)
    elapsed = time.perf_counter() - started
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99)]
    print(
        f"online embedded: p50 {statistics.median(latencies):.0f} us, p99 {p99:.0f} us, "
        f"{len(events) / elapsed:,.0f} events/s",
        flush=True,
    )

    print(
        json.dumps(
            {
                "rows": args.rows,
                "features": len(FRAUD_FEATURES.features),
                "offline_seconds": round(offline["seconds"], 2),
                "offline_peak_rss_mb": round(offline["peak_rss_mb"]),
                "duckdb_sql_seconds": None,
                "polars_seconds": None,
                "feast_seconds": None,
                "online_p99_us": round(p99),
                "online_events_per_s": round(len(events) / elapsed),
                "redis_p99_us": None,
            }
        )
    )


if __name__ == "__main__":
    main()
