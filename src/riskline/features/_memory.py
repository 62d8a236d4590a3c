"""An in-memory store speaking the exchange protocol (``riskline.features.store``)."""

from __future__ import annotations

from bisect import bisect_left

from riskline.features.store import (
    Admission,
    Exchange,
    Labelling,
    LabelRequest,
    Payload,
    Snapshot,
)


class _Window:
    __slots__ = ("effs", "payloads", "start")

    def __init__(self) -> None:
        self.effs: list[int] = []
        self.payloads: list[Payload] = []
        self.start = 0

    def read(self, lo_us: int, hi_us: int) -> tuple[list[int], list[Payload]]:
        lo = bisect_left(self.effs, lo_us, self.start)
        hi = bisect_left(self.effs, hi_us, lo)
        if lo > 64 and lo > len(self.effs) // 2:  # forget what no window can reach again
            del self.effs[:lo], self.payloads[:lo]
            hi -= lo
            lo = 0
        self.start = lo
        return self.effs[lo:hi], self.payloads[lo:hi]


class MemoryStore:
    """The exchange protocol over plain dictionaries: the reference the Redis store follows,
    and a stand-in for a remote store in tests. Keeps nothing on disk."""

    def __init__(self) -> None:
        self._admission = Admission()
        self._labelled = Admission()
        self._windows: dict[str, _Window] = {}
        self._buckets: dict[str, dict[int, list[int]]] = {}

    def open(self) -> MemoryStore:
        return self

    def exchange(self, request: Exchange) -> Snapshot:
        return self._apply(request)

    def _apply(self, request: Exchange) -> Snapshot:
        eff, counted = self._admission.admit(
            request.transaction_id, request.ts_us, request.lateness_us, request.dedup_us
        )
        windows = []
        for s in request.sliding:
            window = self._windows.get(s.key)
            if window is None:
                window = self._windows[s.key] = _Window()
            windows.append(window.read(eff - s.horizon_us, eff))
            if counted:
                window.effs.append(eff)
                window.payloads.append(s.payload)
        counters = []
        for b in request.buckets:
            table = self._buckets.get(b.key)
            if table is None:
                table = self._buckets[b.key] = {}
            current = eff // b.bucket_us
            counters.append(_sum_buckets(table, current - b.span, current, len(b.increments)))
            if counted:
                row = table.get(current)
                if row is None:
                    row = table[current] = [0] * len(b.increments)
                for i, inc in enumerate(b.increments):
                    row[i] += inc
                _forget(table, current - b.span)
        return Snapshot(eff, counted, tuple(windows), tuple(counters))

    def add_labels(self, labelling: Labelling) -> bool:
        if not self._labelled.first(labelling.label_id, labelling.at_us, labelling.dedup_us):
            return False
        self._apply_labels(labelling.requests)
        return True

    def _apply_labels(self, labels: tuple[LabelRequest, ...]) -> None:
        for lb in labels:
            table = self._buckets.setdefault(lb.key, {})
            row = table.get(lb.bucket)
            if row is None:
                row = table[lb.bucket] = [0] * (lb.slot + 1)
            if len(row) <= lb.slot:
                row.extend([0] * (lb.slot + 1 - len(row)))
            row[lb.slot] += 1

    def ping(self) -> bool:
        return True

    def close(self) -> None:
        return None


def _sum_buckets(table: dict[int, list[int]], lo: int, hi: int, slots: int) -> list[int]:
    total = [0] * slots
    if not table:
        return total
    for bucket in range(lo, hi):
        row = table.get(bucket)
        if row is not None:
            for i in range(min(slots, len(row))):
                total[i] += row[i]
    return total


def _forget(table: dict[int, list[int]], oldest: int) -> None:
    if len(table) > 4 * 32:
        for bucket in [b for b in table if b < oldest]:
            del table[bucket]
