"""``riskline registry``: list, show, promote, rollback and history of model versions."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import orjson
import typer
from rich.table import Table

from riskline.cli._common import console, run_work
from riskline.config import Settings
from riskline.registry import ModelVersion, Registry

app = typer.Typer(
    help="Model registry: versions, stages, four-eyes promotion.", no_args_is_help=True
)


@contextmanager
def open_registry() -> Iterator[Registry]:
    """The registry named by the environment (``RISKLINE_REGISTRY_URL``, ``RISKLINE_HOME``)."""
    settings = Settings.from_env(os.environ)
    with Registry.open(settings.registry_url, settings.home / "artifacts") as registry:
        yield registry


def _table(versions: list[ModelVersion]) -> Table:
    table = Table("version", "stage", "trained by", "trained at", "PR-AUC", "ECE", "approved by")
    for v in versions:
        table.add_row(
            v.version,
            v.stage,
            v.trained_by,
            f"{v.trained_at:%Y-%m-%d %H:%M}",
            f"{v.metrics.get('test_pr_auc', float('nan')):.3f}",
            f"{v.metrics.get('test_ece', float('nan')):.4f}",
            v.approved_by or "-",
        )
    return table


@app.command("list")
def registry_list(kind: Annotated[str | None, typer.Option(help="Only this kind.")] = None) -> None:
    """Every model version with its stage and headline metrics."""

    def work() -> None:
        with open_registry() as registry:
            console.print(_table(registry.list(kind)))

    run_work(work)


@app.command("show")
def registry_show(version: Annotated[str, typer.Argument(help="e.g. fraud-v3")]) -> None:
    """One version with its full lineage, parameters, metrics and decision policy (JSON)."""

    def work() -> None:
        with open_registry() as registry:
            v = registry.get(version)
        record = {
            "version": v.version,
            "kind": v.kind,
            "stage": v.stage,
            "artifact_sha256": v.artifact_sha256,
            "trained_by": v.trained_by,
            "trained_at": v.trained_at.isoformat(),
            "approved_by": v.approved_by,
            "lineage": {
                "data_sha256": v.lineage.data_sha256,
                "row_count": v.lineage.row_count,
                "start_at": v.lineage.start_at.isoformat(),
                "end_at": v.lineage.end_at.isoformat(),
                "label_rate": v.lineage.label_rate,
                "feature_set_version": v.lineage.feature_set_version,
            },
            "params": dict(v.params),
            "metrics": dict(v.metrics),
            "decision_policy": dict(v.decision_policy),
        }
        typer.echo(orjson.dumps(record, option=orjson.OPT_INDENT_2).decode())

    run_work(work)


@app.command("promote")
def registry_promote(
    version: Annotated[str, typer.Argument(help="Version to make champion.")],
    approver: Annotated[str, typer.Option(help="Who approves (not the trainer).")],
    reason: Annotated[str, typer.Option(help="Why it is promoted.")],
    override_reason: Annotated[
        str | None, typer.Option(help="Explicit reason to pass a failed gate.")
    ] = None,
) -> None:
    """Make a version champion (four eyes; gated on calibration and PR-AUC)."""

    def work() -> None:
        with open_registry() as registry:
            v = registry.promote(version, approver, reason, override_reason)
        console.print(f"{v.version} is now champion (approved by {v.approved_by})")

    run_work(work)


@app.command("rollback")
def registry_rollback(
    actor: Annotated[str, typer.Option(help="Who rolls back.")],
    reason: Annotated[str, typer.Option(help="Why.")],
    kind: Annotated[str, typer.Option(help="Model kind.")] = "fraud",
) -> None:
    """Restore the previous champion of a kind."""

    def work() -> None:
        with open_registry() as registry:
            v = registry.rollback(kind, actor, reason)
        console.print(f"{v.version} is champion again")

    run_work(work)


@app.command("history")
def registry_history(
    version: Annotated[str | None, typer.Argument(help="Only this version.")] = None,
) -> None:
    """Every stage transition: who, when, why (the audit trail)."""

    def work() -> None:
        with open_registry() as registry:
            events = registry.history(version)
        table = Table("seq", "at", "version", "from", "to", "actor", "reason", "override")
        for e in events:
            table.add_row(
                str(e.seq),
                f"{e.at:%Y-%m-%d %H:%M:%S}",
                e.version,
                e.from_stage or "-",
                e.to_stage,
                e.actor,
                e.reason,
                e.override_reason or "-",
            )
        console.print(table)

    run_work(work)
