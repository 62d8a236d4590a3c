"""Offline engine: point-in-time-correct backfill of a whole events file.

Implements the semantics documented in ``riskline.features.spec``: one output row per input
row, in processing order, with every input column kept. Polars reads, orders and encodes the
events; the windows are compiled passes (``riskline.features._kernels``), one per entity and
window, over rows sorted by (entity, effective time).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Literal

import polars as pl
import pyarrow.parquet as pq

from riskline.events import REQUIRED_COLUMNS, conform
from riskline.features._passes import CONTRIB, EFF, LABEL_AT, Columns, entity_features
from riskline.features.spec import Feature, FeatureSet

Order = Literal["ts", "arrival"]
_CODED = {"distinct", "new_value"}  # aggregations over a column's integer codes
_US = 1_000_000


def _us(delta: timedelta) -> int:
    return delta // timedelta(microseconds=1)


def prepare(fs: FeatureSet, events: pl.DataFrame | pl.LazyFrame, order: Order) -> pl.LazyFrame:
    """Conform, order, and add effective time, the contribution flag and label times.

    ``order="ts"`` sorts by ``ts`` (stable); ``order="arrival"`` keeps file order as the order
    in which events arrived (late events then sit at the watermark).
    """
    lf = conform(events)
    if order == "ts" and not lf.select(pl.col("ts").is_sorted()).collect().item():
        lf = lf.sort("ts", maintain_order=True)
    ts = pl.col("ts").dt.epoch("us")
    lf = lf.with_columns(ts.cum_max().alias(EFF))
    previous_mark = pl.col(EFF).shift(1)
    too_late = (previous_mark - ts) > _us(fs.allowed_lateness)
    ids = lf.select(pl.col("transaction_id").n_unique(), pl.len()).collect().row(0)
    if ids[0] == ids[1]:  # the common case: no duplicate ids, no per-id window needed
        duplicate: pl.Expr = pl.lit(False)
    else:
        seen = pl.col(EFF).shift(1).over("transaction_id")
        duplicate = seen.is_not_null() & ((pl.col(EFF) - seen) <= _us(fs.dedup_horizon))
    lf = lf.with_columns((~(too_late.fill_null(False) | duplicate)).alias(CONTRIB))
    labelled = [f for f in fs.features if f.agg == "label_rate"]
    if labelled:
        delay = _us(labelled[0].label_delay)
        earliest = ts + delay
        names = lf.collect_schema().names()
        # Never before the event itself was processed: a late event's label could
        # otherwise count in its own features, or in those of events processed before it.
        earliest = pl.max_horizontal(earliest, pl.col(EFF))
        if "label_available_at" in names:
            known = pl.max_horizontal(pl.col("label_available_at").dt.epoch("us"), earliest)
        else:
            known = earliest
        fraud = pl.col(CONTRIB) & pl.col("is_fraud").fill_null(False)
        lf = lf.with_columns(pl.when(fraud).then(known).alias(LABEL_AT))
    return lf


def compute_offline(
    fs: FeatureSet, events: pl.DataFrame | pl.LazyFrame, *, order: Order = "ts"
) -> pl.DataFrame:
    """Every event with its features as of that event (see the module docs for semantics).

    Examples:
        >>> from datetime import UTC, datetime
        >>> from riskline.features.spec import CARD, Feature, FeatureSet
        >>> fs = FeatureSet("demo", (Feature("count", CARD, timedelta(minutes=5)),))
        >>> at = datetime(2026, 1, 1, tzinfo=UTC)
        >>> ev = pl.DataFrame({"transaction_id": ["a", "b", "c"],
        ...     "ts": [at, at + timedelta(minutes=1), at + timedelta(minutes=9)],
        ...     "amount_minor": [100, 200, 300], "card_token": ["t", "t", "t"]})
        >>> compute_offline(fs, ev)["count_5m_by_card"].to_list()
        [0, 1, 0]
    """
    frame = prepare(fs, events, order).collect()
    parts = feature_columns(fs, frame)
    kept = frame.select([c for c in frame.columns if not c.startswith("_")])
    return kept.with_columns([parts[name].alias(name) for name in fs.names])


def feature_columns(fs: FeatureSet, frame: pl.DataFrame) -> dict[str, pl.Series]:
    """Each feature of a ``prepare``d frame, in the frame's (processing) order."""
    parts: dict[str, pl.Series] = {}
    by_entity: dict[tuple[str, ...], list[Feature]] = {}
    for f in fs.features:
        if f.entity is None:  # over its own columns only (see ``Columns``)
            own = pl.DataFrame([frame.get_column(c) for c in sorted(f.columns)])
            parts[f.name] = own.select(_row_level(f)).to_series()
        else:
            by_entity.setdefault(f.entity.columns, []).append(f)
    cols = Columns(frame)
    values = [
        (f.column,) for group in by_entity.values() for f in group if f.agg in _CODED and f.column
    ]
    cols.encode([*by_entity, *values])
    for columns, features in by_entity.items():
        parts.update(entity_features(cols, columns, features))
    return parts


def backfill(
    fs: FeatureSet,
    source: Path,
    target: Path,
    *,
    chunk_rows: int = 500_000,
    on_progress: Callable[[int, int], None] | None = None,
) -> int:
    """``compute_offline`` from one Parquet file to another, in bounded memory.

    Only the columns the features read are held while computing; the other input columns are
    streamed from ``source`` in chunks beside the features. Rows come out in processing order,
    as from ``compute_offline``; a file that is not in ``ts`` order is sorted in memory first.
    Returns the number of rows written. ``on_progress(done, total)`` follows the writing.
    """
    scan = pl.scan_parquet(source)
    names = scan.collect_schema().names()
    used = fs.columns | set(REQUIRED_COLUMNS) | {"is_fraud", "label_available_at"}
    narrow = scan.select([c for c in names if c in used])
    in_order, empty = narrow.select(pl.col("ts").is_sorted(), pl.len() == 0).collect().row(0)
    if empty or not in_order:
        whole = compute_offline(fs, scan.collect())
        whole.write_parquet(target, compression="zstd")
        return whole.height
    needed = fs.columns | {EFF, CONTRIB, LABEL_AT}
    frame = prepare(fs, narrow, "ts").collect()
    frame = frame.select([c for c in frame.columns if c in needed])
    parts = feature_columns(fs, frame)
    rows = frame.height
    del frame
    writer: pq.ParquetWriter | None = None
    try:
        for start in range(0, rows, chunk_rows):
            chunk = conform(scan.slice(start, chunk_rows)).collect()
            chunk = chunk.with_columns(
                [parts[name].slice(start, chunk_rows).alias(name) for name in fs.names]
            )
            table = chunk.to_arrow()
            if writer is None:
                writer = pq.ParquetWriter(target, table.schema, compression="zstd")
            writer.write_table(table)
            if on_progress is not None:
                on_progress(start + chunk.height, rows)
    finally:
        if writer is not None:
            writer.close()
    return rows


def _row_level(f: Feature) -> pl.Expr:
    assert f.column is not None
    if f.agg == "value":
        return pl.col(f.column).alias(f.name)
    assert f.other is not None
    a, b = pl.col(f.column), pl.col(f.other)
    return pl.when(a.is_not_null() & b.is_not_null()).then((a != b).cast(pl.Int64)).alias(f.name)
