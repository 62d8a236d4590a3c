"""The root ``riskline`` app: version, ``generate``, ``demo``; adds the command groups."""

from __future__ import annotations

import os
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import polars as pl
import typer
from rich.table import Table

import riskline
from riskline.cli import _features, _models, _registry
from riskline.cli._common import (
    console,
    fail,
    parse_day,
    progress,
    run_work,
    utc,
    writable_file,
)
from riskline.events import DriftSpec, PaymentsSpec, generate_payments
from riskline.features import EmbeddedStore, OnlineEngine, check, compute_offline
from riskline.fraud import FRAUD_FEATURES

app = typer.Typer(
    name="riskline",
    help="ML-backed risk decisions: fraud scoring, features, models, audit.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(_features.app, name="features")
app.add_typer(_registry.app, name="registry")
app.command()(_models.train)
app.command()(_models.evaluate)
app.command()(_models.score)
_DATASETS = ("payments",)


def _version(value: bool) -> None:
    if value:
        console.print(f"riskline {riskline.__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show version.")
    ] = False,
) -> None:
    """riskline: ML-backed risk decisions for fintech."""


@app.command()
def generate(
    dataset: Annotated[str, typer.Argument(help="What to generate: payments.")],
    out: Annotated[Path, typer.Option(help="Output Parquet file.")],
    rows: Annotated[int, typer.Option(help="Number of payment attempts.")] = 100_000,
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same bytes.")] = 7,
    start: Annotated[str, typer.Option(help="First day, YYYY-MM-DD (UTC).")] = "2026-01-01",
    days: Annotated[int, typer.Option(help="Length of the period in days.")] = 30,
    fraud_rate: Annotated[float, typer.Option(help="Share of fraudulent attempts.")] = 0.005,
    drift: Annotated[
        str | None, typer.Option(help="Shift the population from this day on, YYYY-MM-DD.")
    ] = None,
) -> None:
    """Generate a synthetic, labelled dataset as Parquet."""
    if dataset not in _DATASETS:
        fail(f"unknown dataset {dataset!r}; known: {', '.join(_DATASETS)}.")
    start_at = utc(parse_day("--start", start))
    drift_spec = None if drift is None else DriftSpec(starts_at=utc(parse_day("--drift", drift)))
    target = writable_file(out)

    def work() -> None:
        spec = PaymentsSpec(
            rows=rows,
            seed=seed,
            start_at=start_at,
            days=days,
            fraud_rate=fraud_rate,
            drift=drift_spec,
        )
        with progress() as bar:
            task = bar.add_task("generating payments", total=1.0)
            frame = generate_payments(
                spec,
                lambda stage, done: bar.update(
                    task, completed=done * 0.8, description=f"generating: {stage}"
                ),
            )
            bar.update(task, description="writing parquet", completed=0.85)
            tmp = target.with_name(target.name + ".tmp")
            frame.write_parquet(tmp, compression="zstd", statistics=True)
            os.replace(tmp, target)
            bar.update(task, description="done", completed=1.0)
        console.print(f"wrote {frame.height:,} payments to {target}")

    run_work(work)


@app.command()
def demo(
    rows: Annotated[int, typer.Option(help="Payments in the generated month.")] = 300_000,
    home: Annotated[Path, typer.Option(help="Where the demo writes its files.")] = Path(
        ".riskline/demo"
    ),
) -> None:
    """The main job on embedded defaults: generate a month of payments, backfill the fraud
    features offline, replay them through the online engine and prove both agree."""

    def work() -> None:
        home.mkdir(parents=True, exist_ok=True)
        events_path, features_path = home / "payments.parquet", home / "features.parquet"
        (home / "online.journal").unlink(missing_ok=True)  # a fresh demo starts from no state
        with progress() as bar:
            task = bar.add_task("generating a month of payments", total=1.0)
            frame = generate_payments(
                PaymentsSpec(rows=rows, seed=7),
                lambda stage, done: bar.update(
                    task, completed=done, description=f"generating: {stage}"
                ),
            )
            frame.write_parquet(events_path, compression="zstd")
        console.print(
            f"1. generated {frame.height:,} payments "
            f"({int(frame['is_fraud'].sum()):,} fraudulent) -> {events_path}"
        )
        started = time.perf_counter()
        backfill = compute_offline(FRAUD_FEATURES, frame)
        backfill.write_parquet(features_path, compression="zstd")
        console.print(
            f"2. backfilled {len(FRAUD_FEATURES.features)} features offline in "
            f"{time.perf_counter() - started:.1f} s -> {features_path}"
        )
        sample = frame.filter(pl.col("ts") < frame["ts"].min() + timedelta(days=2))  # type: ignore[operator]
        engine = OnlineEngine(FRAUD_FEATURES, EmbeddedStore(home / "online.journal").open())
        with progress() as bar:
            task = bar.add_task("replaying 2 days online", total=sample.height)
            report = check(
                FRAUD_FEATURES,
                sample,
                engine,
                on_progress=lambda done: bar.update(task, completed=done),
            )
            bar.update(task, completed=sample.height)
        engine.store.close()
        console.print(
            f"3. online replay of {report.events:,} events vs offline backfill: "
            f"{report.total} mismatches over {report.features} features"
        )
        _print_lift(backfill)
        if report.total:
            raise typer.Exit(code=1)

    run_work(work)


def _print_lift(backfill: pl.DataFrame) -> None:
    table = Table(title="4. what the features see (mean by class)")
    for column in ("feature", "genuine", "fraud"):
        table.add_column(column, justify="right" if column != "feature" else "left")
    names = [
        "count_5m_by_card",
        "zscore_amount_minor_30d_by_customer",
        "new_value_device_id_90d_by_customer",
        "ip_country_differs_customer_country",
        "distinct_merchant_id_1d_by_card",
        "label_rate_30d_by_terminal",
    ]
    means = backfill.group_by("is_fraud").agg(pl.col(names).mean()).sort("is_fraud")
    for name in names:
        genuine, fraud = means[name].to_list()
        table.add_row(name, f"{genuine:.3f}", f"{fraud:.3f}")
    console.print(table)


def run() -> None:
    """Console entrypoint."""
    sys.exit(app())
