"""Benchmark the audit of a long decision log: a backtest of its last period, and verify.

Run by hand: ``.venv/bin/python bench/audit.py [--decisions 500000] [--period 0.1]``.

1. Logs ``--decisions`` fraud decisions a second apart (bodies as the service writes them:
   the request, the 32 fraud features, score, action, bands) and a fraud label for one in a
   hundred, to a fresh SQLite log; the model is ``bench/serve.py``'s, registered twice
   (``fraud-v1``, and ``fraud-v2`` with lower bands).
2. ``backtest`` of the last ``--period`` of the log under ``fraud-v2``, as ``riskline audit
   backtest`` runs it: the log selects the period and the labels, the period is scored in
   chunks. Its time, and the process's peak memory (``VmHWM``) before and after it.
3. ``verify`` of the whole chain.

Steps 2 and 3 run in a fresh process, so that its peak memory is theirs. The last output line
is one JSON object: ``backtest_seconds``, ``backtest_decisions``, ``backtest_peak_mb`` (how
much the process's peak grew during the backtest), ``verify_seconds``.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from riskline.decisions import DecisionRecord, Thresholds, backtest, open_decision_log
from riskline.fraud import FRAUD_COSTS, FRAUD_FEATURES
from riskline.models import Model
from riskline.registry import Lineage, Registry

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve import machine_ms, make_model

START = datetime(2026, 3, 1, tzinfo=UTC)
BANDS = {"fraud-v1": (0.3, 0.8), "fraud-v2": (0.1, 0.6)}


def register(home: Path) -> None:
    """``bench/serve.py``'s model as fraud-v1 and, with lower bands, fraud-v2."""
    make_model(home / "model.txt")
    data = (home / "model.riskline").read_bytes()
    lineage = Lineage("ab" * 32, 20_000, START, START + timedelta(days=30), 0.05, "bench")
    with Registry.open(f"sqlite:///{home / 'registry.db'}", home / "artifacts") as registry:
        for review_at, decline_at in BANDS.values():
            registry.register(
                "fraud",
                data,
                lineage,
                {"trees": 200},
                {"test_pr_auc": 0.5, "test_ece": 0.01},
                {"review_at": review_at, "decline_at": decline_at},
                "bench-trainer",
            )


def records(first: int, n: int) -> list[DecisionRecord]:
    """Decisions ``first`` to ``first + n - 1`` of fraud-v1 and a label for one in a hundred,
    in time order."""
    rng = random.Random(first)
    bands = Thresholds(*BANDS["fraud-v1"])
    names = FRAUD_FEATURES.names
    out = []
    for i in range(first, first + n):
        at = START + timedelta(seconds=i)
        amount = rng.randrange(100, 200_000)
        features: dict[str, object] = {name: rng.randrange(20) for name in names}
        features["value_amount_minor"] = amount
        score = rng.random() ** 6
        body: dict[str, object] = {
            "action": bands.band(score),
            "score": score,
            "rule_score": 0.0,
            "reasons": [],
            "model_version": "fraud-v1",
            "rules_version": "fraud-rules-1",
            "fallback": None,
            "thresholds": {"review_at": bands.review_at, "decline_at": bands.decline_at},
            "features": features,
            "latency_ms": 1.0,
            "rules_fired": [],
            "request": {"transaction_id": f"t{i}", "amount_minor": amount, "card_token": "k"},
        }
        out.append(DecisionRecord(f"d{i:09d}", f"t{i}", "fraud", at, body))
        if i % 100 == 0:
            label = {"is_fraud": rng.random() < 0.3, "label_available_at": at.isoformat()}
            out.append(DecisionRecord(f"l{i:09d}", f"t{i}", "fraud_label", at, label))
    return out


def peak_mb() -> float:
    """This process's peak resident memory (``VmHWM``: unlike ``ru_maxrss``, not inherited
    from the parent across ``exec``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def audit(home: Path, since: datetime) -> dict[str, float]:
    """Backtest from ``since`` and verify, in this process (a fresh one: its peak memory
    is the audit's)."""
    url = f"sqlite:///{home / 'decisions.db'}"
    with (
        open_decision_log(url) as log,
        Registry.open(f"sqlite:///{home / 'registry.db'}", home / "artifacts") as registry,
    ):
        before = peak_mb()
        started = time.perf_counter()
        result = backtest(log, registry, Model.from_bytes, "fraud-v2", since, costs=FRAUD_COSTS)
        took = time.perf_counter() - started
        print(
            f"backtest of {result.decisions:,} decisions ({result.labelled:,} labelled): "
            f"{took:.2f} s, peak memory {before:.0f} -> {peak_mb():.0f} MB; "
            f"moved {sum(result.moved.values()):,}",
            file=sys.stderr,
        )
        grew = peak_mb() - before
        started = time.perf_counter()
        report = log.verify()
        verify_s = time.perf_counter() - started
        print(f"verify of {report.checked:,} records: {verify_s:.2f} s", file=sys.stderr)
    return {
        "backtest_decisions": result.decisions,
        "backtest_seconds": round(took, 2),
        "backtest_peak_mb": round(grew, 1),
        "verify_seconds": round(verify_s, 2),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--decisions", type=int, default=500_000)
    p.add_argument("--period", type=float, default=0.1, help="share of the log backtested")
    p.add_argument("--audit-home", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--since", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.audit_home:
        print(json.dumps(audit(args.audit_home, datetime.fromisoformat(args.since))))
        return
    speed = machine_ms()
    print(f"machine: sum(range(10**6)) {speed} ms", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="riskline-audit-") as folder:
        home = Path(folder)
        register(home)
        with open_decision_log(f"sqlite:///{home / 'decisions.db'}") as log:
            started = time.perf_counter()
            for lo in range(0, args.decisions, 50_000):
                log.append_many(records(lo, min(50_000, args.decisions - lo)))
                print(f"logged {min(lo + 50_000, args.decisions):,} decisions", file=sys.stderr)
            print(f"log written in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        since = START + timedelta(seconds=int(args.decisions * (1 - args.period)))
        child = subprocess.run(
            [sys.executable, __file__, "--audit-home", str(home), "--since", since.isoformat()],
            check=True,
            stdout=subprocess.PIPE,
            text=True,
        )
        result = json.loads(child.stdout.strip().splitlines()[-1])
    print(json.dumps({"decisions": args.decisions, **result, "machine_sum_1m_ms": speed}))


if __name__ == "__main__":
    main()
