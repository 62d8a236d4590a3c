"""Helpers shared by the command modules: one-line errors, progress bars, inputs."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import UTC, date, datetime
from datetime import time as day_time
from pathlib import Path
from typing import NoReturn

import polars as pl
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from riskline.errors import RisklineError
from riskline.events import conform
from riskline.features import FeatureSet
from riskline.fraud import FRAUD_FEATURES

err = Console(stderr=True, highlight=False)
console = Console(highlight=False)


def fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)


def writable_file(path: Path, option: str = "--out") -> Path:
    """Fail with one line naming ``option`` unless ``path`` can be created (its folder exists
    and is writable)."""
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        fail(f"{option} {str(path)!r} is a folder; give the path of a file in it.")
    if not folder.is_dir():
        fail(f"{option} {str(path)!r}: folder {str(folder)!r} does not exist.")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".riskline-probe-"):
            pass
    except OSError as exc:
        fail(f"{option} {str(path)!r} is not writable: {exc.strerror}.")
    return path


def utc(day: date) -> datetime:
    return datetime.combine(day, day_time(0), tzinfo=UTC)


def progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    )


def run_work(work: Callable[[], None]) -> None:
    try:
        work()
    except RisklineError as exc:
        fail(str(exc))
    except MemoryError:
        fail("out of memory; try fewer --rows.")


def parse_day(option: str, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"{option} must be a date YYYY-MM-DD, got {value!r}.")


def load_events(path: Path) -> pl.DataFrame:
    scan_events(path)
    try:
        frame = pl.read_parquet(path)
    except (pl.exceptions.ComputeError, OSError) as exc:
        fail(f"--events {str(path)!r} is not a readable Parquet file ({exc}).")
    return conform(frame).collect()


def scan_events(path: Path) -> list[str]:
    """Check an events file's schema without reading its rows; its column names."""
    if not path.is_file():
        fail(f"--events {str(path)!r} is not a file.")
    try:
        schema = pl.read_parquet_schema(path)
    except (pl.exceptions.ComputeError, OSError) as exc:
        fail(f"--events {str(path)!r} is not a readable Parquet file ({exc}).")
    conform(pl.LazyFrame(schema=schema))
    return list(schema)


def feature_set_for(events: pl.DataFrame | list[str]) -> FeatureSet:
    columns = events.columns if isinstance(events, pl.DataFrame) else events
    fs, notes = FRAUD_FEATURES.restrict(frozenset(columns))
    for note in notes:
        typer.echo(f"note: {note}", err=True)
    return fs
