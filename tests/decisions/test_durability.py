"""Acknowledged means committed: across connections, writer failures and SIGKILL."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from riskline.decisions import open_decision_log
from riskline.errors import DecisionLogUnavailableError
from tests.decisions.samples import sample_record

_CHILD = """
import sys, threading
from riskline.decisions import open_decision_log
from tests.decisions.samples import sample_record

log = open_decision_log(f"sqlite:///{sys.argv[1]}")
lock = threading.Lock()

def work(k):
    n = k
    while True:
        seq = log.append(sample_record(n))
        with lock:
            print(seq, f"d{n}", flush=True)
        n += 4

for k in range(4):
    threading.Thread(target=work, args=(k,), daemon=True).start()
threading.Event().wait()
"""


def test_every_returned_seq_is_visible_to_a_new_connection(sqlite_path: Path) -> None:
    log = open_decision_log(f"sqlite:///{sqlite_path}")
    try:
        with ThreadPoolExecutor(8) as pool:
            parts = pool.map(
                lambda k: [log.append(sample_record(k * 1_000 + i)) for i in range(100)], range(8)
            )
            returned = sorted(s for part in parts for s in part)
        with sqlite3.connect(sqlite_path) as raw:
            stored = [row[0] for row in raw.execute("SELECT seq FROM decisions ORDER BY seq")]
        raw.close()
    finally:
        log.close()
    assert returned == stored == list(range(1, 801))


def test_a_failed_commit_is_not_acknowledged(sqlite_path: Path) -> None:
    log = open_decision_log(f"sqlite:///{sqlite_path}")
    try:
        assert log.append(sample_record(1)) == 1
        raw = sqlite3.connect(sqlite_path, isolation_level=None)
        raw.execute("DROP TABLE decisions")
        raw.close()
        with pytest.raises(
            DecisionLogUnavailableError,
            match=r"could not commit a batch of 1 record\(s\): .*no such table",
        ):
            log.append(sample_record(2))
        batch = log.submit_many([sample_record(n) for n in range(3, 8)])
        with pytest.raises(DecisionLogUnavailableError, match="batch of 5 record"):
            batch.result(10)
    finally:
        log.close()


def test_a_killed_writer_loses_nothing_it_acknowledged(sqlite_path: Path) -> None:
    root = Path(__file__).parents[2]
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(sqlite_path)],
        cwd=root,
        stdout=subprocess.PIPE,
        text=True,
    )
    acked: list[tuple[int, str]] = []
    deadline = time.monotonic() + 30
    try:
        assert child.stdout is not None
        while len(acked) < 400 and time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            seq, decision_id = line.split()
            acked.append((int(seq), decision_id))
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        assert child.stdout is not None
        child.stdout.close()
    assert len(acked) >= 400, f"child acknowledged only {len(acked)} appends"
    with open_decision_log(f"sqlite:///{sqlite_path}") as log:
        report = log.verify()
        assert report.ok, report
        stored = {s.seq: s.decision_id for s in log.read()}
    assert all(stored.get(seq) == decision_id for seq, decision_id in acked)
    assert report.checked >= len(acked)


def _wal_restarts(path: Path) -> int:
    """The log's checkpoint sequence number: how often SQLite has started it over (WAL
    header, bytes 12-16, https://www.sqlite.org/fileformat.html#wal_file_format)."""
    return int.from_bytes(path.with_name(path.name + "-wal").read_bytes()[12:16], "big")


def test_the_write_ahead_log_starts_over_under_steady_traffic(
    sqlite_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Commits that never pause keep a background checkpoint from copying the whole log, and
    SQLite restarts the log only after one that did: the writer's catch-up between batches
    lets it, so the log stays a second or so of traffic instead of growing to 512 MiB."""
    monkeypatch.setattr("riskline.decisions._sqlite._CHECKPOINT_EVERY_S", 0.05)
    with open_decision_log(f"sqlite:///{sqlite_path}") as log:
        n = 0
        until = time.monotonic() + 1.0
        while time.monotonic() < until:  # one record per commit, never a pause
            log.append(sample_record(n))
            n += 1
        restarts = _wal_restarts(sqlite_path)
        assert restarts >= 3, f"{restarts} restarts in {n} commits"
        assert log.verify().ok
