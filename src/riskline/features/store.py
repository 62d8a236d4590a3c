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


class StateStore(Protocol):
    def exchange(self, request: Exchange) -> Snapshot: ...

    def add_labels(self, labels: tuple[LabelRequest, ...]) -> None: ...

    def ping(self) -> bool: ...

    def close(self) -> None: ...
