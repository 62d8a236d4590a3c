"""The ``riskline`` command line; a composition root (reads settings, wires components)."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_time
from pathlib import Path
from typing import Annotated, NoReturn

import polars as pl
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

import riskline
from riskline.errors import RisklineError
from riskline.events import DriftSpec, PaymentsSpec, conform, generate_payments
from riskline.features import (
    EmbeddedStore,
    FeatureSet,
    OnlineEngine,
    check,
    compute_offline,
    duration_label,
)
from riskline.fraud import FRAUD_FEATURES

app = typer.Typer(
    name="riskline",
    help="ML-backed risk decisions: fraud scoring, features, models, audit.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
_err = Console(stderr=True, highlight=False)
_out = Console(highlight=False)
_DATASETS = ("payments",)


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)


def _version(value: bool) -> None:
    if value:
        _out.print(f"riskline {riskline.__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show version.")
    ] = False,
) -> None:
    """riskline: ML-backed risk decisions for fintech."""


def _writable_file(path: Path) -> Path:
    """Fail with one line unless ``path`` can be created (its folder exists and is writable)."""
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        _fail(f"--out {str(path)!r} is a folder; give a file path such as payments.parquet.")
    if not folder.is_dir():
        _fail(f"--out {str(path)!r}: folder {str(folder)!r} does not exist.")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".riskline-probe-"):
            pass
    except OSError as exc:
        _fail(f"--out {str(path)!r} is not writable: {exc.strerror}.")
    return path


def _utc(day: date) -> datetime:
    return datetime.combine(day, day_time(0), tzinfo=UTC)


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=_err,
        transient=False,
    )


def _run(work: Callable[[], None]) -> None:
    try:
        work()
    except RisklineError as exc:
        _fail(str(exc))
    except MemoryError:
        _fail("out of memory; try fewer --rows.")


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
        _fail(f"unknown dataset {dataset!r}; known: {', '.join(_DATASETS)}.")
    start_at = _utc(_parse_day("--start", start))
    drift_spec = None if drift is None else DriftSpec(starts_at=_utc(_parse_day("--drift", drift)))
    target = _writable_file(out)

    def work() -> None:
        spec = PaymentsSpec(
            rows=rows,
            seed=seed,
            start_at=start_at,
            days=days,
            fraud_rate=fraud_rate,
            drift=drift_spec,
        )
        with _progress() as bar:
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
        _out.print(f"wrote {frame.height:,} payments to {target}")

    _run(work)


def _parse_day(option: str, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        _fail(f"{option} must be a date YYYY-MM-DD, got {value!r}.")


features_app = typer.Typer(help="Feature engine: list, backfill, check.", no_args_is_help=True)
app.add_typer(features_app, name="features")


def _load_events(path: Path) -> pl.DataFrame:
    if not path.is_file():
        _fail(f"--events {str(path)!r} is not a file.")
    try:
        frame = pl.read_parquet(path)
    except (pl.exceptions.ComputeError, OSError) as exc:
        _fail(f"--events {str(path)!r} is not a readable Parquet file ({exc}).")
    return conform(frame).collect()


def _feature_set_for(events: pl.DataFrame) -> FeatureSet:
    fs, notes = FRAUD_FEATURES.restrict(frozenset(events.columns))
    for note in notes:
        typer.echo(f"note: {note}", err=True)
    return fs


@features_app.command("list")
def features_list() -> None:
    """List the fraud feature set: name, aggregation, entity, window."""
    table = Table(title=f"feature set {FRAUD_FEATURES.version}")
    for column in ("name", "agg", "entity", "window", "kind"):
        table.add_column(column)
    for f in FRAUD_FEATURES.features:
        table.add_row(
            f.name,
            f.agg,
            f.entity.name if f.entity else "-",
            duration_label(f.window) if f.window else "-",
            f.kind if f.entity else "row",
        )
    _out.print(table)


@features_app.command("backfill")
def features_backfill(
    events: Annotated[Path, typer.Option(help="Events Parquet file (payment schema).")],
    out: Annotated[Path, typer.Option(help="Output Parquet: events plus features.")],
) -> None:
    """Compute every feature for every event, point-in-time correct."""
    target = _writable_file(out)

    def work() -> None:
        frame = _load_events(events)
        fs = _feature_set_for(frame)
        with _progress() as bar:
            task = bar.add_task(f"backfilling {frame.height:,} events", total=1.0)
            result = compute_offline(fs, frame)
            bar.update(task, completed=0.9, description="writing parquet")
            tmp = target.with_name(target.name + ".tmp")
            result.write_parquet(tmp, compression="zstd")
            os.replace(tmp, target)
            bar.update(task, completed=1.0, description="done")
        _out.print(f"wrote {result.height:,} rows x {len(fs.features)} features to {target}")

    _run(work)


@features_app.command("check")
def features_check(
    events: Annotated[Path, typer.Option(help="Events Parquet file (payment schema).")],
) -> None:
    """Replay events through the online engine and compare with the offline backfill."""

    def work() -> None:
        frame = _load_events(events)
        fs = _feature_set_for(frame)
        engine = OnlineEngine(fs, EmbeddedStore().open())
        with _progress() as bar:
            task = bar.add_task("replaying online", total=frame.height)
            report = check(
                fs, frame, engine, on_progress=lambda done: bar.update(task, completed=done)
            )
            bar.update(task, completed=frame.height)
        table = Table("feature", "mismatches")
        for name, count in report.mismatches.items():
            table.add_row(name, str(count))
        _out.print(table)
        typer.echo(
            json.dumps(
                {"events": report.events, "features": report.features, "mismatches": report.total}
            )
        )
        if report.total:
            raise typer.Exit(code=1)

    _run(work)


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
        with _progress() as bar:
            task = bar.add_task("generating a month of payments", total=1.0)
            frame = generate_payments(
                PaymentsSpec(rows=rows, seed=7),
                lambda stage, done: bar.update(
                    task, completed=done, description=f"generating: {stage}"
                ),
            )
            frame.write_parquet(events_path, compression="zstd")
        _out.print(
            f"1. generated {frame.height:,} payments "
            f"({int(frame['is_fraud'].sum()):,} fraudulent) -> {events_path}"
        )
        started = time.perf_counter()
        backfill = compute_offline(FRAUD_FEATURES, frame)
        backfill.write_parquet(features_path, compression="zstd")
        _out.print(
            f"2. backfilled {len(FRAUD_FEATURES.features)} features offline in "
            f"{time.perf_counter() - started:.1f} s -> {features_path}"
        )
        sample = frame.filter(pl.col("ts") < frame["ts"].min() + timedelta(days=2))  # type: ignore[operator]
        engine = OnlineEngine(FRAUD_FEATURES, EmbeddedStore(home / "online.journal").open())
        with _progress() as bar:
            task = bar.add_task("replaying 2 days online", total=sample.height)
            report = check(
                FRAUD_FEATURES,
                sample,
                engine,
                on_progress=lambda done: bar.update(task, completed=done),
            )
            bar.update(task, completed=sample.height)
        engine.store.close()
        _out.print(
            f"3. online replay of {report.events:,} events vs offline backfill: "
            f"{report.total} mismatches over {report.features} features"
        )
        _print_lift(backfill)
        if report.total:
            raise typer.Exit(code=1)

    _run(work)


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
    _out.print(table)


def run() -> None:
    """Console entrypoint."""
    sys.exit(app())
