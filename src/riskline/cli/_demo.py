"""``riskline demo``: the whole fraud path on embedded defaults, end to end.

generate a month -> train (backfill, split, calibrate, bands) -> report -> register and
promote (four eyes) -> warm the online store with history -> start the service -> replay
the held-out last days over HTTP -> summary.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import httpx
import orjson
import polars as pl
import uvloop
from rich.table import Table

from riskline.cli._common import console, progress
from riskline.events import PaymentsSpec, generate_payments
from riskline.features import EmbeddedStore, OnlineEngine, replay
from riskline.features.check import attempts
from riskline.features.offline import prepare
from riskline.fraud import FRAUD_COSTS, FRAUD_FEATURES, train_fraud
from riskline.models import write_report, write_report_json
from riskline.registry import Registry
from riskline.serving import client

REPLAY_DAYS = 3
CLIENTS = 8


def run_demo(rows: int, home: Path) -> None:
    if home.exists():
        shutil.rmtree(home)  # every demo starts from nothing
    home.mkdir(parents=True)
    events = _generate(rows, home)
    cut = events["ts"].max() - timedelta(days=REPLAY_DAYS)  # type: ignore[operator]
    history = events.filter(pl.col("ts") < cut)
    live = events.filter(pl.col("ts") >= cut)
    version, report = _train(history, home)
    _warm(history, home)
    port = _free_port()
    key = secrets.token_urlsafe(24)
    server = _start(home, port, key)
    try:
        results, seconds = uvloop.run(_replay(live, port, key))
    finally:
        server.terminate()
        server.wait(timeout=30)
    _summary(live, results, seconds, version, report, home)


def _generate(rows: int, home: Path) -> pl.DataFrame:
    with progress() as bar:
        task = bar.add_task("1/6 generating a month of payments", total=1.0)
        events = generate_payments(
            PaymentsSpec(rows=rows, seed=7), lambda stage, done: bar.update(task, completed=done)
        )
    events.write_parquet(home / "payments.parquet")
    console.print(
        f"1/6 generated {events.height:,} payments, "
        f"{int(events['is_fraud'].sum()):,} fraudulent -> {home / 'payments.parquet'}"
    )
    return events


def _train(history: pl.DataFrame, home: Path) -> tuple[str, Path]:
    with Registry.open(f"sqlite:///{home / 'registry.db'}", home / "artifacts") as registry:
        with progress() as bar:
            task = bar.add_task("2/6 backfill + train + calibrate + evaluate", total=1.0)
            started = time.perf_counter()
            result = train_fraud(
                history,
                registry,
                "demo-trainer",
                on_progress=lambda stage, d: bar.update(
                    task, description=f"2/6 {stage}", completed=d
                ),
            )
        version = result.version.version
        report = home / "reports" / f"{version}.html"
        report.parent.mkdir(parents=True, exist_ok=True)
        write_report(result.evaluation, report)
        write_report_json(result.evaluation, report.with_suffix(".json"))
        m = result.metrics
        rules = next(
            (b.pr_auc_score for b in result.evaluation.baselines if b.name == "rules"), float("nan")
        )
        console.print(
            f"2/6 trained {version} in {time.perf_counter() - started:.0f} s: "
            f"test PR-AUC {m['test_pr_auc']:.3f} (rules-only {rules:.3f}), "
            f"ECE {m['test_ece']:.4f} -> {report}"
        )
        registry.promote(version, "demo-approver", "demo: report reviewed")
        console.print(f"3/6 {version} promoted to champion by demo-approver (four eyes)")
    return version, report


def _warm(history: pl.DataFrame, home: Path) -> None:
    """Feed the history through the service's own online store, so live features see it."""
    store = EmbeddedStore(home / "online" / "state.journal").open()
    engine = OnlineEngine(FRAUD_FEATURES, store)
    ordered = prepare(FRAUD_FEATURES, history, "ts").collect()
    with progress() as bar:
        task = bar.add_task("4/6 warming the online store", total=ordered.height)
        for i, _ in enumerate(replay(engine, attempts(ordered))):
            if i % 5_000 == 0:
                bar.update(task, completed=i)
        bar.update(task, completed=ordered.height)
    store.close()
    console.print(f"4/6 online store holds {ordered.height:,} events of history")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(home: Path, port: int, key: str) -> subprocess.Popen[bytes]:
    from riskline.serving import hash_key

    env = {
        **os.environ,
        "RISKLINE_HOME": str(home),
        "RISKLINE_API_KEYS": f"demo:scorer:{hash_key(key)}",
    }
    env.pop("RISKLINE_REGISTRY_URL", None)
    env.pop("RISKLINE_DECISION_LOG_URL", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "riskline.cli", "serve", "--port", str(port)], env=env
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                console.print(
                    f"5/6 service ready at http://127.0.0.1:{port} (OpenAPI at /openapi.json)"
                )
                return server
        except httpx.HTTPError:
            pass
        if server.poll() is not None:
            raise RuntimeError(f"the service exited with code {server.returncode}")
        time.sleep(0.5)
    server.terminate()
    raise RuntimeError("the service did not become ready within 120 s")


