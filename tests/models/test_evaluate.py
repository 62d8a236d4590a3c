"""Metrics agree with scikit-learn and hand computations (issue 4)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from riskline.models import (
    Bands,
    Baseline,
    CostMatrix,
    Outcomes,
    evaluate,
    expected_calibration_error,
    measure,
    precision_at_k,
)

Y = np.array([0, 0, 1, 0, 1, 0, 0, 0, 1, 0])
S = np.array([0.05, 0.15, 0.85, 0.3, 0.45, 0.02, 0.62, 0.08, 0.95, 0.12])
DAY = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
CARD = np.array(["a", "a", "b", "c", "d", "a", "b", "c", "d", "e"])
AMOUNT = np.array([100, 200, 300, 400, 500, 600, 700, 800, 900, 1000])
OUT = Outcomes(Y, AMOUNT, DAY, CARD)


def test_metrics_agree_with_scikit_learn() -> None:
    m = measure("model", S, OUT, k=2, fpr_limit=0.2)
    assert math.isclose(m.pr_auc_score, average_precision_score(Y, S))
    assert math.isclose(m.roc_auc_score, roc_auc_score(Y, S))
    assert math.isclose(m.brier_loss, brier_score_loss(Y, S))
    assert math.isclose(m.accuracy_at_05_score, 0.8)  # 0.62 is a false positive, 0.45 missed


def test_recall_at_fpr_by_hand() -> None:
    # 7 negatives, the highest .62. FPR 0 allows thresholds above .62: positives .95 .85
    # caught, .45 not (recall 2/3); FPR 1/7 allows threshold .45: recall 1.
    assert math.isclose(measure("m", S, OUT, fpr_limit=0.1).recall_at_fpr_score, 2 / 3)
    assert math.isclose(measure("m", S, OUT, fpr_limit=1 / 7).recall_at_fpr_score, 1.0)


def test_ece_by_hand() -> None:
    # bins of width 0.1: [0,.1): .05 .02 .08 -> y 0 0 0, mean s .05 -> 3/10 * .05
    # [.1,.2): .15 .12 -> 0, mean .135 -> 2/10 * .135 ; [.3,.4): .3 -> 1/10 * .3
    # [.4,.5): .45 y1 -> 1/10 * .55 ; [.6,.7): .62 y0 -> 1/10 * .62
    # [.8,.9): .85 y1 -> 1/10 * .15 ; [.9,1]: .95 y1 -> 1/10 * .05
    hand = (3 * 0.05 + 2 * 0.135 + 0.3 + 0.55 + 0.62 + 0.15 + 0.05) / 10
    assert math.isclose(expected_calibration_error(Y, S), hand)


def test_ece_puts_a_score_of_one_in_the_last_bin() -> None:
    assert math.isclose(expected_calibration_error(np.array([1, 0]), np.array([1.0, 0.9])), 0.45)


def test_precision_at_k_counts_cards_per_day() -> None:
    # day 0 cards by max score: b .85 (fraud), d .45 (fraud), c .3, a .15 -> top 2: 2/2
    # day 1: d .95 (fraud), b .62, e .12, c .08, a .02 -> top 2: 1/2 ; mean 0.75
    assert math.isclose(precision_at_k(OUT, S, 2), 0.75)


def test_precision_at_k_scores_a_card_once_per_day() -> None:
    out = Outcomes(np.array([1, 0, 0]), np.array([1, 1, 1]), np.zeros(3), np.array(["a", "a", "b"]))
    assert math.isclose(precision_at_k(out, np.array([0.9, 0.8, 0.1]), 1), 1.0)


def test_evaluate_reports_costs_beside_baselines() -> None:
    costs = CostMatrix(chargeback_fee_minor=0, margin_share=0.0, friction_minor=50, review_minor=10)
    rules = Baseline("rules", (S > 0.5) * 0.9, Bands(1.0, 1.0))  # never declines
    e = evaluate(S, OUT, Bands(0.4, 0.8), costs, [rules])
    # bands: declines .85 .95 (fraud, 0), reviews .45 .62 (10 each), approves the rest
    # (all genuine, 0) -> 20 over 10 rows = 2,000 per 1,000
    assert math.isclose(e.cost_per_1000["bands"], 2_000)
    # 0.5: declines .85 .95 .62 (one genuine: 50), approves fraud .45 (amount 500) -> 550
    assert math.isclose(e.cost_per_1000["threshold_05"], 55_000)
    # rules never decline: every fraud approved, 300 + 500 + 900 = 1700
    assert math.isclose(e.cost_per_1000["rules"], 170_000)
    assert [b.name for b in e.baselines] == ["rules"]
    assert math.isclose(e.all_genuine_accuracy_score, 0.7)
    assert e.metrics()["test_ece"] == e.model.ece_loss


def test_evaluation_needs_both_classes() -> None:
    with pytest.raises(Exception, match="evaluation needs both classes"):
        measure("m", S, Outcomes(np.zeros(10, dtype=np.int8), AMOUNT, DAY, CARD))
