"""Evaluation for imbalanced problems, always beside baselines, with scikit-learn's metrics.

* PR-AUC is ``average_precision_score``; ROC-AUC ``roc_auc_score``.
* Recall at a fixed false-positive rate: the highest TPR on the ROC curve with FPR <= the limit.
* Precision@k per day (the analysts' capacity view): each UTC day, the ``k`` entities (cards)
  with the highest score that day, an entity being positive if any of its events that day
  is; the share of positives among them, averaged over days.
* ECE: equal-width bins over [0, 1] (default 10; a score of exactly 1 falls in the last bin),
  ``sum_b n_b / n * |mean(target_b) - mean(score_b)|``. Equal-width, not equal-mass, so a
  model cannot hide miscalibration of its rare high scores inside one wide top bin.
* Accuracy at threshold 0.5, shown to make the point that it is useless here: predicting
  "genuine" for everything already scores ``1 - positive rate``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    precision_recall_curve,
    precision_recall_fscore_support,
    roc_auc_score,
    roc_curve,
)

from riskline.errors import InvalidRequestError
from riskline.models._costs import Bands, CostMatrix, total_cost

THRESHOLDS = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9)
_CURVE_POINTS = 200


@dataclass(frozen=True, slots=True)
class Outcomes:
    """What happened in an evaluation period: 0/1 targets, amounts, day and entity per row."""

    target: np.ndarray
    amount_minor: np.ndarray
    day: np.ndarray
    entity: np.ndarray

    @classmethod
    def from_frame(cls, frame: pl.DataFrame, target: str, entity: str) -> Outcomes:
        """Read ``target`` (0/1), ``amount_minor``, the UTC day of ``ts`` and ``entity``."""
        for name in (target, entity, "amount_minor", "ts"):
            if name not in frame.columns:
                raise InvalidRequestError(
                    f"evaluation frame has no column {name!r}; columns: {', '.join(frame.columns)}."
                )
        return cls(
            frame[target].cast(pl.Int8).to_numpy(),
            frame["amount_minor"].to_numpy(),
            frame["ts"].dt.date().cast(pl.Int32).to_numpy(),
            frame[entity].fill_null("").to_numpy(),
        )

    @property
    def days(self) -> float:
        return float(max(1, np.unique(self.day).size))


@dataclass(frozen=True, slots=True)
class Baseline:
    """A comparison scorer (e.g. rules only): its scores in [0, 1] and its decision bands."""

    name: str
    scores: np.ndarray
    bands: Bands


@dataclass(frozen=True, slots=True)
class Curves:
    """Curves of one scorer, down-sampled to at most 200 points each."""

    pr: tuple[tuple[float, float], ...]  # (recall, precision)
    roc: tuple[tuple[float, float], ...]  # (fpr, tpr)
    calibration: tuple[tuple[float, float], ...]  # (mean score, positive rate), uniform bins
    thresholds: tuple[tuple[float, float, float, float], ...]  # (t, precision, recall, f1)


@dataclass(frozen=True, slots=True)
class ScorerMetrics:
    """Metrics of one scorer on one period (``*_score`` higher is better, ``*_loss`` lower)."""

    name: str
    roc_auc_score: float
    pr_auc_score: float
    recall_at_fpr_score: float
    precision_at_k_score: float
    best_f1_score: float
    brier_loss: float
    ece_loss: float
    accuracy_at_05_score: float
    curves: Curves = field(repr=False)


@dataclass(frozen=True, slots=True)
class Evaluation:
    """A model beside its baselines on the test period, with costs and importance."""

    model: ScorerMetrics
    baselines: tuple[ScorerMetrics, ...]
    rows: int
    positives: int
    all_genuine_accuracy_score: float
    fpr_limit: float
    k: int
    bands: Bands
    costs: CostMatrix
    cost_per_1000: dict[str, float]
    cost_curve: tuple[tuple[float, float], ...]  # (decline threshold, realised cost / 1000)
    score_histograms: dict[str, tuple[int, ...]]  # "positive"/"negative" -> counts per bin
    histogram_edges: tuple[float, ...]
    importance: tuple[tuple[str, float], ...]  # (feature, mean |SHAP|), largest first
    notes: tuple[str, ...] = ()

    def metrics(self, prefix: str = "test_") -> dict[str, float]:
        """Flat metrics for the registry (``test_pr_auc``, ``test_ece``, ...)."""
        m = self.model
        out = {
            "pr_auc": m.pr_auc_score,
            "roc_auc": m.roc_auc_score,
            "recall_at_fpr": m.recall_at_fpr_score,
            "precision_at_k": m.precision_at_k_score,
            "best_f1": m.best_f1_score,
            "brier": m.brier_loss,
            "ece": m.ece_loss,
            "accuracy_at_05": m.accuracy_at_05_score,
            "cost_per_1000_bands": self.cost_per_1000["bands"],
            "cost_per_1000_threshold_05": self.cost_per_1000["threshold_05"],
        }
        return {prefix + k: float(v) for k, v in out.items()}


def expected_calibration_error(target: np.ndarray, scores: np.ndarray, bins: int = 10) -> float:
    """ECE with ``bins`` equal-width bins over [0, 1] (see the module docs).

    Examples:
        >>> expected_calibration_error(np.array([0, 1]), np.array([0.2, 0.6]))
        0.3
    """
    which = np.minimum((scores * bins).astype(np.int64), bins - 1)
    n = scores.size
    total = 0.0
    for b in np.unique(which):
        inside = which == b
        total += inside.sum() / n * abs(target[inside].mean() - scores[inside].mean())
    return round(float(total), 12)


def precision_at_k(outcomes: Outcomes, scores: np.ndarray, k: int) -> float:
    """Mean over days of the positive share among the day's ``k`` highest-scored entities."""
    per = (
        pl.DataFrame({"d": outcomes.day, "e": outcomes.entity, "s": scores, "y": outcomes.target})
        .group_by("d", "e")
        .agg(pl.col("s").max(), pl.col("y").max())
        .sort(["d", "s", "e"], descending=[False, True, False])
        .group_by("d", maintain_order=True)
        .agg(pl.col("y").head(k).mean())
    )
    mean = per["y"].mean()
    return float(mean) if isinstance(mean, int | float) else 0.0


