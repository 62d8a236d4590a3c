"""Backfill from file to file, the compiled window arithmetic, and the ``features`` commands."""

from __future__ import annotations

import json
from datetime import timedelta
from fractions import Fraction
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from riskline.cli import app
from riskline.events import REQUIRED_COLUMNS, PaymentsSpec, generate_payments
from riskline.features import CUSTOMER, Feature, FeatureSet, backfill, compute_offline
from riskline.features._kernels import _variance
from riskline.fraud import FRAUD_FEATURES

runner = CliRunner()


@pytest.fixture(scope="module")
def payments() -> pl.DataFrame:
    return generate_payments(PaymentsSpec(rows=30_000, seed=11))


def test_backfill_in_chunks_equals_compute_offline(payments: pl.DataFrame, tmp_path: Path) -> None:
    source, target = tmp_path / "in.parquet", tmp_path / "out.parquet"
    payments.write_parquet(source, row_group_size=4_000)
    seen: list[tuple[int, int]] = []
    rows = backfill(
        FRAUD_FEATURES,
        source,
        target,
        chunk_rows=7_000,
        on_progress=lambda d, t: seen.append((d, t)),
    )
    assert rows == payments.height
    assert seen[-1] == (payments.height, payments.height)
    written = pl.read_parquet(target)
    expected = compute_offline(FRAUD_FEATURES, payments)
    assert written.columns == expected.columns
    assert written.equals(expected)


def test_backfill_of_a_file_out_of_time_order(payments: pl.DataFrame, tmp_path: Path) -> None:
    shuffled = payments.head(5_000).sample(fraction=1.0, shuffle=True, seed=3)
    source, target = tmp_path / "in.parquet", tmp_path / "out.parquet"
    shuffled.write_parquet(source)
    backfill(FRAUD_FEATURES, source, target)
    assert pl.read_parquet(target).equals(compute_offline(FRAUD_FEATURES, shuffled))


@pytest.mark.parametrize(
    "amounts",
    [
        [10**9, 1, 10**9, 7],
        [2**40 + 3, 2**40 - 5, 2**39, 12_345],
        [3_000_000_000] * 5 + [1],
        [9, 9, 9],
    ],
)
def test_variance_is_exact_beyond_64_bits(amounts: list[int]) -> None:
    n, s = len(amounts), sum(amounts)
    q = sum(a * a for a in amounts)
    exact = float(n * q - s * s) / float(n * n)
    got = _variance(n, s, np.uint64(q >> 64), np.uint64(q & (2**64 - 1)))
    assert got == pytest.approx(exact, rel=1e-12, abs=0.0)
    assert Fraction(got) >= 0


def test_std_of_huge_amounts_matches_python_integers() -> None:
    fs = FeatureSet("huge", (Feature("std", CUSTOMER, timedelta(hours=1), column="amount_minor"),))
    amounts = [4_000_000_000_000, 3, 4_000_000_000_001, 17, 2**50]
    frame = pl.DataFrame(
        {
            "transaction_id": [f"t{i}" for i in range(len(amounts))],
            "ts": pl.datetime_range(
                pl.datetime(2026, 1, 1, time_zone="UTC"),
                pl.datetime(2026, 1, 1, 0, 4, time_zone="UTC"),
                "1m",
                eager=True,
            ),
            "amount_minor": amounts,
            "customer_id": ["c"] * len(amounts),
        }
    )
    got = compute_offline(fs, frame)[fs.names[0]].to_list()
    for i, value in enumerate(got[1:], start=1):
        xs = amounts[:i]
        n, s, q = len(xs), sum(xs), sum(x * x for x in xs)
        assert value == pytest.approx((float(n * q - s * s) / float(n * n)) ** 0.5, rel=1e-12)
    assert got[0] is None


def test_cli_backfill_list_and_check_on_required_columns_only(
    payments: pl.DataFrame, tmp_path: Path
) -> None:
    source, target = tmp_path / "in.parquet", tmp_path / "out.parquet"
    payments.head(3_000).select([*REQUIRED_COLUMNS, "customer_id"]).write_parquet(source)

    done = runner.invoke(
        app, ["features", "backfill", "--events", str(source), "--out", str(target)]
    )
    assert done.exit_code == 0, done.output
    assert "note: left out new_value_device_id_90d_by_customer" in done.stderr
    out = pl.read_parquet(target)
    assert out.height == 3_000
    assert "count_1h_by_customer" in out.columns
    assert "count_1h_by_card" not in out.columns

    listed = runner.invoke(app, ["features", "list"])
    assert listed.exit_code == 0
    assert "zscore_amount_minor_30d_by_customer" in listed.stdout

    checked = runner.invoke(app, ["features", "check", "--events", str(source)])
    assert checked.exit_code == 0, checked.output
    summary = json.loads(checked.stdout.strip().splitlines()[-1])
    assert summary["events"] == 3_000
    assert summary["mismatches"] == 0


def test_cli_refuses_events_with_no_time_in_one_line(
    payments: pl.DataFrame, tmp_path: Path
) -> None:
    """``features check`` crashed with an AttributeError on a row with no ``ts``, and
    ``backfill`` gave that row features anyway."""
    source = tmp_path / "in.parquet"
    rows = payments.head(100).select([*REQUIRED_COLUMNS, "customer_id"])
    rows.with_columns(ts=pl.when(pl.int_range(100) == 7).then(None).otherwise("ts")).write_parquet(
        source
    )
    expected = (
        "error: required column(s) with nulls: ts (1 of 100 rows); every event needs a "
        "value in each of transaction_id, ts, amount_minor."
    )
    for args in (["check"], ["backfill", "--out", str(tmp_path / "out.parquet")]):
        done = runner.invoke(app, ["features", *args, "--events", str(source)])
        assert done.exit_code == 2, done.output
        assert done.stderr.strip().splitlines()[-1] == expected
        assert "Traceback" not in done.output
    assert not (tmp_path / "out.parquet").exists()


def test_cli_backfill_of_a_file_that_is_not_parquet_is_one_line(tmp_path: Path) -> None:
    source = tmp_path / "events.parquet"
    source.write_text("transaction_id,ts\n")
    done = runner.invoke(
        app, ["features", "backfill", "--events", str(source), "--out", str(tmp_path / "o.pq")]
    )
    assert done.exit_code == 2
    assert done.stderr.startswith("error: --events")
    assert len(done.stderr.strip().splitlines()) == 1
