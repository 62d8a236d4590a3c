"""Feature values from a snapshot of state (the online engine's arithmetic).

The arithmetic mirrors the offline engine operation for operation (exact integer sums, then
one float division, then ``sqrt``), so both produce the same floats.
"""

from __future__ import annotations

import math
import operator
from bisect import bisect_left
from collections.abc import Callable
from typing import Any, cast

from riskline.features._plan import BucketGroup, SlidingGroup
from riskline.features.spec import Filter
from riskline.features.store import Payload

Value = int | float | None
Window = tuple[list[int], list[Payload]]

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _selector(group: SlidingGroup, flt: Filter | None) -> Callable[[Window, int], Window]:
    """Events of the window that are within ``lo_us`` and pass the filter."""
    if flt is None:

        def pick(window: Window, lo_us: int) -> Window:
            effs, payloads = window
            if not effs or effs[0] >= lo_us:
                return window
            i = bisect_left(effs, lo_us)
            return effs[i:], payloads[i:]

        return pick
    idx = group.columns.index(flt.column)
    op, value = _OPS[flt.op], flt.value

    def pick_filtered(window: Window, lo_us: int) -> Window:
        effs, payloads = window
        keep = [
            i
            for i, e in enumerate(effs)
            if e >= lo_us and payloads[i][idx] is not None and op(payloads[i][idx], value)
        ]
        return [effs[i] for i in keep], [payloads[i] for i in keep]

    return pick_filtered


GroupFn = Callable[[int, Window, Payload, dict[str, Value]], None]


def group_evaluator(group: SlidingGroup) -> GroupFn:
    """Compile a sliding group into ``fn(eff_us, window, current, values)``, which writes each
    feature's value into ``values``. Features that share a window and filter share one
    selection of events, and numeric features share one pass over the amounts."""
    views: list[tuple[int, Callable[[Window, int], Window]]] = []
    index: dict[tuple[int, Filter | None], int] = {}
    specs: list[tuple[str, str, int, int]] = []
    for f in group.features:
        assert f.window is not None
        width = f.window.days * 86_400_000_000 + f.window.seconds * 1_000_000
        if (width, f.filter) not in index:
            index[(width, f.filter)] = len(views)
            views.append((width, _selector(group, f.filter)))
        col = group.columns.index(f.column) if f.column is not None else -1
        specs.append((f.name, f.agg, index[(width, f.filter)], col))

    def evaluate(eff: int, window: Window, current: Payload, values: dict[str, Value]) -> None:
        selected: list[Window | None] = [None] * len(views)
        sums: dict[tuple[int, int], tuple[list[int], int]] = {}
        for name, agg, view, col in specs:
            chosen = selected[view]
            if chosen is None:
                width, pick = views[view]
                chosen = selected[view] = pick(window, eff - width)
            values[name] = _value(agg, eff, chosen, current, col, sums, view)

    return evaluate


def _value(
    agg: str,
    eff: int,
    chosen: Window,
    current: Payload,
    col: int,
    sums: dict[tuple[int, int], tuple[list[int], int]],
    view: int,
) -> Value:
    effs, payloads = chosen
    n = len(effs)
    if agg == "count":
        return n
    if agg == "time_since_last":
        return (eff - effs[-1]) / 1_000_000 if n else None
    if agg == "distinct":
        return len({p[col] for p in payloads if p[col] is not None})
    if agg == "new_value":
        value = current[col]
        if value is None:
            return None
        return 0 if any(p[col] == value for p in payloads) else 1
    cached = sums.get((view, col))
    if cached is None:
        xs = cast(list[int], [p[col] for p in payloads])  # numeric column: never null
        cached = sums[(view, col)] = (xs, sum(xs))
    xs, s = cached
    if agg == "min":
        return min(xs) if n else None
    if agg == "max":
        return max(xs) if n else None
    if agg == "sum":
        return s
    if n == 0:
        return None
    mean = float(s) / float(n)
    if agg == "mean":
        return mean
    x = current[col]
    assert isinstance(x, int)
    if agg == "ratio":
        return float(x) / mean if s != 0 else None
    q = sum(v * v for v in xs)
    var = float(n * q - s * s) / float(n * n)
    if agg == "std":
        return math.sqrt(var)
    return (float(x) - mean) / math.sqrt(var) if n > 1 and var > 0 else None  # zscore


def bucket_value(group: BucketGroup, index: int, counters: list[int]) -> Value:
    """Value of the group's ``index``-th feature from its summed counter slots."""
    n = counters[index]
    slot = group.label_slot[index]
    if slot is None:
        return n
    return float(counters[slot]) / float(n) if n > 0 else None


def increments(group: BucketGroup, event: Callable[[str], object]) -> tuple[int, ...]:
    """Counter increments an event adds to its bucket (labels are added later)."""
    out: list[int] = []
    for f in group.features:
        ok = f.filter is None or passes(f.filter, event(f.filter.column))
        if f.agg == "sum":
            assert f.column is not None
            value = event(f.column)
            out.append(value if ok and isinstance(value, int) else 0)
        else:
            out.append(1 if ok else 0)
    out.extend(0 for _ in group.label_slots)
    return tuple(out)


def passes(flt: Filter, value: object) -> bool:
    return value is not None and _OPS[flt.op](value, flt.value)
