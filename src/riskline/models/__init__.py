"""Models: time-split training, calibration, evaluation for imbalanced problems, cost-based
bands, reason codes and reports. Domain-neutral; LightGBM lives only here."""

from riskline.models._batch import global_importance, score_events
from riskline.models._calibrate import (
    CalibrationMethod,
    Calibrator,
    choose_calibrator,
    fit_calibrator,
)
from riskline.models._costs import ACTIONS, Action, BandConstraints, Bands, CostMatrix, choose_bands
from riskline.models._model import Model
from riskline.models._report import report_dict, write_report, write_report_json
from riskline.models._split import TARGET, SplitSpec, TimeSplit, split_by_time
from riskline.models.evaluate import (
    Baseline,
    Curves,
    Evaluation,
    Outcomes,
    ScorerMetrics,
    evaluate,
    expected_calibration_error,
    measure,
    precision_at_k,
)
from riskline.models.explain import Reason, describe
from riskline.models.tracking import log_run
from riskline.models.train import BoosterParams, TrainedModel, TrainingConfig, train

__all__ = [
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
