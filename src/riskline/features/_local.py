"""The embedded store's state: a feature set laid out over the compiled arenas of
``riskline.features._online_kernels``; each event costs one compiled call. Keys and text
values are interned to integers here; ``export`` and ``restore`` carry the state to and from
a snapshot (``_snapshot``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

import numpy as np

from riskline.features import _kernels as kc
from riskline.features import _online_kernels as k
from riskline.features._compute import passes
from riskline.features._plan import BucketGroup, Plan, SlidingGroup
from riskline.features.spec import Feature, Filter
from riskline.features.store import Admission

Value = int | float | None
Raw = Any  # a column's value as the event has it: str, int or None
_NUMERIC = {"amount_minor"}
_NULL = kc.NULL
_AGG = {
    "count": kc.COUNT,
    "sum": kc.SUM,
    "mean": kc.MEAN,
    "std": kc.STD,
    "min": kc.MIN,
    "max": kc.MAX,
    "distinct": kc.DISTINCT,
    "time_since_last": kc.SINCE,
    "new_value": kc.NEW,
    "zscore": kc.ZSCORE,
    "ratio": kc.RATIO,
    "label_rate": kc.LABEL_RATE,
}
_OPS = {"==": k.EQ, "!=": k.NE, "<": k.LT, "<=": k.LE, ">": k.GT, ">=": k.GE}


class LocalState:
    """A feature set's windowed features over compiled arenas (see ``_online_kernels``)."""

    def __init__(self, plan: Plan, journal: Callable[[list[object]], None] | None) -> None:
        self.plan = plan
        self.journal = journal
        self.columns = _columns(plan)
        index = self._index = {c: i for i, c in enumerate(self.columns)}
        self._numeric = [c in _NUMERIC for c in self.columns]
        self._codes: dict[Raw, int] = {}
        self._admission = Admission()
        self._labelled = Admission()  # the labels counted (``store.label_id``)
        self._groups = plan.sliding
        self._buckets = plan.buckets
        self._s_keys = [itemgetter(*(index[c] for c in g.keys)) for g in plan.sliding]
        self._b_keys = [itemgetter(*(index[c] for c in g.keys)) for g in plan.buckets]
        self._s_key_cols = [[index[c] for c in g.keys] for g in plan.sliding]
        self._b_key_cols = [[index[c] for c in g.keys] for g in plan.buckets]
        self._s_slots: list[dict[object, int]] = [{} for _ in plan.sliding]
        self._b_slots: list[dict[object, int]] = [{} for _ in plan.buckets]
        width = max((len(g.columns) for g in plan.sliding), default=0) or 1
        self._group_cols = np.full((max(len(plan.sliding), 1), width), -1, np.int64)
        for gi, g in enumerate(plan.sliding):
            for ci, c in enumerate(g.columns):
                self._group_cols[gi, ci] = index[c]
        self._horizons = np.array([g.horizon_us for g in plan.sliding], np.int64)
        self._program, sliding_names = self._sliding_program(plan.sliding)
        self._shape = np.array([[g.bucket_us, g.span] for g in plan.buckets], np.int64)
        self._shape = self._shape.reshape(len(plan.buckets), 2)
        self._b_program, bucket_names = self._bucket_program(plan.buckets, index)
        self.names = sliding_names + bucket_names
        self._labels = [
            [
                (f, slot)
                for f, slot in zip(g.features, g.label_slot, strict=True)
                if slot is not None
            ]
            for g in plan.buckets
        ]
        slots = max((g.slots for g in plan.buckets), default=0) or 1
        self._s = _Arena(1 << 12, width)
        self._b = _Arena(1 << 10, slots)
        outputs = len(self.names)
        self._out_state = np.zeros(outputs, np.int8)
        self._out_int = np.zeros(outputs, np.int64)
        self._out_float = np.zeros(outputs, np.float64)
        self._out_nulls = np.zeros(outputs + 1, np.int64)
        integer = [i for i, n in enumerate(self.names) if plan.fs.feature(n).is_integer]
        real = [i for i in range(outputs) if i not in integer]
        self._int_names = [self.names[i] for i in integer]
        self._float_names = [self.names[i] for i in real]
        self._int_of = _getter(integer)
        self._float_of = _getter(real)
        self._int_at = np.array(integer, np.intp)
        self._float_at = np.array(real, np.intp)
        self._warm_up()

    def _warm_up(self) -> None:
        """Load the compiled kernels now rather than on the first event (a read of nothing
        and a label into a scratch arena: no state changes)."""
        s, b = self._s, self._b
        nobody = np.full(len(self.columns) + len(self._s_keys) + len(self._b_keys), -1, np.int64)
        k.step(
            0, False, nobody, self._group_cols, self._horizons, self._program,
            s.meta, s.top, s.times, s.rows, self._shape, self._b_program,
            b.meta, b.top, b.times, b.rows,
            self._out_state, self._out_int, self._out_float, self._out_nulls,
        )  # fmt: skip
        scratch = _Arena(8, b.rows.shape[1])
        k.add_label(
            scratch.meta, scratch.top, scratch.times, scratch.rows, scratch.new_slot(), 0, 0
        )

    def _encode(self, values: Sequence[Raw]) -> list[int]:
        codes = self._codes
        out: list[int] = []
        append = out.append
        for value, numeric in zip(values, self._numeric, strict=True):
            if numeric:
                append(_NULL if value is None else int(value))
                continue
            code = codes.get(value)
            if code is None:
                code = _NULL if value is None else codes.setdefault(value, len(codes))
            append(code)
        return out

    def _encode_many(self, columns: Sequence[Sequence[Raw]], n: int) -> np.ndarray:
        """``_encode`` and ``_slots`` of ``n`` events at once, column by column: one row per
        event of columns, sliding slots, bucket slots (the layout ``step_many`` reads)."""
        codes = self._codes
        cols: list[list[int]] = []
        for values, numeric in zip(columns, self._numeric, strict=True):
            if numeric:
                cols.append([_NULL if v is None else int(v) for v in values])
                continue
            found = list(map(codes.get, values))
            if None in found:
                for i, code in enumerate(found):
                    if code is None:
                        v = values[i]
                        found[i] = _NULL if v is None else codes.setdefault(v, len(codes))
            cols.append(found)  # type: ignore[arg-type]  # no None is left
        arenas = (
            (self._s_key_cols, self._s_slots, self._s),
            (self._b_key_cols, self._b_slots, self._b),
        )
        for key_cols, tables, arena in arenas:
            for key_of, table in zip(key_cols, tables, strict=True):
                parts = [cols[c] for c in key_of]
                keys: list[Any] = parts[0] if len(parts) == 1 else list(zip(*parts, strict=True))
                slots = list(map(table.get, keys))
                if None in slots:
                    for i, slot in enumerate(slots):
                        if slot is None:
                            key = keys[i]
                            if key == _NULL or (type(key) is tuple and _NULL in key):
                                slots[i] = -1
                            elif (known := table.get(key)) is not None:  # new earlier here
                                slots[i] = known
                            else:
                                slots[i] = table[key] = arena.new_slot()
                cols.append(slots)  # type: ignore[arg-type]
        return np.array(cols, np.int64).reshape(len(cols), n).T.copy()

    def _encode_one(self, column: int, value: Raw) -> int:
        known: list[Raw] = [None] * len(self.columns)
        known[column] = value
        return self._encode(known)[column]

    def _sliding_program(self, groups: Sequence[SlidingGroup]) -> tuple[np.ndarray, list[str]]:
        rows: list[list[int]] = []
        names: list[str] = []
        index = {c: i for i, c in enumerate(self.columns)}
        for gi, g in enumerate(groups):
            for f in sorted(g.features, key=_view_order):
                assert f.window is not None
                fcol, fop, fval = self._filter(f.filter, g.columns, index)
                col = g.columns.index(f.column) if f.column is not None else -1
                width = f.window.days * 86_400_000_000 + f.window.seconds * 1_000_000
                rows.append([gi, _AGG[f.agg], width, fcol, fop, fval, col])
                names.append(f.name)
        program = np.array(rows, np.int64).reshape(len(rows), 7)
        return program, names

    def _filter(
        self, flt: Filter | None, local: Sequence[str], index: dict[str, int]
    ) -> tuple[int, int, int]:
        if flt is None:
            return -1, 0, 0
        return local.index(flt.column), _OPS[flt.op], self._encode_one(index[flt.column], flt.value)

    def _bucket_program(
        self, groups: Sequence[BucketGroup], index: dict[str, int]
    ) -> tuple[np.ndarray, list[str]]:
        rows: list[list[int]] = []
        names: list[str] = []
        for hi, g in enumerate(groups):
            for fi, (f, label) in enumerate(zip(g.features, g.label_slot, strict=True)):
                fcol, fop, fval = self._filter(f.filter, self.columns, index)
                col = index[f.column] if f.agg == "sum" and f.column is not None else -1
                label_slot = -1 if label is None else label
                rows.append([hi, _AGG[f.agg], fi, label_slot, fcol, fop, fval, col])
                names.append(f.name)
        return np.array(rows, np.int64).reshape(len(rows), 8), names

    def _slots(
        self,
        codes: list[int],
        keys: Sequence[Callable[[list[int]], Any]],
        tables: list[dict[object, int]],
        arena: _Arena,
    ) -> None:
        """Append each group's key slot to ``codes`` (-1: a null key), making new slots."""
        null = _NULL
        append = codes.append
        for key_of, table in zip(keys, tables, strict=True):
            key = key_of(codes)
            slot = table.get(key)
            if slot is None:
                if key == null or (type(key) is tuple and null in key):
                    append(-1)
                    continue
                slot = table[key] = arena.new_slot()
            append(slot)

    def _prepare(self, txid: str, ts_us: int, values: Sequence[Raw]) -> tuple[int, bool, list[int]]:
        """Admit the event (effective time, whether it counts) and encode it: its columns,
        then its slot in each sliding group, then in each bucketed group."""
        plan = self.plan
        eff, counted = self._admission.admit(txid, ts_us, plan.lateness_us, plan.dedup_us)
        codes = self._encode(values)
        self._slots(codes, self._s_keys, self._s_slots, self._s)
        self._slots(codes, self._b_keys, self._b_slots, self._b)
        return eff, counted, codes

    def apply(
        self, txid: str, ts_us: int, values: Sequence[Raw], into: dict[str, Value] | None
    ) -> tuple[int, bool]:
        """Decide the event's effective time and whether it counts; read its features (into
        ``into``, when given), then add it."""
        eff, counted, codes = self._prepare(txid, ts_us, values)
        row = np.array(codes, np.int64)
        s, b = self._s, self._b
        while True:
            status = k.step(
                eff, counted, row, self._group_cols, self._horizons, self._program,
                s.meta, s.top, s.times, s.rows,
                self._shape, self._b_program, b.meta, b.top, b.times, b.rows,
                self._out_state, self._out_int, self._out_float, self._out_nulls,
            )  # fmt: skip
            if status == k.OK:
                break
            self._grow(status)
        if into is not None:
            self._read(into)
        return eff, counted

    def apply_many(
        self, txids: Sequence[str], times_us: Sequence[int], columns: Sequence[Sequence[Raw]]
    ) -> tuple[list[tuple[int, bool]], np.ndarray, np.ndarray]:
        """``apply`` for several events in order, with one compiled call (a batch), given as
        columns (``columns``: one per ``self.columns``): each event's admission, and its
        windowed features (``names`` order) as a float64 matrix (null: NaN) and as a matrix
        of Python values (ints, floats and None, as ``_read`` gives them)."""
        plan, admit = self.plan, self._admission.admit
        lateness, dedup = plan.lateness_us, plan.dedup_us
        admitted = [admit(t, ts, lateness, dedup) for t, ts in zip(txids, times_us, strict=True)]
        n, width = len(txids), len(self.names)
        rows = self._encode_many(columns, n)
        nows = np.array([a[0] for a in admitted], np.int64)
        counted = np.array([a[1] for a in admitted], np.bool_)
        states = np.empty((n, width), np.int8)
        ints = np.empty((n, width), np.int64)
        floats = np.empty((n, width), np.float64)
        s, b = self._s, self._b
        done = 0
        while done < n:
            done, status = k.step_many(
                done, nows, counted, rows, self._group_cols, self._horizons, self._program,
                s.meta, s.top, s.times, s.rows,
                self._shape, self._b_program, b.meta, b.top, b.times, b.rows,
                states, ints, floats, self._out_nulls,
            )  # fmt: skip
            if status != k.OK:
                self._grow(status)
        nulls = states == k.IS_NULL
        values = ints.astype(object)  # Python ints, floats and None, as ``_read`` gives
        values[:, self._float_at] = floats[:, self._float_at]
        values[nulls] = None
        matrix = ints.astype(np.float64)
        matrix[:, self._float_at] = floats[:, self._float_at]
        matrix[nulls] = np.nan
        return admitted, matrix, values

    def export(self) -> tuple[dict[str, np.ndarray], dict[str, object]]:
        """What events changed: the arenas' arrays, and the tables as JSON-able values."""
        arrays = {**self._s.export("s"), **self._b.export("b")}
        tables: dict[str, object] = {
            "arena_slots": [self._s.slots, self._b.slots],
            "codes": list(self._codes.items()),
            "s_slots": [list(t.items()) for t in self._s_slots],
            "b_slots": [list(t.items()) for t in self._b_slots],
            "admission": self._admission.export(),
            "labelled": self._labelled.export(),
        }
        return arrays, tables

    def restore(self, arrays: dict[str, np.ndarray], tables: dict[str, Any]) -> None:
        """Take over an ``export`` of the same plan (before any event); raises ``ValueError``
        or ``KeyError``, and changes nothing, if it does not fit."""
        slot_tables = [
            [{_key(k): int(v) for k, v in t} for t in tables[f"{p}_slots"]] for p in ("s", "b")
        ]
        if [len(t) for t in slot_tables] != [len(self._s_slots), len(self._b_slots)]:
            raise ValueError("the snapshot's key tables do not match the feature set")
        codes = {_key(v): int(c) for v, c in tables["codes"]}
        admission = Admission.restored(tables["admission"])
        labelled = Admission.restored(tables["labelled"])
        s_count, b_count = (int(n) for n in tables["arena_slots"])
        s = _Arena.restored(arrays, "s", s_count, self._s.rows.shape[1])
        b = _Arena.restored(arrays, "b", b_count, self._b.rows.shape[1])
        self._s, self._b = s, b
        self._s_slots, self._b_slots = slot_tables
        self._codes, self._admission, self._labelled = codes, admission, labelled

    def _grow(self, status: int) -> None:
        if status & k.SLIDING_FULL:
            self._s.grow()
        if status & k.BUCKETS_FULL:
            self._b.grow()

    def _read(self, into: dict[str, Value]) -> None:
        into.update(zip(self._int_names, self._int_of(self._out_int.tolist()), strict=True))
        into.update(zip(self._float_names, self._float_of(self._out_float.tolist()), strict=True))
        nulls = self._out_nulls
        if nulls[0]:
            names = self.names
            for i in nulls[1 : int(nulls[0]) + 1].tolist():
                into[names[i]] = None

    def observe(
        self, txid: str, ts_us: int, values: Sequence[Raw], into: dict[str, Value]
    ) -> tuple[int, bool]:
        if self.journal is not None:
            self.journal([["e", txid, ts_us, values]])
        return self.apply(txid, ts_us, values, into)

    def observe_many(
        self, txids: Sequence[str], times_us: Sequence[int], columns: Sequence[Sequence[Raw]]
    ) -> tuple[list[tuple[int, bool]], np.ndarray, np.ndarray]:
        """``observe`` for several events in order, given as ``apply_many`` takes them: one
        journal write, one compiled call."""
        if self.journal is not None:
            rows = zip(*columns, strict=True) if columns else [()] * len(txids)
            events = zip(txids, times_us, rows, strict=True)
            self.journal([["e", txid, ts_us, values] for txid, ts_us, values in events])
        return self.apply_many(txids, times_us, columns)

    def apply_label(self, at_us: int, values: Sequence[Raw]) -> None:
        codes = self._encode(values)
        self._slots(codes, self._b_keys, self._b_slots, self._b)
        slots = codes[len(self.columns) :]
        index = self._index
        for hi, group in enumerate(self._buckets):
            slot = slots[hi]
            if slot < 0:
                continue
            for f, label_slot in self._labels[hi]:
                flt = f.filter
                if flt is not None and not passes(flt, values[index[flt.column]]):
                    continue
                bucket = at_us // group.bucket_us
                b = self._b
                while k.add_label(b.meta, b.top, b.times, b.rows, slot, bucket, label_slot):
                    b.grow()

    def label_once(self, label_id: str, at_us: int, values: Sequence[Raw]) -> bool:
        """``apply_label`` unless the label ``label_id`` (``store.label_id``) was counted
        within the dedup horizon; whether it counted."""
        if not self._labelled.first(label_id, at_us, self.plan.dedup_us):
            return False
        self.apply_label(at_us, values)
        return True

    def observe_label(self, label_id: str, at_us: int, values: Sequence[Raw]) -> bool:
        """Journal the label, then ``label_once``."""
        if self.journal is not None:
            self.journal([["l", at_us, values, label_id]])
        return self.label_once(label_id, at_us, values)


