"""The root ``riskline`` app: version, ``generate``, ``demo``; adds the command groups."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

import riskline
from riskline.cli import _audit, _demo, _features, _models, _registry, _serve
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

app = typer.Typer(
    name="riskline",
    help="ML-backed risk decisions: fraud scoring, features, models, audit.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(_features.app, name="features")
app.add_typer(_registry.app, name="registry")
app.add_typer(_audit.app, name="audit")
app.command()(_models.train)
app.command()(_models.evaluate)
app.command()(_models.score)
app.command("serve")(_serve.serve_command)
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
    home: Annotated[Path, typer.Option(help="Where the demo keeps its state.")] = Path(
        ".riskline/demo"
    ),
) -> None:
    """The main job on embedded defaults: generate a month of payments, train, evaluate,
    promote, serve, replay the held-out last days over HTTP, and summarise."""
    if rows < 10_000:
        fail(f"--rows must be at least 10000 for a meaningful demo, got {rows!r}.")
    run_work(lambda: _demo.run_demo(rows, home))


def run() -> None:
    """Console entrypoint."""
    sys.exit(app())
