"""The log with its writer in a child process: the child's failures and signals."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from riskline.decisions import open_decision_log
from riskline.decisions._process import ProcessLog
from riskline.errors import DecisionLogUnavailableError
from tests.decisions.samples import sample_record


def _open(path: Path) -> ProcessLog:
    log = open_decision_log(f"sqlite:///{path}", process=True)
    assert isinstance(log, ProcessLog)
    return log


def test_a_killed_writer_fails_what_it_had_not_answered_and_the_next_append_restarts_it(
    sqlite_path: Path,
) -> None:
    with _open(sqlite_path) as log:
        assert log.append(sample_record(1)) == 1
        first = log.writer_pid
        assert first is not None
        os.kill(first, signal.SIGSTOP)  # a group sent now cannot be committed ...
        pending = log.submit_many([sample_record(n) for n in range(2, 5)])
        os.kill(first, signal.SIGKILL)  # ... before the writer dies
        with pytest.raises(DecisionLogUnavailableError, match="writer process stopped"):
            pending.result(30)
        assert log.append(sample_record(5)) == 2  # a new writer, on the same chain
        assert log.writer_pid not in (None, first)
        report = log.verify()
        assert report.ok and report.checked == 2, report
        assert log.find("fraud", "t3") is None  # never acknowledged, never stored


def test_the_writer_ignores_the_signals_its_process_group_gets(sqlite_path: Path) -> None:
    """Ctrl-C or a service manager's SIGTERM reaches the writer too; it keeps committing
    until its parent closes the log (the parent's graceful stop still logs its requests)."""
    with _open(sqlite_path) as log:
        pid = log.writer_pid
        assert pid is not None
        os.kill(pid, signal.SIGINT)
        os.kill(pid, signal.SIGTERM)
        time.sleep(0.2)
        assert log.append_many([sample_record(n) for n in range(10)]) == list(range(1, 11))
        assert log.writer_pid == pid
    assert log.writer_pid is None


def test_a_log_the_writer_cannot_open_is_refused_with_its_reason(tmp_path: Path) -> None:
    with pytest.raises(DecisionLogUnavailableError, match="could not open the log: .*writable"):
        open_decision_log(f"sqlite:///{tmp_path / 'missing' / 'd.db'}", process=True)


def test_a_large_batch_and_concurrent_singles_commit_in_order(sqlite_path: Path) -> None:
    """A batch larger than the pipe's buffer arrives whole, beside singles sent meanwhile."""
    with _open(sqlite_path) as log:
        big = log.submit_many([sample_record(n) for n in range(3_000)])
        singles = [log.submit(sample_record(10_000 + n)) for n in range(50)]
        assert big.result(30) == list(range(1, 3_001))
        assert sorted(f.result(30) for f in singles) == list(range(3_001, 3_051))
        assert log.verify().checked == 3_050
