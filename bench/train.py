"""Fraud model training figures on generated payments (issue 4).

Run by hand: ``.venv/bin/python bench/train.py --rows 1000000``. Times backfill + split +
train + calibrate + choose bands + evaluate + register (``riskline.fraud.train_fraud``),
writes the HTML/JSON report beside a temporary registry, and prints one final JSON line with
the keys the issue names.

The rules-only baseline is riskline's default fallback rules (``riskline.fraud.FRAUD_RULES``),
scored by their highest fired severity.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from riskline.events import PaymentsSpec, generate_payments
from riskline.fraud import train_fraud
from riskline.models import write_report, write_report_json
from riskline.registry import Registry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=Path("bench/out/train-report.html"))
    args = parser.parse_args()
    events = generate_payments(PaymentsSpec(rows=args.rows, seed=7))
    print(f"generated {events.height:,} payments", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        registry = Registry.open(f"sqlite:///{folder}/registry.db", Path(folder) / "artifacts")
        last = [""]

        def progress(stage: str, done: float) -> None:
            if stage != last[0]:
                print(f"  {stage} ({time.perf_counter() - started:.1f} s)", flush=True)
                last[0] = stage

        started = time.perf_counter()
        result = train_fraud(events, registry, "bench", on_progress=progress)
        seconds = time.perf_counter() - started
        registry.close()
    e = result.evaluation
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_report(e, args.out)
    write_report_json(e, args.out.with_suffix(".json"))
    rules = e.baselines[0]
    print(
        f"registered {result.version.version}: {result.params['best_iteration']} trees, "
        f"calibration {result.params['calibration']}, bands {result.decision_policy}, "
        f"labels at {result.split.labels_at:%Y-%m-%d %H:%M}; report {args.out}",
        flush=True,
    )
    print(
        json.dumps(
            {
                "rows": events.height,
                "seconds": round(seconds, 1),
                "model_pr_auc": round(e.model.pr_auc_score, 4),
                "rules_pr_auc": round(rules.pr_auc_score, 4),
                "model_precision_at_100": round(e.model.precision_at_k_score, 4),
                "rules_precision_at_100": round(rules.precision_at_k_score, 4),
                "cost_per_1000_optimal": round(e.cost_per_1000["bands"], 1),
                "cost_per_1000_threshold_05": round(e.cost_per_1000["threshold_05"], 1),
                "cost_per_1000_rules": round(e.cost_per_1000["rules"], 1),
                "ece": round(e.model.ece_loss, 5),
            }
        )
    )


if __name__ == "__main__":
    main()
