"""The model lifecycle from the command line: train, evaluate, promote (four eyes), score."""

from __future__ import annotations

import importlib.util
import json
import sqlite3
from contextlib import closing
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from riskline.cli import app
from riskline.events import PaymentsSpec, generate_payments
from riskline.registry import Registry

runner = CliRunner()


@pytest.mark.slow
def test_train_evaluate_promote_score(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISKLINE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("RISKLINE_REGISTRY_URL", raising=False)
    events = tmp_path / "payments.parquet"
    generate_payments(PaymentsSpec(rows=120_000, seed=5)).write_parquet(events)

    if importlib.util.find_spec("mlflow") is not None:
        monkeypatch.setenv("RISKLINE_MLFLOW_URI", str(tmp_path / "mlruns"))
    trained = runner.invoke(
        app, ["train", "fraud", "--events", str(events), "--trained-by", "alice"]
    )
    assert trained.exit_code == 0, trained.output
    assert "fraud-v1 (candidate)" in trained.stdout
    if importlib.util.find_spec("mlflow") is not None:
        assert "logged to MLflow" in trained.stdout
        assert (tmp_path / "mlruns").is_dir()

    report = tmp_path / "report.html"
    assert runner.invoke(app, ["evaluate", "fraud-v1", "--out", str(report)]).exit_code == 0
    html = report.read_text()
    assert "<img" in html
    assert "PR-AUC" in html or "average precision" in html.lower()
    as_json = tmp_path / "report.json"
    assert (
        runner.invoke(app, ["evaluate", "fraud-v1", "--out", str(as_json), "--json"]).exit_code == 0
    )
    assert json.loads(as_json.read_text())["metrics"]["test_pr_auc"] > 0.5

    same = runner.invoke(
        app, ["registry", "promote", "fraud-v1", "--approver", "alice", "--reason", "mine"]
    )
    assert same.exit_code == 2
    assert "four eyes" in same.stderr
    other = runner.invoke(
        app,
        ["registry", "promote", "fraud-v1", "--approver", "bob", "--reason", "reviewed the report"],
    )
    assert other.exit_code == 0, other.output

    scored_path = tmp_path / "scored.parquet"
    scored = runner.invoke(
        app, ["score", "--model", "fraud-v1", "--events", str(events), "--out", str(scored_path)]
    )
    assert scored.exit_code == 0, scored.output
    out = pl.read_parquet(scored_path)
    assert out.height == 120_000
    assert set(out["decision"].unique()) <= {"approve", "review", "decline"}
    flagged = out.filter(pl.col("decision") != "approve")
    assert flagged.height > 0

    history = runner.invoke(app, ["registry", "history", "fraud-v1"])
    assert "bob" in history.stdout


def test_unknown_model_version_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISKLINE_HOME", str(tmp_path / "home"))
    result = runner.invoke(app, ["evaluate", "fraud-v9", "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 2
    assert result.stderr.strip().startswith("error: Model version 'fraud-v9' is not in the")


@pytest.mark.parametrize(
    ("url", "shown", "reason"),
    [
        (
            "postgresql+psycopg://riskline:s3cret@127.0.0.1:1/test",  # nothing listens on 1
            "postgresql+psycopg://riskline:***@127.0.0.1:1/test",
            "port 1 failed: Connection refused",
        ),
        (
            "sqlite:///{tmp}/missing/dir/registry.db",
            "sqlite:///{tmp}/missing/dir/registry.db",
            "unable to open database file",
        ),
    ],
)
def test_an_unreachable_registry_is_one_line_naming_its_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, shown: str, reason: str
) -> None:
    """It was a traceback of 155 lines (the driver's error escaped), with the URL in it."""
    monkeypatch.setenv("RISKLINE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RISKLINE_REGISTRY_URL", url.format(tmp=tmp_path))
    result = runner.invoke(app, ["registry", "list"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith(
        f"error: cannot open the model registry at RISKLINE_REGISTRY_URL="
        f"{shown.format(tmp=tmp_path)!r}: "
    )
    assert reason in lines[0]
    assert "s3cret" not in result.output


def test_a_registry_failing_after_it_was_opened_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opening it went well, then its first query's driver error escaped as a traceback."""
    home = tmp_path / "home"
    monkeypatch.setenv("RISKLINE_HOME", str(home))
    monkeypatch.delenv("RISKLINE_REGISTRY_URL", raising=False)
    Registry.open(f"sqlite:///{home / 'registry.db'}", home / "artifacts").close()
    with closing(sqlite3.connect(home / "registry.db")) as db:  # opening cannot put it back
        db.execute("ALTER TABLE registry_versions DROP COLUMN trained_by")
    promote = ["registry", "promote", "fraud-v1", "--approver", "bob", "--reason", "r"]
    for args in (["registry", "list"], ["registry", "show", "fraud-v1"], promote):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, (args, result.output)
        assert lines[0].startswith(
            f"error: the model registry at RISKLINE_REGISTRY_URL='sqlite:///{home}/registry.db' "
            "failed: no such column: registry_versions.trained_by. "
        ), args


def test_bad_band_constraint_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISKLINE_HOME", str(tmp_path / "home"))
    events = tmp_path / "payments.parquet"
    generate_payments(PaymentsSpec(rows=2_000, seed=5)).write_parquet(events)
    result = runner.invoke(
        app, ["train", "fraud", "--events", str(events), "--max-decline-rate", "2"]
    )
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: max_decline_rate must lie in [0, 1], got 2.0."


@pytest.mark.slow
def test_trains_on_a_file_with_only_the_required_columns_and_labels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RISKLINE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("RISKLINE_MLFLOW_URI", raising=False)
    events = tmp_path / "minimal.parquet"
    generate_payments(PaymentsSpec(rows=80_000, seed=6)).select(
        "transaction_id", "ts", "amount_minor", "card_token", "is_fraud", "label_available_at"
    ).write_parquet(events)
    result = runner.invoke(app, ["train", "fraud", "--events", str(events), "--trained-by", "a"])
    assert result.exit_code == 0, result.output
    assert "fraud-v1 (candidate)" in result.stdout
    assert "note: left out count_30d_by_merchant" in result.stderr
