"""Training runs logged to a local MLflow folder (the optional ``mlflow`` extra)."""

from __future__ import annotations

from pathlib import Path

import pytest

from riskline.models import TrainedModel, log_run

mlflow = pytest.importorskip("mlflow", reason="the optional extra riskline[mlflow] is absent")


def test_a_run_is_logged_with_params_metrics_report_and_model(
    trained: TrainedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    report = tmp_path / "report.html"
    report.write_text("<html><body>report</body></html>")
    folder = tmp_path / "mlruns"
    run_id = log_run(
        str(folder),
        run_name="fraud-v7",
        params={"learning_rate": 0.05, "trees": 40},
        metrics={"test_pr_auc": 0.91, "test_ece": 0.004},
        report=report,
        model=trained.model,
    )
    client = mlflow.tracking.MlflowClient(tracking_uri=folder.resolve().as_uri())
    run = client.get_run(run_id)
    assert run.data.params == {"learning_rate": "0.05", "trees": "40"}
    assert run.data.metrics == {"test_pr_auc": 0.91, "test_ece": 0.004}
    assert run.data.tags["riskline.version"] == "fraud-v7"
    logged = {a.path for a in client.list_artifacts(run_id, "model")}
    assert logged == {"model/fraud-v7.riskline", "model/fraud-v7.lightgbm.txt"}
    assert [a.path for a in client.list_artifacts(run_id, "report")] == ["report/report.html"]
    local = Path(client.download_artifacts(run_id, "model/fraud-v7.riskline", str(tmp_path)))
    assert local.read_bytes() == trained.model.to_bytes()