def _body(row: dict[str, object]) -> dict[str, object]:
    keep = (
        "transaction_id",
        "amount_minor",
        "customer_id",
        "card_token",
        "currency",
        "device_id",
        "merchant_id",
        "terminal_id",
        "mcc",
        "merchant_country",
        "ip_country",
        "customer_country",
        "channel",
    )
    body = {k: row[k] for k in keep if row.get(k) is not None}
    body["ts"] = row["ts"].isoformat()  # type: ignore[attr-defined]
    return body


async def _replay(live: pl.DataFrame, port: int, key: str) -> tuple[list[dict[str, object]], float]:
    rows = live.sort("ts").to_dicts()
    headers = {"X-API-Key": key}
    path = "/v1/fraud/score"
    requests = [client.post_request(path, orjson.dumps(_body(r)), headers) for r in rows]
    with progress() as bar:
        task = bar.add_task("6/6 replaying the last days as live traffic", total=len(rows))
        started = time.perf_counter()
        replies = await client.replay(
            port, requests, connections=CLIENTS, done=lambda: bar.advance(task)
        )
        seconds = time.perf_counter() - started
    results = [
        {
            "status": r.status,
            "client_ms": r.ms,
            **(orjson.loads(r.body) if r.status == 200 else {}),
        }
        for r in replies
    ]
    return results, seconds


def _summary(
    live: pl.DataFrame,
    results: list[dict[str, object]],
    seconds: float,
    version: str,
    report: Path,
    home: Path,
) -> None:
    rows = live.sort("ts").to_dicts()
    actions = Counter(str(r.get("decision", "error")) for r in results)
    fallbacks = Counter(str(r["fallback"]) for r in results if r.get("fallback"))
    caught = missed = cost = 0
    c = FRAUD_COSTS
    for row, r in zip(rows, results, strict=True):
        amount = int(row["amount_minor"])
        action = r.get("decision")
        if row["is_fraud"]:
            if action == "approve":
                missed += 1
                cost += amount + c.chargeback_fee_minor
            else:
                caught += 1
        elif action == "decline":
            cost += int(amount * c.margin_share) + c.friction_minor
        if action == "review":
            cost += c.review_minor
    client_ms = sorted(float(r["client_ms"]) for r in results if "client_ms" in r)  # type: ignore[arg-type]
    server_ms = sorted(float(r["latency_ms"]) for r in results if "latency_ms" in r)  # type: ignore[arg-type]
    table = Table(title=f"replay of the last {REPLAY_DAYS} days under {version}")
    table.add_column("what")
    table.add_column("value", justify="right")
    for action in ("approve", "review", "decline", "error"):
        if actions[action]:
            table.add_row(f"decisions: {action}", f"{actions[action]:,}")
    table.add_row("fraud caught (review or decline)", f"{caught:,}")
    table.add_row("fraud missed", f"{missed:,}")
    table.add_row(
        "expected cost per 1,000 payments", f"{cost / max(len(rows), 1) * 1000 / 100:,.2f} EUR"
    )
    table.add_row("throughput", f"{len(rows) / seconds:,.0f} requests/s ({CLIENTS} clients)")
    for name, values in (("client", client_ms), ("server", server_ms)):
        if values:
            table.add_row(
                f"{name} latency p50 / p99",
                f"{statistics.median(values):.2f} / {values[int(len(values) * 0.99)]:.2f} ms",
            )
    table.add_row("fallbacks", ", ".join(f"{k} {v}" for k, v in fallbacks.items()) or "none")
    console.print(table)
    console.print(f"report: {report}")
    console.print(f"decision log: {home / 'decisions.db'} (riskline audit verify)")
    console.print(f"service: stopped; start it again with RISKLINE_HOME={home} riskline serve")
