"""Embedded state store: in-process dictionaries, journaled to a local file."""

from __future__ import annotations

import os
from bisect import bisect_left
from pathlib import Path
from typing import IO, Any

import orjson

from riskline.features.store import (
    BucketRequest,
    Exchange,
    LabelRequest,
    Payload,
    SlidingRequest,
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


class EmbeddedStore:
    """State in memory; with ``path``, every exchange is journaled first and replayed on open.

    The journal is flushed to the operating system after each event (a killed process loses
    nothing); ``fsync`` runs on ``close`` and every ``fsync_every`` events.
    """

    def __init__(self, path: Path | None = None, *, fsync_every: int = 10_000) -> None:
        self._path = path
        self._fsync_every = fsync_every
        self._mark = -(2**62)
        self._seen: dict[str, int] = {}
        self._windows: dict[str, _Window] = {}
        self._buckets: dict[str, dict[int, list[int]]] = {}
        self._journal: IO[bytes] | None = None
        self._pending = 0

    def open(self) -> EmbeddedStore:
        """Replay the journal (if any) and start appending to it."""
        if self._path is not None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            if self._path.exists():
                self._replay(self._path)
            self._journal = self._path.open("ab")
        return self

    def _replay(self, path: Path) -> None:
        with path.open("rb") as journal:
            for line in journal:
                if not line.endswith(b"\n"):
                    break  # a torn last write: the event was never acknowledged
                record = orjson.loads(line)
                if record[0] == "e":
                    self._apply(_exchange_from(record))
                else:
                    self._apply_labels(tuple(LabelRequest(*r) for r in record[1]))

    def _write(self, record: object) -> None:
        if self._journal is None:
            return
        self._journal.write(orjson.dumps(record) + b"\n")
        self._journal.flush()
        self._pending += 1
        if self._pending >= self._fsync_every:
            os.fsync(self._journal.fileno())
            self._pending = 0

    def exchange(self, request: Exchange) -> Snapshot:
        self._write(_exchange_to(request))
        return self._apply(request)

    def _apply(self, request: Exchange) -> Snapshot:
        ts = request.ts_us
        mark = self._mark
        eff = ts if ts > mark else mark
        late = mark - ts > request.lateness_us
        if eff > mark:
            self._mark = eff
        seen = self._seen.get(request.transaction_id)
        duplicate = seen is not None and eff - seen <= request.dedup_us
        self._seen[request.transaction_id] = eff
        counted = not (late or duplicate)
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

    def add_labels(self, labels: tuple[LabelRequest, ...]) -> None:
        self._write(["l", [[lb.key, lb.bucket_us, lb.span, lb.bucket, lb.slot] for lb in labels]])
        self._apply_labels(labels)

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
        if self._journal is not None:
            self._journal.flush()
            os.fsync(self._journal.fileno())
            self._journal.close()
            self._journal = None


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


def _exchange_to(r: Exchange) -> list[object]:
    return [
        "e",
        r.transaction_id,
        r.ts_us,
        r.lateness_us,
        r.dedup_us,
        [[s.key, s.horizon_us, list(s.payload)] for s in r.sliding],
        [[b.key, b.bucket_us, b.span, list(b.increments)] for b in r.buckets],
    ]


def _exchange_from(record: list[Any]) -> Exchange:
    _, txid, ts, late, dedup, sliding, buckets = record
    return Exchange(
        str(txid),
        int(ts),
        int(late),
        int(dedup),
        tuple(SlidingRequest(k, int(h), tuple(p)) for k, h, p in sliding),
        tuple(BucketRequest(k, int(size), int(span), tuple(inc)) for k, size, span, inc in buckets),
    )
