"""Online engine: per-entity state updated by each event and read at scoring time.

Same semantics as the offline engine (see ``riskline.features.spec``); Polars and DuckDB are
never imported here.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import cast

import numpy as np

from riskline.events import PaymentAttempt, event_columns
from riskline.features._compute import (
    GroupFn,
    Value,
    bucket_value,
    group_evaluator,
    increments,
    passes,
)
from riskline.features._embedded import EmbeddedStore
from riskline.features._local import LocalState
from riskline.features._plan import BucketGroup, Plan
from riskline.features.rows import FeatureRows, FeatureVector
from riskline.features.spec import FeatureSet
from riskline.features.store import (
    BucketRequest,
    Exchange,
    Labelling,
    LabelRequest,
    SlidingRequest,
    StateStore,
    label_id,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_SEP = "\x1f"


def to_us(at: datetime) -> int:
    """Microseconds since the epoch of a tz-aware datetime."""
    return (at - _EPOCH) // _US


class OnlineEngine:
    """Feature values for each event as it arrives, from an ``EmbeddedStore`` (compiled, in
    process) or any ``StateStore`` (exchange protocol, e.g. Redis)."""

    def __init__(self, fs: FeatureSet, store: StateStore | EmbeddedStore) -> None:
        self.fs = fs
        self.store = store
        self._plan = Plan.of(fs)
        self._local: LocalState | None = None
        if isinstance(store, EmbeddedStore):
            self._local = store.bind(self._plan)
            self._local_columns = _getter(self._local.columns)
            at = {n: j for j, n in enumerate(fs.names)}
            self._windowed_at = np.array([at[n] for n in self._local.names], np.intp)
        self._groups: list[GroupFn] = [group_evaluator(g) for g in self._plan.sliding]
        self._row = [
            (f.name, f.agg, str(f.column), str(f.other))
            for f in fs.features
            if f.agg in ("value", "differs")
        ]
        self._row_at = [
            (name, fs.names.index(name), agg, column, other)
            for name, agg, column, other in self._row
        ]
        self._bucket_names = [[f.name for f in g.features] for g in self._plan.buckets]
        self._delay_us = next(
            (f.label_delay // _US for f in fs.features if f.agg == "label_rate"), 0
        )

    def observe(self, event: PaymentAttempt) -> FeatureVector:
        """Update state with ``event`` and return its features (state strictly before it)."""
        if self._local is not None:
            return self._observe_local(self._local, event)
        if isinstance(self.store, EmbeddedStore):
            raise AssertionError("an embedded store is always bound")
        plan = self._plan
        get = event.__getattribute__
        sliding: list[SlidingRequest] = []
        sliding_groups: list[int] = []
        payloads = []
        for i, g in enumerate(plan.sliding):
            key = _key(get, g.keys)
            payload = tuple(get(c) for c in g.columns)
            payloads.append(payload)
            if key is not None:
                sliding.append(
                    SlidingRequest(f"s{_SEP}{g.entity}{_SEP}{key}", g.horizon_us, payload)
                )
                sliding_groups.append(i)
        buckets: list[BucketRequest] = []
        bucket_groups: list[int] = []
        for i, bg in enumerate(plan.buckets):
            key = _key(get, bg.keys)
            if key is not None:
                buckets.append(
                    BucketRequest(
                        _bucket_key(bg, key),
                        bg.bucket_us,
                        bg.span,
                        increments(bg, get),
                    )
                )
                bucket_groups.append(i)
        snap = self.store.exchange(
            Exchange(
                event.transaction_id,
                to_us(event.ts),
                plan.lateness_us,
                plan.dedup_us,
                tuple(sliding),
                tuple(buckets),
            )
        )
        values: dict[str, Value] = dict.fromkeys(self.fs.names)
        self._row_level(get, values)
        for window, gi in zip(snap.windows, sliding_groups, strict=True):
            self._groups[gi](snap.eff_us, window, payloads[gi], values)
        for counters, bi in zip(snap.counters, bucket_groups, strict=True):
            group = plan.buckets[bi]
            for j, name in enumerate(self._bucket_names[bi]):
                values[name] = bucket_value(group, j, counters)
        return FeatureVector(event.transaction_id, values, snap.eff_us, snap.counted)

    def observe_many(self, events: Sequence[PaymentAttempt]) -> FeatureRows:
        """``observe`` each event in order; the embedded store does them in one compiled call
        and hands the values over as a matrix as well (``FeatureRows``)."""
        local = self._local
        names = self.fs.names
        if local is None or len(events) == 1:  # one event: the lighter per-event call
            return FeatureRows.of(names, [self.observe(e) for e in events])
        ids, times, *raw = event_columns(events, ("transaction_id", "ts", *local.columns))
        times_us = list(map(to_us, times))  # type: ignore[arg-type]
        admitted, windowed, windowed_values = local.observe_many(ids, times_us, raw)  # type: ignore[arg-type]
        shape = (len(events), len(names))
        matrix = np.empty(shape, np.float64)
        matrix[:, self._windowed_at] = windowed
        objects = np.empty(shape, object)
        objects[:, self._windowed_at] = windowed_values
        for _, j, agg, column, other in self._row_at:
            if agg == "value":
                values = cast(list[Value], event_columns(events, (column,))[0])
            else:
                values = list(map(_differs, *event_columns(events, (column, other))))
            objects[:, j] = values
            matrix[:, j] = [np.nan if v is None else v for v in values]
        return FeatureRows.from_objects(names, objects, matrix, ids, admitted)  # type: ignore[arg-type]

    def _observe_local(self, local: LocalState, event: PaymentAttempt) -> FeatureVector:
        get = event.__getattribute__
        raw = self._local_columns(event)
        values: dict[str, Value] = dict.fromkeys(self.fs.names)
        eff, counted = local.observe(event.transaction_id, to_us(event.ts), raw, values)
        self._row_level(get, values)
        return FeatureVector(event.transaction_id, values, eff, counted)

    def _row_level(self, get: Callable[[str], object], values: dict[str, Value]) -> None:
        for name, agg, column, other in self._row:
            if agg == "value":
                values[name] = get(column)  # type: ignore[assignment]
            else:
                values[name] = _differs(get(column), get(other))

    def label_at(self, event: PaymentAttempt) -> datetime | None:
        """When the event's fraud label may be used (None: genuine or unlabelled)."""
        if not event.is_fraud:
            return None
        earliest = event.ts + self._delay_us * _US
        known = event.label_available_at
        return earliest if known is None or known < earliest else known

    def observe_label(self, event: PaymentAttempt, label_at: datetime) -> bool:
        """Count a confirmed fraud label of a counted ``event`` from ``label_at`` on, once per
        event (``store.label_id``, within the dedup horizon); whether this call counted it."""
        get = event.__getattribute__
        at = to_us(label_at)
        labelled = label_id(event.transaction_id, to_us(event.ts))
        if self._local is not None:
            return self._local.observe_label(labelled, at, self._local_columns(event))
        if isinstance(self.store, EmbeddedStore):
            raise AssertionError("an embedded store is always bound")
        requests = []
        for bg in self._plan.buckets:
            key = _key(get, bg.keys)
            if key is None:
                continue
            for f, slot in zip(bg.features, bg.label_slot, strict=True):
                if slot is None or (f.filter and not passes(f.filter, get(f.filter.column))):
                    continue
                requests.append(
                    LabelRequest(
                        _bucket_key(bg, key), bg.bucket_us, bg.span, at // bg.bucket_us, slot
                    )
                )
        return self.store.add_labels(Labelling(labelled, at, self._plan.dedup_us, tuple(requests)))


