"""Generate N payments (default 10M) and report time and peak memory.

Run by hand: ``.venv/bin/python bench/generate.py --rows 10000000``. The last output line is
one JSON object ``{"rows", "seconds", "peak_rss_mb"}``.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

from riskline.events import PaymentsSpec, generate_payments


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        frame = generate_payments(
            PaymentsSpec(rows=args.rows, seed=args.seed),
            lambda stage, done: print(f"{done:4.0%} {stage}", flush=True),
        )
        frame.write_parquet(Path(folder) / "payments.parquet", compression="zstd")
        seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps({"rows": frame.height, "seconds": round(seconds, 2), "peak_rss_mb": round(peak)})
    )


if __name__ == "__main__":
    main()
