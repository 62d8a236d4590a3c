"""Offline backfill, hand-written baselines, Feast, and online engine figures.

Run by hand: ``.venv/bin/python bench/features.py --rows 1000000 [--feast]``. The last line is
one JSON object with the keys the feature-engine issue names. ``--feast`` sets up Feast in its
own venv (``bench/peers/setup.sh feast``) and times its point-in-time join of the same card
aggregates; without it ``feast_seconds`` is null.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

from riskline.events import PaymentsSpec, generate_payments
from riskline.features import EmbeddedStore, OnlineEngine, RedisStore
from riskline.features.check import attempts
from riskline.features.offline import prepare
from riskline.fraud import FRAUD_FEATURES

sys.path.insert(0, str(Path(__file__).parent))
import baselines

_HERE = Path(__file__).parent
_OFFLINE = """
import json, resource, sys, time, polars as pl
from pathlib import Path
from riskline.features import FeatureSet, backfill, compute_offline
from riskline.fraud import FRAUD_FEATURES
t = time.perf_counter()
if sys.argv[2] != "-":  # the whole set, file to file, as `riskline features backfill` runs it
    backfill(FRAUD_FEATURES, Path(sys.argv[1]), Path(sys.argv[2]))
else:  # a subset in memory, timed like the hand-written baselines (file already read)
    names = set(sys.argv[3].split(","))
    fs = FeatureSet("subset", tuple(f for f in FRAUD_FEATURES.features if f.name in names))
    frame = pl.read_parquet(sys.argv[1])
    t = time.perf_counter()
    compute_offline(fs, frame)
seconds = time.perf_counter() - t
print(json.dumps({"seconds": seconds,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _offline(path: Path, out: str, names: list[str] | None = None) -> dict[str, float]:
    args = [sys.executable, "-W", "ignore", "-c", _OFFLINE, str(path), out]
    if names:
        args.append(",".join(names))
    run = subprocess.run(args, check=True, capture_output=True, text=True)
    result: dict[str, float] = json.loads(run.stdout.strip().splitlines()[-1])
    return result


def _subset() -> list[str]:
    """The windows the hand-written baselines compute."""
    return [
        f.name
        for f in FRAUD_FEATURES.features
        if (f.agg == "count" and f.kind == "sliding")
        or (f.entity is not None and f.entity.name == "customer" and f.agg in ("mean", "std"))
    ]


def _latencies(engine: OnlineEngine, events: list) -> tuple[list[float], float]:  # type: ignore[type-arg]
    latencies = []
    started = time.perf_counter()
    for event in events:
        t = time.perf_counter_ns()
        engine.observe(event)
        latencies.append((time.perf_counter_ns() - t) / 1000)
    elapsed = time.perf_counter() - started
    latencies.sort()
    return latencies, len(events) / elapsed


def _feast(features: Path, folder: Path, entity_rows: int) -> float | None:
    subprocess.run(["bash", str(_HERE / "peers" / "setup.sh"), "feast"], check=True)
    frame = pl.read_parquet(features)
    cards = [
        f.name
        for f in FRAUD_FEATURES.features
        if f.entity is not None and f.entity.name == "card" and f.name in frame.columns
    ]
    rows = frame.filter(pl.col("card_token").is_not_null()).select(
        pl.col("card_token").alias("entity_id"),
        pl.col("ts").alias("event_timestamp"),
        *[pl.col(c).cast(pl.Float64) for c in cards],
    )
    rows.write_parquet(folder / "feast_features.parquet")
    rows.select("entity_id", "event_timestamp").sample(
        min(entity_rows, rows.height), seed=1
    ).write_parquet(folder / "feast_entities.parquet")
    run = subprocess.run(
        [
            str(_HERE / ".venvs" / "feast" / "bin" / "python"),
            str(_HERE / "peers" / "feast_pit.py"),
            "--features",
            str(folder / "feast_features.parquet"),
            "--entities",
            str(folder / "feast_entities.parquet"),
            "--workdir",
            str(folder / "fw"),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    result = json.loads(run.stdout.strip().splitlines()[-1])
    print(f"feast point-in-time join: {result}", flush=True)
    return float(result["feast_seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--online-events", type=int, default=50_000)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--feast", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / "payments.parquet"
        frame = generate_payments(PaymentsSpec(rows=args.rows, seed=7))
        frame.write_parquet(path)
        print(f"generated {frame.height:,} payments", flush=True)
        offline = _offline(path, str(folder / "features.parquet"))
        print(
            f"offline backfill, {len(FRAUD_FEATURES.features)} features: "
            f"{offline['seconds']:.1f} s, peak {offline['peak_rss_mb']:.0f} MB",
            flush=True,
        )
        subset = _offline(path, "-", _subset())
        duck = baselines.duckdb_seconds(path)
        hand = baselines.polars_seconds(path)
        print(
            f"same {len(_subset())} windows: riskline {subset['seconds']:.1f} s, hand-written "
            f"Polars {hand:.1f} s, DuckDB SQL {duck:.1f} s, ratio to the faster "
            f"{subset['seconds'] / min(hand, duck):.2f}x",
            flush=True,
        )
        feast = _feast(folder / "features.parquet", folder, args.rows // 10) if args.feast else None
    sample = frame.head(args.online_events)
    events = list(attempts(prepare(FRAUD_FEATURES, sample, "ts").collect()))
    latencies, rate = _latencies(OnlineEngine(FRAUD_FEATURES, EmbeddedStore().open()), events)
    p99 = latencies[int(len(latencies) * 0.99)]
    print(
        f"online embedded: p50 {statistics.median(latencies):.0f} us, p99 {p99:.0f} us, "
        f"{rate:,.0f} events/s",
        flush=True,
    )
    store = RedisStore(args.redis_url, prefix=f"rl-bench-{secrets.token_hex(4)}").open()
    redis_lat, redis_rate = _latencies(OnlineEngine(FRAUD_FEATURES, store), events[:20_000])
    store.clear()
    store.close()
    redis_p99 = redis_lat[int(len(redis_lat) * 0.99)]
    print(
        f"online redis: p50 {statistics.median(redis_lat):.0f} us, p99 {redis_p99:.0f} us, "
        f"{redis_rate:,.0f} events/s",
        flush=True,
    )
    print(
        json.dumps(
            {
                "rows": args.rows,
                "features": len(FRAUD_FEATURES.features),
                "offline_seconds": round(offline["seconds"], 2),
                "offline_peak_rss_mb": round(offline["peak_rss_mb"]),
                "subset_seconds": round(subset["seconds"], 2),
                "duckdb_sql_seconds": round(duck, 2),
                "polars_seconds": round(hand, 2),
                "feast_seconds": None if feast is None else round(feast, 2),
                "online_p99_us": round(p99),
                "online_events_per_s": round(rate),
                "redis_p99_us": round(redis_p99),
            }
        )
    )


if __name__ == "__main__":
    main()
