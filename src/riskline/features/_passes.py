"""One entity's windowed features over a prepared events frame (the offline engine's core).

Rows are put in (entity, effective time) order once per entity with a counting sort of
integer key codes; each distinct (window, filter, value column) is then one compiled pass
(``_kernels.sliding``) and each bucketed feature one more (``_kernels.bucketed``). Results
are scattered back to processing order and become nullable Polars columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import polars as pl
import pyarrow as pa

from riskline.features import _kernels as k
from riskline.features.spec import Feature, Filter

EFF = "_eff"
CONTRIB = "_contrib"
LABEL_AT = "_label_at"
_EMPTY_I = np.empty(0, np.int64)
_EMPTY_F = np.empty(0, np.float64)


def _us(delta: timedelta) -> int:
    return delta // timedelta(microseconds=1)


def _codes(frame: pl.DataFrame, columns: tuple[str, ...]) -> tuple[np.ndarray, int]:
    """Small integer codes of a key (one column or a pair), -1 where any part is null."""
    parts = [pl.col(c).cast(pl.String) for c in columns]
    key = parts[0] if len(parts) == 1 else pl.concat_str(parts, separator="\x1f")
    codes = frame.select(key.cast(pl.Categorical).to_physical().cast(pl.Int64).fill_null(-1))
    array = codes.to_series().to_numpy()
    return array, int(array.max(initial=-1)) + 1


def _mask(frame: pl.DataFrame, flt: Filter | None) -> np.ndarray:
    mask = pl.col(CONTRIB)
    if flt is not None:
        col, value = pl.col(flt.column), pl.lit(flt.value)
        cond = {
            "==": col == value,
            "!=": col != value,
            "<": col < value,
            "<=": col <= value,
            ">": col > value,
            ">=": col >= value,
        }[flt.op]
        mask = mask & cond.fill_null(False)
    return frame.select(mask).to_series().to_numpy()


def _series(name: str, values: np.ndarray, valid: np.ndarray) -> pl.Series:
    return pl.Series(name, pa.array(values, mask=~valid))


@dataclass(slots=True)
class _Sorted:
    """An entity's rows in (code, eff) order, and the way back to processing order."""

    frame: pl.DataFrame
    order: np.ndarray
    keys: np.ndarray  # key codes in processing order (-1: null key)
    code: np.ndarray  # the same, sorted
    eff: np.ndarray  # effective times, sorted

    @classmethod
    def of(cls, frame: pl.DataFrame, columns: tuple[str, ...]) -> _Sorted:
        codes, n_codes = _codes(frame, columns)
        order = k.counting_order(codes, n_codes)
        eff = frame[EFF].to_numpy()
        return cls(frame, order, codes, codes[order], eff[order])

    def take(self, values: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(values[self.order])

    def back(self, values: np.ndarray) -> np.ndarray:
        out = np.empty_like(values)
        out[self.order] = values
        return out

    def amount(self, column: str | None) -> np.ndarray:
        if column is None:
            return np.zeros(self.order.size, np.int64)
        return self.take(self.frame[column].fill_null(0).cast(pl.Int64).to_numpy())


def entity_features(
    frame: pl.DataFrame, columns: tuple[str, ...], features: list[Feature]
) -> dict[str, pl.Series]:
    """Every feature of one entity, in processing order."""
    rows = _Sorted.of(frame, columns)
    present = rows.keys >= 0
    out: dict[str, pl.Series] = {}
    views: dict[tuple[int, Filter | None, str | None], list[Feature]] = {}
    for f in features:
        if f.kind == "bucketed":
            out[f.name] = _bucketed(rows, f, present)
        else:
            assert f.window is not None
            value = f.column if f.agg in ("distinct", "new_value") else None
            views.setdefault((_us(f.window), f.filter, value), []).append(f)
    for (width, flt, value), group in views.items():
        out.update(_sliding(rows, width, flt, value, group, present))
    return out


def _sliding(
    rows: _Sorted,
    width: int,
    flt: Filter | None,
    value_column: str | None,
    features: list[Feature],
    present: np.ndarray,
) -> dict[str, pl.Series]:
    aggs = {f.agg for f in features}
    numeric = next((f.column for f in features if f.column and value_column is None), None)
    size = rows.order.size
    n = np.empty(size, np.int64)
    s = np.empty(size, np.int64)
    var = np.empty(size if aggs & {"std", "zscore"} else 0, np.float64)
    low = np.empty(size if "min" in aggs else 0, np.int64)
    high = np.empty(size if "max" in aggs else 0, np.int64)
    last = np.empty(size if "time_since_last" in aggs else 0, np.int64)
    distinct = np.empty(size if "distinct" in aggs else 0, np.int64)
    seen = np.empty(size if "new_value" in aggs else 0, np.int64)
    values, n_values = (_EMPTY_I, 0)
    if value_column is not None:
        codes, n_values = _codes(rows.frame, (value_column,))
        values = rows.take(codes)
    k.sliding(
        rows.code,
        rows.eff,
        rows.take(_mask(rows.frame, flt)),
        rows.amount(numeric),
        values,
        n_values,
        width,
        n,
        s,
        var if var.size else _EMPTY_F,
        low,
        high,
        last,
        distinct,
        seen,
    )
    stats = _Stats(
        n=rows.back(n),
        s=rows.back(s),
        var=rows.back(var) if var.size else var,
        x=rows.frame[numeric].fill_null(0).cast(pl.Int64).to_numpy() if numeric else None,
        present=present,
    )
    out: dict[str, pl.Series] = {}
    for f in features:
        if f.agg == "min":
            out[f.name] = _series(f.name, rows.back(low), present & (stats.n > 0))
        elif f.agg == "max":
            out[f.name] = _series(f.name, rows.back(high), present & (stats.n > 0))
        elif f.agg == "time_since_last":
            latest = rows.back(last)
            gap = (rows.frame[EFF].to_numpy() - latest) / 1_000_000
            out[f.name] = _series(f.name, gap, present & (latest >= 0))
        elif f.agg == "distinct":
            out[f.name] = _series(f.name, rows.back(distinct), present)
        elif f.agg == "new_value":
            own = rows.back(seen)
            out[f.name] = _series(f.name, (own == 0).astype(np.int64), present & (own >= 0))
        else:
            out[f.name] = stats.feature(f)
    return out


@dataclass(frozen=True, slots=True)
class _Stats:
    """Window count, sum and variance in processing order, and the current amounts."""

    n: np.ndarray
    s: np.ndarray
    var: np.ndarray
    x: np.ndarray | None
    present: np.ndarray

    def feature(self, f: Feature) -> pl.Series:
        n, s, ok = self.n, self.s, self.present
        if f.agg == "count":
            return _series(f.name, n, ok)
        if f.agg == "sum":
            return _series(f.name, s, ok)
        filled = ok & (n > 0)
        mean = s.astype(np.float64) / np.where(n > 0, n, 1).astype(np.float64)
        if f.agg == "mean":
            return _series(f.name, mean, filled)
        assert self.x is not None
        x = self.x.astype(np.float64)
        if f.agg == "ratio":
            usable = filled & (s != 0)
            return _series(f.name, x / np.where(usable, mean, 1.0), usable)
        std = np.sqrt(np.where(filled, self.var, 0.0))
        if f.agg == "std":
            return _series(f.name, std, filled)
        assert f.agg == "zscore", f.agg
        usable = ok & (n > 1) & (np.where(filled, self.var, 0.0) > 0)
        return _series(f.name, (x - mean) / np.where(usable, std, 1.0), usable)


def _bucketed(rows: _Sorted, f: Feature, present: np.ndarray) -> pl.Series:
    assert f.window is not None
    assert f.bucket is not None
    size, span = _us(f.bucket), f.window // f.bucket
    mask = _mask(rows.frame, f.filter)
    weight = mask.astype(np.int64)
    if f.agg == "sum":
        assert f.column is not None
        weight *= rows.frame[f.column].fill_null(0).cast(pl.Int64).to_numpy()
    total = np.empty(rows.order.size, np.int64)
    labels = np.empty(rows.order.size if f.agg == "label_rate" else 0, np.int64)
    label_code, label_bucket = _EMPTY_I, _EMPTY_I
    if f.agg == "label_rate":
        label_code, label_bucket = _labels(rows, mask, size)
    k.bucketed(
        rows.code,
        rows.eff // size,
        rows.take(weight),
        span,
        label_code,
        label_bucket,
        total,
        labels,
    )
    n = rows.back(total)
    if f.agg != "label_rate":
        return _series(f.name, n, present)
    rate = rows.back(labels).astype(np.float64) / np.where(n > 0, n, 1).astype(np.float64)
    return _series(f.name, rate, present & (n > 0))


def _labels(rows: _Sorted, mask: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Codes and label buckets of the entity's counted fraud labels, sorted by both."""
    label_at = rows.frame[LABEL_AT].fill_null(-1).to_numpy()
    code = rows.keys
    keep = mask & (label_at >= 0) & (code >= 0)
    label_code, label_bucket = code[keep], label_at[keep] // size
    by = np.lexsort((label_bucket, label_code))
    return np.ascontiguousarray(label_code[by]), np.ascontiguousarray(label_bucket[by])
