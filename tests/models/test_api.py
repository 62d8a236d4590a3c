"""The public surface of riskline.models is pinned."""

from __future__ import annotations

from riskline import models


def test_models_public_api() -> None:
    assert models.__all__ == [
        "ACTIONS",
        "TARGET",
        "Action",
        "BandConstraints",
        "Bands",
        "Baseline",
        "BoosterParams",
        "CalibrationMethod",
        "Calibrator",
        "CostMatrix",
        "Curves",
        "Evaluation",
        "Model",
        "Outcomes",
        "Reason",
        "ScorerMetrics",
        "SplitSpec",
        "TimeSplit",
        "TrainedModel",
        "TrainingConfig",
        "choose_bands",
        "choose_calibrator",
        "describe",
        "evaluate",
        "expected_calibration_error",
        "fit_calibrator",
        "global_importance",
        "log_run",
        "measure",
        "precision_at_k",
        "report_dict",
        "score_events",
        "split_by_time",
        "train",
        "write_report",
        "write_report_json",
    ]
