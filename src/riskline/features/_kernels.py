"""Compiled window passes of the offline engine (numba).

Every kernel walks rows sorted by (entity code, effective time), one entity after another,
with two pointers per window: ``right`` admits the events strictly before the current time,
``left`` retires those that fell out of ``[eff - width, eff)``. Running totals make a pass
O(rows) whatever the window length. The arithmetic is exact (integer counts and sums, a
128-bit sum of squares) and the one float step matches the online engine's.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]

NULL = -(2**63)  # a null integer feature or encoded value
# Aggregation codes shared by the offline and online kernels.
COUNT, SUM, MEAN, STD, MIN, MAX, DISTINCT, SINCE, NEW, ZSCORE, RATIO, LABEL_RATE = range(12)
_MASK32 = np.uint64(0xFFFFFFFF)
_TWO64 = 18446744073709551616.0


@njit(cache=True, inline="always")
def _mul(a: np.uint64, b: np.uint64) -> tuple[np.uint64, np.uint64]:  # pragma: no cover
    """Full 128-bit product of two unsigned 64-bit integers as (high, low)."""
    a_lo, a_hi = a & _MASK32, a >> np.uint64(32)
    b_lo, b_hi = b & _MASK32, b >> np.uint64(32)
    lo_lo = a_lo * b_lo
    mid1 = a_hi * b_lo + (lo_lo >> np.uint64(32))
    mid2 = a_lo * b_hi + (mid1 & _MASK32)
    high = a_hi * b_hi + (mid1 >> np.uint64(32)) + (mid2 >> np.uint64(32))
    low = (mid2 << np.uint64(32)) | (lo_lo & _MASK32)
    return high, low


@njit(cache=True)
def counting_order(codes: I64, n_codes: int) -> I64:  # pragma: no cover
    """A stable order of rows by ``codes`` (-1, a null key, first): a counting sort."""
    counts = np.zeros(n_codes + 2, np.int64)
    for c in codes:
        counts[c + 2] += 1
    for k in range(1, n_codes + 2):
        counts[k] += counts[k - 1]
    order = np.empty(codes.size, np.int64)
    for i in range(codes.size):
        slot = codes[i] + 1
        order[counts[slot]] = i
        counts[slot] += 1
    return order


@njit(cache=True)
def sliding(
    code: I64,
    eff: I64,
    mask: B,
    amount: I64,
    values: I64,
    n_values: int,
    width: int,
    int_aggs: I64,
    out_int: npt.NDArray[np.int64],
    float_aggs: I64,
    out_float: npt.NDArray[np.float64],
) -> None:  # pragma: no cover
    """Window features of each row over its entity's contributing rows in
    ``[eff - width, eff)``; rows arrive sorted by (code, eff), code -1 is a null key.

    Row ``r`` of ``out_int``/``out_float`` receives aggregation ``int_aggs[r]`` /
    ``float_aggs[r]`` of every row, in the same (sorted) order; a null is ``NULL`` (ints) or
    NaN (floats); null-key rows are left alone.
    ``amount`` is the numeric column (the row's own value for zscore/ratio); ``values`` are
    the codes ``distinct``/``new_value`` count (-1: null).
    """
    rows = code.size
    aggs = np.concatenate((int_aggs, float_aggs))
    want_var = (aggs == STD).any() or (aggs == ZSCORE).any()
    want_min, want_max = (aggs == MIN).any(), (aggs == MAX).any()
    want_values = (aggs == DISTINCT).any() or (aggs == NEW).any()
    tally = np.zeros(n_values if want_values else 0, np.int64)
    dq_min = np.empty(rows if want_min else 0, np.int64)
    dq_max = np.empty(rows if want_max else 0, np.int64)
    start = 0
    while start < rows:
        end = start + 1
        while end < rows and code[end] == code[start]:
            end += 1
        if code[start] < 0:
            start = end
            continue
        left = right = start
        n = s = distinct = 0
        q_hi = q_lo = np.uint64(0)
        last = -1
        min_head = min_tail = max_head = max_tail = start
        for j in range(start, end):
            now = eff[j]
            while right < j and eff[right] < now:
                if mask[right]:
                    x = amount[right]
                    n += 1
                    s += x
                    last = eff[right]
                    if want_var:
                        hi, lo = _mul(np.uint64(abs(x)), np.uint64(abs(x)))
                        q_lo += lo
                        q_hi += hi + (q_lo < lo)
                    if want_min:
                        while min_tail > min_head and amount[dq_min[min_tail - 1]] >= x:
                            min_tail -= 1
                        dq_min[min_tail] = right
                        min_tail += 1
                    if want_max:
                        while max_tail > max_head and amount[dq_max[max_tail - 1]] <= x:
                            max_tail -= 1
                        dq_max[max_tail] = right
                        max_tail += 1
                    v = values[right] if want_values else -1
                    if v >= 0:
                        tally[v] += 1
                        distinct += tally[v] == 1
                right += 1
            low = now - width
            while left < right and eff[left] < low:
                if mask[left]:
                    x = amount[left]
                    n -= 1
                    s -= x
                    if want_var:
                        hi, lo = _mul(np.uint64(abs(x)), np.uint64(abs(x)))
                        q_hi -= hi + (q_lo < lo)
                        q_lo -= lo
                    v = values[left] if want_values else -1
                    if v >= 0:
                        tally[v] -= 1
                        distinct -= tally[v] == 0
                left += 1
            if want_min:
                while min_head < min_tail and dq_min[min_head] < left:
                    min_head += 1
            if want_max:
                while max_head < max_tail and dq_max[max_head] < left:
                    max_head += 1
            at = j
            for r in range(int_aggs.size):
                agg = int_aggs[r]
                if agg == COUNT:
                    out_int[r, at] = n
                elif agg == SUM:
                    out_int[r, at] = s
                elif agg == DISTINCT:
                    out_int[r, at] = distinct
                elif agg == NEW:
                    own = values[j]
                    out_int[r, at] = NULL if own < 0 else (0 if tally[own] > 0 else 1)
                elif agg == MIN:
                    out_int[r, at] = amount[dq_min[min_head]] if n > 0 else NULL
                else:  # MAX
                    out_int[r, at] = amount[dq_max[max_head]] if n > 0 else NULL
            for r in range(float_aggs.size):
                out_float[r, at] = _real(float_aggs[r], n, s, q_hi, q_lo, amount[j], now, last)
        if want_values:
            for k in range(left, right):
                if mask[k] and values[k] >= 0:
                    tally[values[k]] -= 1
        start = end


@njit(cache=True, inline="always")
def _real(
    agg: int, n: int, s: int, q_hi: np.uint64, q_lo: np.uint64, x: int, now: int, last: int
) -> float:  # pragma: no cover
    """A float feature from window totals (NaN: null), as the online engine computes it."""
    if n == 0:
        return np.nan
    if agg == SINCE:
        return (now - last) / 1_000_000
    mean = float(s) / float(n)
    if agg == MEAN:
        return mean
    if agg == RATIO:
        return float(x) / mean if s != 0 else np.nan
    var = _variance(n, s, q_hi, q_lo)
    if agg == STD:
        return float(np.sqrt(var))
    return (float(x) - mean) / np.sqrt(var) if n > 1 and var > 0 else np.nan  # ZSCORE


@njit(cache=True, inline="always")
def _variance(n: int, s: int, q_hi: np.uint64, q_lo: np.uint64) -> float:  # pragma: no cover
    """``float(n*q - s*s) / float(n*n)`` with ``q`` held as 128 bits (NaN when n is 0)."""
    if n == 0:
        return np.nan
    un = np.uint64(n)
    hi, lo = _mul(un, q_lo)
    hi += un * q_hi
    s_hi, s_lo = _mul(np.uint64(abs(s)), np.uint64(abs(s)))
    d_hi = hi - s_hi - (lo < s_lo)
    d_lo = lo - s_lo
    spread = float(d_hi) * _TWO64 + float(d_lo)
    return spread / float(n * n)


@njit(cache=True)
def bucketed(
    code: I64,
    bucket: I64,
    weight: I64,
    span: int,
    label_code: I64,
    label_bucket: I64,
    out_sum: I64,
    out_labels: I64,
) -> None:  # pragma: no cover
    """Per row: the sum of ``weight`` over its entity's rows in buckets ``[b - span, b)``,
    and (when ``out_labels`` is not empty) the number of labels of the entity whose bucket
    lies there; rows are sorted by (code, bucket), labels by (label_code, label_bucket)."""
    rows = code.size
    labels = label_code.size
    want_labels = out_labels.size > 0
    p = 0
    start = 0
    while start < rows:
        end = start + 1
        while end < rows and code[end] == code[start]:
            end += 1
        key = code[start]
        if key < 0:
            start = end
            continue
        while p < labels and label_code[p] < key:
            p += 1
        label_end = p
        while label_end < labels and label_code[label_end] == key:
            label_end += 1
        left = right = start
        label_left = label_right = p
        total = seen = 0
        for j in range(start, end):
            b = bucket[j]
            while right < j and bucket[right] < b:
                total += weight[right]
                right += 1
            while left < right and bucket[left] < b - span:
                total -= weight[left]
                left += 1
            out_sum[j] = total
            if want_labels:
                while label_right < label_end and label_bucket[label_right] < b:
                    seen += 1
                    label_right += 1
                while label_left < label_right and label_bucket[label_left] < b - span:
                    seen -= 1
                    label_left += 1
                out_labels[j] = seen
        p = label_end
        start = end
