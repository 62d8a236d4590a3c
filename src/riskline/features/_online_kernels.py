"""Compiled per-event step of the embedded online store (numba).

State lives in two arenas of plain arrays. Each entity key owns a *segment* of an arena,
holding its recent events (sliding groups) or its buckets (bucketed groups) in time order
between ``lo`` and ``hi``; a full segment is compacted, or moved to a segment twice its size
at the arena's top. Everything that can fail for lack of room is checked before anything
changes, so a call that reports a full arena can be repeated after the arena has grown.

The arithmetic is the offline kernels' (exact integer sums, 128-bit sums of squares, one
float step), so the embedded store agrees with the offline engine exactly.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

from riskline.features._kernels import (
    COUNT,
    DISTINCT,
    MAX,
    MIN,
    NEW,
    NULL,
    SUM,
    _mul,
    _real,
)

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
I8 = npt.NDArray[np.int8]

OK, SLIDING_FULL, BUCKETS_FULL = 0, 1, 2  # results of ``step``: which arena must grow
# Meta columns of a segment.
LO, HI, START, END = 0, 1, 2, 3
# Output states.
IS_NULL, IS_INT, IS_FLOAT = 0, 1, 2
# Filter op codes, in ``spec.Op`` order.
EQ, NE, LT, LE, GT, GE = range(6)
# Columns of a sliding feature's program row.
P_GROUP, P_AGG, P_WIDTH, P_FCOL, P_FOP, P_FVAL, P_COL = range(7)
# Columns of a bucketed feature's program row.
Q_GROUP, Q_AGG, Q_SLOT, Q_LABEL, Q_FCOL, Q_FOP, Q_FVAL, Q_COL = range(8)


@njit(cache=True, inline="always")
def passes(value: int, op: int, target: int) -> bool:  # pragma: no cover
    if value == NULL:
        return False
    if op == EQ:
        return value == target
    if op == NE:
        return value != target
    if op == LT:
        return value < target
    if op == LE:
        return value <= target
    if op == GT:
        return value > target
    return value >= target


@njit(cache=True)
def _moving(meta: I64, slot: int, need: int) -> int:  # pragma: no cover
    """Arena room the slot's segment must move to for ``need`` more entries (0: it fits,
    perhaps after compacting)."""
    lo, hi, start, end = meta[slot, LO], meta[slot, HI], meta[slot, START], meta[slot, END]
    if hi + need <= end or (hi - lo) + need <= end - start:
        return 0
    return int(max(8, 2 * (end - start), 2 * (hi - lo + need)))


@njit(cache=True)
def _make_room(
    meta: I64, slot: int, top: I64, times: I64, rows: I64, need: int
) -> None:  # pragma: no cover
    """Compact or move the slot's segment so ``need`` more entries fit (``_moving`` said how)."""
    lo, hi, start, end = meta[slot, LO], meta[slot, HI], meta[slot, START], meta[slot, END]
    if hi + need <= end:
        return
    count = hi - lo
    size = _moving(meta, slot, need)
    if size == 0:  # compacting is enough
        target = start
    else:
        target = top[0]
        top[0] += size
        meta[slot, START], meta[slot, END] = target, target + size
    for k in range(count):
        times[target + k] = times[lo + k]
        rows[target + k, :] = rows[lo + k, :]
    meta[slot, LO], meta[slot, HI] = target, target + count


