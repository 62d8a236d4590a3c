"""The embedded store's journal: every append reaches the file at once, whole, private."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from riskline.errors import StoreUnavailableError
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


@pytest.mark.parametrize("tail", [b'["e","t3",17722', b"x" * 10_000])
def test_a_torn_last_line_is_cut_off_when_opened(tmp_path: Path, tail: bytes) -> None:
    """What a kill or a power cut left of a last write goes, so the next append starts a
    whole line (it used to be glued onto the fragment: a line no replay could read)."""
    path = tmp_path / "state.journal"
    path.write_bytes(b"one\ntwo\n" + tail)
    journal = Journal(path, fsync_every_s=60.0)
    try:
        assert journal.size == len(b"one\ntwo\n")
        journal.append(b"three\n")
        assert path.read_bytes() == b"one\ntwo\nthree\n"
    finally:
        journal.close()
    path.write_bytes(tail)  # not one whole line
    Journal(path, fsync_every_s=60.0).close()
    assert path.read_bytes() == b""


_FULL_DISK = """
import resource, signal, sys
from pathlib import Path
from riskline.errors import StoreUnavailableError
from riskline.features._journal import Journal
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))
journal = Journal(Path(sys.argv[1]), fsync_every_s=60.0)
journal.append(b"a" * 599 + b"\\n")
try:
    journal.append(b"b" * 599 + b"\\n")  # 400 bytes fit, then the file is full
except OSError as exc:
    print("refused", exc.errno)
journal.append(b"c" * 299 + b"\\n")
journal.close()
"""


def test_an_append_that_fails_part_way_is_cut_off(tmp_path: Path) -> None:
    """A full disk mid-append leaves no half line for the next append to corrupt."""
    path = tmp_path / "state.journal"
    run = subprocess.run(
        [sys.executable, "-c", _FULL_DISK, str(path)], capture_output=True, text=True, check=True
    )
    assert run.stdout.split() == ["refused", str(errno.EFBIG)]
    assert path.read_bytes() == b"a" * 599 + b"\n" + b"c" * 299 + b"\n"


def test_a_journal_has_one_writer_until_its_process_dies(tmp_path: Path) -> None:
    """A second server on the same home fails at startup, naming the journal, instead of
    keeping a state that sees half the events; a killed holder frees it for its restart."""
    path = tmp_path / "state.journal"
    hold = "import sys, pathlib; j = J(pathlib.Path(sys.argv[1]), 60.0); print(1, flush=True)"
    with subprocess.Popen(
        [sys.executable, "-c", f"from riskline.features._journal import Journal as J; {hold}; "
         "sys.stdin.read()", str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    ) as holder:  # fmt: skip
        try:
            assert holder.stdout is not None
            assert holder.stdout.readline() == b"1\n"
            with pytest.raises(StoreUnavailableError, match=f"{path}.* open in another process"):
                Journal(path, fsync_every_s=60.0)
        finally:
            holder.kill()
    Journal(path, fsync_every_s=60.0).close()
    first = Journal(path, fsync_every_s=60.0)  # within one process too: one store per journal
    try:
        with pytest.raises(StoreUnavailableError):
            Journal(path, fsync_every_s=60.0)
    finally:
        first.close()
