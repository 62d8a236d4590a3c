"""Embedded online store: compiled state in process memory (``_local``), journaled to a
local file.

``EmbeddedStore.bind(plan)`` lays a feature set out over the arenas and replays the journal;
the journal keeps the raw values of the columns the features read, so a restart (even under
a changed feature set) rebuilds the state from what was seen. A graceful ``close``, and a
forked child every ``snapshot_every_bytes`` of journal, also write a snapshot of the state,
from which the next restart under the same feature set starts (``_snapshot``).
"""

from __future__ import annotations

from pathlib import Path

import orjson

from riskline.errors import ConfigError, InvalidFeatureError, StoreUnavailableError
from riskline.features._journal import Journal
from riskline.features._local import LocalState
from riskline.features._plan import Plan
from riskline.features._snapshot import (
    SNAPSHOT_EVERY_BYTES,
    PeriodicSnapshots,
    read_snapshot,
    remove_leftovers,
    write_snapshot,
)


class EmbeddedStore:
    """State in memory; with ``path``, every event is journaled first and replayed on bind.

    The journal is flushed to the operating system after each event (a killed process loses
    nothing); a background thread ``fsync``s it every ``fsync_every_s`` seconds (so a power
    cut loses at most that much feature state, never a decision: those are in the decision
    log), and ``close`` does once more. The state is snapshotted at ``close`` and, while the
    store runs, after every ``snapshot_every_bytes`` of journal (0: only at ``close``), so a
    restart replays only the journal written after the last snapshot.
    """

    def __init__(
        self,
        path: Path | None = None,
        *,
        fsync_every_s: float = 1.0,
        snapshot_every_bytes: int = SNAPSHOT_EVERY_BYTES,
    ) -> None:
        if snapshot_every_bytes < 0:
            raise ConfigError(f"snapshot_every_bytes must be >= 0, got {snapshot_every_bytes}.")
        self._path = path
        self._fsync_every_s = fsync_every_s
        self._snapshot_every = snapshot_every_bytes
        self._snapshots: PeriodicSnapshots | None = None
        self._journal: Journal | None = None
        self._state: LocalState | None = None

    def open(self) -> EmbeddedStore:
        """Start appending to the journal (its records are replayed by ``bind``)."""
        if self._path is not None:
            self._journal = Journal(self._path, self._fsync_every_s)
        return self

    def bind(self, plan: Plan) -> LocalState:
        """The compiled state for ``plan``, rebuilt from the journal (once per store)."""
        if self._state is not None:
            if self._state.plan.fs.version != plan.fs.version:
                raise InvalidFeatureError(
                    f"this store holds feature set {self._state.plan.fs.version}, "
                    f"not {plan.fs.version}; open a store per feature set."
                )
            return self._state
        state = LocalState(plan, None)
        start = 0
        if self._path is not None and self._path.exists():
            remove_leftovers(self._path)
            start = read_snapshot(self._path, state)
            _replay(self._path, state, start, list(state.columns) if start else None)
        state.journal = self._write if self._journal is not None else None
        if state.journal is not None:
            state.journal([["c", list(state.columns)]])
            if self._path is not None and self._snapshot_every:
                self._snapshots = PeriodicSnapshots(self._path, self._snapshot_every, start)
        self._state = state
        return state

    def _write(self, records: list[object]) -> None:
        """Append records (one line each) and hand them to the operating system at once.
        The state holds every record before these: the moment for a periodic snapshot."""
        journal = self._journal
        if journal is None:
            return
        if self._snapshots is not None and self._state is not None:
            self._snapshots.maybe(self._state, journal.size)
        journal.append(b"".join(orjson.dumps(r) + b"\n" for r in records))

    def ping(self) -> bool:
        return True

    def close(self) -> None:
        """Close the journal, then snapshot the state (the next ``bind`` starts from it)."""
        if self._snapshots is not None:
            self._snapshots.wait()  # its child writes the same file
        if self._journal is not None:
            self._journal.close()
            self._journal = None
            if self._path is not None and self._state is not None:
                write_snapshot(self._path, self._state, self._path.stat().st_size)


def _replay(path: Path, state: LocalState, start: int, columns: list[str] | None) -> None:
    """Apply the journal's records from byte ``start`` (where ``columns`` are the columns of
    its events, unless a header follows)."""
    with path.open("rb") as journal:
        journal.seek(start)
        for line in journal:
            if not line.endswith(b"\n"):
                break  # a torn last write: the event was never acknowledged
            record = orjson.loads(line)
            if record[0] == "c":
                columns = record[1]
                continue
            if columns is None:
                raise StoreUnavailableError(
                    f"the online store journal {str(path)!r} was written by an older riskline "
                    "(no column header); move it aside and replay your events to rebuild it."
                )
            # ["e", txid, ts, values]; ["l", at, values, label id] (before 2026-11-30: no id)
            raw = dict(zip(columns, record[3] if record[0] == "e" else record[2], strict=True))
            values = [raw.get(c) for c in state.columns]
            if record[0] == "e":
                state.apply(str(record[1]), int(record[2]), values, None)
            elif len(record) > 3:  # counted once per label id
                state.label_once(str(record[3]), int(record[1]), values)
            else:
                state.apply_label(int(record[1]), values)
