"""The embedded store's journal: every append reaches the file at once, whole, private."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from riskline.features._journal import Journal


def test_an_append_is_in_the_file_before_close(tmp_path: Path) -> None:
    """What a killed process appended is readable: nothing waits in a user-space buffer."""
    path = tmp_path / "sub" / "state.journal"
    journal = Journal(path, fsync_every_s=60.0)
    try:
        journal.append(b"one\n")
        big = os.urandom(3 << 20).hex().encode() + b"\n"  # 6 MiB in one append
        journal.append(big)
        assert path.read_bytes() == b"one\n" + big
    finally:
        journal.close()


def test_appends_go_to_the_end_and_the_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "state.journal"
    path.write_bytes(b"earlier\n")
    path.chmod(0o600)
    journal = Journal(path, fsync_every_s=0.01)
    journal.append(b"later\n")
    journal.close()
    assert path.read_bytes() == b"earlier\nlater\n"
    fresh = tmp_path / "fresh.journal"
    Journal(fresh, fsync_every_s=1.0).close()
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600  # card tokens and ids: owner only


def test_a_closed_journal_refuses_appends(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "state.journal", fsync_every_s=1.0)
    journal.close()
    with pytest.raises(OSError, match="closed"):
        journal.append(b"x\n")