class _Arena:
    """Per-slot segments (lo, hi, start, end) over shared time and row arrays."""

    def __init__(self, capacity: int, width: int) -> None:
        self.meta = np.zeros((256, 4), np.int64)
        self.slots = 0
        self.top = np.zeros(1, np.int64)
        self.times = np.zeros(capacity, np.int64)
        self.rows = np.zeros((capacity, width), np.int64)

    def new_slot(self) -> int:
        if self.slots == self.meta.shape[0]:
            self.meta = _doubled(self.meta)
        self.slots += 1
        return self.slots - 1

    def grow(self) -> None:
        """Double the arena (the kernel found no room for a segment to move to)."""
        self.times = _doubled(self.times)
        self.rows = _doubled(self.rows)

    def export(self, prefix: str) -> dict[str, np.ndarray]:
        """The arrays' used parts (every segment ends below ``top``), named ``prefix_*``."""
        used = int(self.top[0])
        return {
            f"{prefix}_meta": self.meta[: self.slots],
            f"{prefix}_top": self.top,
            f"{prefix}_times": self.times[:used],
            f"{prefix}_rows": self.rows[:used],
        }

    @classmethod
    def restored(cls, arrays: dict[str, np.ndarray], prefix: str, slots: int, width: int) -> _Arena:
        """An arena from its ``export``, with room to grow; ``ValueError`` if it is malformed."""
        meta, top, times, rows = (arrays[f"{prefix}_{n}"] for n in ("meta", "top", "times", "rows"))
        used = int(top[0]) if top.shape == (1,) else -1
        shapes = [(slots, 4), (1,), (used,), (used, width)]
        for name, a, shape in zip(
            ("meta", "top", "times", "rows"), (meta, top, times, rows), shapes, strict=True
        ):
            if a.dtype != np.int64 or a.shape != shape:
                raise ValueError(
                    f"the snapshot's {prefix}_{name} is {a.dtype} {a.shape}, not {shape}"
                )
        arena = cls(max(2 * used, 8), width)
        arena.times[:used], arena.rows[:used], arena.top[:] = times, rows, top
        arena.meta = np.zeros((max(2 * slots, 256), 4), np.int64)
        arena.meta[:slots] = meta
        arena.slots = slots
        return arena


