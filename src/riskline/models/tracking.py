"""Log a training run to MLflow, for teams that already use it (optional extra ``mlflow``).

``RISKLINE_MLFLOW_URI`` names a tracking server (``http://...``) or a folder. MLflow is
imported only when a run is logged, so riskline works without it installed.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from riskline.errors import ConfigError
from riskline.models._model import Model

ParamValue = str | int | float | bool


def log_run(
    uri: str,
    *,
    run_name: str,
    params: Mapping[str, ParamValue],
    metrics: Mapping[str, float],
    report: Path,
    model: Model,
    experiment: str = "riskline",
) -> str:
    """Log params, metrics, the HTML report and the model (riskline artefact and LightGBM
    text model) as one MLflow run; returns the run id.

    A folder URI (a path or ``file://``) uses MLflow's file store, which MLflow keeps in
    maintenance mode; riskline opts in to it for that call (``MLFLOW_ALLOW_FILE_STORE``).
    Raises ``ConfigError`` when MLflow is not installed (``pip install riskline[mlflow]``).
    """
    try:
        import mlflow
    except ImportError as exc:
        raise ConfigError(
            "RISKLINE_MLFLOW_URI is set but MLflow is not installed; "
            "install the extra: pip install 'riskline[mlflow]'."
        ) from exc
    if "://" not in uri or uri.startswith("file://"):
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # only folders need it
        if "://" not in uri:
            uri = Path(uri).resolve().as_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(experiment)
    with mlflow.start_run(run_name=run_name) as run, tempfile.TemporaryDirectory() as tmp:
        mlflow.log_params(dict(params))
        mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
        mlflow.log_artifact(str(report), "report")
        artefact = Path(tmp) / f"{run_name}.riskline"
        artefact.write_bytes(model.to_bytes())
        booster = Path(tmp) / f"{run_name}.lightgbm.txt"
        booster.write_text(model.booster.model_to_string())
        mlflow.log_artifact(str(artefact), "model")
        mlflow.log_artifact(str(booster), "model")
        mlflow.set_tags(
            {"riskline.version": run_name, "riskline.feature_set": model.feature_set_version}
        )
        return str(run.info.run_id)
