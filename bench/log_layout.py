"""A batch of 1,000 decisions logged one record per decision (today) or as one record per
batch (a design under study); the last output line is JSON.

Run by hand: ``.venv/bin/python bench/log_layout.py [--prefill 150000] [--random-ids]``.

The batch figure of ``bench/serve.py`` (1,000 attempts in 30 ms) is not met, and about half
of a batch's time goes to the log: a JSON body per decision, a hash per decision, an insert
per decision. This measures what the log's part would cost if a batch were logged as one
chained record holding its decisions as columns (requests, the feature matrix, scores,
actions), with one index row per decision for idempotency and ``GET /v1/decisions/{id}``
(``kind, transaction_id -> seq, row``; ``decision_id`` unique).

- ``per_decision``: riskline's own SQLite log (``append_many``: encode, chain, insert,
  commit), after building each decision's body from the batch's columns (``bodies_ms``).
- ``per_batch``: the same columns encoded once (``orjson`` with numpy arrays), one sha256,
  one record and 1,000 index rows inserted and committed, on a SQLite file with the log's
  own settings (WAL, ``synchronous=FULL``, 8 KiB pages, 64 MiB cache). A prototype: no
  reader, verify or replay of such records exists.

Both logs are first filled with ``--prefill`` decisions, since a commit's cost grows with
the unique index it updates; ``--random-ids`` draws transaction ids at random (as a card
network's), else they arrive nearly in order (as ``bench/serve.py``'s batch ids).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import orjson

from riskline.decisions import DecisionRecord, open_decision_log

_N = 1000
_FEATURES = [f"count_{w}_by_{e}" for w in ("5m", "1h", "1d", "30d") for e in "abcdefgh"]
_REQUEST = ("customer_id", "card_token", "device_id", "merchant_id", "channel", "currency")
_DDL = (
    "CREATE TABLE records (seq INTEGER PRIMARY KEY, body BLOB NOT NULL,"
    " prev_hash BLOB NOT NULL, hash BLOB NOT NULL) STRICT",
    "CREATE TABLE decisions (kind TEXT NOT NULL, transaction_id TEXT NOT NULL,"
    " decision_id TEXT NOT NULL UNIQUE, seq INTEGER NOT NULL, row INTEGER NOT NULL,"
    " PRIMARY KEY (kind, transaction_id)) STRICT, WITHOUT ROWID",
)


class Batches:
    """Columns of synthetic batches of ``_N`` decisions, with time-ordered decision ids."""

    def __init__(self, seed: int, random_ids: bool) -> None:
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.ids = random.Random(seed)
        self.random_ids = random_ids
        self.made = 0

    def next(self) -> dict[str, object]:
        features = self.rng.random((_N, len(_FEATURES)))
        features[self.rng.random(features.shape) < 0.3] = np.nan
        k, self.made = self.made, self.made + 1
        ms = time.time_ns() // 1_000_000
        return {
            "transaction_id": [
                f"{self.ids.getrandbits(128):032x}"
                if self.random_ids
                else f"t{self.seed}-{k:08d}-{i:04d}"
                for i in range(_N)
            ],
            "decision_id": [f"{ms:012x}{self.ids.getrandbits(80):020x}" for _ in range(_N)],
            "request": {c: [f"{c}-{k}-{i}" for i in range(_N)] for c in _REQUEST},
            "amount_minor": self.rng.integers(0, 10**6, _N),
            "feature_names": _FEATURES,
            "features": features,
            "score": self.rng.random(_N),
            "action": ["approve"] * _N,
            "model_version": "fraud-v1",
            "rules_version": "fraud_rules-1",
        }


def bodies(cols: dict[str, object]) -> list[DecisionRecord]:
    """One record per decision, as the service builds them (a body of ~1.9 KB each)."""
    matrix: np.ndarray = cols["features"]  # type: ignore[assignment]
    request: dict[str, list[str]] = cols["request"]  # type: ignore[assignment]
    at = datetime.now(UTC)
    out = []
    for i, (txid, did) in enumerate(zip(cols["transaction_id"], cols["decision_id"], strict=True)):  # type: ignore[call-overload]
        values = matrix[i].tolist()
        body = {
            "action": "approve",
            "score": float(cols["score"][i]),  # type: ignore[index]
            "features": {n: None if v != v else v for n, v in zip(_FEATURES, values, strict=True)},
            "request": {c: request[c][i] for c in _REQUEST},
            "model_version": "fraud-v1",
            "rules_version": "fraud_rules-1",
            "reasons": [],
            "thresholds": {"review_at": 0.3, "decline_at": 0.8},
            "latency_ms": 1.0,
            "fallback": None,
        }
        out.append(DecisionRecord(did, txid, "fraud", at, body))
    return out


class BatchLog:
    """The per-batch prototype: one chained record per batch, an index row per decision."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)
        for pragma in ("page_size=8192", "journal_mode=WAL", "synchronous=FULL"):
            self.db.execute(f"PRAGMA {pragma}")
        self.db.execute("PRAGMA cache_size=-65536")
        for statement in _DDL:
            self.db.execute(statement)
        self.seq, self.prev = 0, b"\0" * 32

    def append(self, cols: dict[str, object]) -> tuple[float, float, float]:
        """Encode, chain, insert and commit one batch; the three times in seconds."""
        t0 = time.perf_counter()
        body = orjson.dumps(cols, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_SORT_KEYS)
        t1 = time.perf_counter()
        digest = hashlib.sha256(self.prev + self.seq.to_bytes(8, "big") + body).digest()
        t2 = time.perf_counter()
        seq = self.seq + 1
        self.db.execute("BEGIN IMMEDIATE")
        self.db.execute("INSERT INTO records VALUES (?, ?, ?, ?)", (seq, body, self.prev, digest))
        self.db.executemany(
            "INSERT INTO decisions VALUES ('fraud', ?, ?, ?, ?)",
            zip(cols["transaction_id"], cols["decision_id"], [seq] * _N, range(_N), strict=True),  # type: ignore[call-overload]
        )
        self.db.execute("COMMIT")
        self.seq, self.prev = seq, digest
        return t1 - t0, t2 - t1, time.perf_counter() - t2


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--prefill", type=int, default=150_000, help="decisions in each log first")
    p.add_argument("--batches", type=int, default=20)
    p.add_argument("--random-ids", action="store_true")
    args = p.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="riskline-layout-"))
    laps: dict[str, list[float]] = {}
    try:
        with open_decision_log(f"sqlite:///{folder / 'per_decision.db'}") as log:
            per_batch = BatchLog(folder / "per_batch.db")
            fill = Batches(1, args.random_ids)
            print(f"filling both logs with {args.prefill:,} decisions", file=sys.stderr)
            for _ in range(args.prefill // _N):
                cols = fill.next()
                log.append_many(bodies(cols))
                per_batch.append(cols)
            print(f"timing {args.batches} batches of {_N:,}", file=sys.stderr)
            source = Batches(2, args.random_ids)
            for _ in range(args.batches):
                cols = source.next()
                t0 = time.perf_counter()
                records = bodies(cols)
                t1 = time.perf_counter()
                log.append_many(records)
                t2 = time.perf_counter()
                laps.setdefault("per_decision.bodies", []).append(t1 - t0)
                laps.setdefault("per_decision.log", []).append(t2 - t1)
                encode, chain, write = per_batch.append(cols)
                for name, seconds in (("encode", encode), ("chain", chain), ("write", write)):
                    laps.setdefault(f"per_batch.{name}", []).append(seconds)
            per_batch.db.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    result: dict[str, object] = {}
    for name, values in laps.items():
        best, median = min(values) * 1000, statistics.median(values) * 1000
        print(f"  {name:22s} best {best:6.2f} ms  median {median:6.2f} ms", file=sys.stderr)
        result[name] = {"best": round(best, 2), "median": round(median, 2)}
    for side, parts in (
        ("per_decision", ("bodies", "log")),
        ("per_batch", ("encode", "chain", "write")),
    ):
        result[f"{side}_ms"] = round(
            sum(statistics.median(laps[f"{side}.{x}"]) for x in parts) * 1000, 2
        )
    result.update(prefill=args.prefill, random_ids=args.random_ids)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