def _key(saved: object) -> Any:
    """A table key as JSON gave it back: a list was a tuple."""
    return tuple(saved) if isinstance(saved, list) else saved


def _doubled(a: np.ndarray) -> np.ndarray:
    """``a`` followed by as many zero rows. The zeros come from fresh (lazily zeroed) pages
    and only the old rows are copied: concatenating wrote both halves and stalled a request
    for 47-106 ms at half a million rows (3 ms this way; bench/serve.py)."""
    out = np.zeros((2 * a.shape[0], *a.shape[1:]), a.dtype)
    out[: a.shape[0]] = a
    return out


def _view_order(f: Feature) -> tuple[object, ...]:
    """Features of one view side by side, those reading the column first (they share a scan)."""
    flt = f.filter
    return (f.window, flt.label if flt else "", f.column is None)


def _getter(indices: list[int]) -> Callable[[list[Any]], Sequence[Any]]:
    """``values -> [values[i] for i in indices]``, at C speed."""
    if not indices:
        return lambda values: ()
    if len(indices) == 1:
        only = indices[0]
        return lambda values: (values[only],)
    return itemgetter(*indices)


def _columns(plan: Plan) -> tuple[str, ...]:
    """Every event column the windowed features read, keys first."""
    used: list[str] = []
    for keys in [g.keys for g in plan.sliding] + [g.keys for g in plan.buckets]:
        used.extend(c for c in keys if c not in used)
    for g in plan.sliding:
        used.extend(c for c in g.columns if c not in used)
    for bg in plan.buckets:
        for f in bg.features:
            extra: list[str | None] = [f.filter.column if f.filter else None, f.column]
            used.extend(c for c in extra if c is not None and c not in used)
    return tuple(used)
