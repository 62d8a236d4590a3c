"""The seam between the online engine and where its state lives (embedded, Redis).

One ``exchange`` is one event: the store decides the event's effective time and whether it
counts, returns the state *before* the event (events strictly earlier than its effective
time), then adds the event. Both stores implement exactly the rules in ``spec``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

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


@dataclass(frozen=True, slots=True)
class Labelling:
    """One event's fraud label, counted from ``at_us`` into each of ``requests``, once per
    ``label_id`` (the event's transaction id and time: ``label_id``) within the dedup
    horizon: a label delivered again (a retry after a crash between the decision log and the
    store) changes nothing, while an id counted again past its horizon is another event."""

    label_id: str
    at_us: int
    dedup_us: int
    requests: tuple[LabelRequest, ...]


def label_id(transaction_id: str, ts_us: int) -> str:
    """The identity of an event's label: its transaction id and time."""
    return f"{transaction_id}@{ts_us}"


_NEVER_LATE = 2**62


class Admission:
    """The stream rules every store applies to an arriving event (see ``spec``): its
    effective time ``max(ts, watermark)``, and whether it counts (not too late, not a
    duplicate id within the dedup horizon).

    Ids are remembered for the dedup horizon only, in two generations: once the watermark
    has moved a horizon past the start of the current one, the previous generation is
    dropped. Every id in it was last seen more than a horizon before the watermark, and no
    later event can be nearer to it, so forgetting it changes no answer; memory stays
    bounded by the ids of two horizons instead of growing with every transaction.
    """

    __slots__ = ("_older", "_rotate_at", "mark", "seen")

    def __init__(self) -> None:
        self.mark = -(2**62)
        self.seen: dict[str, int] = {}  # ids last seen since the current generation began
        self._older: dict[str, int] = {}  # those of the generation before
        self._rotate_at: int | None = None  # when the current generation ends

    def admit(self, txid: str, ts_us: int, lateness_us: int, dedup_us: int) -> tuple[int, bool]:
        mark = self.mark
        eff = ts_us if ts_us > mark else mark
        late = mark - ts_us > lateness_us
        if eff > mark:
            self.mark = eff
            if self._rotate_at is None:
                self._rotate_at = eff + dedup_us + 1
            elif eff >= self._rotate_at:
                self._older, self.seen = self.seen, {}
                self._rotate_at = eff + dedup_us + 1
        seen = self.seen.get(txid)
        if seen is None:
            seen = self._older.get(txid)
        duplicate = seen is not None and eff - seen <= dedup_us
        self.seen[txid] = eff
        return eff, not (late or duplicate)

    def first(self, txid: str, at_us: int, dedup_us: int) -> bool:
        """Whether ``txid`` is new within the horizon (a label's id: never too late)."""
        return self.admit(txid, at_us, _NEVER_LATE, dedup_us)[1]

    def remembered(self) -> int:
        """How many ids are remembered now (both generations)."""
        return len(self.seen) + len(self._older)

    def export(self) -> list[object]:
        """The admission state as JSON-able values (``restored`` reads them back)."""
        return [self.mark, list(self.seen.items()), list(self._older.items()), self._rotate_at]

    @classmethod
    def restored(cls, saved: list[Any]) -> Admission:
        """An admission state from its ``export``."""
        mark, seen, older, rotate_at = saved
        admission = cls()
        admission.mark = int(mark)
        admission.seen = {str(t): int(at) for t, at in seen}
        admission._older = {str(t): int(at) for t, at in older}
        admission._rotate_at = None if rotate_at is None else int(rotate_at)
        return admission


class StateStore(Protocol):
    def exchange(self, request: Exchange) -> Snapshot: ...

    def add_labels(self, labelling: Labelling) -> bool:
        """Count the label unless its transaction's was counted already; whether it was."""
        ...

    def ping(self) -> bool: ...

    def close(self) -> None: ...
