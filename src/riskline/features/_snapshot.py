"""Snapshots of the embedded store: restart from the last one instead of the whole journal.

A restart replays the journal at about 62,000 events/s, so its cost grew with every event
ever seen. ``EmbeddedStore.close`` now also writes the state (the arenas, key and value
tables, and the admission state) with the journal's length at that moment; ``bind`` loads
it and replays only the journal after that length. A snapshot is used only if it was made
for the same feature set (version and columns) and the journal still reaches its length;
any other, or an unreadable one, is ignored and the whole journal is replayed, as before.
The journal is recognised by the hash of its last bytes before that length, so a journal
moved aside and replaced by another as long is never mistaken for it. It is an ``.npz``
file read without pickle, written to a temporary name, ``fsync``ed and renamed, so a crash
while writing leaves the previous snapshot whole (still good: it holds a shorter prefix of
the same journal); a snapshot that cannot be written is logged, never an error.
"""

from __future__ import annotations

import hashlib
import logging
import os
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

if TYPE_CHECKING:
    from riskline.features._embedded import LocalState

_FORMAT = 1
_FINGERPRINT_BYTES = 4096
_log = logging.getLogger("riskline.features")


def snapshot_path(journal: Path) -> Path:
    return journal.with_name(journal.name + ".snapshot")


def write_snapshot(journal: Path, state: LocalState, journal_bytes: int) -> None:
    """Save ``state``, which holds the journal's first ``journal_bytes`` bytes (a failure is
    logged: the next restart replays more of the journal, that is all)."""
    target = snapshot_path(journal)
    partial = target.with_name(target.name + ".partial")
    try:
        arrays, tables = state.export()
        head = {
            "format": _FORMAT,
            "feature_set": state.plan.fs.version,
            "columns": list(state.columns),
            "journal_bytes": journal_bytes,
            "journal_tail_sha256": _fingerprint(journal, journal_bytes),
        }
        doc = orjson.dumps({"head": head, "tables": tables})
        contents: dict[str, Any] = {"doc": np.frombuffer(doc, np.uint8), **arrays}
        partial.unlink(missing_ok=True)  # left by a crash: made anew, with our mode
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
        with os.fdopen(os.open(partial, flags, 0o600), "wb") as f:  # private, as the journal
            np.savez(f, **contents)
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, target)
        folder = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        _log.warning("could not write the online store snapshot %s: %s", target, exc)


def _fingerprint(journal: Path, length: int) -> str:
    """The sha256 of the journal's last ``_FINGERPRINT_BYTES`` bytes before ``length``."""
    start = max(0, length - _FINGERPRINT_BYTES)
    with journal.open("rb") as f:
        f.seek(start)
        return hashlib.sha256(f.read(length - start)).hexdigest()


def read_snapshot(journal: Path, state: LocalState) -> int:
    """Load the journal's snapshot into the fresh ``state`` if it fits; how many bytes of the
    journal it holds (0: none was loaded, replay it all)."""
    path = snapshot_path(journal)
    if not path.exists():
        return 0
    try:
        with np.load(path, allow_pickle=False) as data:
            doc = orjson.loads(data["doc"].tobytes())
            head = doc["head"]
            fits = (
                head["format"] == _FORMAT
                and head["feature_set"] == state.plan.fs.version
                and head["columns"] == list(state.columns)
                and journal.stat().st_size >= head["journal_bytes"]
                and _fingerprint(journal, head["journal_bytes"]) == head["journal_tail_sha256"]
            )
            if not fits:
                _log.info("online store snapshot %s does not fit; replaying the journal", path)
                return 0
            arrays = {name: data[name] for name in data.files if name != "doc"}
            state.restore(arrays, doc["tables"])
            _log.info(
                "online store: restored from its snapshot; replaying the journal after %d bytes",
                head["journal_bytes"],
            )
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
        _log.warning("online store snapshot %s is unreadable (%r); replaying it all", path, exc)
        return 0
    return int(head["journal_bytes"])
