"""A graceful close snapshots the embedded store; a restart starts from the snapshot and
replays only the journal after it, with the same features as a store that never stopped."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import pytest

from riskline.events import PaymentAttempt, PaymentsSpec, generate_payments
from riskline.features import EmbeddedStore, OnlineEngine, replay
from riskline.features import _snapshot as _snapshots
from riskline.features.check import attempts
from riskline.fraud import FRAUD_FEATURES

Values = list[dict[str, int | float | None]]


@pytest.fixture(scope="module")
def events() -> list[PaymentAttempt]:
    return list(attempts(generate_payments(PaymentsSpec(rows=4_000, seed=11, days=2))))


@pytest.fixture(scope="module")
def straight(events: list[PaymentAttempt]) -> Values:
    """The features of a store that never stops."""
    engine = OnlineEngine(FRAUD_FEATURES, EmbeddedStore().open())
    return [dict(v.values) for v in replay(engine, events)]


def _run(journal: Path, events: list[PaymentAttempt], *, close: bool = True) -> Values:
    """One process's life: open the store, take ``events``, stop (``close=False``: killed,
    so no snapshot is written)."""
    store = EmbeddedStore(journal).open()
    values = [dict(v.values) for v in replay(OnlineEngine(FRAUD_FEATURES, store), events)]
    if close:
        store.close()
    else:
        _kill(store)
    return values


def _kill(store: EmbeddedStore) -> None:
    """What a kill leaves of ``store``: its journal file closed by the operating system (so
    its lock is free for the next process), and none of its own shutdown (no snapshot)."""
    journal = store._journal
    assert journal is not None
    journal.close()


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    return tmp_path / "state.journal"


_snapshot = _snapshots.snapshot_path


def test_a_restart_starts_from_the_snapshot(
    journal: Path,
    events: list[PaymentAttempt],
    straight: Values,
    caplog: pytest.LogCaptureFixture,
) -> None:
    half = len(events) // 2
    before = _run(journal, events[:half])
    assert _snapshot(journal).stat().st_mode & 0o777 == 0o600  # keys and ids: private
    with caplog.at_level(logging.INFO, "riskline.features"):
        after = _run(journal, events[half:])
    assert "from its snapshot" in caplog.text
    assert before + after == straight  # nothing counted twice, nothing lost
    assert any(v["count_1d_by_card"] for v in after)


def test_events_after_the_snapshot_are_replayed_after_a_kill(
    journal: Path, events: list[PaymentAttempt], straight: Values
) -> None:
    a, b = len(events) // 3, 2 * len(events) // 3
    first = _run(journal, events[:a])
    second = _run(journal, events[a:b], close=False)  # journaled, not in the snapshot
    third = _run(journal, events[b:])
    assert first + second + third == straight


@pytest.mark.parametrize("snapshot", [True, False])
def test_every_restart_after_a_torn_last_write_works(
    journal: Path,
    events: list[PaymentAttempt],
    straight: Values,
    snapshot: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A process killed mid-write leaves part of a record after the last snapshot; the next
    one cuts it off before appending, so the restart after that one still reads the whole
    journal (it failed with a JSON error, at every restart) and still fits the snapshot."""
    a, b = len(events) // 3, 2 * len(events) // 3
    first = _run(journal, events[:a], close=snapshot)
    with journal.open("ab") as f:
        f.write(b'["e","t-torn",17722')  # the start of a record, never acknowledged
    second = _run(journal, events[a:b], close=False)
    with caplog.at_level(logging.INFO, "riskline.features"):
        third = _run(journal, events[b:])
    assert first + second + third == straight
    assert ("from its snapshot" in caplog.text) == snapshot


def test_an_unreadable_snapshot_is_ignored_and_the_journal_replayed(
    journal: Path,
    events: list[PaymentAttempt],
    straight: Values,
    caplog: pytest.LogCaptureFixture,
) -> None:
    half = len(events) // 2
    before = _run(journal, events[:half])
    _snapshot(journal).write_bytes(b"not a snapshot")
    with caplog.at_level(logging.WARNING, "riskline.features"):
        after = _run(journal, events[half:])
    assert before + after == straight
    assert "unreadable" in caplog.text


@pytest.mark.parametrize("longer", [False, True])
def test_the_snapshot_of_a_replaced_journal_is_ignored(
    journal: Path, events: list[PaymentAttempt], longer: bool
) -> None:
    """A journal moved aside (to start afresh) makes its snapshot meaningless, whether the
    new journal is still shorter than the old one or has grown past it."""
    half = len(events) // 2
    _run(journal, events[:half])
    old = journal.rename(journal.with_name("old.journal"))
    if longer:  # a killed process wrote another journal, past the old one's length
        q = len(events) // 4
        _run(journal, events[q:], close=False)
        assert journal.stat().st_size > old.stat().st_size
        after = _run(journal, events[:q])
        assert after == [dict(v.values) for v in replay(_engine_after(events[q:]), events[:q])]
    else:
        fresh = [dict(v.values) for v in replay(_engine_after([]), events[half:])]
        assert _run(journal, events[half:]) == fresh


