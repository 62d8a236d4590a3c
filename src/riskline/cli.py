"""The ``riskline`` command line; a composition root (reads settings, wires components)."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

import riskline
from riskline.errors import RisklineError
from riskline.events import DriftSpec, PaymentsSpec, generate_payments

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
    return datetime.combine(day, time(0), tzinfo=UTC)


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


def run() -> None:
    """Console entrypoint."""
    sys.exit(app())
