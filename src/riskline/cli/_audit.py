"""``riskline audit``: verify the decision log's chain, replay a decision, backtest a model."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from riskline.cli._common import console, err, fail, run_work, writable_file
from riskline.cli._registry import open_registry
from riskline.config import Settings
from riskline.decisions import (
    DecisionLog,
    backtest,
    open_decision_log,
    replay,
    verify,
    write_backtest_report,
)
from riskline.fraud import FRAUD_COSTS
from riskline.models import Model

app = typer.Typer(help="Audit the decision log: verify, replay, backtest.", no_args_is_help=True)


@contextmanager
def _log() -> Iterator[DecisionLog]:
    """The log to audit, opened read-only: a missing one (a deleted file, a mistyped
    ``RISKLINE_HOME``, a dropped table) fails naming it instead of auditing an empty log.
    It is the log the service writes: ``RISKLINE_DECISION_LOG_URL``, in
    ``RISKLINE_DECISION_LOG_SCHEMA`` if set."""
    settings = Settings.from_env(os.environ)
    url, schema = settings.decision_log_url, settings.decision_log_schema
    log = open_decision_log(url, schema=schema, read_only=True)
    try:
        yield log
    finally:
        log.close()


def _when(option: str, value: str) -> datetime:
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        fail(f"{option} must be an ISO time such as 2026-01-28T00:00:00+00:00, got {value!r}.")
    if at.tzinfo is None:
        fail(f"{option} must include a timezone (e.g. +00:00 or Z), got {value!r}.")
    return at


@app.command("verify")
def audit_verify() -> None:
    """Check the whole hash chain; exit 1 naming the first broken record, or a record
    outside the chain, if any."""

    def work() -> None:
        with _log() as log, err.status("verifying the chain from its first record"):
            report = verify(log)
        if report.broken_seq is None:
            console.print(
                f"chain intact: {report.checked:,} records, head #{report.head_seq} "
                f"{report.head_hash[:16]}"
            )
            return
        where = f"record #{report.broken_seq} (decision {report.broken_decision_id})"
        if report.reason == "outside_chain":  # the chain itself may be intact: say so
            message = f"{where} lies outside the chain, yet lookups return it: {report.detail}"
        else:
            message = f"chain broken at {where}: {report.reason} {report.detail}"
        typer.echo(message, err=True)
        raise typer.Exit(code=1)

    run_work(work)


@app.command("replay")
def audit_replay(decision_id: Annotated[str, typer.Argument(help="A logged decision id.")]) -> None:
    """Recompute a decision's score from its logged features and logged model version."""

    def work() -> None:
        with _log() as log, open_registry() as registry:
            result = replay(log, registry, _scoring_model, decision_id)
        console.print(
            f"decision {result.decision_id} (transaction {result.transaction_id}) "
            f"under {result.model_version}: logged score {result.logged_score}, "
            f"replayed {result.replayed_score}, fallback {result.fallback}"
        )
        if not result.matches:
            typer.echo("replayed score does not match the logged score", err=True)
            raise typer.Exit(code=1)
        console.print("replay matches")

    run_work(work)


@app.command("backtest")
def audit_backtest(
    model: Annotated[str, typer.Option(help="Model version to replay the period under.")],
    since: Annotated[str, typer.Option(help="Start, ISO time with zone.")],
    until: Annotated[str | None, typer.Option(help="End (exclusive), ISO time.")] = None,
    show: Annotated[int, typer.Option(help="How many flipped transactions to list.")] = 20,
    report: Annotated[
        Path | None,
        typer.Option(
            help="HTML report to write [default: $RISKLINE_HOME/reports/backtest-MODEL.html]."
        ),
    ] = None,
) -> None:
    """How logged decisions of a period would move under another model version and its bands;
    logged labels price the decisions they belong to, and the version's score prices both
    sides of a fallback (its logged score is a rule severity). Writes an HTML report."""
    start = _when("--since", since)
    end = None if until is None else _when("--until", until)

    def work() -> None:
        with _log() as log:  # first: a missing log fails before anything is created
            target = _report_file(report, model)
            with (
                open_registry() as registry,
                err.status(f"reading the period's decisions and replaying them under {model}"),
            ):
                result = backtest(
                    log, registry, _scoring_model, model, start, until=end, costs=FRAUD_COSTS
                )
        table = Table(f"{result.decisions:,} decisions under {model}", "logged", "would be")
        for action, (logged, new) in sorted(result.by_action.items()):
            table.add_row(action, f"{logged:,}", f"{new:,}")
        console.print(table)
        for (a, b), n in sorted(result.moved.items()):
            console.print(f"moved {a} -> {b}: {n:,}")
        console.print(
            f"expected cost delta: {result.cost_delta_minor / 100:,.2f} (negative saves money)"
        )
        console.print(
            f"fallbacks repriced: {result.fallbacks_repriced:,} unlabelled rules decisions "
            f"priced with {model}'s score on both sides (their logged score is a rule severity)"
        )
        frauds, before, after = result.fraud_stopped
        console.print(
            f"labelled: {result.labelled:,} decisions; of {frauds:,} frauds, "
            f"{before:,} stopped as logged, {after:,} under {model}"
        )
        for flip in result.flips[:show]:
            console.print(
                f"  {flip.transaction_id}: {flip.logged_action} "
                f"({flip.logged_score:.4f}) -> {flip.new_action} ({flip.new_score:.4f})"
            )
        console.print(f"report: {write_backtest_report(result, target)}")

    run_work(work)


def _report_file(report: Path | None, model: str) -> Path:
    """``--report``, or its default under ``RISKLINE_HOME`` (its folder made), checked to be
    writable before the period is replayed; fails with one line naming ``--report``."""
    if report is None:
        report = Settings.from_env(os.environ).home / "reports" / f"backtest-{model}.html"
        try:
            report.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            fail(
                f"--report defaults to {str(report)!r}, whose folder cannot be made "
                f"({exc.strerror}); pass --report, or set RISKLINE_HOME to a writable folder."
            )
    return writable_file(report, "--report")


def _scoring_model(data: bytes) -> Model:
    """A model that replay and backtest only score: its explanation tables are not built."""
    return Model.from_bytes(data, warm=False)
