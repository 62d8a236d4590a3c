"""The seam between the online engine and where its state lives (embedded, Redis).

One ``exchange`` is one event: the store decides the event's effective time and whether it
counts, returns the state *before* the event (events strictly earlier than its effective
time), then adds the event. Both stores implement exactly the rules in ``spec``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

Payload = tuple[str | int | None, ...]


@dataclass(frozen=True, slots=True)
class SlidingRequest:
    key: str
    horizon_us: int
    payload: Payload


@dataclass(frozen=True, slots=True)
class BucketRequest:
    key: str
    bucket_us: int
    span: int
    increments: tuple[int, ...]  # one per counter slot; added when the event counts


@dataclass(frozen=True, slots=True)
class Exchange:
    transaction_id: str
    ts_us: int
    lateness_us: int
    dedup_us: int
    sliding: tuple[SlidingRequest, ...]
    buckets: tuple[BucketRequest, ...]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """State as the event saw it: ``windows[i]`` = (effs, payloads) of ``sliding[i]`` within
    ``[eff - horizon, eff)``; ``counters[i]`` = per-slot sums over buckets ``[B - span, B)``."""

    eff_us: int
    counted: bool
    windows: tuple[tuple[list[int], list[Payload]], ...]
    counters: tuple[list[int], ...]


@dataclass(frozen=True, slots=True)
class LabelRequest:
    key: str
    bucket_us: int
    span: int
    bucket: int
    slot: int


class Admission:
    """The stream rules every store applies to an arriving event (see ``spec``): its
    effective time ``max(ts, watermark)``, and whether it counts (not too late, not a
    duplicate id within the dedup horizon)."""

    __slots__ = ("mark", "seen")

    def __init__(self) -> None:
        self.mark = -(2**62)
        self.seen: dict[str, int] = {}

    def admit(self, txid: str, ts_us: int, lateness_us: int, dedup_us: int) -> tuple[int, bool]:
        mark = self.mark
        eff = ts_us if ts_us > mark else mark
        late = mark - ts_us > lateness_us
        if eff > mark:
            self.mark = eff
        seen = self.seen.get(txid)
        duplicate = seen is not None and eff - seen <= dedup_us
        self.seen[txid] = eff
        return eff, not (late or duplicate)


class StateStore(Protocol):
    def exchange(self, request: Exchange) -> Snapshot: ...

    def add_labels(self, labels: tuple[LabelRequest, ...]) -> None: ...

    def ping(self) -> bool: ...

    def close(self) -> None: ...
