"""The embedded store's periodic snapshots: what a snapshot costs the process that serves,
and what it saves a restart after a kill.

Run by hand: ``.venv/bin/python bench/snapshot.py [--events 1000000] [--every-mb 32]
[--serve]``. A child process takes ``--events`` attempts in batches of 1,000, snapshotting
every ``--every-mb`` of journal, and is killed (SIGKILL) once its snapshots are written;
then a new store is opened on its journal. The last line is one JSON object:

- ``batch_p50_ms`` and ``fork_batch_ms``: wall time of ``observe_many`` for 1,000 attempts,
  as a median, and the slowest batch that started a snapshot (the fork happens inside it);
  ``fork_ms``, the longest ``fork`` call itself, and ``rss_mb``, the child's peak memory
  (it holds every event in memory, so it forks a larger process than a service);
- ``snapshots`` and ``child_p50_s``: how many snapshots were written, and how long a
  snapshot's process took from fork to exit (median);
- ``restart_s`` and ``restart_full_replay_s``: a new store after the kill, from the last
  periodic snapshot, and from the journal alone (that snapshot deleted);
- with ``--serve``: the service (``bench/serve.py``'s server and load, 1,000 req/s for
  ``--serve-seconds``) over that state, snapshotting every MB of journal against never
  while it runs, interleaved twice: ``serve_p99_ms_snapshots`` and ``serve_p99_ms_none``
  (each run's p99), and how much the journal grew in a run (``serve_journal_growth_mb``:
  about as many snapshots).
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing as mp
import os
import resource
import shutil
import signal
import statistics
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

from rich.progress import track

from riskline.events import PaymentsSpec, generate_payments
from riskline.features import EmbeddedStore, OnlineEngine
from riskline.features.check import attempts
from riskline.fraud import FRAUD_FEATURES

HERE = Path(__file__).resolve().parent


class _Children(logging.Handler):
    """When each snapshot's process started and ended, and its fork's time, from the log."""

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


def _life(journal: Path, events: int, every_mb: float, report: Connection) -> None:
    """A store's life until it is killed: every event, with periodic snapshots; sends its
    figures once every snapshot it started has ended, then waits for the kill."""
    children = _Children()
    log = logging.getLogger("riskline.features")
    log.addHandler(children)
    log.setLevel(logging.INFO)
    seen = list(attempts(generate_payments(PaymentsSpec(rows=events, seed=3, days=30))))
    store = EmbeddedStore(journal, snapshot_every_bytes=int(every_mb * (1 << 20)))
    engine = OnlineEngine(FRAUD_FEATURES, store.open())
    laps: list[tuple[float, bool]] = []
    for i in track(range(0, len(seen), 1_000), description="events", transient=True):
        forks = len(children.started)
        started = time.perf_counter()
        engine.observe_many(seen[i : i + 1_000])
        laps.append((time.perf_counter() - started, len(children.started) > forks))
    while len(children.ended) < len(children.started):
        time.sleep(0.05)
    plain = [t for t, forked in laps if not forked]
    forked = [t for t, f in laps if f]
    child = [end - start for start, end in zip(children.started, children.ended, strict=True)]
    report.send(
        {
            "events": len(seen),
            "every_mb": every_mb,
            "journal_mb": round(journal.stat().st_size / (1 << 20), 1),
            "batch_p50_ms": round(statistics.median(plain) * 1000, 2),
            "fork_batch_ms": round(max(forked) * 1000, 2) if forked else None,
            "fork_ms": max(children.fork_ms, default=None),
            "rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "snapshots": len(child),
            "child_p50_s": round(statistics.median(child), 2) if child else None,
        }
    )
    time.sleep(3600)  # killed before this ends


def _restart(journal: Path) -> float:
    """Seconds for a new store to be ready (``OnlineEngine`` binds it: snapshot, replay);
    it is then closed, which snapshots it whole."""
    started = time.perf_counter()
    store = EmbeddedStore(journal, snapshot_every_bytes=0).open()
    OnlineEngine(FRAUD_FEATURES, store)
    took = time.perf_counter() - started
    store.close()
    return took


def _serve(state: Path, every_mb: str, seconds: float) -> tuple[float, float]:
    """p99 at 1,000 req/s of the service over a copy of the store in ``state``, and how
    many MB its journal grew meanwhile (snapshotting every MB: about as many snapshots)."""
    sys.path.insert(0, str(HERE))
    import serve

    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        model = home / "model.txt"
        serve.make_model(model)
        serve.setup_home(home, model)
        shutil.copytree(state, home / "online")
        port = serve.free_port()
        server = serve.start_server(home, port, RISKLINE_SNAPSHOT_EVERY_MB=every_mb)
        try:
            serve._wait(port, timeout_s=300)
            serve.load(port, 300, 3, 64, 99)
            size = (home / "online" / "state.journal").stat().st_size
            p99 = serve.load(port, 1000, seconds, 64, 0)["p99_ms"]
            grown = (home / "online" / "state.journal").stat().st_size - size
        finally:
            server.terminate()
            server.wait(60)
    return p99, round(grown / (1 << 20), 1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--every-mb", type=float, default=32.0)
    p.add_argument("--serve", action="store_true")
    p.add_argument("--serve-seconds", type=float, default=40.0)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        state = Path(folder) / "online"
        state.mkdir()
        journal = state / "state.journal"
        receive, send = mp.get_context("fork").Pipe(duplex=False)
        life = mp.get_context("fork").Process(
            target=_life, args=(journal, args.events, args.every_mb, send)
        )
        life.start()
        figures: dict[str, object] = receive.recv()
        assert life.pid is not None
        os.kill(life.pid, signal.SIGKILL)
        life.join()
        figures["restart_s"] = round(_restart(journal), 2)  # from the last periodic snapshot
        journal.with_name(journal.name + ".snapshot").unlink()
        figures["restart_full_replay_s"] = round(_restart(journal), 2)  # the journal alone
        if args.serve:
            modes = ["1", "0", "1", "0"]  # snapshot every MB, or never while running
            runs = [(every, _serve(state, every, args.serve_seconds)) for every in modes]
            figures["serve_p99_ms_snapshots"] = [p99 for every, (p99, _) in runs if every == "1"]
            figures["serve_p99_ms_none"] = [p99 for every, (p99, _) in runs if every == "0"]
            figures["serve_journal_growth_mb"] = runs[0][1][1]
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
