"""``riskline audit`` from the command line, on real LightGBM models: backtest's moves, the
labels logged beside the decisions and the HTML report with its figures; verify and replay;
and every audit's one-line error for a log that is not there."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from secrets import token_hex

import pytest
from typer.testing import CliRunner

from riskline.cli import app
from riskline.decisions import DecisionRecord, Policy, Thresholds, decide, open_decision_log
from riskline.decisions import score_rows as scored
from riskline.events import PaymentAttempt
from riskline.fraud import FRAUD_FEATURES, FRAUD_RULES
from riskline.registry import Registry
from tests.decisions.samples import FORGED_ROW, SQLITE_TABLE_WITHOUT_CHECK, sample_record
from tests.e2e.test_real_model import small_model
from tests.registry.samples import lineage

runner = CliRunner()
AT = datetime(2026, 3, 1, 12, tzinfo=UTC)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home whose log holds 30 decisions of fraud-v1 (bands 0.3 / 0.7) and 3 labels; the
    same model is registered again as fraud-v2 with lower bands (0.02 / 0.5): it scores 0.03
    below an amount of 150,000 and 0.9 above, so the cheaper half moves to review."""
    monkeypatch.setenv("RISKLINE_HOME", str(tmp_path))
    for name in (
        "RISKLINE_REGISTRY_URL",
        "RISKLINE_DECISION_LOG_URL",
        "RISKLINE_DECISION_LOG_SCHEMA",
    ):
        monkeypatch.delenv(name, raising=False)
    model = small_model()
    with Registry.open(f"sqlite:///{tmp_path / 'registry.db'}", tmp_path / "artifacts") as reg:
        for bands in (
            {"review_at": 0.3, "decline_at": 0.7},
            {"review_at": 0.02, "decline_at": 0.5},
        ):
            reg.register(
                "fraud", model.to_bytes(), lineage(), {"trees": 20},
                {"test_pr_auc": 0.9, "test_ece": 0.01}, bands, "alice",
            )  # fmt: skip
    policy = Policy(Thresholds(0.3, 0.7))
    with open_decision_log(f"sqlite:///{tmp_path / 'decisions.db'}") as log:
        for i in range(30):
            amount = 100_000 + 3_500 * i
            event = PaymentAttempt(f"t{i}", AT + timedelta(minutes=i), amount, card_token="k")
            x = {**dict.fromkeys(FRAUD_FEATURES.names, 0.5), "value_amount_minor": amount}
            d = decide(
                event, x, scored(model, [x], 0.3, 3)[0], "fraud-v1", FRAUD_RULES, policy,
                decision_id=f"d{i}", decided_at=event.ts, latency_ms=0.5,
            )  # fmt: skip
            log.append(d.to_record("fraud", {"amount_minor": amount}))
        for txid, is_fraud in (("t2", True), ("t20", True), ("t29", False)):
            body = {"is_fraud": is_fraud, "label_available_at": AT.isoformat()}
            log.append(DecisionRecord(f"l-{txid}", txid, "fraud_label", AT, body))
    return tmp_path


def test_backtest_prints_the_moves_and_writes_its_report(home: Path) -> None:
    since = (AT + timedelta(minutes=1)).isoformat()
    result = runner.invoke(app, ["audit", "backtest", "--model", "fraud-v2", "--since", since])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "29 decisions under fraud-v2" in out
    assert "moved approve -> review: 14" in out  # t1..t14
    assert "labelled: 3 decisions; of 2 frauds, 1 stopped as logged, 2 under fraud-v2" in out
    assert "fallbacks repriced: 0 unlabelled rules decisions priced with fraud-v2's score" in (
        " ".join(out.split())
    )
    report = home / "reports" / "backtest-fraud-v2.html"
    assert f"report: {report}" in out.replace("\n", "")
    page = report.read_text()
    assert page.count('src="data:image/png;base64,') == 3
    assert "<h1>Backtest of fraud-v2</h1>" in page


def test_backtest_report_path_is_checked_first(home: Path) -> None:
    args = ["audit", "backtest", "--model", "fraud-v2", "--since", AT.isoformat()]
    folder = runner.invoke(app, [*args, "--report", str(home)])
    assert folder.exit_code == 2
    assert f"--report {str(home)!r} is a folder" in folder.output
    missing = home / "nowhere" / "bt.html"
    absent = runner.invoke(app, [*args, "--report", str(missing)])
    assert absent.exit_code == 2
    assert "does not exist" in absent.output
    chosen = home / "bt.html"
    assert runner.invoke(app, [*args, "--report", str(chosen)]).exit_code == 0
    assert chosen.read_text().startswith("<!doctype html>")


