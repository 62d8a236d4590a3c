"""The embedded store's periodic snapshots: what a snapshot costs the process that serves,
and what it saves a restart after a kill.

Run by hand: ``.venv/bin/python bench/snapshot.py [--events 1000000] [--every-mb 32]``. The
last line is one JSON object:

- ``batch_p50_ms`` and ``fork_batch_ms``: wall time of ``observe_many`` for 1,000 attempts,
  as a median, and the slowest batch that started a snapshot (the fork happens inside it);
  ``fork_ms``, the longest ``fork`` call itself, and ``rss_mb``, this process's peak memory
  (the bench holds every event in memory, so it forks a larger process than a service);
- ``snapshots`` and ``child_p50_s``: how many snapshots the children wrote, and how long a
  child took from fork to exit (median);
- ``restart_s`` and ``restart_full_replay_s``: a new store after a kill, from the last
  periodic snapshot, and from the journal alone (that snapshot deleted), as before.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import statistics
import tempfile
import time
from pathlib import Path

from rich.progress import track

from riskline.events import PaymentsSpec, generate_payments
from riskline.features import EmbeddedStore, OnlineEngine
from riskline.features.check import attempts
from riskline.fraud import FRAUD_FEATURES


class _Children(logging.Handler):
    """When each snapshot child started and ended, from the store's log."""

    def __init__(self) -> None:
        super().__init__()
        self.started: list[float] = []
        self.ended: list[float] = []
        self.fork_ms: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "journal bytes started" in message:
            self.started.append(record.created)
            fork_ms = record.args[-1] if isinstance(record.args, tuple) else None
            assert isinstance(fork_ms, float)
            self.fork_ms.append(round(fork_ms, 1))
        elif "snapshot written at" in message or "snapshot at" in message:
            self.ended.append(record.created)


def _restart(journal: Path) -> float:
    """Seconds for a new store to be ready (``OnlineEngine`` binds it: snapshot, replay)."""
    started = time.perf_counter()
    store = EmbeddedStore(journal, snapshot_every_bytes=0).open()
    OnlineEngine(FRAUD_FEATURES, store)
    return time.perf_counter() - started


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--every-mb", type=float, default=32.0)
    args = p.parse_args()
    children = _Children()
    log = logging.getLogger("riskline.features")
    log.addHandler(children)
    log.setLevel(logging.INFO)
    events = list(attempts(generate_payments(PaymentsSpec(rows=args.events, seed=3, days=30))))
    with tempfile.TemporaryDirectory() as folder:
        journal = Path(folder) / "state.journal"
        store = EmbeddedStore(journal, snapshot_every_bytes=int(args.every_mb * (1 << 20)))
        engine = OnlineEngine(FRAUD_FEATURES, store.open())
        laps: list[tuple[float, bool]] = []
        for i in track(range(0, len(events), 1_000), description="events", transient=True):
            forks = len(children.started)
            started = time.perf_counter()
            engine.observe_many(events[i : i + 1_000])
            laps.append((time.perf_counter() - started, len(children.started) > forks))
        while len(children.ended) < len(children.started):  # then killed: no close
            time.sleep(0.05)
        journal_mb = journal.stat().st_size / (1 << 20)
        restart = _restart(journal)  # from the last periodic snapshot
        journal.with_name(journal.name + ".snapshot").unlink()
        full = _restart(journal)  # the whole journal, as before periodic snapshots
    plain = [t for t, forked in laps if not forked]
    forked = [t for t, f in laps if f]
    child = [end - start for start, end in zip(children.started, children.ended, strict=True)]
    print(
        json.dumps(
            {
                "events": len(events),
                "every_mb": args.every_mb,
                "journal_mb": round(journal_mb, 1),
                "batch_p50_ms": round(statistics.median(plain) * 1000, 2),
                "fork_batch_ms": round(max(forked) * 1000, 2) if forked else None,
                "fork_ms": max(children.fork_ms, default=None),
                "rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                "snapshots": len(child),
                "child_p50_s": round(statistics.median(child), 2) if child else None,
                "restart_s": round(restart, 2),
                "restart_full_replay_s": round(full, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