@njit(cache=True)
def step(
    now: int,
    counted: bool,
    encoded: I64,
    group_cols: I64,
    horizons: I64,
    program: I64,
    s_meta: I64,
    s_top: I64,
    s_eff: I64,
    s_data: I64,
    b_shape: I64,
    b_program: I64,
    b_meta: I64,
    b_top: I64,
    b_id: I64,
    b_cnt: I64,
    out_state: I8,
    out_int: I64,
    out_float: F64,
    out_nulls: I64,
) -> int:  # pragma: no cover
    """One event: read every windowed feature (state strictly before ``now``) into the
    outputs (``out_nulls``: how many are null, then which), then add the event if ``counted``.
    ``encoded`` is the event's encoded columns, then its key slot in each sliding group, then in
    each bucketed group (-1: a null key)."""
    groups, buckets = horizons.size, b_shape.shape[0]
    columns = encoded.size - groups - buckets
    row = encoded[:columns]
    slots = encoded[columns : columns + groups]
    b_slots = encoded[columns + groups :]
    s_moving = b_moving = 0
    # 1. Forget what no window reaches any more; make sure the event will fit.
    for g in range(groups):
        slot = slots[g]
        if slot < 0:
            continue
        low = now - horizons[g]
        lo, hi = s_meta[slot, LO], s_meta[slot, HI]
        while lo < hi and s_eff[lo] < low:
            lo += 1
        s_meta[slot, LO] = lo
        if counted:
            s_moving += _moving(s_meta, slot, 1)
    for h in range(buckets):
        slot = b_slots[h]
        if slot < 0:
            continue
        current = now // b_shape[h, 0]
        lo, hi = b_meta[slot, LO], b_meta[slot, HI]
        while lo < hi and b_id[lo] < current - b_shape[h, 1]:
            lo += 1
        b_meta[slot, LO] = lo
        if counted:
            b_moving += _moving(b_meta, slot, 1)
    short = (s_top[0] + s_moving > s_eff.size) * SLIDING_FULL
    short |= (b_top[0] + b_moving > b_id.size) * BUCKETS_FULL
    if short:
        return int(short)
    # 2. Read; features of one view (group, window, filter, column) share one scan.
    cached = -1
    n = total = kept = 0
    q_hi = q_lo = np.uint64(0)
    smallest = largest = 0
    last = -1
    seen = False
    nothing = np.empty(0, np.int64)
    picked = nothing
    for f in range(program.shape[0]):
        g = program[f, P_GROUP]
        slot = slots[g]
        if slot < 0:
            out_state[f] = IS_NULL
            cached = -1
            continue
        agg, col = program[f, P_AGG], program[f, P_COL]
        own = int(row[group_cols[g, col]]) if col >= 0 else NULL
        alone = agg in (DISTINCT, NEW)
        if alone or cached < 0 or not _same_view(program, cached, f):
            lo, hi = int(s_meta[slot, LO]), int(s_meta[slot, HI])
            picked = np.empty(hi - lo, np.int64) if agg == DISTINCT else nothing
            n, total, q_hi, q_lo, smallest, largest, last, seen, kept = _scan(
                now, program, f, lo, hi, s_eff, s_data, own, picked
            )
            cached = -1 if alone else f
        _emit(
            now, agg, f, own, n, total, q_hi, q_lo, smallest, largest, last, seen,
            picked[:kept], out_state, out_int, out_float,
        )  # fmt: skip
    base = program.shape[0]
    for f in range(b_program.shape[0]):
        h = b_program[f, Q_GROUP]
        slot = b_slots[h]
        if slot < 0:
            out_state[base + f] = IS_NULL
            continue
        _bucket_value(
            now,
            b_shape,
            b_program,
            f,
            b_meta[slot, LO],
            b_meta[slot, HI],
            b_id,
            b_cnt,
            base,
            out_state,
            out_int,
            out_float,
        )
    nulls = 0
    for f in range(out_state.size):
        if out_state[f] == IS_NULL:
            nulls += 1
            out_nulls[nulls] = f
    out_nulls[0] = nulls
    if not counted:
        return OK
    # 3. Add the event.
    for g in range(groups):
        slot = slots[g]
        if slot < 0:
            continue
        _make_room(s_meta, slot, s_top, s_eff, s_data, 1)
        hi = s_meta[slot, HI]
        s_eff[hi] = now
        for k in range(group_cols.shape[1]):
            column = group_cols[g, k]
            s_data[hi, k] = row[column] if column >= 0 else NULL
        s_meta[slot, HI] = hi + 1
    for h in range(buckets):
        slot = b_slots[h]
        if slot < 0:
            continue
        _make_room(b_meta, slot, b_top, b_id, b_cnt, 1)
        at = _bucket_at(b_meta, slot, b_id, b_cnt, now // b_shape[h, 0])
        for f in range(b_program.shape[0]):
            if b_program[f, Q_GROUP] != h:
                continue
            fcol = b_program[f, Q_FCOL]
            if fcol >= 0 and not passes(row[fcol], b_program[f, Q_FOP], b_program[f, Q_FVAL]):
                continue
            amount = row[b_program[f, Q_COL]] if b_program[f, Q_AGG] == SUM else 1
            b_cnt[at, b_program[f, Q_SLOT]] += amount if amount != NULL else 0
    return OK


@njit(cache=True)
def step_many(
    first: int,
    nows: I64,
    counted: npt.NDArray[np.bool_],
    encoded: I64,
    group_cols: I64,
    horizons: I64,
    program: I64,
    s_meta: I64,
    s_top: I64,
    s_eff: I64,
    s_data: I64,
    b_shape: I64,
    b_program: I64,
    b_meta: I64,
    b_top: I64,
    b_id: I64,
    b_cnt: I64,
    out_state: I8,
    out_int: I64,
    out_float: F64,
    out_nulls: I64,
) -> tuple[int, int]:  # pragma: no cover
    """``step`` for events ``first..`` in order (row ``i`` of ``encoded`` and of the 2-D
    outputs is event ``i``). Returns ``(i, OK)`` when all are done, or the first event that
    found an arena full and which: grow it and call again from ``i``."""
    for i in range(first, nows.size):
        status = step(
            nows[i], counted[i], encoded[i], group_cols, horizons, program,
            s_meta, s_top, s_eff, s_data, b_shape, b_program, b_meta, b_top, b_id, b_cnt,
            out_state[i], out_int[i], out_float[i], out_nulls,
        )  # fmt: skip
        if status != OK:
            return i, status
    return nows.size, OK


@njit(cache=True)
def _bucket_at(meta: I64, slot: int, ids: I64, counts: I64, bucket: int) -> int:  # pragma: no cover
    """Index of the slot's entry for ``bucket``, inserted (zeroed, in order) if missing;
    there must be room for one more entry."""
    lo, hi = meta[slot, LO], meta[slot, HI]
    at = hi
    while at > lo and ids[at - 1] > bucket:
        at -= 1
    if at > lo and ids[at - 1] == bucket:
        return int(at - 1)
    for k in range(hi, at, -1):
        ids[k] = ids[k - 1]
        counts[k, :] = counts[k - 1, :]
    ids[at] = bucket
    counts[at, :] = 0
    meta[slot, HI] = hi + 1
    return int(at)


@njit(cache=True)
def add_label(
    b_meta: I64,
    b_top: I64,
    b_id: I64,
    b_cnt: I64,
    slot: int,
    bucket: int,
    label_slot: int,
) -> int:  # pragma: no cover
    """Count one label in ``bucket`` of a bucketed key slot."""
    if b_top[0] + _moving(b_meta, slot, 1) > b_id.size:
        return BUCKETS_FULL
    _make_room(b_meta, slot, b_top, b_id, b_cnt, 1)
    at = _bucket_at(b_meta, slot, b_id, b_cnt, bucket)
    b_cnt[at, label_slot] += 1
    return OK


@njit(cache=True, inline="always")
def _same_view(program: I64, a: int, b: int) -> bool:  # pragma: no cover
    """Whether feature ``b`` can reuse the scan made for feature ``a``."""
    for c in (P_GROUP, P_WIDTH, P_FCOL, P_FOP, P_FVAL):
        if program[a, c] != program[b, c]:
            return False
    return bool(program[b, P_COL] < 0 or program[b, P_COL] == program[a, P_COL])


@njit(cache=True, inline="always")
def _scan(
    now: int,
    program: I64,
    f: int,
    lo: int,
    hi: int,
    eff: I64,
    data: I64,
    own: int,
    picked: I64,
) -> tuple[int, int, np.uint64, np.uint64, int, int, int, bool, int]:  # pragma: no cover
    """Count, sum, 128-bit sum of squares, min, max and latest time of feature ``f``'s
    window, whether ``own`` occurs in it, and its non-null values (into ``picked``)."""
    agg, low = program[f, P_AGG], now - program[f, P_WIDTH]
    fcol, fop, fval = program[f, P_FCOL], program[f, P_FOP], program[f, P_FVAL]
    col = program[f, P_COL]
    n = s = kept = 0
    q_hi = q_lo = np.uint64(0)
    smallest = largest = 0
    last = -1
    seen = False
    for j in range(hi - 1, lo - 1, -1):
        t = eff[j]
        if t >= now:
            continue
        if t < low:
            break
        if fcol >= 0 and not passes(data[j, fcol], fop, fval):
            continue
        x = data[j, col] if col >= 0 else 0
        if n == 0:
            last, smallest, largest = t, x, x
        n += 1
        if agg == NEW:
            if x == own:
                seen = True
                break
            continue
        if agg == DISTINCT:
            if x != NULL:
                picked[kept] = x
                kept += 1
            continue
        s += x
        smallest, largest = min(smallest, x), max(largest, x)
        hi_, lo_ = _mul(np.uint64(abs(x)), np.uint64(abs(x)))
        q_lo += lo_
        q_hi += hi_ + (q_lo < lo_)
    return n, s, q_hi, q_lo, smallest, largest, last, seen, kept


@njit(cache=True, inline="always")
def _emit(
    now: int,
    agg: int,
    f: int,
    own: int,
    n: int,
    s: int,
    q_hi: np.uint64,
    q_lo: np.uint64,
    smallest: int,
    largest: int,
    last: int,
    seen: bool,
    picked: I64,
    out_state: I8,
    out_int: I64,
    out_float: F64,
) -> None:  # pragma: no cover
    out_state[f] = IS_INT
    if agg == COUNT:
        out_int[f] = n
    elif agg == SUM:
        out_int[f] = s
    elif agg == DISTINCT:
        out_int[f] = _distinct(picked, picked.size)
    elif agg == NEW:
        if own == NULL:
            out_state[f] = IS_NULL
        else:
            out_int[f] = 0 if seen else 1
    elif n == 0:
        out_state[f] = IS_NULL
    elif agg == MIN:
        out_int[f] = smallest
    elif agg == MAX:
        out_int[f] = largest
    else:  # a float: the offline kernel's own arithmetic
        real = _real(agg, n, s, q_hi, q_lo, own, now, last)
        out_state[f] = IS_NULL if np.isnan(real) else IS_FLOAT
        out_float[f] = real


@njit(cache=True)
def _distinct(picked: I64, n: int) -> int:  # pragma: no cover
    values = np.sort(picked[:n])
    count = 0
    for k in range(values.size):
        if values[k] != NULL and (k == 0 or values[k] != values[k - 1]):
            count += 1
    return count


@njit(cache=True, inline="always")
def _bucket_value(
    now: int,
    b_shape: I64,
    b_program: I64,
    f: int,
    lo: int,
    hi: int,
    ids: I64,
    counts: I64,
    base: int,
    out_state: I8,
    out_int: I64,
    out_float: F64,
) -> None:  # pragma: no cover
    h = b_program[f, Q_GROUP]
    current = now // b_shape[h, 0]
    first = current - b_shape[h, 1]
    k, label = b_program[f, Q_SLOT], b_program[f, Q_LABEL]
    total = labels = 0
    for j in range(lo, hi):
        if ids[j] >= current:
            break
        if ids[j] >= first:
            total += counts[j, k]
            if label >= 0:
                labels += counts[j, label]
    if label < 0:
        out_state[base + f] = IS_INT
        out_int[base + f] = total
    elif total > 0:
        out_state[base + f] = IS_FLOAT
        out_float[base + f] = float(labels) / float(total)
    else:
        out_state[base + f] = IS_NULL