def measure(
    name: str, scores: np.ndarray, outcomes: Outcomes, k: int = 100, fpr_limit: float = 0.01
) -> ScorerMetrics:
    """Every metric of one scorer against ``outcomes.target``."""
    y = outcomes.target
    if y.min(initial=1) == y.max(initial=0):
        raise InvalidRequestError(
            f"evaluation needs both classes; the period has only target {int(y[0])!r}."
        )
    precision, recall, _ = precision_recall_curve(y, scores)
    fpr, tpr, _ = roc_curve(y, scores)
    f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    prob_true, prob_pred = calibration_curve(y, scores, n_bins=10, strategy="uniform")
    return ScorerMetrics(
        name=name,
        roc_auc_score=float(roc_auc_score(y, scores)),
        pr_auc_score=float(average_precision_score(y, scores)),
        recall_at_fpr_score=float(tpr[fpr <= fpr_limit].max()),
        precision_at_k_score=precision_at_k(outcomes, scores, k),
        best_f1_score=float(f1.max()),
        brier_loss=float(brier_score_loss(y, scores)),
        ece_loss=expected_calibration_error(y, scores),
        accuracy_at_05_score=float(accuracy_score(y, scores >= 0.5)),
        curves=Curves(
            pr=_thin(recall, precision),
            roc=_thin(fpr, tpr),
            calibration=_thin(prob_pred, prob_true),
            thresholds=tuple(_at_threshold(y, scores, t) for t in THRESHOLDS),
        ),
    )


def evaluate(
    scores: np.ndarray,
    outcomes: Outcomes,
    bands: Bands,
    costs: CostMatrix,
    baselines: Sequence[Baseline] = (),
    importance: Sequence[tuple[str, float]] = (),
    k: int = 100,
    fpr_limit: float = 0.01,
) -> Evaluation:
    """Evaluate calibrated ``scores`` beside ``baselines`` on one labelled period.

    Realised cost per 1,000 rows is reported for the cost bands, a single decline threshold
    at 0.5, and each baseline at its own bands.
    """
    y = outcomes.target
    per_row = costs.action_costs(y.astype(np.float64), outcomes.amount_minor)
    n = y.size
    per_1000 = {
        "bands": total_cost(per_row, bands.actions(scores)) / n * 1000,
        "threshold_05": total_cost(per_row, Bands(0.5, 0.5).actions(scores)) / n * 1000,
    }
    for b in baselines:
        per_1000[b.name] = total_cost(per_row, b.bands.actions(b.scores)) / n * 1000
    grid = np.unique(np.concatenate([np.linspace(0.0, 1.0, 101), np.geomspace(1e-4, 1, 60)]))
    curve = tuple(
        (float(t), total_cost(per_row, Bands(t, t).actions(scores)) / n * 1000) for t in grid
    )
    edges = np.linspace(0.0, 1.0, 41)
    hist = {
        "positive": tuple(int(c) for c in np.histogram(scores[y == 1], edges)[0]),
        "negative": tuple(int(c) for c in np.histogram(scores[y == 0], edges)[0]),
    }
    return Evaluation(
        model=measure("model", scores, outcomes, k, fpr_limit),
        baselines=tuple(measure(b.name, b.scores, outcomes, k, fpr_limit) for b in baselines),
        rows=n,
        positives=int(y.sum()),
        all_genuine_accuracy_score=float(1.0 - y.mean()),
        fpr_limit=fpr_limit,
        k=k,
        bands=bands,
        costs=costs,
        cost_per_1000=per_1000,
        cost_curve=curve,
        score_histograms=hist,
        histogram_edges=tuple(float(e) for e in edges),
        importance=tuple((str(a), float(b)) for a, b in importance),
    )


def _thin(x: np.ndarray, y: np.ndarray) -> tuple[tuple[float, float], ...]:
    keep = np.unique(np.linspace(0, x.size - 1, min(x.size, _CURVE_POINTS)).astype(np.int64))
    return tuple((float(x[i]), float(y[i])) for i in keep)


def _at_threshold(y: np.ndarray, s: np.ndarray, t: float) -> tuple[float, float, float, float]:
    p, r, f, _ = precision_recall_fscore_support(y, s >= t, average="binary", zero_division=0.0)
    return (t, float(p), float(r), float(f))
