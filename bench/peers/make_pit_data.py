"""Write synthetic inputs for ``feast_pit.py`` (and any other point-in-time join).

Needs only numpy and pyarrow, so it runs in the riskline venv or in a peer venv::

    python bench/peers/make_pit_data.py --out DIR --feature-rows 100000 --entity-rows 10000

Writes ``DIR/features.parquet`` (``entity_id`` string, ``event_timestamp`` UTC, ``f0..f{k-1}``
float64) and ``DIR/entities.parquet`` (``entity_id``, ``event_timestamp``). Feature rows are
spread over ``--entities`` distinct ids and ``--days`` days; lookups are drawn over the same
ids and span, so some fall before an id's first feature row (a null result, not a dropped row).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

START_US = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z in microseconds


def ids_array(idx: np.ndarray) -> pa.Array:
    """Entity ids ``e0000042`` as a pyarrow string array, built without a Python loop."""
    width = 9
    digits = np.char.zfill(idx.astype("U9"), width - 1)
    return pa.array(np.char.add("e", digits), type=pa.string())


def timestamps(rng: np.random.Generator, n: int, days: int) -> pa.Array:
    offs = rng.integers(0, days * 86_400 * 1_000_000, size=n, dtype=np.int64)
    return pa.array(START_US + offs, type=pa.timestamp("us", tz="UTC"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--feature-rows", type=int, default=100_000)
    parser.add_argument("--entity-rows", type=int, default=10_000)
    parser.add_argument("--entities", type=int, default=0, help="distinct ids (rows/10)")
    parser.add_argument("--columns", type=int, default=10)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    n_ids = args.entities or max(1, args.feature_rows // 10)
    args.out.mkdir(parents=True, exist_ok=True)

    feats = {
        "entity_id": ids_array(rng.integers(0, n_ids, size=args.feature_rows)),
        "event_timestamp": timestamps(rng, args.feature_rows, args.days),
    }
    for c in range(args.columns):
        feats[f"f{c}"] = pa.array(rng.standard_normal(args.feature_rows))
    pq.write_table(pa.table(feats), args.out / "features.parquet", row_group_size=1_000_000)
    del feats

    ents = pa.table(
        {
            "entity_id": ids_array(rng.integers(0, n_ids, size=args.entity_rows)),
            "event_timestamp": timestamps(rng, args.entity_rows, args.days),
        }
    )
    pq.write_table(ents, args.out / "entities.parquet")
    print(
        f"wrote {args.feature_rows} feature rows x {args.columns} columns and "
        f"{args.entity_rows} entity rows over {n_ids} ids to {args.out}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
