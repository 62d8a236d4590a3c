"""One entity's windowed features over a prepared events frame (the offline engine's core).

Rows are put in (entity, effective time) order once per entity with a counting sort of
integer key codes; each distinct (window, filter, value column) is then one compiled pass
(``_kernels.sliding``) and each bucketed feature one more (``_kernels.bucketed``). Results
are scattered back to processing order and become nullable Polars columns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
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


def _us(delta: timedelta) -> int:
    return delta // timedelta(microseconds=1)


class Columns:
    """The prepared frame's columns as contiguous numpy arrays, each converted once.

    Works column by column: a ``select`` over the whole frame, whose columns are chunked
    differently, would first re-align (copy) every column of it.
    """

    def __init__(self, frame: pl.DataFrame) -> None:
        self.frame = frame
        self._cache: dict[object, tuple[np.ndarray, int]] = {}

    def _of(self, columns: list[str], expr: pl.Expr) -> np.ndarray:
        """``expr`` over just ``columns``, as one contiguous array."""
        part = pl.DataFrame([self.frame.get_column(c) for c in columns])
        return part.select(expr).to_series().rechunk().to_numpy()

    def eff(self) -> np.ndarray:
        return self._memo(EFF, lambda: (self._of([EFF], pl.col(EFF)), 0))[0]

    def ints(self, column: str) -> np.ndarray:
        expr = pl.col(column).fill_null(0).cast(pl.Int64)
        return self._memo(("int", column), lambda: (self._of([column], expr), 0))[0]

    def label_at(self) -> np.ndarray:
        expr = pl.col(LABEL_AT).fill_null(-1)
        return self._memo(LABEL_AT, lambda: (self._of([LABEL_AT], expr), 0))[0]

    def mask(self, flt: Filter | None) -> np.ndarray:
        """Rows that contribute and pass the filter."""
        used = [CONTRIB] if flt is None else [CONTRIB, flt.column]
        return self._memo(("mask", flt), lambda: (self._of(used, _mask(flt)), 0))[0]

    def codes(self, columns: tuple[str, ...]) -> tuple[np.ndarray, int]:
        """Small integer codes of a key (one column or a pair), -1 where any part is null."""
        return self._memo(("codes", columns), lambda: self._encode([columns])[0])

    def encode(self, keys: list[tuple[str, ...]]) -> None:
        """Code several keys at once (Polars codes the columns in parallel)."""
        todo = [key for key in dict.fromkeys(keys) if ("codes", key) not in self._cache]
        for key, coded in zip(todo, self._encode(todo), strict=True):
            self._cache[("codes", key)] = coded

    def _encode(self, keys: list[tuple[str, ...]]) -> list[tuple[np.ndarray, int]]:
        exprs = []
        for i, columns in enumerate(keys):
            parts = [pl.col(c).cast(pl.String) for c in columns]
            key = parts[0] if len(parts) == 1 else pl.concat_str(parts, separator="\x1f")
            code = key.cast(pl.Categorical).to_physical().cast(pl.Int64).fill_null(-1)
            exprs.append(code.alias(f"k{i}"))
        used = list(dict.fromkeys(c for columns in keys for c in columns))
        part = pl.DataFrame([self.frame.get_column(c) for c in used])
        coded = part.select(exprs) if exprs else pl.DataFrame()
        out = []
        for name in coded.columns:
            array = coded[name].rechunk().to_numpy()
            out.append((array, int(array.max(initial=-1)) + 1))
        return out

    def _memo(
        self, key: object, make: Callable[[], tuple[np.ndarray, int]]
    ) -> tuple[np.ndarray, int]:
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = make()
        return found


def _mask(flt: Filter | None) -> pl.Expr:
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
    return mask


def _series(name: str, values: np.ndarray, valid: np.ndarray) -> pl.Series:
    return pl.Series(name, pa.array(values, mask=~valid))


@dataclass(slots=True)
class _Sorted:
    """An entity's rows in (code, eff) order, and the way back to processing order."""

    cols: Columns
    order: np.ndarray
    keys: np.ndarray  # key codes in processing order (-1: null key)
    code: np.ndarray  # the same, sorted
    eff: np.ndarray  # effective times, sorted
    gathered: dict[object, np.ndarray] = field(default_factory=dict)

    @classmethod
    def of(cls, cols: Columns, columns: tuple[str, ...]) -> _Sorted:
        codes, n_codes = cols.codes(columns)
        order = k.counting_order(codes, n_codes)
        return cls(cols, order, codes, codes[order], cols.eff()[order])

    def sorted(self, key: object, values: np.ndarray) -> np.ndarray:
        """``values`` in this entity's order (each ``key`` gathered once)."""
        found = self.gathered.get(key)
        if found is None:
            found = self.gathered[key] = np.ascontiguousarray(values[self.order])
        return found

    def back(self, values: np.ndarray) -> np.ndarray:
        """Sorted ``values`` back in processing order."""
        out = np.empty_like(values)
        out[self.order] = values
        return out

    def amount(self, column: str | None) -> np.ndarray:
        if column is None:
            return self.sorted("zeros", np.zeros(self.order.size, np.int64))
        return self.sorted(("int", column), self.cols.ints(column))


