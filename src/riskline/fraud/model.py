"""The fraud model: training configuration, default cost matrix and the training entrypoint."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt
import polars as pl

from riskline.features import FeatureSet, compute_offline
from riskline.fraud.features import FRAUD_FEATURES, LABEL_DELAY
from riskline.fraud.rules import FRAUD_RULES
from riskline.models import (
    TARGET,
    BandConstraints,
    Bands,
    Baseline,
    BoosterParams,
    CostMatrix,
    Evaluation,
    Model,
    Outcomes,
    SplitSpec,
    TimeSplit,
    TrainingConfig,
    choose_bands,
    evaluate,
    global_importance,
    split_by_time,
    train,
)
from riskline.registry import Lineage, ModelVersion, Registry
from riskline.rules import score_frame

Progress = Callable[[str, float], None]
BaselineScorer = Callable[[pl.DataFrame], np.ndarray]
"""Scores in [0, 1] for every row of a backfilled frame (e.g. the fallback rules)."""

FRAUD_COSTS = CostMatrix(
    chargeback_fee_minor=2_500, margin_share=0.03, friction_minor=300, review_minor=500
)
"""Missed fraud: amount + 25.00 fee; false decline: 3% margin + 3.00 friction; review: 5.00."""
FRAUD_BOOSTER = BoosterParams(negative_share=0.25, learning_rate=0.05, early_stopping_rounds=100)
"""A quarter of the genuine training rows (weighted x4): 4x faster, same ranking in tests."""
RULES_BANDS = Bands(review_at=0.5, decline_at=0.8)
"""How a rules-only baseline's [0, 1] score decides, for its cost figure."""
ENTITY = "card_token"
NO_CONSTRAINTS = BandConstraints()


def _noop(stage: str, done: float) -> None:
    return None


@dataclass(frozen=True, slots=True)
class TrainResult:
    """Everything a training run produced; ``version`` is the registered candidate."""

    version: ModelVersion
    model: Model
    artifact: bytes
    evaluation: Evaluation
    split: TimeSplit
    lineage: Lineage
    metrics: dict[str, float]
    params: dict[str, str | int | float | bool]
    decision_policy: dict[str, float]
    notes: tuple[str, ...]


def fingerprint(events: pl.DataFrame) -> str:
    """SHA-256 of the events' content: their uncompressed Arrow IPC bytes (schema, row and
    column order as given)."""
    buffer = io.BytesIO()
    events.write_ipc(buffer, compression="uncompressed")
    return hashlib.sha256(buffer.getbuffer()).hexdigest()


def rules_baseline(frame: pl.DataFrame) -> npt.NDArray[np.float64]:
    """The default fallback rules as a scorer: the rules-only baseline of every evaluation.

    Rules that read a column or feature the frame lacks (a user's file with only the
    required columns) are left out, as the features that need them are.
    """
    rules, _ = FRAUD_RULES.restrict(frame.columns)
    return score_frame(rules, frame)


def train_fraud(
    events: pl.DataFrame,
    registry: Registry,
    trained_by: str,
    split: SplitSpec | None = None,
    baseline: BaselineScorer | None = None,
    costs: CostMatrix = FRAUD_COSTS,
    constraints: BandConstraints = NO_CONSTRAINTS,
    booster: BoosterParams = FRAUD_BOOSTER,
    on_progress: Progress = _noop,
) -> TrainResult:
    """Backfill, split, train, calibrate, choose bands, evaluate and register a candidate.

    Features needing a column the events lack are left out (one note each). ``baseline``
    scores the backfilled test rows for the rules-only comparison (bands ``RULES_BANDS``);
    by default the fallback rules ``FRAUD_RULES``.
    Bands are chosen on the validation period's calibrated probabilities.
    """
    fs, notes = FRAUD_FEATURES.restrict(frozenset(events.columns))
    spec = split or SplitSpec(label_delay=LABEL_DELAY)
    on_progress("backfill", 0.0)
    frame = compute_offline(fs, events)
    on_progress("backfill", 1.0)
    parts = split_by_time(frame, spec)
    config = TrainingConfig(fs.names, booster=booster)
    fitted = train(parts, config, fs.version, on_progress)
    model = fitted.model
    on_progress("evaluating", 0.0)
    val_scores = model.score_frame(parts.validation)
    val = Outcomes.from_frame(parts.validation, TARGET, _entity(parts.validation))
    bands = choose_bands(
        val_scores,
        val.amount_minor,
        costs,
        _days(parts.validation_start, parts.validation_end),
        constraints,
    )
    test = Outcomes.from_frame(parts.test, TARGET, _entity(parts.test))
    baselines = [Baseline("rules", (baseline or rules_baseline)(parts.test), RULES_BANDS)]
    evaluation = evaluate(
        model.score_frame(parts.test),
        test,
        bands,
        costs,
        baselines,
        global_importance(model, parts.test),
    )
    on_progress("evaluating", 1.0)
    lineage = _lineage(events, parts, fs)
    params = config.params() | {
        "best_iteration": fitted.best_iteration,
        "calibration": model.calibrator.method,
        "labels_at": parts.labels_at.isoformat(),
        "label_delay_s": int(spec.label_delay.total_seconds()),
    }
    metrics = evaluation.metrics() | {
        f"validation_logloss_{method}": loss for method, loss in fitted.calibration_losses.items()
    }
    artifact = model.to_bytes()
    version = registry.register(
        "fraud", artifact, lineage, params, metrics, bands.policy(), trained_by
    )
    model.version = version.version
    return TrainResult(
        version,
        model,
        artifact,
        evaluation,
        parts,
        lineage,
        metrics,
        params,
        bands.policy(),
        tuple(notes),
    )


def _entity(frame: pl.DataFrame) -> str:
    return ENTITY if ENTITY in frame.columns else "customer_id"


def _days(start: datetime, end: datetime) -> float:
    return max((end - start).total_seconds() / 86_400, 1e-9)


def _lineage(events: pl.DataFrame, parts: TimeSplit, fs: FeatureSet) -> Lineage:
    used = pl.concat([parts.train.select("ts", TARGET), parts.validation.select("ts", TARGET)])
    start, end = used["ts"].min(), used["ts"].max()
    assert isinstance(start, datetime)  # the periods are non-empty: split_by_time checks
    assert isinstance(end, datetime)
    rate = used[TARGET].cast(pl.Float64).mean()
    return Lineage(
        data_sha256=fingerprint(events),
        row_count=events.height,
        start_at=start,
        end_at=end,
        label_rate=float(rate) if isinstance(rate, float) else 0.0,
        feature_set_version=fs.version,
    )
