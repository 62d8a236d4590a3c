"""Time Feast's point-in-time join (DuckDB offline store) and, optionally, its online reads.

Runs INSIDE the Feast peer venv (create it with ``bash bench/peers/setup.sh feast``)::

    bench/.venvs/feast/bin/python bench/peers/feast_pit.py \\
        --features feats.parquet --entities ents.parquet --workdir /tmp/feast-work \\
        [--online-reads 1000]

``--features``: Parquet of feature rows, columns ``entity_id`` (string), ``event_timestamp``
(tz-aware UTC) and N numeric feature columns. ``--entities``: Parquet of ``entity_id`` and
``event_timestamp`` (the lookup times). A throw-away Feast repo (registry, SQLite online store)
is written to ``--workdir``. The LAST line printed is one JSON object::

    {"feast_seconds": ..., "rows": ..., "peak_rss_mb": ..., ...}

``feast_seconds`` covers ``get_historical_features(...).to_df()`` only (not reading the entity
Parquet nor ``apply``). With ``--online-reads N`` the store is materialized into SQLite and N
single-entity ``get_online_features`` calls are timed (keys ``feast_online_p50_ms``,
``feast_online_p99_ms``, plus ``feast_materialize_seconds``). ``peak_rss_mb`` is
``ru_maxrss`` of this process plus that of its children, in MiB (Linux reports KiB).
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import statistics
import sys
import time
import warnings
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

FEATURE_VIEW = "peer_features"
ENTITY_NAME = "entity"
JOIN_KEY = "entity_id"
TIMESTAMP = "event_timestamp"
TTL = timedelta(days=90)


def peak_rss_mb() -> float:
    """Peak resident set size of this process plus its reaped children, in MiB."""
    self_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (self_kib + children_kib) / 1024


def feast_dtype(arrow_type: Any) -> Any:
    """Map a numeric Arrow column type to a Feast type."""
    import pyarrow as pa
    from feast.types import Float32, Float64, Int32, Int64

    if pa.types.is_float32(arrow_type):
        return Float32
    if pa.types.is_floating(arrow_type):
        return Float64
    if pa.types.is_integer(arrow_type):
        return Int32 if arrow_type.bit_width <= 32 else Int64
    raise SystemExit(f"unsupported feature column type {arrow_type}; want float or int")


def build_store(features: Path, workdir: Path) -> tuple[Any, list[str]]:
    """Write a Feast repo config into ``workdir``, apply entity + feature view, return store."""
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
    from feast.repo_config import RepoConfig

    schema = pq.read_schema(features)
    missing = {JOIN_KEY, TIMESTAMP} - set(schema.names)
    if missing:
        raise SystemExit(f"{features}: missing columns {sorted(missing)}")
    feature_cols = [n for n in schema.names if n not in (JOIN_KEY, TIMESTAMP)]
    if not feature_cols:
        raise SystemExit(f"{features}: no feature columns")

    workdir.mkdir(parents=True, exist_ok=True)
    config = RepoConfig(
        project="riskline_bench",
        provider="local",
        registry=str(workdir / "registry.db"),
        offline_store={"type": "duckdb"},
        online_store={"type": "sqlite", "path": str(workdir / "online_store.db")},
        entity_key_serialization_version=3,
    )
    store = FeatureStore(config=config, repo_path=str(workdir))
    entity = Entity(name=ENTITY_NAME, join_keys=[JOIN_KEY], value_type=ValueType.STRING)
    source = FileSource(
        name="peer_features_source",
        path=str(features.resolve()),
        timestamp_field=TIMESTAMP,
    )
    view = FeatureView(
        name=FEATURE_VIEW,
        entities=[entity],
        ttl=TTL,
        schema=[Field(name=c, dtype=feast_dtype(schema.field(c).type)) for c in feature_cols],
        source=source,
        online=True,
    )
    store.apply([entity, view])
    return store, [f"{FEATURE_VIEW}:{c}" for c in feature_cols]


def time_online_reads(store: Any, refs: list[str], entity_ids: list[str], n: int) -> dict[str, Any]:
    """Time ``n`` single-entity online reads, cycling through ``entity_ids``."""
    # Warm up connection and registry caches; not counted.
    for eid in entity_ids[: min(20, len(entity_ids))]:
        store.get_online_features(features=refs, entity_rows=[{JOIN_KEY: eid}]).to_dict()
    laps: list[float] = []
    for i in range(n):
        eid = entity_ids[i % len(entity_ids)]
        t0 = time.perf_counter()
        store.get_online_features(features=refs, entity_rows=[{JOIN_KEY: eid}]).to_dict()
        laps.append((time.perf_counter() - t0) * 1000)
    laps.sort()
    cuts = statistics.quantiles(laps, n=100, method="inclusive") if n >= 2 else laps * 99
    return {
        "feast_online_p50_ms": round(statistics.median(laps), 4),
        "feast_online_p99_ms": round(cuts[98], 4),
        "online_reads": n,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--features", type=Path, required=True, help="feature rows (Parquet)")
    parser.add_argument("--entities", type=Path, required=True, help="entity rows (Parquet)")
    parser.add_argument("--workdir", type=Path, required=True, help="throw-away Feast repo dir")
    parser.add_argument(
        "--online-reads",
        type=int,
        default=0,
        metavar="N",
        help="materialize, then time N single-entity get_online_features calls",
    )
    args = parser.parse_args(argv)

    import feast  # noqa: F401  (imported first: some of its imports reset warning filters)

    warnings.filterwarnings("ignore")
    logging.getLogger("feast").setLevel(logging.ERROR)

    t0 = time.perf_counter()
    store, refs = build_store(args.features, args.workdir)
    apply_seconds = time.perf_counter() - t0

    entity_df = pq.read_table(args.entities, columns=[JOIN_KEY, TIMESTAMP]).to_pandas()

    t0 = time.perf_counter()
    result = store.get_historical_features(entity_df=entity_df, features=refs).to_df()
    feast_seconds = time.perf_counter() - t0

    out: dict[str, Any] = {
        "feast_seconds": round(feast_seconds, 4),
        "rows": len(result),
        "entity_rows": len(entity_df),
        "feature_columns": len(refs),
        "apply_seconds": round(apply_seconds, 4),
    }
    peak_after_join = peak_rss_mb()

    if args.online_reads > 0:
        ids = entity_df[JOIN_KEY].drop_duplicates().sample(frac=1.0, random_state=0).tolist()
        del result, entity_df
        ts = pq.read_table(args.features, columns=[TIMESTAMP]).column(0)
        import pyarrow.compute as pc

        start = pc.min(ts).as_py() - timedelta(seconds=1)
        end = pc.max(ts).as_py() + timedelta(seconds=1)
        t0 = time.perf_counter()
        store.materialize(start_date=start, end_date=end)
        out["feast_materialize_seconds"] = round(time.perf_counter() - t0, 4)
        out.update(time_online_reads(store, refs, ids, args.online_reads))

    out["peak_rss_mb_after_join"] = round(peak_after_join, 1)
    out["peak_rss_mb"] = round(peak_rss_mb(), 1)
    sys.stdout.flush()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
