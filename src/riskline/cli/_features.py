"""``riskline features``: list, backfill and check the fraud feature set."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import polars as pl
import typer
from rich.table import Table

from riskline.cli._common import (
    console,
    feature_set_for,
    load_events,
    progress,
    run_work,
    scan_events,
    writable_file,
)
from riskline.errors import SchemaError
from riskline.features import EmbeddedStore, OnlineEngine, backfill, check, duration_label
from riskline.fraud import FRAUD_FEATURES

app = typer.Typer(help="Feature engine: list, backfill, check.", no_args_is_help=True)


@app.command("list")
def features_list() -> None:
    """List the fraud feature set: name, aggregation, entity, window."""
    table = Table(title=f"feature set {FRAUD_FEATURES.version}")
    table.add_column("name", no_wrap=True)
    for column in ("agg", "entity", "window", "kind"):
        table.add_column(column)
    for f in FRAUD_FEATURES.features:
        table.add_row(
            f.name,
            f.agg,
            f.entity.name if f.entity else "-",
            duration_label(f.window) if f.window else "-",
            f.kind if f.entity else "row",
        )
    console.print(table)


@app.command("backfill")
def features_backfill(
    events: Annotated[Path, typer.Option(help="Events Parquet file (payment schema).")],
    out: Annotated[Path, typer.Option(help="Output Parquet: events plus features.")],
) -> None:
    """Compute every feature for every event, point-in-time correct."""
    target = writable_file(out)

    def work() -> None:
        fs = feature_set_for(scan_events(events))
        tmp = target.with_name(target.name + ".tmp")
        with progress() as bar:
            task = bar.add_task("computing features", total=None)

            def writing(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total, description="writing parquet")

            try:
                rows = backfill(fs, events, tmp, on_progress=writing)
            except pl.exceptions.PolarsError as exc:
                tmp.unlink(missing_ok=True)
                raise SchemaError(f"--events {str(events)!r}: {exc}") from exc
            os.replace(tmp, target)
        console.print(f"wrote {rows:,} rows x {len(fs.features)} features to {target}")

    run_work(work)


@app.command("check")
def features_check(
    events: Annotated[Path, typer.Option(help="Events Parquet file (payment schema).")],
) -> None:
    """Replay events through the online engine and compare with the offline backfill."""

    def work() -> None:
        frame = load_events(events)
        fs = feature_set_for(frame)
        engine = OnlineEngine(fs, EmbeddedStore().open())
        with progress() as bar:
            task = bar.add_task("replaying online", total=frame.height)
            report = check(
                fs, frame, engine, on_progress=lambda done: bar.update(task, completed=done)
            )
            bar.update(task, completed=frame.height)
        table = Table("feature", "mismatches")
        for name, count in report.mismatches.items():
            table.add_row(name, str(count))
        console.print(table)
        typer.echo(
            json.dumps(
                {"events": report.events, "features": report.features, "mismatches": report.total}
            )
        )
        if report.total:
            raise typer.Exit(code=1)

    run_work(work)