def entity_features(
    cols: Columns, columns: tuple[str, ...], features: list[Feature]
) -> dict[str, pl.Series]:
    """Every feature of one entity, in processing order."""
    rows = _Sorted.of(cols, columns)
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


_INT_AGGS = {"count": k.COUNT, "sum": k.SUM, "distinct": k.DISTINCT, "new_value": k.NEW}
_INT_AGGS |= {"min": k.MIN, "max": k.MAX}
_FLOAT_AGGS = {"mean": k.MEAN, "std": k.STD, "zscore": k.ZSCORE, "ratio": k.RATIO}
_FLOAT_AGGS |= {"time_since_last": k.SINCE}


def _sliding(
    rows: _Sorted,
    width: int,
    flt: Filter | None,
    value_column: str | None,
    features: list[Feature],
    present: np.ndarray,
) -> dict[str, pl.Series]:
    numeric = next((f.column for f in features if f.column and value_column is None), None)
    ints = [f for f in features if f.agg in _INT_AGGS]
    reals = [f for f in features if f.agg in _FLOAT_AGGS]
    size = rows.order.size
    out_int = np.empty((len(ints), size), np.int64)
    out_float = np.empty((len(reals), size), np.float64)
    values, n_values = (_EMPTY_I, 0)
    if value_column is not None:
        codes, n_values = rows.cols.codes((value_column,))
        values = rows.sorted(("codes", value_column), codes)
    k.sliding(
        rows.code,
        rows.eff,
        rows.sorted(("mask", flt), rows.cols.mask(flt)),
        rows.amount(numeric),
        values,
        n_values,
        width,
        np.array([_INT_AGGS[f.agg] for f in ints], np.int64),
        out_int,
        np.array([_FLOAT_AGGS[f.agg] for f in reals], np.int64),
        out_float,
    )
    out: dict[str, pl.Series] = {}
    for r, f in enumerate(ints):
        value = rows.back(out_int[r])
        out[f.name] = _series(f.name, value, present & (value != k.NULL))
    for r, f in enumerate(reals):
        real = rows.back(out_float[r])
        out[f.name] = _series(f.name, real, present & ~np.isnan(real))
    return out


def _bucketed(rows: _Sorted, f: Feature, present: np.ndarray) -> pl.Series:
    assert f.window is not None
    assert f.bucket is not None
    size, span = _us(f.bucket), f.window // f.bucket
    mask = rows.cols.mask(f.filter)
    weight = mask.astype(np.int64)
    if f.agg == "sum":
        assert f.column is not None
        weight = weight * rows.cols.ints(f.column)
    total = np.empty(rows.order.size, np.int64)
    labels = np.empty(rows.order.size if f.agg == "label_rate" else 0, np.int64)
    label_code, label_bucket = _EMPTY_I, _EMPTY_I
    if f.agg == "label_rate":
        label_code, label_bucket = _labels(rows, mask, size)
    k.bucketed(
        rows.code,
        rows.eff // size,
        np.ascontiguousarray(weight[rows.order]),
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
    label_at = rows.cols.label_at()
    code = rows.keys
    keep = mask & (label_at >= 0) & (code >= 0)
    label_code, label_bucket = code[keep], label_at[keep] // size
    by = np.lexsort((label_bucket, label_code))
    return np.ascontiguousarray(label_code[by]), np.ascontiguousarray(label_bucket[by])
