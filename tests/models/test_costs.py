"""Cost-based bands on a hand-computable example (issue 4)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from riskline.errors import ConfigError
from riskline.models import BandConstraints, Bands, CostMatrix, choose_bands

COSTS = CostMatrix(chargeback_fee_minor=100, margin_share=0.1, friction_minor=50, review_minor=30)
P = np.array([0.01, 0.1, 0.4, 0.9])
A = np.array([1_000, 1_000, 1_000, 1_000])


def test_action_costs_by_hand() -> None:
    # approve p*(1000+100); review 30; decline (1-p)*(0.1*1000+50) = (1-p)*150
    got = COSTS.action_costs(P, A)
    want = np.array([[11, 30, 148.5], [110, 30, 135], [440, 30, 90], [990, 30, 15]])
    assert np.allclose(got, want)


def test_bands_minimise_expected_cost() -> None:
    # per row best: approve (11), review (30), review (30), decline (15) -> total 86,
    # reachable by review_at in (0.01, 0.1], decline_at in (0.4, 0.9]; ties -> highest.
    bands = choose_bands(P, A, COSTS, days=1.0)
    assert bands == Bands(review_at=0.1, decline_at=0.9)
    assert bands.actions(P).tolist() == [0, 1, 1, 2]


def test_review_capacity_constrains_the_bands() -> None:
    # one review a day: review .4 only (0.1 approved: 110) -> 11 + 110 + 30 + 15 = 166, or
    # review .1 and decline .4 (90): 11 + 30 + 90 + 15 = 146 -> best
    bands = choose_bands(
        P, A, COSTS, days=1.0, constraints=BandConstraints(review_capacity_per_day=1)
    )
    assert bands.actions(P).tolist() == [0, 1, 2, 2]


def test_max_decline_rate_constrains_the_bands() -> None:
    bands = choose_bands(P, A, COSTS, days=1.0, constraints=BandConstraints(max_decline_rate=0.0))
    assert bands.actions(P).tolist() == [0, 1, 1, 1]
    assert math.isclose(bands.decline_at, 1.0)


def test_impossible_constraints_are_refused() -> None:
    free = CostMatrix(chargeback_fee_minor=0, margin_share=0.0, friction_minor=0, review_minor=0)
    limits = BandConstraints(max_decline_rate=-0.0, review_capacity_per_day=0)
    assert choose_bands(P, A, free, 1.0, limits).actions(P).tolist() == [0, 0, 0, 0]
    with pytest.raises(ConfigError, match="max_decline_rate must lie in"):
        BandConstraints(max_decline_rate=1.5)


def test_bad_cost_matrix_is_refused() -> None:
    with pytest.raises(ConfigError, match="review_minor must be an int >= 0"):
        CostMatrix(chargeback_fee_minor=1, margin_share=0.1, friction_minor=1, review_minor=-1)
    with pytest.raises(ConfigError, match="bands need 0 <= review_at <= decline_at"):
        Bands(0.5, 0.2)