def test_verify_and_replay_from_the_command_line(home: Path) -> None:
    intact = runner.invoke(app, ["audit", "verify"])
    assert intact.exit_code == 0, intact.output
    assert "chain intact: 33 records, head #33" in intact.stdout
    replayed = runner.invoke(app, ["audit", "replay", "d7"])
    assert replayed.exit_code == 0, replayed.output
    assert "under fraud-v1" in replayed.stdout
    assert "replay matches" in replayed.stdout
    with sqlite3.connect(home / "decisions.db") as db:  # an insider edits a decision
        db.execute("DROP TRIGGER decisions_no_update")
        (body,) = db.execute("SELECT body FROM decisions WHERE seq = 8").fetchone()
        edited = body.replace(b'"action":"approve"', b'"action":"decline"')
        assert edited != body
        db.execute("UPDATE decisions SET body = ? WHERE seq = 8", (edited,))
    broken = runner.invoke(app, ["audit", "verify"])
    assert broken.exit_code == 1
    assert "chain broken at record #8 (decision d7): hash_mismatch" in broken.output


def test_verify_names_a_record_outside_the_chain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RISKLINE_HOME", str(tmp_path))
    monkeypatch.delenv("RISKLINE_DECISION_LOG_URL", raising=False)
    path = tmp_path / "decisions.db"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute(SQLITE_TABLE_WITHOUT_CHECK)  # a log made before seq had to be >= 1
    with open_decision_log(f"sqlite:///{path}") as log:
        log.append_many([sample_record(1), sample_record(2)])
    db.execute("INSERT INTO decisions VALUES (?, ?, ?, ?, ?, ?, ?, ?)", FORGED_ROW)
    db.close()
    result = runner.invoke(app, ["audit", "verify"])
    assert result.exit_code == 1
    assert result.stderr == (
        "record #0 (decision forged) lies outside the chain, yet lookups return it: "
        "seq 0 is below 1, where the chain starts: written around the log\n"
    )


@pytest.mark.parametrize(
    "command",
    [
        ["audit", "verify"],
        ["audit", "replay", "d7"],
        ["audit", "backtest", "--model", "fraud-v2", "--since", AT.isoformat()],
    ],
)
def test_an_audit_of_a_missing_log_fails_naming_it(
    home: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    # Regression: a mistyped RISKLINE_HOME (or a deleted decisions.db) was audited as a new,
    # empty log: "chain intact: 0 records", exit 0.
    mistyped = home / "typo"
    mistyped.mkdir()
    monkeypatch.setenv("RISKLINE_HOME", str(mistyped))
    monkeypatch.setenv("RISKLINE_REGISTRY_URL", f"sqlite:///{home / 'registry.db'}")
    result = runner.invoke(app, command)
    assert result.exit_code == 2, result.output
    path = mistyped / "decisions.db"
    assert result.stderr == (
        f"error: no decision log at {str(path)!r}: the file does not exist (a read-only open "
        "never creates one).\n"
    )
    assert list(mistyped.iterdir()) == []  # no log, no report folder


def test_an_audit_of_an_unreachable_postgres_log_names_it_without_its_password(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"postgresql+psycopg://postgres:s3cret@127.0.0.1:5432/rl_missing_{token_hex(4)}"
    monkeypatch.setenv("RISKLINE_DECISION_LOG_URL", url)
    result = runner.invoke(app, ["audit", "verify"])
    assert result.exit_code == 2, result.output
    shown = url.replace(":s3cret@", ":***@")
    assert result.stderr.startswith(
        f"error: cannot open the decision log in schema 'public' at {shown!r}: "
    )
    assert "s3cret" not in result.stderr
    assert result.stderr.count("\n") == 1


def test_backtest_names_a_bad_variable_or_a_report_folder_it_cannot_make(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Regression: both escaped as tracebacks.
    args = ["audit", "backtest", "--model", "fraud-v2", "--since", AT.isoformat()]
    monkeypatch.setenv("RISKLINE_DECISION_LOG_URL", "mysql://db/log")
    bad = runner.invoke(app, args)
    assert bad.exit_code == 2, bad.output
    assert bad.stderr == (
        "error: RISKLINE_DECISION_LOG_URL must be a sqlite:/// or postgresql:// URL, "
        "got 'mysql://db/log'.\n"
    )
    monkeypatch.setenv("RISKLINE_DECISION_LOG_URL", f"sqlite:///{home / 'decisions.db'}")
    monkeypatch.setenv("RISKLINE_REGISTRY_URL", f"sqlite:///{home / 'registry.db'}")
    not_a_folder = home / "not-a-folder"
    not_a_folder.write_text("")
    monkeypatch.setenv("RISKLINE_HOME", str(not_a_folder))
    blocked = runner.invoke(app, args)
    assert blocked.exit_code == 2, blocked.output
    report = not_a_folder / "reports" / "backtest-fraud-v2.html"
    assert blocked.stderr == (
        f"error: --report defaults to {str(report)!r}, whose folder cannot be made (Not a "
        "directory); pass --report, or set RISKLINE_HOME to a writable folder.\n"
    )
