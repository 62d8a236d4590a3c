"""The CLI: version, help, generation and its error paths (one line, exit code 2)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl
from typer.testing import CliRunner

import riskline
from riskline.cli import app

runner = CliRunner()


def test_version_and_help() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"riskline {riskline.__version__}"
    assert "generate" in runner.invoke(app, ["--help"]).stdout


def test_generate_writes_parquet_deterministically(tmp_path: Path) -> None:
    paths = [tmp_path / "a.parquet", tmp_path / "b.parquet"]
    for path in paths:
        result = runner.invoke(
            app, ["generate", "payments", "--rows", "3000", "--seed", "4", "--out", str(path)]
        )
        assert result.exit_code == 0, result.output
    df = pl.read_parquet(paths[0])
    assert df.height == 3000
    digests = {hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}
    assert len(digests) == 1


def _error(args: list[str]) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_negative_rows_is_one_clear_line(tmp_path: Path) -> None:
    line = _error(["generate", "payments", "--rows", "-3", "--out", str(tmp_path / "x.parquet")])
    assert line == "error: rows must be at least 1, got -3."


def test_unknown_dataset_is_one_clear_line(tmp_path: Path) -> None:
    line = _error(["generate", "loans", "--out", str(tmp_path / "x.parquet")])
    assert line == "error: unknown dataset 'loans'; known: payments."


def test_unwritable_path_is_one_clear_line(tmp_path: Path) -> None:
    line = _error(["generate", "payments", "--out", str(tmp_path / "nope" / "x.parquet")])
    assert "does not exist" in line
    folder = tmp_path / "ro"
    folder.mkdir()
    line = _error(["generate", "payments", "--out", str(folder)])
    assert "is a folder" in line


def test_bad_dates_are_named(tmp_path: Path) -> None:
    line = _error(["generate", "payments", "--drift", "soon", "--out", str(tmp_path / "x.pq")])
    assert line == "error: --drift must be a date YYYY-MM-DD, got 'soon'."
