"""Offline engine: point-in-time-correct backfill with Polars rolling windows.

Implements the semantics documented in ``riskline.features.spec`` over a whole events file:
one output row per input row, in processing order, with every input column kept.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

import polars as pl

from riskline.events import conform
from riskline.features.spec import Feature, FeatureSet

Order = Literal["ts", "arrival"]
_US = 1_000_000
EFF = "_eff"
CONTRIB = "_contrib"
LABEL_AT = "_label_at"


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
    work = _working_set(fs, frame)
    parts: dict[str, pl.Series] = {}
    by_entity: dict[tuple[str, ...], list[Feature]] = {}
    for f in fs.features:
        if f.agg in {"value", "differs"}:
            parts[f.name] = frame.select(_row_level(f)).to_series()
        elif f.agg == "distinct":
            parts[f.name] = _distinct(work, f)
        elif f.kind == "bucketed":
            parts[f.name] = _bucketed(work, f)
        else:
            assert f.entity is not None
            by_entity.setdefault(f.entity.columns, []).append(f)
    for group in by_entity.values():  # one pass per entity: its windows are shared (lazy CSE)
        out = work.lazy().select([_sliding(f).alias(f.name) for f in group]).collect()
        parts.update({name: out[name] for name in out.columns})
    kept = frame.select([c for c in frame.columns if not c.startswith("_")])
    return kept.with_columns([parts[name].alias(name) for name in fs.names])


def _working_set(fs: FeatureSet, frame: pl.DataFrame) -> pl.DataFrame:
    """Only what windows need: times, flags, numbers, filter columns, and integer key codes."""
    coded: set[str] = set()
    raw: set[str] = set()
    for f in fs.features:
        if f.entity is None:
            continue
        coded.update(f.entity.columns)
        if f.column is not None:
            (coded if f.agg in _CODED else raw).add(f.column)
        if f.filter is not None:
            raw.add(f.filter.column)
    extra = [LABEL_AT] if LABEL_AT in frame.columns else []
    # Group by small integer codes rather than strings: same groups, much faster windows.
    return frame.select(
        EFF,
        CONTRIB,
        *extra,
        *sorted(raw),
        *[
            pl.col(c).cast(pl.String).cast(pl.Categorical).to_physical().alias(_code(c))
            for c in sorted(coded)
        ],
    )


_CODED = {"new_value", "distinct"}


def _code(column: str) -> str:
    return f"_code_{column}"


def _mask(f: Feature) -> pl.Expr:
    mask = pl.col(CONTRIB)
    if f.filter is not None:
        col, value = pl.col(f.filter.column), pl.lit(f.filter.value)
        cond = {
            "==": col == value,
            "!=": col != value,
            "<": col < value,
            "<=": col <= value,
            ">": col > value,
            ">=": col >= value,
        }[f.filter.op]
        mask = mask & cond.fill_null(False)
    return mask


def _keys(f: Feature) -> list[str]:
    assert f.entity is not None
    return [_code(c) for c in f.entity.columns]


def _key_present(f: Feature) -> pl.Expr:
    return pl.all_horizontal([pl.col(c).is_not_null() for c in _keys(f)])


def _roll_sum(x: pl.Expr, f: Feature, keys: list[str] | None = None) -> pl.Expr:
    assert f.window is not None
    window = f"{_us(f.window)}i"
    return x.rolling_sum_by(EFF, window, closed="left").over(keys or _keys(f))


def _sliding(f: Feature) -> pl.Expr:
    assert f.window is not None
    m = _mask(f)
    n = _roll_sum(m.cast(pl.Int64), f)
    out: pl.Expr
    if f.agg == "count":
        out = n
    elif f.agg == "time_since_last":
        last = (
            pl.when(m)
            .then(pl.col(EFF))
            .rolling_max_by(EFF, f"{_us(f.window)}i", closed="left")
            .over(_keys(f))
        )
        out = (pl.col(EFF) - last) / _US
    elif f.agg == "new_value":
        assert f.column is not None
        seen = _roll_sum(m.cast(pl.Int64), f, [*_keys(f), _code(f.column)])
        out = pl.when(pl.col(_code(f.column)).is_not_null()).then((seen == 0).cast(pl.Int64))
    else:
        assert f.column is not None
        x = pl.col(f.column)
        if f.agg in {"min", "max"}:
            masked = pl.when(m).then(x)
            roll = masked.rolling_min_by if f.agg == "min" else masked.rolling_max_by
            out = roll(EFF, f"{_us(f.window)}i", closed="left").over(_keys(f))
        else:
            s = _roll_sum(pl.when(m).then(x).otherwise(0).cast(pl.Int128), f)
            out = _moments(f, n, s, x, m)
    return pl.when(_key_present(f)).then(out)


def _moments(f: Feature, n: pl.Expr, s: pl.Expr, x: pl.Expr, m: pl.Expr) -> pl.Expr:
    if f.agg == "sum":
        return s.cast(pl.Int64)
    mean = s.cast(pl.Float64) / n.cast(pl.Float64)
    if f.agg == "mean":
        return pl.when(n > 0).then(mean)
    if f.agg == "ratio":
        return pl.when((n > 0) & (s != 0)).then(x.cast(pl.Float64) / mean)
    q = _roll_sum(pl.when(m).then(x.cast(pl.Int128) * x.cast(pl.Int128)).otherwise(0), f)
    n128 = n.cast(pl.Int128)
    var = (n128 * q - s * s).cast(pl.Float64) / (n128 * n128).cast(pl.Float64)
    std = var.sqrt()
    if f.agg == "std":
        return pl.when(n > 0).then(std)
    # zscore
    return pl.when((n > 1) & (var > 0)).then((x.cast(pl.Float64) - mean) / std)


def _row_level(f: Feature) -> pl.Expr:
    assert f.column is not None
    if f.agg == "value":
        return pl.col(f.column).alias(f.name)
    assert f.other is not None
    a, b = pl.col(f.column), pl.col(f.other)
    return pl.when(a.is_not_null() & b.is_not_null()).then((a != b).cast(pl.Int64)).alias(f.name)


def _distinct(frame: pl.DataFrame, f: Feature) -> pl.Series:
    assert f.column is not None
    assert f.window is not None
    keys = _keys(f)
    present = frame.filter(_key_present(f))
    value = pl.col(_code(f.column))
    windows = (
        present.with_columns(_mask(f).alias("_m"))
        .select([*keys, EFF, _code(f.column), "_m"])
        .rolling(EFF, period=f"{_us(f.window)}i", closed="left", group_by=keys)
        .agg(value.filter(pl.col("_m") & value.is_not_null()).n_unique().alias(f.name))
        .unique([*keys, EFF])
    )
    out = frame.select([*keys, EFF]).join(
        windows, on=[*keys, EFF], how="left", nulls_equal=False, maintain_order="left"
    )
    return out.select(pl.when(_key_present(f)).then(pl.col(f.name).cast(pl.Int64))).to_series()


def _bucketed(frame: pl.DataFrame, f: Feature) -> pl.Series:
    assert f.window is not None
    assert f.bucket is not None
    keys, size = _keys(f), _us(f.bucket)
    span = f.window // f.bucket
    bucket = (pl.col(EFF) // size).alias("_b")
    frame = frame.with_columns(bucket)
    present = frame.filter(_key_present(f))
    if f.agg == "sum":
        assert f.column is not None
        weight = pl.when(_mask(f)).then(pl.col(f.column)).otherwise(0)
    else:
        weight = _mask(f).cast(pl.Int64)
    counts = _window_sums(present.select([*keys, "_b", weight.alias("_w")]), keys, span)
    frame = frame.join(
        counts.rename({"_sum": "_n"}), on=[*keys, "_b"], how="left", maintain_order="left"
    )
    if f.agg == "label_rate":
        labels = present.filter(pl.col(LABEL_AT).is_not_null() & _mask(f)).select(
            [*keys, (pl.col(LABEL_AT) // size).alias("_b"), pl.lit(1, pl.Int64).alias("_w")]
        )
        queries = present.select([*keys, "_b"]).unique()
        lab = _window_sums(labels, keys, span, queries)
        frame = frame.join(
            lab.rename({"_sum": "_k"}), on=[*keys, "_b"], how="left", maintain_order="left"
        )
        n, k = pl.col("_n").fill_null(0), pl.col("_k").fill_null(0)
        value: pl.Expr = pl.when(n > 0).then(k.cast(pl.Float64) / n.cast(pl.Float64))
    else:
        value = pl.col("_n").fill_null(0)
    return frame.select(pl.when(_key_present(f)).then(value).alias(f.name)).to_series()


def _window_sums(
    points: pl.DataFrame, keys: list[str], span: int, queries: pl.DataFrame | None = None
) -> pl.DataFrame:
    """For each (keys, _b) query: the sum of ``_w`` over buckets ``[_b - span, _b)``."""
    per_bucket = points.group_by([*keys, "_b"]).agg(pl.col("_w").sum()).sort([*keys, "_b"])
    cum = per_bucket.with_columns(pl.col("_w").cum_sum().over(keys).alias("_cum")).drop("_w")
    q = queries if queries is not None else points.select([*keys, "_b"]).unique()
    q = q.with_columns((pl.col("_b") - 1).alias("_hi"), (pl.col("_b") - span - 1).alias("_lo"))
    cum = cum.sort("_b")
    hi = q.sort("_hi").join_asof(
        cum.rename({"_b": "_hi", "_cum": "_chi"}), on="_hi", by=keys, check_sortedness=False
    )
    both = hi.sort("_lo").join_asof(
        cum.rename({"_b": "_lo", "_cum": "_clo"}), on="_lo", by=keys, check_sortedness=False
    )
    return both.select(
        [*keys, "_b", (pl.col("_chi").fill_null(0) - pl.col("_clo").fill_null(0)).alias("_sum")]
    )