def _differs(a: object, b: object) -> int | None:
    """The ``differs`` feature: 1 if both values are set and differ, 0 if equal, else null."""
    return None if a is None or b is None else int(a != b)


def _getter(columns: tuple[str, ...]) -> Callable[[PaymentAttempt], tuple[object, ...]]:
    """``event -> (event.c for c in columns)``, at C speed."""
    if not columns:  # a set of row-level features only
        return lambda event: ()
    get = attrgetter(*columns)
    if len(columns) == 1:
        return lambda event: (get(event),)
    return get


def _bucket_key(group: BucketGroup, key: str) -> str:
    return f"b{_SEP}{group.entity}{_SEP}{group.bucket_us}{_SEP}{group.span}{_SEP}{key}"


def _key(get: object, columns: tuple[str, ...]) -> str | None:
    values = [get(c) for c in columns]  # type: ignore[operator]
    if any(v is None for v in values):
        return None
    return _SEP.join(str(v) for v in values)


def replay(engine: OnlineEngine, events: Iterable[PaymentAttempt]) -> Iterator[FeatureVector]:
    """Feed events in the given order, delivering each fraud label once it is available.

    A label is delivered before the first event whose effective time is past ``label_at``,
    exactly as a live service would have received it.
    """
    pending: list[tuple[int, int, PaymentAttempt, datetime]] = []
    mark = -(2**62)
    for seq, event in enumerate(events):
        ts = to_us(event.ts)
        mark = max(mark, ts)
        while pending and pending[0][0] < mark:
            _, _, labelled, at = heapq.heappop(pending)
            engine.observe_label(labelled, at)
        vector = engine.observe(event)
        label_at = engine.label_at(event)
        if vector.counted and label_at is not None:
            label_at = max(label_at, _EPOCH + vector.eff_us * _US)  # not before the event
            heapq.heappush(pending, (to_us(label_at), seq, event, label_at))
        yield vector
