"""Training: LightGBM with early stopping on validation, then calibration on validation.

Domain-neutral: a ``TrainingConfig`` names the label, the features and the booster
parameters; fraud, credit and AML packs each bring their own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import lightgbm as lgb
import numpy as np
import polars as pl

from riskline.errors import InvalidModelError
from riskline.models._calibrate import choose_calibrator
from riskline.models._model import Model
from riskline.models._split import TARGET, TimeSplit

Progress = Callable[[str, float], None]


def _noop(stage: str, done: float) -> None:
    return None


@dataclass(frozen=True, slots=True)
class BoosterParams:
    """LightGBM settings. Defaults suit ~0.5% positives: no class reweighting (calibration
    stays honest), shallow-ish trees with large leaves, bagging, fixed seed and threads.

    ``negative_share`` < 1 keeps that seeded share of the negative training rows (all
    positives kept) and weighs each kept negative by ``1 / negative_share``, so the booster
    sees the original class balance in expectation; it trades a little accuracy for speed
    on millions of rows. Validation rows are never sampled.
    """

    learning_rate: float = 0.08
    num_leaves: int = 31
    min_child_samples: int = 100
    feature_fraction: float = 0.8
    bagging_fraction: float = 0.8
    lambda_l2: float = 1.0
    max_bin: int = 63
    max_rounds: int = 400
    early_stopping_rounds: int = 40
    negative_share: float = 1.0
    seed: int = 7
    num_threads: int = 2

    def __post_init__(self) -> None:
        for name in ("num_leaves", "min_child_samples", "max_bin", "max_rounds", "num_threads"):
            if getattr(self, name) < 1:
                raise InvalidModelError(f"{name} must be >= 1, got {getattr(self, name)!r}.")
        for name in ("learning_rate", "feature_fraction", "bagging_fraction", "negative_share"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise InvalidModelError(f"{name} must lie in (0, 1], got {getattr(self, name)!r}.")

    def lightgbm(self) -> dict[str, str | int | float | bool]:
        """The parameter dict passed to ``lightgbm.train`` (deterministic, silent)."""
        return {
            "objective": "binary",
            "metric": "binary_logloss",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": self.bagging_fraction,
            "bagging_freq": 1,
            "lambda_l2": self.lambda_l2,
            "max_bin": self.max_bin,
            "seed": self.seed,
            "num_threads": self.num_threads,
            "deterministic": True,
            "force_col_wise": True,
            "verbose": -1,
        }


@dataclass(frozen=True, slots=True)
class TrainingConfig:
    """What to learn: the label column, the feature columns and the booster settings."""

    feature_names: tuple[str, ...]
    label: str = "is_fraud"
    label_available: str = "label_available_at"
    booster: BoosterParams = BoosterParams()

    def __post_init__(self) -> None:
        if not self.feature_names:
            raise InvalidModelError("a training config needs at least one feature name.")
        if len(set(self.feature_names)) != len(self.feature_names):
            raise InvalidModelError(f"feature names repeat: {self.feature_names!r}.")

    def params(self) -> dict[str, str | int | float | bool]:
        """Flat, JSON-able parameters recorded in the registry."""
        out: dict[str, str | int | float | bool] = dict(asdict(self.booster))
        out["label"] = self.label
        out["features"] = len(self.feature_names)
        return out


@dataclass(frozen=True, slots=True)
class TrainedModel:
    """A fitted model and what happened while fitting it."""

    model: Model
    best_iteration: int
    calibration_losses: dict[str, float]
    train_positives: int
    validation_positives: int


def train(
    split: TimeSplit,
    config: TrainingConfig,
    feature_set_version: str,
    on_progress: Progress = _noop,
) -> TrainedModel:
    """Fit the booster on ``split.train``, stop early on ``split.validation``, then calibrate.

    Uses only the ``_target`` labels of the split (labels known at ``split.labels_at``).
    Raises InvalidModelError when the train or validation period has no known positive.
    """
    x_train, y_train = _xy(split.train, config)
    x_val, y_val = _xy(split.validation, config)
    for name, y in (("train", y_train), ("validation", y_val)):
        if y.sum() == 0:
            raise InvalidModelError(
                f"the {name} period has no positive label known by labels_at="
                f"{split.labels_at!r}; give more history, a later labels_at, or a longer "
                "training period."
            )
    params = config.booster.lightgbm()
    names = list(config.feature_names)
    typical = tuple(None if np.isnan(col).all() else float(np.nanmedian(col)) for col in x_train.T)
    positives = int(y_train.sum())
    x_train, y_train, weight = _sample_negatives(x_train, y_train, config.booster)
    train_set = lgb.Dataset(x_train, y_train, weight=weight, feature_name=names)
    val_set = lgb.Dataset(x_val, y_val, reference=train_set)
    on_progress("training", 0.0)
    rounds = config.booster.max_rounds

    def report(env: lgb.callback.CallbackEnv) -> None:
        if env.iteration % 20 == 0:
            on_progress("training", env.iteration / rounds)

    booster = lgb.train(
        params,
        train_set,
        num_boost_round=rounds,
        valid_sets=[val_set],
        callbacks=[
            lgb.early_stopping(config.booster.early_stopping_rounds, verbose=False),
            report,
        ],
    )
    best = booster.best_iteration or booster.current_iteration()
    booster = lgb.Booster(model_str=booster.model_to_string(num_iteration=best))
    on_progress("calibrating", 0.0)
    margin = np.asarray(booster.predict(x_val, raw_score=True))
    calibrator, losses = choose_calibrator(margin, y_val)
    model = Model(booster, config.feature_names, feature_set_version, calibrator, typical)
    on_progress("calibrating", 1.0)
    return TrainedModel(model, best, losses, positives, int(y_val.sum()))


def _sample_negatives(
    x: np.ndarray, y: np.ndarray, params: BoosterParams
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    share = params.negative_share
    if share >= 1.0:
        return x, y, None
    rng = np.random.default_rng(params.seed)
    keep = (y > 0) | (rng.random(y.size) < share)
    weight = np.where(y[keep] > 0, 1.0, 1.0 / share)
    return x[keep], y[keep], weight


def _xy(frame: pl.DataFrame, config: TrainingConfig) -> tuple[np.ndarray, np.ndarray]:
    missing = [n for n in config.feature_names if n not in frame.columns]
    if missing:
        raise InvalidModelError(
            f"the training frame lacks feature column(s) {', '.join(missing)}; "
            "backfill them with riskline.features.compute_offline first."
        )
    x = frame.select([pl.col(n).cast(pl.Float64) for n in config.feature_names]).to_numpy()
    return x.astype(np.float64, copy=False), frame[TARGET].to_numpy().astype(np.float64)
