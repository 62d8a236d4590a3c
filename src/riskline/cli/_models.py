"""``riskline train | evaluate | score``: fraud models from events to registered candidates."""

from __future__ import annotations

import getpass
import os
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from riskline.cli._common import (
    console,
    fail,
    load_events,
    parse_day,
    progress,
    run_work,
    utc,
    writable_file,
)
from riskline.cli._registry import open_registry
from riskline.config import Settings
from riskline.features import FeatureSet
from riskline.fraud import FRAUD_FEATURES, LABEL_DELAY, train_fraud
from riskline.models import (
    BandConstraints,
    Bands,
    Model,
    SplitSpec,
    log_run,
    score_events,
    write_report,
    write_report_json,
)

_KINDS = ("fraud",)


def reports_dir() -> Path:
    """Where training runs keep their reports (``$RISKLINE_HOME/reports``)."""
    return Settings.from_env(os.environ).home / "reports"


def _split(
    train_start: str | None,
    train_end: str | None,
    test_start: str | None,
    test_end: str | None,
    label_delay_days: float,
) -> SplitSpec:
    def day(option: str, value: str | None) -> object:
        return None if value is None else utc(parse_day(option, value))

    return SplitSpec(
        train_start=day("--train-start", train_start),  # type: ignore[arg-type]
        train_end=day("--train-end", train_end),  # type: ignore[arg-type]
        test_start=day("--test-start", test_start),  # type: ignore[arg-type]
        test_end=day("--test-end", test_end),  # type: ignore[arg-type]
        label_delay=timedelta(days=label_delay_days),
    )


def train(
    kind: Annotated[str, typer.Argument(help="What to train: fraud.")],
    events: Annotated[Path, typer.Option(help="Events Parquet file (payment schema).")],
    train_start: Annotated[str | None, typer.Option(help="YYYY-MM-DD (UTC).")] = None,
    train_end: Annotated[str | None, typer.Option(help="YYYY-MM-DD (UTC).")] = None,
    test_start: Annotated[str | None, typer.Option(help="YYYY-MM-DD (UTC).")] = None,
    test_end: Annotated[str | None, typer.Option(help="YYYY-MM-DD (UTC).")] = None,
    label_delay: Annotated[
        float, typer.Option(help="Label delay in days (gap between sets).")
    ] = LABEL_DELAY / timedelta(days=1),
    trained_by: Annotated[str | None, typer.Option(help="Who trains (default: login).")] = None,
    max_decline_rate: Annotated[
        float | None, typer.Option(help="Cap on the share of declines, e.g. 0.002.")
    ] = None,
    review_capacity: Annotated[
        float | None, typer.Option(help="Analyst capacity: reviews per day at most.")
    ] = None,
) -> None:
    """Backfill, split by time, train LightGBM, calibrate, choose cost bands, evaluate and
    register a candidate; writes the HTML and JSON report."""
    if kind not in _KINDS:
        fail(f"unknown model kind {kind!r}; known: {', '.join(_KINDS)}.")
    if label_delay < 0:
        fail(f"--label-delay must be >= 0 days, got {label_delay!r}.")
    who = trained_by or getpass.getuser()

    def work() -> None:
        split = _split(train_start, train_end, test_start, test_end, label_delay)
        constraints = BandConstraints(max_decline_rate, review_capacity)
        frame = load_events(events)
        with open_registry() as registry, progress() as bar:
            task = bar.add_task("training", total=1.0)
            result = train_fraud(
                frame,
                registry,
                who,
                split,
                constraints=constraints,
                on_progress=lambda stage, done: bar.update(task, description=stage, completed=done),
            )
            bar.update(task, completed=1.0, description="done")
        for note in result.notes:
            typer.echo(f"note: {note}", err=True)
        folder = reports_dir()
        folder.mkdir(parents=True, exist_ok=True)
        version = result.version.version
        write_report(result.evaluation, folder / f"{version}.html")
        write_report_json(result.evaluation, folder / f"{version}.json")
        table = Table(f"{version} (candidate)", "value")
        for name in ("test_pr_auc", "test_roc_auc", "test_ece", "test_precision_at_100"):
            if name in result.metrics:
                table.add_row(name, f"{result.metrics[name]:.4f}")
        for name, value in result.decision_policy.items():
            table.add_row(f"policy {name}", f"{value:.4f}")
        console.print(table)
        console.print(f"report: {folder / f'{version}.html'}")
        mlflow_uri = Settings.from_env(os.environ).mlflow_uri
        if mlflow_uri:
            run_id = log_run(
                mlflow_uri,
                run_name=version,
                params=result.params,
                metrics=result.metrics,
                report=folder / f"{version}.html",
                model=result.model,
            )
            console.print(f"logged to MLflow at {mlflow_uri}: run {run_id}")

    run_work(work)


def evaluate(
    version: Annotated[str, typer.Argument(help="Model version, e.g. fraud-v1.")],
    out: Annotated[Path, typer.Option(help="Where to write the report.")],
    as_json: Annotated[bool, typer.Option("--json", help="Write JSON, not HTML.")] = False,
) -> None:
    """The evaluation report of a registered version (written when it was trained)."""
    target = writable_file(out)

    def work() -> None:
        with open_registry() as registry:
            registry.get(version)  # raises a clear error for an unknown version
        source = reports_dir() / f"{version}.{'json' if as_json else 'html'}"
        if not source.is_file():
            fail(f"no report for {version!r} in {str(source.parent)!r}; it was trained elsewhere.")
        shutil.copyfile(source, target)
        console.print(f"wrote {target}")

    run_work(work)


def score(
    model: Annotated[str, typer.Option(help="Model version, e.g. fraud-v1.")],
    events: Annotated[Path, typer.Option(help="Events Parquet file (payment schema).")],
    out: Annotated[Path, typer.Option(help="Output Parquet: score, decision, reasons.")],
) -> None:
    """Score every event with the features it had at the time, the model and its bands."""
    target = writable_file(out)

    def work() -> None:
        frame = load_events(events)
        with open_registry() as registry:
            record = registry.get(model)
            loaded = Model.from_bytes(registry.load_artifact(model), version=model)
        fs = _model_features(loaded)
        policy = record.decision_policy
        bands = Bands(review_at=policy["review_at"], decline_at=policy["decline_at"])
        with progress() as bar:
            task = bar.add_task(f"scoring {frame.height:,} events", total=1.0)
            scored = score_events(loaded, fs, frame, bands)
            bar.update(task, completed=1.0)
        scored.write_parquet(target)
        counts = scored["decision"].value_counts().sort("decision")
        console.print(
            f"wrote {scored.height:,} decisions to {target}: "
            + ", ".join(f"{d} {n:,}" for d, n in counts.iter_rows())
        )

    run_work(work)


def _model_features(model: Model) -> FeatureSet:
    """The feature set the model was trained on (same definitions, same version)."""
    names = set(model.feature_names)
    fs = FeatureSet(
        FRAUD_FEATURES.name,
        tuple(f for f in FRAUD_FEATURES.features if f.name in names),
        FRAUD_FEATURES.allowed_lateness,
        FRAUD_FEATURES.dedup_horizon,
    )
    if fs.version != model.feature_set_version:
        fail(
            f"model {model.version!r} was trained on feature set "
            f"{model.feature_set_version!r}; this riskline has {fs.version!r}."
        )
    return fs
