"""Admission: the stream rules (watermark, lateness, dedup horizon) with bounded memory."""

from __future__ import annotations

import hypothesis.strategies as st
from hypothesis import given, settings

from riskline.features.store import Admission


class Unbounded:
    """The rules as specified, remembering every id forever."""

    def __init__(self) -> None:
        self.mark = -(2**62)
        self.seen: dict[str, int] = {}

    def admit(self, txid: str, ts: int, lateness: int, dedup: int) -> tuple[int, bool]:
        eff = max(ts, self.mark)
        late = self.mark - ts > lateness
        self.mark = eff
        duplicate = txid in self.seen and eff - self.seen[txid] <= dedup
        self.seen[txid] = eff
        return eff, not (late or duplicate)


events = st.lists(
    st.tuples(st.sampled_from([f"t{i}" for i in range(30)]), st.integers(-3, 8)),
    max_size=400,
)


@settings(max_examples=300)
@given(events=events, dedup=st.integers(0, 60), lateness=st.integers(0, 20))
def test_forgetting_old_ids_changes_no_answer(
    events: list[tuple[str, int]], dedup: int, lateness: int
) -> None:
    admission, reference = Admission(), Unbounded()
    clock = 0
    for txid, step in events:  # time mostly moves on, sometimes back (late events)
        clock += step
        got = admission.admit(txid, clock, lateness, dedup)
        assert got == reference.admit(txid, clock, lateness, dedup)


def test_memory_holds_about_two_horizons_of_ids() -> None:
    admission = Admission()
    for i in range(100_000):  # one new id per microsecond, a horizon of 1,000
        admission.admit(f"t{i}", i, 0, 1_000)
    assert admission.remembered() <= 2_002
    assert admission.admit("t99500", 100_000, 0, 1_000) == (100_000, False)  # still deduped