def _engine_after(seen: list[PaymentAttempt]) -> OnlineEngine:
    """An engine whose store has taken ``seen`` (its answers dropped)."""
    engine = OnlineEngine(FRAUD_FEATURES, EmbeddedStore().open())
    for _ in replay(engine, seen):
        pass
    return engine


def _settled(caplog: pytest.LogCaptureFixture, timeout_s: float = 60.0) -> list[str]:
    """The periodic snapshots' log lines, once every one started has ended."""
    deadline = time.monotonic() + timeout_s
    while True:
        lines = [r.getMessage() for r in caplog.records if "journal bytes" in r.getMessage()]
        started = sum("started" in line for line in lines)
        if started == len(lines) - started or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def test_a_kill_replays_only_the_journal_after_the_last_periodic_snapshot(
    journal: Path,
    events: list[PaymentAttempt],
    straight: Values,
    caplog: pytest.LogCaptureFixture,
) -> None:
    half = len(events) // 2
    store = EmbeddedStore(journal, snapshot_every_bytes=32 << 10).open()
    with caplog.at_level(logging.INFO, "riskline.features"):
        engine = OnlineEngine(FRAUD_FEATURES, store)
        before = [dict(v.values) for v in replay(engine, events[:half])]
        lines = _settled(caplog)
        _kill(store)
        written = [int(line.split()[-3]) for line in lines if "written" in line]
        assert written, lines
        caplog.clear()
        after = _run(journal, events[half:])
    assert before + after == straight
    assert f"replaying the journal after {max(written)} bytes" in caplog.text
    assert 0 < max(written) < journal.stat().st_size


def test_a_periodic_snapshot_that_fails_is_logged_and_the_store_goes_on(
    journal: Path,
    events: list[PaymentAttempt],
    straight: Values,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _snapshot(journal).mkdir(parents=True)  # nothing can be renamed onto a folder
    half = len(events) // 2
    store = EmbeddedStore(journal, snapshot_every_bytes=32 << 10).open()
    with caplog.at_level(logging.INFO, "riskline.features"):
        engine = OnlineEngine(FRAUD_FEATURES, store)
        before = [dict(v.values) for v in replay(engine, events[:half])]
        lines = _settled(caplog)
        store.close()
    assert any("failed (child exit 1)" in line for line in lines), lines
    assert not list(journal.parent.glob("*.partial.*"))  # each child removed its own
    _snapshot(journal).rmdir()
    assert before + _run(journal, events[half:]) == straight  # the whole journal replayed


def test_snapshots_left_part_written_by_a_crash_are_removed_at_startup(
    journal: Path, events: list[PaymentAttempt]
) -> None:
    _run(journal, events[:10])
    leftover = journal.with_name(journal.name + ".snapshot.partial.4242")
    leftover.write_bytes(b"half a snapshot")
    _run(journal, events[10:20])
    assert not leftover.exists()
    assert _snapshot(journal).exists()


def test_a_snapshot_child_past_its_deadline_is_killed_and_the_next_one_starts(
    journal: Path,
    events: list[PaymentAttempt],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A child that never ends (as one stuck on a lock another thread held at the fork
    would) is killed at its deadline; snapshots go on, and the shutdown does not hang."""
    parent, save = os.getpid(), _snapshots.save_snapshot

    def stuck_in_the_child(*args: Any) -> None:
        if os.getpid() != parent:
            time.sleep(600)
        save(*args)

    monkeypatch.setattr(_snapshots, "save_snapshot", stuck_in_the_child)
    original = _snapshots.PeriodicSnapshots.__init__
    monkeypatch.setattr(
        _snapshots.PeriodicSnapshots,
        "__init__",
        lambda self, *a: original(self, *a, deadline_s=0.3),  # type: ignore[misc]
    )
    store = EmbeddedStore(journal, snapshot_every_bytes=16 << 10).open()
    engine = OnlineEngine(FRAUD_FEATURES, store)
    with caplog.at_level(logging.INFO, "riskline.features"):
        for k in range(0, 2_000, 100):
            list(replay(engine, events[k : k + 100]))
            time.sleep(0.05)
        lines = _settled(caplog)
        store.close()
    killed = [line for line in lines if "was killed" in line]
    assert len(killed) >= 2, lines  # the first one's death let another start
    assert _snapshot(journal).exists()  # close's own snapshot, in this process
